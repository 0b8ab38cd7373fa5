/* gemm_f32.c: blocking, packing and threading of the packed GEMM, and the generic 6x8 micro-kernel. */
#include "gemm_f32.h"

#include <string.h>

#define MR LR_GEMM_MR
#define NR LR_GEMM_NR
#define KC 256
#define TILE_BYTES (512 * 1024)
#define MAX_TILE_COLS 256
#define SERIAL_MACS 32768.0

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* f32-gemm-6x8-generic: C[6x8] (+)= A[kc x 6] * B[kc x 8], both packed. */
static void f32_gemm_6x8_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate,
                                 int64_t mr, int64_t nr) {
    v4f acc[MR][2];
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = (v4f){0, 0, 0, 0};
    for (int64_t k = 0; k < kc; ++k) {
        v4f b0 = load4(b), b1 = load4(b + 4);
        for (int i = 0; i < MR; ++i) {
            v4f ai = {a[i], a[i], a[i], a[i]};
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
        a += MR;
        b += NR;
    }
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; ++i) {
            float *ci = c + i * ldc;
            if (accumulate) {
                store4(ci, load4(ci) + acc[i][0]);
                store4(ci + 4, load4(ci + 4) + acc[i][1]);
            } else {
                store4(ci, acc[i][0]);
                store4(ci + 4, acc[i][1]);
            }
        }
        return;
    }
    float tmp[MR][NR];
    for (int i = 0; i < MR; ++i) {
        store4(tmp[i], acc[i][0]);
        store4(tmp[i] + 4, acc[i][1]);
    }
    for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tmp[i][j] : tmp[i][j];
}

size_t lr_gemm_packed_a_floats(int64_t M, int64_t K) { return (size_t)((M + MR - 1) / MR) * MR * (size_t)K; }
size_t lr_gemm_packed_b_floats(int64_t K, int64_t N) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

int64_t lr_gemm_tile_cols(int64_t K, int64_t N) {
    int64_t nt = TILE_BYTES / (int64_t)sizeof(float) / (K > 0 ? K : 1);
    if (nt > MAX_TILE_COLS) nt = MAX_TILE_COLS;
    int64_t nround = (N + NR - 1) / NR * NR;
    if (nt > nround) nt = nround;
    nt = nt / NR * NR;
    return nt < NR ? NR : nt;
}

size_t lr_gemm_scratch_floats(int64_t K, int64_t N) { return (size_t)lr_gemm_tile_cols(K, N) * (size_t)K + 16; }

void lr_gemm_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float *dst) {
    for (int64_t p = 0; p < M; p += MR) {
        int64_t mr = M - p < MR ? M - p : MR;
        for (int64_t k = 0; k < K; ++k) {
            for (int64_t i = 0; i < mr; ++i) dst[i] = a[(p + i) * rs + k * cs];
            for (int64_t i = mr; i < MR; ++i) dst[i] = 0;
            dst += MR;
        }
    }
}

void lr_gemm_pack_b(int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, int64_t cs, float *dst) {
    for (int64_t p = j0; p < j0 + nt; p += NR) {
        int64_t nr = N - p < NR ? N - p : NR;
        for (int64_t k = 0; k < K; ++k) {
            const float *src = b + k * rs + p * cs;
            if (cs == 1 && nr == NR) {
                memcpy(dst, src, NR * sizeof(float));
            } else {
                for (int64_t j = 0; j < nr; ++j) dst[j] = src[j * cs];
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
                f32_gemm_6x8_generic(kc, a, b + (size_t)q * K + (size_t)k0 * NR, c + q, job->ldc, k0 > 0, mr, nr);
            }
        }
    }
    if (job->epilogue) {
        int64_t m1 = p1 * MR < job->M ? p1 * MR : job->M;
        job->epilogue(job->ep_ctx, p0 * MR, m1, j0, nt);
    }
}

void lr_gemm_run(lr_thread_pool *pool, const lr_gemm_job *jobs, int64_t n_jobs, float *scratch) {
    if (n_jobs <= 0) return;
    int64_t K = jobs[0].K, N = jobs[0].N, M = jobs[0].M;
    int threads = lr_pool_threads(pool);
    run_ctx r = {jobs, 0, 1, 0, lr_gemm_tile_cols(K, N), scratch, lr_gemm_scratch_floats(K, N)};
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
