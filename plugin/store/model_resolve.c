/* Model resolution: plain paths, LM Studio model folders, Ollama store names (model_resolve.h).
 * Everything read from disk (folder listings, Ollama manifests) is untrusted: sizes are bounded
 * and every path component is validated before it is joined into a path. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf/gguf.h"
#include "store/model_resolve.h"

#if G4_HAVE_CJSON
#include <cjson/cJSON.h>
#endif

#define MANIFEST_MAX (1u << 20) /* real Ollama manifests are < 2 KiB */
#define MAX_LAYERS 4096
#define MAX_DIR_ENTRIES 100000 /* stop listing a folder after this many entries */
#define NAME_MAX_LEN 255

/* ------------------------------------------------------------------ small helpers */

static int fmt_path(char *dst, size_t cap, const char *fmt, ...) G4_PRINTF(3, 4);
static int fmt_path(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static int is_regular(const char *p, long long *size)
{
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (size)
        *size = (long long)st.st_size;
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *home_dir(void)
{
#if defined(_WIN32)
    const char *h = getenv("USERPROFILE");
#else
    const char *h = getenv("HOME");
#endif
    return h && *h ? h : NULL;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

static int starts_with_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (lower((unsigned char)*s) != *prefix)
            return 0;
    return 1;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && starts_with_ci(s + n - m, suffix);
}

static int contains_ci(const char *s, const char *needle)
{
    for (; *s; s++)
        if (starts_with_ci(s, needle))
            return 1;
    return 0;
}

/* One name component of an Ollama name or an LM Studio publisher/model: no separators, no "..",
 * nothing that could leave the store. */
static int valid_component(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ embedded projector */

/* Ollama's single-blob Gemma 4 carries v.* / a.* / mm.* tensors (or clip.* keys) inside the model
 * GGUF. A standalone projector (general.architecture "clip") is not "a model with a projector". */
static int gguf_has_projector(const char *path)
{
    char err[256];
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    if (!g)
        return 0; /* the loader reports the real problem */
    int found = 0;
    g4_gguf_str arch;
    if (g4_gguf_get_str(g, "general.architecture", &arch) == 0 && g4_gguf_str_eq(arch, "clip")) {
        g4_gguf_close(g);
        return 0;
    }
    int64_t nt = g4_gguf_n_tensors(g);
    for (int64_t i = 0; i < nt && !found; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        const char *s = t->name.ptr;
        uint64_t n = t->name.len;
        found = (n > 2 && (!memcmp(s, "v.", 2) || !memcmp(s, "a.", 2))) ||
                (n > 3 && !memcmp(s, "mm.", 3)) ||
                (n > 19 && !memcmp(s, "model.vision_tower.", 19));
    }
    int64_t nk = g4_gguf_n_kv(g);
    for (int64_t i = 0; i < nk && !found; i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        found = kv->key.len > 5 && !memcmp(kv->key.ptr, "clip.", 5);
    }
    g4_gguf_close(g);
    return found;
}

static void finish(g4_resolved *out, const char *source)
{
    snprintf(out->source, sizeof out->source, "%s", source);
    out->projector_in_model = !out->mmproj[0] && gguf_has_projector(out->model);
}

/* ------------------------------------------------------------------ folders */

enum { KIND_MODEL, KIND_MMPROJ, KIND_DRAFT, KIND_N };

typedef struct names {
    char (*v)[NAME_MAX_LEN + 1];
    size_t n, cap;
} names;

static int names_push(names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        void *p = realloc(l->v, cap * sizeof *l->v);
        if (!p)
            return -1;
        l->v = p;
        l->cap = cap;
    }
    snprintf(l->v[l->n++], sizeof *l->v, "%s", s);
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* Shard index k of NAME-0000k-of-0000n.gguf, or 0 for a file that is not a split shard. */
static int split_index(const char *name)
{
    static const char pat[] = "-#####-of-#####.gguf";
    size_t n = strlen(name), m = sizeof pat - 1;
    if (n <= m)
        return 0;
    const char *s = name + n - m;
    int k = 0;
    for (size_t i = 0; i < m; i++) {
        if (pat[i] == '#') {
            if (!isdigit((unsigned char)s[i]))
                return 0;
            if (i < 6)
                k = k * 10 + (s[i] - '0');
        } else if (lower((unsigned char)s[i]) != pat[i]) {
            return 0;
        }
    }
    return k > 0 ? k : 0;
}

/* Precision preference among several projectors/drafters: f16, bf16, f32, anything else. */
static int precision_rank(const char *name)
{
    int best = 3;
    size_t n = strlen(name);
    if (ends_with_ci(name, ".gguf"))
        n -= 5;
    for (size_t i = 0; i < n;) {
        while (i < n && strchr("-_.", name[i]))
            i++;
        size_t j = i;
        while (j < n && !strchr("-_.", name[j]))
            j++;
        size_t len = j - i;
        int r = 3;
        if (len == 3 && starts_with_ci(name + i, "f16"))
            r = 0;
        else if (len == 4 && starts_with_ci(name + i, "bf16"))
            r = 1;
        else if (len == 3 && starts_with_ci(name + i, "f32"))
            r = 2;
        if (r < best)
            best = r;
        i = j;
    }
    return best;
}

static const char *pick_best(const names *l)
{
    const char *best = NULL;
    int best_rank = 4;
    for (size_t i = 0; i < l->n; i++) {
        int r = precision_rank(l->v[i]);
        if (r < best_rank || (r == best_rank && strcmp(l->v[i], best) < 0)) {
            best = l->v[i];
            best_rank = r;
        }
    }
    return best;
}

static g4_status resolve_folder(const char *dir_in, g4_resolved *out)
{
    char dir[G4_RESOLVE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dir_in);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0'; /* cosmetic: no "//" in the paths we hand back */

    DIR *d = opendir(dir);
    if (!d)
        return g4_fail(G4_ERR_IO, "cannot list model folder %s: %s", dir, strerror(errno));
    names lists[KIND_N] = {{0}};
    char orphan[NAME_MAX_LEN + 1] = "";
    char path[G4_RESOLVE_PATH_MAX];
    g4_status st = G4_OK;
    size_t seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && seen++ < MAX_DIR_ENTRIES) {
        const char *name = e->d_name;
        if (name[0] == '.' || strlen(name) > NAME_MAX_LEN || !ends_with_ci(name, ".gguf"))
            continue;
        if (fmt_path(path, sizeof path, "%s/%s", dir, name) != 0 || !is_regular(path, NULL))
            continue;
        int kind = starts_with_ci(name, "mmproj")                                  ? KIND_MMPROJ
                   : (starts_with_ci(name, "mtp-") || contains_ci(name, "assistant")) ? KIND_DRAFT
                                                                                       : KIND_MODEL;
        int k = split_index(name);
        if (k > 1) {
            /* later shards ride along with shard 1; remember one in case shard 1 is missing */
            if (!orphan[0])
                snprintf(orphan, sizeof orphan, "%s", name);
            continue;
        }
        if (names_push(&lists[kind], name) != 0) {
            st = g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory listing %s", dir);
            break;
        }
    }
    closedir(d);
    if (st != G4_OK)
        goto done;

    names *models = &lists[KIND_MODEL];
    if (models->n > 1)
        qsort(models->v, models->n, sizeof *models->v, cmp_name);
    if (models->n == 0) {
        if (orphan[0])
            st = g4_fail(G4_ERR_NOT_FOUND,
                         "no model GGUF in folder %s: split shard %s is there but not its "
                         "-00001-of- shard",
                         dir, orphan);
        else
            st = g4_fail(G4_ERR_NOT_FOUND,
                         "no model GGUF in folder %s (found %zu projector and %zu drafter files)",
                         dir, lists[KIND_MMPROJ].n, lists[KIND_DRAFT].n);
        goto done;
    }
    if (models->n > 1) {
        char list[700] = "";
        size_t used = 0;
        for (size_t i = 0; i < models->n && used + 1 < sizeof list; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", models->v[i]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        st = g4_fail(G4_ERR_INVALID_ARGUMENT,
                     "folder %s holds %zu models (%s); pass the path of the one to load", dir,
                     models->n, list);
        goto done;
    }
    if (fmt_path(out->model, sizeof out->model, "%s/%s", dir, models->v[0]) != 0) {
        st = g4_fail(G4_ERR_INVALID_ARGUMENT, "path too long in folder %s", dir);
        goto done;
    }
    const char *mm = pick_best(&lists[KIND_MMPROJ]);
    const char *dr = pick_best(&lists[KIND_DRAFT]);
    if ((mm && fmt_path(out->mmproj, sizeof out->mmproj, "%s/%s", dir, mm) != 0) ||
        (dr && fmt_path(out->draft, sizeof out->draft, "%s/%s", dir, dr) != 0))
        st = g4_fail(G4_ERR_INVALID_ARGUMENT, "path too long in folder %s", dir);
done:
    for (int i = 0; i < KIND_N; i++)
        free(lists[i].v);
    return st;
}

/* ------------------------------------------------------------------ LM Studio */

/* "publisher/model" or "publisher/model/file.gguf" under the LM Studio roots. Returns G4_OK with
 * *found = 1 on a hit; G4_OK with *found = 0 (and the roots tried in `looked`) on none. */
static g4_status try_lmstudio(const char *spec, g4_resolved *out, int *found, char *looked,
                              size_t looked_cap)
{
    *found = 0;
    looked[0] = '\0';
    const char *c[3];
    size_t len[3];
    int nc = 0;
    for (const char *p = spec;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (nc == 3 || !valid_component(p, n))
            return G4_OK;
        c[nc] = p;
        len[nc++] = n;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (nc < 2 || (nc == 3 && !ends_with_ci(c[2], ".gguf")))
        return G4_OK;

    char roots[4][G4_RESOLVE_PATH_MAX];
    int nr = 0;
    const char *env = getenv("LMSTUDIO_MODELS");
    if (env && *env && fmt_path(roots[nr], sizeof roots[nr], "%s", env) == 0)
        nr++;
    env = getenv("LMSTUDIO_HOME");
    if (env && *env && fmt_path(roots[nr], sizeof roots[nr], "%s/models", env) == 0)
        nr++;
    const char *home = home_dir();
    if (home && fmt_path(roots[nr], sizeof roots[nr], "%s/.lmstudio/models", home) == 0)
        nr++;
    if (home && fmt_path(roots[nr], sizeof roots[nr], "%s/.cache/lm-studio/models", home) == 0)
        nr++;

    size_t used = 0;
    char path[G4_RESOLVE_PATH_MAX];
    for (int r = 0; r < nr; r++) {
        int w = snprintf(looked + used, looked_cap - used, "%s%s", r ? ", " : "", roots[r]);
        if (w > 0 && (size_t)w < looked_cap - used)
            used += (size_t)w;
        if (fmt_path(path, sizeof path, "%s/%.*s/%.*s", roots[r], (int)len[0], c[0], (int)len[1],
                     c[1]) != 0 ||
            !is_dir(path))
            continue;
        if (nc == 3) {
            size_t pl = strlen(path);
            if (fmt_path(path + pl, sizeof path - pl, "/%s", c[2]) != 0 || !is_regular(path, NULL))
                continue;
            snprintf(out->model, sizeof out->model, "%s", path);
            *found = 1;
            finish(out, "lmstudio");
            return G4_OK;
        }
        g4_status st = resolve_folder(path, out);
        if (st != G4_OK)
            return st;
        *found = 1;
        finish(out, "lmstudio");
        return G4_OK;
    }
    return G4_OK;
}

/* ------------------------------------------------------------------ Ollama */

typedef struct oname {
    char host[NAME_MAX_LEN + 1], ns[NAME_MAX_LEN + 1], model[NAME_MAX_LEN + 1],
        tag[NAME_MAX_LEN + 1];
} oname;

/* [host/][namespace/]model[:tag], as Ollama's ParseName fills defaults. Returns 0 or -1. */
static int parse_ollama_name(const char *spec, oname *o)
{
    const char *last = strrchr(spec, '/');
    const char *base = last ? last + 1 : spec;
    const char *colon = strchr(base, ':');
    size_t tag_len = colon ? strlen(colon + 1) : 6;
    const char *tag = colon ? colon + 1 : "latest";
    if (!valid_component(tag, tag_len))
        return -1;
    snprintf(o->tag, sizeof o->tag, "%.*s", (int)tag_len, tag);
    size_t end = colon ? (size_t)(colon - spec) : strlen(spec);

    const char *c[3];
    size_t len[3];
    int nc = 0;
    for (size_t i = 0; i <= end;) {
        const char *slash = memchr(spec + i, '/', end - i);
        size_t n = slash ? (size_t)(slash - (spec + i)) : end - i;
        if (nc == 3 || !valid_component(spec + i, n))
            return -1;
        c[nc] = spec + i;
        len[nc++] = n;
        if (!slash)
            break;
        i += n + 1;
    }
    const char *host = "registry.ollama.ai", *ns = "library";
    size_t hl = strlen(host), nl = strlen(ns);
    if (nc == 3) {
        host = c[0], hl = len[0];
        ns = c[1], nl = len[1];
    } else if (nc == 2) {
        ns = c[0], nl = len[0];
    }
    snprintf(o->host, sizeof o->host, "%.*s", (int)hl, host);
    snprintf(o->ns, sizeof o->ns, "%.*s", (int)nl, ns);
    snprintf(o->model, sizeof o->model, "%.*s", (int)len[nc - 1], c[nc - 1]);
    return 0;
}

static int ollama_root(char *dst, size_t cap)
{
    const char *env = getenv("OLLAMA_MODELS");
    if (env && *env)
        return fmt_path(dst, cap, "%s", env);
    const char *home = home_dir();
#if defined(__linux__)
    /* The Linux systemd service runs as user "ollama" with home /usr/share/ollama. */
    if (home) {
        char p[G4_RESOLVE_PATH_MAX];
        if (fmt_path(p, sizeof p, "%s/.ollama/models", home) == 0 && !is_dir(p) &&
            is_dir("/usr/share/ollama/.ollama/models/manifests"))
            return fmt_path(dst, cap, "%s", "/usr/share/ollama/.ollama/models");
    }
#endif
    if (!home)
        return -1;
    return fmt_path(dst, cap, "%s/.ollama/models", home);
}

#if G4_HAVE_CJSON
static int valid_digest(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)d[7 + i]))
            return 0;
    return d[71] == '\0';
}

