/* data_movement.c: Reshape (when it cannot alias), Broadcast, Transpose, Concat, Slice, Padding,
 * IndexingOneHot, IndexingSetOneHot: dtype-agnostic byte movement over lr_copy_nd. */
#include <string.h>

#include "kernels.h"
#include "tensor_copy.h"

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

static lr_status run_reshape(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    if (y->data != x->data) memcpy(y->data, x->data, y->nbytes);
    return LR_OK;
}

static lr_status run_broadcast(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    int64_t ss[LR_MAX_NDIM], ds[LR_MAX_NDIM], s = 1;
    for (int d = y->ndim - 1; d >= 0; --d) {
        int xd = d - (y->ndim - x->ndim);
        int64_t dim = xd >= 0 ? x->dims[xd] : 1;
        ss[d] = dim == 1 ? 0 : s;
        s *= dim;
    }
    lr_contiguous_strides(y->dims, y->ndim, ds);
    lr_copy_nd(y->data, ds, x->data, ss, y->dims, y->ndim, lr_dtype_size(y->dtype));
    return LR_OK;
}

static lr_status run_transpose(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    int64_t xs[LR_MAX_NDIM], ss[LR_MAX_NDIM], ds[LR_MAX_NDIM];
    lr_contiguous_strides(x->dims, x->ndim, xs);
    for (int d = 0; d < y->ndim; ++d) ss[d] = xs[n->ints[d]];
    lr_contiguous_strides(y->dims, y->ndim, ds);
    lr_copy_nd(y->data, ds, x->data, ss, y->dims, y->ndim, lr_dtype_size(y->dtype));
    return LR_OK;
}

static lr_status run_concat(const lr_run_ctx *ctx, const lr_node *n) {
    lr_tensor *y = lr_out(ctx, n, 0);
    int ax = (int)n->ints[0];
    size_t es = lr_dtype_size(y->dtype);
    int64_t ds[LR_MAX_NDIM], xs[LR_MAX_NDIM], at = 0;
    lr_contiguous_strides(y->dims, y->ndim, ds);
    for (int i = 0; i < n->n_in; ++i) {
        const lr_tensor *x = lr_in(ctx, n, i);
        lr_contiguous_strides(x->dims, x->ndim, xs);
        lr_copy_nd((uint8_t *)y->data + (size_t)(at * ds[ax]) * es, ds, x->data, xs, x->dims, x->ndim, es);
        at += x->dims[ax];
    }
    return LR_OK;
}

static lr_status run_slice(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    int nd = x->ndim;
    int64_t xs[LR_MAX_NDIM], ss[LR_MAX_NDIM], ds[LR_MAX_NDIM], base = 0;
    lr_contiguous_strides(x->dims, nd, xs);
    for (int d = 0; d < nd; ++d) {
        base += n->ints[d] * xs[d];
        ss[d] = n->ints[2 * nd + d] * xs[d];
    }
    lr_contiguous_strides(y->dims, nd, ds);
    size_t es = lr_dtype_size(x->dtype);
    lr_copy_nd(y->data, ds, (const uint8_t *)x->data + (size_t)base * es, ss, y->dims, nd, es);
    return LR_OK;
}

/* numpy's pad index maps: edge (REPLICATE) and reflect (mirror without repeating the edge). */
static int64_t pad_index(int64_t i, int64_t size, int mode) {
    if (i >= 0 && i < size) return i;
    if (mode == 1 || size == 1) return i < 0 ? 0 : size - 1;
    int64_t period = 2 * (size - 1), j = i % period;
    if (j < 0) j += period;
    return j < size ? j : period - j;
}

static size_t padding_ws(const lr_model *m, const lr_node *n, int threads) {
    (void)threads;
    const lr_tensor *y = lr_mout(m, n, 0);
    size_t s = 0;
    for (int d = 0; d < y->ndim; ++d) s += (size_t)y->dims[d];
    return s * sizeof(int64_t);
}

