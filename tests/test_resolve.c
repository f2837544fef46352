/* Model resolution (plugin/store/model_resolve.h): plain paths, LM Studio folders and roots, and a fake
 * Ollama store laid out exactly like the real one (manifests/<host>/<ns>/<model>/<tag>, blobs/
 * sha256-<hex>, docker v2 manifests with config/model/projector/params/template/license layers),
 * plus hostile stores: traversal through digests and names, huge and malformed manifests, missing
 * and short blobs, ambiguous folders. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf_write.h"
#include "store/model_resolve.h"
#include "t.h"

static char g_tmp[512];

static void pathf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static void mkdirs(const char *path)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    mkdir(p, 0755);
}

static void parent_dirs(const char *path)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    char *s = strrchr(p, '/');
    if (s) {
        *s = '\0';
        mkdirs(p);
    }
}

static long write_bytes(const char *path, const void *data, size_t n)
{
    parent_dirs(path);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite(data, 1, n, f);
    fclose(f);
    return (long)n;
}

/* A tiny valid GGUF. vision: also carries v.* / mm.* tensors (Ollama's single-blob layout). */
static long write_gguf(const char *path, const char *arch, int vision)
{
    parent_dirs(path);
    g4_gguf_writer *w = g4_gguf_writer_new();
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t ne[1] = {8};
    g4_gguf_set_str(w, "general.architecture", arch);
    g4_gguf_writer_add_tensor_copy(w, "token_embd.weight", G4_TYPE_F32, 1, ne, data);
    if (vision) {
        g4_gguf_writer_add_tensor_copy(w, "v.patch_embd.weight", G4_TYPE_F32, 1, ne, data);
        g4_gguf_writer_add_tensor_copy(w, "mm.input_projection.weight", G4_TYPE_F32, 1, ne, data);
    }
    long size = (long)g4_gguf_writer_file_size(w);
    if (g4_gguf_writer_write_file(w, path) != 0)
        size = -1;
    g4_gguf_writer_free(w);
    return size;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int has(const char *msg, const char *needle) { return strstr(msg, needle) != NULL; }

static void write_raw_manifest(const char *root, const char *rel, const char *json)
{
    char p[1024];
    pathf(p, sizeof p, "%s/manifests/%s", root, rel);
    write_bytes(p, json, strlen(json));
}

static g4_status resolve(const char *spec, g4_resolved *r)
{
    g4_clear_error();
    return g4_resolve_model(spec, r);
}

/* ------------------------------------------------------------------ Ollama store builder */
#if G4_HAVE_CJSON

typedef struct layer {
    const char *media;
    char digest[80];
    long size;
} layer;

/* Distinct fake digests (the resolver checks format and size; it does not hash GB blobs). */
static void fake_digest(char *dst, unsigned seed)
{
    strcpy(dst, "sha256:");
    for (int i = 0; i < 64; i++)
        dst[7 + i] = "0123456789abcdef"[((seed * 2654435761u >> (i % 28)) & 15) ^ (unsigned)(i & 15)];
    dst[71] = '\0';
}

static void blob_file(char *dst, size_t cap, const char *root, const char *digest)
{
    pathf(dst, cap, "%s/blobs/sha256-%s", root, digest + 7);
}

static layer blob_gguf(const char *root, unsigned seed, const char *media, const char *arch,
                       int vision)
{
    layer l = {media, "", 0};
    char p[1024];
    fake_digest(l.digest, seed);
    blob_file(p, sizeof p, root, l.digest);
    l.size = write_gguf(p, arch, vision);
    return l;
}

static layer blob_text(const char *root, unsigned seed, const char *media, const char *text)
{
    layer l = {media, "", 0};
    char p[1024];
    fake_digest(l.digest, seed);
    blob_file(p, sizeof p, root, l.digest);
    l.size = write_bytes(p, text, strlen(text));
    return l;
}

static void write_manifest(const char *root, const char *rel, const layer *ls, int n)
{
    char buf[8192];
    size_t u = 0;
    layer cfg = blob_text(root, 999, "", "{\"model_format\":\"gguf\",\"model_family\":\"gemma4\","
                                        "\"architecture\":\"amd64\",\"os\":\"linux\"}");
    u += (size_t)snprintf(buf + u, sizeof buf - u,
                          "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker."
                          "distribution.manifest.v2+json\",\"config\":{\"mediaType\":"
                          "\"application/vnd.docker.container.image.v1+json\",\"digest\":\"%s\","
                          "\"size\":%ld},\"layers\":[",
                          cfg.digest, cfg.size);
    for (int i = 0; i < n; i++)
        u += (size_t)snprintf(buf + u, sizeof buf - u,
                              "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%ld}",
                              i ? "," : "", ls[i].media, ls[i].digest, ls[i].size);
    u += (size_t)snprintf(buf + u, sizeof buf - u, "]}");
    char p[1024];
    pathf(p, sizeof p, "%s/manifests/%s", root, rel);
    write_bytes(p, buf, u);
}

#define M_MODEL "application/vnd.ollama.image.model"
#define M_PROJ "application/vnd.ollama.image.projector"
#define M_DRAFT "application/vnd.ollama.image.draft"
#define M_PARAMS "application/vnd.ollama.image.params"
#define M_TMPL "application/vnd.ollama.image.template"
#define M_LIC "application/vnd.ollama.image.license"

/* ------------------------------------------------------------------ tests */

static void test_ollama(void)
{
    char root[600];
    pathf(root, sizeof root, "%s/ollama/models", g_tmp);
    setenv("OLLAMA_MODELS", root, 1);
    g4_resolved r;
    char want[1024];

    /* 1. Separate projector and drafter layers, plus the usual text layers. */
    layer a[] = {
        blob_gguf(root, 1, M_MODEL, "gemma4", 0),
        blob_gguf(root, 2, M_PROJ, "clip", 1),
        blob_gguf(root, 3, M_DRAFT, "gemma4-assistant", 0),
        blob_text(root, 4, M_PARAMS, "{\"temperature\":1,\"top_k\":64,\"top_p\":0.95}"),
        blob_text(root, 5, M_TMPL, "{{ .Prompt }}"),
        blob_text(root, 6, M_LIC, "Gemma Terms of Use"),
    };
    write_manifest(root, "registry.ollama.ai/library/gemma4/12b", a, 6);
    CHECK(resolve("gemma4:12b", &r) == G4_OK, "%s", g4_last_error());
    blob_file(want, sizeof want, root, a[0].digest);
    CHECK(!strcmp(r.model, want), "model %s", r.model);
    blob_file(want, sizeof want, root, a[1].digest);
    CHECK(!strcmp(r.mmproj, want), "mmproj %s", r.mmproj);
    blob_file(want, sizeof want, root, a[2].digest);
    CHECK(!strcmp(r.draft, want), "draft %s", r.draft);
    CHECK(!strcmp(r.source, "ollama") && r.projector_in_model == 0, "%s %d", r.source,
          r.projector_in_model);
    /* the full forms name the same manifest */
    CHECK(resolve("library/gemma4:12b", &r) == G4_OK && ends_with(r.model, a[0].digest + 7), "%s",
          g4_last_error());
    CHECK(resolve("registry.ollama.ai/library/gemma4:12b", &r) == G4_OK, "%s", g4_last_error());

    /* 2. Ollama's single-blob Gemma 4: no projector layer, v.* / mm.* tensors in the model blob;
     *    default tag latest. */
    layer b[] = {
        blob_gguf(root, 11, M_MODEL, "gemma4", 1),
        blob_text(root, 12, M_PARAMS, "{\"stop\":[\"<turn|>\"]}"),
        blob_text(root, 13, M_LIC, "license"),
    };
    write_manifest(root, "registry.ollama.ai/library/gemma4/latest", b, 3);
    CHECK(resolve("gemma4", &r) == G4_OK, "%s", g4_last_error());
    CHECK(r.projector_in_model == 1 && r.mmproj[0] == '\0' && r.draft[0] == '\0', "pim %d",
          r.projector_in_model);
    CHECK(resolve("gemma4:latest", &r) == G4_OK && r.projector_in_model == 1, "%s",
          g4_last_error());

    /* 3. User namespace, and hf.co names: on disk host/namespace/model are lower-case. */
    layer c[] = {blob_gguf(root, 21, M_MODEL, "gemma4", 0)};
    write_manifest(root, "registry.ollama.ai/someone/gemma4-tuned/v1", c, 1);
    CHECK(resolve("someone/gemma4-tuned:v1", &r) == G4_OK && ends_with(r.model, c[0].digest + 7),
          "%s", g4_last_error());
    write_manifest(root, "hf.co/unsloth/gemma-4-e4b-it-gguf/Q4_K_M", c, 1);
    CHECK(resolve("hf.co/unsloth/gemma-4-E4B-it-GGUF:Q4_K_M", &r) == G4_OK, "%s", g4_last_error());

    /* 4. Legacy blob file name sha256:<hex>. */
    {
        layer d = blob_gguf(root, 31, M_MODEL, "gemma4", 0);
        char from[1024], to[1024];
        blob_file(from, sizeof from, root, d.digest);
        pathf(to, sizeof to, "%s/blobs/%s", root, d.digest);
        CHECK(rename(from, to) == 0, "rename %s", strerror(errno));
        write_manifest(root, "registry.ollama.ai/library/legacy/latest", &d, 1);
        CHECK(resolve("legacy", &r) == G4_OK && !strcmp(r.model, to), "%s | %s", g4_last_error(),
              r.model);
    }

    /* 5. Unknown names: NOT_FOUND naming the store and the manifest path it looked for. */
    g4_status s = resolve("gemma4:99b", &r);
    CHECK(s == G4_ERR_NOT_FOUND, "%d", s);
    CHECK(has(g4_last_error(), "no model 'gemma4:99b' in the Ollama store at") &&
              has(g4_last_error(), root) &&
              has(g4_last_error(), "manifests/registry.ollama.ai/library/gemma4/99b"),
          "%s", g4_last_error());
    s = resolve("nobody/nothing", &r); /* also not an LM Studio folder */
    CHECK(s == G4_ERR_NOT_FOUND && has(g4_last_error(), "LM Studio"), "%d %s", s, g4_last_error());

    /* ---- hostile stores and names ---- */
    /* digest with traversal, digest of the wrong length / algorithm / characters */
    static const char *bad_digests[] = {
        "sha256:../../../../etc/passwd",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/../../x",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
        "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "",
    };
    for (size_t i = 0; i < sizeof bad_digests / sizeof *bad_digests; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
                 "\"size\":1}]}",
                 M_MODEL, bad_digests[i]);
        write_raw_manifest(root, "registry.ollama.ai/library/evil/digest", json);
        s = resolve("evil:digest", &r);
        CHECK(s == G4_ERR_FORMAT && has(g4_last_error(), "layers[0].digest"), "%s: %d %s",
              bad_digests[i], s, g4_last_error());
        CHECK(r.model[0] == '\0', "out not cleared: %s", r.model);
    }
    /* names that try to leave manifests/ */
    static const char *bad_names[] = {
        "gemma4:../../../x", "../gemma4",      "a/../../b", "gemma4:", ":tag",   "a//b",
        "a/b/c/d",           "gemma4:a/b",     "-x",        "ge mma4", "a/.b",   "gemma4:..",
        "x\\..\\y",          "host/ns/m:t:u",
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        s = resolve(bad_names[i], &r);
        CHECK(s == G4_ERR_NOT_FOUND || s == G4_ERR_IO || s == G4_ERR_INVALID_ARGUMENT,
              "%s: %d %s", bad_names[i], s, g4_last_error());
        CHECK(g4_last_error()[0] != '\0', "%s: no message", bad_names[i]);
    }
    /* huge manifest (1 MiB of whitespace before valid JSON) */
    {
        size_t n = (1u << 20) + 64;
        char *big = malloc(n + 200);
        memset(big, ' ', n);
        snprintf(big + n, 200, "{\"schemaVersion\":2,\"layers\":[]}");
        write_raw_manifest(root, "registry.ollama.ai/library/evil/huge", big);
        free(big);
        s = resolve("evil:huge", &r);
        CHECK(s == G4_ERR_FORMAT && has(g4_last_error(), "larger than"), "%d %s", s,
              g4_last_error());
    }
    /* malformed JSON, wrong shapes */
    static const struct {
        const char *json, *msg;
    } bad_json[] = {
        {"{\"schemaVersion\":2,\"layers\":[", "not valid JSON"},
        {"", "not valid JSON"},
        {"[]", "schemaVersion 2"},
        {"{\"schemaVersion\":1,\"layers\":[]}", "schemaVersion 2"},
        {"{\"schemaVersion\":\"2\",\"layers\":[]}", "schemaVersion 2"},
        {"{\"schemaVersion\":2,\"layers\":{}}", "'layers'"},
        {"{\"schemaVersion\":2}", "'layers'"},
        {"{\"schemaVersion\":2,\"layers\":[]}", "no application/vnd.ollama.image.model layer"},
        {"{\"schemaVersion\":2,\"layers\":[7]}", "layers[0]"},
        {"{\"schemaVersion\":2,\"layers\":[{\"mediaType\":1}]}", "layers[0]"},
        {"{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"" M_MODEL "\",\"digest\":\"sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"size\":-5}]}",
         "layers[0].size"},
        {"{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"" M_MODEL "\",\"digest\":\"sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"size\":1.5}]}",
         "layers[0].size"},
        {"{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"" M_MODEL "\",\"digest\":\"sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"size\":1e300}]}",
         "layers[0].size"},
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        write_raw_manifest(root, "registry.ollama.ai/library/evil/json", bad_json[i].json);
        s = resolve("evil:json", &r);
        CHECK(s == G4_ERR_FORMAT && has(g4_last_error(), bad_json[i].msg), "case %zu: %d %s", i, s,
              g4_last_error());
    }
    /* deep nesting must not crash the parser */
    {
        size_t depth = 100000;
        char *deep = malloc(2 * depth + 1);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[2 * depth] = '\0';
        write_raw_manifest(root, "registry.ollama.ai/library/evil/deep", deep);
        free(deep);
        CHECK(resolve("evil:deep", &r) == G4_ERR_FORMAT, "%s", g4_last_error());
    }
    /* missing blob, blob that is a folder, blob of the wrong size, two model layers */
    {
        layer m = {M_MODEL, "", 100};
        fake_digest(m.digest, 41);
        write_manifest(root, "registry.ollama.ai/library/evil/missing", &m, 1);
        s = resolve("evil:missing", &r);
        CHECK(s == G4_ERR_IO && has(g4_last_error(), "missing") &&
                  has(g4_last_error(), m.digest + 7),
              "%d %s", s, g4_last_error());

        char p[1024];
        blob_file(p, sizeof p, root, m.digest);
        mkdirs(p);
        s = resolve("evil:missing", &r);
        CHECK(s == G4_ERR_IO, "blob is a folder: %d %s", s, g4_last_error());

        layer sh = blob_gguf(root, 42, M_MODEL, "gemma4", 0);
        sh.size += 1000;
        write_manifest(root, "registry.ollama.ai/library/evil/short", &sh, 1);
        s = resolve("evil:short", &r);
        CHECK(s == G4_ERR_FORMAT && has(g4_last_error(), "incomplete download"), "%d %s", s,
              g4_last_error());

        layer two[] = {blob_gguf(root, 43, M_MODEL, "gemma4", 0),
                       blob_gguf(root, 44, M_MODEL, "gemma4", 0)};
        write_manifest(root, "registry.ollama.ai/library/evil/two", two, 2);
        s = resolve("evil:two", &r);
        CHECK(s == G4_ERR_FORMAT && has(g4_last_error(), "more than one model layer"), "%d %s", s,
              g4_last_error());

        /* the projector blob missing fails too (not silently text-only) */
        layer pm[] = {blob_gguf(root, 45, M_MODEL, "gemma4", 0), {M_PROJ, "", 5}};
        fake_digest(pm[1].digest, 46);
        write_manifest(root, "registry.ollama.ai/library/evil/noproj", pm, 2);
        s = resolve("evil:noproj", &r);
        CHECK(s == G4_ERR_IO && has(g4_last_error(), "projector"), "%d %s", s, g4_last_error());
    }
    /* a manifest that is a folder is "not found" */
    {
        char p[1024];
        pathf(p, sizeof p, "%s/manifests/registry.ollama.ai/library/evil/dir", root);
        mkdirs(p);
        CHECK(resolve("evil:dir", &r) == G4_ERR_NOT_FOUND, "%s", g4_last_error());
    }
    /* no OLLAMA_MODELS: falls back to $HOME/.ollama/models */
    {
        char home[600], hroot[700];
        pathf(home, sizeof home, "%s/home2", g_tmp);
        pathf(hroot, sizeof hroot, "%s/.ollama/models", home);
        layer h = blob_gguf(hroot, 51, M_MODEL, "gemma4", 0);
        write_manifest(hroot, "registry.ollama.ai/library/homemodel/e4b", &h, 1);
        char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
        unsetenv("OLLAMA_MODELS");
        setenv("HOME", home, 1);
        CHECK(resolve("homemodel:e4b", &r) == G4_OK && ends_with(r.model, h.digest + 7), "%s",
              g4_last_error());
        if (old_home)
            setenv("HOME", old_home, 1);
        free(old_home);
        setenv("OLLAMA_MODELS", root, 1);
    }
}

