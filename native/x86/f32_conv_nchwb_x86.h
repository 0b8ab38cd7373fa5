/* f32_conv_nchwb_x86.h: BlockedConv on (N, C/VL, H, W, VL) tensors, written once over GNU vectors of
 * VL floats and compiled per ISA (f32_conv_nchw16_avx512f.c: VL 16, f32_conv_nchw88_avx2_fma.c: VL 8).
 *
 * pointwise: 1x1 s1 p0 as a GEMM over the flattened plane: tiles of PW_TMAX consecutive pixels x 2
 *            output blocks (a last block of <= VL/2 real channels on ymm halves for VL 16). Tasks:
 *            (image, pixel chunk, OC-block pair).
 * dense:     direct convolution, no im2col: a micro-kernel computes OCT (<= 2) output-channel blocks
 *            x T (<= TMAX) output pixels of one row in OCT*T vector accumulators; each step loads OCT
 *            weight vectors (one input channel, VL output channels) and broadcasts T input pixels.
 *            The input is zero-padded once per run when the conv pads; a padded plain NCHW input (the
 *            stem over RGB) is padded per output row into a per-thread strip instead. Tasks: (image,
 *            OC-block pair, row).
 * depthwise: VL channels per vector; 3x3 s1/s2 by tiles of DW_T / DW_T2 pixels with the 9 weights in
 *            registers, other kernels 4 pixels a step; borders by bounds. Tasks: runs of rows.
 * Weights (and bias) are packed into the blocked filter layout (layout_blocked.c) at prepare with
 * weight preprocess on, else into the workspace in every run. Accumulators start at the bias; the
 * residual and the clamp (IDENTITY/RELU/CLAMP) are applied on the registers; SIGMOID/H_SWISH on the
 * stored pixels.
 * Define VL, TMAX, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "../generic/layout_blocked.h"
#include "cpu_x86.h"
#include "f32_nchwb_x86.h"
#include "vec_x86.h"


#if VL == 16
/* A last output block with at most 8 real channels (24 = 16 + 8) runs on ymm halves: Zen 4 issues a
 * zmm FMA as two ymm halves, so the padding lanes would cost as much as real ones. */
typedef float vh __attribute__((vector_size(VL * 2)));
AI vh ldh(const float *p) {
    vh v;
    memcpy(&v, p, sizeof v);
    return v;
}
AI void sth(float *p, vh v) { memcpy(p, &v, sizeof v); }
AI vh lowh(vf v) { return (vh)_mm512_castps512_ps256((__m512)v); }
#define HMAX(a, b) ((vh)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define HMIN(a, b) ((vh)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define HAS_HALF 1
#else
typedef vf vh;
AI vh ldh(const float *p) { return ld(p); }
AI void sth(float *p, vh v) { st(p, v); }
AI vh lowh(vf v) { return v; }
#define HMAX vmax
#define HMIN vmin
#define HAS_HALF 0
#endif

typedef struct kctx {
    const lr_bconv *g;
    const float *x; /* padded input (or the input itself when the conv does not pad) */
    int64_t hp, wp; /* its plane */
    const float *w; /* packed weights, then the padded bias */
    const float *bias, *z;
    float *y;
    int64_t pairs;
    float *strips; /* plain padded input: per-thread zero-padded rows of one output row, else NULL */
    int64_t strip_floats;
} kctx;

/* The tile's stores, shared by the row and the 1x1-plane kernels: OCT output blocks at `off`
 * (block 0) + o * the output plane, residual z and the clamp in registers, the HALF block on its
 * real half (its padding lanes written as the full-width kernel writes them); SIGMOID/H_SWISH after
 * both stores, so no accumulator lives across the call. */
