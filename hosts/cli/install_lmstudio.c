/* g4 install lmstudio: see install_lmstudio.h. The pack is the folder g4 runs from (or --from):
 * every top-level regular file that belongs to the runtime (the *.json pack files, g4-server,
 * the library and the libraries shipped beside it, LICENSE, README.md) and licenses/ are copied;
 * symbolic links (libg4plug.so.1 -> libg4plug.so.1.0.0) are recreated. Each file is written
 * under a temporary name and renamed into place, so a reinstall of the same version replaces the
 * files and a failed copy leaves no half-written file behind. */
#include "install_lmstudio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <direct.h>
#include <windows.h>
#define SEP "\\"
#else
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#define SEP "/"
#endif

#include "g4_dl.h"

#ifndef G4_VERSION_STRING
#define G4_VERSION_STRING "0.0.0"
#endif

/* LM Studio's <engine>-<platform>-<arch>-<variant>, as tools/g4-backend-manifest writes it. */
#if defined(_WIN32)
#define PACK_PLATFORM "win"
#elif defined(__APPLE__)
#define PACK_PLATFORM "mac"
#else
#define PACK_PLATFORM "linux"
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define PACK_ARCH "arm64"
#else
#define PACK_ARCH "x86_64"
#endif
#define PACK_NAME "g4plug-" PACK_PLATFORM "-" PACK_ARCH "-cpu"

typedef struct { char path[4096]; } pathbuf;

static int join(pathbuf *out, const char *a, const char *b)
{
    int n = snprintf(out->path, sizeof out->path, "%s" SEP "%s", a, b);
    if (n < 0 || (size_t)n >= sizeof out->path) {
        fprintf(stderr, "g4 install: path too long: %s" SEP "%s\n", a, b);
        return -1;
    }
    return 0;
}

/* Which top-level names belong to the runtime. */
static int wanted(const char *name)
{
    size_t n = strlen(name);
    if (n > 5 && !strcmp(name + n - 5, ".json"))
        return 1;
    if (!strcmp(name, "g4-server") || !strcmp(name, "g4-server.exe") || !strcmp(name, "LICENSE") ||
        !strcmp(name, "README.md"))
        return 1;
    if (n > 4 && !strcmp(name + n - 4, ".dll"))
        return 1;
    return !strncmp(name, "lib", 3) && (strstr(name, ".so.") || strstr(name, ".dylib"));
}

/* ---- platform file operations (UTF-8 paths) ------------------------------------------------ */
#ifdef _WIN32
static wchar_t *wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (w)
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}
static FILE *open_file(const char *p, const char *mode)
{
    wchar_t *w = wide(p), wm[8];
    size_t i = 0;
    for (; mode[i] && i < 7; i++)
        wm[i] = (wchar_t)mode[i];
    wm[i] = 0;
    FILE *f = w ? _wfopen(w, wm) : NULL;
    free(w);
    return f;
}
static int make_dir(const char *p)
{
    wchar_t *w = wide(p);
    int rc = w && (CreateDirectoryW(w, NULL) || GetLastError() == ERROR_ALREADY_EXISTS) ? 0 : -1;
    if (rc != 0) /* the messages print strerror(errno) */
        errno = !w ? ENOMEM : GetLastError() == ERROR_ACCESS_DENIED ? EACCES : ENOENT;
    free(w);
    return rc;
}
/* A file being replaced can be held open for a moment by someone else (a virus scanner, the
 * search indexer, a process that has just exited): MoveFileEx then fails with a sharing or
 * access error that clears by itself, so those are retried for about a second. (Seen once under
 * wine in test_dist's second install over the first, which printed nothing then.) */
