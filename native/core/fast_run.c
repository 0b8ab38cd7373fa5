/* fast_run.c: each node's algorithm, chosen at load.
 *
 * heuristic: the first usable algorithm in registry order. profile: every usable candidate runs on
 * the node's real shapes (scratch buffers, the real weights), interleaved in rounds, and the fastest
 * is kept;
 * profile-reproducible drops algorithms flagged LR_ALGO_NONDETERMINISTIC; profile-optimized times
 * only the two candidates its cost model ranks best. Choices go to the algorithm cache, a text
 * file keyed by node signature and stamped with the build id and CPU features, so a later load
 * (any mode) reuses them without profiling.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

#define CACHE_MAGIC "loadrun-algo-cache 1"
#define CACHE_MAX_BYTES ((size_t)64 << 20)
#define MAX_CANDIDATES 16
#define OPTIMIZED_TOP_K 2
#define PROFILE_RUNS 3
#define INTERLEAVE_MAX_BYTES ((size_t)512 << 20) /* all candidates' weights + workspaces held at once */

/* ---- small growable string ------------------------------------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = true; return; }
        if (b->s && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = true; return; }
        b->s = p;
        b->cap = cap;
    }
}

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

/* The CPU features that change which kernels exist or win: part of every cache's identity. */
static const char *cpu_features(void) {
#if defined(__x86_64__) || defined(__i386__)
    static char buf[128];
    if (!buf[0]) {
        __builtin_cpu_init();
        snprintf(buf, sizeof buf, "x86%s%s%s%s%s%s", __builtin_cpu_supports("sse4.2") ? " sse4.2" : "",
                 __builtin_cpu_supports("avx") ? " avx" : "", __builtin_cpu_supports("avx2") ? " avx2" : "",
                 __builtin_cpu_supports("fma") ? " fma" : "", __builtin_cpu_supports("avx512f") ? " avx512f" : "",
                 __builtin_cpu_supports("avx512vnni") ? " avx512vnni" : "");
    }
    return buf;
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__arm__)
    return "arm";
#else
    return "unknown";
#endif
}

/* op, every input's dtype/kind/shape, every output's shape, the attributes, the thread count. */
static void signature(const lr_model *m, const lr_node *n, sbuf *b) {
    sb_printf(b, "op=%d t=%d in=", n->op, m->threads);
    for (int k = 0; k < n->n_in; ++k) {
        const lr_tensor *t = &m->tensors[n->in[k]];
        sb_printf(b, "%s%d%c", k ? ";" : "", (int)t->dtype, t->kind == LR_KIND_CONST ? 'c' : 'v');
        for (int d = 0; d < t->ndim; ++d) sb_printf(b, "%c%lld", d ? 'x' : ':', (long long)t->dims[d]);
    }
    sb_printf(b, " out=");
    for (int k = 0; k < n->n_out; ++k) {
        const lr_tensor *t = &m->tensors[n->out[k]];
        sb_printf(b, "%s%d", k ? ";" : "", (int)t->dtype);
        for (int d = 0; d < t->ndim; ++d) sb_printf(b, "%c%lld", d ? 'x' : ':', (long long)t->dims[d]);
    }
    sb_printf(b, " i=");
    for (int k = 0; k < n->n_ints; ++k) sb_printf(b, "%s%lld", k ? "," : "", (long long)n->ints[k]);
    sb_printf(b, " f=");
    for (int k = 0; k < n->n_floats; ++k) sb_printf(b, "%s%a", k ? "," : "", n->floats[k]);
}

/* ---- the cache file ------------------------------------------------------------------------- */

typedef struct entry {
    char *sig, *algo;
} entry;

typedef struct cache {
    entry *e;
    int n, cap;
    bool dirty;
} cache;

static bool cache_add(cache *c, const char *sig, size_t sig_len, const char *algo, size_t algo_len) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        entry *e = realloc(c->e, sizeof *e * (size_t)cap);
        if (!e) return false;
        c->e = e;
        c->cap = cap;
    }
    entry *x = &c->e[c->n];
    x->sig = strndup(sig, sig_len);
    x->algo = strndup(algo, algo_len);
    if (!x->sig || !x->algo) {
        free(x->sig);
        free(x->algo);
        return false;
    }
    c->n++;
    return true;
}