AI void store_tile(const kctx *k, int64_t off, const int T, const int OCT, const int HALF, const vf *a0, const vf *a1,
                   const vh *h1) {
    const lr_bconv *g = k->g;
    const int64_t ostride = g->oh * g->ow * VL;
    const vf lo = splat(g->lo), hi = splat(g->hi);
    for (int o = 0; o < OCT; ++o) {
        float *y = k->y + off + o * ostride;
        const float *z = k->z ? k->z + off + o * ostride : NULL;
        if (HALF && o == OCT - 1) { /* the real half, then the padding lanes as the full-width kernel writes them */
            const vh loh = lowh(lo), hih = lowh(hi);
            for (int t = 0; t < T; ++t) {
                vh v = h1[t], u = (vh){0};
                if (z) v += ldh(z + t * VL), u += ldh(z + t * VL + VL / 2);
                sth(y + t * VL, HMIN(HMAX(v, loh), hih));
                sth(y + t * VL + VL / 2, HMIN(HMAX(u, loh), hih));
            }
            continue;
        }
        for (int t = 0; t < T; ++t) {
            vf v = o ? a1[t] : a0[t];
            if (z) v += ld(z + t * VL);
            st(y + t * VL, vmin(vmax(v, lo), hi));
        }
    }
    if (g->act == 2 || g->act == 3)
        for (int o = 0; o < OCT; ++o) lr_bconv_post(g->act, k->y + off + o * ostride, T * VL);
}

/* A tile's accumulators start at the bias (pb: the packed bias): a0 for block ocb, a1 for ocb + 1,
 * h1 for a HALF last block; the ones the tile does not use stay zero. */
AI void acc_init(const float *pb, int64_t ocb, const int T, const int OCT, const int HALF, vf *a0, vf *a1, vh *h1) {
    const int FULL0 = OCT > 1 || !HALF;
    const vf b0 = FULL0 ? ld(pb + ocb * VL) : (vf){0}, b1 = OCT > 1 && !HALF ? ld(pb + (ocb + 1) * VL) : (vf){0};
    const vh bh = HALF ? ldh(pb + (ocb + OCT - 1) * VL) : (vh){0};
    for (int t = 0; t < T; ++t) a0[t] = b0, a1[t] = b1, h1[t] = bh;
}

/* One micro-tile: OCT output-channel blocks from ocb, T pixels from ow0 of row oh. */
/* HALF: the tile's last block (ocb + OCT - 1) is the conv's last, with at most VL / 2 real channels. */
AI void ukernel(const kctx *k, int64_t n, int64_t ocb, int64_t oh, int64_t ow0, const int T, const int OCT, const int PLAIN,
                const int HALF) {
    const lr_bconv *g = k->g;
    const int64_t khw = g->kh * g->kw, pix = PLAIN ? 1 : VL, plane = k->hp * k->wp;
    const int64_t lane = PLAIN ? plane : 1, blk = PLAIN ? VL * plane : plane * VL, step = g->sw * pix;
    const int64_t wblk = g->cb * khw * VL * VL;
    const float *pb = k->w + g->ocb * wblk;
    vf a0[TMAX], a1[TMAX]; /* two arrays, not [2][T]: GCC keeps each in registers */
    vh h1[TMAX];
    const int FULL0 = OCT > 1 || !HALF; /* block ocb runs full width */
    acc_init(pb, ocb, T, OCT, HALF, a0, a1, h1);
    const int64_t xn = k->strips ? 0 : n, xrow = k->strips ? 0 : oh * g->sh; /* a strip holds one row's taps */
    const float *xb = k->x + xn * (PLAIN ? g->c : g->cb * VL) * plane + (xrow * k->wp + ow0 * g->sw) * pix;
    for (int64_t icb = 0; icb < g->cb; ++icb) {
        int64_t ni = g->c - icb * VL < VL ? g->c - icb * VL : VL;
        const float *xc = xb + icb * blk, *wc = k->w + (ocb * g->cb + icb) * khw * VL * VL;
        for (int64_t i = 0; i < g->kh; ++i)
            for (int64_t j = 0; j < g->kw; ++j) {
                const float *xk = xc + (i * k->wp + j) * pix, *wk = wc + (i * g->kw + j) * VL * VL;
                for (int64_t l = 0; l < ni; ++l) {
                    vf w0 = FULL0 ? ld(wk + l * VL) : (vf){0}, w1 = OCT > 1 && !HALF ? ld(wk + wblk + l * VL) : (vf){0};
                    vh wh = HALF ? ldh(wk + (OCT - 1) * wblk + l * VL) : (vh){0};
                    const float *xl = xk + l * lane;
                    for (int t = 0; t < T; ++t) {
                        vf xv = splat(xl[t * step]);
                        if (FULL0) a0[t] += xv * w0;
                        if (HALF) h1[t] += lowh(xv) * wh;
                        else if (OCT > 1) a1[t] += xv * w1;
                    }
                }
            }
    }
    store_tile(k, (((n * g->ocb + ocb) * g->oh + oh) * g->ow + ow0) * VL, T, OCT, HALF, a0, a1, h1);
}

