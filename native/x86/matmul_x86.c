/* matmul_x86.c: MatMul and BatchedMatMul over the x86 packed GEMM; a constant operand is packed
 * once at prepare (weight preprocess), the other per run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "kernels_x86.h"

typedef struct mm_geom {
    int64_t batch, m, n, k;
    int64_t ars, acs, brs, bcs; /* element strides of op(a), op(b) */
} mm_geom;

static void geom_of(const lr_model *md, const lr_node *nd, mm_geom *g) {
    const lr_tensor *a = lr_min(md, nd, 0), *y = lr_mout(md, nd, 0);
    int r = a->ndim;
    g->m = y->dims[r - 2];
    g->n = y->dims[r - 1];
    g->k = nd->ints[0] ? a->dims[r - 2] : a->dims[r - 1];
    g->batch = y->numel / (g->m * g->n);
    if (nd->ints[0]) { g->ars = 1; g->acs = g->m; } else { g->ars = g->k; g->acs = 1; }
    if (nd->ints[1]) { g->brs = 1; g->bcs = g->k; } else { g->brs = g->n; g->bcs = 1; }
}

typedef struct mm_packed {
    float *a, *b; /* per batch, NULL when packed per run */
} mm_packed;

static bool usable_common(const lr_x86_gemm_ukernel *uk, const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(uk->features)) return false;
    const lr_tensor *a = lr_min(m, n, 0), *b = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (a->dtype != LR_FLOAT32 || b->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32) return false;
    if (a->numel != y->numel / (y->dims[y->ndim - 1]) * (n->ints[0] ? a->dims[a->ndim - 2] : a->dims[a->ndim - 1]))
        return false; /* the operands are not batched like the output (broadcast): generic path */
    return a->ndim == b->ndim && a->ndim == y->ndim;
}

static lr_status prepare_common(const lr_x86_gemm_ukernel *uk, lr_model *md, lr_node *nd) {
    mm_geom g;
    geom_of(md, nd, &g);
    const lr_tensor *a = lr_min(md, nd, 0), *b = lr_min(md, nd, 1);
    size_t af = a->kind == LR_KIND_CONST ? lr_x86_gemm_packed_a_floats(uk, g.m, g.k) * (size_t)g.batch : 0;
    size_t bf = b->kind == LR_KIND_CONST ? lr_x86_gemm_packed_b_floats(uk, g.k, g.n) * (size_t)g.batch : 0;
    size_t bytes = 64 + (af + bf) * sizeof(float);
    mm_packed *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) return lr_fail(LR_ERR_MEMORY, "cannot allocate packed MatMul weights");
    float *at = (float *)((uint8_t *)p + 64);
    p->a = af ? at : NULL;
    p->b = bf ? at + af : NULL;
    for (int64_t i = 0; i < g.batch; ++i) {
        if (p->a)
            lr_x86_gemm_pack_a(uk, g.m, g.k, (const float *)a->const_data + i * g.m * g.k, g.ars, g.acs,
                               p->a + (size_t)i * lr_x86_gemm_packed_a_floats(uk, g.m, g.k));
        if (p->b)
            lr_x86_gemm_pack_b(uk->nr, g.k, 0, (g.n + uk->nr - 1) / uk->nr * uk->nr, g.n,
                               (const float *)b->const_data + i * g.k * g.n, g.brs, g.bcs,
                               p->b + (size_t)i * lr_x86_gemm_packed_b_floats(uk, g.k, g.n));
    }
    nd->packed = p;
    nd->packed_bytes = (af + bf) * sizeof(float);
    return LR_OK;
}

static size_t workspace_common(const lr_x86_gemm_ukernel *uk, const lr_model *md, const lr_node *nd, int threads) {
    mm_geom g;
    geom_of(md, nd, &g);
    size_t f = (size_t)threads * lr_x86_gemm_scratch_floats(uk, g.k, g.n) + 32;
    const mm_packed *p = nd->packed;
    if (!p || !p->a) f += lr_x86_gemm_packed_a_floats(uk, g.m, g.k) * (size_t)g.batch + 32; /* packed per run */
    return f * sizeof(float);
}

typedef struct b_ctx {
    const float *b, *packed;
    const mm_geom *g;
} b_ctx;

