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
/* Span kinds whose positions attend to each other bidirectionally on models with bidirectional
 * vision: an image, and one video frame (each frame is its own block). */
static inline int g4_span_is_vision(int32_t kind) { return kind == G4_SPAN_IMAGE || kind == G4_SPAN_VIDEO; }

#endif
#else
#define G4_PRINTF(a, b)
#endif

/* Sets the calling thread's last-error message and returns `status` (so callers can
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

/* struct_size check for ABI parameter structs: accepts sizes >= min_size (the 1.0 layout); bytes
 * beyond what this library knows must be zero. Returns G4_OK or sets the error. */
g4_status g4_check_struct(const void *p, uint32_t struct_size, size_t min_size, size_t known_size,
                          const char *what);

#endif
