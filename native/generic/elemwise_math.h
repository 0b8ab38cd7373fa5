/* elemwise_math.h: scalar definitions of every elementwise mode (docs/ir.md), in float32 for the
 * fast path and in float64 / int64 for the other dtypes. */
#ifndef LR_ELEMWISE_MATH_H
#define LR_ELEMWISE_MATH_H

#include <math.h>
#include <stdint.h>

#include "elemwise_modes.h"

static inline double lr_erfinv(double y) {
    if (!(y > -1.0 && y < 1.0)) return y == 1.0 ? INFINITY : y == -1.0 ? -INFINITY : NAN;
    double a = 0.147, ln = log1p(-y * y), t = 2.0 / (M_PI * a) + ln / 2.0;
    double x = copysign(sqrt(sqrt(t * t - ln / a) - t), y);
    for (int i = 0; i < 3; ++i) x -= (erf(x) - y) / (2.0 / sqrt(M_PI) * exp(-x * x));
    return x;
}

static inline double lr_relu6(double x) { return x < 0 ? 0 : x > 6 ? 6 : x; }
static inline double lr_softplus(double x) { return log1p(exp(-fabs(x))) + (x > 0 ? x : 0); }
static inline double lr_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Float-valued semantics of every mode (also used for integer dtypes where numpy computes in float). */
static inline double lr_ew_f64(int mode, double x, double y, double z, double w) {
    switch (mode) {
    case LR_EW_RELU: return x > 0 ? x : 0;
    case LR_EW_ABS: return fabs(x);
    case LR_EW_ACOS: return acos(x);
    case LR_EW_ASIN: return asin(x);
    case LR_EW_CEIL: return ceil(x);
    case LR_EW_COS: return cos(x);
    case LR_EW_EXP: return exp(x);
    case LR_EW_EXPM1: return expm1(x);
    case LR_EW_FLOOR: return floor(x);
    case LR_EW_LOG: return log(x);
    case LR_EW_LOG1P: return log1p(x);
    case LR_EW_NEGATE: return -x;
    case LR_EW_SIGMOID: return lr_sigmoid(x);
    case LR_EW_SIN: return sin(x);
    case LR_EW_TANH: return tanh(x);
    case LR_EW_FAST_TANH: return x * (27 + x * x) / (27 + 9 * x * x);
    case LR_EW_ROUND: return round(x);
    case LR_EW_ERF: return erf(x);
    case LR_EW_ERFINV: return lr_erfinv(x);
    case LR_EW_ERFC: return erfc(x);
    case LR_EW_ERFCINV: return lr_erfinv(1 - x);
    case LR_EW_H_SWISH: return x * lr_relu6(x + 3) / 6;
    case LR_EW_NOT: return !(x != 0);
    case LR_EW_SILU: return x * lr_sigmoid(x);
    case LR_EW_GELU: return x * 0.5 * (1 + erf(x / M_SQRT2));
    case LR_EW_ISNAN: return isnan(x);
    case LR_EW_ISINF: return isinf(x);
    case LR_EW_SINH: return sinh(x);
    case LR_EW_COSH: return cosh(x);
    case LR_EW_ASINH: return asinh(x);
    case LR_EW_ACOSH: return acosh(x);
    case LR_EW_ATANH: return atanh(x);
    case LR_EW_TAN: return tan(x);
    case LR_EW_SOFTPLUS: return lr_softplus(x);
    case LR_EW_RELU6: return lr_relu6(x);
    case LR_EW_HSIGMOID: return lr_relu6(x + 3) / 6;
    case LR_EW_LOGSIGMOID: return -lr_softplus(-x);
    case LR_EW_SQRT: return sqrt(x);
    case LR_EW_SQUARE: return x * x;
    case LR_EW_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x;
    case LR_EW_ADD: return x + y;
    case LR_EW_SUB: return x - y;
    case LR_EW_MUL: return x * y;
    case LR_EW_TRUE_DIV: return x / y;
    case LR_EW_FLOOR_DIV: return floor(x / y);
    case LR_EW_MOD: return fmod(x, y);
    case LR_EW_MAX: return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
    case LR_EW_MIN: return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
    case LR_EW_POW: return pow(x, y);
    case LR_EW_SWITCH_GT0: return x > 0 ? y : 0;
    case LR_EW_LOG_SUM_EXP: {
        double m = x > y ? x : y;
        if (isinf(m) && m < 0) return m;
        return m + log1p(exp(-fabs(x - y)));
    }
    case LR_EW_LT: return x < y;
    case LR_EW_LEQ: return x <= y;
    case LR_EW_EQ: return x == y;
    case LR_EW_NEQ: return x != y;
    case LR_EW_FUSE_ADD_RELU: return x + y > 0 ? x + y : 0;
    case LR_EW_FUSE_ADD_SIGMOID: return lr_sigmoid(x + y);
    case LR_EW_FUSE_ADD_TANH: return tanh(x + y);
    case LR_EW_FUSE_ADD_H_SWISH: return (x + y) * lr_relu6(x + y + 3) / 6;
    case LR_EW_ATAN2: return atan2(x, y);
    case LR_EW_AND: return (x != 0) && (y != 0);
    case LR_EW_OR: return (x != 0) || (y != 0);
    case LR_EW_XOR: return (x != 0) != (y != 0);
    case LR_EW_PRELU: return x > 0 ? x : x * y;
    case LR_EW_FUSE_MUL_ADD3: return x * y + z;
    case LR_EW_COND_LEQ_MOV: return x <= y ? z : 0;
    case LR_EW_COND_LT_MOV: return x < y ? z : 0;
    case LR_EW_CLIP: {
        double v = isnan(x) || isnan(y) ? NAN : x > y ? x : y;
        return isnan(v) || isnan(z) ? NAN : v < z ? v : z;
    }
    case LR_EW_FUSE_MUL_ADD4: return x * y + z * w;
    }
    return 0;
}

