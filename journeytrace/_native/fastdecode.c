/*
 * journeytrace._fastdecode: the fast path of journeytrace.spans.decode_request.
 *
 * Decodes a serialized OTLP ExportTraceServiceRequest straight from protobuf wire format into
 * the SpanBatch columns (Python lists), writing attribute/event/link JSON without building
 * Python objects per attribute. It covers the common case only. Whenever a request holds
 * anything rarer -- an invalid span, bytes or non-finite double values, dropped counts,
 * schema URLs, scope attributes, repeated singular messages, malformed wire data -- it
 * returns None and the caller uses the pure-Python decoder, which is the reference
 * implementation (tests check that both give the same batch).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define FALLBACK (-1)
#define PYERROR (-2)
#define MAX_DEPTH 64

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *data = PyMem_Realloc(b->data, cap);
    if (!data) { PyErr_NoMemory(); return PYERROR; }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return PYERROR;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

#define PUT(b, lit) do { if (buf_put((b), (lit), sizeof(lit) - 1)) return PYERROR; } while (0)
#define TRY(expr) do { int _rc = (expr); if (_rc) return _rc; } while (0)

static int json_string(Buf *b, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n * 6 + 2)) return PYERROR;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
        else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
        else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
        else if (c < 0x20) {
            *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
            *o++ = hex[c >> 4]; *o++ = hex[c & 15];
        } else *o++ = (char)c;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

static int put_int(Buf *b, long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    return buf_put(b, tmp, (size_t)n);
}

/* --- protobuf wire format ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p, *end;
} Reader;

static int varint(Reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return FALLBACK;
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) { *out = v; return 0; }
    }
    return FALLBACK;
}

typedef struct {
    uint32_t field, wire;
    uint64_t u64;          /* varint, fixed64 and fixed32 values */
    const uint8_t *ptr;    /* length-delimited value */
    size_t len;
} Field;

/* Reads the next field; returns 1 when one was read, 0 at the end, FALLBACK on bad input. */
static int next_field(Reader *r, Field *f) {
    if (r->p >= r->end) return 0;
    uint64_t tag;
    if (varint(r, &tag)) return FALLBACK;
    f->field = (uint32_t)(tag >> 3);
    f->wire = (uint32_t)(tag & 7);
    f->u64 = 0;
    f->ptr = NULL;
    f->len = 0;
    if (f->field == 0) return FALLBACK;
    switch (f->wire) {
    case 0:
        if (varint(r, &f->u64)) return FALLBACK;
        return 1;
    case 1:
        if (r->end - r->p < 8) return FALLBACK;
        memcpy(&f->u64, r->p, 8);  /* protobuf is little-endian, as are our targets */
        r->p += 8;
        return 1;
    case 5: {
        uint32_t v;
        if (r->end - r->p < 4) return FALLBACK;
        memcpy(&v, r->p, 4);
        f->u64 = v;
        r->p += 4;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (varint(r, &n)) return FALLBACK;
        if (n > (uint64_t)(r->end - r->p)) return FALLBACK;
        f->ptr = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return FALLBACK;  /* groups (3, 4) are not used by OTLP */
    }
}

#define FOR_FIELDS(reader, f) for (int _rc; (_rc = next_field((reader), (f))) != 0;) if (_rc < 0) return FALLBACK; else

static Reader sub(const Field *f) { Reader r = {f->ptr, f->ptr + f->len}; return r; }

/* --- AnyValue / KeyValue ------------------------------------------------------------------- */

static int keyvalues_json(Buf *b, Reader r, uint32_t field_no, int depth, int strip_promoted);
static int is_stripped_key(const uint8_t *key, size_t key_len, Reader value);

static int anyvalue_json(Buf *b, Reader r, int depth) {
    if (depth > MAX_DEPTH) return FALLBACK;
    Field f, last = {0};
    int found = 0;
    FOR_FIELDS(&r, &f) {
        if (f.field >= 1 && f.field <= 7) {
            if (found && last.field >= 5 && last.field <= 6 && f.field == last.field) return FALLBACK;  /* merge */
            last = f;
            found = 1;
        }
    }
    if (!found) { PUT(b, "null"); return 0; }
    switch (last.field) {
    case 1:
        if (last.wire != 2) return FALLBACK;
        return json_string(b, last.ptr, last.len);
    case 2:
        if (last.wire != 0) return FALLBACK;
        if (last.u64) PUT(b, "true"); else PUT(b, "false");
        return 0;
    case 3:
        if (last.wire != 0) return FALLBACK;
        return put_int(b, (long long)(int64_t)last.u64);
    case 4: {
        if (last.wire != 1) return FALLBACK;
        double d;
        memcpy(&d, &last.u64, 8);
        if (!isfinite(d)) return FALLBACK;
        char *s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s) return PYERROR;
        int rc = buf_put(b, s, strlen(s));
        PyMem_Free(s);
        return rc;
    }
    case 5: {
        if (last.wire != 2) return FALLBACK;
        Reader a = sub(&last);
        Field v;
        int first = 1;
        PUT(b, "[");
        FOR_FIELDS(&a, &v) {
            if (v.field != 1) continue;
            if (v.wire != 2) return FALLBACK;
            if (!first) PUT(b, ",");
            first = 0;
            TRY(anyvalue_json(b, sub(&v), depth + 1));
        }
        PUT(b, "]");
        return 0;
    }
    case 6:
        if (last.wire != 2) return FALLBACK;
        return keyvalues_json(b, sub(&last), 1, depth + 1, 0);
    default:
        return FALLBACK;  /* bytes_value: plain JSON cannot hold it */
    }
}

