/* fuzz_loader.c: libFuzzer harness of the loader (and, for cheap models, one forward pass).
 * Build and run: see docs/native.md ("Fuzzing"). Any crash, sanitizer report or leak is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loadrun.h"
#include "model.h"

/* Runs only models whose tensors are small, so iterations stay fast. */
static int cheap(const lr_model *m) {
    uint64_t total = 0;
    for (int i = 0; i < m->n_tensors; ++i) total += m->tensors[i].nbytes;
    for (int i = 0; i < m->n_nodes; ++i) {
        const lr_node *n = &m->nodes[i];
        if (n->op == LR_OP_CONV || n->op == LR_OP_DECONV || n->op == LR_OP_MATMUL || n->op == LR_OP_BATCHED_MATMUL) {
            uint64_t work = 1;
            for (int k = 0; k < 2; ++k) work *= (uint64_t)m->tensors[n->in[k]].numel;
            if (work > ((uint64_t)1 << 26)) return 0;
        }
    }
    return total < (1u << 22);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lr_options o;
    lr_options_init(&o);
    o.threads = size % 2 ? 2 : 1;
    lr_model *m = NULL;
    if (lr_load_memory(data, size, &o, &m) != LR_OK) return 0;
    if (cheap(m)) {
        for (int i = 0; i < lr_input_count(m); ++i) {
            const lr_tensor *t = &m->tensors[m->inputs[i]];
            void *buf = calloc(1, t->nbytes + 1);
            lr_set_input(m, i, buf, t->nbytes);
            free(buf);
        }
        lr_forward(m);
        for (int i = 0; i < lr_output_count(m); ++i) (void)lr_output_data(m, i);
    }
    lr_free(m);
    return 0;
}
