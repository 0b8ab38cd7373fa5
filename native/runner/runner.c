/* loadrun-runner: runs a compiled model with the native runtime and prints one JSON document.
 *
 *   loadrun-runner MODEL [IN.npy ...] [--input NAME=FILE.npy] [--threads N] [--warmup N]
 *                  [--iters N] [--min-time SECONDS] [--output-dir DIR] [--affinity LIST] [--inplace 0|1]
 *                  [--record 0|1|2] [--weight-preprocess 0|1] [--fast-run MODE] [--algo-cache FILE]
 *                  [--stream-chunks N] [--profile-nodes N]
 *
 * --stream-chunks N: load once, run the first forward and the warm-up once, then N chunks of timed
 * runs (each at least --iters runs and --min-time seconds), printing one JSON line per event as it
 * happens (flushed): {"event": "ready", "load_ns", "first_run_ns", "profiling_ns"} after the first
 * run, then {"event": "chunk", "chunk": K, "samples_ns": [...]} per chunk; the final document
 * (every sample of every chunk, stats, outputs) follows as without the flag. It reads nothing, so a
 * caller that has seen enough simply terminates it (SIGTERM).
 * --profile-nodes N: after the timed runs, N more runs with node timing on; the final document gets
 * "node_times_ns": one list per run of every node's wall time (-1: an alias, no kernel), in the
 * order of "algorithms".
 * Inputs are matched by name (--input) or by position; inputs not given are zeros (reported).
 * On failure: {"error": "..."} on stdout and exit status 1 (2 for bad usage).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loadrun.h"
#include "npy.h"

#define SCHEMA "loadrun-runner/1"

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static int fail(int code, const char *fmt, const char *a, const char *b) {
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    printf("{\"schema\": \"%s\", \"error\": ", SCHEMA);
    json_string(stdout, msg);
    printf("}\n");
    return code;
}

static const char *dtype_name(lr_dtype t) {
    static const char *n[] = {"float32", "float16", "int32", "int16", "int8", "uint8", "bool"};
    return (unsigned)t < 7 ? n[t] : "?";
}

static size_t dtype_size(lr_dtype t) { return t == LR_FLOAT32 || t == LR_INT32 ? 4 : t == LR_FLOAT16 || t == LR_INT16 ? 2 : 1; }

static bool parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* "0,2,4-7" -> cpus; false on a malformed list or more than LR_MAX_AFFINITY CPUs. */
static bool parse_cpus(const char *s, int *cpus, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a > 4095) return false;
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            if (end == s + 1 || b < a || b > 4095) return false;
            s = end;
        }
        for (long c = a; c <= b; ++c) {
            if (*n >= LR_MAX_AFFINITY) return false;
            cpus[(*n)++] = (int)c;
        }
        if (*s == ',') ++s;
        else if (*s) return false;
    }
    return *n > 0;
}

typedef struct input_arg {
    const char *name; /* NULL: positional */
    const char *file;
} input_arg;