/* One KeyValue message: its key slice and its value reader (empty when absent). */
static int keyvalue_parts(Reader r, const uint8_t **key, size_t *key_len, Reader *value) {
    Field f;
    int has_value = 0;
    *key = (const uint8_t *)"";
    *key_len = 0;
    value->p = value->end = NULL;
    FOR_FIELDS(&r, &f) {
        if (f.field == 1) {
            if (f.wire != 2) return FALLBACK;
            *key = f.ptr;
            *key_len = f.len;
        } else if (f.field == 2) {
            if (f.wire != 2 || has_value) return FALLBACK;
            *value = sub(&f);
            has_value = 1;
        }
    }
    return 0;
}

/* The KeyValue entries found under ``field_no`` of a message, as a JSON object. With
 * ``strip_promoted``, string-valued keys that have their own column are left out (storage
 * puts them back on read), so each value is stored once. */
static int keyvalues_json(Buf *b, Reader r, uint32_t field_no, int depth, int strip_promoted) {
    Field f;
    int first = 1;
    PUT(b, "{");
    FOR_FIELDS(&r, &f) {
        if (f.field != field_no) continue;
        if (f.wire != 2) return FALLBACK;
        const uint8_t *key;
        size_t key_len;
        Reader value;
        TRY(keyvalue_parts(sub(&f), &key, &key_len, &value));
        if (strip_promoted && is_stripped_key(key, key_len, value)) continue;
        if (!first) PUT(b, ",");
        first = 0;
        TRY(json_string(b, key, key_len));
        PUT(b, ":");
        if (value.p == NULL) PUT(b, "null");
        else TRY(anyvalue_json(b, value, depth));
    }
    PUT(b, "}");
    return 0;
}

/* --- promoted attributes ------------------------------------------------------------------- */

enum { P_SPAN_TYPE, P_PLATFORM, P_INTERACTION, P_PHONE, P_QUEUE, P_AGENT, P_SERVICE, P_COUNT };
static const char *const PROMOTED_KEYS[P_COUNT] = {
    "cx.span.type", "cx.platform.name", "cx.platform.interaction.id", "cx.telephony.ani.number",
    "cx.queue.name", "cx.agent.id", "service.name",
};

/* Keys whose string values live only in their column (journeytrace.spans.STRIPPED_KEYS). */
static const char *const STRIPPED_KEYS[] = {
    "cx.span.type", "cx.platform.interaction.id", "cx.queue.name", "cx.agent.id",
};

