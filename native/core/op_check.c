/* op_check.c: operator semantics (docs/ir.md) re-checked in C on untrusted bytes.
 *
 * Every node's input count, dtypes, attribute counts and ranges are checked and its output shapes
 * re-inferred and compared with the declared ones, so kernels can trust every size they read.
 */
#include <string.h>

#include "elemwise_modes.h"
#include "model.h"

#define ATTR_MAX ((int64_t)1 << 20) /* strides, pads, dilations, windows */

static const char *op_names[LR_OP_COUNT] = {
    "Conv", "Deconv", "Elemwise", "PowC", "TypeCvt", "Reduce", "Reshape", "Broadcast", "Transpose", "Concat",
    "Slice", "Padding", "MatMul", "BatchedMatMul", "Pooling", "Resize", "LayerNorm", "Softmax", "Argmax",
    "Argmin", "Argsort", "TopK", "IndexingOneHot", "IndexingSetOneHot", "Cumsum", "WarpPerspective",
    "BatchNorm", "Linspace"};

static const char *fused_op_names[] = {"FusedElemwise", "FusedSoftmax", "FusedLayerNorm", "FusedMean"};
static const char *layout_op_names[] = {"Relayout", "BlockedConv", "BlockedPooling"};

const char *lr_op_name(int op) {
    if (op >= LR_OP_FUSED_ELEMWISE && op <= LR_OP_FUSED_MEAN) return fused_op_names[op - LR_OP_FUSED_ELEMWISE];
    if (lr_op_is_layout(op)) return layout_op_names[op - LR_OP_RELAYOUT];
    return op >= 0 && op < LR_OP_COUNT ? op_names[op] : "?";
}

typedef struct chk {
    const lr_model *m;
    const lr_node *n;
    int index;
} chk;

#define BAD(...) lr_fail(LR_ERR_FORMAT, __VA_ARGS__)
#define PFX "node %d (%s): "
#define ARGS c->index, lr_op_name(c->n->op)

static const lr_tensor *IN(const chk *c, int i) { return &c->m->tensors[c->n->in[i]]; }
static const lr_tensor *OUT(const chk *c, int i) { return &c->m->tensors[c->n->out[i]]; }

static lr_status counts(const chk *c, int in_lo, int in_hi, int n_out, int n_ints, int n_floats) {
    const lr_node *n = c->n;
    if (n->n_in < in_lo || n->n_in > in_hi) return BAD(PFX "takes %d..%d inputs, has %d", ARGS, in_lo, in_hi, n->n_in);
    if (n_out >= 0 && n->n_out != n_out) return BAD(PFX "has %d outputs, expected %d", ARGS, n->n_out, n_out);
    if (n_ints >= 0 && n->n_ints != n_ints) return BAD(PFX "has %d int attributes, expected %d", ARGS, n->n_ints, n_ints);
    if (n_floats >= 0 && n->n_floats != n_floats)
        return BAD(PFX "has %d float attributes, expected %d", ARGS, n->n_floats, n_floats);
    return LR_OK;
}

static lr_status want_out(const chk *c, int i, lr_dtype dt, int ndim, const int64_t *dims) {
    const lr_tensor *o = OUT(c, i);
    if (o->dtype != dt) return BAD(PFX "output %d is %s, expected %s", ARGS, i, lr_dtype_name(o->dtype), lr_dtype_name(dt));
    if (o->ndim != ndim) return BAD(PFX "output %d has %d dims, expected %d", ARGS, i, o->ndim, ndim);
    for (int d = 0; d < ndim; ++d)
        if (o->dims[d] != dims[d])
            return BAD(PFX "output %d dim %d is %lld, expected %lld", ARGS, i, d, (long long)o->dims[d], (long long)dims[d]);
    return LR_OK;
}

static lr_status want_same(const chk *c, int out, const lr_tensor *t) { return want_out(c, out, t->dtype, t->ndim, t->dims); }

static lr_status float32_only(const chk *c, int n_in) {
    for (int i = 0; i < n_in && i < c->n->n_in; ++i)
        if (IN(c, i)->dtype != LR_FLOAT32)
            return lr_fail(LR_ERR_UNSUPPORTED, PFX "input %d is %s; only float32 is supported", ARGS, i,
                           lr_dtype_name(IN(c, i)->dtype));
    return LR_OK;
}

static bool in_range(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; }

/* numpy broadcasting of `t` onto (ndim, dims): right-aligned, each dim equal or 1. */
static bool broadcasts_to(const lr_tensor *t, int ndim, const int64_t *dims) {
    if (t->ndim > ndim) return false;
    for (int i = 0; i < t->ndim; ++i) {
        int64_t d = t->dims[t->ndim - 1 - i], o = dims[ndim - 1 - i];
        if (d != 1 && d != o) return false;
    }
    return true;
}

#define TRY(x) do { lr_status s_ = (x); if (s_ != LR_OK) return s_; } while (0)