#endif

static void test_lmstudio(void)
{
    char lms[600], p[1024];
    pathf(lms, sizeof lms, "%s/lmstudio/models", g_tmp);
    setenv("LMSTUDIO_MODELS", lms, 1);
    unsetenv("LMSTUDIO_HOME");
    g4_resolved r;
    g4_status s;

    /* model + three projectors + drafter: f16 projector wins */
    const char *dir = "lmstudio-community/gemma-4-12b-it-GGUF";
    pathf(p, sizeof p, "%s/%s/gemma-4-12b-it-Q4_K_M.gguf", lms, dir);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/%s/mmproj-model-f32.gguf", lms, dir);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/%s/mmproj-model-bf16.gguf", lms, dir);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/%s/mmproj-model-f16.gguf", lms, dir);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/%s/gemma-4-12b-it-assistant-Q8_0.gguf", lms, dir);
    write_gguf(p, "gemma4-assistant", 0);
    pathf(p, sizeof p, "%s/%s/README.md", lms, dir);
    write_bytes(p, "hi", 2);
    pathf(p, sizeof p, "%s/%s/.hidden.gguf", lms, dir);
    write_bytes(p, "x", 1);

    CHECK(resolve(dir, &r) == G4_OK, "%s", g4_last_error());
    CHECK(ends_with(r.model, "/gemma-4-12b-it-Q4_K_M.gguf"), "%s", r.model);
    CHECK(ends_with(r.mmproj, "/mmproj-model-f16.gguf"), "%s", r.mmproj);
    CHECK(ends_with(r.draft, "/gemma-4-12b-it-assistant-Q8_0.gguf"), "%s", r.draft);
    CHECK(!strcmp(r.source, "lmstudio") && r.projector_in_model == 0, "%s", r.source);

    /* the same folder by path; trailing slash tolerated */
    pathf(p, sizeof p, "%s/%s/", lms, dir);
    CHECK(resolve(p, &r) == G4_OK && !strcmp(r.source, "path") &&
              ends_with(r.mmproj, "/mmproj-model-f16.gguf") && !strstr(r.model, "//"),
          "%s %s", g4_last_error(), r.model);

    /* publisher/model/file.gguf */
    pathf(p, sizeof p, "%s/gemma-4-12b-it-Q4_K_M.gguf", dir);
    CHECK(resolve(p, &r) == G4_OK && r.mmproj[0] == '\0' && !strcmp(r.source, "lmstudio"), "%s",
          g4_last_error());

    /* bf16 beats f32; the byte-wise smallest name breaks ties */
    pathf(p, sizeof p, "%s/pub/prec/model-Q8_0.gguf", lms);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/pub/prec/mmproj-F32.gguf", lms);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/pub/prec/mmproj-BF16.gguf", lms);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/pub/prec/mmproj-b-Q8_0.gguf", lms);
    write_gguf(p, "clip", 1);
    CHECK(resolve("pub/prec", &r) == G4_OK && ends_with(r.mmproj, "/mmproj-BF16.gguf"), "%s %s",
          g4_last_error(), r.mmproj);
    pathf(p, sizeof p, "%s/pub/tie/model.gguf", lms);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/pub/tie/mmproj-b-q8_0.gguf", lms);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/pub/tie/mmproj-a-q4_0.gguf", lms);
    write_gguf(p, "clip", 1);
    pathf(p, sizeof p, "%s/pub/tie/mtp-model.gguf", lms);
    write_gguf(p, "gemma4-assistant", 0);
    CHECK(resolve("pub/tie", &r) == G4_OK && ends_with(r.mmproj, "/mmproj-a-q4_0.gguf") &&
              ends_with(r.draft, "/mtp-model.gguf"),
          "%s %s %s", g4_last_error(), r.mmproj, r.draft);

    /* split model: shard 1 is the model, other shards are not "more models" */
    for (int k = 1; k <= 3; k++) {
        pathf(p, sizeof p, "%s/pub/split/big-Q4_K_M-%05d-of-00003.gguf", lms, k);
        write_gguf(p, "gemma4", 0);
    }
    CHECK(resolve("pub/split", &r) == G4_OK && ends_with(r.model, "big-Q4_K_M-00001-of-00003.gguf"),
          "%s %s", g4_last_error(), r.model);

    /* two quantizations: an error listing both */
    pathf(p, sizeof p, "%s/pub/twoquant/gemma-4-e4b-it-Q4_K_M.gguf", lms);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/pub/twoquant/gemma-4-e4b-it-Q8_0.gguf", lms);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/pub/twoquant/mmproj-f16.gguf", lms);
    write_gguf(p, "clip", 1);
    s = resolve("pub/twoquant", &r);
    CHECK(s == G4_ERR_INVALID_ARGUMENT && has(g4_last_error(), "gemma-4-e4b-it-Q4_K_M.gguf") &&
              has(g4_last_error(), "gemma-4-e4b-it-Q8_0.gguf") && has(g4_last_error(), "2 models"),
          "%d %s", s, g4_last_error());
    CHECK(r.model[0] == '\0', "model left set: %s", r.model);

    /* only a projector; a split model without shard 1; an empty folder */
    pathf(p, sizeof p, "%s/pub/onlyproj/mmproj-x-f16.gguf", lms);
    write_gguf(p, "clip", 1);
    s = resolve("pub/onlyproj", &r);
    CHECK(s == G4_ERR_NOT_FOUND && has(g4_last_error(), "1 projector"), "%d %s", s,
          g4_last_error());
    pathf(p, sizeof p, "%s/pub/orphan/m-00002-of-00002.gguf", lms);
    write_gguf(p, "gemma4", 0);
    s = resolve("pub/orphan", &r);
    CHECK(s == G4_ERR_NOT_FOUND && has(g4_last_error(), "m-00002-of-00002.gguf"), "%d %s", s,
          g4_last_error());
    pathf(p, sizeof p, "%s/pub/empty", lms);
    mkdirs(p);
    CHECK(resolve("pub/empty", &r) == G4_ERR_NOT_FOUND, "%s", g4_last_error());

    /* a folder model without a projector file but with inline vision tensors */
    pathf(p, sizeof p, "%s/pub/mono/gemma4-mono.gguf", lms);
    write_gguf(p, "gemma4", 1);
    CHECK(resolve("pub/mono", &r) == G4_OK && r.projector_in_model == 1, "%s", g4_last_error());

    /* other roots: $LMSTUDIO_HOME/models, ~/.lmstudio/models, legacy ~/.cache/lm-studio/models */
    char home[600];
    pathf(home, sizeof home, "%s/home", g_tmp);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    pathf(p, sizeof p, "%s/.lmstudio/models/homepub/m1/m1-Q4_0.gguf", home);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/.cache/lm-studio/models/oldpub/m2/m2-Q4_0.gguf", home);
    write_gguf(p, "gemma4", 0);
    pathf(p, sizeof p, "%s/lmshome/models/hpub/m3/m3.gguf", g_tmp);
    write_gguf(p, "gemma4", 0);
    CHECK(resolve("homepub/m1", &r) == G4_OK && ends_with(r.model, "m1-Q4_0.gguf"), "%s",
          g4_last_error());
    CHECK(resolve("oldpub/m2", &r) == G4_OK && ends_with(r.model, "m2-Q4_0.gguf"), "%s",
          g4_last_error());
    pathf(p, sizeof p, "%s/lmshome", g_tmp);
    setenv("LMSTUDIO_HOME", p, 1);
    CHECK(resolve("hpub/m3", &r) == G4_OK && ends_with(r.model, "m3.gguf"), "%s", g4_last_error());
    unsetenv("LMSTUDIO_HOME");

    /* ~/ expansion for plain paths */
    CHECK(resolve("~/.lmstudio/models/homepub/m1/m1-Q4_0.gguf", &r) == G4_OK &&
              !strcmp(r.source, "path") && !strncmp(r.model, home, strlen(home)),
          "%s %s", g4_last_error(), r.model);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);

    /* publisher/model names are components too: no traversal out of the roots */
    s = resolve("../lmstudio/models/pub/prec/x.gguf", &r);
    CHECK(s == G4_ERR_IO, "%d %s", s, g4_last_error());
    s = resolve("pub/..", &r);
    CHECK(s != G4_OK, "pub/.. resolved to %s", r.model);
}

