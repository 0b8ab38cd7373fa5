/* loader.c: parses the compiled format from untrusted bytes. Every offset, count, id, dtype,
 * dim and size is bounds-checked here; op_check.c then checks each node's semantics. */
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "model.h"

#define BAD(...) lr_fail(LR_ERR_FORMAT, __VA_ARGS__)
#define MAX_COUNT (1u << 26) /* tensors, nodes, ids, attributes: far beyond any real model */

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* [off, off + count * rec) inside the file, without overflow. */
static bool section_ok(const lr_model *m, uint64_t off, uint64_t count, uint64_t rec) {
    if (off > m->file_bytes || off < LR_HEADER_BYTES) return count == 0 && off <= m->file_bytes;
    return count <= (m->file_bytes - off) / rec;
}

static char *copy_string(const lr_model *m, uint64_t strings_off, uint64_t strings_bytes, uint32_t off, uint32_t len) {
    if ((uint64_t)off + len > strings_bytes) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) return NULL;
    memcpy(s, m->file + strings_off + off, len);
    s[len] = 0;
    return s;
}

static lr_status parse_tensors(lr_model *m, uint64_t toff, uint64_t soff, uint64_t sbytes, uint64_t doff, uint64_t dbytes) {
    for (int i = 0; i < m->n_tensors; ++i) {
        const uint8_t *r = m->file + toff + (uint64_t)i * LR_TENSOR_RECORD_BYTES;
        lr_tensor *t = &m->tensors[i];
        t->producer = -1;
        t->last_use = -1;
        t->root = i;
        t->name = copy_string(m, soff, sbytes, rd32(r), rd32(r + 4));
        if (!t->name) return BAD("tensor %d: name outside the string table", i);
        uint8_t dtype = r[8], kind = r[9], ndim = r[10];
        if (dtype > LR_BOOL) return BAD("tensor %d (%s): unknown dtype code %u", i, t->name, dtype);
        if (kind > LR_KIND_OUTPUT) return BAD("tensor %d (%s): unknown kind %u", i, t->name, kind);
        if (ndim < 1 || ndim > LR_MAX_NDIM) return BAD("tensor %d (%s): ndim %u not in 1..%d", i, t->name, ndim, LR_MAX_NDIM);
        if (r[11] || rd32(r + 12)) return BAD("tensor %d (%s): reserved bytes are not zero", i, t->name);
        t->dtype = (lr_dtype)dtype;
        t->kind = kind;
        t->ndim = ndim;
        uint64_t numel = 1, limit = LR_MAX_TENSOR_BYTES / lr_dtype_size(t->dtype);
        for (int d = 0; d < LR_MAX_NDIM; ++d) {
            int64_t v = (int64_t)rd64(r + 16 + 8 * d);
            if (d >= ndim) {
                if (v != 0) return BAD("tensor %d (%s): unused dim %d is not zero", i, t->name, d);
                continue;
            }
            if (v < 1 || (uint64_t)v > limit) return BAD("tensor %d (%s): dim %d = %lld out of range", i, t->name, d, (long long)v);
            numel *= (uint64_t)v; /* both factors <= limit <= 2^36: no overflow before the check below */
            if (numel > limit) return lr_fail(LR_ERR_MEMORY, "tensor %d (%s): larger than the %llu-byte limit", i, t->name,
                                              (unsigned long long)LR_MAX_TENSOR_BYTES);
            t->dims[d] = v;
        }
        t->numel = (int64_t)numel;
        t->nbytes = (size_t)numel * lr_dtype_size(t->dtype);
        uint64_t off = rd64(r + 80), bytes = rd64(r + 88);
        if (kind == LR_KIND_CONST) {
            if (bytes != t->nbytes || off % LR_DATA_ALIGN || off > dbytes || bytes > dbytes - off)
                return BAD("tensor %d (%s): constant data [%llu, +%llu) does not fit the data section", i, t->name,
                           (unsigned long long)off, (unsigned long long)bytes);
            t->const_data = m->file + doff + off;
            t->data = (void *)t->const_data;
            t->storage = LR_STORE_CONST;
            m->weight_bytes += t->nbytes;
        } else if (off || bytes) {
            return BAD("tensor %d (%s): non-constant tensor with data", i, t->name);
        }
    }
    return LR_OK;
}

