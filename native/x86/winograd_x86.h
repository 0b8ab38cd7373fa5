/* winograd_x86.h: the 1-D Winograd transforms on GNU vectors (vec_x86.h), shared by the NCHW
 * F(4,3) (conv_winograd_f43_x86.h) and the blocked F(4,3) / F(2,3) (f32_conv_nchwb_winograd_x86.h)
 * kernels: input B^T d (TS + 2 values), output A^T m (TS + 2 -> TS), TS = 4 or 2. */
#ifndef LR_WINOGRAD_X86_H
#define LR_WINOGRAD_X86_H

#include "vec_x86.h"

AI void bt(const vf d[6], vf t[6], const int TS) {
    if (TS == 4) {
        t[0] = 4 * d[0] - 5 * d[2] + d[4];
        t[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
        t[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
        t[3] = 2 * (d[3] - d[1]) - d[2] + d[4];
        t[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
        t[5] = 4 * d[1] - 5 * d[3] + d[5];
    } else {
        t[0] = d[0] - d[2];
        t[1] = d[1] + d[2];
        t[2] = d[2] - d[1];
        t[3] = d[1] - d[3];
    }
}

AI void at(const vf m[6], vf o[4], const int TS) {
    if (TS == 4) {
        vf a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
        o[0] = m[0] + a + c;
        o[1] = b + 2 * d;
        o[2] = a + 4 * c;
        o[3] = b + 8 * d + m[5];
    } else {
        o[0] = m[0] + m[1] + m[2];
        o[1] = m[1] - m[2] - m[3];
        o[2] = o[3] = (vf){0}; /* never stored: keeps -Wmaybe-uninitialized quiet */
    }
}

#endif
