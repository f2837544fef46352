/* Win32 implementations of the POSIX shims declared in os.h. Empty elsewhere. */
#if defined(_WIN32)
#include <windows.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>

#include "os.h"

/* UTF-8 -> UTF-16 on the heap: the ABI's paths are UTF-8, the ANSI code page is not. */
static wchar_t *widen(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0)
        return NULL;
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        w = NULL;
    }
    return w;
}

int g4_os_open(const char *path, int flags, ...)
{
    int mode = 0;
    if (flags & _O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    wchar_t *w = widen(path);
    if (!w) {
        errno = ENOENT;
        return -1;
    }
    /* Binary mode always: text mode would translate CR/LF inside model files. */
    int fd = _wopen(w, flags | _O_BINARY, mode);
    free(w);
    return fd;
}

long long g4_os_read(int fd, void *buf, size_t n)
{
    /* _read takes an unsigned int count; callers loop on short reads. */
    unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    return _read(fd, buf, chunk);
}

void *g4_os_mmap(void *addr, size_t len, int prot, int flags, int fd, long long off)
{
    (void)addr;
    (void)flags;
    if (prot != PROT_READ || off != 0 || len == 0) {
        errno = EINVAL;
        return MAP_FAILED;
    }
    HANDLE fh = (HANDLE)_get_osfhandle(fd);
    if (fh == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return MAP_FAILED;
    }
    HANDLE mh = CreateFileMappingW(fh, NULL, PAGE_READONLY, 0, 0, NULL);
    if (!mh) {
        errno = EACCES;
        return MAP_FAILED;
    }
    void *p = MapViewOfFile(mh, FILE_MAP_READ, 0, 0, len);
    /* The view keeps the section alive; the handle is not needed any more. */
    CloseHandle(mh);
    if (!p) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return p;
}

int g4_os_munmap(void *addr, size_t len)
{
    (void)len;
    return UnmapViewOfFile(addr) ? 0 : -1;
}

int g4_os_mlock(const void *addr, size_t len) { return VirtualLock((void *)addr, len) ? 0 : -1; }
int g4_os_munlock(const void *addr, size_t len) { return VirtualUnlock((void *)addr, len) ? 0 : -1; }

int g4_os_posix_memalign(void **out, size_t align, size_t size)
{
    *out = _aligned_malloc(size ? size : 1, align);
    return *out ? 0 : ENOMEM;
}

long g4_os_sysconf(int name)
{
    switch (name) {
    case _SC_NPROCESSORS_ONLN: {
        /* All processor groups: GetSystemInfo stops at the 64 CPUs of the caller's group. */
        DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
        return n ? (long)n : 1;
    }
    case _SC_PAGESIZE: {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        return (long)si.dwPageSize;
    }
    case _SC_PHYS_PAGES: {
        MEMORYSTATUSEX ms;
        ms.dwLength = sizeof ms;
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        if (!GlobalMemoryStatusEx(&ms) || !si.dwPageSize)
            return -1;
        uint64_t pages = ms.ullTotalPhys / si.dwPageSize;
        return pages > LONG_MAX ? LONG_MAX : (long)pages;
    }
    default:
        errno = EINVAL;
        return -1;
    }
}

int g4_os_rename(const char *from, const char *to)
{
    wchar_t *wf = widen(from), *wt = widen(to);
    int rc = -1;
    /* POSIX rename replaces the target atomically; MoveFileEx needs to be told to. */
    if (wf && wt && MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        rc = 0;
    else
        errno = EACCES;
    free(wf);
    free(wt);
    return rc;
}
#else
/* ISO C wants at least one declaration per translation unit. */
typedef int g4_os_win32_unused;
#endif
