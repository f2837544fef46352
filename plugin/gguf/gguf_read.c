/* GGUF reader. The file is untrusted: every count, length and offset is checked against the
 * bytes that remain before it is used, so a hostile header fails fast and never drives an
 * allocation larger than a small multiple of the file size.
 *
 * Layout (v2/v3, little-endian): "GGUF" u32 version, u64 n_tensors, u64 n_kv, n_kv × (string key,
 * u32 type, value), n_tensors × (string name, u32 n_dims, n_dims × u64 ne, u32 type, u64 offset),
 * padding to general.alignment, data section. Strings are u64 length + bytes (no NUL).
 *
 * Pointers handed out (kv->data, tensor->data, string pointers) point into the mapping and may be
 * unaligned for their type: read scalars through the getters or memcpy. For a scalar STRING kv,
 * kv->data points at its u64 length prefix. */
/* POSIX 2008 (mmap, mlock, posix_memalign, O_CLOEXEC, mkstemp) when built outside the Makefile. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include "os.h" /* mmap, open, read, posix_memalign shims */
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "g4plug's GGUF reader assumes a little-endian host"
#endif

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_ALIGNMENT (1u << 30)
#define GGUF_MAX_NAME 4096u     /* keys and tensor names; real ones are < 100 bytes */
#define GGUF_MAX_ARRAY_DEPTH 8  /* nested arrays: bounds recursion on hostile input */
#define GGUF_MAX_SHARDS 9999u
/* Smallest encodings, used to reject counts that cannot fit in the remaining bytes. */
#define GGUF_MIN_KV_BYTES 13u     /* key len 8 + 1 byte key + type 4 + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 25u /* name len 8 + 1 byte name + n_dims 4 + type 4 + offset 8 */

/* ---------------------------------------------------------------- errors */

typedef struct errbuf {
    char *buf;
    size_t len;
} errbuf;

