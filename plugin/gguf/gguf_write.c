/* GGUF writer (see gguf_write.h). Metadata is serialised when set, so writing is a straight copy;
 * tensor data is streamed from borrowed pointers, owned copies or fill callbacks. */
/* POSIX 2008 (mmap, mlock, posix_memalign, O_CLOEXEC, mkstemp) when built outside the Makefile. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "gguf/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _WIN32
#include "os.h" /* fsync, fchmod, rename (replacing), O_DIRECTORY */
#endif

#define W_MAX_NAME 4096u                   /* same limit as the reader */
#define W_MAX_TENSOR_NAME 64u              /* GGML_MAX_NAME: longer names break llama.cpp */
#define W_FILL_CHUNK ((size_t)16 << 20)    /* fill callbacks get at most this much (whole rows) */
#define W_IO_BUF ((size_t)1 << 20)

typedef struct wkv {
    char *key;
    size_t key_len;
    uint32_t type;
    uint8_t *val; /* encoded value bytes as they appear in the file after the type */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    uint32_t type, n_dims;
    int64_t ne[G4_GGUF_MAX_DIMS];
    uint64_t nbytes, row_bytes, offset;
    const void *data; /* borrowed, or == owned */
    void *owned;
    g4_gguf_fill_fn fill;
    void *fill_ctx;
} wtensor;

struct g4_gguf_writer {
    wkv *kvs;
    int64_t n_kv, cap_kv;
    wtensor *ts;
    int64_t n_t, cap_t;
    uint32_t alignment;
    char err[320];
};

#if defined(__MINGW32__) /* plain "printf" means the MSVCRT dialect (no %zu) to mingw gcc */
__attribute__((format(gnu_printf, 2, 3)))
#elif defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int werr(g4_gguf_writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

g4_gguf_writer *g4_gguf_writer_new(void)
{
    g4_gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        w->alignment = 32;
    return w;
}

void g4_gguf_writer_free(g4_gguf_writer *w)
{
    if (!w)
        return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        free(w->ts[i].name);
        free(w->ts[i].owned);
    }
    free(w->kvs);
    free(w->ts);
    free(w);
}

const char *g4_gguf_writer_error(const g4_gguf_writer *w) { return w ? w->err : "no writer"; }

static int check_name(g4_gguf_writer *w, const char *what, const char *name)
{
    if (!name || !*name)
        return werr(w, "%s name is empty", what);
    if (strlen(name) > W_MAX_NAME)
        return werr(w, "%s name '%.60s...' is longer than %u bytes", what, name, W_MAX_NAME);
    return 0;
}

static int64_t find_kv(const g4_gguf_writer *w, const char *key)
{
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0)
            return i;
    return -1;
}

/* Stores (key, type, value bytes); takes ownership of val on success and on failure. */
static int put_kv(g4_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t val_len)
{
    if (check_name(w, "key", key) != 0) {
        free(val);
        return -1;
    }
    int64_t i = find_kv(w, key);
    if (i >= 0) {
        free(w->kvs[i].val);
        w->kvs[i].type = type;
        w->kvs[i].val = val;
        w->kvs[i].val_len = val_len;
        return 0;
    }
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *k = realloc(w->kvs, (size_t)cap * sizeof *k);
        if (!k) {
            free(val);
            return werr(w, "out of memory");
        }
        w->kvs = k;
        w->cap_kv = cap;
    }
    char *kcopy = strdup(key);
    if (!kcopy) {
        free(val);
        return werr(w, "out of memory");
    }
    w->kvs[w->n_kv++] = (wkv){kcopy, strlen(key), type, val, val_len};
    return 0;
}

static int put_copy(g4_gguf_writer *w, const char *key, uint32_t type, const void *bytes, size_t n)
{
    uint8_t *val = malloc(n ? n : 1);
    if (!val)
        return werr(w, "out of memory");
    if (n)
        memcpy(val, bytes, n);
    return put_kv(w, key, type, val, n);
}

int g4_gguf_writer_set_alignment(g4_gguf_writer *w, uint32_t alignment)
{
    if (!w)
        return -1;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 30))
        return werr(w, "alignment %u is not a power of two between 1 and 2^30", alignment);
    if (put_copy(w, "general.alignment", G4_GGUF_UINT32, &alignment, 4) != 0)
        return -1;
    w->alignment = alignment;
    return 0;
}