static int is_stripped_key(const uint8_t *key, size_t key_len, Reader value) {
    int match = 0;
    for (size_t k = 0; k < sizeof STRIPPED_KEYS / sizeof *STRIPPED_KEYS; k++)
        if (key_len == strlen(STRIPPED_KEYS[k]) && memcmp(key, STRIPPED_KEYS[k], key_len) == 0) match = 1;
    if (!match || value.p == NULL) return 0;
    Field f, last = {0};
    for (int rc; (rc = next_field(&value, &f)) != 0;) {
        if (rc < 0) return 0;
        if (f.field >= 1 && f.field <= 7) last = f;
    }
    return last.field == 1 && last.wire == 2;
}

/* The column value of a promoted attribute: its string, or an int as decimal, else None. */
static PyObject *promoted_value(Reader value) {
    Field f, last = {0};
    int found = 0;
    if (value.p != NULL) {
        for (int rc; (rc = next_field(&value, &f)) != 0;) {
            if (rc < 0) Py_RETURN_NONE;
            if (f.field >= 1 && f.field <= 7) { last = f; found = 1; }
        }
    }
    if (found && last.field == 1 && last.wire == 2)
        return PyUnicode_DecodeUTF8((const char *)last.ptr, (Py_ssize_t)last.len, "strict");
    if (found && last.field == 3 && last.wire == 0)
        return PyUnicode_FromFormat("%lld", (long long)(int64_t)last.u64);
    Py_RETURN_NONE;
}

/* Fill ``out`` (new references or NULL) with the promoted attributes among ``field_no`` entries. */
static int find_promoted(Reader r, uint32_t field_no, PyObject **out, int first_key, int last_key) {
    Field f;
    FOR_FIELDS(&r, &f) {
        if (f.field != field_no || f.wire != 2) continue;
        const uint8_t *key;
        size_t key_len;
        Reader value;
        if (keyvalue_parts(sub(&f), &key, &key_len, &value)) return FALLBACK;
        for (int k = first_key; k <= last_key; k++) {
            if (key_len == strlen(PROMOTED_KEYS[k]) && memcmp(key, PROMOTED_KEYS[k], key_len) == 0) {
                PyObject *v = promoted_value(value);
                if (!v) return PYERROR;
                Py_XSETREF(out[k], v);
            }
        }
    }
    return 0;
}

/* --- columns ------------------------------------------------------------------------------- */

enum {
    C_TRACE_ID, C_SPAN_ID, C_PARENT, C_TRACE_STATE, C_FLAGS, C_NAME, C_KIND, C_SERVICE, C_START,
    C_END, C_STATUS_CODE, C_STATUS_MESSAGE, C_SPAN_TYPE, C_PLATFORM, C_INTERACTION, C_PHONE,
    C_QUEUE, C_AGENT, C_ATTRIBUTES, C_RESOURCE, C_SCOPE_NAME, C_SCOPE_VERSION, C_EVENTS, C_LINKS,
    C_COUNT
};

static int append(PyObject **cols, int col, PyObject *value) {
    if (!value) return PYERROR;
    int rc = PyList_Append(cols[col], value);
    Py_DECREF(value);
    return rc ? PYERROR : 0;
}

static int append_borrowed(PyObject **cols, int col, PyObject *value) {
    return PyList_Append(cols[col], value) ? PYERROR : 0;
}

static PyObject *hex(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char tmp[64];
    for (size_t i = 0; i < n; i++) {
        tmp[2 * i] = digits[p[i] >> 4];
        tmp[2 * i + 1] = digits[p[i] & 15];
    }
    return PyUnicode_FromStringAndSize(tmp, (Py_ssize_t)(2 * n));
}

static PyObject *str_or_none(const uint8_t *p, size_t n) {
    if (n == 0) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, "strict");
}

static PyObject *buf_str(Buf *b) {
    return PyUnicode_DecodeUTF8(b->data ? b->data : "", (Py_ssize_t)b->len, "strict");
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i]) return 0;
    return 1;
}

typedef struct {
    PyObject *service, *resource_json, *platform, *scope_name, *scope_version;
} Context;