#define TILE_CASE(T_) case T_: ukernel(k, n, ocb, oh, ow0, T_, OCT, PLAIN, HALF); break;

AI void tile(const kctx *k, int64_t n, int64_t ocb, int64_t oh, int64_t ow0, int T, const int OCT, const int PLAIN,
             const int HALF) {
    switch (T) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
#if TMAX > 6
        TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
#endif
    default: break;
    }
}

AI void row(const kctx *k, int64_t n, int64_t ocb, int64_t oh, const int OCT, const int PLAIN, const int HALF) {
    int64_t ow = k->g->ow, tiles = (ow + TMAX - 1) / TMAX, base = ow / tiles, extra = ow % tiles, ow0 = 0;
    for (int64_t t = 0; t < tiles; ++t) { /* balanced tiles: 14 -> 7 + 7, 56 -> 12 + 11 x 4 */
        int T = (int)(base + (t < extra));
        tile(k, n, ocb, oh, ow0, T, OCT, PLAIN, HALF);
        ow0 += T;
    }
}

/* ---- 1x1 stride 1 unpadded: a GEMM over the flattened plane ------------------------------------
 * Pixels of a plane are contiguous in (N, C/VL, H, W, VL), so a tile is PW_TMAX consecutive pixels
 * of the plane whatever the row width (7x7: 13 + 12 x 3 instead of 7 per row). The accumulators
 * start at the bias. Tasks: (image, pixel chunk, OC-block pair), pairs fastest when all weights fit
 * in L2 (the input chunk stays hot), else chunks fastest (the weight pair stays hot). */
#ifndef PW_TMAX
#define PW_TMAX TMAX
#endif

typedef struct pwctx {
    const kctx *k;
    int64_t plane, tiles, chunk_tiles, chunks;
    bool pair_fastest;
} pwctx;


/* HALF: the tile's last block (ocb + OCT - 1) is the conv's last, with at most VL / 2 real channels. */
AI void pw_tile(const kctx *k, int64_t n, int64_t ocb, int64_t p0, int64_t plane, const int T, const int OCT, const int HALF) {
    const lr_bconv *g = k->g;
    const int64_t wblk = g->cb * VL * VL;
    const float *pb = k->w + g->ocb * wblk;
    vf a0[PW_TMAX], a1[PW_TMAX]; /* two arrays, not [2][T]: GCC keeps each in registers */
    vh h1[PW_TMAX];
    const int FULL0 = OCT > 1 || !HALF; /* block ocb runs full width */
    acc_init(pb, ocb, T, OCT, HALF, a0, a1, h1);
    const float *xb = k->x + (n * g->cb * plane + p0) * VL;
    const float *wb = k->w + ocb * wblk;
    for (int64_t icb = 0; icb < g->cb; ++icb) {
        int64_t ni = g->c - icb * VL < VL ? g->c - icb * VL : VL;
        const float *xc = xb + icb * plane * VL, *wc = wb + icb * VL * VL;
        for (int64_t l = 0; l < ni; ++l) {
            vf w0 = FULL0 ? ld(wc + l * VL) : (vf){0}, w1 = OCT > 1 && !HALF ? ld(wc + wblk + l * VL) : (vf){0};
            vh wh = HALF ? ldh(wc + (OCT - 1) * wblk + l * VL) : (vh){0};
            for (int t = 0; t < T; ++t) {
                vf xv = splat(xc[t * VL + l]);
                if (FULL0) a0[t] += xv * w0;
                if (HALF) h1[t] += lowh(xv) * wh;
                else if (OCT > 1) a1[t] += xv * w1;
            }
        }
    }
    store_tile(k, ((n * g->ocb + ocb) * plane + p0) * VL, T, OCT, HALF, a0, a1, h1);
}

