/* fused_program.h: the elementwise program of the fused operators (docs/compile.md): views of the
 * inputs broadcast onto a flat index, float32 registers, instructions, stored outputs. Decoded from
 * a node's ints after op_check.c validated them; evaluated in blocks of LR_FUSED_BLOCK elements. */
#ifndef LR_FUSED_PROGRAM_H
#define LR_FUSED_PROGRAM_H

#include "model.h"

#define LR_FUSED_BLOCK 256
#define LR_FUSED_MAX_VIEWS 16
#define LR_FUSED_MAX_REGS 32
#define LR_FUSED_MAX_OUTPUTS 8
#define LR_FUSED_VIEW_INTS (2 + 2 * LR_MAX_NDIM)
#define LR_FUSED_INSTR_INTS 7

enum { LR_FK_ELEMWISE = 0, LR_FK_POWC = 1, LR_FK_ROUND_F16 = 2, LR_FK_COPY = 3 };

typedef struct lr_fused_view {
    const float *base;
    int ndim;
    int64_t dims[LR_MAX_NDIM], st[LR_MAX_NDIM];
    int kind; /* 0 flat (offset = i), 1 scalar, 2 general, 3 flat under output 0 (copied per block) */
} lr_fused_view;

typedef struct lr_fused_program {
    int n_views, n_instr, n_regs, n_out;
    lr_fused_view views[LR_FUSED_MAX_VIEWS];
    const int64_t *instr;       /* n_instr x LR_FUSED_INSTR_INTS */
    const double *floats;       /* POWC exponents */
    int out_reg[LR_FUSED_MAX_OUTPUTS];
    int64_t numel;
    /* Optional vector math (x86 algorithms): handles ELEMWISE `mode` on contiguous operands of len
     * elements (b NULL for unary modes) and returns true, or returns false for the generic loop. */
    bool (*vapply)(int mode, int64_t len, float *o, const float *a, const float *b);
} lr_fused_program;

/* Ints the program occupies, from its 4-int header; -1 when the header is out of range. */
int64_t lr_fused_program_ints(const int64_t *p, int64_t avail);
/* Binds a validated program at p (ints) / f (floats) to the node's input tensors. */
void lr_fused_program_bind(lr_fused_program *pr, const lr_run_ctx *ctx, const lr_node *n, const int64_t *p, const double *f);
/* Evaluates flat indices [i0, i1): outputs go to outs[o] + (i - i0). */
void lr_fused_eval(const lr_fused_program *pr, int64_t i0, int64_t i1, float *const *outs);

/* A row kernel of the fused reductions: LayerNorm of one contiguous row in place (w, b NULL when
 * not affine; writes *mean and *rstd), Softmax of one contiguous line in place. */
typedef void (*lr_fused_ln_row_fn)(float *y, int64_t len, const float *w, const float *b, double eps, float *mean,
                                   float *rstd);
typedef void (*lr_fused_softmax_row_fn)(float *y, int64_t len);
typedef bool (*lr_fused_vapply_fn)(int mode, int64_t len, float *o, const float *a, const float *b);
/* The fused operators' runs with target vector math and row kernels (NULL: the generic ones). */
lr_status lr_fused_elemwise_run_with(const lr_run_ctx *ctx, const lr_node *n, lr_fused_vapply_fn vap);
lr_status lr_fused_layernorm_run_with(const lr_run_ctx *ctx, const lr_node *n, lr_fused_vapply_fn vap,
                                      lr_fused_ln_row_fn row);
lr_status lr_fused_softmax_run_with(const lr_run_ctx *ctx, const lr_node *n, lr_fused_vapply_fn vap,
                                    lr_fused_softmax_row_fn row);

#endif
