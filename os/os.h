/* os.h — the few POSIX calls the library makes, for Windows.
 *
 * The library is written against POSIX 2008. On Windows (mingw-w64) the files that need more
 * than the CRT and winpthreads include this header inside `#ifdef _WIN32`, and get shims with
 * the POSIX names and semantics they use, so their code stays one code path:
 *   open/read/fstat  binary mode, UTF-8 paths, 64-bit sizes, reads clamped to 1 GiB
 *   mmap/munmap      read-only private file views (CreateFileMapping + MapViewOfFile)
 *   mlock/munlock    VirtualLock/VirtualUnlock (best effort, as on POSIX)
 *   posix_memalign   _aligned_malloc: such memory must be freed with g4_os_aligned_free
 *   aligned_alloc    likewise
 *   sysconf          _SC_NPROCESSORS_ONLN, _SC_PHYS_PAGES, _SC_PAGESIZE
 *   rename           replaces an existing target, as POSIX rename does
 *   fsync/fchmod     _commit / no-op
 * On other systems this header only declares g4_os_aligned_free (= free). Code is in
 * os_win32.c. Threads, once-init, clock_gettime and _Thread_local come from winpthreads and gcc. */
#ifndef G4_OS_H
#define G4_OS_H

#include <stddef.h>
#include <stdlib.h>

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h> /* before the macros below: it declares read() */

/* Sizes: the Windows build sets _FILE_OFFSET_BITS=64, so fstat/struct stat are 64-bit. */
#if !defined(_FILE_OFFSET_BITS) || _FILE_OFFSET_BITS != 64
#error "build with -D_FILE_OFFSET_BITS=64 on Windows (64-bit st_size)"
#endif

int g4_os_open(const char *path_utf8, int flags, ...);
long long g4_os_read(int fd, void *buf, size_t n);
void *g4_os_mmap(void *addr, size_t len, int prot, int flags, int fd, long long off);
int g4_os_munmap(void *addr, size_t len);
int g4_os_mlock(const void *addr, size_t len);
int g4_os_munlock(const void *addr, size_t len);
int g4_os_posix_memalign(void **out, size_t align, size_t size);
long g4_os_sysconf(int name);
int g4_os_rename(const char *from_utf8, const char *to_utf8);

#define open(...) g4_os_open(__VA_ARGS__)
#define read(fd, buf, n) g4_os_read((fd), (buf), (n))
#define mmap g4_os_mmap
#define munmap g4_os_munmap
#define mlock g4_os_mlock
#define munlock g4_os_munlock
#define posix_memalign g4_os_posix_memalign
#define aligned_alloc(align, size) _aligned_malloc((size), (align))
#define sysconf g4_os_sysconf
#define rename g4_os_rename
#define fsync(fd) _commit(fd)
#define fchmod(fd, mode) ((void)(fd), (void)(mode), 0)

#define PROT_READ 1
#define MAP_PRIVATE 2
#define MAP_FAILED ((void *)-1)
#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT /* the Windows spelling of "not inherited by children" */
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0 /* opening a directory fails on Windows: callers treat that as "skip" */
#endif
#define _SC_NPROCESSORS_ONLN 84
#define _SC_PHYS_PAGES 85
#define _SC_PAGESIZE 30

static inline void g4_os_aligned_free(void *p) { _aligned_free(p); }
#else
static inline void g4_os_aligned_free(void *p) { free(p); }
#endif

#endif
