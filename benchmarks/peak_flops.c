/* peak_flops.c: measured single-thread FMA peak (AVX-512 and AVX2: 12 independent register-only
 * FMA chains, kept apart by empty asm so the compiler cannot merge them) and
 * the x86 packed sgemm (lr_gemm_run) at large sizes, as GFLOP/s and a fraction of that peak.
 * Build and run: sh benchmarks/x86_kernels.sh (links build/x86/libloadrun_static.a). */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "thread_pool.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHAIN(T, FMA, N)                                                                   \
    for (long i = 0; i < iters; ++i) {                                                     \
        v0 = FMA(v0, m, a); v1 = FMA(v1, m, a); v2 = FMA(v2, m, a); v3 = FMA(v3, m, a);     \
        v4 = FMA(v4, m, a); v5 = FMA(v5, m, a); v6 = FMA(v6, m, a); v7 = FMA(v7, m, a);     \
        v8 = FMA(v8, m, a); v9 = FMA(v9, m, a); v10 = FMA(v10, m, a); v11 = FMA(v11, m, a); \
        __asm__ volatile("" : "+v"(v0), "+v"(v1), "+v"(v2), "+v"(v3), "+v"(v4), "+v"(v5));     \
        __asm__ volatile("" : "+v"(v6), "+v"(v7), "+v"(v8), "+v"(v9), "+v"(v10), "+v"(v11));   \
    }

__attribute__((target("avx512f"))) static double peak512(long iters) {
    __m512 v0 = _mm512_set1_ps(1.f), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0, v6 = v0, v7 = v0, v8 = v0, v9 = v0,
           v10 = v0, v11 = v0, m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    double t = now();
    CHAIN(__m512, _mm512_fmadd_ps, 16)
    t = now() - t;
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v0, v1), _mm512_add_ps(v2, v3)),
                             _mm512_add_ps(_mm512_add_ps(v4, v5), _mm512_add_ps(v6, v7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(v8, v9), _mm512_add_ps(v10, v11)));
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return iters * 12.0 * 16 * 2 / t / 1e9;
}

__attribute__((target("avx2,fma"))) static double peak256(long iters) {
    __m256 v0 = _mm256_set1_ps(1.f), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0, v6 = v0, v7 = v0, v8 = v0, v9 = v0,
           v10 = v0, v11 = v0, m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    double t = now();
    CHAIN(__m256, _mm256_fmadd_ps, 8)
    t = now() - t;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(v0, v1), _mm256_add_ps(v2, v3)),
                             _mm256_add_ps(_mm256_add_ps(v4, v5), _mm256_add_ps(v6, v7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(v8, v9), _mm256_add_ps(v10, v11)));
    float o[8];
    _mm256_storeu_ps(o, s);
    volatile float sink = o[0];
    (void)sink;
    return iters * 12.0 * 8 * 2 / t / 1e9;
}

typedef struct bctx {
    const float *packed;
    int64_t K;
} bctx;

static const float *get_b(const void *c, int64_t j0, int64_t nt, int nr, float *scratch) {
    const bctx *b = c;
    (void)nt; (void)nr; (void)scratch;
    return b->packed + (size_t)j0 * b->K;
}

static double median(double *v, int n) {
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j)
            if (v[j] < v[i]) { double t = v[i]; v[i] = v[j]; v[j] = t; }
    return v[n / 2];
}

static double sgemm(const lr_gemm_ukernel *uk, int threads, int64_t M, int64_t N, int64_t K, int reps) {
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    for (int64_t i = 0; i < M * K; ++i) a[i] = (float)(i % 7) * 0.1f;
    for (int64_t i = 0; i < K * N; ++i) b[i] = (float)(i % 5) * 0.1f;
    float *pa = aligned_alloc(64, lr_gemm_packed_a_floats(uk, M, K) * sizeof(float) + 64);
    float *pb = aligned_alloc(64, lr_gemm_packed_b_floats(uk, K, N) * sizeof(float) + 64);
    lr_gemm_pack_a(uk, M, K, a, K, 1, pa);
    lr_gemm_pack_b(uk->nr, K, 0, (N + uk->nr - 1) / uk->nr * uk->nr, N, b, N, 1, pb);
    lr_thread_pool *pool = lr_pool_create(threads);
    float *scratch = aligned_alloc(64, (size_t)threads * lr_gemm_scratch_floats(uk, K, N) * sizeof(float) + 64);
    bctx bc = {pb, K};
    lr_gemm_job job = {M, N, K, pa, get_b, &bc, c, N, NULL, NULL, 0, -1e30f, 1e30f, NULL, NULL};
    double t[64];
    lr_gemm_run(uk, pool, &job, 1, scratch);
    for (int r = 0; r < reps; ++r) {
        double t0 = now();
        lr_gemm_run(uk, pool, &job, 1, scratch);
        t[r] = now() - t0;
    }
    double med = median(t, reps);
    lr_pool_destroy(pool);
    free(a); free(b); free(c); free(pa); free(pb); free(scratch);
    return 2.0 * M * N * K / med / 1e9;
}

int main(int argc, char **argv) {
    int size = argc > 1 ? atoi(argv[1]) : 1024;
    unsigned f = lr_x86_features();
    double p512[9], p256[9];
    for (int r = 0; r < 9; ++r) { /* interleaved, medians */
        p512[r] = f & LR_X86_AVX512 ? peak512(20000000) : 0;
        p256[r] = f & LR_X86_AVX2_FMA ? peak256(20000000) : 0;
    }
    double pk512 = median(p512, 9), pk256 = median(p256, 9);
    printf("{\"peak_avx512_gflops\": %.1f, \"peak_avx2_gflops\": %.1f", pk512, pk256);
    const lr_gemm_ukernel *uks[2] = {&lr_f32_gemm_8x32_avx512f_broadcast, &lr_f32_gemm_6x16_avx2_fma_broadcast};
    double pks[2] = {pk512, pk256};
    for (int u = 0; u < 2; ++u) {
        if (!lr_x86_has(uks[u]->features)) continue;
        for (int th = 1; th <= 2; ++th) {
            double g = sgemm(uks[u], th, size, size, size, 15);
            printf(", \"sgemm_%d_%s_t%d_gflops\": %.1f, \"sgemm_%d_%s_t%d_frac_of_peak\": %.3f", size, uks[u]->name, th, g,
                   size, uks[u]->name, th, g / (pks[u] * th));
        }
    }
    printf("}\n");
    return 0;
}