static int replace_file(const char *from, const char *to)
{
    wchar_t *a = wide(from), *b = wide(to);
    int rc = a && b ? 0 : -1;
    for (int tries = 0; rc == 0 && !MoveFileExW(a, b, MOVEFILE_REPLACE_EXISTING); tries++) {
        const DWORD e = GetLastError();
        if (tries == 10 || (e != ERROR_SHARING_VIOLATION && e != ERROR_ACCESS_DENIED && e != ERROR_LOCK_VIOLATION))
            rc = -1;
        else
            Sleep(20 * (DWORD)(tries + 1)); /* 20, 40, ... 200 ms: 1.1 s in all */
    }
    if (rc != 0)
        errno = EACCES;
    free(a);
    free(b);
    return rc;
}
static void remove_file(const char *p)
{
    wchar_t *w = wide(p);
    if (w)
        DeleteFileW(w);
    free(w);
}
/* kind: 1 file, 2 directory, 3 symbolic link (never on Windows archives), 0 other/absent */
static int kind_of(const char *p)
{
    wchar_t *w = wide(p);
    DWORD a = w ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;
    free(w);
    if (a == INVALID_FILE_ATTRIBUTES)
        return 0;
    return (a & FILE_ATTRIBUTE_DIRECTORY) ? 2 : 1;
}
/* Calls fn(name, ctx) for each entry of dir in no particular order; fn returns nonzero to stop. */
static int list_dir(const char *dir, int (*fn)(const char *, void *), void *ctx)
{
    pathbuf pat;
    if (join(&pat, dir, "*") != 0)
        return -1;
    wchar_t *w = wide(pat.path);
    WIN32_FIND_DATAW fd;
    HANDLE h = w ? FindFirstFileW(w, &fd) : INVALID_HANDLE_VALUE;
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return -1;
    int rc = 0;
    do {
        char name[1024];
        if (!WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name, (int)sizeof name, NULL, NULL))
            continue;
        if (strcmp(name, ".") && strcmp(name, "..") && (rc = fn(name, ctx)) != 0)
            break;
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return rc;
}
static int copy_link(const char *from, const char *to)
{
    (void)from, (void)to;
    return -1;
}
static int copy_mode(const char *from, const char *to)
{
    (void)from, (void)to;
    return 0;
}
static const char *home_dir(void) { return getenv("USERPROFILE"); }
#else
static FILE *open_file(const char *p, const char *mode) { return fopen(p, mode); }
static int make_dir(const char *p) { return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1; }
static int replace_file(const char *from, const char *to) { return rename(from, to); }
static void remove_file(const char *p) { unlink(p); }
static int kind_of(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0)
        return 0;
    return S_ISLNK(st.st_mode) ? 3 : S_ISDIR(st.st_mode) ? 2 : S_ISREG(st.st_mode) ? 1 : 0;
}
static int list_dir(const char *dir, int (*fn)(const char *, void *), void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (rc = fn(e->d_name, ctx)) != 0)
            break;
    closedir(d);
    return rc;
}
static int copy_link(const char *from, const char *to)
{
    char target[4096];
    ssize_t n = readlink(from, target, sizeof target - 1);
    if (n <= 0)
        return -1;
    target[n] = '\0';
    unlink(to);
    return symlink(target, to);
}
static int copy_mode(const char *from, const char *to)
{
    struct stat st;
    return stat(from, &st) == 0 ? chmod(to, st.st_mode & 0777) : -1;
}
static const char *home_dir(void) { return getenv("HOME"); }
#endif

/* mkdir -p: every missing folder along path (either separator on Windows). */
static int make_dirs(const char *path)
{
    pathbuf p;
    int n = snprintf(p.path, sizeof p.path, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof p.path)
        return -1;
    for (char *c = p.path + 1; *c; c++) {
        if (*c != '/' && *c != '\\')
            continue;
#ifdef _WIN32
        if (c[-1] == ':') /* C:\ */
            continue;
#else
        if (*c == '\\')
            continue;
#endif
        char keep = *c;
        *c = '\0';
        if (kind_of(p.path) != 2 && make_dir(p.path) != 0)
            return -1;
        *c = keep;
    }
    return make_dir(p.path);
}

/* ---- copying -------------------------------------------------------------------------------- */

static int copy_file(const char *from, const char *to)
{
    pathbuf tmp;
    int n = snprintf(tmp.path, sizeof tmp.path, "%s.g4-install-tmp", to);
    if (n < 0 || (size_t)n >= sizeof tmp.path)
        return -1;
    FILE *in = open_file(from, "rb");
    if (!in) {
        fprintf(stderr, "g4 install: cannot read %s: %s\n", from, strerror(errno));
        return -1;
    }
    FILE *out = open_file(tmp.path, "wb");
    if (!out) {
        fprintf(stderr, "g4 install: cannot write %s: %s\n", tmp.path, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t got;
    int bad = 0;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, got, out) != got) {
            bad = 1;
            break;
        }
    bad |= ferror(in);
    fclose(in);
    bad |= fclose(out) != 0;
    if (bad || copy_mode(from, tmp.path) != 0 || replace_file(tmp.path, to) != 0) {
        fprintf(stderr, "g4 install: cannot copy %s to %s: %s\n", from, to, strerror(errno));
        remove_file(tmp.path);
        return -1;
    }
    return 0;
}

typedef struct {
    const char *from, *to;
    int top;     /* 1: the pack folder (filtered by wanted()), 0: licenses/ (everything) */
    int files;   /* copied so far */
    int failed;
} copy_ctx;

static int copy_tree(const char *from, const char *to, int top, int *files);

