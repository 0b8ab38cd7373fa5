/* sort.c: Argsort and TopK per row: a stable merge sort of indices on float64 keys
 * (descending = ascending on the negated key, NaN last, like numpy's stable argsort). */
#include <math.h>
#include <string.h>

#include "kernels.h"

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

static bool key_less(double a, double b) { return isnan(b) ? !isnan(a) : a < b; }

static void merge_sort(int32_t *idx, int32_t *tmp, const double *key, int64_t n) {
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = key_less(key[idx[j]], key[idx[i]]) ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

static size_t ws(const lr_model *m, const lr_node *n, int threads) {
    (void)threads;
    int64_t cols = lr_min(m, n, 0)->dims[1];
    return (size_t)cols * (sizeof(double) + 2 * sizeof(int32_t)) + 64;
}

/* Sorts row r of x into idx by key (negated when `neg`). */
static void sort_row(const lr_tensor *x, int64_t r, bool neg, double *key, int32_t *idx, int32_t *tmp) {
    int64_t cols = x->dims[1];
    for (int64_t j = 0; j < cols; ++j) {
        double v = lr_load_f64(x->data, x->dtype, r * cols + j);
        key[j] = neg ? -v : v;
        idx[j] = (int32_t)j;
    }
    merge_sort(idx, tmp, key, cols);
}

static lr_status run_argsort(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *vals = lr_out(ctx, n, 0);
    int32_t *out_idx = lr_out(ctx, n, 1)->data;
    int64_t rows = x->dims[0], cols = x->dims[1];
    double *key = ctx->workspace;
    int32_t *idx = (int32_t *)(key + cols), *tmp = idx + cols;
    size_t es = lr_dtype_size(x->dtype);
    for (int64_t r = 0; r < rows; ++r) {
        sort_row(x, r, n->ints[0] == 1, key, idx, tmp);
        for (int64_t j = 0; j < cols; ++j) {
            memcpy((uint8_t *)vals->data + (size_t)(r * cols + j) * es, (const uint8_t *)x->data + (size_t)(r * cols + idx[j]) * es, es);
            out_idx[r * cols + j] = idx[j];
        }
    }
    return LR_OK;
}

static lr_status run_topk(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *vals = lr_out(ctx, n, 0);
    int32_t *out_idx = n->n_out > 1 ? lr_out(ctx, n, 1)->data : NULL;
    int64_t rows = x->dims[0], cols = x->dims[1], k = n->ints[0] < 0 ? -n->ints[0] : n->ints[0];
    bool kth = n->ints[1] == 0;
    double *key = ctx->workspace;
    int32_t *idx = (int32_t *)(key + cols), *tmp = idx + cols;
    size_t es = lr_dtype_size(x->dtype);
    for (int64_t r = 0; r < rows; ++r) {
        sort_row(x, r, n->ints[0] < 0, key, idx, tmp);
        const uint8_t *src = (const uint8_t *)x->data + (size_t)(r * cols) * es;
        if (kth) {
            memcpy((uint8_t *)vals->data + (size_t)r * es, src + (size_t)idx[k - 1] * es, es);
            continue;
        }
        for (int64_t j = 0; j < k; ++j) {
            memcpy((uint8_t *)vals->data + (size_t)(r * k + j) * es, src + (size_t)idx[j] * es, es);
            out_idx[r * k + j] = idx[j];
        }
    }
    return LR_OK;
}

const lr_algo lr_algo_argsort_merge = {"argsort_stable_merge", LR_OP_ARGSORT, any, ws, NULL, run_argsort, 0};
const lr_algo lr_algo_topk_merge = {"topk_stable_merge", LR_OP_TOPK, any, ws, NULL, run_topk, 0};
