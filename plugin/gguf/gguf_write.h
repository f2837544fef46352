/* GGUF writer: an in-memory builder for GGUF v3 files (little-endian).
 *
 * Metadata values are copied into the builder. Tensor data is never copied unless asked: a tensor
 * either borrows a caller pointer (which must stay valid until the write), is copied
 * (g4_gguf_writer_add_tensor_copy), or is produced during the write by a fill callback, so files of
 * many GB can be written without holding their data in memory.
 *
 * Keys and tensors are written in insertion order; setting an existing key replaces its value in
 * place. Tensors are laid out in order, each at an offset aligned to the file's alignment (32 unless
 * changed; changing it also sets general.alignment). Functions returning int give 0 on success and
 * -1 on error, with the reason in g4_gguf_writer_error(). */
#ifndef G4_GGUF_WRITE_H
#define G4_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct g4_gguf_writer g4_gguf_writer;

g4_gguf_writer *g4_gguf_writer_new(void);
void g4_gguf_writer_free(g4_gguf_writer *w);
/* Last error message ("" if none). */
const char *g4_gguf_writer_error(const g4_gguf_writer *w);

/* Power of two, 1 .. 2^30. Also stores general.alignment (u32) in the metadata. */
int g4_gguf_writer_set_alignment(g4_gguf_writer *w, uint32_t alignment);

/* Scalars. */
int g4_gguf_set_u8(g4_gguf_writer *w, const char *key, uint8_t v);
int g4_gguf_set_i8(g4_gguf_writer *w, const char *key, int8_t v);
int g4_gguf_set_u16(g4_gguf_writer *w, const char *key, uint16_t v);
int g4_gguf_set_i16(g4_gguf_writer *w, const char *key, int16_t v);
int g4_gguf_set_u32(g4_gguf_writer *w, const char *key, uint32_t v);
int g4_gguf_set_i32(g4_gguf_writer *w, const char *key, int32_t v);
int g4_gguf_set_u64(g4_gguf_writer *w, const char *key, uint64_t v);
int g4_gguf_set_i64(g4_gguf_writer *w, const char *key, int64_t v);
int g4_gguf_set_f32(g4_gguf_writer *w, const char *key, float v);
int g4_gguf_set_f64(g4_gguf_writer *w, const char *key, double v);
int g4_gguf_set_bool(g4_gguf_writer *w, const char *key, int v);
int g4_gguf_set_str(g4_gguf_writer *w, const char *key, const char *v);
int g4_gguf_set_strn(g4_gguf_writer *w, const char *key, const char *v, uint64_t len);

/* Numeric array: elem_type is a fixed-size g4_gguf_vtype (not STRING/ARRAY); n elements are
 * copied from data (host = file byte order). */
int g4_gguf_set_arr(g4_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
/* String arrays: NUL-terminated strings, or explicit lengths (lens == NULL: use strlen). */
int g4_gguf_set_arr_str(g4_gguf_writer *w, const char *key, const char *const *strs, const uint64_t *lens,
                        uint64_t n);

/* Raw value bytes, written verbatim after the key and type: for values the typed setters cannot
 * express (arrays of arrays) and for tests that need exact encodings. Not validated. */
int g4_gguf_set_raw(g4_gguf_writer *w, const char *key, uint32_t type, const void *value, size_t nbytes);

/* Copies one metadata entry (any type, nested arrays included) from an opened file. */
int g4_gguf_set_kv_from(g4_gguf_writer *w, const g4_gguf_kv *kv);

int g4_gguf_writer_remove_kv(g4_gguf_writer *w, const char *key);

/* Tensors. ne[0] is innermost; n_dims 1..4, every ne >= 1, ne[0] a multiple of the type's block.
 * nbytes of the data is implied by type and dims. */
int g4_gguf_writer_add_tensor(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data /* borrowed until the write */);
int g4_gguf_writer_add_tensor_copy(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, const void *data);

/* fill writes bytes [offset, offset+nbytes) of the tensor's data into dst; it is called during the
 * write, in order, with chunks of whole rows (at most ~16 MB unless one row is larger).
 * Returns 0 on success; nonzero aborts the write. */
typedef int (*g4_gguf_fill_fn)(void *ctx, void *dst, uint64_t offset, size_t nbytes);
int g4_gguf_writer_add_tensor_fill(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, g4_gguf_fill_fn fill, void *ctx);

int64_t g4_gguf_writer_n_kv(const g4_gguf_writer *w);
int64_t g4_gguf_writer_n_tensors(const g4_gguf_writer *w);
/* Size in bytes of the file the writer would produce now. */
uint64_t g4_gguf_writer_file_size(const g4_gguf_writer *w);

/* Writes atomically: a temporary file in the same directory, fsync, then rename over path. */
int g4_gguf_writer_write_file(g4_gguf_writer *w, const char *path);
/* Writes into a new malloc'd buffer (caller frees). */
int g4_gguf_writer_write_mem(g4_gguf_writer *w, void **out, size_t *size);

#endif