static int copy_entry(const char *name, void *p)
{
    copy_ctx *c = p;
    pathbuf s, d;
    if (join(&s, c->from, name) != 0 || join(&d, c->to, name) != 0) {
        c->failed = 1;
        return 1;
    }
    int k = kind_of(s.path);
    if (c->top && k == 2 && !strcmp(name, "licenses")) {
        if (copy_tree(s.path, d.path, 0, &c->files) != 0)
            c->failed = 1;
        return c->failed;
    }
    if (c->top && !wanted(name))
        return 0;
    if (k == 3) {
        if (copy_link(s.path, d.path) != 0) {
            fprintf(stderr, "g4 install: cannot recreate link %s: %s\n", d.path, strerror(errno));
            c->failed = 1;
        }
    } else if (k == 1) {
        if (copy_file(s.path, d.path) != 0)
            c->failed = 1;
    } else {
        return 0;
    }
    c->files += !c->failed;
    return c->failed;
}

static int copy_tree(const char *from, const char *to, int top, int *files)
{
    if (make_dir(to) != 0) {
        fprintf(stderr, "g4 install: cannot create %s: %s\n", to, strerror(errno));
        return -1;
    }
    copy_ctx c = {from, to, top, 0, 0};
    if (list_dir(from, copy_entry, &c) < 0) {
        fprintf(stderr, "g4 install: cannot list %s\n", from);
        return -1;
    }
    *files += c.files;
    return c.failed ? -1 : 0;
}

/* The pack must be this build's platform: backend-manifest.json names it. */
static int check_pack(const char *dir)
{
    pathbuf m;
    if (join(&m, dir, "backend-manifest.json") != 0)
        return -1;
    FILE *f = open_file(m.path, "rb");
    if (!f) {
        fprintf(stderr,
                "g4 install: no LM Studio engine pack in %s (backend-manifest.json missing); run g4 "
                "from an unpacked release archive or pass --from DIR\n", dir);
        return -1;
    }
    char buf[1 << 14];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!strstr(buf, "\"" PACK_NAME "\"") || !strstr(buf, "\"" G4_VERSION_STRING "\"")) {
        fprintf(stderr, "g4 install: %s is not the pack of this g4 (%s %s)\n", m.path, PACK_NAME,
                G4_VERSION_STRING);
        return -1;
    }
    return 0;
}

static int usage(void)
{
    fputs("usage: g4 install lmstudio [--home DIR] [--from DIR]\n"
          "  copies the engine pack beside g4 (or in --from DIR) into\n"
          "  DIR/extensions/backends/" PACK_NAME "-" G4_VERSION_STRING "/\n"
          "  DIR: --home, else $LMSTUDIO_HOME, else ~/.lmstudio\n", stderr);
    return 2;
}

int g4_install_main(int argc, char **argv)
{
    const char *home = NULL, *from = NULL, *what = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--home") || !strcmp(argv[i], "--from")) && i + 1 < argc)
            *(argv[i][2] == 'h' ? &home : &from) = argv[i + 1], i++;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return usage(), 0;
        else if (argv[i][0] != '-' && !what)
            what = argv[i];
        else
            return usage();
    }
    if (!what || strcmp(what, "lmstudio") != 0) {
        if (what)
            fprintf(stderr, "g4 install: unknown target '%s' (only lmstudio)\n", what);
        return usage();
    }
    char self[4096];
    if (!from) {
        if (g4dl_exe_dir(self, sizeof self) != 0) {
            fprintf(stderr, "g4 install: cannot find g4's own folder; pass --from DIR\n");
            return 1;
        }
        from = self;
    }
    if (check_pack(from) != 0)
        return 1;
    pathbuf root;
    if (!home)
        home = getenv("LMSTUDIO_HOME");
    if (!home) {
        const char *h = home_dir();
        if (!h || !*h) {
            fprintf(stderr, "g4 install: no home folder (HOME unset); pass --home DIR\n");
            return 1;
        }
        if (join(&root, h, ".lmstudio") != 0)
            return 1;
        home = root.path;
    }
    /* home/extensions/backends/<name>-<version> */
    pathbuf ext, backends, dest;
    if (make_dirs(home) != 0 || join(&ext, home, "extensions") != 0 || make_dir(ext.path) != 0 ||
        join(&backends, ext.path, "backends") != 0 || make_dir(backends.path) != 0) {
        fprintf(stderr, "g4 install: cannot create %s" SEP "extensions" SEP "backends: %s\n", home,
                strerror(errno));
        return 1;
    }
    if (join(&dest, backends.path, PACK_NAME "-" G4_VERSION_STRING) != 0)
        return 1;
    int files = 0;
    if (copy_tree(from, dest.path, 1, &files) != 0) {
        fprintf(stderr, "g4 install: incomplete install in %s\n", dest.path);
        return 1;
    }
    printf("installed %s@%s: %d files in %s\n"
           "In LM Studio: Settings > Runtime (or `lms runtime select %s@%s`) for GGUF models.\n",
           PACK_NAME, G4_VERSION_STRING, files, dest.path, PACK_NAME, G4_VERSION_STRING);
    return 0;
}