#if defined(__MINGW32__) /* plain "printf" means the MSVCRT dialect (no %zu) to mingw gcc */
__attribute__((format(gnu_printf, 2, 3)))
#elif defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static bool fail(errbuf *e, const char *fmt, ...)
{
    if (e->buf && e->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* A name from the file, made printable and short enough for an error message. */
typedef struct printable {
    char s[100];
} printable;

static printable show(const void *p, uint64_t len)
{
    printable out;
    const unsigned char *c = p;
    size_t n = len > 80 ? 80 : (size_t)len, j = 0;
    for (size_t i = 0; i < n; i++)
        out.s[j++] = (c[i] >= 0x20 && c[i] < 0x7f) ? (char)c[i] : '?';
    if (n < len) {
        memcpy(out.s + j, "...", 3);
        j += 3;
    }
    out.s[j] = 0;
    return out;
}

/* ---------------------------------------------------------------- cursor */

typedef struct cursor {
    const uint8_t *buf;
    size_t size, pos;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static bool rd_u32(cursor *c, uint32_t *v)
{
    if (left(c) < 4)
        return false;
    memcpy(v, c->buf + c->pos, 4);
    c->pos += 4;
    return true;
}

static bool rd_u64(cursor *c, uint64_t *v)
{
    if (left(c) < 8)
        return false;
    memcpy(v, c->buf + c->pos, 8);
    c->pos += 8;
    return true;
}

static uint64_t load_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---------------------------------------------------------------- value types */

size_t g4_gguf_vtype_size(uint32_t t)
{
    switch (t) {
    case G4_GGUF_UINT8: case G4_GGUF_INT8: case G4_GGUF_BOOL: return 1;
    case G4_GGUF_UINT16: case G4_GGUF_INT16: return 2;
    case G4_GGUF_UINT32: case G4_GGUF_INT32: case G4_GGUF_FLOAT32: return 4;
    case G4_GGUF_UINT64: case G4_GGUF_INT64: case G4_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static bool vtype_known(uint32_t t) { return t <= G4_GGUF_FLOAT64; }

/* ---------------------------------------------------------------- name index */

/* Open-addressing hash table over entries whose first member is a g4_gguf_str name. Slots hold
 * index+1 (0 = empty). The seed comes from the table's own address so that a crafted file cannot
 * pre-compute collisions and turn open into O(n^2). */
typedef struct name_index {
    uint32_t *slots;
    uint64_t mask;
    uint64_t seed;
} name_index;

static uint64_t hash_name(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static const g4_gguf_str *entry_name(const void *entries, size_t stride, uint64_t i)
{
    return (const g4_gguf_str *)(const void *)((const char *)entries + i * stride);
}

/* Builds the index; on a duplicate name returns false with *dup set to its second index. */
static bool index_build(name_index *ix, const void *entries, size_t stride, uint64_t n, bool *oom,
                        uint64_t *dup)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    *oom = false;
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots) {
        *oom = true;
        return false;
    }
    ix->mask = cap - 1;
    ix->seed = (uint64_t)(uintptr_t)ix->slots * 0x9e3779b97f4a7c15ull;
    for (uint64_t i = 0; i < n; i++) {
        const g4_gguf_str *s = entry_name(entries, stride, i);
        uint64_t h = hash_name(s->ptr, s->len, ix->seed) & ix->mask;
        while (ix->slots[h]) {
            const g4_gguf_str *o = entry_name(entries, stride, ix->slots[h] - 1);
            if (o->len == s->len && memcmp(o->ptr, s->ptr, s->len) == 0) {
                *dup = i;
                return false;
            }
            h = (h + 1) & ix->mask;
        }
        ix->slots[h] = (uint32_t)(i + 1);
    }
    return true;
}

static int64_t index_find(const name_index *ix, const void *entries, size_t stride, const char *name)
{
    if (!ix->slots || !name)
        return -1;
    size_t n = strlen(name);
    uint64_t h = hash_name(name, n, ix->seed) & ix->mask;
    while (ix->slots[h]) {
        const g4_gguf_str *o = entry_name(entries, stride, ix->slots[h] - 1);
        if (o->len == n && memcmp(o->ptr, name, n) == 0)
            return (int64_t)ix->slots[h] - 1;
        h = (h + 1) & ix->mask;
    }
    return -1;
}

/* ---------------------------------------------------------------- structures */

typedef struct kv_entry {
    g4_gguf_kv pub;     /* first member: g4_gguf_arr_str converts the public pointer back */
    uint64_t *str_offs; /* string arrays: byte offset of each element's length prefix from data */
} kv_entry;

enum { BACKING_BORROWED, BACKING_MMAP, BACKING_MALLOC };

typedef struct shard {
    const uint8_t *base;
    size_t size;
    int backing;
    bool locked; /* mlock succeeded: unlock before freeing a malloc'd copy */
    uint32_t version, alignment;
    uint64_t data_off;
    int64_t n_kv;
    kv_entry *kvs;
    name_index kv_index;
    int64_t n_tensors;
    g4_gguf_tensor *tensors;
} shard;

struct g4_gguf {
    uint32_t n_shards;
    shard *shards;
    int64_t n_tensors;
    g4_gguf_tensor *tensors; /* all shards merged */
    name_index tensor_index;
    uint64_t mapped_bytes;
};

static void free_kvs(shard *s)
{
    for (int64_t i = 0; i < s->n_kv && s->kvs; i++)
        free(s->kvs[i].str_offs);
    free(s->kvs);
    free(s->kv_index.slots);
    s->kvs = NULL;
    s->kv_index.slots = NULL;
    s->n_kv = 0;
}

static void release_shard(shard *s)
{
    free_kvs(s);
    free(s->tensors);
    s->tensors = NULL;
    if (s->backing == BACKING_MMAP && s->base)
        munmap((void *)(uintptr_t)s->base, s->size);
    else if (s->backing == BACKING_MALLOC) {
        if (s->locked)
            munlock(s->base, s->size);
#ifdef _WIN32
        g4_os_aligned_free((void *)(uintptr_t)s->base); /* _aligned_malloc'd */
#else
        free((void *)(uintptr_t)s->base);
#endif
    }
    s->base = NULL;
}

/* ---------------------------------------------------------------- parsing */

/* Reads a length-prefixed name (key or tensor name): non-empty, bounded, no NUL bytes. */
static bool rd_name(cursor *c, g4_gguf_str *out, const char *what, uint64_t idx, errbuf *e)
{
    uint64_t len;
    if (!rd_u64(c, &len))
        return fail(e, "%s %llu: file truncated in its name length", what, (unsigned long long)idx);
    if (len == 0)
        return fail(e, "%s %llu has an empty name", what, (unsigned long long)idx);
    if (len > left(c))
        return fail(e, "%s %llu: name length %llu runs past the end of the file", what,
                    (unsigned long long)idx, (unsigned long long)len);
    if (len > GGUF_MAX_NAME)
        return fail(e, "%s %llu: name length %llu exceeds the limit of %u", what,
                    (unsigned long long)idx, (unsigned long long)len, GGUF_MAX_NAME);
    const char *p = (const char *)c->buf + c->pos;
    if (memchr(p, 0, (size_t)len))
        return fail(e, "%s '%s' contains a NUL byte", what, show(p, len).s);
    out->ptr = p;
    out->len = len;
    c->pos += (size_t)len;
    return true;
}

/* Validates and skips n array elements of type et. For string arrays, str_offs (n entries)
 * receives each element's offset from the first element. */
static bool skip_array(cursor *c, uint32_t et, uint64_t n, int depth, uint64_t *str_offs,
                       const printable *key, errbuf *e)
{
    size_t es = g4_gguf_vtype_size(et);
    if (es) {
        if (n > left(c) / es)
            return fail(e, "key '%s': array of %llu elements of %zu bytes runs past the end of the file",
                        key->s, (unsigned long long)n, es);
        c->pos += (size_t)n * es;
        return true;
    }
    if (et == G4_GGUF_STRING) {
        if (n > left(c) / 8)
            return fail(e, "key '%s': string array of %llu elements runs past the end of the file",
                        key->s, (unsigned long long)n);
        size_t start = c->pos;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len;
            if (str_offs)
                str_offs[i] = c->pos - start;
            if (!rd_u64(c, &len))
                return fail(e, "key '%s': string %llu of %llu is truncated", key->s,
                            (unsigned long long)i, (unsigned long long)n);
            if (len > left(c))
                return fail(e, "key '%s': string %llu of %llu has length %llu, past the end of the file",
                            key->s, (unsigned long long)i, (unsigned long long)n,
                            (unsigned long long)len);
            c->pos += (size_t)len;
        }
        return true;
    }
    if (et == G4_GGUF_ARRAY) {
        if (depth >= GGUF_MAX_ARRAY_DEPTH)
            return fail(e, "key '%s': arrays nested deeper than %d", key->s, GGUF_MAX_ARRAY_DEPTH);
        if (n > left(c) / 12)
            return fail(e, "key '%s': array of %llu arrays runs past the end of the file", key->s,
                        (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t et2;
            uint64_t n2;
            if (!rd_u32(c, &et2) || !rd_u64(c, &n2))
                return fail(e, "key '%s': nested array %llu is truncated", key->s, (unsigned long long)i);
            if (!vtype_known(et2))
                return fail(e, "key '%s': nested array %llu has unknown element type %u", key->s,
                            (unsigned long long)i, et2);
            if (!skip_array(c, et2, n2, depth + 1, NULL, key, e))
                return false;
        }
        return true;
    }
    return fail(e, "key '%s': array has unknown element type %u", key->s, et);
}

static bool parse_kv(cursor *c, uint64_t idx, kv_entry *kv, errbuf *e)
{
    if (!rd_name(c, &kv->pub.key, "key", idx, e))
        return false;
    printable key = show(kv->pub.key.ptr, kv->pub.key.len);
    uint32_t type;
    if (!rd_u32(c, &type))
        return fail(e, "key '%s': file truncated in its value type", key.s);
    kv->pub.type = type;
    kv->pub.data = c->buf + c->pos;
    size_t es = g4_gguf_vtype_size(type);
    if (es) {
        if (left(c) < es)
            return fail(e, "key '%s': file truncated in its value", key.s);
        c->pos += es;
        return true;
    }
    if (type == G4_GGUF_STRING) {
        uint64_t len;
        if (!rd_u64(c, &len))
            return fail(e, "key '%s': file truncated in its string length", key.s);
        if (len > left(c))
            return fail(e, "key '%s': string length %llu runs past the end of the file", key.s,
                        (unsigned long long)len);
        c->pos += (size_t)len;
        return true;
    }
    if (type != G4_GGUF_ARRAY)
        return fail(e, "key '%s' has unknown value type %u", key.s, type);
    uint32_t et;
    uint64_t n;
    if (!rd_u32(c, &et) || !rd_u64(c, &n))
        return fail(e, "key '%s': file truncated in its array header", key.s);
    if (!vtype_known(et))
        return fail(e, "key '%s': array has unknown element type %u", key.s, et);
    kv->pub.arr_type = et;
    kv->pub.arr_len = n;
    kv->pub.data = c->buf + c->pos;
    if (et == G4_GGUF_STRING) {
        /* Bounded by the file: each string needs at least 8 bytes. */
        if (n > left(c) / 8)
            return fail(e, "key '%s': string array of %llu elements runs past the end of the file",
                        key.s, (unsigned long long)n);
        kv->str_offs = malloc((n ? n : 1) * sizeof *kv->str_offs);
        if (!kv->str_offs)
            return fail(e, "key '%s': out of memory indexing %llu strings", key.s, (unsigned long long)n);
    }
    return skip_array(c, et, n, 0, kv->str_offs, &key, e);
}

static const kv_entry *shard_find_kv(const shard *s, const char *key)
{
    int64_t i = index_find(&s->kv_index, s->kvs, sizeof *s->kvs, key);
    return i < 0 ? NULL : &s->kvs[i];
}

/* Integer value of a scalar of any integer type (bool excluded unless allow_bool). */
typedef struct intval {
    bool neg;   /* value < 0: use s */
    int64_t s;
    uint64_t u; /* value >= 0 */
} intval;

static bool read_int(uint32_t type, const void *p, bool allow_bool, intval *v)
{
    v->neg = false;
    v->s = 0;
    v->u = 0;
    switch (type) {
    case G4_GGUF_BOOL:
        if (!allow_bool)
            return false;
        /* fallthrough */
    case G4_GGUF_UINT8: { uint8_t x; memcpy(&x, p, 1); v->u = x; return true; }
    case G4_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); v->u = x; return true; }
    case G4_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); v->u = x; return true; }
    case G4_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); v->u = x; return true; }
    case G4_GGUF_INT8: { int8_t x; memcpy(&x, p, 1); v->s = x; break; }
    case G4_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); v->s = x; break; }
    case G4_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); v->s = x; break; }
    case G4_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); v->s = x; break; }
    default: return false;
    }
    if (v->s < 0)
        v->neg = true;
    else
        v->u = (uint64_t)v->s;
    return true;
}

