/* thread_pool.c: pthreads workers that spin briefly, then sleep, between parallel_for calls.
 *
 * Hand-off protocol. The caller publishes a region (fn, ctx, n_tasks, next = 0, finished = 0) and
 * bumps `generation` (seq_cst); workers spin on `generation` for at most LR_SPIN_NS (pausing the
 * core), then sleep on `wake`. A sleeper registers in `sleepers` under `mu` before its last check
 * of `generation`; the caller reads `sleepers` after its bump, so (both seq_cst: a store-load
 * Dekker pair) either the sleeper sees the new generation or the caller sees the sleeper and
 * broadcasts under `mu` - and only then pays for the mutex and the futex wake. The caller does
 * its share, then spins on `finished` for at most LR_SPIN_NS and sleeps on `done` the same way
 * (`caller_sleeping` against the last worker's increment of `finished`). Every spin is bounded in
 * time, so an oversubscribed machine loses at most LR_SPIN_NS of a core per wait. */
#define _GNU_SOURCE
#include "thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#ifndef LR_SPIN_NS
#define LR_SPIN_NS 100000 /* ~100 us: longer than the gap between most kernels, far below a tick */
#endif
#define LR_SPIN_CHECK 64  /* pauses between clock reads */
#define LR_SEEN_WORDS 4 /* CPUs and thread indices 0..255 are sampled */

struct lr_thread_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation;
    atomic_int finished;      /* workers done with the current generation */
    atomic_int sleepers;      /* workers blocked (or about to block) on `wake` */
    atomic_int caller_sleeping; /* the caller blocked (or about to block) on `done` */
    atomic_int_fast64_t next; /* next task to claim */
    int64_t n_tasks;
    lr_task_fn fn;
    void *ctx;
    int stop;
    const int *cpus; /* pinning of workers, NULL: none */
    int n_cpus;
    atomic_uint_fast64_t cpu_seen[LR_SEEN_WORDS], thread_seen[LR_SEEN_WORDS];
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins until *word != value (returns true) or LR_SPIN_NS have passed (false); acquire on success. */
static bool spin_while_u64(atomic_uint_fast64_t *word, uint_fast64_t value) {
    int64_t deadline = 0;
    for (;;) {
        for (int i = 0; i < LR_SPIN_CHECK; ++i) {
            if (atomic_load_explicit(word, memory_order_acquire) != value) return true;
            cpu_relax();
        }
        int64_t t = now_ns();
        if (!deadline) deadline = t + LR_SPIN_NS;
        else if (t >= deadline) return false;
    }
}

static bool spin_until_int(atomic_int *word, int value) {
    int64_t deadline = 0;
    for (;;) {
        for (int i = 0; i < LR_SPIN_CHECK; ++i) {
            if (atomic_load_explicit(word, memory_order_acquire) == value) return true;
            cpu_relax();
        }
        int64_t t = now_ns();
        if (!deadline) deadline = t + LR_SPIN_NS;
        else if (t >= deadline) return false;
    }
}

static void mark(atomic_uint_fast64_t *words, int bit) {
    if (bit < 0 || bit >= 64 * LR_SEEN_WORDS) return;
    uint_fast64_t m = (uint_fast64_t)1 << (bit % 64);
    if (!(atomic_load_explicit(&words[bit / 64], memory_order_relaxed) & m)) atomic_fetch_or_explicit(&words[bit / 64], m, memory_order_relaxed);
}

void lr_pool_note_running(lr_thread_pool *p, int thread) {
    if (!p) return;
    mark(p->thread_seen, thread);
    mark(p->cpu_seen, sched_getcpu());
}

static int list_bits(const atomic_uint_fast64_t *words, int *out, int capacity) {
    int n = 0;
    for (int b = 0; b < 64 * LR_SEEN_WORDS; ++b)
        if ((atomic_load_explicit(&words[b / 64], memory_order_relaxed) >> (b % 64)) & 1) {
            if (out && n < capacity) out[n] = b;
            ++n;
        }
    return n;
}

int lr_pool_cpus_seen(const lr_thread_pool *p, int *cpus, int capacity) { return p ? list_bits(p->cpu_seen, cpus, capacity) : 0; }
int lr_pool_threads_seen(const lr_thread_pool *p) { return p ? list_bits(p->thread_seen, NULL, 0) : 0; }

void lr_pool_reset_seen(lr_thread_pool *p) {
    if (!p) return;
    for (int i = 0; i < LR_SEEN_WORDS; ++i) {
        atomic_store(&p->cpu_seen[i], 0);
        atomic_store(&p->thread_seen[i], 0);
    }
}

int lr_pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

typedef struct worker_arg {
    lr_thread_pool *pool;
    int index;
} worker_arg;

static void run_tasks(lr_thread_pool *p, int thread) {
    bool noted = false;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks) return;
        if (!noted) { /* sampled once per parallel region, only by threads that got work */
            lr_pool_note_running(p, thread);
            noted = true;
        }
        p->fn(p->ctx, t, thread);
    }
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    lr_thread_pool *p = wa.pool;
    if (p->cpus) lr_pin_self(p->cpus[wa.index % p->n_cpus]); /* checked by the owner before creating the pool */
    uint_fast64_t seen = 0;
    for (;;) {
        uint_fast64_t g;
        if (spin_while_u64(&p->generation, seen)) {
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
        } else {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
            while ((g = atomic_load_explicit(&p->generation, memory_order_seq_cst)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
            pthread_mutex_unlock(&p->mu);
        }
        if (p->stop) return NULL;
        seen = g;
        run_tasks(p, wa.index);
        if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_seq_cst) + 1 == p->threads - 1 &&
            atomic_load_explicit(&p->caller_sleeping, memory_order_seq_cst)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

lr_thread_pool *lr_pool_create(int threads) { return lr_pool_create_pinned(threads, NULL, 0); }

lr_thread_pool *lr_pool_create_pinned(int threads, const int *cpus, int n_cpus) {
    if (threads < 1) threads = 1;
    lr_thread_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    p->cpus = n_cpus > 0 ? cpus : NULL;
    p->n_cpus = n_cpus;
    for (int i = 0; i < LR_SEEN_WORDS; ++i) {
        atomic_init(&p->cpu_seen[i], 0);
        atomic_init(&p->thread_seen[i], 0);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeping, 0);
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
        lr_pool_note_running(p, 0);
        for (int64_t t = 0; t < n; ++t) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    /* seq_cst bump: orders the region's fields before it (release) and before the read of
     * `sleepers` (the Dekker pair with a worker going to sleep). */
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_tasks(p, 0);
    int want = p->threads - 1;
    if (spin_until_int(&p->finished, want)) return;
    pthread_mutex_lock(&p->mu);
    /* an RMW, not a store: the Dekker pair needs store->load order against the last worker's
     * fetch_add on `finished`; a seq_cst store followed by a seq_cst load is not a full fence
     * everywhere (qemu-user translating aarch64 STLR/LDAR onto x86 lets the load pass the store,
     * and the wake-up was lost: a fit under emulation slept forever) */
    atomic_exchange_explicit(&p->caller_sleeping, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&p->finished, memory_order_seq_cst) != want) pthread_cond_wait(&p->done, &p->mu);
    atomic_store_explicit(&p->caller_sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
}
