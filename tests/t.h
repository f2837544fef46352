/* Minimal test harness: CHECK records a pass or a failure with file:line and a message;
 * T_DONE() prints "<test>: N passed, N failed" and returns the exit status.
 * tests/run_tests.sh adds the counts of every test binary into the suite's closing line. */
#ifndef G4_T_H
#define G4_T_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass_, t_fail_;
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            t_pass_++;                                                          \
        } else {                                                                \
            t_fail_++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)
#define T_DONE(name)                                                            \
    (printf("%s: %d passed, %d failed\n", (name), t_pass_, t_fail_), t_fail_ ? 1 : 0)

/* The whole file, NUL-terminated (the NUL is not counted in *len); NULL if it cannot be read.
 * The caller frees. */
static inline char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    *len = b ? (size_t)n : 0;
    return b;
}

/* Fixture directory: $G4_FIXTURES, else ../shared/fixtures relative to the repo root. */
static inline const char *t_fixtures(void)
{
    const char *e = getenv("G4_FIXTURES");
    return e && *e ? e : "../shared/fixtures";
}
#endif