/* Reads at most MANIFEST_MAX bytes; a file that is larger (or grows) is an error. */
static g4_status read_small_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return g4_fail(G4_ERR_IO, "cannot open Ollama manifest %s: %s", path, strerror(errno));
    char *b = malloc(MANIFEST_MAX + 1);
    if (!b) {
        fclose(f);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    size_t n = fread(b, 1, MANIFEST_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        return g4_fail(G4_ERR_IO, "cannot read Ollama manifest %s", path);
    }
    if (n > MANIFEST_MAX) {
        free(b);
        return g4_fail(G4_ERR_FORMAT, "Ollama manifest %s is larger than %u bytes", path,
                       MANIFEST_MAX);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return G4_OK;
}

typedef struct olayer {
    const char *digest;
    double size;
} olayer;

static g4_status blob_path(const char *root, const char *mpath, const char *what, const olayer *l,
                           char *dst, size_t cap)
{
    long long sz = -1;
    /* digest is validated: "sha256:" + 64 hex, so it cannot leave blobs/ */
    if (fmt_path(dst, cap, "%s/blobs/sha256-%s", root, l->digest + 7) != 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "Ollama store path %s is too long", root);
    if (!is_regular(dst, &sz)) {
#if !defined(_WIN32)
        char legacy[G4_RESOLVE_PATH_MAX];
        if (fmt_path(legacy, sizeof legacy, "%s/blobs/%s", root, l->digest) == 0 &&
            is_regular(legacy, &sz))
            snprintf(dst, cap, "%s", legacy);
        else
#endif
            return g4_fail(G4_ERR_IO,
                           "the %s blob %s named by %s is missing or not a regular file "
                           "(interrupted pull? pull the model again)",
                           what, dst, mpath);
    }
    if ((double)sz != l->size)
        return g4_fail(G4_ERR_FORMAT,
                       "the %s blob %s is %lld bytes but the manifest %s says %.0f "
                       "(incomplete download?)",
                       what, dst, sz, mpath, l->size);
    return G4_OK;
}

static g4_status parse_manifest(const char *root, const char *mpath, const char *json, size_t len,
                                g4_resolved *out)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!j)
        return g4_fail(G4_ERR_FORMAT, "Ollama manifest %s is not valid JSON", mpath);
    g4_status st = G4_OK;
    olayer model = {0}, proj = {0}, draft = {0};
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(j, "schemaVersion");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(sv) || sv->valuedouble != 2) {
        st = g4_fail(G4_ERR_FORMAT, "Ollama manifest %s: expected an object with schemaVersion 2",
                     mpath);
        goto done;
    }
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) > MAX_LAYERS) {
        st = g4_fail(G4_ERR_FORMAT, "Ollama manifest %s: 'layers' is not an array of at most %d",
                     mpath, MAX_LAYERS);
        goto done;
    }
    int i = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(l, "mediaType");
        const cJSON *dg = cJSON_GetObjectItemCaseSensitive(l, "digest");
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(l, "size");
        if (!cJSON_IsObject(l) || !cJSON_IsString(mt) || !cJSON_IsString(dg) ||
            !cJSON_IsNumber(sz)) {
            st = g4_fail(G4_ERR_FORMAT,
                         "Ollama manifest %s: layers[%d] needs string mediaType and digest and a "
                         "numeric size",
                         mpath, i);
            goto done;
        }
        if (!valid_digest(dg->valuestring)) {
            st = g4_fail(G4_ERR_FORMAT,
                         "Ollama manifest %s: layers[%d].digest is not sha256:<64 hex digits>",
                         mpath, i);
            goto done;
        }
        double s = sz->valuedouble;
        if (!(s >= 0 && s <= 9007199254740992.0) || s != (double)(long long)s) {
            st = g4_fail(G4_ERR_FORMAT, "Ollama manifest %s: layers[%d].size is not a byte count",
                         mpath, i);
            goto done;
        }
        olayer cur = {dg->valuestring, s};
        const char *m = mt->valuestring;
        if (!strcmp(m, "application/vnd.ollama.image.model")) {
            if (model.digest) {
                st = g4_fail(G4_ERR_FORMAT, "Ollama manifest %s has more than one model layer",
                             mpath);
                goto done;
            }
            model = cur;
        } else if (!strcmp(m, "application/vnd.ollama.image.projector")) {
            if (!proj.digest)
                proj = cur; /* Ollama passes only the first projector too */
        } else if (!strcmp(m, "application/vnd.ollama.image.draft")) {
            if (!draft.digest)
                draft = cur;
        }
        i++;
    }
    if (!model.digest) {
        st = g4_fail(G4_ERR_FORMAT,
                     "Ollama manifest %s has no application/vnd.ollama.image.model layer", mpath);
        goto done;
    }
    st = blob_path(root, mpath, "model", &model, out->model, sizeof out->model);
    if (st == G4_OK && proj.digest)
        st = blob_path(root, mpath, "projector", &proj, out->mmproj, sizeof out->mmproj);
    if (st == G4_OK && draft.digest)
        st = blob_path(root, mpath, "draft", &draft, out->draft, sizeof out->draft);
