/* matmul.c: MatMul and BatchedMatMul over the packed GEMM for any micro-kernel (matmul_gemm.h; the
 * x86 algorithms reuse it); a constant operand is packed once at load (weight preprocess), the
 * other per run. Also the unpacked rowblock and split-K algorithms. */
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "gemm_f32.h"
#include "matmul_gemm.h"
#include "gemm_rowblock_f32.h"
#include "kernels.h"

typedef struct mm_geom {
    int64_t batch, m, n, k;
    int64_t ars, acs, brs, bcs; /* element strides of op(a), op(b) */
} mm_geom;

static void geom_of(const lr_model *md, const lr_node *nd, mm_geom *g) {
    const lr_tensor *a = lr_min(md, nd, 0), *y = lr_mout(md, nd, 0);
    int nd_ = a->ndim;
    g->m = y->dims[nd_ - 2];
    g->n = y->dims[nd_ - 1];
    g->k = nd->ints[0] ? a->dims[nd_ - 2] : a->dims[nd_ - 1];
    g->batch = y->numel / (g->m * g->n);
    /* a stored (m,k) or (k,m); b stored (k,n) or (n,k) */
    if (nd->ints[0]) { g->ars = 1; g->acs = g->m; } else { g->ars = g->k; g->acs = 1; }
    if (nd->ints[1]) { g->brs = 1; g->bcs = g->k; } else { g->brs = g->n; g->bcs = 1; }
}

typedef struct mm_packed {
    float *a, *b; /* per batch, NULL when packed per run */
} mm_packed;

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

lr_status lr_matmul_gemm_prepare(const lr_gemm_ukernel *uk, lr_model *md, lr_node *nd) {
    mm_geom g;
    geom_of(md, nd, &g);
    const lr_tensor *a = lr_min(md, nd, 0), *b = lr_min(md, nd, 1);
    size_t af = a->kind == LR_KIND_CONST ? lr_gemm_packed_a_floats(uk, g.m, g.k) * (size_t)g.batch : 0;
    size_t bf = b->kind == LR_KIND_CONST ? lr_gemm_packed_b_floats(uk, g.k, g.n) * (size_t)g.batch : 0;
    size_t bytes = sizeof(mm_packed) + 64 + (af + bf) * sizeof(float);
    mm_packed *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) return lr_fail(LR_ERR_MEMORY, "cannot allocate packed MatMul weights");
    float *at = (float *)((uint8_t *)p + 64);
    p->a = af ? at : NULL;
    p->b = bf ? at + af : NULL;
    for (int64_t i = 0; i < g.batch; ++i) {
        if (p->a)
            lr_gemm_pack_a(uk, g.m, g.k, (const float *)a->const_data + i * g.m * g.k, g.ars, g.acs,
                           p->a + (size_t)i * lr_gemm_packed_a_floats(uk, g.m, g.k));
        if (p->b)
            lr_gemm_pack_b(uk->nr, g.k, 0, (g.n + uk->nr - 1) / uk->nr * uk->nr, g.n,
                           (const float *)b->const_data + i * g.k * g.n, g.brs, g.bcs,
                           p->b + (size_t)i * lr_gemm_packed_b_floats(uk, g.k, g.n));
    }
    nd->packed = p;
    nd->packed_bytes = (af + bf) * sizeof(float);
    return LR_OK;
}

size_t lr_matmul_gemm_workspace(const lr_gemm_ukernel *uk, const lr_model *md, const lr_node *nd, int threads) {
    mm_geom g;
    geom_of(md, nd, &g);
    size_t f = (size_t)threads * lr_gemm_scratch_floats(uk, g.k, g.n) + 32;
    const mm_packed *p = nd->packed; /* NULL without weight preprocess: A is packed in every run */
    if (!p || !p->a) f += lr_gemm_packed_a_floats(uk, g.m, g.k) * (size_t)g.batch + 32;
    return f * sizeof(float);
}

typedef struct b_ctx {
    const float *b, *packed;
    const mm_geom *g;
} b_ctx;

static const float *get_b(const void *vctx, int64_t j0, int64_t nt, int nr, float *scratch) {
    const b_ctx *c = vctx;
    if (c->packed) return c->packed + (size_t)j0 * c->g->k;
    lr_gemm_pack_b(nr, c->g->k, j0, nt, c->g->n, c->b, c->g->brs, c->g->bcs, scratch);
    return scratch;
}

