/* npy.h: a minimal, bounds-checked reader/writer of NumPy .npy files (C order, little-endian). */
#ifndef LR_NPY_H
#define LR_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "loadrun.h"

typedef struct npy_array {
    lr_dtype dtype;
    int ndim;
    int64_t dims[LR_MAX_NDIM];
    size_t nbytes;
    void *data; /* malloc'ed */
} npy_array;

/* 0 on success; otherwise fills err. */
int npy_parse(const uint8_t *buf, size_t size, npy_array *out, char *err, size_t errlen);
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);
int npy_write(const char *path, lr_dtype dtype, int ndim, const int64_t *dims, const void *data, size_t nbytes, char *err,
              size_t errlen);
void npy_free(npy_array *a);

#endif
