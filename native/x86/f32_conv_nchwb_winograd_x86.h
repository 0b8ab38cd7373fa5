/* f32_conv_nchwb_winograd_x86.h: BlockedConv 3x3 stride 1 by Winograd F(4x4, 3x3) (blocked_conv_winograd_f43_*)
 * and F(2x2, 3x3) (..._f23_*) on (N, C/VL, H, W, VL) tensors, written once over GNU vectors of VL floats
 * and compiled per ISA (f32_conv_nchwb_winograd_avx512f.c: VL 16, f32_conv_nchwb_winograd_avx2_fma.c: VL 8).
 * P = (ts + 2)^2 transform positions (36 / 16) for output tiles of ts x ts (4 / 2).
 *
 * weights:  U = G g G^T per (oc, ic), stored [P][OC pair][IC][2 VL] (a pair = two output blocks, the
 *           micro-kernel's B panel; padded output channels are zero); the bias padded to whole blocks
 *           follows. At prepare with weight preprocess on, else into the workspace in every run.
 * tasks:    (block of T tiles over all images, output-pair group); per task the input transform
 *           V = B^T d B runs VL channels per vector with plain loads into V [P][T][IC padded], then
 *           position by position the GEMMs M[x] = V[x] (T x IC) U[x] (IC x group's OC) on an R x 2 VL
 *           register micro-kernel (A = V rows broadcast, B = the U panel; V[x] stays hot, each U panel is
 *           read once per task), then the output transform Y = A^T M A reads VL-wide output-channel
 *           vectors and writes the blocked output with bias, residual and the clamp on registers
 *           (SIGMOID/H_SWISH on the stored pixel).
 * Every block reads all of U (its group's share), so block count is a trade: blocks sized so V + M
 * stay in L2, their count a multiple of the threads (blocks of nt / blocks tiles, rounded down or up),
 * unless U is several times all tiles' V + M (14x14x256, 7x7x512): then one block of every tile, whose
 * V and M spill to L3, and U is read once per run. With fewer than two blocks per thread the output
 * pairs are split into groups instead, so the threads share the U stream (7x7, N = 1: memory bound,
 * hence F(2,3) at 2 threads there: 16/36 of F(4,3)'s U, 4x the tiles).
 * Error: F(4,3) ~1e-5 x max|pre-activation| (transform constants up to 8 and 1/24), F(2,3) ~10x less.
 * Define VL, RMAX, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "../generic/layout_blocked.h"
#include "cpu_x86.h"
#include "f32_nchwb_x86.h"
#include "vec_x86.h"
#include "winograd_x86.h"

#define PW (2 * VL)   /* floats per U panel row: an output pair */

typedef struct wgeom {
    int64_t ts, P;         /* output tile side (4: F(4,3), 2: F(2,3)), transform positions (ts + 2)^2 */
    int64_t th, tw, nt;    /* tile rows/cols per image, tiles in all */
    int64_t T, blocks;     /* tiles per block (the most), blocks */
    int64_t pairs, groups, gp; /* output pairs, pair groups, pairs per group */
    int64_t icp, occ;      /* V row stride (IC padded to VL), M row stride (the group's output channels) */
} wgeom;

static size_t u_floats(const lr_bconv *g, int ts) { return (size_t)(ts + 2) * (ts + 2) * ((g->ocb + 1) / 2) * g->c * PW; }
#define VM_ALL_MAX (2 << 20) /* floats (8 MB): the most V + M of one block of all tiles */