static int set_scalar(g4_gguf_writer *w, const char *key, uint32_t type, const void *v)
{
    if (!w)
        return -1;
    if (key && strcmp(key, "general.alignment") == 0) {
        uint32_t a;
        if (type != G4_GGUF_UINT32)
            return werr(w, "general.alignment must be a u32");
        memcpy(&a, v, 4);
        return g4_gguf_writer_set_alignment(w, a);
    }
    return put_copy(w, key, type, v, g4_gguf_vtype_size(type));
}

int g4_gguf_set_u8(g4_gguf_writer *w, const char *key, uint8_t v) { return set_scalar(w, key, G4_GGUF_UINT8, &v); }
int g4_gguf_set_i8(g4_gguf_writer *w, const char *key, int8_t v) { return set_scalar(w, key, G4_GGUF_INT8, &v); }
int g4_gguf_set_u16(g4_gguf_writer *w, const char *key, uint16_t v) { return set_scalar(w, key, G4_GGUF_UINT16, &v); }
int g4_gguf_set_i16(g4_gguf_writer *w, const char *key, int16_t v) { return set_scalar(w, key, G4_GGUF_INT16, &v); }
int g4_gguf_set_u32(g4_gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, G4_GGUF_UINT32, &v); }
int g4_gguf_set_i32(g4_gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, G4_GGUF_INT32, &v); }
int g4_gguf_set_u64(g4_gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, G4_GGUF_UINT64, &v); }
int g4_gguf_set_i64(g4_gguf_writer *w, const char *key, int64_t v) { return set_scalar(w, key, G4_GGUF_INT64, &v); }
int g4_gguf_set_f32(g4_gguf_writer *w, const char *key, float v) { return set_scalar(w, key, G4_GGUF_FLOAT32, &v); }
int g4_gguf_set_f64(g4_gguf_writer *w, const char *key, double v) { return set_scalar(w, key, G4_GGUF_FLOAT64, &v); }

int g4_gguf_set_bool(g4_gguf_writer *w, const char *key, int v)
{
    uint8_t b = v != 0;
    return set_scalar(w, key, G4_GGUF_BOOL, &b);
}

int g4_gguf_set_strn(g4_gguf_writer *w, const char *key, const char *v, uint64_t len)
{
    if (!w)
        return -1;
    if (!v && len)
        return werr(w, "key '%s': NULL string", key ? key : "");
    if (len > SIZE_MAX - 8)
        return werr(w, "key '%s': string too long", key ? key : "");
    uint8_t *val = malloc((size_t)len + 8);
    if (!val)
        return werr(w, "out of memory");
    memcpy(val, &len, 8);
    if (len)
        memcpy(val + 8, v, (size_t)len);
    return put_kv(w, key, G4_GGUF_STRING, val, (size_t)len + 8);
}

int g4_gguf_set_str(g4_gguf_writer *w, const char *key, const char *v)
{
    return g4_gguf_set_strn(w, key, v, v ? strlen(v) : 0);
}

int g4_gguf_set_arr(g4_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n)
{
    if (!w)
        return -1;
    size_t es = g4_gguf_vtype_size(elem_type);
    if (!es)
        return werr(w, "key '%s': element type %u is not a fixed-size numeric type", key ? key : "", elem_type);
    if (n > (SIZE_MAX - 12) / es)
        return werr(w, "key '%s': array too large", key ? key : "");
    if (n && !data)
        return werr(w, "key '%s': NULL array data", key ? key : "");
    size_t len = 12 + (size_t)n * es;
    uint8_t *val = malloc(len);
    if (!val)
        return werr(w, "out of memory");
    memcpy(val, &elem_type, 4);
    memcpy(val + 4, &n, 8);
    if (n)
        memcpy(val + 12, data, (size_t)n * es);
    return put_kv(w, key, G4_GGUF_ARRAY, val, len);
}

int g4_gguf_set_arr_str(g4_gguf_writer *w, const char *key, const char *const *strs, const uint64_t *lens,
                        uint64_t n)
{
    if (!w)
        return -1;
    if (n && !strs)
        return werr(w, "key '%s': NULL string array", key ? key : "");
    size_t len = 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : (strs[i] ? strlen(strs[i]) : 0);
        if (!strs[i] && l)
            return werr(w, "key '%s': string %llu is NULL", key ? key : "", (unsigned long long)i);
        if (l > SIZE_MAX - len - 8)
            return werr(w, "key '%s': string array too large", key ? key : "");
        len += 8 + (size_t)l;
    }
    uint8_t *val = malloc(len), *p = val;
    if (!val)
        return werr(w, "out of memory");
    uint32_t et = G4_GGUF_STRING;
    memcpy(p, &et, 4);
    memcpy(p + 4, &n, 8);
    p += 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : (strs[i] ? strlen(strs[i]) : 0);
        memcpy(p, &l, 8);
        if (l)
            memcpy(p + 8, strs[i], (size_t)l);
        p += 8 + l;
    }
    return put_kv(w, key, G4_GGUF_ARRAY, val, len);
}

