/* Windows (mingw-w64) stand-ins for the few POSIX calls g4-server makes: sockets come from
 * Winsock, and the signal handling main() does (block SIGINT/SIGTERM/SIGUSR1 everywhere, take them
 * with sigwait, the loader thread raises SIGUSR1 to report a failed load) maps onto one semaphore
 * fed by the console control handler (Ctrl-C, Ctrl-Break, close, logoff, shutdown) and by
 * kill(getpid(), sig). Included by server.h on _WIN32 only; implemented in srv_os_win32.c. */
#ifndef G4_SRV_OS_WIN32_H
#define G4_SRV_OS_WIN32_H
#ifdef _WIN32

#include <winsock2.h>
#include <ws2tcpip.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include <sys/types.h>

#ifndef SIGUSR1
#define SIGUSR1 30
#endif
#ifndef SIGPIPE /* Windows has none: a send() on a closed socket fails with an error instead */
#define SIGPIPE 13
#endif

/* mingw-w64's <sys/types.h> has _sigset_t (an integer) and names it sigset_t only under _POSIX:
 * one bit per signal number. */
typedef _sigset_t sigset_t;
int srv_w32_sigemptyset(sigset_t *set);
int srv_w32_sigaddset(sigset_t *set, int sig);
int srv_w32_sigdelset(sigset_t *set, int sig);
int srv_w32_sigmask(int how, const sigset_t *set, sigset_t *old); /* installs the console handler */
int srv_w32_sigwait(const sigset_t *set, int *sig);
int srv_w32_raise(int sig);
char *srv_w32_strndup(const char *s, size_t n);
void (*srv_w32_signal(int sig, void (*handler)(int)))(int); /* SIGPIPE: nothing to do */

/* winpthreads defines pthread_sigmask as a constant 0 and sigwait over a function it lacks. */
#undef pthread_sigmask
#undef sigwait
#define sigemptyset(s) srv_w32_sigemptyset(s)
#define sigaddset(s, n) srv_w32_sigaddset(s, n)
#define sigdelset(s, n) srv_w32_sigdelset(s, n)
#define pthread_sigmask(h, s, o) srv_w32_sigmask(h, s, o)
#define sigwait(s, n) srv_w32_sigwait(s, n)
#define kill(pid, sig) ((void)(pid), srv_w32_raise(sig))
#define strndup(s, n) srv_w32_strndup(s, n)
#define signal(s, h) srv_w32_signal(s, h)

#endif
#endif