static void cache_free(cache *c) {
    for (int i = 0; i < c->n; ++i) {
        free(c->e[i].sig);
        free(c->e[i].algo);
    }
    free(c->e);
}

static const char *cache_find(const cache *c, const char *sig) {
    for (int i = c->n - 1; i >= 0; --i)
        if (!strcmp(c->e[i].sig, sig)) return c->e[i].algo;
    return NULL;
}

static void note(lr_model *m, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(lr_model *m, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->cache_message, sizeof m->cache_message, fmt, ap);
    va_end(ap);
    if (status >= 0) m->cache_status = status;
}

/* Reads `path` into c; sets m->cache_status. *ours: the file is (or could become) a cache of ours. */
static void cache_read(lr_model *m, const char *path, cache *c, bool *ours) {
    *ours = true;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) note(m, LR_ALGO_CACHE_ABSENT, "%s", "");
        else {
            note(m, LR_ALGO_CACHE_CORRUPT, "%s: cannot read the algorithm cache (%s); not used", path, strerror(errno));
            *ours = false;
        }
        return;
    }
    char *buf = malloc(CACHE_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, CACHE_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > CACHE_MAX_BYTES) {
        free(buf);
        *ours = false;
        note(m, LR_ALGO_CACHE_CORRUPT, "%s: algorithm cache too large or unreadable; not used", path);
        return;
    }
    buf[n] = 0;
    const char *p = buf, *end = buf + n;
    if (n < sizeof CACHE_MAGIC || memcmp(buf, CACHE_MAGIC "\n", sizeof CACHE_MAGIC) != 0) {
        bool family = n >= 18 && !memcmp(buf, "loadrun-algo-cache", 18);
        *ours = family; /* an older/newer version of ours may be replaced; anything else is left alone */
        note(m, LR_ALGO_CACHE_CORRUPT, "%s: %s; not used", path,
             family ? "algorithm cache of another format version" : "not a loadrun algorithm cache");
        free(buf);
        return;
    }
    /* the last line is "checksum HEX" over every byte before it */
    const char *last = end;
    if (last > buf && last[-1] == '\n') --last;
    while (last > buf && last[-1] != '\n') --last;
    unsigned long long want = 0;
    if (sscanf(last, "checksum %16llx", &want) != 1 || fnv1a(buf, (size_t)(last - buf)) != want) {
        note(m, LR_ALGO_CACHE_CORRUPT, "%s: algorithm cache checksum mismatch (truncated or edited); not used", path);
        free(buf);
        return;
    }
    p += sizeof CACHE_MAGIC; /* past "magic\n" */
    const char *nl = memchr(p, '\n', (size_t)(last - p));
    const char *build = lr_build_id(), *cpu = cpu_features();
    if (!nl || (size_t)(nl - p) != 6 + strlen(build) || memcmp(p, "build ", 6) || memcmp(p + 6, build, strlen(build))) {
        note(m, LR_ALGO_CACHE_FOREIGN, "%s: algorithm cache written by another build of loadrun; not used", path);
        free(buf);
        return;
    }
    p = nl + 1;
    nl = memchr(p, '\n', (size_t)(last - p));
    if (!nl || (size_t)(nl - p) != 4 + strlen(cpu) || memcmp(p, "cpu ", 4) || memcmp(p + 4, cpu, strlen(cpu))) {
        note(m, LR_ALGO_CACHE_FOREIGN, "%s: algorithm cache written on a CPU with other features; not used", path);
        free(buf);
        return;
    }
    for (p = nl + 1; p < last; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(last - p));
        const char *tab = nl ? memchr(p, '\t', (size_t)(nl - p)) : NULL;
        if (!tab || tab == p || !cache_add(c, tab + 1, (size_t)(nl - tab - 1), p, (size_t)(tab - p))) {
            cache_free(c);
            memset(c, 0, sizeof *c);
            note(m, LR_ALGO_CACHE_CORRUPT, "%s: malformed algorithm cache entry; not used", path);
            free(buf);
            return;
        }
    }
    free(buf);
    note(m, LR_ALGO_CACHE_LOADED, "%s", "");
}