done:
    cJSON_Delete(j);
    return st;
}
#endif

static g4_status try_ollama(const char *spec, g4_resolved *out, const char *lms_looked)
{
    oname o;
    if (parse_ollama_name(spec, &o) != 0)
        return g4_fail(G4_ERR_NOT_FOUND,
                       "'%s' is not a file or folder, and not a model name "
                       "([host/][namespace/]name[:tag], parts of letters, digits, '.', '_', '-')",
                       spec);
    char root[G4_RESOLVE_PATH_MAX];
    if (ollama_root(root, sizeof root) != 0)
        return g4_fail(G4_ERR_NOT_FOUND,
                       "'%s' is not a file or folder, and there is no Ollama store to look in "
                       "(set OLLAMA_MODELS or HOME)",
                       spec);
    char rel[4 * (NAME_MAX_LEN + 1) + 16], mpath[G4_RESOLVE_PATH_MAX];
    snprintf(rel, sizeof rel, "manifests/%s/%s/%s/%s", o.host, o.ns, o.model, o.tag);
    if (fmt_path(mpath, sizeof mpath, "%s/%s", root, rel) != 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "Ollama store path %s is too long", root);
    if (!is_regular(mpath, NULL)) {
        /* Ollama lower-cases host/namespace/model on disk and keeps the tag's case. */
        oname lo = o;
        for (char *p = lo.host; *p; p++)
            *p = (char)lower((unsigned char)*p);
        for (char *p = lo.ns; *p; p++)
            *p = (char)lower((unsigned char)*p);
        for (char *p = lo.model; *p; p++)
            *p = (char)lower((unsigned char)*p);
        char lpath[G4_RESOLVE_PATH_MAX];
        if (fmt_path(lpath, sizeof lpath, "%s/manifests/%s/%s/%s/%s", root, lo.host, lo.ns,
                     lo.model, lo.tag) == 0 &&
            is_regular(lpath, NULL)) {
            snprintf(mpath, sizeof mpath, "%s", lpath);
        } else {
            char mdir[G4_RESOLVE_PATH_MAX];
            const char *no_store =
                fmt_path(mdir, sizeof mdir, "%s/manifests", root) == 0 && !is_dir(mdir)
                    ? "; there is no store there"
                    : "";
            if (lms_looked && lms_looked[0])
                return g4_fail(G4_ERR_NOT_FOUND,
                               "no model '%s' in the Ollama store at %s (looked for %s%s), nor a "
                               "folder '%s' under the LM Studio model roots (%s)",
                               spec, root, rel, no_store, spec, lms_looked);
            return g4_fail(G4_ERR_NOT_FOUND,
                           "no model '%s' in the Ollama store at %s (looked for %s%s)", spec, root,
                           rel, no_store);
        }
    }
#if G4_HAVE_CJSON
    char *json = NULL;
    size_t len = 0;
    g4_status st = read_small_file(mpath, &json, &len);
    if (st != G4_OK)
        return st;
    st = parse_manifest(root, mpath, json, len, out);
    free(json);
    if (st != G4_OK)
        return st;
    finish(out, "ollama");
    return G4_OK;
#else
    return g4_fail(G4_ERR_UNSUPPORTED,
                   "found Ollama manifest %s, but this build has no JSON reader (built without "
                   "cJSON): pass the model's blob path instead",
                   mpath);
#endif
}