#define PW_CASE(T_) case T_: pw_tile(k, n, ocb, p0, plane, T_, OCT, HALF); break;

AI void pw_tiles(const pwctx *c, int64_t n, int64_t ocb, int64_t chunk, const int OCT, const int HALF) {
    const kctx *k = c->k;
    int64_t plane = c->plane, base = plane / c->tiles, extra = plane % c->tiles;
    int64_t t0 = chunk * c->chunk_tiles, t1 = t0 + c->chunk_tiles < c->tiles ? t0 + c->chunk_tiles : c->tiles;
    int64_t p0 = t0 * base + (t0 < extra ? t0 : extra);
    for (int64_t t = t0; t < t1; ++t) {
        int T = (int)(base + (t < extra));
        switch (T) {
            PW_CASE(1) PW_CASE(2) PW_CASE(3) PW_CASE(4) PW_CASE(5) PW_CASE(6)
#if PW_TMAX > 6
            PW_CASE(7) PW_CASE(8) PW_CASE(9) PW_CASE(10) PW_CASE(11) PW_CASE(12)
#endif
#if PW_TMAX > 12
            PW_CASE(13) PW_CASE(14)
#endif
        default: break;
        }
        p0 += T;
    }
}

static void pw_task(void *vctx, int64_t t, int thread) {
    const pwctx *c = vctx;
    const lr_bconv *g = c->k->g;
    int64_t pairs = c->k->pairs, pair, chunk, n;
    if (c->pair_fastest) pair = t % pairs, chunk = t / pairs % c->chunks, n = t / pairs / c->chunks;
    else chunk = t % c->chunks, pair = t / c->chunks % pairs, n = t / c->chunks / pairs;
    int64_t ocb = pair * 2;
    bool half_last = HAS_HALF && g->oc - (g->ocb - 1) * VL <= VL / 2;
    if (ocb + 1 >= g->ocb) { /* HALF must be a constant in each call (a runtime one merges the variants) */
        if (half_last) pw_tiles(c, n, ocb, chunk, 1, HAS_HALF);
        else pw_tiles(c, n, ocb, chunk, 1, 0);
    }
    else if (half_last && ocb + 2 == g->ocb) pw_tiles(c, n, ocb, chunk, 2, HAS_HALF);
    else pw_tiles(c, n, ocb, chunk, 2, 0);
    (void)thread;
}


static bool is_pointwise(const lr_bconv *g) {
    return !g->depthwise && !g->plain_in && g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
           g->oh == g->h && g->ow == g->w;
}

static void run_pointwise(const lr_run_ctx *ctx, const kctx *k) {
    const lr_bconv *g = k->g;
    pwctx c = {k, g->oh * g->ow, 0, 0, 0, false};
    c.tiles = (c.plane + PW_TMAX - 1) / PW_TMAX;
    int64_t threads = ctx->threads > 0 ? ctx->threads : 1, ct = c.tiles < 16 ? c.tiles : 16;
    /* enough tasks to balance the threads (a task is at least one tile); one thread keeps whole
     * chunks (each chunk streams its weight pair again) */
    while (threads > 1 && ct > 1 && g->n * k->pairs * ((c.tiles + ct - 1) / ct) < 4 * threads) ct = (ct + 1) / 2;
    c.chunk_tiles = ct, c.chunks = (c.tiles + ct - 1) / ct;
    c.pair_fastest = (double)g->ocb * g->cb * VL * VL * 4 <= 512.0 * 1024;
    lr_parallel_for(ctx->pool, g->n * k->pairs * c.chunks, pw_task, &c);
}

