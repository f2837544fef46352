/* Windows stand-ins for g4-server's POSIX signal calls (see srv_os_win32.h). The console control
 * handler has no user pointer, so the semaphore it posts to and the pending signal are the one
 * piece of process-wide state, created once (InitOnce) and never freed. */
#ifdef _WIN32
#include "srv_os_win32.h"

#include <stdlib.h>
#include <string.h>
#include <windows.h>

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static HANDLE sem;            /* one count per raised signal */
static volatile LONG pending; /* bit mask of raised, not yet taken signals */

static BOOL WINAPI on_console(DWORD ev)
{
    srv_w32_raise(ev == CTRL_C_EVENT ? SIGINT : SIGTERM);
    /* CTRL_CLOSE_EVENT and later end the process when this returns: give main time to stop. */
    if (ev != CTRL_C_EVENT && ev != CTRL_BREAK_EVENT)
        Sleep(5000);
    return TRUE;
}

static BOOL CALLBACK init(PINIT_ONCE o, PVOID p, PVOID *ctx)
{
    (void)o, (void)p, (void)ctx;
    sem = CreateSemaphoreW(NULL, 0, 1 << 20, NULL);
    /* Winsock for getaddrinfo (libmicrohttpd starts it too; the count is per call). */
    WSADATA w;
    WSAStartup(MAKEWORD(2, 2), &w);
    return sem != NULL;
}

static int ready(void) { return InitOnceExecuteOnce(&once, init, NULL, NULL) && sem; }

int srv_w32_sigemptyset(sigset_t *set)
{
    *set = 0;
    return 0;
}
int srv_w32_sigaddset(sigset_t *set, int sig)
{
    *set |= (sigset_t)1 << sig;
    return 0;
}
int srv_w32_sigdelset(sigset_t *set, int sig)
{
    *set &= ~((sigset_t)1 << sig);
    return 0;
}

int srv_w32_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    (void)how, (void)set;
    if (old)
        *old = 0;
    if (!ready())
        return -1;
    return SetConsoleCtrlHandler(on_console, TRUE) ? 0 : -1;
}

int srv_w32_raise(int sig)
{
    if (!ready() || sig <= 0 || sig >= 32)
        return -1;
    InterlockedOr(&pending, (LONG)(1u << sig));
    ReleaseSemaphore(sem, 1, NULL);
    return 0;
}

int srv_w32_sigwait(const sigset_t *set, int *sig)
{
    if (!ready())
        return -1;
    for (;;) {
        WaitForSingleObject(sem, INFINITE);
        LONG p = pending;
        for (int s = 1; s < 32; s++) {
            LONG bit = (LONG)(1u << s);
            if ((p & bit) && (*set & ((sigset_t)1 << s)) && (InterlockedAnd(&pending, ~bit) & bit)) {
                *sig = s;
                return 0;
            }
        }
    }
}

#undef signal
void (*srv_w32_signal(int sig, void (*handler)(int)))(int)
{
    if (sig == SIGPIPE)
        return SIG_DFL;
    return signal(sig, handler);
}

char *srv_w32_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}
#else
typedef int srv_os_win32_unused; /* ISO C: a translation unit must declare something */
#endif