/* Written to a temporary file beside `path`, then renamed: never half a cache. */
static lr_status cache_write(lr_model *m, const char *path, const cache *c) {
    sbuf b = {0};
    sb_printf(&b, "%s\nbuild %s\ncpu %s\n", CACHE_MAGIC, lr_build_id(), cpu_features());
    for (int i = 0; i < c->n; ++i) sb_printf(&b, "%s\t%s\n", c->e[i].algo, c->e[i].sig);
    if (b.oom) { free(b.s); return lr_fail(LR_ERR_MEMORY, "out of memory writing the algorithm cache"); }
    sb_printf(&b, "checksum %016llx\n", (unsigned long long)fnv1a(b.s, b.len));
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp || b.oom) { free(tmp); free(b.s); return lr_fail(LR_ERR_MEMORY, "out of memory writing the algorithm cache"); }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(b.s, 1, b.len, f) == b.len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) {
        note(m, -1, "%s: cannot write the algorithm cache (%s)", path, strerror(errno));
        unlink(tmp);
    } else {
        m->cache_written = 1;
    }
    free(tmp);
    free(b.s);
    return LR_OK; /* a cache that cannot be written costs the next load a profile, not this one */
}

/* ---- profiling ------------------------------------------------------------------------------ */

static bool allowed(const lr_model *m, const lr_algo *a) {
    return !(m->fast_run == LR_FAST_RUN_PROFILE_REPRODUCIBLE && (a->flags & LR_ALGO_NONDETERMINISTIC));
}

static int candidates(const lr_model *m, const lr_node *n, int *ids) {
    int k = 0;
    for (int id = 0; id < lr_algo_count() && k < MAX_CANDIDATES; ++id) {
        const lr_algo *a = lr_algo_at(id);
        if (a->op == n->op && allowed(m, a) && a->usable(m, n)) ids[k++] = id;
    }
    /* LOADRUN_ALGO_FORCE (tests): lr_algo_choose's pick goes first, so the heuristic takes it */
    const lr_algo *pick = k > 1 ? lr_algo_choose(m, n) : NULL;
    for (int i = 1; pick && i < k; ++i)
        if (lr_algo_at(ids[i]) == pick) {
            int t = ids[i];
            memmove(ids + 1, ids, sizeof *ids * (size_t)i);
            ids[0] = t;
        }
    return k;
}

/* profile-optimized: keep the OPTIMIZED_TOP_K cheapest by cost model (unknown cost ranks last). */
static int keep_top_k(const lr_model *m, const lr_node *n, int *ids, int k) {
    double cost[MAX_CANDIDATES];
    for (int i = 0; i < k; ++i) {
        const lr_algo *a = lr_algo_at(ids[i]);
        cost[i] = a->cost ? a->cost(m, n, m->threads) : 1e300;
    }
    for (int i = 1; i < k; ++i) /* stable insertion sort: registry order breaks ties */
        for (int j = i; j > 0 && cost[j] < cost[j - 1]; --j) {
            double c = cost[j]; cost[j] = cost[j - 1]; cost[j - 1] = c;
            int t = ids[j]; ids[j] = ids[j - 1]; ids[j - 1] = t;
        }
    return k < OPTIMIZED_TOP_K ? k : OPTIMIZED_TOP_K;
}