static bool shard_get_uint(const shard *s, const char *key, uint64_t *out, bool *present, errbuf *e)
{
    const kv_entry *kv = shard_find_kv(s, key);
    intval v;
    *present = kv != NULL;
    if (!kv)
        return true;
    if (!read_int(kv->pub.type, kv->pub.data, false, &v) || v.neg)
        return fail(e, "key '%s' must be a non-negative integer (type %u)", key, kv->pub.type);
    *out = v.u;
    return true;
}

typedef struct tensor_span {
    uint64_t offset, nbytes;
    int64_t idx;
} tensor_span;

static int cmp_span(const void *a, const void *b)
{
    const tensor_span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : 0;
}

static bool parse_tensor_info(cursor *c, uint64_t idx, uint32_t alignment, g4_gguf_tensor *t, errbuf *e)
{
    if (!rd_name(c, &t->name, "tensor", idx, e))
        return false;
    printable name = show(t->name.ptr, t->name.len);
    uint32_t n_dims;
    if (!rd_u32(c, &n_dims))
        return fail(e, "tensor '%s': file truncated in n_dims", name.s);
    if (n_dims > G4_GGUF_MAX_DIMS)
        return fail(e, "tensor '%s' has %u dimensions (at most %d)", name.s, n_dims, G4_GGUF_MAX_DIMS);
    t->n_dims = n_dims;
    for (int d = 0; d < G4_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        if (!rd_u64(c, &ne))
            return fail(e, "tensor '%s': file truncated in its dimensions", name.s);
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return fail(e, "tensor '%s': dimension %u is %lld (must be >= 1)", name.s, d, (long long)(int64_t)ne);
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    uint64_t offset;
    if (!rd_u32(c, &type))
        return fail(e, "tensor '%s': file truncated in its type", name.s);
    if (!rd_u64(c, &offset))
        return fail(e, "tensor '%s': file truncated in its offset", name.s);
    t->type = type;
    t->offset = offset;
    const g4_type_info *ti = g4_type_get(type);
    if (!ti)
        return fail(e, "tensor '%s' has unknown type %u", name.s, type);
    int64_t nel = 1;
    for (int d = 0; d < G4_GGUF_MAX_DIMS; d++)
        if (__builtin_mul_overflow(nel, t->ne[d], &nel))
            return fail(e, "tensor '%s': element count overflows (dims %lld x %lld x %lld x %lld)", name.s,
                        (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
    if (t->ne[0] % ti->block_elems != 0)
        return fail(e, "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %u", name.s,
                    (long long)t->ne[0], ti->name, ti->block_elems);
    uint64_t row_bytes, nbytes;
    if (__builtin_mul_overflow((uint64_t)(t->ne[0] / ti->block_elems), (uint64_t)ti->block_bytes, &row_bytes) ||
        __builtin_mul_overflow(row_bytes, (uint64_t)(nel / t->ne[0]), &nbytes))
        return fail(e, "tensor '%s': byte size overflows", name.s);
    t->nbytes = nbytes;
    if (offset % alignment != 0)
        return fail(e, "tensor '%s': offset %llu is not a multiple of the alignment %u", name.s,
                    (unsigned long long)offset, alignment);
    return true;
}

/* Parses and validates one whole file held in [base, base+size). */
static bool parse_shard(shard *s, uint32_t shard_no, errbuf *e)
{
    cursor cur = {s->base, s->size, 0};
    cursor *c = &cur;
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    if (s->size < 4 || !rd_u32(c, &magic))
        return fail(e, "file too small to be GGUF (%zu bytes)", s->size);
    if (memcmp(s->base, "GGUF", 4) != 0)
        return fail(e, "bad magic '%s' (not a GGUF file)", show(s->base, 4).s);
    if (!rd_u32(c, &version))
        return fail(e, "file truncated in the GGUF version");
    uint32_t swapped = __builtin_bswap32(version);
    if (version >= 0x10000u && swapped >= 1 && swapped <= 3)
        return fail(e, "big-endian GGUF (version %u, byte-swapped); only little-endian files are supported",
                    swapped);
    if (version == 1)
        return fail(e, "unsupported GGUF version 1 (only versions 2 and 3 are supported)");
    if (version != 2 && version != 3)
        return fail(e, "unsupported GGUF version %u (only versions 2 and 3 are supported)", version);
    s->version = version;
    if (!rd_u64(c, &n_tensors) || !rd_u64(c, &n_kv))
        return fail(e, "file truncated in the GGUF header");
    if (n_kv > left(c) / GGUF_MIN_KV_BYTES)
        return fail(e, "metadata count %llu cannot fit in the %zu bytes left in the file",
                    (unsigned long long)n_kv, left(c));
    if (n_tensors > left(c) / GGUF_MIN_TENSOR_BYTES)
        return fail(e, "tensor count %llu cannot fit in the %zu bytes left in the file",
                    (unsigned long long)n_tensors, left(c));
    if (n_kv > UINT32_MAX - 1 || n_tensors > UINT32_MAX - 1) /* the name index stores 32-bit slots */
        return fail(e, "metadata count %llu or tensor count %llu is too large",
                    (unsigned long long)n_kv, (unsigned long long)n_tensors);
    if (n_kv + n_tensors > left(c) / GGUF_MIN_KV_BYTES)
        return fail(e, "metadata count %llu plus tensor count %llu cannot fit in the %zu bytes left",
                    (unsigned long long)n_kv, (unsigned long long)n_tensors, left(c));

    s->kvs = calloc(n_kv ? n_kv : 1, sizeof *s->kvs);
    if (!s->kvs)
        return fail(e, "out of memory for %llu metadata entries", (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        s->n_kv = (int64_t)i + 1; /* so free_kvs releases what was allocated so far */
        if (!parse_kv(c, i, &s->kvs[i], e))
            return false;
    }
    s->n_kv = (int64_t)n_kv;
    bool oom;
    uint64_t dup;
    if (!index_build(&s->kv_index, s->kvs, sizeof *s->kvs, n_kv, &oom, &dup))
        return oom ? fail(e, "out of memory indexing metadata")
                   : fail(e, "duplicate key '%s'", show(s->kvs[dup].pub.key.ptr, s->kvs[dup].pub.key.len).s);

    s->alignment = GGUF_DEFAULT_ALIGNMENT;
    const kv_entry *akv = shard_find_kv(s, "general.alignment");
    if (akv) {
        intval v;
        if (!read_int(akv->pub.type, akv->pub.data, false, &v) || v.neg)
            return fail(e, "general.alignment must be an unsigned integer (type %u)", akv->pub.type);
        if (v.u == 0 || (v.u & (v.u - 1)) != 0 || v.u > GGUF_MAX_ALIGNMENT)
            return fail(e, "general.alignment = %llu is not a power of two between 1 and 2^30",
                        (unsigned long long)v.u);
        s->alignment = (uint32_t)v.u;
    }

    s->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *s->tensors);
    if (!s->tensors)
        return fail(e, "out of memory for %llu tensors", (unsigned long long)n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!parse_tensor_info(c, i, s->alignment, &s->tensors[i], e))
            return false;
        s->tensors[i].shard = shard_no;
    }
    s->n_tensors = (int64_t)n_tensors;

    uint64_t data_off = ((uint64_t)c->pos + s->alignment - 1) / s->alignment * s->alignment;
    if (data_off > s->size) {
        if (n_tensors)
            return fail(e, "data section would start at byte %llu, past the end of the file (%zu bytes)",
                        (unsigned long long)data_off, s->size);
        data_off = s->size; /* no tensors: trailing padding may be absent */
    }
    s->data_off = data_off;
    uint64_t data_size = s->size - data_off;

    tensor_span *spans = malloc((n_tensors ? n_tensors : 1) * sizeof *spans);
    if (!spans)
        return fail(e, "out of memory checking tensor extents");
    bool ok = true;
    for (uint64_t i = 0; i < n_tensors && ok; i++) {
        g4_gguf_tensor *t = &s->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            ok = fail(e, "tensor '%s': bytes [%llu, +%llu) run past the end of the data section (%llu bytes)",
                      show(t->name.ptr, t->name.len).s, (unsigned long long)t->offset,
                      (unsigned long long)t->nbytes, (unsigned long long)data_size);
        else
            t->data = s->base + data_off + t->offset;
        spans[i] = (tensor_span){t->offset, t->nbytes, (int64_t)i};
    }
    if (ok && n_tensors > 1) {
        qsort(spans, n_tensors, sizeof *spans, cmp_span);
        for (uint64_t i = 1; i < n_tensors && ok; i++)
            if (spans[i - 1].offset + spans[i - 1].nbytes > spans[i].offset) {
                const g4_gguf_tensor *a = &s->tensors[spans[i - 1].idx], *b = &s->tensors[spans[i].idx];
                printable an = show(a->name.ptr, a->name.len);
                ok = fail(e, "tensors '%s' and '%s' overlap in the data section", an.s,
                          show(b->name.ptr, b->name.len).s);
            }
    }
    free(spans);
    return ok;
}

/* ---------------------------------------------------------------- assembling */

/* Merges the shards' tensors into one indexed list. Takes ownership of shards[]. */
static g4_gguf *assemble(shard *shards, uint32_t n_shards, errbuf *e)
{
    g4_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        for (uint32_t i = 0; i < n_shards; i++)
            release_shard(&shards[i]);
        free(shards);
        fail(e, "out of memory");
        return NULL;
    }
    g->shards = shards;
    g->n_shards = n_shards;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n_shards; i++) {
        total += (uint64_t)shards[i].n_tensors;
        g->mapped_bytes += shards[i].size;
    }
    if (n_shards == 1) {
        g->tensors = shards[0].tensors;
        shards[0].tensors = NULL;
    } else {
        g->tensors = malloc((total ? total : 1) * sizeof *g->tensors);
        if (!g->tensors) {
            fail(e, "out of memory");
            g4_gguf_close(g);
            return NULL;
        }
        uint64_t k = 0;
        for (uint32_t i = 0; i < n_shards; i++) {
            memcpy(g->tensors + k, shards[i].tensors, (size_t)shards[i].n_tensors * sizeof *g->tensors);
            k += (uint64_t)shards[i].n_tensors;
            free(shards[i].tensors);
            shards[i].tensors = NULL;
            if (i > 0)
                free_kvs(&shards[i]); /* metadata comes from shard 0 only */
        }
    }
    g->n_tensors = (int64_t)total;
    bool oom;
    uint64_t dup;
    if (total > UINT32_MAX - 1 ||
        !index_build(&g->tensor_index, g->tensors, sizeof *g->tensors, total, &oom, &dup)) {
        if (total > UINT32_MAX - 1 || oom)
            fail(e, "out of memory indexing tensors");
        else
            fail(e, "duplicate tensor name '%s'", show(g->tensors[dup].name.ptr, g->tensors[dup].name.len).s);
        g4_gguf_close(g);
        return NULL;
    }
    return g;
}

