/* npy.c: .npy versions 1.0-3.0, descr <f4 <f2 <i4 <i2 |i1 |u1 |b1, C order only. */
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

static const struct { const char *descr; lr_dtype dt; size_t size; } kinds[] = {
    {"<f4", LR_FLOAT32, 4}, {"<f2", LR_FLOAT16, 2}, {"<i4", LR_INT32, 4}, {"<i2", LR_INT16, 2},
    {"|i1", LR_INT8, 1},    {"|u1", LR_UINT8, 1},   {"|b1", LR_BOOL, 1},
};

/* value of 'key' in the header dict: pointer just after "'key':" and spaces */
static const char *find_key(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') ++p;
    return p;
}

int npy_parse(const uint8_t *buf, size_t size, npy_array *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) FAIL("not a .npy file");
    size_t hlen, hstart;
    if (buf[6] == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (buf[6] == 2 || buf[6] == 3) {
        if (size < 12) FAIL("truncated .npy header");
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        FAIL(".npy version %u is not supported", buf[6]);
    }
    if (hlen > size - hstart || hlen > 65536) FAIL("truncated .npy header");
    char *h = malloc(hlen + 1);
    if (!h) FAIL("out of memory");
    memcpy(h, buf + hstart, hlen);
    h[hlen] = 0;
    const char *d = find_key(h, "descr"), *f = find_key(h, "fortran_order"), *s = find_key(h, "shape");
    int k = -1;
    for (size_t i = 0; d && i < sizeof kinds / sizeof *kinds; ++i)
        if (*d == '\'' && strncmp(d + 1, kinds[i].descr, 3) == 0 && d[4] == '\'') k = (int)i;
    if (k < 0 || !f || !s || strncmp(f, "False", 5) != 0 || *s != '(') {
        free(h);
        FAIL("unsupported .npy header (need a little-endian float32/float16/int32/int16/int8/uint8/bool C-order array)");
    }
    int nd = 0;
    uint64_t numel = 1;
    const char *p = s + 1;
    for (;;) {
        while (*p == ' ' || *p == ',') ++p;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || v > ((int64_t)1 << 40) || nd >= LR_MAX_NDIM) {
            free(h);
            FAIL("bad .npy shape");
        }
        out->dims[nd++] = v;
        numel *= (uint64_t)v;
        if (numel > ((uint64_t)1 << 40)) {
            free(h);
            FAIL("bad .npy shape");
        }
        p = end;
    }
    free(h);
    if (nd == 0) out->dims[nd++] = 1; /* a 0-d array is a (1,) tensor to the runtime */
    out->ndim = nd;
    out->dtype = kinds[k].dt;
    out->nbytes = (size_t)numel * kinds[k].size;
    if (out->nbytes > size - hstart - hlen) FAIL("truncated .npy data (%zu bytes expected)", out->nbytes);
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) FAIL("out of memory");
    memcpy(out->data, buf + hstart + hlen, out->nbytes);
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) FAIL("%s: cannot open", path);
    if (fseek(fp, 0, SEEK_END) != 0) { fclose(fp); FAIL("%s: cannot seek", path); }
    long size = ftell(fp);
    rewind(fp);
    if (size < 0) { fclose(fp); FAIL("%s: cannot size", path); }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) { fclose(fp); FAIL("%s: out of memory", path); }
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    int rc = got == (size_t)size ? npy_parse(buf, got, out, err, errlen) : -1;
    if (got != (size_t)size) snprintf(err, errlen, "%s: short read", path);
    free(buf);
    if (rc != 0) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s", path, tmp);
    }
    return rc;
}

int npy_write(const char *path, lr_dtype dtype, int ndim, const int64_t *dims, const void *data, size_t nbytes, char *err,
              size_t errlen) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; ++i)
        if (kinds[i].dt == dtype) descr = kinds[i].descr;
    if (!descr) FAIL("unknown dtype");
    char shape[256] = "", dict[400];
    size_t at = 0;
    for (int d = 0; d < ndim; ++d) at += (size_t)snprintf(shape + at, sizeof shape - at, "%lld,%s", (long long)dims[d], d + 1 < ndim ? " " : "");
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    FILE *fp = fopen(path, "wb");
    if (!fp) FAIL("%s: cannot create", path);
    uint16_t hl = (uint16_t)((size_t)n + pad + 1);
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hl & 0xff), (uint8_t)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(dict, 1, (size_t)n, fp) == (size_t)n;
    for (size_t i = 0; i < pad && ok; ++i) ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF && fwrite(data, 1, nbytes, fp) == nbytes;
    ok = fclose(fp) == 0 && ok;
    if (!ok) FAIL("%s: write failed", path);
    return 0;
}

void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
}