static int64_t floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static lr_status check_conv(const chk *c, bool deconv) {
    /* Conv nonlinearity CLAMP (4) carries floats lo <= hi (the compile pass's folded MAX/MIN) */
    bool clamp = !deconv && c->n->n_ints == 9 && c->n->ints[8] == 4;
    TRY(counts(c, 2, deconv ? 2 : 4, 1, deconv ? 8 : 9, clamp ? 2 : 0));
    if (clamp && !(c->n->floats[0] <= c->n->floats[1])) return BAD(PFX "CLAMP needs lo <= hi (not NaN)", ARGS);
    TRY(float32_only(c, c->n->n_in));
    const lr_tensor *x = IN(c, 0), *w = IN(c, 1);
    if (x->ndim != 4 || w->ndim != 4) return BAD(PFX "needs a 4-d input and a 4-d filter", ARGS);
    const int64_t *a = c->n->ints;
    int64_t sh = a[0], sw = a[1], ph = a[2], pw = a[3], dh = a[4], dw = a[5], g = a[6];
    if (!in_range(sh, 1, ATTR_MAX) || !in_range(sw, 1, ATTR_MAX) || !in_range(dh, 1, ATTR_MAX) ||
        !in_range(dw, 1, ATTR_MAX) || !in_range(ph, 0, ATTR_MAX) || !in_range(pw, 0, ATTR_MAX) || !in_range(g, 1, 1 << 30) ||
        !in_range(a[7], 0, 1) || (!deconv && !in_range(a[8], 0, 4)))
        return BAD(PFX "bad stride/pad/dilation/group/flip/nonlinearity attributes", ARGS);
    int64_t n = x->dims[0], ch = x->dims[1], h = x->dims[2], wd = x->dims[3];
    int64_t kh = w->dims[2], kw = w->dims[3], oc, oh, ow;
    if (!deconv) {
        oc = w->dims[0];
        if (ch != w->dims[1] * g || oc % g) return BAD(PFX "input channels %lld do not fit the filter with %lld groups", ARGS, (long long)ch, (long long)g);
        oh = floordiv(h + 2 * ph - dh * (kh - 1) - 1, sh) + 1;
        ow = floordiv(wd + 2 * pw - dw * (kw - 1) - 1, sw) + 1;
    } else {
        if (ch != w->dims[0] || ch % g) return BAD(PFX "input channels %lld do not fit the filter with %lld groups", ARGS, (long long)ch, (long long)g);
        oc = w->dims[1] * g;
        oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + 1;
        ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + 1;
    }
    if (oh < 1 || ow < 1) return BAD(PFX "the filter does not fit the input", ARGS);
    int64_t out[4] = {n, oc, oh, ow};
    for (int i = 2; i < c->n->n_in; ++i)
        if (!broadcasts_to(IN(c, i), 4, out)) return BAD(PFX "bias/residual does not broadcast to the output", ARGS);
    return want_out(c, 0, LR_FLOAT32, 4, out);
}

static lr_status check_elemwise(const chk *c) {
    TRY(counts(c, 1, 4, 1, 1, 0));
    int64_t mode = c->n->ints[0];
    int arity = lr_elemwise_arity(mode);
    if (arity == 0) return lr_fail(LR_ERR_UNSUPPORTED, PFX "elementwise mode %lld is not supported", ARGS, (long long)mode);
    if (c->n->n_in != arity) return BAD(PFX "mode %s takes %d inputs", ARGS, lr_elemwise_mode_name((int)mode), arity);
    lr_dtype dt = IN(c, 0)->dtype;
    int ndim = 0;
    int64_t dims[LR_MAX_NDIM];
    for (int i = 0; i < arity; ++i) {
        const lr_tensor *t = IN(c, i);
        if (t->dtype != dt) return BAD(PFX "inputs have different dtypes", ARGS);
        if (t->ndim > ndim) ndim = t->ndim;
    }
    for (int d = 0; d < ndim; ++d) dims[d] = 1;
    for (int i = 0; i < arity; ++i) {
        const lr_tensor *t = IN(c, i);
        for (int k = 0; k < t->ndim; ++k) {
            int64_t *o = &dims[ndim - t->ndim + k], v = t->dims[k];
            if (*o == 1) *o = v;
            else if (v != 1 && v != *o) return BAD(PFX "input shapes do not broadcast", ARGS);
        }
    }
    if (lr_elemwise_int_only((int)mode) && lr_dtype_is_float(dt)) return BAD(PFX "mode needs integer inputs", ARGS);
    return want_out(c, 0, lr_elemwise_bool_result((int)mode) ? LR_BOOL : dt, ndim, dims);
}

static lr_status check_fused(const chk *c);
static lr_status check_layout(const chk *c);