static void test_paths(void)
{
    char dir[600], p[1024];
    pathf(dir, sizeof dir, "%s/plain", g_tmp);
    g4_resolved r;
    g4_status s;

    /* a plain file: used as is; a projector beside it is NOT guessed */
    pathf(p, sizeof p, "%s/gemma.gguf", dir);
    write_gguf(p, "gemma4", 0);
    char proj[1024];
    pathf(proj, sizeof proj, "%s/mmproj-gemma-f16.gguf", dir);
    write_gguf(proj, "clip", 1);
    CHECK(resolve(p, &r) == G4_OK && !strcmp(r.model, p) && r.mmproj[0] == '\0' &&
              r.draft[0] == '\0' && !strcmp(r.source, "path") && r.projector_in_model == 0,
          "%s", g4_last_error());
    /* a plain single-blob file: projector_in_model */
    pathf(p, sizeof p, "%s/mono.gguf", dir);
    write_gguf(p, "gemma4", 1);
    CHECK(resolve(p, &r) == G4_OK && r.projector_in_model == 1, "%s", g4_last_error());
    /* a standalone projector is not "a model with a projector" */
    CHECK(resolve(proj, &r) == G4_OK && r.projector_in_model == 0, "%s", g4_last_error());
    /* a file that is not GGUF: resolution succeeds, the loader reports it */
    pathf(p, sizeof p, "%s/notgguf.bin", dir);
    write_bytes(p, "hello", 5);
    CHECK(resolve(p, &r) == G4_OK && r.projector_in_model == 0, "%s", g4_last_error());
    /* the folder holding two models */
    s = resolve(dir, &r);
    CHECK(s == G4_ERR_INVALID_ARGUMENT && has(g4_last_error(), "gemma.gguf") &&
              has(g4_last_error(), "mono.gguf"),
          "%d %s", s, g4_last_error());

    /* missing files, bad arguments */
    s = resolve("/nonexistent/dir/model.gguf", &r);
    CHECK(s == G4_ERR_IO && has(g4_last_error(), "does not exist"), "%d %s", s, g4_last_error());
    s = resolve("model-that-is-not-here.gguf", &r);
    CHECK(s == G4_ERR_IO, "%d %s", s, g4_last_error());
    CHECK(resolve("", &r) == G4_ERR_INVALID_ARGUMENT, "empty");
    CHECK(resolve(NULL, &r) == G4_ERR_INVALID_ARGUMENT, "NULL spec");
    CHECK(g4_resolve_model("x", NULL) == G4_ERR_INVALID_ARGUMENT, "NULL out");
    char *longs = malloc(5000);
    memset(longs, 'a', 4999);
    longs[4999] = '\0';
    CHECK(resolve(longs, &r) == G4_ERR_INVALID_ARGUMENT, "%s", g4_last_error());
    free(longs);
    /* not a regular file or folder */
    CHECK(resolve("/dev/null", &r) == G4_ERR_INVALID_ARGUMENT, "%s", g4_last_error());
}

static void rm_rf(const char *path)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    pathf(g_tmp, sizeof g_tmp, "%s/g4res-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_paths();
    test_lmstudio();
#if G4_HAVE_CJSON
    test_ollama();
#else
    {
        char root[600];
        pathf(root, sizeof root, "%s/ollama/models", g_tmp);
        setenv("OLLAMA_MODELS", root, 1);
        write_raw_manifest(root, "registry.ollama.ai/library/gemma4/latest", "{}");
        g4_resolved r;
        CHECK(resolve("gemma4", &r) == G4_ERR_UNSUPPORTED, "%s", g4_last_error());
    }
#endif
    rm_rf(g_tmp);
    return T_DONE("test_resolve");
}
