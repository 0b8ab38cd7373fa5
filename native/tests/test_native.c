/* test_native.c: native tests runnable without Python (ctest): every model of a corpus directory
 * loads, runs with 1 and 3 threads to identical outputs, and survives truncation and byte flips;
 * the API refuses misuse; half conversion and the thread pool behave. Also a load/run/free loop
 * for leak checkers (valgrind, LeakSanitizer).
 *
 *   test_native CORPUS_DIR [--loop N]
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadrun.h"
#include "model.h"
#include "thread_pool.h"

static int failures = 0;
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
            ++failures;                                                      \
        }                                                                    \
    } while (0)

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    *size = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void fill_inputs(lr_model *m) {
    for (int i = 0; i < lr_input_count(m); ++i) {
        lr_dtype dt;
        int nd;
        int64_t dims[LR_MAX_NDIM];
        lr_input_info(m, i, &dt, &nd, dims);
        size_t n = 1;
        for (int d = 0; d < nd; ++d) n *= (size_t)dims[d];
        size_t es = lr_dtype_size(dt);
        uint8_t *buf = malloc(n * es + 1);
        for (size_t k = 0; k < n; ++k) {
            /* small non-negative values: valid indices, in-domain for log/sqrt */
            if (dt == LR_FLOAT32) ((float *)buf)[k] = (float)(k % 7) * 0.1f + 0.05f;
            else if (dt == LR_FLOAT16) ((uint16_t *)buf)[k] = lr_float_to_half(0.25f);
            else lr_store_i64(buf, dt, (int64_t)k, (int64_t)(k % 2));
        }
        lr_set_input(m, i, buf, n * es);
        free(buf);
    }
}

/* The leak loop cycles through runtime options (dispatcher/inplace, record levels, weight
 * preprocess, fast-run) so the dispatcher thread and record/replay are checked too. */
static int opt_variant = 0;

/* Loads and runs; returns a malloc'ed copy of all outputs (or NULL when it failed cleanly). */
static uint8_t *load_run(const uint8_t *buf, size_t size, int threads, size_t *out_bytes) {
    lr_options o;
    lr_options_init(&o);
    o.threads = threads;
    o.inplace = opt_variant & 1;
    o.record = (opt_variant >> 1) % 3;
    o.weight_preprocess = (opt_variant >> 2) & 1;
    o.fast_run = (opt_variant >> 3) % 4;
    lr_model *m = NULL;
    if (lr_load_memory(buf, size, &o, &m) != LR_OK) {
        CHECK(m == NULL && strlen(lr_last_error()) > 0, "failed load leaves a handle or no message");
        return NULL;
    }
    lr_stats st = {.size = sizeof st};
    lr_stats_get(m, &st);
    uint8_t *all = NULL;
    size_t total = 0;
    if (st.io_bytes + st.arena_bytes > ((uint64_t)64 << 20)) { /* a flipped dim made it huge: loading was the test */
        lr_free(m);
        *out_bytes = 0;
        return calloc(1, 1);
    }
    fill_inputs(m);
    if (opt_variant && lr_forward(m) == LR_OK) lr_wait(m); /* a second run replays a recording */
    if (lr_forward(m) == LR_OK && lr_wait(m) == LR_OK) {
        for (int i = 0; i < lr_output_count(m); ++i) {
            lr_dtype dt;
            int nd;
            int64_t dims[LR_MAX_NDIM];
            lr_output_info(m, i, &dt, &nd, dims);
            size_t n = lr_dtype_size(dt);
            for (int d = 0; d < nd; ++d) n *= (size_t)dims[d];
            all = realloc(all, total + n + 1);
            CHECK(lr_get_output(m, i, all + total, n) == LR_OK, "get_output");
            total += n;
        }
    }
    lr_free(m);
    *out_bytes = total;
    return all;
}

