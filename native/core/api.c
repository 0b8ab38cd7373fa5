/* api.c: the public entry points of loadrun.h over the loader, planner and executor. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"

void lr_options_init(lr_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->threads = 1;
    o->inplace = 0; /* MegEngine Lite's defaults: dispatcher thread, record 0, no weight preprocess, heuristic */
    o->record = 0;
    o->weight_preprocess = 0;
    o->fast_run = LR_FAST_RUN_HEURISTIC;
}

/* Reads only the fields the caller's struct has (its `size`). */
static lr_status read_options(const lr_options *in, lr_options *out) {
    lr_options_init(out);
    if (!in) return LR_OK;
    if (in->size < offsetof(lr_options, threads) + sizeof in->threads)
        return lr_fail(LR_ERR_ARGUMENT, "lr_options.size = %u is too small; call lr_options_init()", in->size);
    size_t n = in->size < sizeof *out ? in->size : sizeof *out;
    memcpy(out, in, n);
    out->size = sizeof *out;
    if (out->threads <= 0) out->threads = 1;
    if (out->threads > 256) return lr_fail(LR_ERR_ARGUMENT, "threads = %d is more than 256", out->threads);
    if (out->inplace != 0 && out->inplace != 1) return lr_fail(LR_ERR_ARGUMENT, "inplace = %d: must be 0 or 1", out->inplace);
    if (out->record < 0 || out->record > 2) return lr_fail(LR_ERR_ARGUMENT, "record = %d: must be 0, 1 or 2", out->record);
    if (out->weight_preprocess != 0 && out->weight_preprocess != 1)
        return lr_fail(LR_ERR_ARGUMENT, "weight_preprocess = %d: must be 0 or 1", out->weight_preprocess);
    if (out->fast_run < LR_FAST_RUN_HEURISTIC || out->fast_run > LR_FAST_RUN_PROFILE_OPTIMIZED)
        return lr_fail(LR_ERR_ARGUMENT, "fast_run = %d: must be 0 (heuristic) .. 3 (profile-optimized)", out->fast_run);
    if (out->n_affinity < 0 || out->n_affinity > LR_MAX_AFFINITY)
        return lr_fail(LR_ERR_ARGUMENT, "n_affinity = %d: must be 0..%d", out->n_affinity, LR_MAX_AFFINITY);
    if (out->n_affinity) {
        cpu_set_t allowed;
        if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
        for (int i = 0; i < out->n_affinity; ++i) {
            int c = out->affinity[i];
            if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
                return lr_fail(LR_ERR_ARGUMENT, "affinity: CPU %d is not available to this process (%d CPUs allowed)", c,
                               CPU_COUNT(&allowed));
        }
    }
    return LR_OK;
}

void lr_model_release(lr_model *m) {
    if (!m) return;
    lr_dispatcher_stop(m);
    lr_pool_destroy(m->pool);
    if (m->tensors)
        for (int i = 0; i < m->n_tensors; ++i) {
            free(m->tensors[i].name);
            lr_free64(m->tensors[i].io_buffer);
        }
    lr_executor_release(m);
    free(m->tensors);
    free(m->inputs);
    free(m->ids);
    free(m->ints);
    free(m->floats);
    lr_free64(m->arena);
    lr_free64(m->workspace);
    if (m->file_mapped) munmap(m->file, m->file_bytes);
    else free(m->file);
    free(m);
}

void lr_free(lr_model *m) { lr_model_release(m); }

static lr_status finish_load(lr_model *m, const lr_options *opts, int64_t t0, lr_model **out) {
    lr_options o;
    lr_status s = read_options(opts, &o);
    if (s == LR_OK) s = lr_parse_model(m);
    if (s == LR_OK) {
        m->threads = o.threads;
        m->inplace = o.inplace;
        m->record = o.record;
        m->weight_preprocess = o.weight_preprocess;
        m->fast_run = o.fast_run;
        m->n_affinity = o.n_affinity;
        memcpy(m->affinity, o.affinity, sizeof m->affinity);
        m->pool = lr_pool_create_pinned(o.threads, m->affinity, m->n_affinity);
        if (!m->pool) s = lr_fail(LR_ERR_MEMORY, "cannot start %d threads", o.threads);
    }
    m->first_run_ns = -1;
    m->last_run_ns = -1;
    if (s == LR_OK) s = lr_choose_algorithms(m, o.algo_cache);
    if (s == LR_OK) s = lr_prepare_model(m);
    lr_pool_reset_seen(m->pool); /* report where runs execute, not where load-time profiling did */
    if (s == LR_OK && !m->inplace) s = lr_dispatcher_start(m);
    if (s != LR_OK) {
        lr_model_release(m);
        return s;
    }
    m->load_ns = lr_now_ns() - t0;
    *out = m;
    return LR_OK;
}

