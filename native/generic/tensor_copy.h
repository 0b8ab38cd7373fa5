/* tensor_copy.h: one strided N-d copy that serves every data-movement operator. */
#ifndef LR_TENSOR_COPY_H
#define LR_TENSOR_COPY_H

#include <stddef.h>
#include <stdint.h>

/* dst[i] = src[i] over `shape`, strides in elements (any sign, 0 = broadcast on the source). */
void lr_copy_nd(void *dst, const int64_t *dst_st, const void *src, const int64_t *src_st, const int64_t *shape, int ndim,
                size_t esize);
/* Row-major strides of a shape. */
void lr_contiguous_strides(const int64_t *shape, int ndim, int64_t *st);

#endif