static void wgeom_of(const lr_bconv *g, int ts, int threads, wgeom *w) {
    if (threads < 1) threads = 1;
    w->ts = ts, w->P = (ts + 2) * (ts + 2);
    w->th = (g->oh + ts - 1) / ts, w->tw = (g->ow + ts - 1) / ts, w->nt = g->n * w->th * w->tw;
    w->icp = g->cb * VL;
    w->pairs = (g->ocb + 1) / 2;
    /* V + M of a block about 128 K floats (512 KB: half of a Zen 4 / Skylake-SP L2), T a multiple of
     * the micro-kernel's rows */
    int64_t target = 131072 / (w->P * (w->icp + w->pairs * PW)) / RMAX * RMAX;
    if (target < RMAX) target = RMAX;
    if (target > 96) target = 96;
    /* every block reads all of U (its group's share): when U is several times V + M of every tile
     * (deep layers on small planes: resnet18's 14x14x256 F(4,3), 7x7x512 F(2,3)) one block of all
     * tiles, whose V and M spill from L2 to L3, moves far fewer bytes than re-reading U per block from
     * memory (measured: 28x28x128 F(4,3), U 1.25x V + M, is faster in L2-sized blocks) */
    int64_t vm_all = w->P * w->nt * (w->icp + w->pairs * PW);
    if ((int64_t)u_floats(g, ts) >= 3 * vm_all && vm_all <= VM_ALL_MAX) target = w->nt;
    int64_t blocks = (w->nt + target - 1) / target;
    w->groups = 1;
    if (threads == 1 || blocks >= 2 * threads) {
        blocks = (blocks + threads - 1) / threads * threads; /* whole rounds of tasks */
    } else {
        /* small planes: split the output pairs too, each task streams its share of U */
        w->groups = threads < w->pairs ? threads : w->pairs;
    }
    if (blocks > w->nt) blocks = w->nt;
    w->blocks = blocks; /* of nt / blocks tiles, rounded down or up: whole rounds stay whole */
    w->T = (w->nt + blocks - 1) / blocks;
    w->gp = (w->pairs + w->groups - 1) / w->groups;
    w->groups = (w->pairs + w->gp - 1) / w->gp;
    w->occ = w->gp * PW;
}

static size_t packed_floats(const lr_bconv *g, int ts) { return u_floats(g, ts) + (size_t)g->ocb * VL; }
static size_t thread_floats(const wgeom *w) {
    return ((size_t)w->P * w->T * w->icp + (size_t)w->P * w->T * w->occ + 15) / 16 * 16;
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES) || n->op != LR_OP_BLOCKED_CONV || n->ints[9] != VL) return false;
    if (lr_min(m, n, 1)->kind != LR_KIND_CONST || (n->n_in > 2 && lr_min(m, n, 2)->kind != LR_KIND_CONST)) return false;
    for (int i = 0; i < n->n_in; ++i)
        if (lr_min(m, n, i)->dtype != LR_FLOAT32) return false;
    if (lr_mout(m, n, 0)->dtype != LR_FLOAT32) return false;
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    const int64_t *a = n->ints;
    return !g.plain_in && !g.depthwise && a[6] == 1 && a[7] == 0 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 &&
           a[4] == 1 && a[5] == 1 && g.ph <= 2 && g.pw <= 2 && g.oh >= 1 && g.ow >= 1;
}

