/* GGUF reader: validates the whole header, maps the data section, copies nothing.
 *
 * A g4_gguf holds one logical model; split files (NAME-00001-of-0000N.gguf) are opened as one,
 * with every tensor pointing into the mmap of its own shard. All strings and arrays returned
 * point into the mapping (or into the reader's own parsed index) and live as long as the g4_gguf. */
#ifndef G4_GGUF_H
#define G4_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "ggml_types.h"

typedef enum g4_gguf_vtype {
    G4_GGUF_UINT8 = 0,
    G4_GGUF_INT8 = 1,
    G4_GGUF_UINT16 = 2,
    G4_GGUF_INT16 = 3,
    G4_GGUF_UINT32 = 4,
    G4_GGUF_INT32 = 5,
    G4_GGUF_FLOAT32 = 6,
    G4_GGUF_BOOL = 7,
    G4_GGUF_STRING = 8,
    G4_GGUF_ARRAY = 9,
    G4_GGUF_UINT64 = 10,
    G4_GGUF_INT64 = 11,
    G4_GGUF_FLOAT64 = 12
} g4_gguf_vtype;

typedef struct g4_gguf_str {
    const char *ptr; /* NOT NUL-terminated: points into the file */
    uint64_t len;
} g4_gguf_str;

typedef struct g4_gguf_kv {
    g4_gguf_str key;
    uint32_t type;      /* g4_gguf_vtype */
    uint32_t arr_type;  /* element type when type == ARRAY */
    uint64_t arr_len;   /* element count when type == ARRAY */
    const void *data;   /* scalar value, or first array element (strings: see g4_gguf_arr_str) */
    /* data points into the file and may be unaligned: use the getters or memcpy. For a scalar
     * STRING it points at the u64 length prefix (g4_gguf_get_str decodes it). */
} g4_gguf_kv;

#define G4_GGUF_MAX_DIMS 4

typedef struct g4_gguf_tensor {
    g4_gguf_str name;
    uint32_t n_dims;
    int64_t ne[G4_GGUF_MAX_DIMS]; /* ne[0] innermost (contiguous); unused dims are 1 */
    uint32_t type;                /* g4_type */
    uint64_t offset;              /* relative to its shard's data section */
    uint64_t nbytes;
    const void *data;             /* points into the mapping */
    uint32_t shard;
} g4_gguf_tensor;

typedef struct g4_gguf g4_gguf;

/* Open and validate. On failure returns NULL and, if err != NULL, writes a NUL-terminated
 * message (at most errlen bytes) naming what is wrong (and the tensor or key, where there is one).
 * flags: G4_GGUF_NO_MMAP reads the file into memory instead of mapping it. */
#define G4_GGUF_NO_MMAP 1u
#define G4_GGUF_MLOCK 2u
g4_gguf *g4_gguf_open(const char *path, unsigned flags, char *err, size_t errlen);

/* Parse from a caller-owned buffer (no copy; the buffer must outlive the g4_gguf).
 * Used by the fuzzers and by hosts that already hold the bytes. */
g4_gguf *g4_gguf_open_memory(const void *buf, size_t size, char *err, size_t errlen);

void g4_gguf_close(g4_gguf *g);

uint32_t g4_gguf_version(const g4_gguf *g);
uint32_t g4_gguf_alignment(const g4_gguf *g);
uint32_t g4_gguf_n_shards(const g4_gguf *g);
uint64_t g4_gguf_mapped_bytes(const g4_gguf *g); /* total bytes of all mapped files */
/* Tells the OS that the whole pages inside [p, p + n) of a file-mapped shard are not needed now
 * (their contents stay valid: a later read maps them in again from the file). Returns the
 * bytes released: 0 for a copy in memory (G4_LOAD_NO_MMAP), a caller's buffer, or where the OS
 * has no such call. For weights a model keeps in another form (a packed LM head). */
uint64_t g4_gguf_release_pages(const g4_gguf *g, const void *p, size_t n);
/* 1 if g4_gguf_release_pages would give [p, p + n) back (an unlocked file mapping, an OS with
 * the call): a copy of those bytes then costs no memory for long. */
int g4_gguf_releasable(const g4_gguf *g, const void *p, size_t n);

/* Metadata. Lookups are by exact key; NULL / -1 when absent. */
int64_t g4_gguf_n_kv(const g4_gguf *g);
const g4_gguf_kv *g4_gguf_kv_at(const g4_gguf *g, int64_t i);
const g4_gguf_kv *g4_gguf_find_kv(const g4_gguf *g, const char *key);

/* Typed getters: return 0 on success, -1 if missing or of an incompatible type.
 * Integer getters accept any integer type whose value fits; get_f32 accepts F32/F64. */
int g4_gguf_get_u32(const g4_gguf *g, const char *key, uint32_t *out);
int g4_gguf_get_i64(const g4_gguf *g, const char *key, int64_t *out);
int g4_gguf_get_f32(const g4_gguf *g, const char *key, float *out);
int g4_gguf_get_bool(const g4_gguf *g, const char *key, int *out);
int g4_gguf_get_str(const g4_gguf *g, const char *key, g4_gguf_str *out);
/* Array access: element count and type; -1 if not an array. */
int g4_gguf_get_arr(const g4_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n, const void **data);
/* i-th string of a string array (bounds-checked; O(1) after open: the reader indexes string arrays). */
int g4_gguf_arr_str(const g4_gguf_kv *kv, uint64_t i, g4_gguf_str *out);
/* i-th element of a numeric array as int64 / double (any numeric element type). */
int g4_gguf_arr_i64(const g4_gguf_kv *kv, uint64_t i, int64_t *out);
int g4_gguf_arr_f64(const g4_gguf_kv *kv, uint64_t i, double *out);

/* Tensors. */
int64_t g4_gguf_n_tensors(const g4_gguf *g);
const g4_gguf_tensor *g4_gguf_tensor_at(const g4_gguf *g, int64_t i);
const g4_gguf_tensor *g4_gguf_find_tensor(const g4_gguf *g, const char *name);

/* Bytes of one value of a fixed-size metadata type (0 for STRING, ARRAY and unknown types). */
size_t g4_gguf_vtype_size(uint32_t type);

/* Compare a g4_gguf_str with a C string. */
int g4_gguf_str_eq(g4_gguf_str s, const char *c);

#endif
