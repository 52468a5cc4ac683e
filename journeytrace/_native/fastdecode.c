/*
 * journeytrace._fastdecode: the fast path of journeytrace.spans.decode_request.
 *
 * Decodes a serialized OTLP ExportTraceServiceRequest straight from protobuf wire format into
 * Arrow column buffers (validity bitmap, int32 offsets, UTF-8 data; or fixed-width integers),
 * writing attribute/event/link JSON on the way. No Python object is made per span or
 * attribute and the GIL is released while it runs. It covers the common case only. Whenever a request holds
 * anything rarer -- an invalid span, bytes or non-finite double values, dropped counts,
 * schema URLs, scope attributes, repeated singular messages, invalid UTF-8, malformed wire
 * data -- it returns None and the caller uses the pure-Python decoder, which is the reference
 * implementation (tests check that both give the same batch).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define FALLBACK (-1)
#define NOMEM (-2)
#define MAX_DEPTH 64

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return NOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return NOMEM;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

#define PUT(b, lit) do { if (buf_put((b), (lit), sizeof(lit) - 1)) return NOMEM; } while (0)
#define TRY(expr) do { int _rc = (expr); if (_rc) return _rc; } while (0)

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as protobuf requires
 * of string fields and Arrow of string columns. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

static int json_string(Buf *b, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!valid_utf8(s, n)) return FALLBACK;
    if (buf_reserve(b, n * 6 + 2)) return NOMEM;
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
        if (f.field == 1 && f.wire == 2 && !valid_utf8(f.ptr, f.len)) return FALLBACK;  /* even if shadowed */
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
        /* The shortest of %.15g..%.17g that reads back exactly; ".0" keeps it a float in JSON. */
        char s[40];
        for (int precision = 15; precision <= 17; precision++) {
            snprintf(s, sizeof s, "%.*g", precision, d);
            if (strtod(s, NULL) == d) break;
        }
        if (!strpbrk(s, ".en")) strcat(s, ".0");
        return buf_put(b, s, strlen(s));
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
    int has_value = 0, has_key = 0;
    *key = (const uint8_t *)"";
    *key_len = 0;
    value->p = value->end = NULL;
    FOR_FIELDS(&r, &f) {
        if (f.field == 1) {
            if (f.wire != 2 || has_key || !valid_utf8(f.ptr, f.len)) return FALLBACK;
            has_key = 1;
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

/* Whether the KeyValue entries under ``field_no`` repeat a key (the Python decoder keeps the
 * last; JSON must not hold both). Past 256 entries the check is left to the Python decoder. */
static int has_duplicate_keys(Reader r, uint32_t field_no) {
    const uint8_t *keys[256];
    size_t lens[256];
    int n = 0;
    Field f;
    for (int rc; (rc = next_field(&r, &f)) != 0;) {
        if (rc < 0) return 1;
        if (f.field != field_no || f.wire != 2) continue;
        const uint8_t *key;
        size_t key_len;
        Reader value;
        if (keyvalue_parts(sub(&f), &key, &key_len, &value) || n == 256) return 1;
        for (int i = 0; i < n; i++)
            if (lens[i] == key_len && memcmp(keys[i], key, key_len) == 0) return 1;
        keys[n] = key;
        lens[n] = key_len;
        n++;
    }
    return 0;
}

/* The KeyValue entries found under ``field_no`` of a message, as a JSON object. With
 * ``strip_promoted``, string-valued keys that have their own column are left out (storage
 * puts them back on read), so each value is stored once. */
static int keyvalues_json(Buf *b, Reader r, uint32_t field_no, int depth, int strip_promoted) {
    Field f;
    int first = 1;
    if (has_duplicate_keys(r, field_no)) return FALLBACK;
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

/* --- Arrow columns ------------------------------------------------------------------------- */

enum {
    C_TRACE_ID, C_SPAN_ID, C_PARENT, C_TRACE_STATE, C_FLAGS, C_NAME, C_KIND, C_SERVICE, C_START,
    C_END, C_STATUS_CODE, C_STATUS_MESSAGE, C_SPAN_TYPE, C_PLATFORM, C_INTERACTION, C_PHONE,
    C_QUEUE, C_AGENT, C_ATTRIBUTES, C_RESOURCE, C_SCOPE_NAME, C_SCOPE_VERSION, C_EVENTS, C_LINKS,
    C_COUNT
};

/* Fixed-width integer columns and their byte width; every other column is a string. */
static int int_width(int col) {
    switch (col) {
    case C_FLAGS: case C_KIND: case C_STATUS_CODE: return 4;
    case C_START: case C_END: return 8;
    default: return 0;
    }
}

typedef struct {
    Buf data, offsets, validity;
    int64_t rows, nulls;
} Column;

static int col_valid_bit(Column *c, int valid) {
    if (c->rows % 8 == 0 && buf_put(&c->validity, "\0", 1)) return NOMEM;
    if (valid) c->validity.data[c->rows / 8] |= (char)(1 << (c->rows % 8));
    else c->nulls++;
    c->rows++;
    return 0;
}

static int col_offset(Column *c) {
    if (c->data.len > INT32_MAX) return FALLBACK;
    int32_t end = (int32_t)c->data.len;
    return buf_put(&c->offsets, (const char *)&end, 4);
}

static int col_str(Column *c, const uint8_t *s, size_t n) {
    if (!valid_utf8(s, n)) return FALLBACK;
    TRY(buf_put(&c->data, (const char *)s, n));
    TRY(col_offset(c));
    return col_valid_bit(c, 1);
}

static int col_buf(Column *c, const Buf *b) { return col_str(c, (const uint8_t *)b->data, b->len); }

static int col_null(Column *c) {
    TRY(col_offset(c));
    return col_valid_bit(c, 0);
}

static int col_str_or_null(Column *c, const uint8_t *s, size_t n) { return n ? col_str(c, s, n) : col_null(c); }

static int col_hex(Column *c, const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char tmp[64];
    for (size_t i = 0; i < n; i++) { tmp[2 * i] = digits[p[i] >> 4]; tmp[2 * i + 1] = digits[p[i] & 15]; }
    return col_str(c, (const uint8_t *)tmp, 2 * n);
}

static int col_int(Column *c, int width, uint64_t v) {
    if (width == 4) { uint32_t v32 = (uint32_t)v; TRY(buf_put(&c->data, (const char *)&v32, 4)); }
    else TRY(buf_put(&c->data, (const char *)&v, 8));
    c->rows++;
    return 0;
}

/* --- promoted attributes ------------------------------------------------------------------- */

enum { P_SPAN_TYPE, P_PLATFORM, P_INTERACTION, P_PHONE, P_QUEUE, P_AGENT, P_SERVICE, P_COUNT };
static const char *const PROMOTED_KEYS[P_COUNT] = {
    "cx.span.type", "cx.platform.name", "cx.platform.interaction.id", "cx.telephony.ani.number",
    "cx.queue.name", "cx.agent.id", "service.name",
};

/* A promoted attribute's column value: its string, or an integer in decimal (journeytrace.spans._promoted). */
typedef struct {
    int set;              /* the key was seen (its value may still be "none") */
    int kind;             /* 0 none, 1 string, 2 integer */
    const uint8_t *ptr;
    size_t len;
    int64_t number;
} Promoted;

static void promoted_value(Reader value, Promoted *out) {
    Field f, last = {0};
    int found = 0;
    out->set = 1;
    out->kind = 0;
    if (value.p != NULL) {
        for (int rc; (rc = next_field(&value, &f)) != 0;) {
            if (rc < 0) return;
            if (f.field >= 1 && f.field <= 7) { last = f; found = 1; }
        }
    }
    if (found && last.field == 1 && last.wire == 2) { out->kind = 1; out->ptr = last.ptr; out->len = last.len; }
    else if (found && last.field == 3 && last.wire == 0) { out->kind = 2; out->number = (int64_t)last.u64; }
}

static int find_promoted(Reader r, uint32_t field_no, Promoted *out, int first_key, int last_key) {
    Field f;
    FOR_FIELDS(&r, &f) {
        if (f.field != field_no || f.wire != 2) continue;
        const uint8_t *key;
        size_t key_len;
        Reader value;
        if (keyvalue_parts(sub(&f), &key, &key_len, &value)) return FALLBACK;
        for (int k = first_key; k <= last_key; k++)
            if (key_len == strlen(PROMOTED_KEYS[k]) && memcmp(key, PROMOTED_KEYS[k], key_len) == 0)
                promoted_value(value, &out[k]);
    }
    return 0;
}

static int col_promoted(Column *c, const Promoted *p) {
    if (!p->set || p->kind == 0) return col_null(c);
    if (p->kind == 1) return col_str(c, p->ptr, p->len);
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)p->number);
    return col_str(c, (const uint8_t *)tmp, (size_t)n);
}

/* Keys whose string values live only in their column (journeytrace.spans.STRIPPED_KEYS). */
static const char *const STRIPPED_KEYS[] = {
    "cx.span.type", "cx.platform.interaction.id", "cx.queue.name", "cx.agent.id", "cx.telephony.ani.number",
};

static int is_stripped_key(const uint8_t *key, size_t key_len, Reader value) {
    int match = 0;
    for (size_t k = 0; k < sizeof STRIPPED_KEYS / sizeof *STRIPPED_KEYS; k++)
        if (key_len == strlen(STRIPPED_KEYS[k]) && memcmp(key, STRIPPED_KEYS[k], key_len) == 0) match = 1;
    if (!match || value.p == NULL) return 0;
    Reader scan = value;
    Field f;
    for (int rc; (rc = next_field(&scan, &f)) != 0;)  /* leave doubtful values to anyvalue_json's checks */
        if (rc < 0 || (f.field == 1 && f.wire == 2 && !valid_utf8(f.ptr, f.len))) return 0;
    Promoted p = {0};
    promoted_value(value, &p);
    return p.kind == 1;
}

/* --- spans --------------------------------------------------------------------------------- */

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i]) return 0;
    return 1;
}