static int events_json(Buf *b, Reader span) {
    Field f;
    int first = 1;
    PUT(b, "[");
    FOR_FIELDS(&span, &f) {
        if (f.field != 11) continue;
        if (f.wire != 2) return FALLBACK;
        Reader e = sub(&f);
        Field ef;
        uint64_t time = 0;
        const uint8_t *name = (const uint8_t *)"";
        size_t name_len = 0;
        FOR_FIELDS(&e, &ef) {
            if (ef.field == 1 && ef.wire == 1) time = ef.u64;
            else if (ef.field == 2 && ef.wire == 2) { name = ef.ptr; name_len = ef.len; }
            else if (ef.field == 4 && ef.u64) return FALLBACK;  /* dropped_attributes_count */
        }
        if (!first) PUT(b, ",");
        first = 0;
        PUT(b, "{\"time_unix_nano\":");
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)time);
        TRY(buf_put(b, tmp, (size_t)n));
        PUT(b, ",\"name\":");
        TRY(json_string(b, name, name_len));
        PUT(b, ",\"attributes\":");
        TRY(keyvalues_json(b, sub(&f), 3, 0, 0));
        PUT(b, "}");
    }
    PUT(b, "]");
    return 0;
}

static int links_json(Buf *b, Reader span) {
    static const char digits[] = "0123456789abcdef";
    Field f;
    int first = 1;
    PUT(b, "[");
    FOR_FIELDS(&span, &f) {
        if (f.field != 13) continue;
        if (f.wire != 2) return FALLBACK;
        Reader l = sub(&f);
        Field lf;
        const uint8_t *tid = NULL, *sid = NULL, *state = (const uint8_t *)"";
        size_t tid_len = 0, sid_len = 0, state_len = 0;
        uint64_t flags = 0;
        FOR_FIELDS(&l, &lf) {
            if (lf.field == 1 && lf.wire == 2) { tid = lf.ptr; tid_len = lf.len; }
            else if (lf.field == 2 && lf.wire == 2) { sid = lf.ptr; sid_len = lf.len; }
            else if (lf.field == 3 && lf.wire == 2) { state = lf.ptr; state_len = lf.len; }
            else if (lf.field == 6 && lf.wire == 5) flags = lf.u64;
            else if (lf.field == 5 && lf.u64) return FALLBACK;
        }
        if (tid_len > 64 || sid_len > 64) return FALLBACK;
        if (!first) PUT(b, ",");
        first = 0;
        char tmp[130];
        PUT(b, "{\"trace_id\":\"");
        for (size_t i = 0; i < tid_len; i++) { tmp[2*i] = digits[tid[i] >> 4]; tmp[2*i+1] = digits[tid[i] & 15]; }
        TRY(buf_put(b, tmp, 2 * tid_len));
        PUT(b, "\",\"span_id\":\"");
        for (size_t i = 0; i < sid_len; i++) { tmp[2*i] = digits[sid[i] >> 4]; tmp[2*i+1] = digits[sid[i] & 15]; }
        TRY(buf_put(b, tmp, 2 * sid_len));
        PUT(b, "\",\"trace_state\":");
        TRY(json_string(b, state, state_len));
        PUT(b, ",\"flags\":");
        TRY(put_int(b, (long long)flags));
        PUT(b, ",\"attributes\":");
        TRY(keyvalues_json(b, sub(&f), 4, 0, 0));
        PUT(b, "}");
    }
    PUT(b, "]");
    return 0;
}