static lr_status parse_nodes(lr_model *m, uint64_t noff, uint64_t soff, uint64_t sbytes, uint32_t n_ids, uint32_t n_ints,
                             uint32_t n_floats) {
    for (int i = 0; i < m->n_nodes; ++i) {
        const uint8_t *r = m->file + noff + (uint64_t)i * LR_NODE_RECORD_BYTES;
        lr_node *n = &m->nodes[i];
        uint32_t op = rd32(r);
        if (op >= LR_OP_COUNT && !lr_op_is_fused((int)op) && !lr_op_is_layout((int)op)) return lr_fail(LR_ERR_UNSUPPORTED, "node %d: unknown operator code %u", i, op);
        n->op = (int)op;
        n->name = copy_string(m, soff, sbytes, rd32(r + 4), rd32(r + 8));
        if (!n->name) return BAD("node %d: name outside the string table", i);
        uint32_t nin = rd32(r + 12), inat = rd32(r + 16), nout = rd32(r + 20), outat = rd32(r + 24);
        uint32_t ni = rd32(r + 28), iat = rd32(r + 32), nf = rd32(r + 36), fat = rd32(r + 40);
        if (rd32(r + 44)) return BAD("node %d: reserved field is not zero", i);
        if ((uint64_t)inat + nin > n_ids || (uint64_t)outat + nout > n_ids || (uint64_t)iat + ni > n_ints ||
            (uint64_t)fat + nf > n_floats)
            return BAD("node %d (%s): input/output/attribute ranges outside their pools", i, lr_op_name(n->op));
        if (nin < 1 || nout < 1 || nout > 8) return BAD("node %d (%s): %u inputs, %u outputs", i, lr_op_name(n->op), nin, nout);
        n->n_in = (int)nin;
        n->in = m->ids + inat;
        n->n_out = (int)nout;
        n->out = m->ids + outat;
        n->n_ints = (int)ni;
        n->ints = m->ints + iat;
        n->n_floats = (int)nf;
        n->floats = m->floats + fat;
    }
    return LR_OK;
}

/* Kinds, graph I/O lists and topological order: each value defined once, before it is read. */
static lr_status check_graph(lr_model *m) {
    for (int i = 0; i < m->n_inputs; ++i) {
        lr_tensor *t = &m->tensors[m->inputs[i]];
        if (t->kind != LR_KIND_INPUT) return BAD("graph input %d (%s) is not an input tensor", i, t->name);
        if (t->producer == -2) return BAD("graph input %d (%s) is listed twice", i, t->name);
        t->producer = -2; /* marker while checking */
    }
    for (int i = 0; i < m->n_tensors; ++i) {
        lr_tensor *t = &m->tensors[i];
        if (t->kind == LR_KIND_INPUT && t->producer != -2) return BAD("input tensor %d (%s) is not a graph input", i, t->name);
        t->producer = -1;
    }
    for (int i = 0; i < m->n_nodes; ++i) {
        lr_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_in; ++k) {
            lr_tensor *t = &m->tensors[n->in[k]];
            bool defined = t->kind == LR_KIND_INPUT || t->kind == LR_KIND_CONST || t->producer >= 0;
            if (!defined) return BAD("node %d (%s): input %d (%s) is read before it is defined", i, lr_op_name(n->op), k, t->name);
        }
        for (int k = 0; k < n->n_out; ++k) {
            lr_tensor *t = &m->tensors[n->out[k]];
            if ((t->kind != LR_KIND_ACTIVATION && t->kind != LR_KIND_OUTPUT) || t->producer >= 0)
                return BAD("node %d (%s): output %d (%s) is defined twice or is an input/constant", i, lr_op_name(n->op), k, t->name);
            t->producer = i;
        }
        lr_status s = lr_check_node(m, n, i);
        if (s != LR_OK) return s;
    }
    for (int i = 0; i < m->n_outputs; ++i) {
        lr_tensor *t = &m->tensors[m->outputs[i]];
        if (t->kind == LR_KIND_ACTIVATION) return BAD("graph output %d (%s) is marked as an activation", i, t->name);
    }
    for (int i = 0; i < m->n_tensors; ++i) {
        lr_tensor *t = &m->tensors[i];
        if (t->kind == LR_KIND_OUTPUT) {
            bool listed = false;
            for (int k = 0; k < m->n_outputs && !listed; ++k) listed = m->outputs[k] == i;
            if (!listed || t->producer < 0) return BAD("output tensor %d (%s) is not a produced graph output", i, t->name);
        }
    }
    return LR_OK;
}