lr_status lr_matmul_gemm_run(const lr_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *nd) {
    return lr_matmul_gemm_run_pack(uk, ctx, nd, NULL);
}

lr_status lr_matmul_gemm_run_pack(const lr_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *nd,
                                  lr_matmul_pack_a_fn pack_a) {
    if (!pack_a) pack_a = lr_gemm_pack_a;
    mm_geom g;
    geom_of(ctx->model, nd, &g);
    const mm_packed *p = nd->packed;
    const float *a = lr_in(ctx, nd, 0)->data, *b = lr_in(ctx, nd, 1)->data;
    float *y = lr_out(ctx, nd, 0)->data, *ws = ctx->workspace;
    size_t apf = lr_gemm_packed_a_floats(uk, g.m, g.k), bpf = lr_gemm_packed_b_floats(uk, g.k, g.n);
    const float *pa = p ? p->a : NULL, *pb = p ? p->b : NULL;
    if (!pa && lr_in(ctx, nd, 0)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx);
    if (!pb && lr_in(ctx, nd, 1)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx); /* B panels packed tile by tile */
    if (!pa) {
        for (int64_t i = 0; i < g.batch; ++i)
            pack_a(uk, g.m, g.k, a + i * g.m * g.k, g.ars, g.acs, ws + (size_t)i * apf);
        pa = ws;
        ws += (apf * (size_t)g.batch + 32) / 16 * 16;
    }
    b_ctx bstack[8];
    lr_gemm_job jstack[8];
    b_ctx *bc = g.batch <= 8 ? bstack : malloc(sizeof *bc * (size_t)g.batch);
    lr_gemm_job *jobs = g.batch <= 8 ? jstack : malloc(sizeof *jobs * (size_t)g.batch);
    if (!bc || !jobs) {
        if (g.batch > 8) { free(bc); free(jobs); }
        return lr_fail(LR_ERR_MEMORY, "out of memory in MatMul");
    }
    for (int64_t i = 0; i < g.batch; ++i) {
        bc[i] = (b_ctx){b + i * g.k * g.n, pb ? pb + (size_t)i * bpf : NULL, &g};
        jobs[i] = lr_gemm_job_plain(g.m, g.n, g.k, pa + (size_t)i * apf, get_b, &bc[i], y + i * g.m * g.n, g.n);
    }
    lr_gemm_run(uk, ctx->pool, jobs, g.batch, ws);
    if (g.batch > 8) {
        free(bc);
        free(jobs);
    }
    return LR_OK;
}

static lr_status prepare(lr_model *md, lr_node *nd) { return lr_matmul_gemm_prepare(&lr_f32_gemm_6x8_generic, md, nd); }
static size_t workspace(const lr_model *md, const lr_node *nd, int threads) {
    return lr_matmul_gemm_workspace(&lr_f32_gemm_6x8_generic, md, nd, threads);
}
static lr_status run(const lr_run_ctx *ctx, const lr_node *nd) { return lr_matmul_gemm_run(&lr_f32_gemm_6x8_generic, ctx, nd); }

static double gemm_cost(const lr_model *md, const lr_node *nd, int threads) {
    mm_geom g;
    geom_of(md, nd, &g);
    double macs = (double)g.batch * g.m * g.n * g.k, pack = (double)g.batch * (g.m + g.n) * g.k;
    return macs / (6.0 * threads) + pack / 2.0; /* the 6x8 micro-kernel; packing ~2 floats/ns */
}

const lr_algo lr_algo_matmul_gemm_f32 = {"matmul_gemm_f32_6x8", LR_OP_MATMUL, any, workspace, prepare, run, 0, 0, gemm_cost};
const lr_algo lr_algo_batched_matmul_gemm_f32 = {"batched_matmul_gemm_f32_6x8", LR_OP_BATCHED_MATMUL, any, workspace, prepare, run, 0,
                                                 0, gemm_cost};

/* ---- matmul_rowblock_f32: no packing, operands read in place (small M or K) ---------------- */

static double rowblock_cost(const lr_model *md, const lr_node *nd, int threads) {
    mm_geom g;
    geom_of(md, nd, &g);
    return (double)g.batch * g.m * g.n * g.k / (LR_ROWBLOCK_MACS_PER_NS * threads);
}