/* ------------------------------------------------------------------ entry point */

/* Specs that can only mean a filesystem path: not worth reading as store names. */
static int looks_like_path(const char *s)
{
    return s[0] == '/' || s[0] == '.' || s[0] == '~' || strchr(s, '\\') != NULL ||
           (isalpha((unsigned char)s[0]) && s[1] == ':' && (s[2] == '\\' || s[2] == '/'));
}

g4_status g4_resolve_model(const char *spec, g4_resolved *out)
{
    if (!out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_resolve_model: out is NULL");
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "no model given (empty path or name)");
    if (strlen(spec) >= G4_RESOLVE_PATH_MAX)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "model path or name is longer than %d bytes",
                       G4_RESOLVE_PATH_MAX - 1);

    char path[G4_RESOLVE_PATH_MAX];
    const char *home = home_dir();
    if (spec[0] == '~' && (spec[1] == '/' || spec[1] == '\\') && home) {
        if (fmt_path(path, sizeof path, "%s%s", home, spec + 1) != 0)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "model path %s is too long", spec);
    } else {
        snprintf(path, sizeof path, "%s", spec);
    }

    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISREG(st.st_mode)) {
            snprintf(out->model, sizeof out->model, "%s", path);
            finish(out, "path");
            return G4_OK;
        }
        if (S_ISDIR(st.st_mode)) {
            g4_status s = resolve_folder(path, out);
            if (s == G4_OK)
                finish(out, "path");
            return s;
        }
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s is neither a regular file nor a folder", path);
    }
    if (errno != ENOENT && errno != ENOTDIR)
        return g4_fail(G4_ERR_IO, "cannot access %s: %s", path, strerror(errno));
    if (looks_like_path(spec) || ends_with_ci(spec, ".gguf")) {
        /* "pub/model/file.gguf" is still an LM Studio spec */
        char looked[1024];
        int found = 0;
        if (!looks_like_path(spec)) {
            g4_status s = try_lmstudio(spec, out, &found, looked, sizeof looked);
            if (s != G4_OK || found)
                return s;
        }
        return g4_fail(G4_ERR_IO, "model file %s does not exist", path);
    }

    char looked[1024];
    int found = 0;
    g4_status s = try_lmstudio(spec, out, &found, looked, sizeof looked);
    if (s != G4_OK || found)
        return s;
    memset(out, 0, sizeof *out);
    return try_ollama(spec, out, looked);
}
