/* gemm_driver.c: blocking, packing and threading of the packed GEMM for every micro-kernel. */
#include "gemm_driver.h"

#include <string.h>

#define KC 256
#define TILE_BYTES (512 * 1024)
#define SERIAL_MACS 32768.0

size_t lr_gemm_packed_a_floats(const lr_gemm_ukernel *uk, int64_t M, int64_t K) {
    return (size_t)((M + uk->mr - 1) / uk->mr) * uk->mr * (size_t)K;
}

size_t lr_gemm_packed_b_floats(const lr_gemm_ukernel *uk, int64_t K, int64_t N) {
    return (size_t)((N + uk->nr - 1) / uk->nr) * uk->nr * (size_t)K;
}

int64_t lr_gemm_tile_cols(const lr_gemm_ukernel *uk, int64_t K, int64_t N) {
    int64_t NR = uk->nr, nt = TILE_BYTES / (int64_t)sizeof(float) / (K > 0 ? K : 1);
    if (nt > uk->max_tile_cols) nt = uk->max_tile_cols;
    int64_t nround = (N + NR - 1) / NR * NR;
    if (nt > nround) nt = nround;
    nt = nt / NR * NR;
    return nt < NR ? NR : nt;
}

size_t lr_gemm_scratch_floats(const lr_gemm_ukernel *uk, int64_t K, int64_t N) {
    return (size_t)lr_gemm_tile_cols(uk, K, N) * (size_t)K + 32;
}

void lr_gemm_pack_a_flipped(const lr_gemm_ukernel *uk, int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs,
                            int64_t flip_block, float *dst) {
    int64_t MR = uk->mr;
    for (int64_t p = 0; p < M; p += MR) {
        int64_t mr = M - p < MR ? M - p : MR;
        for (int64_t k = 0; k < K; ++k) {
            int64_t kk = flip_block > 1 ? k / flip_block * flip_block + (flip_block - 1 - k % flip_block) : k;
            for (int64_t i = 0; i < mr; ++i) dst[i] = a[(p + i) * rs + kk * cs];
            for (int64_t i = mr; i < MR; ++i) dst[i] = 0;
            dst += MR;
        }
    }
}

void lr_gemm_pack_a(const lr_gemm_ukernel *uk, int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float *dst) {
    lr_gemm_pack_a_flipped(uk, M, K, a, rs, cs, 0, dst);
}

void lr_gemm_pack_b(int NR, int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, int64_t cs,
                    float *dst) {
    for (int64_t p = j0; p < j0 + nt; p += NR) {
        int64_t nr = N - p < NR ? N - p : NR;
        for (int64_t k = 0; k < K; ++k) {
            const float *src = b + k * rs + p * cs;
            if (cs == 1) {
                memcpy(dst, src, (size_t)nr * sizeof(float));
            } else {
                for (int64_t j = 0; j < nr; ++j) dst[j] = src[j * cs];
            }
            for (int64_t j = nr; j < NR; ++j) dst[j] = 0;
            dst += NR;
        }
    }
}

void lr_gemm_store_tile(int64_t mr, int64_t nr, const float *tile, int64_t ld, float *c, int64_t ldc, int accumulate,
                        const lr_gemm_params *p) {
    int active = lr_gemm_params_active(p);
    for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) {
            float v = tile[i * ld + j] + (accumulate ? c[i * ldc + j] : 0.f);
            if (active) {
                if (p->bias) v += p->bias[i];
                if (p->z) v += p->z[i * p->ldz + j];
                v = v < p->min ? p->min : v; /* the vector kernels' max(v, min) then min(., max) */
                v = v > p->max ? p->max : v;
            }
            c[i * ldc + j] = v;
        }
}

typedef struct run_ctx {
    const lr_gemm_ukernel *uk;
    const lr_gemm_job *jobs;
    int64_t tiles, chunks, panels_per_chunk, nt;
    float *scratch;
    size_t scratch_floats;
} run_ctx;

