/* gemv_x86.h: MatMul / BatchedMatMul with M == 1 (a GEMV, e.g. a classifier's [1,K] x W^T): memory
 * bound, so the kernels stream the weights exactly once with full-vector loads and keep 8
 * independent accumulators. Compiled per ISA (gemv_avx512f.c, gemv_avx2_fma.c) on GNU vectors of VL.
 *   packed (weight preprocess on, constant B): prepare stores B as panels of P = 4*VL output
 *     columns x K (zero padded), one contiguous P-float row per k; the kernel broadcasts a[k].
 *   raw B stored [N,K] (transposed, the usual classifier weight): 4 rows' dot products at a time.
 *   raw B stored [K,N]: P-column blocks streamed down the rows of B.
 * N is split in P-column tasks over the pool (dynamic claim); the sum order per output is fixed,
 * so results do not depend on the thread count. MatMul has no fused inputs (bias is a separate
 * node), so there is no epilogue. Define VL, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_x86.h"
#include "kernels_x86.h"
#include "vec_x86.h"

#ifndef NV
#define NV 4 /* vectors per panel */
#endif
#define P (NV * VL) /* output columns per panel / task */
#define KU (NV == 1 ? 4 : 8 / NV) /* k unroll: KU x NV independent accumulators */
#define GEMV_MACS_PER_NS 6.0 /* weight streaming, ~24 bytes/ns per thread */

static inline float hsum(vf v) {
    float s = 0.0f;
    for (int i = 0; i < VL; ++i) s += v[i];
    return s;
}

typedef struct gv_geom {
    int64_t batch, n, k, panels;
    int tb; /* B stored [N,K] */
} gv_geom;

static void gv_geom_of(const lr_model *m, const lr_node *n, gv_geom *g) {
    const lr_tensor *a = lr_min(m, n, 0), *y = lr_mout(m, n, 0);
    int nd = a->ndim;
    g->n = y->dims[nd - 1];
    g->k = n->ints[0] ? a->dims[nd - 2] : a->dims[nd - 1];
    g->batch = g->n ? y->numel / g->n : 0;
    g->panels = (g->n + P - 1) / P;
    g->tb = n->ints[1] != 0;
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES)) return false;
    const lr_tensor *a = lr_min(m, n, 0), *b = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (a->dtype != LR_FLOAT32 || b->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32) return false;
    if (a->ndim != b->ndim || a->ndim != y->ndim || a->ndim < 2 || n->n_ints < 2) return false;
    if (y->dims[y->ndim - 2] != 1) return false; /* M == 1 only */
    gv_geom g;
    gv_geom_of(m, n, &g);
    /* operands batched exactly like the output (no broadcast) */
    return g.n > 0 && g.k > 0 && a->numel == g.batch * g.k && b->numel == g.batch * g.k * g.n;
}

static size_t packed_floats(const gv_geom *g) { return (size_t)g->batch * (size_t)g->panels * P * (size_t)g->k; }

static lr_status prepare(lr_model *m, lr_node *n) {
    const lr_tensor *b = lr_min(m, n, 1);
    if (b->kind != LR_KIND_CONST) return LR_OK;
    gv_geom g;
    gv_geom_of(m, n, &g);
    lr_status s = lr_alloc_packed(n, packed_floats(&g) * sizeof(float), "packed GEMV weights");
    if (s != LR_OK) return s;
    float *p = n->packed;
    const float *w = b->const_data;
    for (int64_t bi = 0; bi < g.batch; ++bi) {
        const float *wb = w + bi * g.k * g.n;
        for (int64_t pi = 0; pi < g.panels; ++pi) {
            float *dst = p + ((size_t)bi * g.panels + pi) * P * (size_t)g.k;
            int64_t j0 = pi * P, nc = g.n - j0 < P ? g.n - j0 : P;
            for (int64_t kk = 0; kk < g.k; ++kk) {
                float *row = dst + kk * P;
                for (int64_t j = 0; j < nc; ++j) row[j] = g.tb ? wb[(j0 + j) * g.k + kk] : wb[kk * g.n + j0 + j];
                for (int64_t j = nc; j < P; ++j) row[j] = 0.0f;
            }
        }
    }
    return LR_OK;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    gv_geom g;
    gv_geom_of(m, n, &g);
    return (double)g.batch * g.n * g.k / (GEMV_MACS_PER_NS * (threads < 1 ? 1 : threads));
}

typedef struct gv_ctx {
    gv_geom g;
    const float *a, *b, *packed;
    float *y;
} gv_ctx;

/* y[0..nc) = sum_k a[k] * w[k][0..nc), w's rows `ws` floats apart (a panel: ws = P; raw B: ws = N),
 * nc <= P; full vectors only (the caller handles the last < VL columns of a raw B) */
static inline void stream_kernel(const float *restrict a, const float *restrict w, int64_t k, int64_t ws, float *restrict y,
                                 int64_t nc) {
    vf acc[KU][NV] = {{{0}}};
    int64_t kk = 0;
    for (; kk + KU <= k; kk += KU, w += KU * ws) {
#pragma GCC unroll 8
        for (int u = 0; u < KU; ++u) {
            vf x = splat(a[kk + u]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[u][v] += x * ld(w + u * ws + v * VL);
        }
    }
    for (int u = 0; kk < k; ++kk, ++u, w += ws) {
        vf x = splat(a[kk]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[u][v] += x * ld(w + v * VL);
    }
#pragma GCC unroll 8
    for (int u = 1; u < KU; ++u)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[0][v] += acc[u][v];
    if (nc == P) {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) st(y + v * VL, acc[0][v]);
    } else {
        float t[P];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) st(t + v * VL, acc[0][v]);
        memcpy(y, t, (size_t)nc * sizeof(float));
    }
}

