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
#define LR_VERSION_MINOR 1
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

/* Load/run options. Initialise with lr_options_init() and set `size` = sizeof(lr_options) so a
 * newer library can tell which fields an older caller knows about. */
typedef struct lr_options {
    uint32_t size;   /* sizeof(lr_options) as the caller compiled it */
    int32_t threads; /* total threads including the caller; <= 0 means 1 */
} lr_options;

typedef struct lr_stats {
    uint32_t size;                    /* set by the caller to sizeof(lr_stats) */
    uint32_t threads;                 /* threads used, caller included */
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
} lr_stats;

LR_API const char *lr_version(void);  /* "0.1.0" */
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
/* Starts a run. Runs are synchronous for now: lr_wait returns the run's status. */
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

#ifdef __cplusplus
}
#endif
#endif /* LOADRUN_H */
