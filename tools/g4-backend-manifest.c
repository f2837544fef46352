/* g4-backend-manifest: writes the backend-manifest.json of an LM Studio runtime extension pack
 * (~/.lmstudio/extensions/backends/<name>-<version>/) from g4plug's manifest/manifest.json.
 *
 *   g4-backend-manifest MANIFEST.json PLATFORM [OUT.json]      (OUT defaults to stdout)
 *   PLATFORM: linux-x86_64 | linux-aarch64 | windows-x86_64 | windows-aarch64 |
 *             macos-arm64 | macos-x86_64   (macOS uses the "universal" entry when there is one)
 *
 * The manifest is validated with g4_manifest_check first. Field mapping (manifest_version "4"
 * packs, see manifest/README.md):
 *   name        <lmstudio.engine>-<platform>-<arch>-cpu   (LM Studio's <engine>-<os>-<arch>-<variant>)
 *   version     version            engine / domains   lmstudio.engine / lmstudio.domains
 *   platform    linux | win | mac  cpu.architecture   x86_64 | ARM64
 *   cpu.instruction_set_extensions: what the least demanding ISA variant of the platform needs,
 *     in LM Studio's vocabulary (AVX2, AdvSIMD); [] with the scalar fallback, since g4plug picks
 *     the best variant at run time.
 *   supported_model_formats  model_formats as written ("gguf", as real packs write it).
 *   engine_protocol_server   {runtime_kind: llama-server, executable_relative_path} when the
 *     platform names a server_executable.
 * The library is not listed in target_libraries: those are LM Studio's own binding libraries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

#if G4_HAVE_CJSON
#include <cjson/cJSON.h>

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1u << 20, n; /* g4_manifest_check refuses anything larger anyway */
    char *b = malloc(cap + 1);
    if (!b) {
        fclose(f);
        return NULL;
    }
    n = fread(b, 1, cap + 1, f);
    fclose(f);
    b[n > cap ? cap : n] = '\0';
    *len = n;
    return b;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static int usage(void)
{
    fprintf(stderr, "usage: g4-backend-manifest MANIFEST.json PLATFORM [OUT.json]\n"
                    "  PLATFORM: linux-x86_64 linux-aarch64 windows-x86_64 windows-aarch64 "
                    "macos-arm64 macos-x86_64\n");
    return 2;
}

