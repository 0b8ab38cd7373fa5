/* thread_pool.c: pthreads workers that spin briefly, then sleep, between parallel_for calls. */
#include "thread_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define LR_SPIN_ROUNDS 20000

struct lr_thread_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation;
    atomic_int finished;      /* workers done with the current generation */
    atomic_int_fast64_t next; /* next task to claim */
    int64_t n_tasks;
    lr_task_fn fn;
    void *ctx;
    int stop;
};

typedef struct worker_arg {
    lr_thread_pool *pool;
    int index;
} worker_arg;

static void run_tasks(lr_thread_pool *p, int thread) {
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks) return;
        p->fn(p->ctx, t, thread);
    }
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    lr_thread_pool *p = wa.pool;
    uint_fast64_t seen = 0;
    for (;;) {
        uint_fast64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int spin = 0; g == seen && spin < LR_SPIN_ROUNDS; ++spin)
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (p->stop) return NULL;
        seen = g;
        run_tasks(p, wa.index);
        if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == p->threads - 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

lr_thread_pool *lr_pool_create(int threads) {
    if (threads < 1) threads = 1;
    lr_thread_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->next, 0);
    if (threads > 1) {
        p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
        if (!p->workers) goto fail;
        for (int i = 0; i < threads - 1; ++i) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) { p->threads = i + 1; goto fail; }
            wa->pool = p;
            wa->index = i + 1;
            if (pthread_create(&p->workers[i], NULL, worker_main, wa) != 0) {
                free(wa);
                p->threads = i + 1;
                goto fail;
            }
        }
    }
    return p;
fail:
    lr_pool_destroy(p);
    return NULL;
}

void lr_pool_destroy(lr_thread_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->threads - 1 && p->workers; ++i) pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int lr_pool_threads(const lr_thread_pool *p) { return p ? p->threads : 1; }

void lr_parallel_for(lr_thread_pool *p, int64_t n, lr_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (!p || p->threads == 1 || n == 1) {
        for (int64_t t = 0; t < n; ++t) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    int want = p->threads - 1;
    for (int spin = 0; spin < LR_SPIN_ROUNDS * 10; ++spin)
        if (atomic_load_explicit(&p->finished, memory_order_acquire) == want) return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->finished, memory_order_acquire) != want) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