static lr_status check_node(const chk *c) {
    const lr_node *n = c->n;
    const int64_t *a = n->ints;
    if (n->n_in < 1 || n->n_out < 1) return BAD(PFX "needs at least one input and one output", ARGS);
    const lr_tensor *x = IN(c, 0);
    int64_t dims[LR_MAX_NDIM];
    switch (n->op) {
    case LR_OP_CONV: return check_conv(c, false);
    case LR_OP_DECONV: return check_conv(c, true);
    case LR_OP_ELEMWISE: return check_elemwise(c);
    case LR_OP_POWC:
        TRY(counts(c, 1, 1, 1, 0, 1));
        TRY(float32_only(c, 1));
        return want_same(c, 0, x);
    case LR_OP_TYPECVT:
        TRY(counts(c, 1, 1, 1, 1, 0));
        if (!in_range(a[0], 0, 6)) return BAD(PFX "bad dtype code", ARGS);
        return want_out(c, 0, (lr_dtype)a[0], x->ndim, x->dims);
    case LR_OP_REDUCE: {
        TRY(counts(c, 1, 1, 1, -1, 0));
        if (n->n_ints < 1 || n->n_ints - 1 > x->ndim || !in_range(a[0], 0, 5)) return BAD(PFX "bad mode/axes", ARGS);
        memcpy(dims, x->dims, sizeof dims);
        for (int i = 1; i < n->n_ints; ++i) {
            if (!in_range(a[i], 0, x->ndim - 1)) return BAD(PFX "axis %lld out of range", ARGS, (long long)a[i]);
            dims[a[i]] = 1;
        }
        return want_out(c, 0, x->dtype, x->ndim, dims);
    }
    case LR_OP_RESHAPE: case LR_OP_BROADCAST: {
        TRY(counts(c, 1, 1, 1, -1, 0));
        if (n->n_ints < 1 || n->n_ints > LR_MAX_NDIM) return BAD(PFX "bad target shape", ARGS);
        for (int i = 0; i < n->n_ints; ++i) {
            if (a[i] < 1) return BAD(PFX "bad target shape", ARGS);
            dims[i] = a[i];
        }
        TRY(want_out(c, 0, x->dtype, n->n_ints, dims));
        if (n->op == LR_OP_RESHAPE && OUT(c, 0)->numel != x->numel) return BAD(PFX "element counts differ", ARGS);
        if (n->op == LR_OP_BROADCAST && !broadcasts_to(x, n->n_ints, dims)) return BAD(PFX "input does not broadcast", ARGS);
        return LR_OK;
    }
    case LR_OP_TRANSPOSE: {
        TRY(counts(c, 1, 1, 1, x->ndim, 0));
        int seen = 0;
        for (int i = 0; i < x->ndim; ++i) {
            if (!in_range(a[i], 0, x->ndim - 1) || (seen >> a[i]) & 1) return BAD(PFX "not a permutation", ARGS);
            seen |= 1 << a[i];
            dims[i] = x->dims[a[i]];
        }
        return want_out(c, 0, x->dtype, x->ndim, dims);
    }
    case LR_OP_CONCAT: {
        TRY(counts(c, 1, 1 << 20, 1, 1, 0));
        if (!in_range(a[0], 0, x->ndim - 1)) return BAD(PFX "axis out of range", ARGS);
        memcpy(dims, x->dims, sizeof dims);
        dims[a[0]] = 0;
        for (int i = 0; i < n->n_in; ++i) {
            const lr_tensor *t = IN(c, i);
            if (t->ndim != x->ndim || t->dtype != x->dtype) return BAD(PFX "inputs differ in rank or dtype", ARGS);
            for (int d = 0; d < x->ndim; ++d)
                if (d != a[0] && t->dims[d] != x->dims[d]) return BAD(PFX "inputs differ off the axis", ARGS);
            dims[a[0]] += t->dims[a[0]];
            if (dims[a[0]] > ((int64_t)1 << 40)) return BAD(PFX "output too large", ARGS);
        }
        return want_out(c, 0, x->dtype, x->ndim, dims);
    }
    case LR_OP_SLICE: {
        TRY(counts(c, 1, 1, 1, 3 * x->ndim, 0));
        for (int d = 0; d < x->ndim; ++d) {
            int64_t s = a[d], e = a[x->ndim + d], st = a[2 * x->ndim + d], len = x->dims[d], cnt;
            if (st == 0 || !in_range(st, -((int64_t)1 << 40), (int64_t)1 << 40) || !in_range(s, 0, len) || !in_range(e, -1, len))
                return BAD(PFX "bounds out of range on axis %d", ARGS, d);
            cnt = st > 0 ? (e > s ? (e - s + st - 1) / st : 0) : (s > e ? (s - e + (-st) - 1) / (-st) : 0);
            if (cnt < 1) return BAD(PFX "empty result on axis %d", ARGS, d);
            int64_t last = s + (cnt - 1) * st;
            if (s >= len || last < 0 || last >= len) return BAD(PFX "reads outside axis %d", ARGS, d);
            dims[d] = cnt;
        }
        return want_out(c, 0, x->dtype, x->ndim, dims);
    }
    case LR_OP_PADDING: {
        TRY(counts(c, 1, 1, 1, 1 + 2 * x->ndim, 1));
        if (!in_range(a[0], 0, 2)) return BAD(PFX "bad mode", ARGS);
        for (int d = 0; d < x->ndim; ++d) {
            int64_t f = a[1 + d], b = a[1 + x->ndim + d];
            if (!in_range(f, 0, (int64_t)1 << 36) || !in_range(b, 0, (int64_t)1 << 36)) return BAD(PFX "bad padding", ARGS);
            dims[d] = x->dims[d] + f + b;
        }
        return want_out(c, 0, x->dtype, x->ndim, dims);
    }
    case LR_OP_MATMUL: case LR_OP_BATCHED_MATMUL: {
        TRY(counts(c, 2, 2, 1, 2, 0));
        TRY(float32_only(c, 2));
        const lr_tensor *b = IN(c, 1);
        if (!in_range(a[0], 0, 1) || !in_range(a[1], 0, 1)) return BAD(PFX "bad transpose flags", ARGS);
        int nd = x->ndim;
        if (n->op == LR_OP_MATMUL ? (nd != 2 || b->ndim != 2) : (nd < 3 || b->ndim != nd))
            return BAD(PFX "input ranks do not fit", ARGS);
        for (int d = 0; d < nd - 2; ++d) {
            if (x->dims[d] != b->dims[d]) return BAD(PFX "batch shapes differ", ARGS);
            dims[d] = x->dims[d];
        }
        int64_t m = a[0] ? x->dims[nd - 1] : x->dims[nd - 2], k = a[0] ? x->dims[nd - 2] : x->dims[nd - 1];
        int64_t k2 = a[1] ? b->dims[nd - 1] : b->dims[nd - 2], nn = a[1] ? b->dims[nd - 2] : b->dims[nd - 1];
        if (k != k2) return BAD(PFX "inner dimensions differ", ARGS);
        dims[nd - 2] = m;
        dims[nd - 1] = nn;
        return want_out(c, 0, LR_FLOAT32, nd, dims);
    }
    case LR_OP_POOLING: {
        TRY(counts(c, 1, 1, 1, 7, 0));
        TRY(float32_only(c, 1));
        if (x->ndim != 4) return BAD(PFX "needs a 4-d input", ARGS);
        int64_t wh = a[1], ww = a[2], sh = a[3], sw = a[4], ph = a[5], pw = a[6];
        if (!in_range(a[0], 0, 2) || !in_range(wh, 1, ATTR_MAX) || !in_range(ww, 1, ATTR_MAX) || !in_range(sh, 1, ATTR_MAX) ||
            !in_range(sw, 1, ATTR_MAX) || !in_range(ph, 0, wh - 1) || !in_range(pw, 0, ww - 1))
            return BAD(PFX "bad window/stride/pad", ARGS);
        int64_t out[4] = {x->dims[0], x->dims[1], floordiv(x->dims[2] + 2 * ph - wh, sh) + 1, floordiv(x->dims[3] + 2 * pw - ww, sw) + 1};
        if (out[2] < 1 || out[3] < 1) return BAD(PFX "window larger than the input", ARGS);
        return want_out(c, 0, LR_FLOAT32, 4, out);
    }
    case LR_OP_RESIZE: {
        TRY(counts(c, 1, 1, 1, 3, 0));
        TRY(float32_only(c, 1));
        if (x->ndim != 4 || !in_range(a[0], 0, 1) || a[1] < 1 || a[2] < 1) return BAD(PFX "bad input rank/mode/size", ARGS);
        int64_t out[4] = {x->dims[0], x->dims[1], a[1], a[2]};
        return want_out(c, 0, LR_FLOAT32, 4, out);
    }
    case LR_OP_LAYERNORM: {
        TRY(counts(c, 1, 3, 3, 2, 1));
        TRY(float32_only(c, n->n_in));
        int64_t k = a[0];
        if (!in_range(k, 1, x->ndim) || !in_range(a[1], 0, 1)) return BAD(PFX "bad normalized_dim/affine", ARGS);
        if (a[1] ? n->n_in != 3 : (n->n_in != 1 && n->n_in != 3)) return BAD(PFX "affine needs weight and bias", ARGS);
        int64_t inner = 1;
        for (int d = x->ndim - (int)k; d < x->ndim; ++d) inner *= x->dims[d];
        for (int i = 1; i < n->n_in; ++i)
            if (IN(c, i)->numel != inner) return BAD(PFX "weight/bias size does not match", ARGS);
        TRY(want_same(c, 0, x));
        int nd = x->ndim - (int)k;
        if (nd == 0) { dims[0] = 1; nd = 1; } else memcpy(dims, x->dims, sizeof dims);
        TRY(want_out(c, 1, LR_FLOAT32, nd, dims));
        return want_out(c, 2, LR_FLOAT32, nd, dims);
    }
    case LR_OP_SOFTMAX:
        TRY(counts(c, 1, 1, 1, 1, 0));
        TRY(float32_only(c, 1));
        if (!in_range(a[0], 0, x->ndim - 1)) return BAD(PFX "axis out of range", ARGS);
        return want_same(c, 0, x);
    case LR_OP_ARGMAX: case LR_OP_ARGMIN:
        TRY(counts(c, 1, 1, 1, 1, 0));
        if (!in_range(a[0], 0, x->ndim - 1)) return BAD(PFX "axis out of range", ARGS);
        memcpy(dims, x->dims, sizeof dims);
        dims[a[0]] = 1;
        return want_out(c, 0, LR_INT32, x->ndim, dims);
    case LR_OP_ARGSORT:
        TRY(counts(c, 1, 1, 2, 1, 0));
        if (x->ndim != 2 || !in_range(a[0], 0, 1) || x->dims[1] > INT32_MAX) return BAD(PFX "needs a 2-d input and an order", ARGS);
        TRY(want_same(c, 0, x));
        return want_out(c, 1, LR_INT32, 2, x->dims);
    case LR_OP_TOPK: {
        TRY(counts(c, 1, 1, -1, 2, 0));
        if (x->ndim != 2 || !in_range(a[1], 0, 2) || x->dims[1] > INT32_MAX) return BAD(PFX "needs a 2-d input and a mode", ARGS);
        int64_t k = a[0] < 0 ? -a[0] : a[0];
        if (!in_range(k, 1, x->dims[1])) return BAD(PFX "k out of range", ARGS);
        if (a[1] == 0) {
            if (n->n_out != 1) return BAD(PFX "KTH_ONLY has one output", ARGS);
            return want_out(c, 0, x->dtype, 1, x->dims);
        }
        if (n->n_out != 2) return BAD(PFX "needs values and indices outputs", ARGS);
        dims[0] = x->dims[0];
        dims[1] = k;
        TRY(want_out(c, 0, x->dtype, 2, dims));
        return want_out(c, 1, LR_INT32, 2, dims);
    }
    case LR_OP_INDEXING_ONE_HOT: case LR_OP_INDEXING_SET_ONE_HOT: {
        bool set = n->op == LR_OP_INDEXING_SET_ONE_HOT;
        TRY(counts(c, set ? 3 : 2, set ? 3 : 2, 1, 1, 0));
        int64_t ax = a[0];
        const lr_tensor *idx = IN(c, 1);
        if (!in_range(ax, 0, x->ndim - 1) || idx->dtype != LR_INT32 || idx->ndim != x->ndim - 1)
            return BAD(PFX "bad axis or index tensor", ARGS);
        for (int d = 0, j = 0; d < x->ndim; ++d)
            if (d != ax && idx->dims[j++] != x->dims[d]) return BAD(PFX "index shape does not match", ARGS);
        memcpy(dims, x->dims, sizeof dims);
        dims[ax] = 1;
        if (!set) return want_out(c, 0, x->dtype, x->ndim, dims);
        const lr_tensor *v = IN(c, 2);
        if (v->dtype != x->dtype || v->ndim != x->ndim) return BAD(PFX "value tensor does not fit", ARGS);
        for (int d = 0; d < x->ndim; ++d)
            if (v->dims[d] != dims[d]) return BAD(PFX "value tensor does not fit", ARGS);
        return want_same(c, 0, x);
    }
    case LR_OP_CUMSUM:
        TRY(counts(c, 1, 1, 1, 3, 0));
        if (!in_range(a[0], 0, x->ndim - 1) || !in_range(a[1], 0, 1) || !in_range(a[2], 0, 1)) return BAD(PFX "bad attributes", ARGS);
        return want_same(c, 0, x);
    case LR_OP_WARP_PERSPECTIVE: {
        TRY(counts(c, 2, 2, 1, 4, 1));
        TRY(float32_only(c, 2));
        const lr_tensor *mat = IN(c, 1);
        if (x->ndim != 4 || mat->ndim != 3 || mat->dims[1] != 3 || mat->dims[2] != 3) return BAD(PFX "needs NCHW input and (N,3,3) matrices", ARGS);
        if (x->dims[0] != mat->dims[0] && x->dims[0] != 1) return BAD(PFX "batch of matrices does not match the input", ARGS);
        if (a[0] < 1 || a[1] < 1 || !in_range(a[2], 0, 1) || !in_range(a[3], 0, 4)) return BAD(PFX "bad size/modes", ARGS);
        int64_t out[4] = {mat->dims[0], x->dims[1], a[0], a[1]};
        return want_out(c, 0, LR_FLOAT32, 4, out);
    }
    case LR_OP_BATCHNORM:
        TRY(counts(c, 5, 5, 1, 0, 1));
        TRY(float32_only(c, 5));
        if (x->ndim < 2) return BAD(PFX "needs at least 2 dims", ARGS);
        for (int i = 1; i < 5; ++i) {
            const lr_tensor *p = IN(c, i);
            bool ok = p->numel == x->dims[1] && p->ndim <= x->ndim;
            for (int d = 0; d < p->ndim && ok; ++d) /* right-aligned on x: only axis 1 may differ from 1 */
                ok = p->dims[d] == 1 || d + (x->ndim - p->ndim) == 1;
            if (!ok) return lr_fail(LR_ERR_UNSUPPORTED, PFX "parameters must broadcast as (1, C, 1, ...)", ARGS);
        }
        return want_same(c, 0, x);
    case LR_OP_LINSPACE:
        TRY(counts(c, 2, 2, 1, 2, 0));
        if (a[0] < 1 || !in_range(a[1], 0, 1)) return BAD(PFX "bad num/endpoint", ARGS);
        dims[0] = a[0];
        return want_out(c, 0, LR_FLOAT32, 1, dims);
    case LR_OP_FUSED_ELEMWISE: case LR_OP_FUSED_SOFTMAX: case LR_OP_FUSED_LAYERNORM: case LR_OP_FUSED_MEAN:
        return check_fused(c);
    case LR_OP_RELAYOUT: case LR_OP_BLOCKED_CONV: case LR_OP_BLOCKED_POOLING:
        return check_layout(c);
    }
    return lr_fail(LR_ERR_UNSUPPORTED, PFX "unknown operator code", ARGS);
}