static void dense_task(void *vctx, int64_t t, int thread) {
    const kctx *k = vctx;
    const lr_bconv *g = k->g;
    int64_t oh = t % g->oh, pair = t / g->oh % k->pairs, n = t / g->oh / k->pairs, ocb = pair * 2;
    bool two = ocb + 1 < g->ocb, half = HAS_HALF && g->oc - (g->ocb - 1) * VL <= VL / 2 && ocb + 1 + two == g->ocb;
/* OCT and HALF as constants in every call (runtime values would merge the kernel variants) */
#define DENSE_ROW(kp, P)                                                                                         \
    do {                                                                                                         \
        if (two) {                                                                                               \
            if (half) row(kp, n, ocb, oh, 2, P, HAS_HALF); else row(kp, n, ocb, oh, 2, P, 0);                   \
        } else {                                                                                                 \
            if (half) row(kp, n, ocb, oh, 1, P, HAS_HALF); else row(kp, n, ocb, oh, 1, P, 0);                   \
        }                                                                                                        \
    } while (0)
    if (k->strips) { /* the stem: the kh input rows of this output row, zero-padded, as a (C, kh, W + 2pw) strip */
        int64_t wp = g->w + 2 * g->pw;
        float *strip = k->strips + thread * k->strip_floats;
        for (int64_t c = 0; c < g->c; ++c)
            for (int64_t i = 0; i < g->kh; ++i) {
                float *d = strip + (c * g->kh + i) * wp;
                int64_t ih = oh * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h) {
                    memset(d, 0, (size_t)wp * sizeof *d);
                    continue;
                }
                memset(d, 0, (size_t)g->pw * sizeof *d);
                memcpy(d + g->pw, k->x + ((n * g->c + c) * g->h + ih) * g->w, (size_t)g->w * sizeof *d);
                memset(d + g->pw + g->w, 0, (size_t)g->pw * sizeof *d);
            }
        kctx kk = *k;
        kk.x = strip, kk.hp = g->kh, kk.wp = wp;
        DENSE_ROW(&kk, 1);
        return;
    }
    if (g->plain_in) {
        DENSE_ROW(k, 1);
    } else {
        DENSE_ROW(k, 0);
    }
    (void)thread;
}

/* ---- depthwise ---------------------------------------------------------------------------------
 * 3x3 with stride 1 or 2: the 9 weight vectors stay in registers, a tile of DW_T output pixels loads
 * each input pixel of its (up to 3) input rows once ((DW_T - 1) * S + 3 vectors a row) and keeps DW_T
 * accumulators that start at the bias; borders (taps outside the row) go one pixel at a time. */
#ifndef DW_T
#define DW_T 8
#endif
#ifndef DW_T2
#define DW_T2 DW_T
#endif

AI void dw3_tile(const kctx *k, const float *x, const vf *wt, vf bv, int64_t ih0, int64_t i0, int64_t i1, int64_t ow,
                 float *y, const float *z, vf lo, vf hi, const int T, const int S) {
    const lr_bconv *g = k->g;
    vf acc[DW_T];
    for (int q = 0; q < T; ++q) acc[q] = bv;
    for (int i = 0; i < 3; ++i) {
        if (i < i0 || i >= i1) continue;
        const float *xr = x + ((ih0 + i) * g->w + ow * S - g->pw) * VL;
        vf xv[(DW_T - 1) * 2 + 3];
        for (int p = 0; p < (T - 1) * S + 3; ++p) xv[p] = ld(xr + p * VL);
        for (int q = 0; q < T; ++q)
            for (int j = 0; j < 3; ++j) acc[q] += xv[q * S + j] * wt[i * 3 + j];
    }
    for (int q = 0; q < T; ++q) {
        vf v = acc[q];
        if (z) v += ld(z + (ow + q) * VL);
        st(y + (ow + q) * VL, vmin(vmax(v, lo), hi));
    }
}