/* U for output pairs [p0, p1), then (with p1 the last) the padded bias */
static void transform_weights(const lr_bconv *g, int ts, const float *wt, const float *bias, float *dst, int64_t p0,
                              int64_t p1) {
    static const float G4[6][3] = {{1.f / 4, 0, 0},          {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
                                   {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
    static const float G2[4][3] = {{1, 0, 0}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0, 0, 1}};
    const float(*G)[3] = ts == 4 ? G4 : G2;
    const int A = ts + 2;
    const int64_t IC = g->c, OC = g->oc, np = (g->ocb + 1) / 2;
    for (int64_t p = p0; p < p1; ++p)
        for (int64_t i = 0; i < IC; ++i) { /* the pair's 2 VL output channels as vector lanes */
            float kk[9][PW], t[6][3][PW];
            for (int l = 0; l < PW; ++l) {
                int64_t o = p * PW + l;
                for (int q = 0; q < 9; ++q) kk[q][l] = o < OC ? wt[(o * IC + i) * 9 + q] : 0.f;
            }
            for (int a = 0; a < A; ++a)
                for (int c = 0; c < 3; ++c)
                    for (int l = 0; l < PW; ++l) t[a][c][l] = G[a][0] * kk[c][l] + G[a][1] * kk[3 + c][l] + G[a][2] * kk[6 + c][l];
            for (int a = 0; a < A; ++a)
                for (int b = 0; b < A; ++b) {
                    float *d = dst + (((size_t)(a * A + b) * np + p) * IC + i) * PW;
                    for (int l = 0; l < PW; ++l) d[l] = t[a][0][l] * G[b][0] + t[a][1][l] * G[b][1] + t[a][2][l] * G[b][2];
                }
        }
    if (p1 == np) {
        float *pb = dst + u_floats(g, ts);
        for (int64_t o = 0; o < g->ocb * VL; ++o) pb[o] = bias && o < OC ? bias[o] : 0.f;
    }
}

typedef struct pack_ctx {
    const lr_bconv *g;
    int ts;
    const float *w, *bias;
    float *dst;
} pack_ctx;

static void pack_task(void *vctx, int64_t t, int thread) {
    const pack_ctx *p = vctx;
    transform_weights(p->g, p->ts, p->w, p->bias, p->dst, t, t + 1);
    (void)thread;
}

static lr_status prepare_ts(lr_model *m, lr_node *n, int ts) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    size_t bytes = packed_floats(&g, ts) * sizeof(float);
    lr_status s = lr_alloc_packed(n, bytes, "Winograd weights");
    if (s != LR_OK) return s;
    transform_weights(&g, ts, lr_min(m, n, 1)->const_data, n->n_in > 2 ? lr_min(m, n, 2)->const_data : NULL, n->packed,
                      0, (g.ocb + 1) / 2);
    return LR_OK;
}

static size_t workspace_ts(const lr_model *m, const lr_node *n, int threads, int ts) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    wgeom w;
    wgeom_of(&g, ts, threads, &w);
    size_t f = (n->packed ? 0 : (packed_floats(&g, ts) + 15) / 16 * 16) + (size_t)(threads < 1 ? 1 : threads) * thread_floats(&w);
    return (f + 16) * sizeof(float);
}

typedef struct wctx {
    const lr_bconv *g;
    wgeom w;
    const float *x, *u, *bias, *z;
    float *y, *ws;
} wctx;

/* input tile t (image, tile row, tile col), every channel block -> V[x][tl][cb * VL ..] */
AI void input_tile(const wctx *c, int64_t t, int64_t tl, float *V, const int TS) {
    const int A = TS + 2;
    const lr_bconv *g = c->g;
    const wgeom *w = &c->w;
    const int64_t per = w->th * w->tw, img = t / per, ty = t % per / w->tw, tx = t % w->tw;
    const int64_t ih0 = ty * TS - g->ph, iw0 = tx * TS - g->pw, T = w->T, icp = w->icp;
    const bool inside = ih0 >= 0 && iw0 >= 0 && ih0 + A <= g->h && iw0 + A <= g->w;
    for (int64_t cb = 0; cb < g->cb; ++cb) {
        const float *xc = c->x + ((img * g->cb + cb) * g->h * g->w) * VL;
        vf t6[6][6];
        for (int col = 0; col < A; ++col) {
            vf d[6], o[6];
            int64_t iw = iw0 + col;
            for (int r = 0; r < A; ++r) {
                int64_t ih = ih0 + r;
                d[r] = inside || (ih >= 0 && ih < g->h && iw >= 0 && iw < g->w) ? ld(xc + (ih * g->w + iw) * VL) : (vf){0};
            }
            bt(d, o, TS);
            for (int r = 0; r < A; ++r) t6[r][col] = o[r];
        }
        for (int r = 0; r < A; ++r) {
            vf v[6];
            bt(t6[r], v, TS);
            for (int b = 0; b < A; ++b) st(V + ((size_t)(r * A + b) * T + tl) * icp + cb * VL, v[b]);
        }
    }
}

/* M rows [r0, r0 + R) x output pair (panel u) of one position x: acc = V rows . U panel */
AI void gemm_rows(const float *v, int64_t icp, const float *u, int64_t K, float *m, int64_t ldm, const int R) {
    vf acc[RMAX][2];
    for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = (vf){0};
    for (int64_t k = 0; k < K; ++k) {
        vf b0 = ld(u + k * PW), b1 = ld(u + k * PW + VL);
        for (int i = 0; i < R; ++i) {
            vf a = splat(v[i * icp + k]);
            acc[i][0] += a * b0;
            acc[i][1] += a * b1;
        }
    }
    for (int i = 0; i < R; ++i) {
        st(m + i * ldm, acc[i][0]);
        st(m + i * ldm + VL, acc[i][1]);
    }
}