int g4_gguf_set_raw(g4_gguf_writer *w, const char *key, uint32_t type, const void *value, size_t nbytes)
{
    if (!w)
        return -1;
    if (nbytes && !value)
        return werr(w, "key '%s': NULL value", key ? key : "");
    if (put_copy(w, key, type, value, nbytes) != 0)
        return -1;
    /* A valid general.alignment (e.g. copied from another file) must also drive the layout;
     * invalid ones are stored verbatim so tests can write hostile files. */
    if (strcmp(key, "general.alignment") == 0 && type == G4_GGUF_UINT32 && nbytes == 4) {
        uint32_t a;
        memcpy(&a, value, 4);
        if (a && (a & (a - 1)) == 0 && a <= (1u << 30))
            w->alignment = a;
    }
    return 0;
}

/* Bytes taken by n elements of type et at p (p comes from a validated reader). */
static size_t elems_extent(uint32_t et, uint64_t n, const uint8_t *p)
{
    size_t es = g4_gguf_vtype_size(et);
    if (es)
        return (size_t)n * es;
    const uint8_t *q = p;
    for (uint64_t i = 0; i < n; i++) {
        if (et == G4_GGUF_STRING) {
            uint64_t l;
            memcpy(&l, q, 8);
            q += 8 + l;
        } else { /* nested array */
            uint32_t et2;
            uint64_t n2;
            memcpy(&et2, q, 4);
            memcpy(&n2, q + 4, 8);
            q += 12;
            q += elems_extent(et2, n2, q);
        }
    }
    return (size_t)(q - p);
}

int g4_gguf_set_kv_from(g4_gguf_writer *w, const g4_gguf_kv *kv)
{
    if (!w)
        return -1;
    if (!kv || !kv->key.ptr || kv->key.len == 0 || kv->key.len > W_MAX_NAME)
        return werr(w, "invalid metadata entry");
    char key[W_MAX_NAME + 1];
    memcpy(key, kv->key.ptr, (size_t)kv->key.len);
    key[kv->key.len] = 0;
    if (strlen(key) != kv->key.len)
        return werr(w, "key contains a NUL byte");
    const uint8_t *p = kv->data;
    if (kv->type == G4_GGUF_STRING) {
        uint64_t l;
        memcpy(&l, p, 8);
        return g4_gguf_set_raw(w, key, kv->type, p, 8 + (size_t)l);
    }
    if (kv->type != G4_GGUF_ARRAY) {
        size_t es = g4_gguf_vtype_size(kv->type);
        if (!es)
            return werr(w, "key '%s': unknown value type %u", key, kv->type);
        return g4_gguf_set_raw(w, key, kv->type, p, es);
    }
    size_t ext = elems_extent(kv->arr_type, kv->arr_len, p);
    uint8_t *val = malloc(12 + ext);
    if (!val)
        return werr(w, "out of memory");
    memcpy(val, &kv->arr_type, 4);
    memcpy(val + 4, &kv->arr_len, 8);
    memcpy(val + 12, p, ext);
    return put_kv(w, key, G4_GGUF_ARRAY, val, 12 + ext);
}

