/* model.h: the in-memory model every part of the core and the kernels share (not public). */
#ifndef LR_MODEL_H
#define LR_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loadrun.h"
#include "thread_pool.h"

/* Largest tensor the loader accepts; the fuzz build lowers it so hostile shapes stay cheap. */
#ifndef LR_MAX_TENSOR_BYTES
#define LR_MAX_TENSOR_BYTES ((uint64_t)1 << 36)
#endif

enum lr_kind { LR_KIND_INPUT = 0, LR_KIND_CONST = 1, LR_KIND_ACTIVATION = 2, LR_KIND_OUTPUT = 3 };

enum lr_op {
    LR_OP_CONV, LR_OP_DECONV, LR_OP_ELEMWISE, LR_OP_POWC, LR_OP_TYPECVT, LR_OP_REDUCE, LR_OP_RESHAPE,
    LR_OP_BROADCAST, LR_OP_TRANSPOSE, LR_OP_CONCAT, LR_OP_SLICE, LR_OP_PADDING, LR_OP_MATMUL,
    LR_OP_BATCHED_MATMUL, LR_OP_POOLING, LR_OP_RESIZE, LR_OP_LAYERNORM, LR_OP_SOFTMAX, LR_OP_ARGMAX,
    LR_OP_ARGMIN, LR_OP_ARGSORT, LR_OP_TOPK, LR_OP_INDEXING_ONE_HOT, LR_OP_INDEXING_SET_ONE_HOT,
    LR_OP_CUMSUM, LR_OP_WARP_PERSPECTIVE, LR_OP_BATCHNORM, LR_OP_LINSPACE, LR_OP_COUNT
};

/* Operator codes of fused operators (the JIT's): counted as fused kernels by lr_op_is_fused. */
#define LR_OP_FUSED_FIRST 64
#define LR_OP_FUSED_LAST 79
/* The JIT passes' fused operators (loadrun/compile/passes/fuse.py, native/generic/fused_elemwise.c). */
enum { LR_OP_FUSED_ELEMWISE = 64, LR_OP_FUSED_SOFTMAX = 65, LR_OP_FUSED_LAYERNORM = 66, LR_OP_FUSED_MEAN = 67 };

/* Blocked-layout operators (loadrun/compile/passes/layout.py, native/generic/layout_blocked.c):
 * codes 80..95; tensors (N, C/b, H, W, b), b = 16 (nchw16), 8 (nchw88), 4 (nchw44). */
#define LR_OP_LAYOUT_FIRST 80
#define LR_OP_LAYOUT_LAST 95
enum { LR_OP_RELAYOUT = 80, LR_OP_BLOCKED_CONV = 81, LR_OP_BLOCKED_POOLING = 82 };
static inline bool lr_op_is_layout(int op) { return op >= LR_OP_RELAYOUT && op <= LR_OP_BLOCKED_POOLING; }

/* Where a tensor's bytes live once the plan is bound. */
enum lr_storage { LR_STORE_CONST, LR_STORE_IO, LR_STORE_ARENA };

typedef struct lr_tensor {
    char *name;
    lr_dtype dtype;
    int kind;
    int ndim;
    int64_t dims[LR_MAX_NDIM];
    int64_t numel;
    size_t nbytes;
    const void *const_data; /* LR_KIND_CONST: in the (mapped) file */
    int producer;           /* node index, -1 for inputs/consts */
    int last_use;           /* last node index reading it (planning) */
    int root;               /* tensor whose storage this one uses (itself unless aliased) */
    int storage;            /* enum lr_storage of the root */
    size_t arena_offset;    /* LR_STORE_ARENA roots */
    void *io_buffer;        /* LR_STORE_IO roots: owned buffer */
    void *data;             /* bound pointer */
} lr_tensor;

struct lr_algo;

typedef struct lr_node {
    int op;
    char *name;
    int n_in, n_out;
    const int *in, *out;
    int n_ints, n_floats;
    const int64_t *ints;
    const double *floats;
    const struct lr_algo *algo;
    void *packed;        /* weight preprocess result owned by the node */
    size_t packed_bytes;
    bool alias;          /* output 0 shares input 0's storage and no kernel runs */
    int algo_id;         /* index of algo in the registry (the per-run lookup of record level 0) */
    bool profiled;       /* fast-run timed its candidates */
    bool cache_hit;      /* the algorithm came from the algorithm cache */
} lr_node;

struct lr_run_ctx;

/* One recorded kernel call: the function and its bound arguments (record levels 1 and 2). */
typedef struct lr_call {
    lr_status (*run)(const struct lr_run_ctx *ctx, const lr_node *n);
    lr_node node; /* a copy: record level 2 frees the node table */
    int index;    /* the node's index in the graph (node timing) */
} lr_call;

struct lr_dispatcher;

struct lr_model {
    uint8_t *file;       /* the compiled bytes (mmap or an owned aligned copy) */
    size_t file_bytes;
    bool file_mapped;
    int n_tensors, n_nodes, n_inputs, n_outputs;
    lr_tensor *tensors;
    lr_node *nodes;
    int *inputs, *outputs;
    int *ids;
    int64_t *ints;
    double *floats;
    int n_ids, n_ints, n_floats;
    uint8_t *arena;
    size_t arena_bytes, arena_lower_bound;
    void *workspace;
    size_t workspace_bytes;
    lr_thread_pool *pool;
    int threads;
    size_t weight_bytes, packed_bytes, io_bytes;
    int kernels;
    int64_t load_ns, first_run_ns, last_run_ns;
    lr_status run_status;
    /* options in effect */
    int inplace, record, weight_preprocess, fast_run;
    int n_affinity;
    int affinity[LR_MAX_AFFINITY];
    /* executor: the dispatcher (inplace = 0) and the recording (record >= 1) */
    struct lr_dispatcher *dispatcher;
    lr_call *calls;
    int n_calls;
    bool recorded, metadata_freed;
    /* counters */
    uint32_t runs, dispatcher_runs, fused_kernels;
    uint32_t run_walks, run_weight_packs, run_kernels; /* of the last run */
    size_t metadata_at_load;
    int64_t profiling_ns;
    uint32_t profiled_nodes, cache_hits, cache_misses;
    int cache_status, cache_written;
    char cache_message[256];
    char run_error[512]; /* the dispatcher's lr_last_error of a failed run */
    int64_t *node_ns;    /* node timing on: wall time of each node in the last run (-1: not run) */
};