static void fill(void *p, const lr_tensor *t) {
    if (t->dtype == LR_FLOAT32) {
        float *f = p;
        for (int64_t i = 0; i < t->numel; ++i) f[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
    } /* other dtypes stay zero: a valid index for every indexing operator */
}

/* The candidates ids[0..k) prepared at once, then timed in rounds (a warm-up round, then
 * PROFILE_RUNS rounds, each starting one candidate later): a burst of machine load (another process,
 * a frequency drop) lands on one round of every candidate instead of on every run of one, so it
 * cannot decide the choice. A candidate whose warm-up is 8x the fastest warm-up (or 8x ref_ns, the
 * best of candidates timed before, when > 0) is not timed further. Returns the index into ids of the
 * fastest (its best time in *best_ns), -1 if none ran, or -2 when k > 1 candidates' weights and
 * workspaces together exceed INTERLEAVE_MAX_BYTES or an allocation fails (time them one by one). */
typedef struct cand {
    void *packed, *ws;
    size_t packed_bytes;
    int64_t best;
    bool alive;
} cand;

static int run_candidate(lr_model *m, lr_node *n, const lr_algo *a, cand *c, int64_t *dt) {
    n->algo = a;
    n->packed = c->packed;
    n->packed_bytes = c->packed_bytes;
    lr_run_ctx ctx = {m, m->pool, m->threads, c->ws};
    int64_t t0 = lr_now_ns();
    lr_status s = a->run(&ctx, n);
    *dt = lr_now_ns() - t0;
    return s == LR_OK;
}

static int time_candidates(lr_model *m, lr_node *n, const int *ids, int k, int64_t ref_ns, int64_t *best_ns) {
    cand c[MAX_CANDIDATES] = {0};
    size_t total = 0;
    int result = -2;
    for (int i = 0; i < k; ++i) {
        const lr_algo *a = lr_algo_at(ids[i]);
        n->algo = a;
        n->packed = NULL;
        n->packed_bytes = 0;
        c[i].alive = !(m->weight_preprocess && a->prepare && a->prepare(m, n) != LR_OK);
        c[i].packed = n->packed, c[i].packed_bytes = n->packed_bytes;
        size_t wsb = c[i].alive && a->workspace ? a->workspace(m, n, m->threads) : 0; /* sized for these weights */
        n->packed = NULL;
        n->packed_bytes = 0;
        total += c[i].packed_bytes + wsb;
        if ((k > 1 && total > INTERLEAVE_MAX_BYTES) || wsb > LR_MAX_TENSOR_BYTES || (wsb && !(c[i].ws = lr_alloc64(wsb))))
            goto out;
    }
    int64_t warm_min = -1, warm[MAX_CANDIDATES];
    for (int i = 0; i < k; ++i) {
        if (c[i].alive) c[i].alive = run_candidate(m, n, lr_algo_at(ids[i]), &c[i], &warm[i]);
        if (c[i].alive && (warm_min < 0 || warm[i] < warm_min)) warm_min = warm[i];
        c[i].best = -1;
    }
    if (ref_ns > 0 && (warm_min < 0 || ref_ns < warm_min)) warm_min = ref_ns;
    for (int i = 0; i < k; ++i)
        if (c[i].alive && warm_min > 0 && warm[i] > 8 * warm_min) c[i].alive = false; /* hopeless */
    for (int r = 0; r < PROFILE_RUNS; ++r)
        for (int j = 0; j < k; ++j) {
            int i = (j + r) % k;
            int64_t dt;
            if (!c[i].alive) continue;
            if (!run_candidate(m, n, lr_algo_at(ids[i]), &c[i], &dt)) c[i].alive = false;
            else if (c[i].best < 0 || dt < c[i].best) c[i].best = dt;
        }
    result = -1;
    for (int i = 0; i < k; ++i)
        if (c[i].alive && c[i].best >= 0 && (result < 0 || c[i].best < c[result].best)) result = i;
    if (result >= 0) *best_ns = c[result].best;
out:
    for (int i = 0; i < k; ++i) {
        free(c[i].packed);
        lr_free64(c[i].ws);
    }
    n->packed = NULL;
    n->packed_bytes = 0;
    return result;
}

/* LOADRUN_PROFILE_ONE_BY_ONE=1 (tests): the path taken when the candidates do not fit together. */
static bool one_by_one(void) {
    const char *e = getenv("LOADRUN_PROFILE_ONE_BY_ONE");
    return e && e[0] == '1';
}

/* Binds scratch buffers to the node's non-constant tensors, times the candidates, unbinds. */
static int profile_node(lr_model *m, lr_node *n, const int *ids, int k) {
    int nt = n->n_in + n->n_out, bound = 0;
    int *tid = calloc((size_t)nt, sizeof *tid);
    if (!tid) return ids[0];
    for (int i = 0; i < nt; ++i) {
        int t = i < n->n_in ? n->in[i] : n->out[i - n->n_in];
        lr_tensor *x = &m->tensors[t];
        if (x->kind == LR_KIND_CONST || x->data) continue; /* constants are real; a repeated input is bound once */
        if (!(x->data = lr_alloc64(x->nbytes))) {
            bound = -bound - 1; /* out of memory: fall back to the heuristic choice */
            break;
        }
        if (i < n->n_in) fill(x->data, x);
        tid[bound++] = t;
    }
    int best = ids[0];
    int64_t best_ns = -1;
    if (bound < 0) bound = -bound - 1;
    else if (!one_by_one() && (best = time_candidates(m, n, ids, k, 0, &best_ns)) != -2) {
        best = best >= 0 ? ids[best] : ids[0];
    } else { /* too big to hold every candidate at once: one by one, each freed before the next */
        best = ids[0];
        best_ns = -1;
        for (int i = 0; i < k; ++i) {
            int64_t ns = -1;
            if (time_candidates(m, n, ids + i, 1, best_ns, &ns) == 0 && (best_ns < 0 || ns < best_ns)) {
                best_ns = ns;
                best = ids[i];
            }
        }
    }
    for (int i = 0; i < bound; ++i) {
        lr_free64(m->tensors[tid[i]].data);
        m->tensors[tid[i]].data = NULL;
    }
    free(tid);
    return best;
}

lr_status lr_choose_algorithms(lr_model *m, const char *cache_path) {
    cache c = {0};
    bool ours = true, profile = m->fast_run != LR_FAST_RUN_HEURISTIC;
    if (cache_path) cache_read(m, cache_path, &c, &ours);
    int64_t t0 = lr_now_ns();
    sbuf sig = {0};
    lr_status s = LR_OK;
    for (int i = 0; i < m->n_nodes && s == LR_OK; ++i) {
        lr_node *n = &m->nodes[i];
        int ids[MAX_CANDIDATES], k = candidates(m, n, ids);
        if (k == 0) {
            s = lr_fail(LR_ERR_UNSUPPORTED, "node %d (%s '%s'): no kernel supports these shapes/dtypes", i, lr_op_name(n->op), n->name);
            break;
        }
        int choice = ids[0];
        if (k > 1 && (cache_path || profile)) {
            sig.len = 0;
            signature(m, n, &sig);
            if (sig.oom) { s = lr_fail(LR_ERR_MEMORY, "out of memory building node signatures"); break; }
            const char *cached = cache_find(&c, sig.s);
            int hit = -1;
            for (int j = 0; cached && j < k && hit < 0; ++j)
                if (!strcmp(lr_algo_at(ids[j])->name, cached)) hit = ids[j]; /* must still be usable and allowed here */
            if (hit >= 0) {
                choice = hit;
                n->cache_hit = true;
                m->cache_hits++;
            } else if (profile) {
                if (m->fast_run == LR_FAST_RUN_PROFILE_OPTIMIZED) k = keep_top_k(m, n, ids, k);
                choice = k > 1 ? profile_node(m, n, ids, k) : ids[0];
                n->profiled = k > 1;
                m->profiled_nodes += k > 1;
                m->cache_misses++;
                if (cache_path && !cache_add(&c, sig.s, sig.len, lr_algo_at(choice)->name, strlen(lr_algo_at(choice)->name)))
                    s = lr_fail(LR_ERR_MEMORY, "out of memory in the algorithm cache");
                c.dirty = true;
            } else {
                m->cache_misses++;
            }
        }
        n->algo_id = choice;
        n->algo = lr_algo_at(choice);
    }
    m->profiling_ns = profile ? lr_now_ns() - t0 : 0;
    m->run_weight_packs = 0;
    if (s == LR_OK && cache_path && c.dirty) {
        if (ours) cache_write(m, cache_path, &c); /* a file that is not ours keeps its rejection message */
    }
    free(sig.s);
    cache_free(&c);
    return s;
}