int g4_gguf_writer_remove_kv(g4_gguf_writer *w, const char *key)
{
    if (!w || !key)
        return -1;
    int64_t i = find_kv(w, key);
    if (i < 0)
        return werr(w, "no key '%s'", key);
    free(w->kvs[i].key);
    free(w->kvs[i].val);
    memmove(&w->kvs[i], &w->kvs[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
    if (strcmp(key, "general.alignment") == 0)
        w->alignment = 32;
    return 0;
}

static int add_tensor(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                      wtensor **out)
{
    if (!w)
        return -1;
    if (check_name(w, "tensor", name) != 0)
        return -1;
    if (strlen(name) >= W_MAX_TENSOR_NAME)
        return werr(w, "tensor name '%s' is %zu bytes; llama.cpp (GGML_MAX_NAME) allows at most %u", name,
                    strlen(name), W_MAX_TENSOR_NAME - 1);
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->ts[i].name, name) == 0)
            return werr(w, "duplicate tensor name '%s'", name);
    const g4_type_info *ti = g4_type_get(type);
    if (!ti)
        return werr(w, "tensor '%s' has unknown type %u", name, type);
    if (n_dims < 1 || n_dims > G4_GGUF_MAX_DIMS || !ne)
        return werr(w, "tensor '%s': n_dims %u is not in 1..%d", name, n_dims, G4_GGUF_MAX_DIMS);
    wtensor t = {0};
    int64_t nel = 1;
    for (uint32_t d = 0; d < G4_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1)
            return werr(w, "tensor '%s': dimension %u is %lld (must be >= 1)", name, d, (long long)t.ne[d]);
        if (__builtin_mul_overflow(nel, t.ne[d], &nel))
            return werr(w, "tensor '%s': element count overflows", name);
    }
    if (t.ne[0] % ti->block_elems != 0)
        return werr(w, "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %u", name,
                    (long long)t.ne[0], ti->name, ti->block_elems);
    t.row_bytes = (uint64_t)(t.ne[0] / ti->block_elems) * ti->block_bytes;
    if (__builtin_mul_overflow(t.row_bytes, (uint64_t)(nel / t.ne[0]), &t.nbytes) || t.nbytes > SIZE_MAX / 2)
        return werr(w, "tensor '%s': byte size overflows", name);
    t.type = type;
    t.n_dims = n_dims;
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *ts = realloc(w->ts, (size_t)cap * sizeof *ts);
        if (!ts)
            return werr(w, "out of memory");
        w->ts = ts;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name)
        return werr(w, "out of memory");
    t.name_len = strlen(name);
    w->ts[w->n_t] = t;
    *out = &w->ts[w->n_t++];
    return 0;
}

int g4_gguf_writer_add_tensor(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data)
{
    wtensor *t;
    if (w && !data)
        return werr(w, "tensor '%s': NULL data", name ? name : "");
    if (add_tensor(w, name, type, n_dims, ne, &t) != 0)
        return -1;
    t->data = data;
    return 0;
}

int g4_gguf_writer_add_tensor_copy(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, const void *data)
{
    wtensor *t;
    if (w && !data)
        return werr(w, "tensor '%s': NULL data", name ? name : "");
    if (add_tensor(w, name, type, n_dims, ne, &t) != 0)
        return -1;
    t->owned = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (!t->owned) {
        free(t->name);
        w->n_t--;
        return werr(w, "out of memory copying tensor '%s'", name);
    }
    memcpy(t->owned, data, (size_t)t->nbytes);
    t->data = t->owned;
    return 0;
}

int g4_gguf_writer_add_tensor_fill(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, g4_gguf_fill_fn fill, void *ctx)
{
    wtensor *t;
    if (w && !fill)
        return werr(w, "tensor '%s': NULL fill callback", name ? name : "");
    if (add_tensor(w, name, type, n_dims, ne, &t) != 0)
        return -1;
    t->fill = fill;
    t->fill_ctx = ctx;
    return 0;
}

int64_t g4_gguf_writer_n_kv(const g4_gguf_writer *w) { return w ? w->n_kv : 0; }
int64_t g4_gguf_writer_n_tensors(const g4_gguf_writer *w) { return w ? w->n_t : 0; }

/* Header size (before padding) and data section size; assigns tensor offsets when assign is set. */
static void layout(const g4_gguf_writer *w, bool assign, uint64_t *header, uint64_t *data)
{
    uint64_t h = 4 + 4 + 8 + 8;
    for (int64_t i = 0; i < w->n_kv; i++)
        h += 8 + w->kvs[i].key_len + 4 + w->kvs[i].val_len;
    uint64_t d = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->ts[i];
        h += 8 + t->name_len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        if (assign)
            t->offset = d;
        d += align_up(t->nbytes, w->alignment);
    }
    *header = h;
    *data = d;
}

uint64_t g4_gguf_writer_file_size(const g4_gguf_writer *w)
{
    if (!w)
        return 0;
    uint64_t h, d;
    layout(w, false, &h, &d);
    return align_up(h, w->alignment) + d;
}

/* Output: either a stdio stream or a memory buffer. */
typedef struct sink {
    FILE *f;
    uint8_t *mem;
    uint64_t pos;
} sink;

static bool put(sink *s, const void *p, size_t n)
{
    if (!n)
        return true;
    if (s->mem) {
        memcpy(s->mem + s->pos, p, n);
        s->pos += n;
        return true;
    }
    if (fwrite(p, 1, n, s->f) != n)
        return false;
    s->pos += n;
    return true;
}

static bool put_zeros(sink *s, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (!put(s, zeros, k))
            return false;
        n -= k;
    }
    return true;
}

