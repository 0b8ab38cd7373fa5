/* gemm_f32_neon.c: blocking, packing and threading around the f32-gemm-8x12-neonfma micro-kernel. */
#include "gemm_f32_neon.h"
#include "kernels.h"

#if LR_ARM_NEON64
#include <arm_neon.h>
#include <string.h>

#define MR LR_NEON_MR
#define NR LR_NEON_NR
#define KC 256
#define TILE_BYTES (512 * 1024)
#define MAX_TILE_COLS 252
#define SERIAL_MACS 32768.0

/* f32-gemm-8x12-neonfma: C[8x12] (+)= A[kc x 8] * B[kc x 12], both packed; 24 accumulators. */
static void f32_gemm_8x12_neonfma(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate,
                                  int64_t mr, int64_t nr) {
    float32x4_t c00 = vdupq_n_f32(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00,
                c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00,
                c52 = c00, c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (int64_t k = 0; k < kc; ++k) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        c00 = vfmaq_laneq_f32(c00, b0, a0, 0); c01 = vfmaq_laneq_f32(c01, b1, a0, 0); c02 = vfmaq_laneq_f32(c02, b2, a0, 0);
        c10 = vfmaq_laneq_f32(c10, b0, a0, 1); c11 = vfmaq_laneq_f32(c11, b1, a0, 1); c12 = vfmaq_laneq_f32(c12, b2, a0, 1);
        c20 = vfmaq_laneq_f32(c20, b0, a0, 2); c21 = vfmaq_laneq_f32(c21, b1, a0, 2); c22 = vfmaq_laneq_f32(c22, b2, a0, 2);
        c30 = vfmaq_laneq_f32(c30, b0, a0, 3); c31 = vfmaq_laneq_f32(c31, b1, a0, 3); c32 = vfmaq_laneq_f32(c32, b2, a0, 3);
        c40 = vfmaq_laneq_f32(c40, b0, a1, 0); c41 = vfmaq_laneq_f32(c41, b1, a1, 0); c42 = vfmaq_laneq_f32(c42, b2, a1, 0);
        c50 = vfmaq_laneq_f32(c50, b0, a1, 1); c51 = vfmaq_laneq_f32(c51, b1, a1, 1); c52 = vfmaq_laneq_f32(c52, b2, a1, 1);
        c60 = vfmaq_laneq_f32(c60, b0, a1, 2); c61 = vfmaq_laneq_f32(c61, b1, a1, 2); c62 = vfmaq_laneq_f32(c62, b2, a1, 2);
        c70 = vfmaq_laneq_f32(c70, b0, a1, 3); c71 = vfmaq_laneq_f32(c71, b1, a1, 3); c72 = vfmaq_laneq_f32(c72, b2, a1, 3);
        a += MR;
        b += NR;
    }
    float tmp[MR][NR];
    float *rows[MR];
    int full = mr == MR && nr == NR && !accumulate;
    for (int i = 0; i < MR; ++i) rows[i] = full ? c + i * ldc : tmp[i];
#define LR_STORE_ROW(i, x0, x1, x2) vst1q_f32(rows[i], x0), vst1q_f32(rows[i] + 4, x1), vst1q_f32(rows[i] + 8, x2)
    LR_STORE_ROW(0, c00, c01, c02); LR_STORE_ROW(1, c10, c11, c12); LR_STORE_ROW(2, c20, c21, c22);
    LR_STORE_ROW(3, c30, c31, c32); LR_STORE_ROW(4, c40, c41, c42); LR_STORE_ROW(5, c50, c51, c52);
    LR_STORE_ROW(6, c60, c61, c62); LR_STORE_ROW(7, c70, c71, c72);
#undef LR_STORE_ROW
    if (full) return;
    for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tmp[i][j] : tmp[i][j];
}

size_t lr_neon_gemm_packed_a_floats(int64_t M, int64_t K) { return (size_t)((M + MR - 1) / MR) * MR * (size_t)K; }

int64_t lr_neon_gemm_tile_cols(int64_t K, int64_t N) {
    int64_t nt = TILE_BYTES / (int64_t)sizeof(float) / (K > 0 ? K : 1);
    if (nt > MAX_TILE_COLS) nt = MAX_TILE_COLS;
    int64_t nround = (N + NR - 1) / NR * NR;
    if (nt > nround) nt = nround;
    nt = nt / NR * NR;
    return nt < NR ? NR : nt;
}

size_t lr_neon_gemm_scratch_floats(int64_t K, int64_t N) { return (size_t)lr_neon_gemm_tile_cols(K, N) * (size_t)K + 16; }