lr_status lr_parse_model(lr_model *m) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) return lr_fail(LR_ERR_UNSUPPORTED, "big-endian hosts are not supported");
    const uint8_t *h = m->file;
    if (m->file_bytes < LR_HEADER_BYTES) return BAD("file of %zu bytes is shorter than the %d-byte header", m->file_bytes, LR_HEADER_BYTES);
    if (memcmp(h, LR_FORMAT_MAGIC, 8) != 0) return BAD("not a loadrun compiled model (bad magic)");
    if (rd32(h + LR_H_VERSION) != LR_FORMAT_VERSION)
        return lr_fail(LR_ERR_UNSUPPORTED, "compiled format version %u; this runtime reads version %d", rd32(h + LR_H_VERSION),
                       LR_FORMAT_VERSION);
    if (rd32(h + LR_H_HEADER_BYTES) != LR_HEADER_BYTES) return BAD("bad header size");
    if (rd64(h + LR_H_FILE_BYTES) != m->file_bytes)
        return BAD("header says %llu bytes but the file has %zu (truncated?)", (unsigned long long)rd64(h + LR_H_FILE_BYTES), m->file_bytes);
    uint32_t nt = rd32(h + LR_H_N_TENSORS), nn = rd32(h + LR_H_N_NODES), ni = rd32(h + LR_H_N_INPUTS), no = rd32(h + LR_H_N_OUTPUTS);
    uint32_t nids = rd32(h + LR_H_N_IDS), nints = rd32(h + LR_H_N_INTS), nfl = rd32(h + LR_H_N_FLOATS);
    uint64_t sbytes = rd32(h + LR_H_STRINGS_BYTES);
    uint64_t soff = rd64(h + LR_H_STRINGS_OFF), toff = rd64(h + LR_H_TENSORS_OFF), noff = rd64(h + LR_H_NODES_OFF);
    uint64_t iooff = rd64(h + LR_H_IO_OFF), idsoff = rd64(h + LR_H_IDS_OFF), intsoff = rd64(h + LR_H_INTS_OFF);
    uint64_t floff = rd64(h + LR_H_FLOATS_OFF), doff = rd64(h + LR_H_DATA_OFF), dbytes = rd64(h + LR_H_DATA_BYTES);
    if (nt > MAX_COUNT || nn > MAX_COUNT || ni > nt || no > MAX_COUNT || nids > MAX_COUNT || nints > MAX_COUNT || nfl > MAX_COUNT)
        return BAD("absurd counts in the header");
    if (!section_ok(m, soff, sbytes, 1) || !section_ok(m, toff, nt, LR_TENSOR_RECORD_BYTES) ||
        !section_ok(m, noff, nn, LR_NODE_RECORD_BYTES) || !section_ok(m, iooff, (uint64_t)ni + no, 4) ||
        !section_ok(m, idsoff, nids, 4) || !section_ok(m, intsoff, nints, 8) || !section_ok(m, floff, nfl, 8) ||
        !section_ok(m, doff, dbytes, 1))
        return BAD("a section lies outside the file (truncated or corrupt)");
    if (doff % LR_DATA_ALIGN) return BAD("data section is not %d-byte aligned", LR_DATA_ALIGN);
    if (no < 1) return BAD("the model has no outputs");
    m->n_tensors = (int)nt;
    m->n_nodes = (int)nn;
    m->n_inputs = (int)ni;
    m->n_outputs = (int)no;
    m->n_ids = (int)nids;
    m->n_ints = (int)nints;
    m->n_floats = (int)nfl;
    m->tensors = calloc(nt ? nt : 1, sizeof *m->tensors);
    m->nodes = calloc(nn ? nn : 1, sizeof *m->nodes);
    m->inputs = calloc((size_t)ni + no + 1, sizeof(int));
    m->ids = calloc((size_t)nids + 1, sizeof(int));
    m->ints = calloc((size_t)nints + 1, sizeof(int64_t));
    m->floats = calloc((size_t)nfl + 1, sizeof(double));
    if (!m->tensors || !m->nodes || !m->inputs || !m->ids || !m->ints || !m->floats) return lr_fail(LR_ERR_MEMORY, "out of memory");
    m->outputs = m->inputs + ni;
    for (uint32_t i = 0; i < ni + no; ++i) {
        uint32_t v = rd32(m->file + iooff + 4 * (uint64_t)i);
        if (v >= nt) return BAD("graph input/output %u refers to tensor %u of %u", i, v, nt);
        m->inputs[i] = (int)v;
    }
    for (uint32_t i = 0; i < nids; ++i) {
        uint32_t v = rd32(m->file + idsoff + 4 * (uint64_t)i);
        if (v >= nt) return BAD("node tensor id %u out of range (%u tensors)", v, nt);
        m->ids[i] = (int)v;
    }
    memcpy(m->ints, m->file + intsoff, (size_t)nints * 8);
    memcpy(m->floats, m->file + floff, (size_t)nfl * 8);
    lr_status s = parse_tensors(m, toff, soff, sbytes, doff, dbytes);
    if (s == LR_OK) s = parse_nodes(m, noff, soff, sbytes, nids, nints, nfl);
    if (s == LR_OK) s = check_graph(m);
    return s;
}