static void run_task(void *vctx, int64_t task, int thread) {
    const run_ctx *r = vctx;
    const lr_gemm_ukernel *uk = r->uk;
    const int64_t MR = uk->mr, NR = uk->nr;
    int64_t chunk = task % r->chunks, tile = task / r->chunks % r->tiles, jobi = task / r->chunks / r->tiles;
    const lr_gemm_job *job = &r->jobs[jobi];
    /* tile t covers NR panels [t*P/T, (t+1)*P/T): tiles differ by at most one panel */
    int64_t n_panels = (job->N + NR - 1) / NR, q0 = tile * n_panels / r->tiles, q1 = (tile + 1) * n_panels / r->tiles;
    int64_t j0 = q0 * NR, nt = (q1 * NR < job->N ? q1 * NR : job->N) - j0;
    if (nt <= 0) return;
    int64_t m_panels = (job->M + MR - 1) / MR;
    int64_t p0 = chunk * r->panels_per_chunk, p1 = p0 + r->panels_per_chunk;
    if (p1 > m_panels) p1 = m_panels;
    if (p0 >= p1) return;
    const float *b = job->get_b(job->b_ctx, j0, nt, (int)NR, r->scratch + (size_t)thread * r->scratch_floats);
    int64_t K = job->K;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = K - k0 < KC ? K - k0 : KC;
        int last = k0 + kc >= K;
        for (int64_t p = p0; p < p1; ++p) {
            const float *a = job->packed_a + (size_t)p * MR * K + (size_t)k0 * MR;
            int64_t mr = job->M - p * MR < MR ? job->M - p * MR : MR;
            float *c = job->c + p * MR * job->ldc + j0;
            lr_gemm_params prm = {job->bias ? job->bias + p * MR : NULL, NULL, job->ldz, job->min, job->max};
            for (int64_t q = 0; q < nt; q += NR) {
                int64_t nr = nt - q < NR ? nt - q : NR;
                if (last && job->z) prm.z = job->z + p * MR * job->ldz + j0 + q;
                uk->fn(mr, nr, kc, a, b + (size_t)q * K + (size_t)k0 * NR, c + q, job->ldc, k0 > 0, last ? &prm : NULL);
            }
        }
    }
    if (job->post) {
        int64_t m1 = p1 * MR < job->M ? p1 * MR : job->M;
        job->post(job->post_ctx, p0 * MR, m1, j0, nt);
    }
}

void lr_gemm_run(const lr_gemm_ukernel *uk, lr_thread_pool *pool, const lr_gemm_job *jobs, int64_t n_jobs,
                 float *scratch) {
    if (n_jobs <= 0) return;
    int64_t K = jobs[0].K, N = jobs[0].N, M = jobs[0].M;
    int threads = lr_pool_threads(pool);
    run_ctx r = {uk, jobs, 0, 1, 0, lr_gemm_tile_cols(uk, K, N), scratch, lr_gemm_scratch_floats(uk, K, N)};
    r.tiles = (N + r.nt - 1) / r.nt;
    int64_t m_panels = (M + uk->mr - 1) / uk->mr, n_panels = (N + uk->nr - 1) / uk->nr, units = n_jobs * r.tiles;
    if (threads > 1 && uk->split == LR_GEMM_SPLIT_OVERSUBSCRIBE && units < 4 * threads) {
        r.chunks = (4 * threads + units - 1) / units;
        if (r.chunks > m_panels) r.chunks = m_panels;
    } else if (threads > 1 && uk->split == LR_GEMM_SPLIT_BALANCE && units % threads != 0) {
        /* Balance the threads: when A (M rows) outweighs B (N columns), split M into one chunk per
         * thread (each packs its B tile: cheap next to streaming A once); otherwise cut N into more,
         * equal tiles so every thread gets the same number of columns. */
        int64_t t = r.tiles;
        while ((n_jobs * t) % threads != 0 && t < n_panels) ++t;
        if (M > N || (n_jobs * t) % threads != 0) {
            int64_t a = units, b = threads; /* chunks = threads / gcd(units, threads) */
            while (b) { int64_t c = a % b; a = b; b = c; }
            r.chunks = threads / a;
            if (r.chunks > m_panels) r.chunks = m_panels;
        } else {
            r.tiles = t;
        }
    }
    r.panels_per_chunk = (m_panels + r.chunks - 1) / r.chunks;
    int64_t tasks = n_jobs * r.tiles * r.chunks;
    if (threads == 1 || (double)M * (double)N * (double)K * (double)n_jobs < SERIAL_MACS) { /* waking the pool costs more */
        for (int64_t t = 0; t < tasks; ++t) run_task(&r, t, 0);
        return;
    }
    lr_parallel_for(pool, tasks, run_task, &r);
}