g4_gguf *g4_gguf_open_memory(const void *buf, size_t size, char *err, size_t errlen)
{
    errbuf e = {err, errlen};
    if (err && errlen)
        err[0] = 0;
    if (!buf) {
        fail(&e, "no buffer");
        return NULL;
    }
    shard *s = calloc(1, sizeof *s);
    if (!s) {
        fail(&e, "out of memory");
        return NULL;
    }
    s->base = buf;
    s->size = size;
    s->backing = BACKING_BORROWED;
    uint64_t count = 1;
    bool present;
    if (!parse_shard(s, 0, &e) || !shard_get_uint(s, "split.count", &count, &present, &e)) {
        release_shard(s);
        free(s);
        return NULL;
    }
    if (count > 1) {
        fail(&e, "this is one shard of a %llu-file split GGUF; open it by path to load all shards",
             (unsigned long long)count);
        release_shard(s);
        free(s);
        return NULL;
    }
    return assemble(s, 1, &e);
}

/* Maps (or reads) a whole file into s. */
static bool load_file(const char *path, unsigned flags, shard *s, errbuf *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(e, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return fail(e, "cannot stat '%s': %s", path, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(e, "'%s' is not a regular file", path);
    }
    if (st.st_size < 24 || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return fail(e, "'%s' is too small to be a GGUF file (%lld bytes)", path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    if (flags & G4_GGUF_NO_MMAP) {
        void *mem = NULL;
        /* Page alignment keeps tensor data as aligned as it would be in a mapping; 2 MiB
         * alignment plus MADV_HUGEPAGE lets the kernel back the copy with huge pages, so a
         * decode step's weight stream crosses no 4 KiB page (TLB, prefetcher) boundaries. */
        size_t align = size >= ((size_t)8 << 20) ? ((size_t)2 << 20) : 4096;
        if (posix_memalign(&mem, align, size) != 0) {
            close(fd);
            return fail(e, "out of memory reading '%s' (%zu bytes)", path, size);
        }
#ifdef MADV_HUGEPAGE
        if (align > 4096)
            madvise(mem, size, MADV_HUGEPAGE); /* advice only */
#endif
        size_t got = 0;
        while (got < size) {
            ssize_t r = read(fd, (char *)mem + got, size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                int er = r < 0 ? errno : EIO;
                free(mem);
                close(fd);
                return fail(e, "cannot read '%s': %s", path, r < 0 ? strerror(er) : "file shrank while reading");
            }
            got += (size_t)r;
        }
        s->base = mem;
        s->backing = BACKING_MALLOC;
    } else {
        void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int er = errno;
            close(fd);
            return fail(e, "cannot map '%s': %s", path, strerror(er));
        }
#ifdef MADV_HUGEPAGE
        /* Advice only. Where the page cache holds the file in large folios (ext4/xfs on Linux
         * >= 6.x), the mapping then uses 2 MiB page-table entries: a decode step streams every
         * weight once, and with 4 KiB pages it takes a TLB miss and a hardware-prefetcher
         * restart every 4 KiB. (Observed: FilePmdMapped ~1.1 of 1.6 GB on the bench model.) */
        madvise(map, size, MADV_HUGEPAGE);
#endif
        s->base = map;
        s->backing = BACKING_MMAP;
    }
    close(fd);
    s->size = size;
    /* Best effort: RLIMIT_MEMLOCK is often small, and an unlocked model still works. */
    if (flags & G4_GGUF_MLOCK)
        s->locked = mlock(s->base, size) == 0;
    return true;
}

/* Recognises "PREFIX-%05d-of-%05d.gguf"; returns the prefix length, or 0. */
static size_t split_prefix(const char *path, unsigned *no, unsigned *count)
{
    size_t n = strlen(path);
    static const char tail[] = "-00000-of-00000.gguf";
    size_t tl = sizeof tail - 1;
    if (n <= tl)
        return 0;
    const char *p = path + n - tl;
    unsigned a = 0, b = 0;
    for (size_t i = 0; i < tl; i++) {
        if (tail[i] == '0') {
            if (p[i] < '0' || p[i] > '9')
                return 0;
            if (i < 6)
                a = a * 10 + (unsigned)(p[i] - '0');
            else
                b = b * 10 + (unsigned)(p[i] - '0');
        } else if (p[i] != tail[i]) {
            return 0;
        }
    }
    *no = a;
    *count = b;
    return n - tl;
}

static bool open_one(const char *path, unsigned flags, uint32_t shard_no, shard *s, errbuf *e)
{
    if (!load_file(path, flags, s, e))
        return false;
    char inner[400];
    errbuf ie = {inner, sizeof inner};
    inner[0] = 0;
    if (!parse_shard(s, shard_no, &ie))
        return fail(e, "%s: %s", path, inner);
    return true;
}

g4_gguf *g4_gguf_open(const char *path, unsigned flags, char *err, size_t errlen)
{
    errbuf e = {err, errlen};
    if (err && errlen)
        err[0] = 0;
    if (!path) {
        fail(&e, "no path");
        return NULL;
    }
    shard first = {0};
    uint64_t count = 1, no = 0;
    bool present;
    if (!open_one(path, flags, 0, &first, &e) || !shard_get_uint(&first, "split.count", &count, &present, &e) ||
        !shard_get_uint(&first, "split.no", &no, &present, &e)) {
        release_shard(&first);
        return NULL;
    }
    if (count <= 1) {
        shard *s = malloc(sizeof *s);
        if (!s) {
            release_shard(&first);
            fail(&e, "out of memory");
            return NULL;
        }
        *s = first;
        return assemble(s, 1, &e);
    }

    unsigned name_no = 0, name_count = 0;
    size_t plen = split_prefix(path, &name_no, &name_count);
    if (count > GGUF_MAX_SHARDS || no >= count) {
        fail(&e, "%s: split.no = %llu, split.count = %llu are not a valid shard number and count", path,
             (unsigned long long)no, (unsigned long long)count);
        release_shard(&first);
        return NULL;
    }
    if (!plen || name_count != count || name_no != no + 1) {
        fail(&e, "%s: shard %llu of %llu of a split GGUF, but the file name does not end in -%05llu-of-%05llu.gguf",
             path, (unsigned long long)no + 1, (unsigned long long)count, (unsigned long long)no + 1,
             (unsigned long long)count);
        release_shard(&first);
        return NULL;
    }
    shard *shards = calloc(count, sizeof *shards);
    char *spath = malloc(plen + 32);
    if (!shards || !spath) {
        free(shards);
        free(spath);
        release_shard(&first);
        fail(&e, "out of memory");
        return NULL;
    }
    for (g4_gguf_tensor *t = first.tensors; t < first.tensors + first.n_tensors; t++)
        t->shard = (uint32_t)no;
    shards[no] = first;
    bool ok = true;
    for (uint64_t i = 0; i < count && ok; i++) {
        snprintf(spath, plen + 32, "%.*s-%05u-of-%05u.gguf", (int)plen, path, (unsigned)i + 1, (unsigned)count);
        if (i != no) {
            ok = open_one(spath, flags, (uint32_t)i, &shards[i], &e);
            if (!ok)
                break;
        }
        uint64_t c2 = 1, n2 = 0;
        bool has_c, has_n;
        char inner[300];
        errbuf ie = {inner, sizeof inner};
        if (!shard_get_uint(&shards[i], "split.count", &c2, &has_c, &ie) ||
            !shard_get_uint(&shards[i], "split.no", &n2, &has_n, &ie))
            ok = fail(&e, "%s: %s", spath, inner);
        else if (c2 != count || n2 != i || !has_n)
            ok = fail(&e, "%s: expected shard %llu of %llu, file says split.no = %llu, split.count = %llu", spath,
                      (unsigned long long)i, (unsigned long long)count, (unsigned long long)n2,
                      (unsigned long long)c2);
    }
    if (ok) {
        uint64_t want = 0, have = 0;
        bool has_total;
        ok = shard_get_uint(&shards[0], "split.tensors.count", &want, &has_total, &e);
        for (uint64_t i = 0; i < count; i++)
            have += (uint64_t)shards[i].n_tensors;
        if (ok && has_total && want != have)
            ok = fail(&e, "split GGUF: split.tensors.count = %llu but the %llu shards hold %llu tensors",
                      (unsigned long long)want, (unsigned long long)count, (unsigned long long)have);
    }
    free(spath);
    if (!ok) {
        for (uint64_t i = 0; i < count; i++)
            release_shard(&shards[i]);
        free(shards);
        return NULL;
    }
    return assemble(shards, (uint32_t)count, &e);
}

void g4_gguf_close(g4_gguf *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->n_shards; i++)
        release_shard(&g->shards[i]);
    free(g->shards);
    free(g->tensors);
    free(g->tensor_index.slots);
    free(g);
}

/* ---------------------------------------------------------------- queries */

uint32_t g4_gguf_version(const g4_gguf *g) { return g ? g->shards[0].version : 0; }
uint32_t g4_gguf_alignment(const g4_gguf *g) { return g ? g->shards[0].alignment : 0; }
uint32_t g4_gguf_n_shards(const g4_gguf *g) { return g ? g->n_shards : 0; }
uint64_t g4_gguf_mapped_bytes(const g4_gguf *g) { return g ? g->mapped_bytes : 0; }

/* Pages of a private file mapping can be dropped and re-read only where
 * madvise exists; elsewhere (Windows) nothing is releasable. */
#if defined(MADV_DONTNEED) && !defined(_WIN32)
#define G4_GGUF_CAN_RELEASE 1

/* The shard whose unlocked file mapping holds [p, p + n), or NULL. */
static const shard *mapped_shard(const g4_gguf *g, const void *p, size_t n)
{
    const uintptr_t a = (uintptr_t)p;
    for (uint32_t i = 0; g && i < g->n_shards; i++) {
        const shard *s = &g->shards[i];
        const uintptr_t b = (uintptr_t)s->base;
        if (s->backing == BACKING_MMAP && !s->locked && a >= b && a + n <= b + s->size)
            return s;
    }
    return NULL;
}
#endif

int g4_gguf_releasable(const g4_gguf *g, const void *p, size_t n)
{
#ifdef G4_GGUF_CAN_RELEASE
    return mapped_shard(g, p, n) != NULL;
#else
    (void)g, (void)p, (void)n;
    return 0;
#endif
}

uint64_t g4_gguf_release_pages(const g4_gguf *g, const void *p, size_t n)
{
#ifdef G4_GGUF_CAN_RELEASE
    const uintptr_t a = (uintptr_t)p;
    if (mapped_shard(g, p, n)) {
        const uintptr_t page = 4096, lo = (a + page - 1) & ~(page - 1), hi = (a + n) & ~(page - 1);
        /* a private read-only file mapping: dropped pages are read again from the file on use */
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0)
            return hi - lo;
    }
#else
    (void)g, (void)p, (void)n;
#endif
    return 0;
}