static int decode_span(Reader span, Context *ctx, PyObject **cols, Buf *b) {
    Field f;
    const uint8_t *tid = NULL, *sid = NULL, *parent = NULL, *state = NULL, *name = NULL;
    size_t tid_len = 0, sid_len = 0, parent_len = 0, state_len = 0, name_len = 0;
    uint64_t kind = 0, start = 0, end = 0, flags = 0, status_code = 0;
    const uint8_t *status_msg = NULL;
    size_t status_msg_len = 0;
    int has_events = 0, has_links = 0, has_status = 0;
    Reader r = span;
    FOR_FIELDS(&r, &f) {
        switch (f.field) {
        case 1: if (f.wire != 2) return FALLBACK; tid = f.ptr; tid_len = f.len; break;
        case 2: if (f.wire != 2) return FALLBACK; sid = f.ptr; sid_len = f.len; break;
        case 3: if (f.wire != 2) return FALLBACK; state = f.ptr; state_len = f.len; break;
        case 4: if (f.wire != 2) return FALLBACK; parent = f.ptr; parent_len = f.len; break;
        case 5: if (f.wire != 2) return FALLBACK; name = f.ptr; name_len = f.len; break;
        case 6: if (f.wire != 0) return FALLBACK; kind = f.u64; break;
        case 7: if (f.wire != 1) return FALLBACK; start = f.u64; break;
        case 8: if (f.wire != 1) return FALLBACK; end = f.u64; break;
        case 10: case 12: case 14: if (f.u64) return FALLBACK; break;  /* dropped counts */
        case 11: has_events = 1; break;
        case 13: has_links = 1; break;
        case 15: {
            if (f.wire != 2 || has_status) return FALLBACK;
            has_status = 1;
            Reader s = sub(&f);
            Field sf;
            FOR_FIELDS(&s, &sf) {
                if (sf.field == 2 && sf.wire == 2) { status_msg = sf.ptr; status_msg_len = sf.len; }
                else if (sf.field == 3 && sf.wire == 0) status_code = sf.u64;
            }
            break;
        }
        case 16: if (f.wire != 5) return FALLBACK; flags = f.u64; break;
        default: break;
        }
    }
    /* Invalid spans are described by the Python decoder, which words the rejection message. */
    if (tid_len != 16 || all_zero(tid, 16) || sid_len != 8 || all_zero(sid, 8)) return FALLBACK;
    if (parent_len != 0 && parent_len != 8) return FALLBACK;
    if (start > INT64_MAX || end > INT64_MAX || kind > INT32_MAX || status_code > INT32_MAX) return FALLBACK;

    PyObject *promoted[P_COUNT] = {NULL};
    int rc = find_promoted(span, 9, promoted, P_SPAN_TYPE, P_AGENT);
    if (rc) { for (int k = 0; k < P_COUNT; k++) Py_XDECREF(promoted[k]); return rc; }
    if (!promoted[P_PLATFORM] && ctx->platform != Py_None) {
        Py_INCREF(ctx->platform);
        promoted[P_PLATFORM] = ctx->platform;
    }
    b->len = 0;
    rc = keyvalues_json(b, span, 9, 0, 1);
    PyObject *attributes = rc ? NULL : buf_str(b);
    if (!attributes) {
        for (int k = 0; k < P_COUNT; k++) Py_XDECREF(promoted[k]);
        return rc ? rc : (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError) ? (PyErr_Clear(), FALLBACK) : PYERROR);
    }
    PyObject *events = NULL, *links = NULL;
    if (has_events) {
        b->len = 0;
        rc = events_json(b, span);
        if (!rc && !(events = buf_str(b))) rc = PYERROR;
    }
    if (!rc && has_links) {
        b->len = 0;
        rc = links_json(b, span);
        if (!rc && !(links = buf_str(b))) rc = PYERROR;
    }
    if (rc == PYERROR && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) { PyErr_Clear(); rc = FALLBACK; }
    PyObject *strs[3] = {NULL, NULL, NULL};
    if (!rc) {
        strs[0] = str_or_none(name, name_len);
        strs[1] = str_or_none(state, state_len);
        strs[2] = str_or_none(status_msg, status_msg_len);
        if (!strs[0] || !strs[1] || !strs[2]) {
            rc = PyErr_ExceptionMatches(PyExc_UnicodeDecodeError) ? (PyErr_Clear(), FALLBACK) : PYERROR;
        }
    }
    if (rc) {
        for (int k = 0; k < P_COUNT; k++) Py_XDECREF(promoted[k]);
        Py_XDECREF(attributes); Py_XDECREF(events); Py_XDECREF(links);
        for (int k = 0; k < 3; k++) Py_XDECREF(strs[k]);
        return rc;
    }
    if (strs[0] == Py_None) { Py_DECREF(strs[0]); strs[0] = PyUnicode_FromStringAndSize("", 0); }

    static const int promoted_cols[6] = {C_SPAN_TYPE, C_PLATFORM, C_INTERACTION, C_PHONE, C_QUEUE, C_AGENT};
    rc = 0;
    rc |= append(cols, C_TRACE_ID, hex(tid, 16));
    rc |= append(cols, C_SPAN_ID, hex(sid, 8));
    rc |= parent_len ? append(cols, C_PARENT, hex(parent, 8)) : append_borrowed(cols, C_PARENT, Py_None);
    rc |= append(cols, C_TRACE_STATE, strs[1]);
    rc |= append(cols, C_FLAGS, PyLong_FromUnsignedLongLong(flags));
    rc |= append(cols, C_NAME, strs[0]);
    rc |= append(cols, C_KIND, PyLong_FromUnsignedLongLong(kind));
    rc |= append_borrowed(cols, C_SERVICE, ctx->service);
    rc |= append(cols, C_START, PyLong_FromUnsignedLongLong(start));
    rc |= append(cols, C_END, PyLong_FromUnsignedLongLong(end));
    rc |= append(cols, C_STATUS_CODE, PyLong_FromUnsignedLongLong(status_code));
    rc |= append(cols, C_STATUS_MESSAGE, strs[2]);
    for (int k = 0; k < 6; k++) {
        PyObject *v = promoted[k];
        rc |= v ? append(cols, promoted_cols[k], v) : append_borrowed(cols, promoted_cols[k], Py_None);
    }
    rc |= append(cols, C_ATTRIBUTES, attributes);
    rc |= append_borrowed(cols, C_RESOURCE, ctx->resource_json);
    rc |= append_borrowed(cols, C_SCOPE_NAME, ctx->scope_name);
    rc |= append_borrowed(cols, C_SCOPE_VERSION, ctx->scope_version);
    rc |= events ? append(cols, C_EVENTS, events) : append_borrowed(cols, C_EVENTS, Py_None);
    rc |= links ? append(cols, C_LINKS, links) : append_borrowed(cols, C_LINKS, Py_None);
    return rc ? PYERROR : 0;
}