AI void dw3_row(const kctx *k, const float *x, const float *w, vf bv, int64_t oh, float *y, const float *z, int64_t lo_ow,
                int64_t hi_ow, vf lo, vf hi, const int S) {
    const lr_bconv *g = k->g;
    vf wt[9];
    for (int q = 0; q < 9; ++q) wt[q] = ld(w + q * VL);
    int64_t ih0 = oh * S - g->ph, i0 = ih0 < 0 ? -ih0 : 0, i1 = ih0 + 3 > g->h ? g->h - ih0 : 3;
    const int TT = S == 1 ? DW_T : DW_T2;
    for (int64_t ow = 0; ow < g->ow;) {
        if (ow >= lo_ow && ow + TT - 1 <= hi_ow) {
            dw3_tile(k, x, wt, bv, ih0, i0, i1, ow, y, z, lo, hi, TT, S);
            ow += TT;
        } else if (ow >= lo_ow && ow <= hi_ow) {
            dw3_tile(k, x, wt, bv, ih0, i0, i1, ow, y, z, lo, hi, 1, S);
            ++ow;
        } else { /* a border pixel */
            vf acc = bv;
            int64_t iw0 = ow * S - g->pw;
            for (int i = 0; i < 3; ++i) {
                if (i < i0 || i >= i1) continue;
                for (int j = 0; j < 3; ++j) {
                    int64_t iw = iw0 + j;
                    if (iw < 0 || iw >= g->w) continue;
                    acc += ld(x + ((ih0 + i) * g->w + iw) * VL) * wt[i * 3 + j];
                }
            }
            if (z) acc += ld(z + ow * VL);
            st(y + ow * VL, vmin(vmax(acc, lo), hi));
            ++ow;
        }
    }
}

static void dw_row_task(const kctx *k, int64_t t);

/* Tasks of k->pairs rows (reused as rows per task): a 7x7 plane is one task, not 7 claims. */
static void dw_task(void *vctx, int64_t t, int thread) {
    const kctx *k = vctx;
    const lr_bconv *g = k->g;
    int64_t chunks = (g->oh + k->pairs - 1) / k->pairs, r0 = t % chunks * k->pairs, plane = t / chunks;
    int64_t r1 = r0 + k->pairs < g->oh ? r0 + k->pairs : g->oh;
    for (int64_t r = r0; r < r1; ++r) dw_row_task(k, plane * g->oh + r);
    (void)thread;
}

static void dw_row_task(const kctx *k, int64_t t) {
    const lr_bconv *g = k->g;
    int64_t oh = t % g->oh, cb = t / g->oh % g->cb, n = t / g->oh / g->cb, khw = g->kh * g->kw;
    const float *x = k->x + (n * g->cb + cb) * g->h * g->w * VL, *w = k->w + cb * khw * VL;
    int64_t off = ((n * g->cb + cb) * g->oh + oh) * g->ow * VL;
    float *y = k->y + off;
    const float *z = k->z ? k->z + off : NULL;
    const vf lo = splat(g->lo), hi = splat(g->hi), bv = ld(k->w + g->cb * khw * VL + cb * VL);
    int64_t ih0 = oh * g->sh - g->ph, i0 = ih0 < 0 ? -ih0 : 0, i1 = ih0 + g->kh > g->h ? g->h - ih0 : g->kh;
    /* interior columns: every tap inside the row */
    int64_t lo_ow = (g->pw + g->sw - 1) / g->sw, hi_ow = g->w + g->pw - g->kw < 0 ? -1 : (g->w + g->pw - g->kw) / g->sw;
    if (hi_ow >= g->ow) hi_ow = g->ow - 1;
    if (g->kh == 3 && g->kw == 3 && g->sh == g->sw && (g->sw == 1 || g->sw == 2)) {
        if (g->sw == 1) dw3_row(k, x, w, bv, oh, y, z, lo_ow, hi_ow, lo, hi, 1);
        else dw3_row(k, x, w, bv, oh, y, z, lo_ow, hi_ow, lo, hi, 2);
        if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, g->ow * VL);
        return;
    }
    for (int64_t ow = 0; ow < g->ow;) {
        if (ow >= lo_ow && ow + 3 <= hi_ow) { /* 4 pixels, no bounds */
            vf a0 = bv, a1 = bv, a2 = bv, a3 = bv;
            for (int64_t i = i0; i < i1; ++i) {
                const float *xr = x + ((ih0 + i) * g->w + ow * g->sw - g->pw) * VL, *wr = w + i * g->kw * VL;
                for (int64_t j = 0; j < g->kw; ++j) {
                    vf wv = ld(wr + j * VL);
                    const float *xp = xr + j * VL;
                    a0 += ld(xp) * wv;
                    a1 += ld(xp + g->sw * VL) * wv;
                    a2 += ld(xp + 2 * g->sw * VL) * wv;
                    a3 += ld(xp + 3 * g->sw * VL) * wv;
                }
            }
            vf a[4] = {a0, a1, a2, a3};
            for (int q = 0; q < 4; ++q) {
                if (z) a[q] += ld(z + (ow + q) * VL);
                st(y + (ow + q) * VL, vmin(vmax(a[q], lo), hi));
            }
            ow += 4;
            continue;
        }
        vf acc = bv;
        int64_t iw0 = ow * g->sw - g->pw;
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = 0; j < g->kw; ++j) {
                int64_t iw = iw0 + j;
                if (iw < 0 || iw >= g->w) continue;
                acc += ld(x + ((ih0 + i) * g->w + iw) * VL) * ld(w + (i * g->kw + j) * VL);
            }
        if (z) acc += ld(z + ow * VL);
        st(y + ow * VL, vmin(vmax(acc, lo), hi));
        ++ow;
    }
    if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, g->ow * VL);
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES) || n->op != LR_OP_BLOCKED_CONV || n->ints[9] != VL) return false;
    if (lr_min(m, n, 1)->kind != LR_KIND_CONST || (n->n_in > 2 && lr_min(m, n, 2)->kind != LR_KIND_CONST)) return false;
    return true;
}

