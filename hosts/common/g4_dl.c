/* Run-time loading of libg4plug: see g4_dl.h for the search order. */
#include "g4_dl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <windows.h>
#define G4DL_LIBNAME "g4plug.dll"
#else
#include <dlfcn.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#define G4DL_LIBNAME "libg4plug.1.dylib"
#else
#define G4DL_LIBNAME "libg4plug.so.1"
#endif
#endif

/* ---- platform layer: open / symbol / close / executable directory ---------------------- */

#if defined(_WIN32)
static void *plat_open(const char *path, char *why, size_t n)
{
    wchar_t wpath[MAX_PATH * 4], full[MAX_PATH * 4];
    const DWORD cap = (DWORD)(sizeof full / sizeof *full);
    if (!MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, wpath, (int)cap)) {
        snprintf(why, n, "path is not valid UTF-8");
        return NULL;
    }
    DWORD flags = LOAD_LIBRARY_SEARCH_DEFAULT_DIRS;
    const wchar_t *name = wpath;
    if (wcschr(wpath, L'\\') || wcschr(wpath, L'/')) {
        /* A path: LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR makes the DLL's own dependencies come from
         * its folder, not from the current directory (DLL planting). That flag is refused for
         * relative paths, hence GetFullPathNameW. */
        DWORD len = GetFullPathNameW(wpath, cap, full, NULL);
        if (!len || len >= cap) {
            snprintf(why, n, "cannot make the path absolute (error %lu)", (unsigned long)GetLastError());
            return NULL;
        }
        name = full;
        flags |= LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR;
    }
    /* A bare name gets the safe default directories (application folder, System32, folders
     * added with AddDllDirectory): not the current directory, not PATH. */
    UINT old_mode = SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX); /* no dialogs */
    HMODULE h = LoadLibraryExW(name, NULL, flags);
    DWORD err = h ? 0 : GetLastError();
    SetErrorMode(old_mode);
    if (!h) {
        char msg[256] = "";
        FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0, msg,
                       (DWORD)sizeof msg, NULL);
        msg[strcspn(msg, "\r\n")] = '\0';
        snprintf(why, n, "LoadLibraryExW error %lu%s%s", (unsigned long)err, *msg ? ": " : "", msg);
    }
    return (void *)h;
}
static void *plat_sym(void *h, const char *name) { return (void *)GetProcAddress((HMODULE)h, name); }
static void plat_close(void *h) { FreeLibrary((HMODULE)h); }
static int exe_dir(char *buf, size_t n)
{
    wchar_t w[MAX_PATH * 4];
    DWORD len = GetModuleFileNameW(NULL, w, (DWORD)(sizeof w / sizeof *w));
    if (!len || len >= sizeof w / sizeof *w)
        return -1;
    if (!WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)n, NULL, NULL))
        return -1;
    char *s = strrchr(buf, '\\');
    if (!s)
        return -1;
    *s = '\0';
    return 0;
}
#define G4DL_SEP "\\"
#else
static void *plat_open(const char *path, char *why, size_t n)
{
    /* RTLD_LOCAL: our symbols must not leak into the host's global namespace. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, n, "%s", e ? e : "dlopen failed");
    }
    return h;
}
static void *plat_sym(void *h, const char *name) { return dlsym(h, name); }
static void plat_close(void *h) { dlclose(h); }
static int exe_dir(char *buf, size_t n)
{
#if defined(__APPLE__)
    char raw[4096];
    uint32_t sz = sizeof raw;
    if (_NSGetExecutablePath(raw, &sz) != 0 || !realpath(raw, buf))
        return -1;
    (void)n;
#else
    ssize_t len = readlink("/proc/self/exe", buf, n - 1);
    if (len <= 0 || (size_t)len >= n - 1)
        return -1;
    buf[len] = '\0';
#endif
    char *s = strrchr(buf, '/');
    if (!s)
        return -1;
    *s = '\0';
    return 0;
}
#define G4DL_SEP "/"
#endif

/* ---- fallback table: one symbol per member ---------------------------------------------- */

#define M(member, sym) {offsetof(g4_api_v1, member), sym}
static const struct {
    size_t off;
    const char *sym;
} k_members[] = {
    M(abi_version_fn, "g4_abi_version"), M(version_string, "g4_version_string"),
    M(last_error, "g4_last_error"), M(status_name, "g4_status_name"),
    M(load_params_init, "g4_load_params_init"), M(load, "g4_load"),
    M(model_free, "g4_model_free"), M(model_get_info, "g4_model_get_info"),
    M(model_meta, "g4_model_meta"), M(tokenize, "g4_tokenize"),
    M(detokenize, "g4_detokenize"), M(token_to_piece, "g4_token_to_piece"),
    M(token_id, "g4_token_id"), M(token_is_eog, "g4_token_is_eog"),
    M(vocab_size, "g4_vocab_size"), M(chat_template, "g4_chat_template"),
    M(chat_format, "g4_chat_format"), M(image_options_init, "g4_image_options_init"),
    M(embed_image, "g4_embed_image"), M(embed_audio, "g4_embed_audio"),
    M(embed_image_file, "g4_embed_image_file"), M(embed_audio_file, "g4_embed_audio_file"),
    M(session_params_init, "g4_session_params_init"), M(session_new, "g4_session_new"),
    M(session_free, "g4_session_free"), M(session_reset, "g4_session_reset"),
    M(session_n_past, "g4_session_n_past"), M(session_n_ctx, "g4_session_n_ctx"),
    M(session_truncate, "g4_session_truncate"),
    M(session_min_rollback, "g4_session_min_rollback"),
    M(session_cancel, "g4_session_cancel"), M(batch_init, "g4_batch_init"), M(step, "g4_step"),
    M(logits, "g4_logits"), M(hidden, "g4_hidden"),
    M(sampler_params_init, "g4_sampler_params_init"), M(sampler_new, "g4_sampler_new"),
    M(sampler_free, "g4_sampler_free"), M(sampler_sample, "g4_sampler_sample"),
    M(sampler_accept, "g4_sampler_accept"), M(sampler_reset, "g4_sampler_reset"),
    M(draft, "g4_draft"), M(generate_params_init, "g4_generate_params_init"),
    M(generate, "g4_generate"), M(session_capture_layers, "g4_session_capture_layers"),
    M(captured_layer, "g4_captured_layer"), M(manifest_check, "g4_manifest_check"),
    /* 1.1 */
    M(load_params_init_sized, "g4_load_params_init_sized"),
    M(image_options_init_sized, "g4_image_options_init_sized"),
    M(session_params_init_sized, "g4_session_params_init_sized"),
    M(batch_init_sized, "g4_batch_init_sized"),
    M(sampler_params_init_sized, "g4_sampler_params_init_sized"),
    M(generate_params_init_sized, "g4_generate_params_init_sized"),
    M(chat_tokenize, "g4_chat_tokenize"),
    M(chat_format_json, "g4_chat_format_json"),
    M(chat_parse, "g4_chat_parse"),
    M(grammar_new, "g4_grammar_new"),
    M(grammar_free, "g4_grammar_free"),
    M(grammar_reset, "g4_grammar_reset"),
    M(grammar_apply, "g4_grammar_apply"),
    M(grammar_accept, "g4_grammar_accept"),
    M(grammar_is_complete, "g4_grammar_is_complete"),
    M(chat_tokenize_json, "g4_chat_tokenize_json"),
    M(video_options_init_sized, "g4_video_options_init_sized"),
    M(video_sample, "g4_video_sample"),
    M(embed_video_frame, "g4_embed_video_frame"),
    M(video_format, "g4_video_format"),
};
#undef M

static void fill_fallback(g4dl *d)
{
    memset(&d->fallback, 0, sizeof d->fallback);
    d->fallback.struct_size = sizeof d->fallback;
    d->fallback.abi_version = d->abi_version;
    for (size_t i = 0; i < sizeof k_members / sizeof *k_members; i++) {
        void *p = plat_sym(d->handle, k_members[i].sym);
        /* Function pointers and void* have the same representation on every platform we
         * target (POSIX requires it for dlsym); memcpy avoids the ISO C cast warning. */
        memcpy((char *)&d->fallback + k_members[i].off, &p, sizeof p);
    }
    d->api = &d->fallback;
    d->used_fallback = 1;
}

/* ---- open -------------------------------------------------------------------------------- */

static void append(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(err);
    if (used + 1 < n)
        snprintf(err + used, n - used, fmt, a, b);
}

static int try_open(g4dl *d, const char *path, char *err, size_t n)
{
    char why[512];
    why[0] = '\0';
    void *h = plat_open(path, why, sizeof why);
    if (!h) {
        /* dlerror() usually names the path already */
        if (strncmp(why, path, strlen(path)) == 0)
            append(err, n, "\n  %s%s", why, "");
        else
            append(err, n, "\n  %s: %s", path, why);
        return -1;
    }
    d->handle = h;
    snprintf(d->path, sizeof d->path, "%s", path);
    return 0;
}

int g4dl_open(const char *path_or_null, g4dl *d, char *err, size_t n)
{
    char buf[4096 + 64], dir[4096];
    memset(d, 0, sizeof *d);
    if (n)
        err[0] = '\0';
    if (n)
        snprintf(err, n, "cannot open the g4plug library; tried:");

    const char *env = getenv("G4PLUG_LIB");
    int ok = -1;
    if (path_or_null && *path_or_null) {
        ok = try_open(d, path_or_null, err, n);
    } else if (env && *env) {
        ok = try_open(d, env, err, n); /* an explicit override must not silently fall back */
    } else {
        if (exe_dir(dir, sizeof dir) == 0) {
            snprintf(buf, sizeof buf, "%s" G4DL_SEP "%s", dir, G4DL_LIBNAME);
            ok = try_open(d, buf, err, n);
            if (ok != 0) {
                snprintf(buf, sizeof buf, "%s" G4DL_SEP ".." G4DL_SEP "lib" G4DL_SEP "%s", dir,
                         G4DL_LIBNAME);
                ok = try_open(d, buf, err, n);
            }
        }
        if (ok != 0)
            ok = try_open(d, "build" G4DL_SEP G4DL_LIBNAME, err, n);
        if (ok != 0)
            ok = try_open(d, G4DL_LIBNAME, err, n);
    }
    if (ok != 0)
        return -1;

    /* ABI major check first: a different major may have a different table layout. */
    uint32_t (*abi_fn)(void) = NULL;
    void *p = plat_sym(d->handle, "g4_abi_version");
    memcpy(&abi_fn, &p, sizeof p);
    if (!abi_fn) {
        snprintf(err, n, "%s: no g4_abi_version symbol (not a g4plug library?)", d->path);
        g4dl_close(d);
        return -1;
    }
    d->abi_version = abi_fn();
    if ((d->abi_version >> 16) != G4_ABI_VERSION_MAJOR) {
        snprintf(err, n, "%s: ABI version %u.%u, this host needs %u.x", d->path,
                 (unsigned)(d->abi_version >> 16), (unsigned)(d->abi_version & 0xffff),
                 (unsigned)G4_ABI_VERSION_MAJOR);
        g4dl_close(d);
        return -1;
    }

    g4_status (*get_api)(uint32_t, const void **) = NULL;
    p = plat_sym(d->handle, "g4_get_api");
    memcpy(&get_api, &p, sizeof p);
    const void *table = NULL;
    if (get_api && get_api(1, &table) == G4_OK && table) {
        const g4_api_v1 *t = (const g4_api_v1 *)table;
        /* A table smaller than the 1.0 layout cannot be used member by member; later members
         * are checked with G4_API_HAS where they are used. */
        if (t->struct_size < offsetof(g4_api_v1, chat_tokenize) || (t->abi_version >> 16) != 1) {
            snprintf(err, n, "%s: g4_get_api(1) returned a table of size %u, version 0x%x",
                     d->path, (unsigned)t->struct_size, (unsigned)t->abi_version);
            g4dl_close(d);
            return -1;
        }
        d->api = t;
    } else {
        fill_fallback(d);
    }
    if (n)
        err[0] = '\0';
    return 0;
}

void *g4dl_sym(const g4dl *d, const char *name)
{
    return d && d->handle ? plat_sym(d->handle, name) : NULL;
}

void g4dl_close(g4dl *d)
{
    if (d && d->handle)
        plat_close(d->handle);
    if (d) {
        d->handle = NULL;
        d->api = NULL;
    }
}

int g4dl_exe_dir(char *buf, size_t n) { return exe_dir(buf, n); }