static void panel_kernel(const float *restrict a, const float *restrict w, int64_t k, float *restrict y, int64_t nc) {
    stream_kernel(a, w, k, P, y, nc);
}

/* B stored [N,K]: y[j] = dot(a, B[j, :]) for j in [j0, j1), 4 rows at a time */
static void rows_kernel(const float *restrict a, const float *restrict b, int64_t k, int64_t j0, int64_t j1, float *restrict y) {
    int64_t kv = k / VL * VL;
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const float *r0 = b + j * k, *r1 = r0 + k, *r2 = r1 + k, *r3 = r2 + k;
        vf c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0};
        int64_t kk = 0;
        for (; kk + 2 * VL <= kv; kk += 2 * VL) {
            vf x = ld(a + kk), z = ld(a + kk + VL);
            c0 += x * ld(r0 + kk), c1 += x * ld(r1 + kk), c2 += x * ld(r2 + kk), c3 += x * ld(r3 + kk);
            d0 += z * ld(r0 + kk + VL), d1 += z * ld(r1 + kk + VL), d2 += z * ld(r2 + kk + VL), d3 += z * ld(r3 + kk + VL);
        }
        if (kk < kv) {
            vf x = ld(a + kk);
            c0 += x * ld(r0 + kk), c1 += x * ld(r1 + kk), c2 += x * ld(r2 + kk), c3 += x * ld(r3 + kk);
        }
        float s0 = hsum(c0 + d0), s1 = hsum(c1 + d1), s2 = hsum(c2 + d2), s3 = hsum(c3 + d3);
        for (kk = kv; kk < k; ++kk) s0 += a[kk] * r0[kk], s1 += a[kk] * r1[kk], s2 += a[kk] * r2[kk], s3 += a[kk] * r3[kk];
        y[j] = s0, y[j + 1] = s1, y[j + 2] = s2, y[j + 3] = s3;
    }
    for (; j < j1; ++j) {
        const float *r0 = b + j * k;
        vf c0 = {0}, d0 = {0};
        int64_t kk = 0;
        for (; kk + 2 * VL <= kv; kk += 2 * VL) c0 += ld(a + kk) * ld(r0 + kk), d0 += ld(a + kk + VL) * ld(r0 + kk + VL);
        if (kk < kv) c0 += ld(a + kk) * ld(r0 + kk);
        float s0 = hsum(c0 + d0);
        for (kk = kv; kk < k; ++kk) s0 += a[kk] * r0[kk];
        y[j] = s0;
    }
}

/* B stored [K,N]: y[j0..j1) (j1 - j0 <= P) streamed down the rows of B */
static void cols_kernel(const float *restrict a, const float *restrict b, int64_t k, int64_t n, int64_t j0, int64_t j1,
                        float *restrict y) {
    int64_t nc = j1 - j0;
    if (nc == P) {
        stream_kernel(a, b + j0, k, n, y + j0, P);
        return;
    }
    /* the last, partial block: whole vectors, then single columns */
    const float *w = b + j0;
    int64_t nv = nc / VL * VL;
    for (int64_t jv = 0; jv < nv; jv += VL) {
        vf c0 = {0}, d0 = {0};
        const float *wj = w + jv;
        int64_t kk = 0;
        for (; kk + 2 <= k; kk += 2, wj += 2 * n) c0 += splat(a[kk]) * ld(wj), d0 += splat(a[kk + 1]) * ld(wj + n);
        if (kk < k) c0 += splat(a[kk]) * ld(wj);
        st(y + j0 + jv, c0 + d0);
    }
    for (int64_t j = nv; j < nc; ++j) {
        float s0 = 0.0f, s1 = 0.0f;
        int64_t kk = 0;
        for (; kk + 2 <= k; kk += 2) s0 += a[kk] * w[kk * n + j], s1 += a[kk + 1] * w[(kk + 1) * n + j];
        if (kk < k) s0 += a[kk] * w[kk * n + j];
        y[j0 + j] = s0 + s1;
    }
}

static void gv_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const gv_ctx *c = vctx;
    const gv_geom *g = &c->g;
    int64_t bi = t / g->panels, pi = t % g->panels;
    int64_t j0 = pi * P, j1 = j0 + P < g->n ? j0 + P : g->n;
    const float *a = c->a + bi * g->k;
    float *y = c->y + bi * g->n;
    if (c->packed)
        panel_kernel(a, c->packed + ((size_t)bi * g->panels + pi) * P * (size_t)g->k, g->k, y + j0, j1 - j0);
    else if (g->tb)
        rows_kernel(a, c->b + bi * g->k * g->n, g->k, j0, j1, y);
    else
        cols_kernel(a, c->b + bi * g->k * g->n, g->k, g->n, j0, j1, y);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    gv_ctx c;
    gv_geom_of(ctx->model, n, &c.g);
    c.a = lr_in(ctx, n, 0)->data;
    c.b = lr_in(ctx, n, 1)->data;
    c.packed = n->packed;
    c.y = lr_out(ctx, n, 0)->data;
    lr_parallel_for(ctx->pool, c.g.batch * c.g.panels, gv_task, &c);
    return LR_OK;
}

const lr_algo CAT(lr_algo_matmul_gemv_f32_, SUFFIX) = {"matmul_gemv_f32_" SUFFIX_STR, LR_OP_MATMUL, usable, NULL, prepare,
                                                       run, 0, 0, cost};
const lr_algo CAT(lr_algo_batched_matmul_gemv_f32_, SUFFIX) = {"batched_matmul_gemv_f32_" SUFFIX_STR, LR_OP_BATCHED_MATMUL,
                                                               usable, NULL, prepare, run, 0, 0, cost};