static int decode_scope_spans(Reader r, Context *ctx, PyObject **cols, Buf *b) {
    Field f;
    int has_scope = 0;
    const uint8_t *name = NULL, *version = NULL;
    size_t name_len = 0, version_len = 0;
    Reader scan = r;
    FOR_FIELDS(&scan, &f) {
        if (f.field == 1) {
            if (f.wire != 2 || has_scope) return FALLBACK;
            has_scope = 1;
            Reader s = sub(&f);
            Field sf;
            FOR_FIELDS(&s, &sf) {
                if (sf.field == 1 && sf.wire == 2) { name = sf.ptr; name_len = sf.len; }
                else if (sf.field == 2 && sf.wire == 2) { version = sf.ptr; version_len = sf.len; }
                else if (sf.field == 3 || (sf.field == 4 && sf.u64)) return FALLBACK;  /* attributes, dropped */
            }
        } else if (f.field == 3) return FALLBACK;  /* schema_url */
    }
    ctx->scope_name = str_or_none(name, name_len);
    ctx->scope_version = str_or_none(version, version_len);
    int rc = 0;
    if (!ctx->scope_name || !ctx->scope_version) rc = PYERROR;
    while (!rc) {
        int more = next_field(&r, &f);
        if (more <= 0) { rc = more; break; }
        if (f.field != 2) continue;
        if (f.wire != 2) { rc = FALLBACK; break; }
        rc = decode_span(sub(&f), ctx, cols, b);
    }
    Py_CLEAR(ctx->scope_name);
    Py_CLEAR(ctx->scope_version);
    if (rc == PYERROR && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) { PyErr_Clear(); rc = FALLBACK; }
    return rc;
}