typedef struct {
    Column *cols;
    Buf scratch;
    Buf resource_json;
    Promoted service, platform;
    const uint8_t *scope_name, *scope_version;
    size_t scope_name_len, scope_version_len;
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
            else if (ef.field == 2 && ef.wire == 2) {
                if (!valid_utf8(ef.ptr, ef.len)) return FALLBACK;
                name = ef.ptr;
                name_len = ef.len;
            }
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
            else if (lf.field == 3 && lf.wire == 2) {
                if (!valid_utf8(lf.ptr, lf.len)) return FALLBACK;
                state = lf.ptr;
                state_len = lf.len;
            }
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

static int decode_span(Reader span, Context *ctx) {
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
        case 3: if (f.wire != 2 || !valid_utf8(f.ptr, f.len)) return FALLBACK; state = f.ptr; state_len = f.len; break;
        case 4: if (f.wire != 2) return FALLBACK; parent = f.ptr; parent_len = f.len; break;
        case 5: if (f.wire != 2 || !valid_utf8(f.ptr, f.len)) return FALLBACK; name = f.ptr; name_len = f.len; break;
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
                if (sf.field == 2 && sf.wire == 2) {
                    if (!valid_utf8(sf.ptr, sf.len)) return FALLBACK;
                    status_msg = sf.ptr;
                    status_msg_len = sf.len;
                }
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

    Promoted promoted[P_COUNT] = {{0}};
    TRY(find_promoted(span, 9, promoted, P_SPAN_TYPE, P_AGENT));
    if (!promoted[P_PLATFORM].set) promoted[P_PLATFORM] = ctx->platform;

    Column *c = ctx->cols;
    Buf *b = &ctx->scratch;
    TRY(col_hex(&c[C_TRACE_ID], tid, 16));
    TRY(col_hex(&c[C_SPAN_ID], sid, 8));
    TRY(parent_len ? col_hex(&c[C_PARENT], parent, 8) : col_null(&c[C_PARENT]));
    TRY(col_str_or_null(&c[C_TRACE_STATE], state, state_len));
    TRY(col_int(&c[C_FLAGS], 4, flags));
    TRY(col_str(&c[C_NAME], name ? name : (const uint8_t *)"", name_len));
    TRY(col_int(&c[C_KIND], 4, kind));
    if (ctx->service.kind) TRY(col_promoted(&c[C_SERVICE], &ctx->service));
    else TRY(col_str(&c[C_SERVICE], (const uint8_t *)"unknown_service", 15));
    TRY(col_int(&c[C_START], 8, start));
    TRY(col_int(&c[C_END], 8, end));
    TRY(col_int(&c[C_STATUS_CODE], 4, status_code));
    TRY(col_str_or_null(&c[C_STATUS_MESSAGE], status_msg, status_msg_len));
    static const int promoted_cols[6] = {C_SPAN_TYPE, C_PLATFORM, C_INTERACTION, C_PHONE, C_QUEUE, C_AGENT};
    for (int k = 0; k < 6; k++) TRY(col_promoted(&c[promoted_cols[k]], &promoted[k]));
    b->len = 0;
    TRY(keyvalues_json(b, span, 9, 0, 1));
    TRY(col_buf(&c[C_ATTRIBUTES], b));
    TRY(col_buf(&c[C_RESOURCE], &ctx->resource_json));
    TRY(col_str_or_null(&c[C_SCOPE_NAME], ctx->scope_name, ctx->scope_name_len));
    TRY(col_str_or_null(&c[C_SCOPE_VERSION], ctx->scope_version, ctx->scope_version_len));
    if (has_events) { b->len = 0; TRY(events_json(b, span)); TRY(col_buf(&c[C_EVENTS], b)); }
    else TRY(col_null(&c[C_EVENTS]));
    if (has_links) { b->len = 0; TRY(links_json(b, span)); TRY(col_buf(&c[C_LINKS], b)); }
    else TRY(col_null(&c[C_LINKS]));
    return 0;
}

static int decode_scope_spans(Reader r, Context *ctx) {
    Field f;
    int has_scope = 0;
    ctx->scope_name = ctx->scope_version = NULL;
    ctx->scope_name_len = ctx->scope_version_len = 0;
    Reader scan = r;
    FOR_FIELDS(&scan, &f) {
        if (f.field == 1) {
            if (f.wire != 2 || has_scope) return FALLBACK;
            has_scope = 1;
            Reader s = sub(&f);
            Field sf;
            FOR_FIELDS(&s, &sf) {
                if ((sf.field == 1 || sf.field == 2) && sf.wire == 2 && !valid_utf8(sf.ptr, sf.len)) return FALLBACK;
                if (sf.field == 1 && sf.wire == 2) { ctx->scope_name = sf.ptr; ctx->scope_name_len = sf.len; }
                else if (sf.field == 2 && sf.wire == 2) { ctx->scope_version = sf.ptr; ctx->scope_version_len = sf.len; }
                else if (sf.field == 3 || (sf.field == 4 && sf.u64)) return FALLBACK;  /* attributes, dropped */
            }
        } else if (f.field == 3) return FALLBACK;  /* schema_url */
    }
    FOR_FIELDS(&r, &f) {
        if (f.field != 2) continue;
        if (f.wire != 2) return FALLBACK;
        TRY(decode_span(sub(&f), ctx));
    }
    return 0;
}

static int decode_resource_spans(Reader r, Context *ctx) {
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
    Promoted promoted[P_COUNT] = {{0}};
    ctx->resource_json.len = 0;
    if (has_resource) {
        Reader s = resource;
        Field rf;
        FOR_FIELDS(&s, &rf) if (rf.field == 2 && rf.u64) return FALLBACK;  /* dropped_attributes_count */
        TRY(find_promoted(resource, 1, promoted, P_PLATFORM, P_PLATFORM));
        TRY(find_promoted(resource, 1, promoted, P_SERVICE, P_SERVICE));
        TRY(keyvalues_json(&ctx->resource_json, resource, 1, 0, 0));
    } else {
        TRY(buf_put(&ctx->resource_json, "{}", 2));
    }
    ctx->platform = promoted[P_PLATFORM];
    ctx->service = promoted[P_SERVICE];
    if (ctx->service.kind == 1 && ctx->service.len == 0) ctx->service.kind = 0;  /* "" → unknown_service */
    FOR_FIELDS(&r, &f) {
        if (f.field != 2) continue;
        if (f.wire != 2) return FALLBACK;
        TRY(decode_scope_spans(sub(&f), ctx));
    }
    return 0;
}

static int decode_request(const uint8_t *p, size_t n, Context *ctx) {
    Reader r = {p, p + n};
    Field f;
    for (int i = 0; i < C_COUNT; i++) {
        if (!int_width(i)) TRY(col_offset(&ctx->cols[i]));  /* Arrow offsets start with 0 */
    }
    FOR_FIELDS(&r, &f) {
        if (f.field != 1) continue;
        if (f.wire != 2) return FALLBACK;
        TRY(decode_resource_spans(sub(&f), ctx));
    }
    return 0;
}

static PyObject *bytes_of(const Buf *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
}

PyDoc_STRVAR(decode_doc,
"decode(body: bytes) -> tuple[int, list[tuple]] | None\n\n"
"The span count and, per column (trace_id ... links, journeytrace.spans._FAST_COLUMNS),\n"
"its Arrow buffers: (validity, offsets, data, null_count) for strings, (data,) for integers.\n"
"None when the pure-Python decoder must handle the request.");

static PyObject *decode(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    Column cols[C_COUNT];
    memset(cols, 0, sizeof cols);
    Context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cols = cols;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = decode_request((const uint8_t *)view.buf, (size_t)view.len, &ctx);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (rc == NOMEM) {
        PyErr_NoMemory();
    } else if (rc) {
        result = Py_NewRef(Py_None);
    } else {
        PyObject *list = PyList_New(C_COUNT);
        for (int i = 0; list && i < C_COUNT; i++) {
            Column *c = &cols[i];
            PyObject *item = int_width(i)
                ? Py_BuildValue("(N)", bytes_of(&c->data))
                : Py_BuildValue("(NNNL)", bytes_of(&c->validity), bytes_of(&c->offsets), bytes_of(&c->data),
                                (long long)c->nulls);
            if (!item) { Py_CLEAR(list); break; }
            PyList_SET_ITEM(list, i, item);
        }
        if (list) result = Py_BuildValue("(LN)", (long long)cols[C_TRACE_ID].rows, list);
    }
    for (int i = 0; i < C_COUNT; i++) { free(cols[i].data.data); free(cols[i].offsets.data); free(cols[i].validity.data); }
    free(ctx.scratch.data);
    free(ctx.resource_json.data);
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