/* What a kernel gets at run time. */
typedef struct lr_run_ctx {
    lr_model *model;
    lr_thread_pool *pool;
    int threads;
    void *workspace;        /* workspace_bytes of the chosen algorithm, 64-byte aligned */
} lr_run_ctx;

/* An algorithm of an operator: XNNPACK's create (prepare) / setup / run split, ncnn's fallback order. */
typedef struct lr_algo {
    const char *name;
    int op;
    bool (*usable)(const lr_model *m, const lr_node *n);
    size_t (*workspace)(const lr_model *m, const lr_node *n, int threads); /* NULL: none */
    lr_status (*prepare)(lr_model *m, lr_node *n);                         /* NULL: nothing to pack */
    lr_status (*run)(const lr_run_ctx *ctx, const lr_node *n);
    unsigned inplace_inputs; /* bit k: output 0 may overwrite input k (same shape) when it dies at this node */
    unsigned flags;          /* LR_ALGO_*; 0 for a plain deterministic algorithm */
    /* Estimated nanoseconds of one run (fast-run profile-optimized ranks candidates by it); NULL: unknown. */
    double (*cost)(const lr_model *m, const struct lr_node *n, int threads);
} lr_algo;

/* Results depend on thread timing (e.g. split-K partial sums added in completion order):
 * excluded by fast-run profile-reproducible. */
#define LR_ALGO_NONDETERMINISTIC 1u
/* The heuristic (fast-run off) takes it only when weights are preprocessed at load: its per-run
 * weight transform would cost more than it saves. Fast-run profiling times it either way. */
#define LR_ALGO_HEURISTIC_NEEDS_PREPROCESS 2u

/* error.c */
lr_status lr_fail(lr_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t lr_now_ns(void);

/* dtype.c */
size_t lr_dtype_size(lr_dtype t);
const char *lr_dtype_name(lr_dtype t);
bool lr_dtype_is_float(lr_dtype t);
float lr_half_to_float(uint16_t h);
uint16_t lr_float_to_half(float f);
double lr_load_f64(const void *p, lr_dtype t, int64_t i);
void lr_store_f64(void *p, lr_dtype t, int64_t i, double v);
int64_t lr_load_i64(const void *p, lr_dtype t, int64_t i);
void lr_store_i64(void *p, lr_dtype t, int64_t i, int64_t v);

/* op_check.c: operator semantics, re-checked on hostile bytes */
const char *lr_op_name(int op);
lr_status lr_check_node(const lr_model *m, const lr_node *n, int index);

/* algo_registry.c */
const lr_algo *lr_algo_choose(const lr_model *m, const lr_node *n);
int lr_algo_count(void);
const lr_algo *lr_algo_at(int id);
int lr_algo_find(const char *name); /* registry index, -1 when this build has no such algorithm */
bool lr_op_is_fused(int op);

/* fast_run.c: algorithm choice at load (heuristic, profiling, the algorithm cache) */
lr_status lr_choose_algorithms(lr_model *m, const char *cache_path);

/* memory_plan.c */
lr_status lr_plan_memory(lr_model *m);

/* executor.c */
void *lr_alloc64(size_t bytes);
void lr_free64(void *p);
/* prepare()'s buffer: n->packed (64-byte aligned, freed with free()) and n->packed_bytes, or
 * LR_ERR_MEMORY naming `what` */
lr_status lr_alloc_packed(lr_node *n, size_t bytes, const char *what);
lr_status lr_prepare_model(lr_model *m);
lr_status lr_run_graph(lr_model *m);
lr_status lr_timed_run(lr_model *m); /* one run, timed; counters updated */
size_t lr_metadata_bytes(const lr_model *m);
void lr_executor_release(lr_model *m);

/* dispatcher.c: the run thread of inplace = 0 */
lr_status lr_dispatcher_start(lr_model *m);
void lr_dispatcher_stop(lr_model *m);
lr_status lr_dispatch_forward(lr_model *m);
lr_status lr_dispatch_wait(lr_model *m); /* waits for a pending run; returns the last run's status */

/* loader.c */
lr_status lr_parse_model(lr_model *m);
void lr_model_release(lr_model *m);

/* A kernel packing/transforming constant weights inside its run (weight preprocess off) says so. */
static inline void lr_note_weight_pack(const lr_run_ctx *c) { c->model->run_weight_packs++; }

static inline lr_tensor *lr_in(const lr_run_ctx *c, const lr_node *n, int i) { return &c->model->tensors[n->in[i]]; }
static inline lr_tensor *lr_out(const lr_run_ctx *c, const lr_node *n, int i) { return &c->model->tensors[n->out[i]]; }
static inline const lr_tensor *lr_min(const lr_model *m, const lr_node *n, int i) { return &m->tensors[n->in[i]]; }
static inline const lr_tensor *lr_mout(const lr_model *m, const lr_node *n, int i) { return &m->tensors[n->out[i]]; }

#endif