void lr_neon_gemm_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, int64_t flip_khw, float *dst) {
    for (int64_t p = 0; p < M; p += MR) {
        int64_t mr = M - p < MR ? M - p : MR;
        for (int64_t k = 0; k < K; ++k) {
            int64_t kk = flip_khw > 0 ? k / flip_khw * flip_khw + (flip_khw - 1 - k % flip_khw) : k;
            for (int64_t i = 0; i < mr; ++i) dst[i] = a[(p + i) * rs + kk * cs];
            for (int64_t i = mr; i < MR; ++i) dst[i] = 0;
            dst += MR;
        }
    }
}

void lr_neon_gemm_pack_b_rows(int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, float *dst) {
    for (int64_t p = j0; p < j0 + nt; p += NR) {
        int64_t nr = N - p < NR ? N - p : NR;
        for (int64_t k = 0; k < K; ++k) {
            const float *src = b + k * rs + p;
            if (nr == NR) {
                vst1q_f32(dst, vld1q_f32(src));
                vst1q_f32(dst + 4, vld1q_f32(src + 4));
                vst1q_f32(dst + 8, vld1q_f32(src + 8));
            } else {
                for (int64_t j = 0; j < nr; ++j) dst[j] = src[j];
                for (int64_t j = nr; j < NR; ++j) dst[j] = 0;
            }
            dst += NR;
        }
    }
}

typedef struct run_ctx {
    const lr_gemm_job *jobs;
    int64_t tiles, chunks, panels_per_chunk, nt;
    float *scratch;
    size_t scratch_floats;
} run_ctx;

static void run_task(void *vctx, int64_t task, int thread) {
    const run_ctx *r = vctx;
    int64_t chunk = task % r->chunks, tile = task / r->chunks % r->tiles, jobi = task / r->chunks / r->tiles;
    const lr_gemm_job *job = &r->jobs[jobi];
    int64_t j0 = tile * r->nt, nt = job->N - j0 < r->nt ? job->N - j0 : r->nt;
    int64_t m_panels = (job->M + MR - 1) / MR;
    int64_t p0 = chunk * r->panels_per_chunk, p1 = p0 + r->panels_per_chunk;
    if (p1 > m_panels) p1 = m_panels;
    if (p0 >= p1) return;
    const float *b = job->get_b(job->b_ctx, j0, nt, r->scratch + (size_t)thread * r->scratch_floats);
    int64_t K = job->K;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = K - k0 < KC ? K - k0 : KC;
        for (int64_t p = p0; p < p1; ++p) {
            const float *a = job->packed_a + (size_t)p * MR * K + (size_t)k0 * MR;
            int64_t mr = job->M - p * MR < MR ? job->M - p * MR : MR;
            float *c = job->c + p * MR * job->ldc + j0;
            for (int64_t q = 0; q < nt; q += NR) {
                int64_t nr = nt - q < NR ? nt - q : NR;
                f32_gemm_8x12_neonfma(kc, a, b + (size_t)q * K + (size_t)k0 * NR, c + q, job->ldc, k0 > 0, mr, nr);
            }
        }
    }
    if (job->epilogue) {
        int64_t m1 = p1 * MR < job->M ? p1 * MR : job->M;
        job->epilogue(job->ep_ctx, p0 * MR, m1, j0, nt);
    }
}

void lr_neon_gemm_run(lr_thread_pool *pool, const lr_gemm_job *jobs, int64_t n_jobs, float *scratch) {
    if (n_jobs <= 0) return;
    int64_t K = jobs[0].K, N = jobs[0].N, M = jobs[0].M;
    int threads = lr_pool_threads(pool);
    run_ctx r = {jobs, 0, 1, 0, lr_neon_gemm_tile_cols(K, N), scratch, lr_neon_gemm_scratch_floats(K, N)};
    r.tiles = (N + r.nt - 1) / r.nt;
    int64_t m_panels = (M + MR - 1) / MR, units = n_jobs * r.tiles;
    if (threads > 1 && units < 4 * threads) {
        r.chunks = (4 * threads + units - 1) / units;
        if (r.chunks > m_panels) r.chunks = m_panels;
    }
    r.panels_per_chunk = (m_panels + r.chunks - 1) / r.chunks;
    int64_t tasks = n_jobs * r.tiles * r.chunks;
    if ((double)M * (double)N * (double)K * (double)n_jobs < SERIAL_MACS) { /* waking the pool costs more */
        for (int64_t t = 0; t < tasks; ++t) run_task(&r, t, 0);
        return;
    }
    lr_parallel_for(pool, tasks, run_task, &r);
}
#else
typedef int lr_gemm_f32_neon_unused; /* not an aarch64 build: nothing to compile */
#endif