int main(int argc, char **argv) {
    const char *model_path = NULL, *out_dir = NULL, *algo_cache = NULL;
    int inplace = 0, record = 0, weight_preprocess = 0, fast_run = 0, n_affinity = 0, affinity[LR_MAX_AFFINITY];
    long long threads = 1, warmup = 1, iters = 10, stream_chunks = 0, profile_nodes = 0;
    int64_t *node_ns = NULL;
    double min_time = 0;
    input_arg *ins = calloc((size_t)argc, sizeof *ins);
    int n_ins = 0;
    if (!ins) return fail(1, "out of memory", NULL, NULL);
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fprintf(stderr, "usage: loadrun-runner MODEL [IN.npy ...] [--input NAME=FILE.npy] [--threads N] [--warmup N] "
                            "[--iters N] [--min-time SECONDS] [--output-dir DIR] [--affinity LIST] [--inplace 0|1] "
                            "[--record 0|1|2] [--weight-preprocess 0|1] "
                            "[--fast-run heuristic|profile|profile-reproducible|profile-optimized] [--algo-cache FILE] "
                            "[--stream-chunks N] [--profile-nodes N]\n");
            free(ins);
            return 0;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--warmup") || !strcmp(a, "--iters")) {
            long long *dst = a[2] == 't' ? &threads : a[2] == 'w' ? &warmup : &iters;
            if (!v || !parse_int(v, a[2] == 't' ? 1 : 0, 1 << 24, dst)) { free(ins); return fail(2, "%s needs a non-negative integer", a, NULL); }
            ++i;
        } else if (!strcmp(a, "--inplace") || !strcmp(a, "--record") || !strcmp(a, "--weight-preprocess")) {
            long long hi = a[2] == 'r' ? 2 : 1, val;
            if (!v || !parse_int(v, 0, hi, &val)) { free(ins); return fail(2, "%s needs 0..%s", a, hi == 2 ? "2" : "1"); }
            if (a[2] == 'i') inplace = (int)val;
            else if (a[2] == 'r') record = (int)val;
            else weight_preprocess = (int)val;
            ++i;
        } else if (!strcmp(a, "--fast-run")) {
            static const char *modes[] = {"heuristic", "profile", "profile-reproducible", "profile-optimized"};
            fast_run = -1;
            for (int k = 0; v && k < 4; ++k)
                if (!strcmp(v, modes[k])) fast_run = k;
            if (fast_run < 0) { free(ins); return fail(2, "--fast-run needs heuristic, profile, profile-reproducible or profile-optimized", NULL, NULL); }
            ++i;
        } else if (!strcmp(a, "--stream-chunks")) {
            if (!v || !parse_int(v, 1, 1 << 20, &stream_chunks)) { free(ins); return fail(2, "%s needs a positive integer", a, NULL); }
            ++i;
        } else if (!strcmp(a, "--profile-nodes")) {
            if (!v || !parse_int(v, 0, 1 << 16, &profile_nodes)) { free(ins); return fail(2, "%s needs a non-negative integer", a, NULL); }
            ++i;
        } else if (!strcmp(a, "--algo-cache")) {
            if (!v) { free(ins); return fail(2, "--algo-cache needs a file", NULL, NULL); }
            algo_cache = v;
            ++i;
        } else if (!strcmp(a, "--affinity")) {
            if (!v || !parse_cpus(v, affinity, &n_affinity)) { free(ins); return fail(2, "--affinity needs a CPU list like 0,1 or 2-3", NULL, NULL); }
            ++i;
        } else if (!strcmp(a, "--min-time")) {
            char *end;
            if (!v || (min_time = strtod(v, &end), *end) || min_time < 0 || min_time > 3600) { free(ins); return fail(2, "--min-time needs seconds", NULL, NULL); }
            ++i;
        } else if (!strcmp(a, "--output-dir")) {
            if (!v) { free(ins); return fail(2, "--output-dir needs a directory", NULL, NULL); }
            out_dir = v;
            ++i;
        } else if (!strcmp(a, "--input")) {
            const char *eq = v ? strchr(v, '=') : NULL;
            if (!eq) { free(ins); return fail(2, "--input needs NAME=FILE.npy", NULL, NULL); }
            char *name = strndup(v, (size_t)(eq - v));
            ins[n_ins++] = (input_arg){name, eq + 1};
            ++i;
        } else if (a[0] == '-' && a[1] == '-') {
            free(ins);
            return fail(2, "unknown option %s", a, NULL);
        } else if (!model_path) {
            model_path = a;
        } else {
            ins[n_ins++] = (input_arg){NULL, a};
        }
    }
    if (!model_path) { free(ins); return fail(2, "usage: loadrun-runner MODEL [inputs] [options]", NULL, NULL); }

    lr_options opts;
    lr_options_init(&opts);
    opts.threads = (int32_t)threads;
    opts.inplace = inplace;
    opts.record = record;
    opts.weight_preprocess = weight_preprocess;
    opts.fast_run = fast_run;
    opts.n_affinity = n_affinity;
    for (int k = 0; k < n_affinity; ++k) opts.affinity[k] = affinity[k];
    opts.algo_cache = algo_cache;
    lr_model *m = NULL;
    int rc = 1;
    npy_array arr = {0};
    int64_t *samples = NULL;
    char err[512];
    const char **sources = NULL;
    int nodes_known = 0;
    char **node_names = NULL;
    const char **node_ops = NULL, **node_algos = NULL, **node_layouts = NULL;
    if (lr_load_file(model_path, &opts, &m) != LR_OK) {
        rc = fail(1, "%s", lr_last_error(), NULL);
        goto done;
    }
    /* node metadata is read before running: record level 2 frees it after the first run */
    nodes_known = lr_node_count(m);
    node_names = calloc((size_t)nodes_known + 1, sizeof *node_names);
    node_ops = calloc((size_t)nodes_known + 1, sizeof *node_ops);
    node_algos = calloc((size_t)nodes_known + 1, sizeof *node_algos);
    node_layouts = calloc((size_t)nodes_known + 1, sizeof *node_layouts);
    if (!node_names || !node_ops || !node_algos || !node_layouts) { rc = fail(1, "out of memory", NULL, NULL); goto done; }
    for (int i = 0; i < nodes_known; ++i) {
        node_names[i] = strdup(lr_node_name(m, i));
        node_ops[i] = lr_node_op(m, i);       /* static strings */
        node_algos[i] = lr_node_algo(m, i);
        node_layouts[i] = lr_node_layout(m, i);
        if (!node_names[i]) { rc = fail(1, "out of memory", NULL, NULL); goto done; }
    }
    int nin = lr_input_count(m), nout = lr_output_count(m), positional = 0;
    sources = calloc((size_t)nin + 1, sizeof *sources);
    for (int k = 0; k < n_ins; ++k) {
        int idx = -1;
        if (ins[k].name) {
            for (int i = 0; i < nin; ++i)
                if (!strcmp(lr_input_name(m, i), ins[k].name)) idx = i;
            if (idx < 0) { rc = fail(1, "the model has no input named %s", ins[k].name, NULL); goto done; }
        } else {
            idx = positional++;
            if (idx >= nin) { rc = fail(1, "more input files than model inputs (at %s)", ins[k].file, NULL); goto done; }
        }
        if (npy_read(ins[k].file, &arr, err, sizeof err) != 0) { rc = fail(1, "%s", err, NULL); goto done; }
        lr_dtype dt;
        int nd;
        int64_t dims[LR_MAX_NDIM];
        lr_input_info(m, idx, &dt, &nd, dims);
        bool same = dt == arr.dtype && nd == arr.ndim;
        for (int d = 0; same && d < nd; ++d) same = dims[d] == arr.dims[d];
        if (!same) { rc = fail(1, "%s does not match the dtype/shape of model input %s", ins[k].file, lr_input_name(m, idx)); goto done; }
        if (lr_set_input(m, idx, arr.data, arr.nbytes) != LR_OK) { rc = fail(1, "%s", lr_last_error(), NULL); goto done; }
        sources[idx] = ins[k].file;
        npy_free(&arr);
    }
    if (lr_forward(m) != LR_OK || lr_wait(m) != LR_OK) { rc = fail(1, "%s", lr_last_error(), NULL); goto done; }
    size_t cap = min_time > 0 ? (size_t)(iters > 100000 ? iters : 100000) : (size_t)(iters > 0 ? iters : 1), count = 0;
    samples = malloc(cap * sizeof *samples);
    if (!samples) { rc = fail(1, "out of memory", NULL, NULL); goto done; }
    if (stream_chunks > 0) {
        lr_stats st0;
        memset(&st0, 0, sizeof st0);
        st0.size = sizeof st0;
        lr_stats_get(m, &st0);
        printf("{\"schema\": \"%s\", \"event\": \"ready\", \"load_ns\": %lld, \"first_run_ns\": %lld, \"profiling_ns\": %lld}\n",
               SCHEMA, (long long)st0.load_ns, (long long)st0.first_run_ns, (long long)st0.profiling_ns);
        fflush(stdout);
        size_t chunk_cap = cap, total = 0;
        for (long long k = 0; k < stream_chunks; ++k) {
            if (total + chunk_cap > cap) {
                size_t ncap = cap * 2 > total + chunk_cap ? cap * 2 : total + chunk_cap;
                int64_t *grown = realloc(samples, ncap * sizeof *samples);
                if (!grown) { rc = fail(1, "out of memory", NULL, NULL); goto done; }
                samples = grown;
                cap = ncap;
            }
            if (lr_timed_loop(m, k == 0 ? (int)warmup : 0, (int)iters, (int64_t)(min_time * 1e9), samples + total, chunk_cap, &count) != LR_OK) {
                rc = fail(1, "%s", lr_last_error(), NULL);
                goto done;
            }
            printf("{\"event\": \"chunk\", \"chunk\": %lld, \"samples_ns\": [", k);
            for (size_t i = 0; i < count; ++i) printf("%s%lld", i ? ", " : "", (long long)samples[total + i]);
            printf("]}\n");
            fflush(stdout);
            total += count;
        }
        count = total;
    } else if (lr_timed_loop(m, (int)warmup, (int)iters, (int64_t)(min_time * 1e9), samples, cap, &count) != LR_OK) {
        rc = fail(1, "%s", lr_last_error(), NULL);
        goto done;
    }
    int n_nodes = lr_node_count(m);
    if (profile_nodes > 0 && n_nodes > 0) {
        node_ns = malloc((size_t)profile_nodes * (size_t)n_nodes * sizeof *node_ns);
        if (!node_ns) { rc = fail(1, "out of memory", NULL, NULL); goto done; }
        if (lr_node_timing(m, 1) != LR_OK) { rc = fail(1, "%s", lr_last_error(), NULL); goto done; }
        for (long long r = 0; r < profile_nodes; ++r) {
            if (lr_forward(m) != LR_OK || lr_wait(m) != LR_OK) { rc = fail(1, "%s", lr_last_error(), NULL); goto done; }
            for (int k = 0; k < n_nodes; ++k) node_ns[r * n_nodes + k] = lr_node_time_ns(m, k);
        }
        lr_node_timing(m, 0);
    }
    if (out_dir) mkdir(out_dir, 0777);

    lr_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    lr_stats_get(m, &st);
    printf("{\n  \"schema\": \"%s\",\n  \"version\": \"%s\",\n  \"build_id\": ", SCHEMA, lr_version());
    json_string(stdout, lr_build_id());
    printf(",\n  \"model\": ");
    json_string(stdout, model_path);
    printf(",\n  \"threads\": %u,\n  \"load_ns\": %lld,\n  \"first_run_ns\": %lld,\n  \"warmup\": %lld,\n  \"samples_ns\": [",
           st.threads, (long long)st.load_ns, (long long)st.first_run_ns, warmup);
    for (size_t i = 0; i < count; ++i) printf("%s%lld", i ? ", " : "", (long long)samples[i]);
    printf("],\n  \"stats\": {\"arena_bytes\": %llu, \"arena_lower_bound_bytes\": %llu, \"weight_bytes\": %llu, "
           "\"packed_weight_bytes\": %llu, \"workspace_bytes\": %llu, \"io_bytes\": %llu, \"kernels\": %u, \"nodes\": %u},\n",
           (unsigned long long)st.arena_bytes, (unsigned long long)st.arena_lower_bound_bytes, (unsigned long long)st.weight_bytes,
           (unsigned long long)st.packed_weight_bytes, (unsigned long long)st.workspace_bytes, (unsigned long long)st.io_bytes,
           st.kernels, st.nodes);
    int cpus[256], n_cpus = lr_cpus_used(m, cpus, 256);
    printf("  \"runtime\": {\"runs\": %u, \"graph_walks_per_run\": %u, \"weight_packs_per_run\": %u, \"kernels_per_run\": %u, "
           "\"fused_kernels\": %u, \"recorded_calls\": %u, \"metadata_bytes\": %llu, \"metadata_bytes_at_load\": %llu, "
           "\"threads_used\": %u, \"dispatcher_runs\": %u, \"profiling_ns\": %lld, \"profiled_nodes\": %u, "
           "\"algo_cache_hits\": %u, \"algo_cache_misses\": %u, \"algo_cache_status\": %d, \"algo_cache_written\": %d, "
           "\"algo_cache_message\": ",
           st.runs, st.graph_walks_per_run, st.weight_packs_per_run, st.kernels_per_run, st.fused_kernels, st.recorded_calls,
           (unsigned long long)st.metadata_bytes, (unsigned long long)st.metadata_bytes_at_load, st.threads_used, st.dispatcher_runs,
           (long long)st.profiling_ns, st.profiled_nodes, st.algo_cache_hits, st.algo_cache_misses, st.algo_cache_status,
           st.algo_cache_written);
    json_string(stdout, lr_algo_cache_message(m));
    printf(", \"cpus_used\": [");
    for (int k = 0; k < n_cpus && k < 256; ++k) printf("%s%d", k ? ", " : "", cpus[k]);
    printf("]},\n  \"algorithms\": [");
    for (int i = 0; i < nodes_known; ++i) {
        printf("%s{\"node\": ", i ? ", " : "");
        json_string(stdout, node_names[i]);
        printf(", \"op\": \"%s\", \"algo\": \"%s\", \"layout\": \"%s\"}", node_ops[i], node_algos[i], node_layouts[i]);
    }
    printf("],\n");
    if (node_ns) {
        printf("  \"node_times_ns\": [");
        for (long long r = 0; r < profile_nodes; ++r) {
            printf("%s[", r ? ", " : "");
            for (int k = 0; k < n_nodes; ++k) printf("%s%lld", k ? ", " : "", (long long)node_ns[r * n_nodes + k]);
            printf("]");
        }
        printf("],\n");
    }
    printf("  \"inputs\": [");
    for (int i = 0; i < nin; ++i) {
        printf("%s{\"name\": ", i ? ", " : "");
        json_string(stdout, lr_input_name(m, i));
        printf(", \"source\": ");
        json_string(stdout, sources[i] ? sources[i] : "zeros");
        printf("}");
    }
    printf("],\n  \"outputs\": [");
    for (int i = 0; i < nout; ++i) {
        lr_dtype dt;
        int nd;
        int64_t dims[LR_MAX_NDIM];
        lr_output_info(m, i, &dt, &nd, dims);
        printf("%s{\"name\": ", i ? ", " : "");
        json_string(stdout, lr_output_name(m, i));
        printf(", \"dtype\": \"%s\", \"shape\": [", dtype_name(dt));
        size_t bytes = dtype_size(dt);
        for (int d = 0; d < nd; ++d) {
            printf("%s%lld", d ? ", " : "", (long long)dims[d]);
            bytes *= (size_t)dims[d];
        }
        printf("]");
        if (out_dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/output_%d.npy", out_dir, i);
            if (npy_write(path, dt, nd, dims, lr_output_data(m, i), bytes, err, sizeof err) != 0) {
                printf("]}\n");
                rc = fail(1, "%s", err, NULL);
                goto done;
            }
            printf(", \"file\": ");
            json_string(stdout, path);
        }
        printf("}");
    }
    printf("]\n}\n");
    rc = 0;
done:
    for (int i = 0; node_names && i < nodes_known; ++i) free(node_names[i]);
    free(node_names);
    free(node_ops);
    free(node_algos);
    free(node_layouts);
    npy_free(&arr);
    free(samples);
    free(node_ns);
    free(sources);
    for (int k = 0; k < n_ins; ++k) free((char *)ins[k].name);
    free(ins);
    lr_free(m);
    return rc;
}
