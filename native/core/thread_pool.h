/* thread_pool.h: a fixed pool of pthreads; threads = N means N total, the caller included. */
#ifndef LR_THREAD_POOL_H
#define LR_THREAD_POOL_H

#include <stdint.h>

typedef struct lr_thread_pool lr_thread_pool;
/* One task of a parallel_for: `thread` is in [0, threads) and unique among concurrent tasks. */
typedef void (*lr_task_fn)(void *ctx, int64_t task, int thread);

lr_thread_pool *lr_pool_create(int threads);
void lr_pool_destroy(lr_thread_pool *pool);
int lr_pool_threads(const lr_thread_pool *pool);
/* Runs fn(ctx, t, thread) for t in [0, n) and returns when all are done. */
void lr_parallel_for(lr_thread_pool *pool, int64_t n, lr_task_fn fn, void *ctx);

#endif