/* Modes numpy computes exactly in the integer type (the rest go through float64). */
static inline int lr_ew_int_exact(int mode) {
    switch (mode) {
    case LR_EW_RELU: case LR_EW_ABS: case LR_EW_NEGATE: case LR_EW_SQUARE: case LR_EW_SIGN: case LR_EW_ADD:
    case LR_EW_SUB: case LR_EW_MUL: case LR_EW_FLOOR_DIV: case LR_EW_MOD: case LR_EW_MAX: case LR_EW_MIN:
    case LR_EW_POW: case LR_EW_SWITCH_GT0: case LR_EW_LT: case LR_EW_LEQ: case LR_EW_EQ: case LR_EW_NEQ:
    case LR_EW_SHL: case LR_EW_SHR: case LR_EW_FUSE_ADD_RELU: case LR_EW_AND: case LR_EW_OR: case LR_EW_XOR:
    case LR_EW_NOT: case LR_EW_PRELU: case LR_EW_FUSE_MUL_ADD3: case LR_EW_COND_LEQ_MOV: case LR_EW_COND_LT_MOV:
    case LR_EW_CLIP: case LR_EW_FUSE_MUL_ADD4: case LR_EW_ROUND: case LR_EW_CEIL: case LR_EW_FLOOR:
        return 1;
    }
    return 0;
}

static inline int64_t lr_ew_i64(int mode, int64_t x, int64_t y, int64_t z, int64_t w) {
    switch (mode) {
    case LR_EW_RELU: return x > 0 ? x : 0;
    case LR_EW_ABS: return x < 0 ? -x : x;
    case LR_EW_NEGATE: return -x;
    case LR_EW_SQUARE: return x * x;
    case LR_EW_SIGN: return (x > 0) - (x < 0);
    case LR_EW_ROUND: case LR_EW_CEIL: case LR_EW_FLOOR: return x;
    case LR_EW_ADD: return x + y;
    case LR_EW_SUB: return x - y;
    case LR_EW_MUL: return x * y;
    case LR_EW_FLOOR_DIV: {
        if (y == 0) return 0;
        int64_t q = x / y;
        return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
    }
    case LR_EW_MOD: { /* MegEngine 1.13 integer MOD is Python's floor modulo (sign of the divisor) */
        if (y == 0) return 0;
        int64_t r = x % y;
        return r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
    }
    case LR_EW_MAX: return x > y ? x : y;
    case LR_EW_MIN: return x < y ? x : y;
    case LR_EW_POW: {
        if (y < 0) return x == 1 ? 1 : x == -1 ? (y % 2 ? -1 : 1) : 0;
        int64_t r = 1;
        for (int64_t b = x, e = y; e > 0 && e < 64; e >>= 1, b = (int64_t)((uint64_t)b * (uint64_t)b))
            if (e & 1) r = (int64_t)((uint64_t)r * (uint64_t)b);
        return r;
    }
    case LR_EW_SWITCH_GT0: return x > 0 ? y : 0;
    case LR_EW_LT: return x < y;
    case LR_EW_LEQ: return x <= y;
    case LR_EW_EQ: return x == y;
    case LR_EW_NEQ: return x != y;
    case LR_EW_SHL: return y < 0 || y >= 64 ? 0 : (int64_t)((uint64_t)x << y);
    case LR_EW_SHR: return y < 0 ? 0 : y >= 64 ? (x < 0 ? -1 : 0) : x >> y;
    case LR_EW_FUSE_ADD_RELU: return x + y > 0 ? x + y : 0;
    case LR_EW_AND: return x && y;
    case LR_EW_OR: return x || y;
    case LR_EW_XOR: return !x != !y;
    case LR_EW_NOT: return !x;
    case LR_EW_PRELU: return x > 0 ? x : x * y;
    case LR_EW_FUSE_MUL_ADD3: return x * y + z;
    case LR_EW_COND_LEQ_MOV: return x <= y ? z : 0;
    case LR_EW_COND_LT_MOV: return x < y ? z : 0;
    case LR_EW_CLIP: { int64_t v = x > y ? x : y; return v < z ? v : z; }
    case LR_EW_FUSE_MUL_ADD4: return (int64_t)((uint64_t)(x * y) + (uint64_t)(z * w));
    }
    return 0;
}

#endif
