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
    for (int d = 0; d < k - 1; ++d) rows *= sh[d];
    int64_t doff = 0, soff = 0;
    for (int64_t r = 0; r < rows; ++r) {
        copy_elems((uint8_t *)dst + doff * (int64_t)esize, ds[k - 1], (const uint8_t *)src + soff * (int64_t)esize, ss[k - 1],
                   sh[k - 1], esize);
        for (int d = k - 2; d >= 0; --d) { /* odometer */
            doff += ds[d];
            soff += ss[d];
            if (++idx[d] < sh[d]) break;
            doff -= ds[d] * sh[d];
            soff -= ss[d] * sh[d];
            idx[d] = 0;
        }
    }
}