lr_status lr_check_node(const lr_model *m, const lr_node *n, int index) {
    chk c = {m, n, index};
    return check_node(&c);
}

/* ---- fused operators (docs/compiled-format.md "Fused programs"): every view, register, mode and
 * stride of the program is checked so the kernels (native/generic/fused_elemwise.c) can trust it. */

#define F_VIEW_INTS (2 + 2 * LR_MAX_NDIM)
#define F_MAX_VIEWS 16
#define F_MAX_REGS 32
#define F_MAX_INSTR 4096

static bool fused_mode_ok(int64_t mode) {
    int m = (int)mode;
    return lr_elemwise_arity(mode) > 0 && !lr_elemwise_bool_result(m) && !lr_elemwise_int_only(m) && m != LR_EW_NOT &&
           m != LR_EW_AND && m != LR_EW_OR && m != LR_EW_XOR;
}

/* The program at p (n ints, nf floats) over the first n_prog inputs; *numel: its element count. */
static lr_status check_program(const chk *c, const int64_t *p, int64_t n, int n_prog, int64_t nf, int n_outputs,
                               int64_t *numel) {
    if (n < 4) return BAD(PFX "program header missing", ARGS);
    int64_t nv = p[0], ni = p[1], nr = p[2], no = p[3];
    if (!in_range(nv, 1, F_MAX_VIEWS) || !in_range(ni, 0, F_MAX_INSTR) || !in_range(nr, nv, F_MAX_REGS) || no != n_outputs)
        return BAD(PFX "program header out of range (%lld views, %lld instructions, %lld registers, %lld outputs)", ARGS,
                   (long long)nv, (long long)ni, (long long)nr, (long long)no);
    if (n != 4 + nv * F_VIEW_INTS + ni * 7 + no) return BAD(PFX "program length does not match its header", ARGS);
    for (int i = 0; i < n_prog; ++i)
        if (IN(c, i)->dtype != LR_FLOAT32) return lr_fail(LR_ERR_UNSUPPORTED, PFX "program input %d is not float32", ARGS, i);
    int64_t total = -1;
    const int64_t *v = p + 4;
    for (int64_t k = 0; k < nv; ++k, v += F_VIEW_INTS) {
        if (!in_range(v[0], 0, n_prog - 1) || !in_range(v[1], 1, LR_MAX_NDIM)) return BAD(PFX "view %lld: bad input or rank", ARGS, (long long)k);
        const lr_tensor *t = IN(c, (int)v[0]);
        int64_t prod = 1, span = 0;
        for (int d = 0; d < LR_MAX_NDIM; ++d) {
            int64_t dim = v[2 + d], st = v[2 + LR_MAX_NDIM + d];
            if (d >= v[1]) {
                if (dim || st) return BAD(PFX "view %lld: unused dims are not zero", ARGS, (long long)k);
                continue;
            }
            if (!in_range(dim, 1, (int64_t)1 << 40) || !in_range(st, 0, t->numel)) return BAD(PFX "view %lld: bad dim/stride", ARGS, (long long)k);
            if (prod > ((int64_t)1 << 40) / dim) return BAD(PFX "view %lld: too many elements", ARGS, (long long)k);
            prod *= dim;
            if (st && dim - 1 > (t->numel - 1 - span) / st) return BAD(PFX "view %lld reads outside input %lld", ARGS, (long long)k, (long long)v[0]);
            span += (dim - 1) * st;
        }
        if (total >= 0 && prod != total) return BAD(PFX "views cover different element counts", ARGS);
        total = prod;
    }
    uint64_t defined = ((uint64_t)1 << nv) - 1;
    for (int64_t k = 0; k < ni; ++k, v += 7) {
        int64_t kind = v[0], arg = v[1], dst = v[2];
        int arity = 1;
        if (kind == 0) {
            if (!fused_mode_ok(arg)) return lr_fail(LR_ERR_UNSUPPORTED, PFX "instruction %lld: elementwise mode %lld cannot be fused", ARGS, (long long)k, (long long)arg);
            arity = lr_elemwise_arity(arg);
        } else if (kind == 1) {
            if (!in_range(arg, 0, nf - 1)) return BAD(PFX "instruction %lld: exponent index out of range", ARGS, (long long)k);
        } else if (kind == 2 || kind == 3) {
            if (arg != 0) return BAD(PFX "instruction %lld: argument must be 0", ARGS, (long long)k);
        } else {
            return BAD(PFX "instruction %lld: unknown kind %lld", ARGS, (long long)k, (long long)kind);
        }
        for (int s = 0; s < 4; ++s) {
            int64_t r = v[3 + s];
            if (s < arity ? !(in_range(r, 0, nr - 1) && ((defined >> r) & 1)) : r != -1)
                return BAD(PFX "instruction %lld: source %d reads an undefined register", ARGS, (long long)k, s);
        }
        if (!in_range(dst, nv, nr - 1)) return BAD(PFX "instruction %lld: destination register out of range", ARGS, (long long)k);
        defined |= (uint64_t)1 << dst;
    }
    uint64_t stored = 0;
    for (int64_t k = 0; k < no; ++k) {
        int64_t r = v[k];
        if (!in_range(r, nv, nr - 1) || !((defined >> r) & 1) || ((stored >> r) & 1))
            return BAD(PFX "output %lld: register not written by the program, or stored twice", ARGS, (long long)k);
        stored |= (uint64_t)1 << r;
    }
    *numel = total;
    return LR_OK;
}