static lr_status run_rowblock(const lr_run_ctx *ctx, const lr_node *nd) {
    mm_geom g;
    geom_of(ctx->model, nd, &g);
    lr_rowblock_gemm p = {g.batch, g.m, g.n, g.k, lr_in(ctx, nd, 0)->data, g.m * g.k, g.ars, g.acs,
                          lr_in(ctx, nd, 1)->data, g.k * g.n, g.brs, g.bcs, lr_out(ctx, nd, 0)->data, g.m * g.n, g.n};
    lr_rowblock_gemm_run(ctx->pool, &p);
    return LR_OK;
}

const lr_algo lr_algo_matmul_rowblock_f32 = {"matmul_rowblock_f32", LR_OP_MATMUL, any, NULL, NULL, run_rowblock, 0, 0, rowblock_cost};
const lr_algo lr_algo_batched_matmul_rowblock_f32 = {"batched_matmul_rowblock_f32", LR_OP_BATCHED_MATMUL, any, NULL, NULL,
                                                     run_rowblock, 0, 0, rowblock_cost};

/* ---- matmul_splitk_f32: K split across threads, partial products added into C in completion
 * order under a lock — fast for long K and a small C, but the order of the additions (and so the
 * last bits) depends on thread timing: flagged LR_ALGO_NONDETERMINISTIC. --------------------- */

#define SPLITK_MIN_K 256
#define SPLITK_MAX_MN 65536

static bool splitk_usable(const lr_model *md, const lr_node *nd) {
    mm_geom g;
    geom_of(md, nd, &g);
    return g.batch == 1 && g.k >= SPLITK_MIN_K && g.m * g.n <= SPLITK_MAX_MN;
}

static int64_t splitk_chunks(int threads) { return 2 * (int64_t)threads; }

static size_t splitk_workspace(const lr_model *md, const lr_node *nd, int threads) {
    mm_geom g;
    geom_of(md, nd, &g);
    return (size_t)threads * (size_t)(g.m * g.n) * sizeof(float);
}

static double splitk_cost(const lr_model *md, const lr_node *nd, int threads) {
    mm_geom g;
    geom_of(md, nd, &g);
    return (double)g.m * g.n * g.k / (LR_ROWBLOCK_MACS_PER_NS * threads) + (double)g.m * g.n * splitk_chunks(threads);
}

typedef struct splitk_ctx {
    const mm_geom *g;
    const float *a, *b;
    float *c, *partials;
    int64_t chunks;
    pthread_mutex_t mu;
} splitk_ctx;

static void splitk_task(void *vctx, int64_t t, int thread) {
    splitk_ctx *s = vctx;
    const mm_geom *g = s->g;
    int64_t k0 = g->k * t / s->chunks, k1 = g->k * (t + 1) / s->chunks;
    float *part = s->partials + (size_t)thread * (size_t)(g->m * g->n);
    lr_rowblock_gemm p = {1, g->m, g->n, k1 - k0, s->a + k0 * g->acs, 0, g->ars, g->acs, s->b + k0 * g->brs, 0, g->brs, g->bcs, part, 0, g->n};
    lr_rowblock_gemm_run(NULL, &p);
    pthread_mutex_lock(&s->mu);
    for (int64_t i = 0; i < g->m * g->n; ++i) s->c[i] += part[i];
    pthread_mutex_unlock(&s->mu);
}

static lr_status run_splitk(const lr_run_ctx *ctx, const lr_node *nd) {
    mm_geom g;
    geom_of(ctx->model, nd, &g);
    splitk_ctx s = {&g, lr_in(ctx, nd, 0)->data, lr_in(ctx, nd, 1)->data, lr_out(ctx, nd, 0)->data, ctx->workspace,
                    splitk_chunks(ctx->threads)};
    pthread_mutex_init(&s.mu, NULL);
    memset(s.c, 0, sizeof(float) * (size_t)(g.m * g.n));
    lr_parallel_for(ctx->pool, s.chunks, splitk_task, &s);
    pthread_mutex_destroy(&s.mu);
    return LR_OK;
}

const lr_algo lr_algo_matmul_splitk_f32 = {"matmul_splitk_f32", LR_OP_MATMUL, splitk_usable, splitk_workspace, NULL, run_splitk, 0,
                                           LR_ALGO_NONDETERMINISTIC, splitk_cost};