int64_t g4_gguf_n_kv(const g4_gguf *g) { return g ? g->shards[0].n_kv : 0; }

const g4_gguf_kv *g4_gguf_kv_at(const g4_gguf *g, int64_t i)
{
    if (!g || i < 0 || i >= g->shards[0].n_kv)
        return NULL;
    return &g->shards[0].kvs[i].pub;
}

const g4_gguf_kv *g4_gguf_find_kv(const g4_gguf *g, const char *key)
{
    if (!g)
        return NULL;
    const kv_entry *kv = shard_find_kv(&g->shards[0], key);
    return kv ? &kv->pub : NULL;
}

int g4_gguf_get_u32(const g4_gguf *g, const char *key, uint32_t *out)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    intval v;
    if (!kv || !read_int(kv->type, kv->data, false, &v) || v.neg || v.u > UINT32_MAX)
        return -1;
    if (out)
        *out = (uint32_t)v.u;
    return 0;
}

int g4_gguf_get_i64(const g4_gguf *g, const char *key, int64_t *out)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    intval v;
    if (!kv || !read_int(kv->type, kv->data, false, &v) || (!v.neg && v.u > (uint64_t)INT64_MAX))
        return -1;
    if (out)
        *out = v.neg ? v.s : (int64_t)v.u;
    return 0;
}