static lr_status check_fused(const chk *c) {
    const lr_node *n = c->n;
    const int64_t *a = n->ints;
    int64_t numel;
    const lr_tensor *y = OUT(c, 0);
    switch (n->op) {
    case LR_OP_FUSED_ELEMWISE:
        TRY(check_program(c, a, n->n_ints, n->n_in, n->n_floats, n->n_out, &numel));
        for (int k = 0; k < n->n_out; ++k)
            if (OUT(c, k)->dtype != LR_FLOAT32 || OUT(c, k)->numel != numel) return BAD(PFX "output %d is not float32 of %lld elements", ARGS, k, (long long)numel);
        return LR_OK;
    case LR_OP_FUSED_SOFTMAX:
        if (n->n_out != 1 || n->n_ints < 1) return BAD(PFX "needs one output and an axis", ARGS);
        TRY(check_program(c, a + 1, n->n_ints - 1, n->n_in, n->n_floats, 1, &numel));
        if (y->dtype != LR_FLOAT32 || y->numel != numel || !in_range(a[0], 0, y->ndim - 1)) return BAD(PFX "bad output or axis", ARGS);
        return LR_OK;
    case LR_OP_FUSED_MEAN:
        if (n->n_out != 1 || n->n_ints < 1) return BAD(PFX "needs one output", ARGS);
        TRY(check_program(c, a + 1, n->n_ints - 1, n->n_in, n->n_floats, 1, &numel));
        if (y->dtype != LR_FLOAT32 || numel % y->numel || !in_range(a[0], 1, y->ndim)) return BAD(PFX "output does not divide the program's elements", ARGS);
        return LR_OK;
    default: { /* LR_OP_FUSED_LAYERNORM */
        if (n->n_out != 3 || n->n_ints < 2 || n->n_floats < 1 || !in_range(a[1], 0, 1)) return BAD(PFX "bad outputs/attributes", ARGS);
        int n_prog = n->n_in - 2 * (int)a[1];
        if (n_prog < 1) return BAD(PFX "affine needs weight and bias", ARGS);
        TRY(check_program(c, a + 2, n->n_ints - 2, n_prog, n->n_floats - 1, 1, &numel));
        if (y->dtype != LR_FLOAT32 || y->numel != numel || !in_range(a[0], 1, y->ndim)) return BAD(PFX "bad output or normalized_dim", ARGS);
        int64_t inner = 1, dims[LR_MAX_NDIM];
        for (int d = y->ndim - (int)a[0]; d < y->ndim; ++d) inner *= y->dims[d];
        for (int i = n_prog; i < n->n_in; ++i)
            if (IN(c, i)->dtype != LR_FLOAT32 || IN(c, i)->numel != inner) return BAD(PFX "weight/bias size does not match", ARGS);
        int nd = y->ndim - (int)a[0];
        if (nd == 0) { dims[0] = 1; nd = 1; } else memcpy(dims, y->dims, sizeof dims);
        TRY(want_out(c, 1, LR_FLOAT32, nd, dims));
        return want_out(c, 2, LR_FLOAT32, nd, dims);
    }
    }
}

