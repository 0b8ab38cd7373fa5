/* thread_pool.h: a fixed pool of pthreads; threads = N means N total, the caller included. */
#ifndef LR_THREAD_POOL_H
#define LR_THREAD_POOL_H

#include <stdint.h>

typedef struct lr_thread_pool lr_thread_pool;
/* One task of a parallel_for: `thread` is in [0, threads) and unique among concurrent tasks. */
typedef void (*lr_task_fn)(void *ctx, int64_t task, int thread);

lr_thread_pool *lr_pool_create(int threads);
/* As lr_pool_create, with worker i (1..threads-1) pinned to cpus[i % n_cpus]; thread 0 is the
 * caller's (or the dispatcher's) and is pinned by whoever owns it (lr_pin_self). */
lr_thread_pool *lr_pool_create_pinned(int threads, const int *cpus, int n_cpus);
/* Pins the calling thread to one CPU; 0 on success, an errno value otherwise. */
int lr_pin_self(int cpu);
/* Records that pool thread `thread` is running now, and on which CPU (sched_getcpu). */
void lr_pool_note_running(lr_thread_pool *pool, int thread);
/* CPUs seen (increasing, up to capacity; returns how many) and distinct threads that ran tasks. */
int lr_pool_cpus_seen(const lr_thread_pool *pool, int *cpus, int capacity);
int lr_pool_threads_seen(const lr_thread_pool *pool);
/* Forgets what was seen (load-time work such as profiling runs on the loading thread). */
void lr_pool_reset_seen(lr_thread_pool *pool);
void lr_pool_destroy(lr_thread_pool *pool);
int lr_pool_threads(const lr_thread_pool *pool);
/* Runs fn(ctx, t, thread) for t in [0, n) and returns when all are done. */
void lr_parallel_for(lr_thread_pool *pool, int64_t n, lr_task_fn fn, void *ctx);

#endif
