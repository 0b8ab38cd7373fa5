/* executor.c: turns a checked model into something runnable (algorithms, packed weights, memory
 * plan, bound pointers) and runs it: a flat walk over the nodes, everything decided at load. */
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

lr_status lr_prepare_model(lr_model *m) {
    lr_status s;
    m->kernels = 0;
    for (int i = 0; i < m->n_nodes; ++i) {
        lr_node *n = &m->nodes[i];
        n->algo = lr_algo_choose(m, n);
        if (!n->algo)
            return lr_fail(LR_ERR_UNSUPPORTED, "node %d (%s '%s'): no kernel supports these shapes/dtypes", i, lr_op_name(n->op), n->name);
    }
    if ((s = lr_plan_memory(m)) != LR_OK) return s;
    size_t ws = 0;
    for (int i = 0; i < m->n_nodes; ++i) {
        lr_node *n = &m->nodes[i];
        if (n->alias) continue;
        m->kernels++;
        if (n->algo->prepare && (s = n->algo->prepare(m, n)) != LR_OK) return s;
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
    return LR_OK;
}

lr_status lr_run_graph(lr_model *m) {
    lr_run_ctx ctx = {m, m->pool, m->threads, m->workspace};
    for (int i = 0; i < m->n_nodes; ++i) {
        const lr_node *n = &m->nodes[i];
        if (n->alias) continue;
        lr_status s = n->algo->run(&ctx, n);
        if (s != LR_OK) return s;
    }
    return LR_OK;
}