static int decode_resource_spans(Reader r, PyObject **cols, Buf *b) {
    Field f;
    Reader scan = r, resource = {NULL, NULL};
    int has_resource = 0;
    FOR_FIELDS(&scan, &f) {
        if (f.field == 1) {
            if (f.wire != 2 || has_resource) return FALLBACK;
            has_resource = 1;
            resource = sub(&f);
        } else if (f.field == 3) return FALLBACK;  /* schema_url */
    }
    if (has_resource) {
        Reader s = resource;
        Field rf;
        FOR_FIELDS(&s, &rf) if (rf.field == 2 && rf.u64) return FALLBACK;  /* dropped_attributes_count */
    }
    Context ctx = {0};
    PyObject *promoted[P_COUNT] = {NULL};
    int rc = 0;
    b->len = 0;
    if (has_resource) {
        rc = find_promoted(resource, 1, promoted, P_SERVICE, P_SERVICE);
        if (!rc) rc = find_promoted(resource, 1, promoted, P_PLATFORM, P_PLATFORM);
        if (!rc) rc = keyvalues_json(b, resource, 1, 0, 0);
    } else {
        rc = buf_put(b, "{}", 2);
    }
    if (!rc) {
        ctx.resource_json = buf_str(b);
        if (!ctx.resource_json) rc = PYERROR;
    }
    if (!rc) {
        PyObject *service = promoted[P_SERVICE];
        if (service && service != Py_None && PyUnicode_GET_LENGTH(service) > 0) {
            Py_INCREF(service);
            ctx.service = service;
        } else {
            ctx.service = PyUnicode_FromString("unknown_service");
            if (!ctx.service) rc = PYERROR;
        }
        ctx.platform = promoted[P_PLATFORM] ? promoted[P_PLATFORM] : Py_None;
        Py_INCREF(ctx.platform);
    }
    while (!rc) {
        int more = next_field(&r, &f);
        if (more <= 0) { rc = more; break; }
        if (f.field != 2) continue;
        if (f.wire != 2) { rc = FALLBACK; break; }
        rc = decode_scope_spans(sub(&f), &ctx, cols, b);
    }
    Py_XDECREF(ctx.service);
    Py_XDECREF(ctx.resource_json);
    Py_XDECREF(ctx.platform);
    for (int k = 0; k < P_COUNT; k++) Py_XDECREF(promoted[k]);
    if (rc == PYERROR && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) { PyErr_Clear(); rc = FALLBACK; }
    return rc;
}

PyDoc_STRVAR(decode_doc,
"decode(body: bytes) -> tuple[list, ...] | None\n\n"
"The SpanBatch columns (trace_id ... links, without tenant, journey_id and extra) of a\n"
"serialized ExportTraceServiceRequest, or None when the pure-Python decoder must handle it.");

static PyObject *decode(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    PyObject *cols[C_COUNT] = {NULL};
    Buf b = {0};
    int rc = 0;
    for (int i = 0; i < C_COUNT && !rc; i++) if (!(cols[i] = PyList_New(0))) rc = PYERROR;
    Reader r = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
    Field f;
    while (!rc) {
        int more = next_field(&r, &f);
        if (more <= 0) { rc = more; break; }
        if (f.field != 1) continue;
        if (f.wire != 2) { rc = FALLBACK; break; }
        rc = decode_resource_spans(sub(&f), cols, &b);
    }
    PyMem_Free(b.data);
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (!rc) {
        result = PyTuple_New(C_COUNT);
        if (result) for (int i = 0; i < C_COUNT; i++) { PyTuple_SET_ITEM(result, i, cols[i]); cols[i] = NULL; }
    } else if (rc == FALLBACK) {
        result = Py_NewRef(Py_None);
    }
    for (int i = 0; i < C_COUNT; i++) Py_XDECREF(cols[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_O, decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "journeytrace._fastdecode",
    "Fast path for decoding OTLP trace requests into SpanBatch columns.", -1, methods,
};

PyMODINIT_FUNC PyInit__fastdecode(void) { return PyModule_Create(&module); }
