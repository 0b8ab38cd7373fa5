/* memory_plan.c: liveness-based placement of activations in one arena.
 *
 * Reshape outputs alias their input (zero copy); an in-place capable kernel writes over an input of
 * the same shape whose storage dies at that node. Each remaining arena buffer lives from its
 * producer to its last reader; buffers are placed greedily by size (largest first) at the lowest
 * offset that does not overlap a buffer alive at the same time.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define ALIGN 64
static size_t align_up(size_t v) { return (v + ALIGN - 1) / ALIGN * ALIGN; }

static int find_root(const lr_model *m, int t) {
    while (m->tensors[t].root != t) t = m->tensors[t].root;
    return t;
}

static bool same_shape(const lr_tensor *a, const lr_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    return memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->ndim) == 0;
}

typedef struct buf {
    int root;
    int first, last;
    size_t size, offset;
} buf;

static int by_size_desc(const void *a, const void *b) {
    const buf *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->root - y->root;
}

static void mark_reads(lr_model *m) {
    for (int i = 0; i < m->n_tensors; ++i) m->tensors[i].last_use = m->tensors[i].producer;
    for (int i = 0; i < m->n_nodes; ++i) {
        const lr_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_in; ++k) {
            lr_tensor *r = &m->tensors[find_root(m, n->in[k])];
            if (r->last_use < i) r->last_use = i;
        }
        if (n->alias) { /* the alias keeps its root alive as long as itself: merged below */ }
    }
    /* an alias's own readers extend its root */
    for (int t = 0; t < m->n_tensors; ++t) {
        int r = find_root(m, t);
        if (r != t && m->tensors[r].last_use < m->tensors[t].last_use) m->tensors[r].last_use = m->tensors[t].last_use;
    }
}

lr_status lr_plan_memory(lr_model *m) {
    /* 1. zero-copy aliases */
    for (int i = 0; i < m->n_nodes; ++i) {
        lr_node *n = &m->nodes[i];
        n->alias = n->op == LR_OP_RESHAPE && m->tensors[n->out[0]].kind == LR_KIND_ACTIVATION;
        if (n->alias) m->tensors[n->out[0]].root = n->in[0];
    }
    /* last_use per tensor (pre-merge): readers of the tensor itself */
    for (int i = 0; i < m->n_tensors; ++i) m->tensors[i].last_use = m->tensors[i].producer;
    for (int i = 0; i < m->n_nodes; ++i)
        for (int k = 0; k < m->nodes[i].n_in; ++k) {
            lr_tensor *t = &m->tensors[m->nodes[i].in[k]];
            if (t->last_use < i) t->last_use = i;
        }
    mark_reads(m);
    /* 2. in place: output 0 over a same-shaped arena input whose storage dies here */
    for (int i = 0; i < m->n_nodes; ++i) {
        lr_node *n = &m->nodes[i];
        lr_tensor *o = &m->tensors[n->out[0]];
        if (n->alias || !n->algo || !n->algo->inplace_inputs || o->kind != LR_KIND_ACTIVATION) continue;
        for (int k = 0; k < n->n_in; ++k) {
            if (!((n->algo->inplace_inputs >> k) & 1)) continue;
            int r = find_root(m, n->in[k]);
            lr_tensor *rt = &m->tensors[r];
            if (rt->kind != LR_KIND_ACTIVATION || rt->last_use != i || !same_shape(&m->tensors[n->in[k]], o)) continue;
            bool shared = false;
            for (int j = 0; j < n->n_in; ++j) shared |= j != k && find_root(m, n->in[j]) == r;
            for (int j = 1; j < n->n_out; ++j) shared |= find_root(m, n->out[j]) == r;
            if (shared) continue;
            o->root = r;
            int olast = o->last_use;
            for (int t = 0; t < m->n_tensors; ++t) /* the output's own aliases */
                if (find_root(m, t) == r && m->tensors[t].last_use > olast) olast = m->tensors[t].last_use;
            if (rt->last_use < olast) rt->last_use = olast;
            break;
        }
    }
    /* 3. storage classes and arena buffers */
    int nbuf = 0;
    buf *bufs = calloc((size_t)m->n_tensors + 1, sizeof *bufs);
    if (!bufs) return lr_fail(LR_ERR_MEMORY, "out of memory planning memory");
    for (int t = 0; t < m->n_tensors; ++t) {
        lr_tensor *x = &m->tensors[t];
        int r = find_root(m, t);
        x->root = r;
        lr_tensor *rt = &m->tensors[r];
        rt->storage = rt->kind == LR_KIND_CONST ? LR_STORE_CONST : rt->kind == LR_KIND_ACTIVATION ? LR_STORE_ARENA : LR_STORE_IO;
        x->storage = rt->storage;
        if (r == t && x->kind == LR_KIND_ACTIVATION && x->producer >= 0) {
            int last = 0;
            for (int u = 0; u < m->n_tensors; ++u)
                if (find_root(m, u) == r && m->tensors[u].last_use > last) last = m->tensors[u].last_use;
            bufs[nbuf++] = (buf){r, x->producer, last < x->producer ? x->producer : last, align_up(x->nbytes), 0};
        }
    }
    /* 4. liveness lower bound: the most bytes alive at any one step */
    size_t bound = 0;
    for (int s = 0; s < m->n_nodes; ++s) {
        size_t live = 0;
        for (int b = 0; b < nbuf; ++b)
            if (bufs[b].first <= s && s <= bufs[b].last) live += bufs[b].size;
        if (live > bound) bound = live;
    }
    /* 5. greedy by size */
    qsort(bufs, (size_t)nbuf, sizeof *bufs, by_size_desc);
    size_t total = 0;
    for (int b = 0; b < nbuf; ++b) {
        size_t best = SIZE_MAX, best_gap = SIZE_MAX, pos = 0;
        /* placed buffers overlapping in time, scanned in offset order via repeated minimum */
        for (;;) {
            size_t next_off = SIZE_MAX, next_end = 0;
            for (int p = 0; p < b; ++p) {
                if (bufs[p].last < bufs[b].first || bufs[b].last < bufs[p].first) continue;
                size_t end = bufs[p].offset + bufs[p].size;
                if (end <= pos) continue;
                if (bufs[p].offset < next_off || (bufs[p].offset == next_off && end > next_end)) {
                    next_off = bufs[p].offset;
                    next_end = end;
                }
            }
            if (next_off == SIZE_MAX) break;
            if (next_off > pos && next_off - pos >= bufs[b].size && next_off - pos < best_gap) {
                best = pos;
                best_gap = next_off - pos;
            }
            if (next_end > pos) pos = next_end;
        }
        bufs[b].offset = best != SIZE_MAX ? best : pos;
        if (bufs[b].offset + bufs[b].size > total) total = bufs[b].offset + bufs[b].size;
    }
    for (int b = 0; b < nbuf; ++b) m->tensors[bufs[b].root].arena_offset = bufs[b].offset;
    free(bufs);
    m->arena_bytes = total;
    m->arena_lower_bound = bound;
    return LR_OK;
}