lr_status lr_load_memory(const void *buf, size_t size, const lr_options *opts, lr_model **out) {
    int64_t t0 = lr_now_ns();
    if (!out) return lr_fail(LR_ERR_ARGUMENT, "lr_load_memory: out is NULL");
    *out = NULL;
    if (!buf && size) return lr_fail(LR_ERR_ARGUMENT, "lr_load_memory: buffer is NULL");
    lr_model *m = calloc(1, sizeof *m);
    if (!m) return lr_fail(LR_ERR_MEMORY, "out of memory");
    m->file = aligned_alloc(64, (size + 63) / 64 * 64 + 64); /* the data section must stay 64-byte aligned */
    if (!m->file) {
        free(m);
        return lr_fail(LR_ERR_MEMORY, "cannot copy a %zu-byte model", size);
    }
    if (size) memcpy(m->file, buf, size);
    m->file_bytes = size;
    return finish_load(m, opts, t0, out);
}

lr_status lr_load_file(const char *path, const lr_options *opts, lr_model **out) {
    int64_t t0 = lr_now_ns();
    if (!out || !path) return lr_fail(LR_ERR_ARGUMENT, "lr_load_file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lr_fail(LR_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lr_fail(LR_ERR_IO, "%s: not a regular file", path);
    }
    lr_model *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return lr_fail(LR_ERR_MEMORY, "out of memory");
    }
    m->file_bytes = (size_t)st.st_size;
    if (m->file_bytes == 0) {
        close(fd);
        free(m);
        return lr_fail(LR_ERR_FORMAT, "%s: empty file", path);
    }
    void *p = mmap(NULL, m->file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        free(m);
        return lr_fail(LR_ERR_IO, "%s: cannot mmap (%s)", path, strerror(errno));
    }
    m->file = p;
    m->file_mapped = true;
    lr_status s = finish_load(m, opts, t0, out);
    if (s != LR_OK) {
        char msg[512];
        strncpy(msg, lr_last_error(), sizeof msg - 1);
        msg[sizeof msg - 1] = 0;
        return lr_fail(s, "%s: %s", path, msg);
    }
    return s;
}

int lr_input_count(const lr_model *m) { return m ? m->n_inputs : 0; }
int lr_output_count(const lr_model *m) { return m ? m->n_outputs : 0; }

static const lr_tensor *io_tensor(const lr_model *m, int index, bool input) {
    if (!m) return NULL;
    int n = input ? m->n_inputs : m->n_outputs;
    if (index < 0 || index >= n) return NULL;
    return &m->tensors[input ? m->inputs[index] : m->outputs[index]];
}

const char *lr_input_name(const lr_model *m, int i) {
    const lr_tensor *t = io_tensor(m, i, true);
    return t ? t->name : NULL;
}

const char *lr_output_name(const lr_model *m, int i) {
    const lr_tensor *t = io_tensor(m, i, false);
    return t ? t->name : NULL;
}

static lr_status info(const lr_tensor *t, int index, lr_dtype *dtype, int *ndim, int64_t *dims) {
    if (!t) return lr_fail(LR_ERR_ARGUMENT, "no input/output with index %d", index);
    if (dtype) *dtype = t->dtype;
    if (ndim) *ndim = t->ndim;
    if (dims)
        for (int d = 0; d < LR_MAX_NDIM; ++d) dims[d] = d < t->ndim ? t->dims[d] : 0;
    return LR_OK;
}

lr_status lr_input_info(const lr_model *m, int i, lr_dtype *dt, int *nd, int64_t *dims) { return info(io_tensor(m, i, true), i, dt, nd, dims); }
lr_status lr_output_info(const lr_model *m, int i, lr_dtype *dt, int *nd, int64_t *dims) { return info(io_tensor(m, i, false), i, dt, nd, dims); }

/* Buffers belong to a pending run until it is done. */
static void settle(const lr_model *m) {
    if (m && m->dispatcher) lr_dispatch_wait((lr_model *)m);
}

