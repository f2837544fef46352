/* Shared internals of the plugin: error reporting and logging helpers used by every entry point. */
#ifndef G4_INTERNAL_H
#define G4_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "g4plug.h"

#if defined(__GNUC__)
#if defined(__MINGW32__) /* plain "printf" means the MSVCRT dialect (no %zu) to mingw gcc */
#define G4_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#else
#define G4_PRINTF(a, b) __attribute__((format(printf, a, b)))
#endif
#else
#define G4_PRINTF(a, b)
#endif

/* Span kinds whose positions attend to each other bidirectionally on models with bidirectional
 * vision: an image, and one video frame (each frame is its own block). */
static inline int g4_span_is_vision(int32_t kind) { return kind == G4_SPAN_IMAGE || kind == G4_SPAN_VIDEO; }

/* The library's error convention: a function that can fail returns g4_status and sets the
 * message with g4_fail (thread-local; the ABI returns both to the host unchanged). A caller that
 * adds context calls g4_fail again with the callee's g4_last_error() in its message; one that
 * does not returns the status as it got it. Two layers keep their own, each for a reason:
 *   - kernels/ return 0 / -1 and never set a message (they sit below plugin/ and cannot call up);
 *     their caller in plugin/ turns -1 into a g4_fail with what it was doing;
 *   - the readers of untrusted bytes that also compile outside the library (gguf_read.c into
 *     g4-conformance) or are driven by fuzzers and unit tests that want the text in their own
 *     buffer (tokenizer, image/audio decoding, projector load and encoders) take (err, errlen)
 *     and fill it with g4_errbuf, returning a G4_ERR_* status; the ABI layer turns that into g4_fail.
 * Sets the calling thread's last-error message and returns `status` (so callers can
 * `return g4_fail(G4_ERR_FORMAT, "bad %s", x);`). */
g4_status g4_fail(g4_status status, const char *fmt, ...) G4_PRINTF(2, 3);
/* The buffer convention of the internal decoders and embedders: formats a message into
 * (err, errlen) — either may be 0 — and returns `status`. The ABI layer turns it into g4_fail. */
int g4_errbuf(char *err, size_t errlen, int status, const char *fmt, ...) G4_PRINTF(4, 5);

/* Clears the last error (every successful ABI call starts with it). */
void g4_clear_error(void);

/* Logging sink carried by a model (copied from g4_load_params). Safe to call with a NULL sink.
 * G4_LOG=stderr in the environment logs to stderr when the host installed no callback. */
typedef struct g4_logger {
    g4_log_fn fn;
    void *user_data;
    int32_t level;
} g4_logger;
void g4_log(const g4_logger *lg, int32_t level, const char *fmt, ...) G4_PRINTF(3, 4);

/* The 1.0 layout of an ABI struct ends with its last 1.0 member: frozen forever, whatever is
 * appended later (tail padding of a newer layout is not part of it). */
#define G4_V1_0_SIZE(type, last_member) \
    (offsetof(type, last_member) + sizeof(((type *)0)->last_member))

/* The *_init_sized helpers: zero the caller's `caller_size` bytes, copy the library's defaults
 * into the part both sides know, set struct_size = caller_size. Never writes past caller_size
 * (abi/ABI.md "Struct versioning"). G4_ERR_INVALID_ARGUMENT when caller_size is below the 1.0
 * layout or absurd (over 64 KiB); nothing is written then. */
g4_status g4_struct_init(void *p, size_t caller_size, size_t v1_size, const void *defaults,
                         size_t known_size, const char *what);

/* Defines the pair of ABI initialisers of parameter struct TYPE: TYPE_init_sized(p, size) (1.1)
 * and the 1.0 entry point TYPE_init(p), which fills exactly the 1.0 layout (its name is
 * parenthesised: the header makes it a macro over the sized one). DEFAULTS(TYPE *) fills the
 * library's defaults for the whole struct it knows. */
#define G4_DEFINE_STRUCT_INIT(TYPE, V1_SIZE, DEFAULTS)                                   \
    G4_API g4_status G4_CALL TYPE##_init_sized(TYPE *p, size_t size)                        \
    {                                                                                       \
        TYPE d;                                                                             \
        g4_clear_error();                                                                   \
        DEFAULTS(&d);                                                                       \
        return g4_struct_init(p, size, V1_SIZE, &d, sizeof d, #TYPE);                       \
    }                                                                                       \
    G4_API void G4_CALL(TYPE##_init)(TYPE * p) { TYPE##_init_sized(p, V1_SIZE); }

/* Read a host's parameter struct into `dst`, which holds the library's defaults (known_size
 * bytes): checks struct_size as g4_check_struct does, then copies only the bytes both sides know,
 * so members an older host's struct lacks keep their defaults. dst->struct_size = known_size. */
g4_status g4_struct_in(void *dst, size_t known_size, const void *src, size_t v1_size,
                       const char *what);

/* Output structs (g4_model_info, g4_generate_stats): the host's struct_size must cover the 1.0
 * layout (and be sane); a larger one is fine whatever its tail holds. */
g4_status g4_check_out_struct(const void *p, size_t v1_size, const char *what);
/* Writes the filled `src` (known_size bytes) into the host's struct: only min(host's
 * struct_size, known_size) bytes, and struct_size becomes that number. */
void g4_struct_out(void *host, const void *src, size_t known_size);

/* struct_size check for ABI parameter structs: accepts sizes >= min_size (the 1.0 layout); bytes
 * beyond what this library knows must be zero. Returns G4_OK or sets the error. */
g4_status g4_check_struct(const void *p, uint32_t struct_size, size_t min_size, size_t known_size,
                          const char *what);

#endif
