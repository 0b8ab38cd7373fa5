/* loadrun.h: the whole public C API of the loadrun native runtime.
 *
 * A compiled model (docs/compiled-format.md) is loaded into an opaque lr_model, which owns its
 * memory plan, weights (used in place from the mmap'd file), thread pool and chosen kernels.
 * Every call returns an lr_status; on failure lr_last_error() gives a message for the calling
 * thread. A handle may be used by one thread at a time; distinct handles are independent.
 */
#ifndef LOADRUN_H
#define LOADRUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define LR_API __declspec(dllexport)
#else
#define LR_API __attribute__((visibility("default")))
#endif

#define LR_VERSION_MAJOR 0
#define LR_VERSION_MINOR 2
#define LR_VERSION_PATCH 0

typedef enum lr_status {
    LR_OK = 0,
    LR_ERR_ARGUMENT = 1,    /* a bad argument from the caller (NULL, index, size) */
    LR_ERR_IO = 2,          /* the file could not be opened/mapped */
    LR_ERR_FORMAT = 3,      /* the bytes are not a valid compiled model */
    LR_ERR_UNSUPPORTED = 4, /* a valid model using something this build cannot run */
    LR_ERR_MEMORY = 5,      /* an allocation failed or a limit was exceeded */
    LR_ERR_RUNTIME = 6      /* a kernel failed on the data (e.g. an index out of range) */
} lr_status;

typedef enum lr_dtype {
    LR_FLOAT32 = 0,
    LR_FLOAT16 = 1,
    LR_INT32 = 2,
    LR_INT16 = 3,
    LR_INT8 = 4,
    LR_UINT8 = 5,
    LR_BOOL = 6
} lr_dtype;

#define LR_MAX_NDIM 8

typedef struct lr_model lr_model;

/* How algorithms are chosen at load (MegEngine's fast-run). */
typedef enum lr_fast_run {
    LR_FAST_RUN_HEURISTIC = 0,            /* first usable algorithm in registry order */
    LR_FAST_RUN_PROFILE = 1,              /* time every usable algorithm on the real shapes, keep the fastest */
    LR_FAST_RUN_PROFILE_REPRODUCIBLE = 2, /* profile, only algorithms whose results are bitwise deterministic */
    LR_FAST_RUN_PROFILE_OPTIMIZED = 3     /* profile only the candidates the cost model ranks in its top 2 */
} lr_fast_run;

#define LR_MAX_AFFINITY 64

/* Load/run options. Initialise with lr_options_init() and set `size` = sizeof(lr_options) so a
 * newer library can tell which fields an older caller knows about. Fields are only appended;
 * a field the caller's `size` does not cover keeps its lr_options_init() default (MegEngine
 * Lite's defaults: a dispatcher thread, record 0, weights packed per run, heuristic). */
typedef struct lr_options {
    uint32_t size;   /* sizeof(lr_options) as the caller compiled it */
    int32_t threads; /* total threads including the caller (or the dispatcher); <= 0 means 1 */
    /* appended in 0.2 */
    int32_t inplace;           /* 0: a dispatcher thread runs the kernels, lr_forward returns early; 1: the caller's thread */
    int32_t record;            /* 0: walk the graph each run; 1: record the first run's kernel calls, replay them;
                                  2: as 1 and free the graph metadata after recording */
    int32_t weight_preprocess; /* 0: pack/transform weights inside every run; 1: once at load */
    int32_t fast_run;          /* lr_fast_run */
    int32_t n_affinity;        /* 0: no pinning; else pool thread i (0 = dispatcher/caller) runs on affinity[i % n] */
    int32_t affinity[LR_MAX_AFFINITY];
    const char *algo_cache; /* algorithm cache file: read at load; written (atomically) after profiling. NULL: none */
} lr_options;

/* What became of the algorithm cache file at load. */
typedef enum lr_algo_cache_status {
    LR_ALGO_CACHE_NONE = 0,     /* no cache file given */
    LR_ALGO_CACHE_LOADED = 1,   /* read and used */
    LR_ALGO_CACHE_ABSENT = 2,   /* the file does not exist yet (it is written after profiling) */
    LR_ALGO_CACHE_CORRUPT = 3,  /* rejected: not a cache, bad version or checksum; not used */
    LR_ALGO_CACHE_FOREIGN = 4   /* rejected: written by another build or CPU; not used */
} lr_algo_cache_status;

typedef struct lr_stats {
    uint32_t size;                    /* set by the caller to sizeof(lr_stats) */
    uint32_t threads;                 /* threads configured, caller/dispatcher included */
    uint32_t kernels;                 /* kernel calls per run (nodes that are not zero-copy aliases) */
    uint32_t nodes;                   /* nodes in the graph */
    uint64_t arena_bytes;             /* planned activation arena */
    uint64_t arena_lower_bound_bytes; /* max over steps of the live activation bytes */
    uint64_t weight_bytes;            /* constant data in the model */
    uint64_t packed_weight_bytes;     /* weights preprocessed (packed) at load */
    uint64_t workspace_bytes;         /* scratch shared by kernels (all threads) */
    uint64_t io_bytes;                /* input and output buffers */
    int64_t load_ns;                  /* lr_load_* wall time */
    int64_t first_run_ns;             /* first lr_forward, -1 before it */
    /* appended in 0.2 */
    uint32_t runs;                    /* completed runs */
    uint32_t graph_walks_per_run;     /* last run: 1 when it walked the graph, 0 when it replayed a recording */
    uint32_t weight_packs_per_run;    /* last run: constant weights packed/transformed inside the run */
    uint32_t kernels_per_run;         /* last run: kernel calls made */
    uint32_t fused_kernels;           /* kernel nodes whose operator is a fused one (op table flag) */
    uint32_t recorded_calls;          /* length of the recorded kernel-call list (0 before recording) */
    uint64_t metadata_bytes;          /* graph metadata held now: names, tensor/node tables, attribute pools */
    uint64_t metadata_bytes_at_load;  /* the same right after load */
    uint32_t threads_used;            /* distinct pool threads that executed kernel work so far */
    uint32_t dispatcher_runs;         /* runs executed on the dispatcher thread */
    int64_t profiling_ns;             /* fast-run profiling time during load */
    uint32_t profiled_nodes;          /* nodes whose candidates were timed */
    uint32_t algo_cache_hits;         /* nodes whose algorithm came from the cache */
    uint32_t algo_cache_misses;       /* profiled nodes the cache did not know */
    int32_t algo_cache_status;        /* lr_algo_cache_status */
    int32_t algo_cache_written;       /* 1 when this load wrote the cache file */
    int32_t inplace, record, weight_preprocess, fast_run; /* the options in effect */
} lr_stats;