lr_status lr_set_input(lr_model *m, int i, const void *data, size_t bytes) {
    settle(m);
    const lr_tensor *t = io_tensor(m, i, true);
    if (!t) return lr_fail(LR_ERR_ARGUMENT, "no input with index %d", i);
    if (!data || bytes != t->nbytes)
        return lr_fail(LR_ERR_ARGUMENT, "input %d (%s) takes %zu bytes, got %zu", i, t->name, t->nbytes, bytes);
    memcpy(t->data, data, bytes);
    return LR_OK;
}

lr_status lr_forward(lr_model *m) {
    if (!m) return lr_fail(LR_ERR_ARGUMENT, "lr_forward: model is NULL");
    if (m->dispatcher) return lr_dispatch_forward(m);
    return lr_timed_run(m);
}

lr_status lr_wait(lr_model *m) {
    if (!m) return lr_fail(LR_ERR_ARGUMENT, "lr_wait: model is NULL");
    if (m->dispatcher) return lr_dispatch_wait(m);
    return m->run_status;
}

int64_t lr_last_run_ns(const lr_model *m) {
    settle(m);
    return m ? m->last_run_ns : -1;
}

lr_status lr_get_output(const lr_model *m, int i, void *dst, size_t bytes) {
    settle(m);
    const lr_tensor *t = io_tensor(m, i, false);
    if (!t) return lr_fail(LR_ERR_ARGUMENT, "no output with index %d", i);
    if (!dst || bytes != t->nbytes)
        return lr_fail(LR_ERR_ARGUMENT, "output %d (%s) has %zu bytes, got a %zu-byte buffer", i, t->name, t->nbytes, bytes);
    memcpy(dst, t->data, bytes);
    return LR_OK;
}

const void *lr_output_data(const lr_model *m, int i) {
    settle(m);
    const lr_tensor *t = io_tensor(m, i, false);
    return t ? t->data : NULL;
}

lr_status lr_timed_loop(lr_model *m, int warmup, int iters, int64_t min_time_ns, int64_t *samples, size_t capacity, size_t *count) {
    if (!m || !count || (capacity && !samples) || warmup < 0 || iters < 0)
        return lr_fail(LR_ERR_ARGUMENT, "lr_timed_loop: bad arguments");
    *count = 0;
    for (int i = 0; i < warmup; ++i) {
        lr_status s = lr_forward(m);
        if (s == LR_OK) s = lr_wait(m);
        if (s != LR_OK) return s;
    }
    int64_t total = 0;
    while (*count < capacity && ((int64_t)*count < iters || total < min_time_ns)) {
        lr_status s = lr_forward(m);
        if (s == LR_OK) s = lr_wait(m);
        if (s != LR_OK) return s;
        samples[(*count)++] = m->last_run_ns;
        total += m->last_run_ns;
    }
    return LR_OK;
}

lr_status lr_stats_get(const lr_model *m, lr_stats *out) {
    if (!m || !out || out->size < sizeof(uint32_t)) return lr_fail(LR_ERR_ARGUMENT, "lr_stats_get: bad arguments");
    settle(m);
    lr_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    s.threads = (uint32_t)m->threads;
    s.kernels = (uint32_t)m->kernels;
    s.nodes = (uint32_t)m->n_nodes;
    s.arena_bytes = m->arena_bytes;
    s.arena_lower_bound_bytes = m->arena_lower_bound;
    s.weight_bytes = m->weight_bytes;
    s.packed_weight_bytes = m->packed_bytes;
    s.workspace_bytes = m->workspace_bytes;
    s.io_bytes = m->io_bytes;
    s.load_ns = m->load_ns;
    s.first_run_ns = m->first_run_ns;
    s.runs = m->runs;
    s.graph_walks_per_run = m->run_walks;
    s.weight_packs_per_run = m->run_weight_packs;
    s.kernels_per_run = m->run_kernels;
    s.fused_kernels = m->fused_kernels;
    s.recorded_calls = (uint32_t)m->n_calls;
    s.metadata_bytes = lr_metadata_bytes(m);
    s.metadata_bytes_at_load = m->metadata_at_load;
    s.threads_used = (uint32_t)lr_pool_threads_seen(m->pool);
    s.dispatcher_runs = m->dispatcher_runs;
    s.profiling_ns = m->profiling_ns;
    s.profiled_nodes = m->profiled_nodes;
    s.algo_cache_hits = m->cache_hits;
    s.algo_cache_misses = m->cache_misses;
    s.algo_cache_status = m->cache_status;
    s.algo_cache_written = m->cache_written;
    s.inplace = m->inplace;
    s.record = m->record;
    s.weight_preprocess = m->weight_preprocess;
    s.fast_run = m->fast_run;
    size_t n = out->size < sizeof s ? out->size : sizeof s;
    uint32_t keep = out->size;
    memcpy(out, &s, n);
    out->size = keep < sizeof s ? keep : (uint32_t)sizeof s;
    return LR_OK;
}

