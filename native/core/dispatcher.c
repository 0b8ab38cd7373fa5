/* dispatcher.c: the run thread of inplace = 0 (MegEngine Lite's default). lr_forward hands the run
 * to this thread and returns; lr_wait (and every call that touches buffers) waits for it. The
 * dispatcher is pool thread 0, so threads = N still means N threads doing work. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

struct lr_dispatcher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    bool pending, stop, started;
};

static void *dispatcher_main(void *arg) {
    lr_model *m = arg;
    struct lr_dispatcher *d = m->dispatcher;
    if (m->n_affinity) lr_pin_self(m->affinity[0]);
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->pending && !d->stop) pthread_cond_wait(&d->work, &d->mu);
        if (d->stop) break;
        pthread_mutex_unlock(&d->mu);
        lr_status s = lr_timed_run(m);
        if (s != LR_OK) snprintf(m->run_error, sizeof m->run_error, "%s", lr_last_error()); /* thread-local: hand it over */
        pthread_mutex_lock(&d->mu);
        m->dispatcher_runs++;
        d->pending = false;
        pthread_cond_broadcast(&d->done);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

lr_status lr_dispatcher_start(lr_model *m) {
    struct lr_dispatcher *d = calloc(1, sizeof *d);
    if (!d) return lr_fail(LR_ERR_MEMORY, "out of memory starting the dispatcher thread");
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->work, NULL);
    pthread_cond_init(&d->done, NULL);
    m->dispatcher = d;
    if (pthread_create(&d->thread, NULL, dispatcher_main, m) != 0) return lr_fail(LR_ERR_MEMORY, "cannot start the dispatcher thread");
    d->started = true;
    return LR_OK;
}

void lr_dispatcher_stop(lr_model *m) {
    struct lr_dispatcher *d = m->dispatcher;
    if (!d) return;
    if (d->started) {
        pthread_mutex_lock(&d->mu);
        while (d->pending) pthread_cond_wait(&d->done, &d->mu);
        d->stop = true;
        pthread_cond_signal(&d->work);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->thread, NULL);
    }
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->work);
    pthread_cond_destroy(&d->done);
    free(d);
    m->dispatcher = NULL;
}

lr_status lr_dispatch_wait(lr_model *m) {
    struct lr_dispatcher *d = m->dispatcher;
    if (!d) return m->run_status;
    pthread_mutex_lock(&d->mu);
    while (d->pending) pthread_cond_wait(&d->done, &d->mu);
    pthread_mutex_unlock(&d->mu);
    if (m->run_status != LR_OK) return lr_fail(m->run_status, "%s", m->run_error);
    return LR_OK;
}

lr_status lr_dispatch_forward(lr_model *m) {
    struct lr_dispatcher *d = m->dispatcher;
    pthread_mutex_lock(&d->mu);
    while (d->pending) pthread_cond_wait(&d->done, &d->mu);
    d->pending = true;
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->mu);
    return LR_OK;
}