static const float *get_b(const void *vctx, int64_t j0, int64_t nt, int nr, float *scratch) {
    const b_ctx *c = vctx;
    if (c->packed) return c->packed + (size_t)j0 * c->g->k;
    lr_x86_gemm_pack_b(nr, c->g->k, j0, nt, c->g->n, c->b, c->g->brs, c->g->bcs, scratch);
    return scratch;
}

static lr_status run_common(const lr_x86_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *nd) {
    mm_geom g;
    geom_of(ctx->model, nd, &g);
    static const mm_packed none = {NULL, NULL}; /* weight preprocess off: everything packed per run */
    const mm_packed *p = nd->packed ? nd->packed : &none;
    const float *a = lr_in(ctx, nd, 0)->data, *b = lr_in(ctx, nd, 1)->data;
    float *y = lr_out(ctx, nd, 0)->data, *ws = ctx->workspace;
    size_t apf = lr_x86_gemm_packed_a_floats(uk, g.m, g.k), bpf = lr_x86_gemm_packed_b_floats(uk, g.k, g.n);
    const float *pa = p->a;
    if (!pa) {
        if (lr_in(ctx, nd, 0)->kind == LR_KIND_CONST || lr_in(ctx, nd, 1)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx);
        for (int64_t i = 0; i < g.batch; ++i)
            lr_x86_gemm_pack_a(uk, g.m, g.k, a + i * g.m * g.k, g.ars, g.acs, ws + (size_t)i * apf);
        pa = ws;
        ws += (apf * (size_t)g.batch + 32) / 16 * 16;
    }
    b_ctx bstack[8];
    lr_x86_gemm_job jstack[8];
    b_ctx *bc = g.batch <= 8 ? bstack : malloc(sizeof *bc * (size_t)g.batch);
    lr_x86_gemm_job *jobs = g.batch <= 8 ? jstack : malloc(sizeof *jobs * (size_t)g.batch);
    if (!bc || !jobs) {
        if (g.batch > 8) { free(bc); free(jobs); }
        return lr_fail(LR_ERR_MEMORY, "out of memory in MatMul");
    }
    for (int64_t i = 0; i < g.batch; ++i) {
        bc[i] = (b_ctx){b + i * g.k * g.n, p->b ? p->b + (size_t)i * bpf : NULL, &g};
        jobs[i] = (lr_x86_gemm_job){g.m, g.n, g.k, pa + (size_t)i * apf, get_b, &bc[i], y + i * g.m * g.n, g.n,
                                    NULL, NULL, 0, -INFINITY, INFINITY, NULL, NULL};
    }
    lr_x86_gemm_run(uk, ctx->pool, jobs, g.batch, ws);
    if (g.batch > 8) {
        free(bc);
        free(jobs);
    }
    return LR_OK;
}

#define MATMUL_ALGOS(UK, SUFFIX)                                                                                      \
    static bool usable_##SUFFIX(const lr_model *m, const lr_node *n) { return usable_common(&UK, m, n); }             \
    static lr_status prepare_##SUFFIX(lr_model *m, lr_node *n) { return prepare_common(&UK, m, n); }                  \
    static size_t workspace_##SUFFIX(const lr_model *m, const lr_node *n, int t) { return workspace_common(&UK, m, n, t); } \
    static lr_status run_##SUFFIX(const lr_run_ctx *c, const lr_node *n) { return run_common(&UK, c, n); }           \
    const lr_algo lr_algo_matmul_gemm_f32_##SUFFIX = {"matmul_gemm_f32_" #SUFFIX, LR_OP_MATMUL, usable_##SUFFIX,       \
                                                      workspace_##SUFFIX, prepare_##SUFFIX, run_##SUFFIX, 0, 0, NULL};         \
    const lr_algo lr_algo_batched_matmul_gemm_f32_##SUFFIX = {"batched_matmul_gemm_f32_" #SUFFIX,                      \
                                                              LR_OP_BATCHED_MATMUL, usable_##SUFFIX, workspace_##SUFFIX, \
                                                              prepare_##SUFFIX, run_##SUFFIX, 0, 0, NULL};

MATMUL_ALGOS(lr_f32_gemm_8x32_avx512f_broadcast, 8x32_avx512f)
MATMUL_ALGOS(lr_f32_gemm_6x16_avx2_fma_broadcast, 6x16_avx2_fma)