/* ---- blocked layouts (docs/compiled-format.md "Blocked layouts"): blocks, ranks and channel
 * divisibility are checked so the kernels (native/generic/layout_blocked.c, native/x86/f32_conv_nchw{16,88}_*.c) can
 * trust every size. */

static bool block_ok(int64_t b) { return b == 4 || b == 8 || b == 16; }
static int64_t blocks_of(int64_t c, int64_t b) { return (c + b - 1) / b; }

static lr_status check_layout(const chk *c) {
    const lr_node *n = c->n;
    const int64_t *a = n->ints;
    const lr_tensor *x = IN(c, 0);
    int64_t dims[LR_MAX_NDIM];
    if (n->op == LR_OP_RELAYOUT) {
        TRY(counts(c, 1, 1, 1, 3, 0));
        TRY(float32_only(c, 1));
        int64_t b = a[0], ch = a[2];
        if (!block_ok(b) || !in_range(a[1], 0, 1) || !in_range(ch, 1, (int64_t)1 << 40)) return BAD(PFX "bad block/direction/channels", ARGS);
        if (a[1] == 0) {
            if (x->ndim != 4 || x->dims[1] != ch) return BAD(PFX "needs a 4-d input of %lld channels", ARGS, (long long)ch);
            int64_t out[5] = {x->dims[0], blocks_of(ch, b), x->dims[2], x->dims[3], b};
            return want_out(c, 0, LR_FLOAT32, 5, out);
        }
        if (x->ndim != 5 || x->dims[4] != b || blocks_of(ch, b) != x->dims[1]) return BAD(PFX "input is not %lld channels in blocks of %lld", ARGS, (long long)ch, (long long)b);
        int64_t out[4] = {x->dims[0], ch, x->dims[2], x->dims[3]};
        return want_out(c, 0, LR_FLOAT32, 4, out);
    }
    if (n->op == LR_OP_BLOCKED_POOLING) {
        TRY(counts(c, 1, 1, 1, 8, 0));
        TRY(float32_only(c, 1));
        if (x->ndim != 5 || !block_ok(a[7]) || x->dims[4] != a[7]) return BAD(PFX "needs a blocked 5-d input", ARGS);
        int64_t wh = a[1], ww = a[2], sh = a[3], sw = a[4], ph = a[5], pw = a[6];
        if (!in_range(a[0], 0, 2) || !in_range(wh, 1, ATTR_MAX) || !in_range(ww, 1, ATTR_MAX) || !in_range(sh, 1, ATTR_MAX) ||
            !in_range(sw, 1, ATTR_MAX) || !in_range(ph, 0, wh - 1) || !in_range(pw, 0, ww - 1))
            return BAD(PFX "bad window/stride/pad", ARGS);
        int64_t out[5] = {x->dims[0], x->dims[1], floordiv(x->dims[2] + 2 * ph - wh, sh) + 1, floordiv(x->dims[3] + 2 * pw - ww, sw) + 1, a[7]};
        if (out[2] < 1 || out[3] < 1) return BAD(PFX "window larger than the input", ARGS);
        return want_out(c, 0, LR_FLOAT32, 5, out);
    }
    /* BlockedConv: Conv's 9 ints + block; CLAMP carries lo <= hi */
    bool clamp = n->n_ints == 10 && a[8] == 4;
    TRY(counts(c, 2, 4, 1, 10, clamp ? 2 : 0));
    TRY(float32_only(c, n->n_in));
    if (clamp && !(n->floats[0] <= n->floats[1])) return BAD(PFX "CLAMP needs lo <= hi (not NaN)", ARGS);
    const lr_tensor *w = IN(c, 1);
    int64_t sh = a[0], sw = a[1], ph = a[2], pw = a[3], g = a[6], b = a[9];
    if (!in_range(sh, 1, ATTR_MAX) || !in_range(sw, 1, ATTR_MAX) || a[4] != 1 || a[5] != 1 || !in_range(ph, 0, ATTR_MAX) ||
        !in_range(pw, 0, ATTR_MAX) || !in_range(g, 1, 1 << 30) || a[7] != 0 || !in_range(a[8], 0, 4) || !block_ok(b))
        return BAD(PFX "bad stride/pad/dilation/group/flip/nonlinearity/block attributes", ARGS);
    if (w->ndim != 4) return BAD(PFX "needs a 4-d filter", ARGS);
    int64_t oc = w->dims[0], icg = w->dims[1], kh = w->dims[2], kw = w->dims[3], ch = icg * g;
    if (g != 1 && !(g == ch && g == oc && icg == 1)) return BAD(PFX "group %lld is neither dense nor depthwise", ARGS, (long long)g);
    if (x->ndim == 5) {
        if (x->dims[4] != b || x->dims[1] != blocks_of(ch, b)) return BAD(PFX "input blocks do not fit %lld channels", ARGS, (long long)ch);
    } else if (x->ndim != 4 || g != 1 || x->dims[1] != ch) {
        return BAD(PFX "needs a blocked input, or a plain one with group 1 and %lld channels", ARGS, (long long)ch);
    }
    int64_t oh = floordiv(x->dims[2] + 2 * ph - (kh - 1) - 1, sh) + 1, ow = floordiv(x->dims[3] + 2 * pw - (kw - 1) - 1, sw) + 1;
    if (oh < 1 || ow < 1) return BAD(PFX "the filter does not fit the input", ARGS);
    int64_t out[5] = {x->dims[0], blocks_of(oc, b), oh, ow, b};
    if (n->n_in > 2 && IN(c, 2)->numel != oc) return BAD(PFX "bias is not one value per output channel", ARGS);
    if (n->n_in > 3) {
        const lr_tensor *z = IN(c, 3);
        if (z->ndim != 5) return BAD(PFX "residual is not the blocked output shape", ARGS);
        for (int d = 0; d < 5; ++d)
            if (z->dims[d] != out[d]) return BAD(PFX "residual is not the blocked output shape", ARGS);
    }
    memcpy(dims, out, sizeof out);
    return want_out(c, 0, LR_FLOAT32, 5, dims);
}