/* LM Studio's instruction-set vocabulary (RuntimeHardwareSurvey: AVX | AVX2 | AdvSIMD). */
static const char *lms_isa(const char *feature)
{
    if (!strcmp(feature, "avx2"))
        return "AVX2";
    if (!strcmp(feature, "asimd"))
        return "AdvSIMD";
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4)
        return usage();
    const char *target = argv[2];
    const char *dash = strchr(target, '-');
    if (!dash)
        return usage();
    char os[16];
    snprintf(os, sizeof os, "%.*s", (int)(dash - target), target);
    const char *arch = dash + 1;
    const char *lms_platform = !strcmp(os, "linux") ? "linux" : !strcmp(os, "windows") ? "win"
                               : !strcmp(os, "macos") ? "mac" : NULL;
    int is_arm = !strcmp(arch, "aarch64") || !strcmp(arch, "arm64");
    if (!lms_platform || !(is_arm || !strcmp(arch, "x86_64")))
        return usage();
    const char *m_arch = is_arm ? "aarch64" : "x86_64";

    size_t len = 0;
    char *text = read_file(argv[1], &len);
    if (!text) {
        fprintf(stderr, "g4-backend-manifest: cannot read %s\n", argv[1]);
        return 1;
    }
    if (g4_manifest_check(text, len) != G4_OK) {
        fprintf(stderr, "g4-backend-manifest: %s: %s\n", argv[1], g4_last_error());
        free(text);
        return 1;
    }
    cJSON *m = cJSON_ParseWithLength(text, len);
    free(text);
    if (!m)
        return 1;
    const cJSON *lms = get(m, "lmstudio");
    if (!lms) {
        fprintf(stderr, "g4-backend-manifest: %s has no \"lmstudio\" section\n", argv[1]);
        cJSON_Delete(m);
        return 1;
    }

    /* the platform entry: exact arch, else macOS universal */
    const cJSON *plat = NULL, *p;
    cJSON_ArrayForEach(p, get(m, "platforms"))
    {
        if (strcmp(get(p, "os")->valuestring, os) != 0)
            continue;
        const char *a = get(p, "arch")->valuestring;
        if (!strcmp(a, m_arch))
            plat = p;
        else if (!plat && !strcmp(a, "universal"))
            plat = p;
    }
    if (!plat) {
        fprintf(stderr, "g4-backend-manifest: %s lists no library for %s\n", argv[1], target);
        cJSON_Delete(m);
        return 1;
    }

    /* least demanding variant that runs on this arch */
    const cJSON *base = NULL, *vn;
    int base_n = 1 << 30;
    cJSON_ArrayForEach(vn, get(plat, "isa_variants"))
    {
        const cJSON *v;
        cJSON_ArrayForEach(v, get(m, "isa_variants"))
        {
            if (strcmp(get(v, "name")->valuestring, vn->valuestring) != 0)
                continue;
            int fits = 0;
            const cJSON *a;
            cJSON_ArrayForEach(a, get(v, "cpu_architectures")) fits |= !strcmp(a->valuestring, m_arch);
            int n = cJSON_GetArraySize(get(v, "requires"));
            if (fits && n < base_n) {
                base = v;
                base_n = n;
            }
        }
    }

    cJSON *out = cJSON_CreateObject();
    char name[256];
    snprintf(name, sizeof name, "%s-%s-%s-cpu", get(lms, "engine")->valuestring, lms_platform,
             is_arm ? "arm64" : "x86_64");
    cJSON_AddStringToObject(out, "name", name);
    cJSON_AddStringToObject(out, "version", get(m, "version")->valuestring);
    cJSON_AddStringToObject(out, "engine", get(lms, "engine")->valuestring);
    cJSON_AddStringToObject(out, "extension_type", "engine");
    cJSON_AddItemToObject(out, "domains", cJSON_Duplicate(get(lms, "domains"), 1));
    cJSON_AddItemToObject(out, "target_libraries", cJSON_CreateArray());
    cJSON_AddStringToObject(out, "platform", lms_platform);
    cJSON *cpu = cJSON_AddObjectToObject(out, "cpu");
    cJSON_AddStringToObject(cpu, "architecture", is_arm ? "ARM64" : "x86_64");
    cJSON *isa = cJSON_AddArrayToObject(cpu, "instruction_set_extensions");
    const cJSON *f;
    if (base)
        cJSON_ArrayForEach(f, get(base, "requires"))
        {
            const char *s = lms_isa(f->valuestring);
            if (s)
                cJSON_AddItemToArray(isa, cJSON_CreateString(s));
        }
    cJSON_AddItemToObject(out, "supported_model_formats", cJSON_Duplicate(get(m, "model_formats"), 1));
    const cJSON *mv = get(lms, "manifest_version");
    cJSON_AddStringToObject(out, "manifest_version", mv ? mv->valuestring : "4");
    const cJSON *minv = get(lms, "minimum_lmstudio_version");
    if (minv)
        cJSON_AddStringToObject(out, "minimum_lmstudio_version", minv->valuestring);
    const cJSON *srv = get(plat, "server_executable");
    if (srv) {
        cJSON *eps = cJSON_AddObjectToObject(out, "engine_protocol_server");
        cJSON_AddStringToObject(eps, "runtime_kind", "llama-server");
        cJSON_AddStringToObject(eps, "executable_relative_path", srv->valuestring);
    }

    char *json = cJSON_Print(out);
    cJSON_Delete(out);
    cJSON_Delete(m);
    FILE *o = argc == 4 ? fopen(argv[3], "wb") : stdout;
    int rc = 0;
    if (!o || !json || fprintf(o, "%s\n", json) < 0) {
        fprintf(stderr, "g4-backend-manifest: cannot write %s\n", argc == 4 ? argv[3] : "stdout");
        rc = 1;
    }
    if (o && o != stdout && fclose(o) != 0)
        rc = 1;
    free(json);
    return rc;
}

#else
int main(void)
{
    fprintf(stderr, "g4-backend-manifest: built without cJSON (install libcjson-dev and rebuild)\n");
    return 1;
}
#endif