static void test_model(const char *path) {
    size_t size;
    uint8_t *buf = read_file(path, &size);
    CHECK(buf, "cannot read %s", path);
    if (!buf) return;
    size_t n1 = 0, n3 = 0;
    uint8_t *o1 = load_run(buf, size, 1, &n1), *o3 = load_run(buf, size, 3, &n3);
    CHECK(o1 && o3 && n1 == n3, "%s: does not run", path);
    if (o1 && o3 && n1 == n3) {
        /* threads split work, never change the arithmetic order within an output element */
        CHECK(memcmp(o1, o3, n1) == 0, "%s: 1 and 3 threads differ", path);
    }
    free(o1);
    free(o3);
    for (size_t cut = 0; cut < size; cut += cut < 256 ? 1 : 97) { /* truncations */
        size_t n = 0;
        uint8_t *o = load_run(buf, cut, 1, &n);
        CHECK(o == NULL, "%s: truncated to %zu bytes still loads", path, cut);
        free(o);
    }
    for (size_t at = 0; at < size && at < 4096; at += 3) { /* flips: an error or a clean run */
        buf[at] ^= 0x5a;
        size_t n = 0;
        free(load_run(buf, size, 1, &n));
        buf[at] ^= 0x5a;
    }
    free(buf);
}

static void test_api_misuse(void) {
    lr_model *m = (lr_model *)1;
    CHECK(lr_load_memory(NULL, 10, NULL, &m) == LR_ERR_ARGUMENT && m == NULL, "NULL buffer");
    CHECK(lr_load_memory("x", 1, NULL, NULL) == LR_ERR_ARGUMENT, "NULL out");
    CHECK(lr_load_file("/nonexistent/model.lrm", NULL, &m) == LR_ERR_IO, "missing file");
    CHECK(strstr(lr_last_error(), "/nonexistent") != NULL, "message names the file: %s", lr_last_error());
    CHECK(lr_load_file("/", NULL, &m) == LR_ERR_IO, "a directory");
    lr_options o = {.size = 2, .threads = 4};
    CHECK(lr_load_memory("LRMODEL", 8, &o, &m) == LR_ERR_ARGUMENT, "old options size");
    CHECK(lr_forward(NULL) == LR_ERR_ARGUMENT && lr_input_count(NULL) == 0 && lr_node_algo(NULL, 0) == NULL, "NULL model");
    lr_free(NULL);
    CHECK(strcmp(lr_version(), "0.2.0") == 0 && strstr(lr_build_id(), "loadrun") != NULL, "version/build id");
}

static void test_half(void) {
    float vals[] = {0.f, 1.f, -2.5f, 65504.f, 1e-7f, 6.1e-5f, 3.14159f};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; ++i) {
        float back = lr_half_to_float(lr_float_to_half(vals[i]));
        CHECK(fabsf(back - vals[i]) <= fabsf(vals[i]) * 1e-3f + 6e-8f, "half round trip of %g gave %g", vals[i], back);
    }
    CHECK(isinf(lr_half_to_float(lr_float_to_half(1e6f))), "overflow to inf");
    CHECK(lr_float_to_half(1.f) == 0x3c00, "1.0 bits");
}

static void count_task(void *ctx, int64_t t, int thread) {
    int64_t *hits = ctx;
    __atomic_fetch_add(&hits[t], 1 + thread * 0, __ATOMIC_RELAXED);
}

static void test_pool(void) {
    for (int threads = 1; threads <= 4; ++threads) {
        lr_thread_pool *p = lr_pool_create(threads);
        CHECK(p && lr_pool_threads(p) == threads, "pool of %d", threads);
        int64_t hits[1000] = {0};
        for (int rep = 0; rep < 50; ++rep) lr_parallel_for(p, 1000, count_task, hits);
        for (int i = 0; i < 1000; ++i) CHECK(hits[i] == 50, "task %d ran %lld times", i, (long long)hits[i]);
        lr_pool_destroy(p);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_native CORPUS_DIR [--loop N]\n");
        return 2;
    }
    int loops = 0;
    if (argc >= 4 && !strcmp(argv[2], "--loop")) loops = atoi(argv[3]);
    DIR *dir = opendir(argv[1]);
    CHECK(dir, "cannot open %s", argv[1]);
    int models = 0;
    char path[4096];
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (loops) {
            size_t size = 0, n;
            uint8_t *buf = read_file(path, &size);
            for (int i = 0; i < loops; ++i) {
                opt_variant = i;
                free(load_run(buf, size, 2, &n));
            }
            opt_variant = 0;
            free(buf);
        } else {
            test_model(path);
        }
        ++models;
    }
    if (dir) closedir(dir);
    CHECK(models > 0, "no models in %s", argv[1]);
    if (!loops) {
        test_api_misuse();
        test_half();
        test_pool();
    }
    printf("%s: %d models, %d failures\n", failures ? "FAILED" : "ok", models, failures);
    return failures ? 1 : 0;
}
