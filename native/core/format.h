/* format.h: byte layout of the compiled model format (docs/compiled-format.md), version 1. */
#ifndef LR_FORMAT_H
#define LR_FORMAT_H

#define LR_FORMAT_MAGIC "LRMODEL\0"
#define LR_FORMAT_VERSION 1
#define LR_HEADER_BYTES 128
#define LR_TENSOR_RECORD_BYTES 96
#define LR_NODE_RECORD_BYTES 48
#define LR_DATA_ALIGN 64

/* header field offsets */
#define LR_H_VERSION 8
#define LR_H_HEADER_BYTES 12
#define LR_H_FILE_BYTES 16
#define LR_H_N_TENSORS 24
#define LR_H_N_NODES 28
#define LR_H_N_INPUTS 32
#define LR_H_N_OUTPUTS 36
#define LR_H_N_IDS 40
#define LR_H_N_INTS 44
#define LR_H_N_FLOATS 48
#define LR_H_STRINGS_BYTES 52
#define LR_H_STRINGS_OFF 56
#define LR_H_TENSORS_OFF 64
#define LR_H_NODES_OFF 72
#define LR_H_IO_OFF 80
#define LR_H_IDS_OFF 88
#define LR_H_INTS_OFF 96
#define LR_H_FLOATS_OFF 104
#define LR_H_DATA_OFF 112
#define LR_H_DATA_BYTES 120

#endif