static int emit(g4_gguf_writer *w, sink *s)
{
    uint64_t header, data;
    layout(w, true, &header, &data);
    uint32_t version = 3;
    uint64_t n_t = (uint64_t)w->n_t, n_kv = (uint64_t)w->n_kv;
    bool ok = put(s, "GGUF", 4) && put(s, &version, 4) && put(s, &n_t, 8) && put(s, &n_kv, 8);
    for (int64_t i = 0; i < w->n_kv && ok; i++) {
        const wkv *k = &w->kvs[i];
        uint64_t kl = k->key_len;
        ok = put(s, &kl, 8) && put(s, k->key, k->key_len) && put(s, &k->type, 4) && put(s, k->val, k->val_len);
    }
    for (int64_t i = 0; i < w->n_t && ok; i++) {
        const wtensor *t = &w->ts[i];
        uint64_t nl = t->name_len;
        ok = put(s, &nl, 8) && put(s, t->name, t->name_len) && put(s, &t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims && ok; d++)
            ok = put(s, &t->ne[d], 8);
        ok = ok && put(s, &t->type, 4) && put(s, &t->offset, 8);
    }
    ok = ok && put_zeros(s, align_up(header, w->alignment) - header);
    if (!ok)
        return werr(w, "write failed: %s", strerror(errno));
    uint8_t *chunk = NULL;
    uint64_t chunk_cap = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        if (t->fill) {
            /* Whole rows per call, so a quantizing callback never splits a row. */
            uint64_t rows_per = W_FILL_CHUNK / t->row_bytes;
            uint64_t step = (rows_per ? rows_per : 1) * t->row_bytes;
            for (uint64_t off = 0; off < t->nbytes; off += step) {
                size_t n = (size_t)(t->nbytes - off < step ? t->nbytes - off : step);
                void *dst;
                if (s->mem) {
                    dst = s->mem + s->pos;
                } else {
                    if (step > chunk_cap) { /* steps differ per tensor: grow, never overrun */
                        uint8_t *c2 = realloc(chunk, (size_t)step);
                        if (!c2) {
                            free(chunk);
                            return werr(w, "out of memory for a %llu-byte fill buffer", (unsigned long long)step);
                        }
                        chunk = c2;
                        chunk_cap = step;
                    }
                    dst = chunk;
                }
                if (t->fill(t->fill_ctx, dst, off, n) != 0) {
                    free(chunk);
                    return werr(w, "fill callback for tensor '%s' failed at byte %llu", t->name,
                                (unsigned long long)off);
                }
                if (s->mem)
                    s->pos += n;
                else if (!put(s, chunk, n)) {
                    free(chunk);
                    return werr(w, "write failed: %s", strerror(errno));
                }
            }
        } else if (!put(s, t->data, (size_t)t->nbytes)) {
            free(chunk);
            return werr(w, "write failed: %s", strerror(errno));
        }
        if (!put_zeros(s, align_up(t->nbytes, w->alignment) - t->nbytes)) {
            free(chunk);
            return werr(w, "write failed: %s", strerror(errno));
        }
    }
    free(chunk);
    return 0;
}

int g4_gguf_writer_write_mem(g4_gguf_writer *w, void **out, size_t *size)
{
    if (!w)
        return -1;
    if (!out || !size)
        return werr(w, "NULL output");
    uint64_t total = g4_gguf_writer_file_size(w);
    if (total > SIZE_MAX)
        return werr(w, "file too large for memory");
    sink s = {NULL, malloc((size_t)total), 0};
    if (!s.mem)
        return werr(w, "out of memory for a %llu-byte file", (unsigned long long)total);
    if (emit(w, &s) != 0) {
        free(s.mem);
        return -1;
    }
    *out = s.mem;
    *size = (size_t)total;
    return 0;
}

int g4_gguf_writer_write_file(g4_gguf_writer *w, const char *path)
{
    if (!w)
        return -1;
    if (!path || !*path)
        return werr(w, "no path");
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp)
        return werr(w, "out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int er = errno;
        free(tmp);
        return werr(w, "cannot create a temporary file next to '%s': %s", path, strerror(er));
    }
    (void)fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int er = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return werr(w, "cannot open '%s': %s", path, strerror(er));
    }
    setvbuf(f, NULL, _IOFBF, W_IO_BUF);
    sink s = {f, NULL, 0};
    int rc = emit(w, &s);
    if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = werr(w, "cannot write '%s': %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = werr(w, "cannot write '%s': %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = werr(w, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (rc == 0) {
        /* Make the rename itself durable. */
        char *slash = strrchr(tmp, '/');
        if (slash)
            slash[slash == tmp ? 1 : 0] = 0;
        int dfd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}
