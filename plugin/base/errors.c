/* Thread-local last-error string and status names. The only per-thread state in the library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

#if defined(_MSC_VER)
#define G4_THREAD_LOCAL __declspec(thread)
#else
#define G4_THREAD_LOCAL _Thread_local
#endif

static G4_THREAD_LOCAL char t_last_error[1024];

g4_status g4_fail(g4_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_last_error, sizeof t_last_error, fmt, ap);
    va_end(ap);
    return status;
}

void g4_clear_error(void) { t_last_error[0] = '\0'; }

int g4_errbuf(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

G4_API const char *G4_CALL g4_last_error(void) { return t_last_error; }

G4_API const char *G4_CALL g4_status_name(g4_status s)
{
    switch (s) {
    case G4_OK: return "G4_OK";
    case G4_ERR_INVALID_ARGUMENT: return "G4_ERR_INVALID_ARGUMENT";
    case G4_ERR_UNSUPPORTED: return "G4_ERR_UNSUPPORTED";
    case G4_ERR_IO: return "G4_ERR_IO";
    case G4_ERR_FORMAT: return "G4_ERR_FORMAT";
    case G4_ERR_OUT_OF_MEMORY: return "G4_ERR_OUT_OF_MEMORY";
    case G4_ERR_CANCELLED: return "G4_ERR_CANCELLED";
    case G4_ERR_CONTEXT_FULL: return "G4_ERR_CONTEXT_FULL";
    case G4_ERR_BUFFER_TOO_SMALL: return "G4_ERR_BUFFER_TOO_SMALL";
    case G4_ERR_NOT_FOUND: return "G4_ERR_NOT_FOUND";
    case G4_ERR_MISMATCH: return "G4_ERR_MISMATCH";
    case G4_ERR_STATE: return "G4_ERR_STATE";
    case G4_ERR_INTERNAL: return "G4_ERR_INTERNAL";
    default: return "G4_ERR_UNKNOWN";
    }
}

void g4_log(const g4_logger *lg, int32_t level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int to_stderr = 0;
    if (!lg || !lg->fn) {
        const char *e = getenv("G4_LOG");
        to_stderr = e && strcmp(e, "stderr") == 0;
        if (!to_stderr)
            return;
    } else if (level > lg->level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (to_stderr)
        fprintf(stderr, "g4plug: %s\n", msg);
    else
        lg->fn(lg->user_data, level, msg);
}
