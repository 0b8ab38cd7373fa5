/* executor.c: turns a checked model into something runnable (algorithms, packed weights, memory
 * plan, bound pointers) and runs it: a flat walk over the nodes, everything decided at load. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Zeroed and 64-byte aligned; calloc leaves untouched pages unmapped, so a large plan costs
 * nothing until it is used. The raw pointer sits just before the aligned one (see lr_free64). */
void *lr_alloc64(size_t bytes) {
    if (bytes > SIZE_MAX - 128) return NULL;
    uint8_t *raw = calloc(1, bytes + 64 + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)at)[-1] = raw;
    return (void *)at;
}

void lr_free64(void *p) {
    if (p) free(((void **)p)[-1]);
}

lr_status lr_alloc_packed(lr_node *n, size_t bytes, const char *what) {
    n->packed = bytes <= SIZE_MAX - 64 ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
    if (!n->packed) return lr_fail(LR_ERR_MEMORY, "cannot allocate %zu bytes of %s", bytes, what);
    n->packed_bytes = bytes;
    return LR_OK;
}

lr_status lr_prepare_model(lr_model *m) {
    lr_status s;
    m->kernels = 0;
    m->fused_kernels = 0;
    for (int i = 0; i < m->n_nodes; ++i)
        if (!m->nodes[i].algo)
            return lr_fail(LR_ERR_UNSUPPORTED, "node %d (%s '%s'): no kernel supports these shapes/dtypes", i, lr_op_name(m->nodes[i].op),
                           m->nodes[i].name);
    if ((s = lr_plan_memory(m)) != LR_OK) return s;
    size_t ws = 0;
    for (int i = 0; i < m->n_nodes; ++i) {
        lr_node *n = &m->nodes[i];
        if (n->alias) continue;
        m->kernels++;
        if (lr_op_is_fused(n->op)) m->fused_kernels++;
        /* weight preprocess: prepare (packing, transforms) once here; otherwise the kernel does it
         * into its workspace inside every run (its workspace() sees n->packed == NULL) */
        if (m->weight_preprocess && n->algo->prepare && (s = n->algo->prepare(m, n)) != LR_OK) return s;
        m->packed_bytes += n->packed_bytes;
        size_t w = n->algo->workspace ? n->algo->workspace(m, n, m->threads) : 0;
        if (w > ws) ws = w;
    }
    if (m->arena_bytes > LR_MAX_TENSOR_BYTES * 4 || ws > LR_MAX_TENSOR_BYTES * 4)
        return lr_fail(LR_ERR_MEMORY, "the model needs %zu arena + %zu workspace bytes, over the limit", m->arena_bytes, ws);
    m->arena = lr_alloc64(m->arena_bytes);
    m->workspace_bytes = ws;
    m->workspace = ws ? lr_alloc64(ws) : NULL;
    if (!m->arena || (ws && !m->workspace)) return lr_fail(LR_ERR_MEMORY, "cannot allocate %zu arena + %zu workspace bytes", m->arena_bytes, ws);
    for (int t = 0; t < m->n_tensors; ++t) {
        lr_tensor *x = &m->tensors[t];
        if (x->root != t || x->storage != LR_STORE_IO) continue;
        x->io_buffer = lr_alloc64(x->nbytes);
        if (!x->io_buffer) return lr_fail(LR_ERR_MEMORY, "cannot allocate %zu bytes for tensor %s", x->nbytes, x->name);
        m->io_bytes += x->nbytes;
    }
    for (int t = 0; t < m->n_tensors; ++t) {
        lr_tensor *x = &m->tensors[t], *r = &m->tensors[x->root];
        switch (r->storage) {
        case LR_STORE_CONST: x->data = (void *)r->const_data; break;
        case LR_STORE_IO: x->data = r->io_buffer; break;
        default: x->data = r->producer >= 0 ? m->arena + r->arena_offset : NULL; break;
        }
    }
    m->metadata_at_load = lr_metadata_bytes(m);
    return LR_OK;
}

static size_t name_bytes(const char *s) { return s ? strlen(s) + 1 : 0; }

/* Graph metadata held in memory: names, the tensor and node tables, attribute pools, the recording. */
size_t lr_metadata_bytes(const lr_model *m) {
    size_t b = (size_t)m->n_tensors * sizeof(lr_tensor) + (size_t)(m->n_inputs + m->n_outputs) * sizeof(int) +
               (size_t)m->n_ids * sizeof(int) + (size_t)m->n_ints * sizeof(int64_t) + (size_t)m->n_floats * sizeof(double) +
               (size_t)m->n_calls * sizeof(lr_call);
    for (int t = 0; t < m->n_tensors; ++t) b += name_bytes(m->tensors[t].name);
    if (m->nodes) {
        b += (size_t)m->n_nodes * sizeof(lr_node);
        for (int i = 0; i < m->n_nodes; ++i) b += name_bytes(m->nodes[i].name);
    }
    return b;
}

