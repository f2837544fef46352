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

/* Fixture directory: $G4_FIXTURES, else ../shared/fixtures relative to the repo root. */
static inline const char *t_fixtures(void)
{
    const char *e = getenv("G4_FIXTURES");
    return e && *e ? e : "../shared/fixtures";
}
#endif
