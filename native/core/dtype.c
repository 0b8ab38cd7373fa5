/* dtype.c: element sizes, names, IEEE half conversion, and the slow any-dtype load/store. */
#include <math.h>
#include <string.h>

#include "model.h"

size_t lr_dtype_size(lr_dtype t) {
    switch (t) {
    case LR_FLOAT32: case LR_INT32: return 4;
    case LR_FLOAT16: case LR_INT16: return 2;
    case LR_INT8: case LR_UINT8: case LR_BOOL: return 1;
    }
    return 0;
}

const char *lr_dtype_name(lr_dtype t) {
    static const char *names[] = {"float32", "float16", "int32", "int16", "int8", "uint8", "bool"};
    return (unsigned)t < 7 ? names[t] : "?";
}

bool lr_dtype_is_float(lr_dtype t) { return t == LR_FLOAT32 || t == LR_FLOAT16; }

float lr_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t lr_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000u) { /* subnormal half or zero */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* value = m * 2^(e-150); a half subnormal unit is 2^-24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

double lr_load_f64(const void *p, lr_dtype t, int64_t i) {
    switch (t) {
    case LR_FLOAT32: return ((const float *)p)[i];
    case LR_FLOAT16: return lr_half_to_float(((const uint16_t *)p)[i]);
    case LR_INT32: return ((const int32_t *)p)[i];
    case LR_INT16: return ((const int16_t *)p)[i];
    case LR_INT8: return ((const int8_t *)p)[i];
    case LR_UINT8: return ((const uint8_t *)p)[i];
    case LR_BOOL: return ((const uint8_t *)p)[i] != 0;
    }
    return 0;
}

int64_t lr_load_i64(const void *p, lr_dtype t, int64_t i) {
    switch (t) {
    case LR_INT32: return ((const int32_t *)p)[i];
    case LR_INT16: return ((const int16_t *)p)[i];
    case LR_INT8: return ((const int8_t *)p)[i];
    case LR_UINT8: return ((const uint8_t *)p)[i];
    case LR_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: {
        double v = lr_load_f64(p, t, i);
        if (!(v == v)) return 0;
        if (v >= 9.2e18) return INT64_MAX;
        if (v <= -9.2e18) return INT64_MIN;
        return (int64_t)v;
    }
    }
}

/* Saturating float -> int conversions (C's cast is undefined out of range; numpy wraps). */
static int64_t f2i(double v, double lo, double hi) {
    if (!(v == v)) return 0;
    v = trunc(v);
    if (v < lo) return (int64_t)lo;
    if (v > hi) return (int64_t)hi;
    return (int64_t)v;
}

void lr_store_f64(void *p, lr_dtype t, int64_t i, double v) {
    switch (t) {
    case LR_FLOAT32: ((float *)p)[i] = (float)v; break;
    case LR_FLOAT16: ((uint16_t *)p)[i] = lr_float_to_half((float)v); break;
    case LR_INT32: ((int32_t *)p)[i] = (int32_t)f2i(v, -2147483648.0, 2147483647.0); break;
    case LR_INT16: ((int16_t *)p)[i] = (int16_t)f2i(v, -32768.0, 32767.0); break;
    case LR_INT8: ((int8_t *)p)[i] = (int8_t)f2i(v, -128.0, 127.0); break;
    case LR_UINT8: ((uint8_t *)p)[i] = (uint8_t)f2i(v, 0.0, 255.0); break;
    case LR_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    }
}

void lr_store_i64(void *p, lr_dtype t, int64_t i, int64_t v) {
    switch (t) {
    case LR_INT32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; break;
    case LR_INT16: ((int16_t *)p)[i] = (int16_t)(uint16_t)v; break;
    case LR_INT8: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; break;
    case LR_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case LR_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: lr_store_f64(p, t, i, (double)v); break;
    }
}
