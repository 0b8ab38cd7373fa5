/* tensor_copy.c: strided N-d copy with dim coalescing and a memcpy inner loop when contiguous. */
#include "tensor_copy.h"

#include <string.h>

#include "model.h"

void lr_contiguous_strides(const int64_t *shape, int ndim, int64_t *st) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; --d) {
        st[d] = s;
        s *= shape[d];
    }
}

static void copy_elems(uint8_t *d, int64_t ds, const uint8_t *s, int64_t ss, int64_t n, size_t esize) {
    if (ds == 1 && ss == 1) {
        memcpy(d, s, (size_t)n * esize);
        return;
    }
    switch (esize) {
    case 4: for (int64_t j = 0; j < n; ++j) memcpy(d + j * ds * 4, s + j * ss * 4, 4); break;
    case 2: for (int64_t j = 0; j < n; ++j) memcpy(d + j * ds * 2, s + j * ss * 2, 2); break;
    case 1: for (int64_t j = 0; j < n; ++j) d[j * ds] = s[j * ss]; break;
    default: for (int64_t j = 0; j < n; ++j) memcpy(d + j * ds * (int64_t)esize, s + j * ss * (int64_t)esize, esize); break;
    }
}

/* dst[i][j] (row stride dr, unit columns) = src[j][i] (row stride sr: source column j at j*sr, unit i)
 * for i < ni, j < nj: 16x16 tiles, so both sides touch whole cache lines. */
#define TILE 16
static void transpose2d_4(uint32_t *d, int64_t dr, const uint32_t *s, int64_t sr, int64_t ni, int64_t nj) {
    for (int64_t i0 = 0; i0 < ni; i0 += TILE) {
        int64_t i1 = i0 + TILE < ni ? i0 + TILE : ni;
        for (int64_t j0 = 0; j0 < nj; j0 += TILE) {
            int64_t j1 = j0 + TILE < nj ? j0 + TILE : nj;
            if (i1 - i0 == TILE && j1 - j0 == TILE) {
                for (int64_t i = i0; i < i0 + TILE; ++i)
                    for (int64_t j = j0; j < j0 + TILE; ++j) d[i * dr + j] = s[j * sr + i];
            } else {
                for (int64_t i = i0; i < i1; ++i)
                    for (int64_t j = j0; j < j1; ++j) d[i * dr + j] = s[j * sr + i];
            }
        }
    }
}

/* Steps the multi-index idx[0..top] (top fastest) and both element offsets by one, like an odometer. */
static inline void odometer(int64_t *idx, const int64_t *sh, const int64_t *ds, const int64_t *ss, int top, int64_t *doff,
                            int64_t *soff) {
    for (int d = top; d >= 0; --d) {
        *doff += ds[d];
        *soff += ss[d];
        if (++idx[d] < sh[d]) return;
        *doff -= ds[d] * sh[d];
        *soff -= ss[d] * sh[d];
        idx[d] = 0;
    }
}

void lr_copy_nd(void *dst, const int64_t *dst_st, const void *src, const int64_t *src_st, const int64_t *shape, int ndim,
                size_t esize) {
    int64_t sh[LR_MAX_NDIM], ds[LR_MAX_NDIM], ss[LR_MAX_NDIM];
    int k = 0;
    for (int d = 0; d < ndim; ++d) {
        if (shape[d] == 1) continue;
        if (k > 0 && ds[k - 1] == dst_st[d] * shape[d] && ss[k - 1] == src_st[d] * shape[d]) {
            sh[k - 1] *= shape[d];
            ds[k - 1] = dst_st[d];
            ss[k - 1] = src_st[d];
        } else {
            sh[k] = shape[d];
            ds[k] = dst_st[d];
            ss[k] = src_st[d];
            ++k;
        }
    }
    if (k == 0) {
        memcpy(dst, src, esize);
        return;
    }
    int64_t idx[LR_MAX_NDIM] = {0}, rows = 1;
    if (esize == 4 && k >= 2 && ds[k - 1] == 1 && ss[k - 1] != 1 && ss[k - 2] == 1 && sh[k - 1] >= 8 && sh[k - 2] >= 8) {
        /* a 2-d transpose per outer index: the source's unit dim is the destination's second-last */
        int64_t outer = 1, doff = 0, soff = 0;
        for (int d = 0; d < k - 2; ++d) outer *= sh[d];
        for (int64_t r = 0; r < outer; ++r) {
            transpose2d_4((uint32_t *)dst + doff, ds[k - 2], (const uint32_t *)src + soff, ss[k - 1], sh[k - 2], sh[k - 1]);
            odometer(idx, sh, ds, ss, k - 3, &doff, &soff);
        }
        return;
    }
    for (int d = 0; d < k - 1; ++d) rows *= sh[d];
    int64_t doff = 0, soff = 0;
    for (int64_t r = 0; r < rows; ++r) {
        copy_elems((uint8_t *)dst + doff * (int64_t)esize, ds[k - 1], (const uint8_t *)src + soff * (int64_t)esize, ss[k - 1],
                   sh[k - 1], esize);
        odometer(idx, sh, ds, ss, k - 2, &doff, &soff);
    }
}