#define ROWS_CASE(R_) case R_: gemm_rows(v, icp, u, K, m, ldm, R_); break;

static void gemm_tail(const float *v, int64_t icp, const float *u, int64_t K, float *m, int64_t ldm, int R) {
    switch (R) {
        ROWS_CASE(1) ROWS_CASE(2) ROWS_CASE(3) ROWS_CASE(4) ROWS_CASE(5)
#if RMAX > 6
        ROWS_CASE(6) ROWS_CASE(7)
#endif
#if RMAX > 8
        ROWS_CASE(8) ROWS_CASE(9) ROWS_CASE(10) ROWS_CASE(11)
#endif
    default: break;
    }
}

AI void output_tile(const wctx *c, int64_t t, int64_t tl, int64_t ob, const float *M, int64_t oc0, const int TS) {
    const int A = TS + 2;
    const lr_bconv *g = c->g;
    const wgeom *w = &c->w;
    const int64_t per = w->th * w->tw, img = t / per, ty = t % per / w->tw, tx = t % w->tw, T = w->T, occ = w->occ;
    const float *mb = M + tl * occ + (ob * VL - oc0);
    vf s[4][6], mm[6], o[4];
    for (int col = 0; col < A; ++col) {
        for (int r = 0; r < A; ++r) mm[r] = ld(mb + (size_t)(r * A + col) * T * occ);
        at(mm, o, TS);
        for (int i = 0; i < TS; ++i) s[i][col] = o[i];
    }
    const vf lo = splat(g->lo), hi = splat(g->hi), bv = ld(c->bias + ob * VL);
    for (int i = 0; i < TS; ++i) {
        int64_t oh = ty * TS + i;
        if (oh >= g->oh) break;
        at(s[i], o, TS);
        int64_t off = (((img * g->ocb + ob) * g->oh + oh) * g->ow + tx * TS) * VL;
        float *y = c->y + off;
        const float *z = c->z ? c->z + off : NULL;
        int cols = g->ow - tx * TS < TS ? (int)(g->ow - tx * TS) : TS;
        for (int j = 0; j < cols; ++j) {
            vf v = o[j] + bv;
            if (z) v += ld(z + j * VL);
            st(y + j * VL, vmin(vmax(v, lo), hi));
        }
        if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, cols * VL);
    }
}

AI void block_task_ts(const wctx *c, int64_t task, int thread, const int TS) {
    const lr_bconv *g = c->g;
    const wgeom *w = &c->w;
    const int P = (TS + 2) * (TS + 2);
    const int64_t blk = task / w->groups, grp = task % w->groups, T = w->T, icp = w->icp, occ = w->occ, K = g->c;
    const int64_t t0 = blk * w->nt / w->blocks, nt = (blk + 1) * w->nt / w->blocks - t0;
    const int64_t p0 = grp * w->gp, p1 = p0 + w->gp < w->pairs ? p0 + w->gp : w->pairs, np = w->pairs;
    float *V = c->ws + (size_t)thread * thread_floats(w), *M = V + (size_t)P * T * icp;
    for (int64_t tl = 0; tl < nt; ++tl) input_tile(c, t0 + tl, tl, V, TS);
    /* position by position: V[x] stays in L1/L2 over the group's U panels, each panel read once */
    for (int x = 0; x < P; ++x) {
        const float *vx = V + (size_t)x * T * icp;
        float *mx = M + (size_t)x * T * occ;
        for (int64_t q = p0; q < p1; ++q) {
            const float *u = c->u + ((size_t)x * np + q) * K * PW;
            int64_t r = 0;
            for (; r + RMAX <= nt; r += RMAX) gemm_rows(vx + r * icp, icp, u, K, mx + r * occ + (q - p0) * PW, occ, RMAX);
            if (r < nt) gemm_tail(vx + r * icp, icp, u, K, mx + r * occ + (q - p0) * PW, occ, (int)(nt - r));
        }
    }
    int64_t ob1 = 2 * p1 < g->ocb ? 2 * p1 : g->ocb;
    for (int64_t tl = 0; tl < nt; ++tl)
        for (int64_t ob = 2 * p0; ob < ob1; ++ob) output_tile(c, t0 + tl, tl, ob, M, 2 * p0 * VL, TS);
}