int g4_gguf_get_f32(const g4_gguf *g, const char *key, float *out)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    if (!kv)
        return -1;
    if (kv->type == G4_GGUF_FLOAT32) {
        float f;
        memcpy(&f, kv->data, 4);
        if (out)
            *out = f;
        return 0;
    }
    if (kv->type == G4_GGUF_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        if (out)
            *out = (float)d;
        return 0;
    }
    return -1;
}

int g4_gguf_get_bool(const g4_gguf *g, const char *key, int *out)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    if (!kv || kv->type != G4_GGUF_BOOL)
        return -1;
    if (out)
        *out = *(const uint8_t *)kv->data != 0;
    return 0;
}

int g4_gguf_get_str(const g4_gguf *g, const char *key, g4_gguf_str *out)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    if (!kv || kv->type != G4_GGUF_STRING)
        return -1;
    if (out) {
        out->len = load_u64(kv->data);
        out->ptr = (const char *)kv->data + 8;
    }
    return 0;
}

int g4_gguf_get_arr(const g4_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n, const void **data)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    if (!kv || kv->type != G4_GGUF_ARRAY)
        return -1;
    if (elem_type)
        *elem_type = kv->arr_type;
    if (n)
        *n = kv->arr_len;
    if (data)
        *data = kv->data;
    return 0;
}