static lr_status run_padding(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    int nd = x->ndim, mode = (int)n->ints[0];
    size_t es = lr_dtype_size(x->dtype);
    int64_t xs[LR_MAX_NDIM], ds[LR_MAX_NDIM];
    lr_contiguous_strides(x->dims, nd, xs);
    lr_contiguous_strides(y->dims, nd, ds);
    uint8_t *yd = y->data;
    if (mode == 0) {
        uint8_t v[8];
        lr_store_f64(v, y->dtype, 0, n->floats[0]);
        for (int64_t i = 0; i < y->numel; ++i) memcpy(yd + (size_t)i * es, v, es);
        int64_t off = 0;
        for (int d = 0; d < nd; ++d) off += n->ints[1 + d] * ds[d];
        lr_copy_nd(yd + (size_t)off * es, ds, x->data, xs, x->dims, nd, es);
        return LR_OK;
    }
    /* REPLICATE / REFLECT: per-axis source index tables, then a gather */
    int64_t *map[LR_MAX_NDIM], *w = ctx->workspace;
    for (int d = 0; d < nd; ++d) {
        map[d] = w;
        for (int64_t i = 0; i < y->dims[d]; ++i) w[i] = pad_index(i - n->ints[1 + d], x->dims[d], mode) * xs[d];
        w += y->dims[d];
    }
    int64_t idx[LR_MAX_NDIM] = {0}, inner = y->dims[nd - 1];
    const uint8_t *xd = x->data;
    for (int64_t o = 0; o < y->numel; o += inner) {
        int64_t base = 0;
        for (int d = 0; d < nd - 1; ++d) base += map[d][idx[d]];
        for (int64_t j = 0; j < inner; ++j) memcpy(yd + (size_t)(o + j) * es, xd + (size_t)(base + map[nd - 1][j]) * es, es);
        for (int d = nd - 2; d >= 0; --d) {
            if (++idx[d] < y->dims[d]) break;
            idx[d] = 0;
        }
    }
    return LR_OK;
}

/* (outer, axis, inner) view of x around `ax` */
static void split3(const lr_tensor *x, int ax, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < ax; ++d) *outer *= x->dims[d];
    for (int d = ax + 1; d < x->ndim; ++d) *inner *= x->dims[d];
    *len = x->dims[ax];
}

static lr_status run_one_hot(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *ix = lr_in(ctx, n, 1);
    lr_tensor *y = lr_out(ctx, n, 0);
    bool set = n->op == LR_OP_INDEXING_SET_ONE_HOT;
    int64_t outer, len, inner;
    split3(x, (int)n->ints[0], &outer, &len, &inner);
    size_t es = lr_dtype_size(x->dtype);
    const int32_t *idx = ix->data;
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    if (set && yd != xd) memcpy(yd, xd, y->nbytes);
    const uint8_t *vd = set ? lr_in(ctx, n, 2)->data : NULL;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            int64_t k = idx[o * inner + i];
            if (k < 0) k += len;
            if (k < 0 || k >= len)
                return lr_fail(LR_ERR_RUNTIME, "%s '%s': index %d out of range for an axis of %lld", lr_op_name(n->op), n->name,
                               idx[o * inner + i], (long long)len);
            size_t src = (size_t)((o * len + k) * inner + i), one = (size_t)(o * inner + i);
            if (set) memcpy(yd + src * es, vd + one * es, es);
            else memcpy(yd + one * es, xd + src * es, es);
        }
    return LR_OK;
}

const lr_algo lr_algo_reshape_copy = {"reshape_copy", LR_OP_RESHAPE, any, NULL, NULL, run_reshape, false};
const lr_algo lr_algo_broadcast_copy = {"broadcast_strided_copy", LR_OP_BROADCAST, any, NULL, NULL, run_broadcast, false};
const lr_algo lr_algo_transpose_copy = {"transpose_strided_copy", LR_OP_TRANSPOSE, any, NULL, NULL, run_transpose, false};
const lr_algo lr_algo_concat_copy = {"concat_strided_copy", LR_OP_CONCAT, any, NULL, NULL, run_concat, false};
const lr_algo lr_algo_slice_copy = {"slice_strided_copy", LR_OP_SLICE, any, NULL, NULL, run_slice, false};
const lr_algo lr_algo_padding_generic = {"padding_generic", LR_OP_PADDING, any, padding_ws, NULL, run_padding, false};
const lr_algo lr_algo_indexing_one_hot = {"indexing_one_hot_generic", LR_OP_INDEXING_ONE_HOT, any, NULL, NULL, run_one_hot, false};
const lr_algo lr_algo_indexing_set_one_hot = {"indexing_set_one_hot_generic", LR_OP_INDEXING_SET_ONE_HOT, any, NULL, NULL, run_one_hot, true};