static void block_task4(void *vctx, int64_t task, int thread) { block_task_ts(vctx, task, thread, 4); }
static void block_task2(void *vctx, int64_t task, int thread) { block_task_ts(vctx, task, thread, 2); }

static lr_status run_ts(const lr_run_ctx *ctx, const lr_node *n, int ts) {
    lr_bconv g;
    lr_bconv_of(ctx->model, n, &g);
    float *ws = ctx->workspace;
    const float *u = n->packed;
    if (!u) { /* weight preprocess off: transform in every run */
        pack_ctx p = {&g, ts, lr_in(ctx, n, 1)->data, n->n_in > 2 ? lr_in(ctx, n, 2)->data : NULL, ws};
        lr_parallel_for(ctx->pool, (g.ocb + 1) / 2, pack_task, &p);
        lr_note_weight_pack(ctx);
        u = ws;
        ws += (packed_floats(&g, ts) + 15) / 16 * 16;
    }
    wctx c = {&g, {0}, lr_in(ctx, n, 0)->data, u, u + u_floats(&g, ts), n->n_in > 3 ? lr_in(ctx, n, 3)->data : NULL,
              lr_out(ctx, n, 0)->data, ws};
    wgeom_of(&g, ts, ctx->threads, &c.w);
    lr_parallel_for(ctx->pool, c.w.blocks * c.w.groups, ts == 4 ? block_task4 : block_task2, &c);
    return LR_OK;
}

static double cost_ts(const lr_model *m, const lr_node *n, int threads, int ts) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    wgeom w;
    wgeom_of(&g, ts, threads, &w);
    const double th = threads > 0 ? threads : 1;
    /* ns: GEMM MACs (padded to whole pairs) at ~45 per ns (the direct conv's model says 40), the
     * transforms ~2 ns per tile, position and channel block, overlapped with the U stream (read once
     * from memory per group of output pairs, ~6 floats per ns shared by the threads); without weight
     * preprocess every run also transforms the weights (~1.5 ns per weight and position, threaded). */
    double macs = (double)w.P * w.nt * g.c * w.pairs * PW;
    double compute = (macs / 45.0 + 2.0 * w.P * w.nt * (g.cb + g.ocb)) / th;
    double stream = (double)u_floats(&g, ts) / 6.0;
    double c = compute > stream ? compute : stream;
    if (!m->weight_preprocess) c += 1.5 * (double)g.oc * g.c * w.P / th + (double)u_floats(&g, ts) / 4.0;
    return c;
}

#define WINO_ALGO(TS_, NAME, FLAGS)                                                                                   \
    static lr_status prepare##TS_(lr_model *m, lr_node *n) { return prepare_ts(m, n, TS_); }                        \
    static size_t workspace##TS_(const lr_model *m, const lr_node *n, int threads) {                                \
        return workspace_ts(m, n, threads, TS_);                                                                     \
    }                                                                                                                \
    static lr_status run##TS_(const lr_run_ctx *ctx, const lr_node *n) { return run_ts(ctx, n, TS_); }              \
    static double cost##TS_(const lr_model *m, const lr_node *n, int threads) { return cost_ts(m, n, threads, TS_); } \
    const lr_algo CAT(CAT(lr_algo_blocked_conv_winograd_, NAME), CAT(_f32_, SUFFIX)) = {                            \
        "blocked_conv_winograd_" #NAME "_f32_" SUFFIX_STR, LR_OP_BLOCKED_CONV, usable, workspace##TS_, prepare##TS_, run##TS_, \
        0, FLAGS, cost##TS_};

/* F(4,3) is the heuristic's pick for 3x3 s1 when weights are transformed at load (listed before the
 * direct conv); F(2,3) only competes in fast-run profiling (7x7 planes, where F(4,3)'s transformed
 * weights outweigh its 4 tiles). */
WINO_ALGO(4, f43, LR_ALGO_HEURISTIC_NEEDS_PREPROCESS)
WINO_ALGO(2, f23, 0)