int g4_gguf_arr_str(const g4_gguf_kv *kv, uint64_t i, g4_gguf_str *out)
{
    if (!kv || kv->type != G4_GGUF_ARRAY || kv->arr_type != G4_GGUF_STRING || i >= kv->arr_len)
        return -1;
    const kv_entry *ke = (const kv_entry *)kv;
    if (!ke->str_offs)
        return -1;
    const uint8_t *p = (const uint8_t *)kv->data + ke->str_offs[i];
    if (out) {
        out->len = load_u64(p);
        out->ptr = (const char *)p + 8;
    }
    return 0;
}

int g4_gguf_arr_i64(const g4_gguf_kv *kv, uint64_t i, int64_t *out)
{
    if (!kv || kv->type != G4_GGUF_ARRAY || i >= kv->arr_len)
        return -1;
    size_t es = g4_gguf_vtype_size(kv->arr_type);
    intval v;
    if (!es || !read_int(kv->arr_type, (const uint8_t *)kv->data + i * es, true, &v) ||
        (!v.neg && v.u > (uint64_t)INT64_MAX))
        return -1;
    if (out)
        *out = v.neg ? v.s : (int64_t)v.u;
    return 0;
}

int g4_gguf_arr_f64(const g4_gguf_kv *kv, uint64_t i, double *out)
{
    if (!kv || kv->type != G4_GGUF_ARRAY || i >= kv->arr_len)
        return -1;
    size_t es = g4_gguf_vtype_size(kv->arr_type);
    if (!es)
        return -1;
    const uint8_t *p = (const uint8_t *)kv->data + i * es;
    double d;
    if (kv->arr_type == G4_GGUF_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        d = f;
    } else if (kv->arr_type == G4_GGUF_FLOAT64) {
        memcpy(&d, p, 8);
    } else {
        intval v;
        if (!read_int(kv->arr_type, p, true, &v))
            return -1;
        d = v.neg ? (double)v.s : (double)v.u;
    }
    if (out)
        *out = d;
    return 0;
}

int64_t g4_gguf_n_tensors(const g4_gguf *g) { return g ? g->n_tensors : 0; }

const g4_gguf_tensor *g4_gguf_tensor_at(const g4_gguf *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n_tensors)
        return NULL;
    return &g->tensors[i];
}

const g4_gguf_tensor *g4_gguf_find_tensor(const g4_gguf *g, const char *name)
{
    if (!g)
        return NULL;
    int64_t i = index_find(&g->tensor_index, g->tensors, sizeof *g->tensors, name);
    return i < 0 ? NULL : &g->tensors[i];
}

int g4_gguf_str_eq(g4_gguf_str s, const char *c)
{
    if (!c)
        return 0;
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}