static bool needs_pad(const lr_bconv *g) { return !g->depthwise && (g->ph || g->pw); }
/* A plain (stem) input pads per output row into a per-thread strip instead of a padded copy. */
static bool uses_strips(const lr_bconv *g) { return needs_pad(g) && g->plain_in; }
static int64_t strip_floats(const lr_bconv *g) { return (g->c * g->kh * (g->w + 2 * g->pw) + 15) / 16 * 16; }

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    size_t f = (n->packed ? 0 : lr_bconv_packed_floats(&g) + 16);
    if (uses_strips(&g)) f += (size_t)((threads > 0 ? threads : 1) * strip_floats(&g));
    else if (needs_pad(&g)) f += lr_bconv_padded_floats(&g);
    return f * sizeof(float);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_bconv g;
    lr_bconv_of(ctx->model, n, &g);
    float *ws = ctx->workspace;
    const float *w = lr_bconv_weights(ctx, n, &g, &ws); /* weight preprocess off: packed in this run */
    kctx k = {&g, lr_in(ctx, n, 0)->data, g.h, g.w, w, NULL, n->n_in > 3 ? lr_in(ctx, n, 3)->data : NULL,
              lr_out(ctx, n, 0)->data, (g.ocb + 1) / 2};
    if (g.depthwise) {
        int64_t threads = ctx->threads > 0 ? ctx->threads : 1, rows = 512 / g.ow, planes = g.n * g.cb;
        rows = rows < 1 ? 1 : rows > g.oh ? g.oh : rows;
        while (rows > 1 && planes * ((g.oh + rows - 1) / rows) < 8 * threads) rows = (rows + 1) / 2;
        k.pairs = rows;
        lr_parallel_for(ctx->pool, planes * ((g.oh + rows - 1) / rows), dw_task, &k);
        return LR_OK;
    }
    if (uses_strips(&g)) {
        k.strips = ws, k.strip_floats = strip_floats(&g);
    } else if (needs_pad(&g)) {
        lr_bconv_pad_input(ctx, &g, k.x, ws);
        k.x = ws;
        k.hp = g.h + 2 * g.ph, k.wp = g.w + 2 * g.pw;
    }
    if (is_pointwise(&g)) {
        run_pointwise(ctx, &k);
        return LR_OK;
    }
    lr_parallel_for(ctx->pool, g.n * k.pairs * g.oh, dense_task, &k);
    return LR_OK;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    double macs = (double)g.n * g.ocb * VL * g.oh * g.ow * g.kh * g.kw * (g.depthwise ? 1 : g.c);
    return macs / (g.depthwise ? 4.0 : 40.0) / (threads > 0 ? threads : 1);
}

const lr_algo CAT(lr_algo_blocked_conv_direct_f32_, SUFFIX) = {"blocked_conv_direct_f32_" SUFFIX_STR, LR_OP_BLOCKED_CONV,
                                                               usable, workspace, lr_bconv_prepare_packed, run, 0, 0, cost};