/* Record level 2: what replay does not need goes — node table and names (graph I/O names stay,
 * lr_input_name needs them). Packed weights now belong to the recorded calls. */
static void free_metadata(lr_model *m) {
    for (int t = 0; t < m->n_tensors; ++t) {
        lr_tensor *x = &m->tensors[t];
        if (x->kind == LR_KIND_INPUT || x->kind == LR_KIND_OUTPUT) continue;
        bool io = false;
        for (int k = 0; k < m->n_inputs + m->n_outputs && !io; ++k) io = m->inputs[k] == t;
        if (io) continue;
        free(x->name);
        x->name = NULL;
    }
    for (int i = 0; i < m->n_nodes; ++i) {
        free(m->nodes[i].name);
        if (m->nodes[i].alias) free(m->nodes[i].packed); /* never set for aliases; kept for symmetry */
    }
    for (int c = 0; c < m->n_calls; ++c) m->calls[c].node.name = NULL;
    free(m->nodes);
    m->nodes = NULL;
    m->metadata_freed = true;
}

void lr_executor_release(lr_model *m) {
    if (m->nodes)
        for (int i = 0; i < m->n_nodes; ++i) {
            free(m->nodes[i].name);
            free(m->nodes[i].packed);
        }
    else
        for (int c = 0; c < m->n_calls; ++c) free(m->calls[c].node.packed);
    free(m->nodes);
    m->nodes = NULL;
    free(m->calls);
    m->calls = NULL;
    free(m->node_ns);
    m->node_ns = NULL;
}

/* record 0 (and the first run of 1/2): walk the graph — re-check each node's shapes, look its
 * algorithm up, dispatch; record >= 1 keeps the flat list of (function, bound node) calls. */
static lr_status walk_graph(lr_model *m, const lr_run_ctx *ctx) {
    bool record = m->record >= 1;
    if (record && !m->calls) {
        m->calls = calloc((size_t)m->kernels + 1, sizeof *m->calls);
        if (!m->calls) return lr_fail(LR_ERR_MEMORY, "out of memory recording the kernel calls");
    }
    int n_calls = 0;
    m->run_walks = 1;
    for (int i = 0; i < m->n_nodes; ++i) {
        const lr_node *n = &m->nodes[i];
        if (n->alias) continue;
        lr_status s = lr_check_node(m, n, i);
        if (s != LR_OK) return s;
        const lr_algo *a = lr_algo_at(n->algo_id);
        if (!a) return lr_fail(LR_ERR_RUNTIME, "node %d (%s): algorithm %d is not in this build", i, lr_op_name(n->op), n->algo_id);
        int64_t t0 = m->node_ns ? lr_now_ns() : 0;
        if ((s = a->run(ctx, n)) != LR_OK) return s;
        if (m->node_ns) m->node_ns[i] = lr_now_ns() - t0;
        m->run_kernels++;
        if (record) m->calls[n_calls++] = (lr_call){a->run, *n, i};
    }
    if (record) {
        m->n_calls = n_calls;
        m->recorded = true;
        if (m->record == 2) free_metadata(m);
    }
    return LR_OK;
}

lr_status lr_run_graph(lr_model *m) {
    lr_run_ctx ctx = {m, m->pool, m->threads, m->workspace};
    m->run_walks = 0;
    m->run_weight_packs = 0;
    m->run_kernels = 0;
    lr_pool_note_running(m->pool, 0);
    if (!m->recorded) return walk_graph(m, &ctx);
    for (int c = 0; c < m->n_calls; ++c) { /* replay */
        int64_t t0 = m->node_ns ? lr_now_ns() : 0;
        lr_status s = m->calls[c].run(&ctx, &m->calls[c].node);
        if (s != LR_OK) return s;
        if (m->node_ns) m->node_ns[m->calls[c].index] = lr_now_ns() - t0;
        m->run_kernels++;
    }
    return LR_OK;
}

lr_status lr_timed_run(lr_model *m) {
    cpu_set_t saved;
    bool pin = m->inplace && m->n_affinity && pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
    if (pin) lr_pin_self(m->affinity[0]); /* the caller is thread 0 for the run, then gets its own mask back */
    int64_t t0 = lr_now_ns();
    lr_status s = lr_run_graph(m);
    int64_t dt = lr_now_ns() - t0;
    if (pin) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    m->last_run_ns = dt;
    if (m->first_run_ns < 0) m->first_run_ns = dt;
    m->runs++;
    m->run_status = s;
    return s;
}