LR_API const char *lr_version(void);  /* "0.2.0" */
LR_API const char *lr_build_id(void); /* compiler, flags, date: identifies the binary */
LR_API const char *lr_last_error(void); /* message of the last failure on this thread */
LR_API const char *lr_status_name(lr_status s);

LR_API void lr_options_init(lr_options *opts);

LR_API lr_status lr_load_file(const char *path, const lr_options *opts, lr_model **out);
/* The buffer is copied; the caller may free it when this returns. */
LR_API lr_status lr_load_memory(const void *buf, size_t size, const lr_options *opts, lr_model **out);
LR_API void lr_free(lr_model *model);

LR_API int lr_input_count(const lr_model *model);
LR_API int lr_output_count(const lr_model *model);
LR_API const char *lr_input_name(const lr_model *model, int index);
LR_API const char *lr_output_name(const lr_model *model, int index);
/* dims: LR_MAX_NDIM entries; returns ndim via *ndim. */
LR_API lr_status lr_input_info(const lr_model *model, int index, lr_dtype *dtype, int *ndim, int64_t *dims);
LR_API lr_status lr_output_info(const lr_model *model, int index, lr_dtype *dtype, int *ndim, int64_t *dims);

/* Copies exactly the input's byte size from data. */
LR_API lr_status lr_set_input(lr_model *model, int index, const void *data, size_t bytes);
/* Starts a run. With inplace = 0 the dispatcher thread runs it and lr_forward returns at once;
 * lr_wait blocks until it is done and returns its status (other calls on the handle wait too). */
LR_API lr_status lr_forward(lr_model *model);
LR_API lr_status lr_wait(lr_model *model);
/* Nanoseconds of the last completed run, measured around the kernels with CLOCK_MONOTONIC. */
LR_API int64_t lr_last_run_ns(const lr_model *model);
LR_API lr_status lr_get_output(const lr_model *model, int index, void *dst, size_t bytes);
/* Pointer to the output's buffer, valid until the next lr_forward or lr_free. */
LR_API const void *lr_output_data(const lr_model *model, int index);

/* `warmup` untimed runs, then timed runs until at least `iters` runs and `min_time_ns` total,
 * stopping at `capacity` samples. Per-run nanoseconds go to samples_ns; *count gets how many. */
LR_API lr_status lr_timed_loop(lr_model *model, int warmup, int iters, int64_t min_time_ns, int64_t *samples_ns,
                               size_t capacity, size_t *count);

LR_API lr_status lr_stats_get(const lr_model *model, lr_stats *stats);
LR_API int lr_node_count(const lr_model *model);
LR_API const char *lr_node_op(const lr_model *model, int index);   /* "Conv", ... */
LR_API const char *lr_node_name(const lr_model *model, int index);
LR_API const char *lr_node_algo(const lr_model *model, int index); /* chosen algorithm */
/* Layout the node's kernel works in: "nchw", or a blocked one ("nchw44", "nchw88", "nchw16"). */
LR_API const char *lr_node_layout(const lr_model *model, int index);
/* Layouts this build has fast kernels for on this CPU (after the LOADRUN_X86_ISA cap), space
 * separated, "nchw" first: e.g. "nchw nchw88 nchw16". */
LR_API const char *lr_layouts(void);
/* Node queries read graph metadata: with record level 2 they return NULL after the first run
 * (lr_last_error says why). */

/* Node timing (per-operator profile): while on, every run stores each node's wall time; a node that
 * did not run (a zero-copy alias, or before the first run) reads -1. Off frees the table. */
LR_API lr_status lr_node_timing(lr_model *model, int enable);
LR_API int64_t lr_node_time_ns(const lr_model *model, int index); /* of the last run */

/* The CPUs the model's threads were seen running on (sched_getcpu, sampled per parallel region);
 * writes up to `capacity` CPU ids in increasing order and returns how many there are. */
LR_API int lr_cpus_used(const lr_model *model, int *cpus, int capacity);
/* Why the algorithm cache was rejected or not written (empty when all went well). */
LR_API const char *lr_algo_cache_message(const lr_model *model);
/* Asks for a different shape of input `index`. Shapes are static in the compiled format, so only
 * the current shape is accepted; a record level 2 model refuses any change because the metadata
 * needed to re-plan was freed. */
LR_API lr_status lr_reshape_input(lr_model *model, int index, int ndim, const int64_t *dims);

#ifdef __cplusplus
}
#endif
#endif /* LOADRUN_H */
