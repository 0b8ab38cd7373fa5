/* api.c: the public entry points of loadrun.h over the loader, planner and executor. */
#include <errno.h>
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
    return LR_OK;
}

void lr_model_release(lr_model *m) {
    if (!m) return;
    lr_pool_destroy(m->pool);
    if (m->tensors)
        for (int i = 0; i < m->n_tensors; ++i) {
            free(m->tensors[i].name);
            lr_free64(m->tensors[i].io_buffer);
        }
    if (m->nodes)
        for (int i = 0; i < m->n_nodes; ++i) {
            free(m->nodes[i].name);
            free(m->nodes[i].packed);
        }
    free(m->tensors);
    free(m->nodes);
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
        m->pool = lr_pool_create(o.threads);
        if (!m->pool) s = lr_fail(LR_ERR_MEMORY, "cannot start %d threads", o.threads);
    }
    if (s == LR_OK) s = lr_prepare_model(m);
    if (s != LR_OK) {
        lr_model_release(m);
        return s;
    }
    m->first_run_ns = -1;
    m->last_run_ns = -1;
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

lr_status lr_set_input(lr_model *m, int i, const void *data, size_t bytes) {
    const lr_tensor *t = io_tensor(m, i, true);
    if (!t) return lr_fail(LR_ERR_ARGUMENT, "no input with index %d", i);
    if (!data || bytes != t->nbytes)
        return lr_fail(LR_ERR_ARGUMENT, "input %d (%s) takes %zu bytes, got %zu", i, t->name, t->nbytes, bytes);
    memcpy(t->data, data, bytes);
    return LR_OK;
}

lr_status lr_forward(lr_model *m) {
    if (!m) return lr_fail(LR_ERR_ARGUMENT, "lr_forward: model is NULL");
    int64_t t0 = lr_now_ns();
    m->run_status = lr_run_graph(m);
    int64_t dt = lr_now_ns() - t0;
    m->last_run_ns = dt;
    if (m->first_run_ns < 0) m->first_run_ns = dt;
    return m->run_status;
}

lr_status lr_wait(lr_model *m) {
    if (!m) return lr_fail(LR_ERR_ARGUMENT, "lr_wait: model is NULL");
    return m->run_status;
}

int64_t lr_last_run_ns(const lr_model *m) { return m ? m->last_run_ns : -1; }

lr_status lr_get_output(const lr_model *m, int i, void *dst, size_t bytes) {
    const lr_tensor *t = io_tensor(m, i, false);
    if (!t) return lr_fail(LR_ERR_ARGUMENT, "no output with index %d", i);
    if (!dst || bytes != t->nbytes)
        return lr_fail(LR_ERR_ARGUMENT, "output %d (%s) has %zu bytes, got a %zu-byte buffer", i, t->name, t->nbytes, bytes);
    memcpy(dst, t->data, bytes);
    return LR_OK;
}

const void *lr_output_data(const lr_model *m, int i) {
    const lr_tensor *t = io_tensor(m, i, false);
    return t ? t->data : NULL;
}

lr_status lr_timed_loop(lr_model *m, int warmup, int iters, int64_t min_time_ns, int64_t *samples, size_t capacity, size_t *count) {
    if (!m || !count || (capacity && !samples) || warmup < 0 || iters < 0)
        return lr_fail(LR_ERR_ARGUMENT, "lr_timed_loop: bad arguments");
    *count = 0;
    for (int i = 0; i < warmup; ++i) {
        lr_status s = lr_forward(m);
        if (s != LR_OK) return s;
    }
    int64_t total = 0;
    while (*count < capacity && ((int64_t)*count < iters || total < min_time_ns)) {
        lr_status s = lr_forward(m);
        if (s != LR_OK) return s;
        samples[(*count)++] = m->last_run_ns;
        total += m->last_run_ns;
    }
    return LR_OK;
}

lr_status lr_stats_get(const lr_model *m, lr_stats *out) {
    if (!m || !out || out->size < sizeof(uint32_t)) return lr_fail(LR_ERR_ARGUMENT, "lr_stats_get: bad arguments");
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
    size_t n = out->size < sizeof s ? out->size : sizeof s;
    uint32_t keep = out->size;
    memcpy(out, &s, n);
    out->size = keep < sizeof s ? keep : (uint32_t)sizeof s;
    return LR_OK;
}

int lr_node_count(const lr_model *m) { return m ? m->n_nodes : 0; }

static const lr_node *node_at(const lr_model *m, int i) { return m && i >= 0 && i < m->n_nodes ? &m->nodes[i] : NULL; }

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