int lr_node_count(const lr_model *m) { return m ? m->n_nodes : 0; }

static const lr_node *node_at(const lr_model *m, int i) {
    if (m && m->metadata_freed) {
        lr_fail(LR_ERR_UNSUPPORTED, "record level 2 freed the graph metadata (node names, operators, algorithms) after the "
                                    "first run; query before running, or load with record 0 or 1");
        return NULL;
    }
    return m && i >= 0 && i < m->n_nodes ? &m->nodes[i] : NULL;
}

const char *lr_node_op(const lr_model *m, int i) {
    const lr_node *n = node_at(m, i);
    return n ? lr_op_name(n->op) : NULL;
}

const char *lr_node_name(const lr_model *m, int i) {
    const lr_node *n = node_at(m, i);
    return n ? n->name : NULL;
}

const char *lr_node_algo(const lr_model *m, int i) {
    const lr_node *n = node_at(m, i);
    if (!n) return NULL;
    return n->alias ? "alias" : n->algo ? n->algo->name : "none";
}

const char *lr_node_layout(const lr_model *m, int i) {
    const lr_node *n = node_at(m, i);
    if (!n) return NULL;
    const lr_tensor *y = &m->tensors[n->out[0]];
    if (y->ndim == 5 && (n->op == LR_OP_CONV || n->op == LR_OP_POOLING || n->op == LR_OP_ELEMWISE || n->op == LR_OP_DECONV ||
                         lr_op_is_fused(n->op) || lr_op_is_layout(n->op))) { /* blocked (N, C/b, H, W, b) */
        switch (y->dims[4]) {
        case 4: return "nchw44";
        case 8: return "nchw88";
        case 16: return "nchw16";
        default: break;
        }
    }
    return "nchw";
}

int lr_cpus_used(const lr_model *m, int *cpus, int capacity) {
    settle(m);
    return m ? lr_pool_cpus_seen(m->pool, cpus, capacity < 0 ? 0 : capacity) : 0;
}

const char *lr_algo_cache_message(const lr_model *m) { return m ? m->cache_message : ""; }

lr_status lr_reshape_input(lr_model *m, int i, int ndim, const int64_t *dims) {
    settle(m);
    const lr_tensor *t = io_tensor(m, i, true);
    if (!t) return lr_fail(LR_ERR_ARGUMENT, "no input with index %d", i);
    if (ndim < 1 || ndim > LR_MAX_NDIM || !dims) return lr_fail(LR_ERR_ARGUMENT, "lr_reshape_input: bad ndim/dims");
    bool same = ndim == t->ndim;
    for (int d = 0; same && d < ndim; ++d) same = dims[d] == t->dims[d];
    if (same) return LR_OK;
    if (m->metadata_freed)
        return lr_fail(LR_ERR_UNSUPPORTED, "input %d (%s): record level 2 freed the graph metadata needed to re-plan for a new "
                                           "shape; load the model again (or use record 0 or 1)", i, t->name);
    return lr_fail(LR_ERR_UNSUPPORTED, "input %d (%s): shapes are static in a compiled model; compile it again for the new shape",
                   i, t->name);
}

lr_status lr_node_timing(lr_model *m, int enable) {
    if (!m) return lr_fail(LR_ERR_ARGUMENT, "lr_node_timing: model is NULL");
    settle(m);
    if (!enable) {
        free(m->node_ns);
        m->node_ns = NULL;
        return LR_OK;
    }
    if (m->node_ns) return LR_OK;
    int64_t *t = malloc((size_t)(m->n_nodes > 0 ? m->n_nodes : 1) * sizeof *t);
    if (!t) return lr_fail(LR_ERR_MEMORY, "out of memory for the node timing table");
    for (int i = 0; i < m->n_nodes; ++i) t[i] = -1;
    m->node_ns = t;
    return LR_OK;
}

int64_t lr_node_time_ns(const lr_model *m, int i) {
    settle(m);
    return m && m->node_ns && i >= 0 && i < m->n_nodes ? m->node_ns[i] : -1;
}
