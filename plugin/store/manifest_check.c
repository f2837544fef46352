/* Plugin manifest validation: the rules of manifest/manifest.schema.json, written out in C (no
 * generic schema engine). Every message names the offending field by its JSON path, e.g.
 * "manifest field 'platforms[2].library': ...". tests/test_manifest.c derives a failing mutation
 * from every rule in the schema and checks that each is caught here; keep the two in step. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"

#define MANIFEST_MAX (1u << 20)

#if G4_HAVE_CJSON
#include <cjson/cJSON.h>

#define PATH_CAP 160

static g4_status bad(const char *path, const char *fmt, ...) G4_PRINTF(2, 3);
static g4_status bad(const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return g4_fail(G4_ERR_FORMAT, "manifest field '%s': %s", path, msg);
}

/* Path building; dst may be base. Long paths (hostile keys) are cut, never overrun. */
static void append(char *dst, const char *s)
{
    size_t n = strlen(dst), m = strlen(s);
    if (m > PATH_CAP - 1 - n)
        m = PATH_CAP - 1 - n;
    memmove(dst + n, s, m);
    dst[n + m] = '\0';
}

static void join(char *dst, const char *base, const char *key)
{
    if (dst != base) {
        dst[0] = '\0';
        append(dst, base);
    }
    if (dst[0])
        append(dst, ".");
    append(dst, key);
}

static void join_idx(char *dst, const char *base, int i)
{
    char idx[16];
    snprintf(idx, sizeof idx, "[%d]", i);
    if (dst != base) {
        dst[0] = '\0';
        append(dst, base);
    }
    append(dst, idx);
}

/* ------------------------------------------------------------------ patterns */

static int is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static int is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* ^[a-z0-9]+(?:[SEP][a-z0-9]+)*$ where SEP is any char of seps */
static int pat_words(const char *s, const char *seps)
{
    if (!is_lower_alnum(*s))
        return 0;
    for (; *s; s++) {
        if (is_lower_alnum(*s))
            continue;
        if (!strchr(seps, *s) || !is_lower_alnum(s[1]))
            return 0;
    }
    return 1;
}
static int pat_kebab(const char *s) { return pat_words(s, "-"); }
static int pat_kebab_dot(const char *s) { return pat_words(s, "-."); }

/* (0|[1-9][0-9]*); advances *s. max_digits 0 = unbounded. */
static int num_no_lead_zero(const char **s, int max_digits)
{
    const char *p = *s;
    if (!is_digit(*p))
        return 0;
    if (*p == '0') {
        p++;
    } else {
        while (is_digit(*p))
            p++;
    }
    if (max_digits && p - *s > max_digits)
        return 0;
    *s = p;
    return !is_digit(*p);
}

/* [0-9A-Za-z-]+(\.[0-9A-Za-z-]+)* ; advances *s */
static int dot_idents(const char **s)
{
    const char *p = *s;
    for (;;) {
        const char *start = p;
        while (is_alnum(*p) || *p == '-')
            p++;
        if (p == start)
            return 0;
        if (*p != '.')
            break;
        p++;
    }
    *s = p;
    return 1;
}

static int pat_semver(const char *s)
{
    if (!num_no_lead_zero(&s, 0) || *s++ != '.' || !num_no_lead_zero(&s, 0) || *s++ != '.' ||
        !num_no_lead_zero(&s, 0))
        return 0;
    if (*s == '-' && (s++, !dot_idents(&s)))
        return 0;
    if (*s == '+' && (s++, !dot_idents(&s)))
        return 0;
    return *s == '\0';
}

static int pat_abi_version(const char *s) /* ^1\.(0|[1-9][0-9]{0,4})$ */
{
    if (s[0] != '1' || s[1] != '.')
        return 0;
    s += 2;
    return num_no_lead_zero(&s, 5) && *s == '\0';
}

static int pat_c_ident(const char *s)
{
    if (!(is_alnum(*s) || *s == '_') || is_digit(*s))
        return 0;
    for (; *s; s++)
        if (!(is_alnum(*s) || *s == '_'))
            return 0;
    return 1;
}

static int pat_header(const char *s) /* ^[A-Za-z0-9_][A-Za-z0-9_.-]*\.h$ */
{
    size_t n = strlen(s);
    if (n < 3 || strcmp(s + n - 2, ".h") != 0 || !(is_alnum(s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 0; i < n - 2; i++)
        if (!(is_alnum(s[i]) || strchr("_.-", s[i])))
            return 0;
    return 1;
}

static int pat_file_name(const char *s) /* ^[A-Za-z0-9][A-Za-z0-9._+-]*$ */
{
    if (!is_alnum(*s))
        return 0;
    for (; *s; s++)
        if (!(is_alnum(*s) || strchr("._+-", *s)))
            return 0;
    return 1;
}

/* [A-Za-z0-9_+-]+ ; advances *s */
static int lib_stem(const char **s)
{
    const char *p = *s;
    while (is_alnum(*p) || *p == '_' || *p == '+' || *p == '-')
        p++;
    if (p == *s)
        return 0;
    *s = p;
    return 1;
}

static int pat_lib_linux(const char *s) /* ^lib[A-Za-z0-9_+-]+\.so\.[0-9]+$ */
{
    if (strncmp(s, "lib", 3) != 0)
        return 0;
    s += 3;
    if (!lib_stem(&s) || strncmp(s, ".so.", 4) != 0)
        return 0;
    s += 4;
    if (!is_digit(*s))
        return 0;
    while (is_digit(*s))
        s++;
    return *s == '\0';
}

static int pat_lib_windows(const char *s) /* ^[A-Za-z0-9_+-]+\.dll$ */
{
    return lib_stem(&s) && strcmp(s, ".dll") == 0;
}

static int pat_lib_macos(const char *s) /* ^lib[A-Za-z0-9_+-]+\.[0-9]+\.dylib$ */
{
    if (strncmp(s, "lib", 3) != 0)
        return 0;
    s += 3;
    if (!lib_stem(&s) || *s++ != '.' || !is_digit(*s))
        return 0;
    while (is_digit(*s))
        s++;
    return strcmp(s, ".dylib") == 0;
}

static int pat_small_uint(const char *s) /* ^[1-9][0-9]{0,3}$ */
{
    size_t n = strlen(s);
    if (n < 1 || n > 4 || s[0] == '0')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static int pat_lms_version(const char *s) /* ^N.N.N(\+[0-9]+)?$ */
{
    if (!num_no_lead_zero(&s, 0) || *s++ != '.' || !num_no_lead_zero(&s, 0) || *s++ != '.' ||
        !num_no_lead_zero(&s, 0))
        return 0;
    if (*s == '+') {
        s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

/* ------------------------------------------------------------------ generic checks */

/* Duplicate keys make a manifest mean different things to different readers: reject them. */
static g4_status check_dupes(const cJSON *n, const char *path)
{
    char sub[PATH_CAP];
    int i = 0;
    /* Every object the schema allows has at most 17 keys (additionalProperties: false), so a
     * bound here rejects nothing valid and keeps the pairwise scan cheap. */
    if (cJSON_IsObject(n) && cJSON_GetArraySize(n) > 64)
        return bad(path[0] ? path : "(root)", "object has more than 64 keys");
    for (const cJSON *c = n ? n->child : NULL; c; c = c->next, i++) {
        if (cJSON_IsObject(n)) {
            for (const cJSON *d = n->child; d != c; d = d->next)
                if (!strcmp(d->string, c->string)) {
                    join(sub, path, c->string);
                    return bad(sub, "duplicate key");
                }
            join(sub, path, c->string);
        } else {
            join_idx(sub, path, i);
        }
        if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            g4_status st = check_dupes(c, sub);
            if (st != G4_OK)
                return st;
        }
    }
    return G4_OK;
}

static const char *type_name(const cJSON *n)
{
    if (cJSON_IsString(n))
        return "a string";
    if (cJSON_IsNumber(n))
        return "a number";
    if (cJSON_IsBool(n))
        return "a boolean";
    if (cJSON_IsNull(n))
        return "null";
    if (cJSON_IsArray(n))
        return "an array";
    return "an object";
}

/* additionalProperties:false and required. */
static g4_status check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                            const char *const *required)
{
    char sub[PATH_CAP];
    if (!cJSON_IsObject(obj))
        return bad(path[0] ? path : "(root)", "must be an object, not %s", type_name(obj));
    for (const cJSON *c = obj->child; c; c = c->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, c->string);
        if (!ok) {
            join(sub, path, c->string);
            return bad(sub, "unknown key (allowed here: see manifest.schema.json)");
        }
    }
    for (const char *const *r = required; *r; r++)
        if (!cJSON_GetObjectItemCaseSensitive(obj, *r)) {
            join(sub, path, *r);
            return bad(sub, "required but missing");
        }
    return G4_OK;
}

/* JSON Schema "integer": a number with no fractional part (kept within int range here). */
static int is_integer(const cJSON *n)
{
    if (!cJSON_IsNumber(n))
        return 0;
    double v = n->valuedouble;
    return v >= -2147483648.0 && v <= 2147483647.0 && v == (double)(int)v;
}

typedef int (*pattern_fn)(const char *);

static g4_status check_string(const cJSON *n, const char *path, size_t min_len, size_t max_len,
                              pattern_fn pat, const char *pat_desc)
{
    if (!cJSON_IsString(n))
        return bad(path, "must be a string, not %s", type_name(n));
    size_t len = strlen(n->valuestring);
    if (len < min_len)
        return bad(path, "must be at least %zu characters", min_len);
    if (max_len && len > max_len)
        return bad(path, "must be at most %zu characters (is %zu)", max_len, len);
    if (pat && !pat(n->valuestring))
        return bad(path, "\"%.80s\" does not match %s", n->valuestring, pat_desc);
    return G4_OK;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

static g4_status check_enum(const cJSON *n, const char *path, const char *const *values)
{
    if (!cJSON_IsString(n) || !in_list(n->valuestring, values)) {
        char allowed[300] = "";
        size_t u = 0;
        for (const char *const *v = values; *v && u < sizeof allowed; v++) {
            int w = snprintf(allowed + u, sizeof allowed - u, "%s\"%s\"", u ? ", " : "", *v);
            if (w < 0)
                break;
            u += (size_t)w;
        }
        if (cJSON_IsString(n))
            return bad(path, "\"%.80s\" is not one of %s", n->valuestring, allowed);
        return bad(path, "must be one of %s, not %s", allowed, type_name(n));
    }
    return G4_OK;
}

/* An array of strings from `values`: minItems, uniqueItems, items.enum, contains.const. */
static g4_status check_str_array(const cJSON *n, const char *path, int min_items,
                                 const char *const *values, const char *must_contain)
{
    char sub[PATH_CAP];
    if (!cJSON_IsArray(n))
        return bad(path, "must be an array, not %s", type_name(n));
    int count = cJSON_GetArraySize(n);
    if (count < min_items)
        return bad(path, "must have at least %d item%s", min_items, min_items == 1 ? "" : "s");
    int i = 0, has = 0;
    for (const cJSON *c = n->child; c; c = c->next, i++) {
        join_idx(sub, path, i);
        g4_status st = check_enum(c, sub, values);
        if (st != G4_OK)
            return st;
        for (const cJSON *d = n->child; d != c; d = d->next)
            if (!strcmp(d->valuestring, c->valuestring))
                return bad(path, "\"%s\" is listed twice (items must be unique)", c->valuestring);
        has |= must_contain && !strcmp(c->valuestring, must_contain);
    }
    if (must_contain && !has)
        return bad(path, "must contain \"%s\"", must_contain);
    return G4_OK;
}

/* ------------------------------------------------------------------ the schema */

static const char *const k_isa_names[] = {"scalar", "avx2", "avx512", "neon", NULL};
static const char *const k_cpu_features[] = {"avx2",     "fma",        "f16c",       "avx512f", "avx512bw",
                                             "avx512vl", "avx512dq",   "avx512vnni", "avx512bf16",
                                             "asimd",    "dotprod",    "i8mm",       "fp16",    NULL};
static const char *const k_cpu_archs[] = {"x86_64", "aarch64", NULL};

static g4_status check_abi(const cJSON *abi)
{
    static const char *const allowed[] = {"version", "entry_point", "header", NULL};
    static const char *const required[] = {"version", "entry_point", NULL};
    g4_status st = check_keys(abi, "abi", allowed, required);
    if (st == G4_OK)
        st = check_string(cJSON_GetObjectItemCaseSensitive(abi, "version"), "abi.version", 0, 0,
                          pat_abi_version, "^1\\.(0|[1-9][0-9]{0,4})$ (ABI major 1)");
    if (st == G4_OK)
        st = check_string(cJSON_GetObjectItemCaseSensitive(abi, "entry_point"), "abi.entry_point",
                          0, 64, pat_c_ident, "a C identifier");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(abi, "header");
    if (st == G4_OK && h)
        st = check_string(h, "abi.header", 0, 255, pat_header, "^[A-Za-z0-9_][A-Za-z0-9_.-]*\\.h$");
    return st;
}

static g4_status check_isa_variant(const cJSON *v, const char *path)
{
    static const char *const allowed[] = {"name",     "cpu_architectures", "requires", "optional",
                                          "os_state", "description",       NULL};
    static const char *const required[] = {"name", "cpu_architectures", "requires", NULL};
    static const char *const os_states[] = {"ymm", "zmm", NULL};
    char sub[PATH_CAP];
    g4_status st = check_keys(v, path, allowed, required);
    if (st != G4_OK)
        return st;
    join(sub, path, "name");
    if ((st = check_enum(cJSON_GetObjectItemCaseSensitive(v, "name"), sub, k_isa_names)) != G4_OK)
        return st;
    join(sub, path, "cpu_architectures");
    if ((st = check_str_array(cJSON_GetObjectItemCaseSensitive(v, "cpu_architectures"), sub, 1,
                              k_cpu_archs, NULL)) != G4_OK)
        return st;
    join(sub, path, "requires");
    if ((st = check_str_array(cJSON_GetObjectItemCaseSensitive(v, "requires"), sub, 0,
                              k_cpu_features, NULL)) != G4_OK)
        return st;
    const cJSON *n;
    if ((n = cJSON_GetObjectItemCaseSensitive(v, "optional")) != NULL) {
        join(sub, path, "optional");
        if ((st = check_str_array(n, sub, 0, k_cpu_features, NULL)) != G4_OK)
            return st;
    }
    if ((n = cJSON_GetObjectItemCaseSensitive(v, "os_state")) != NULL) {
        join(sub, path, "os_state");
        if ((st = check_str_array(n, sub, 0, os_states, NULL)) != G4_OK)
            return st;
    }
    if ((n = cJSON_GetObjectItemCaseSensitive(v, "description")) != NULL) {
        join(sub, path, "description");
        if ((st = check_string(n, sub, 0, 1000, NULL, NULL)) != G4_OK)
            return st;
    }
    return G4_OK;
}

static g4_status check_platform(const cJSON *p, const char *path)
{
    static const char *const allowed[] = {"os", "arch", "library", "isa_variants", "server_executable",
                                          NULL};
    static const char *const required[] = {"os", "arch", "library", "isa_variants", NULL};
    static const char *const oses[] = {"linux", "windows", "macos", NULL};
    static const char *const archs[] = {"x86_64", "aarch64", "universal", NULL};
    static const char *const fname = "^[A-Za-z0-9][A-Za-z0-9._+-]*$";
    char sub[PATH_CAP];
    g4_status st = check_keys(p, path, allowed, required);
    if (st != G4_OK)
        return st;
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(p, "os");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(p, "arch");
    const cJSON *lib = cJSON_GetObjectItemCaseSensitive(p, "library");
    join(sub, path, "os");
    if ((st = check_enum(os, sub, oses)) != G4_OK)
        return st;
    join(sub, path, "arch");
    if ((st = check_enum(arch, sub, archs)) != G4_OK)
        return st;
    join(sub, path, "library");
    if ((st = check_string(lib, sub, 1, 255, pat_file_name, fname)) != G4_OK)
        return st;
    join(sub, path, "isa_variants");
    if ((st = check_str_array(cJSON_GetObjectItemCaseSensitive(p, "isa_variants"), sub, 1,
                              k_isa_names, "scalar")) != G4_OK)
        return st;
    const cJSON *srv = cJSON_GetObjectItemCaseSensitive(p, "server_executable");
    if (srv) {
        join(sub, path, "server_executable");
        if ((st = check_string(srv, sub, 1, 255, pat_file_name, fname)) != G4_OK)
            return st;
    }
    /* allOf: per-OS file naming; "universal" is a macOS-only arch */
    const char *o = os->valuestring;
    if (strcmp(o, "macos") != 0 && !in_list(arch->valuestring, k_cpu_archs)) {
        join(sub, path, "arch");
        return bad(sub, "\"%s\" is only valid with os \"macos\"", arch->valuestring);
    }
    join(sub, path, "library");
    if (!strcmp(o, "linux") && !pat_lib_linux(lib->valuestring))
        return bad(sub, "\"%.80s\" does not match ^lib[A-Za-z0-9_+-]+\\.so\\.[0-9]+$ (os linux)",
                   lib->valuestring);
    if (!strcmp(o, "windows") && !pat_lib_windows(lib->valuestring))
        return bad(sub, "\"%.80s\" does not match ^[A-Za-z0-9_+-]+\\.dll$ (os windows)",
                   lib->valuestring);
    if (!strcmp(o, "macos") && !pat_lib_macos(lib->valuestring))
        return bad(sub, "\"%.80s\" does not match ^lib[A-Za-z0-9_+-]+\\.[0-9]+\\.dylib$ (os macos)",
                   lib->valuestring);
    return G4_OK;
}

static g4_status check_lmstudio(const cJSON *l)
{
    static const char *const allowed[] = {"engine", "domains", "manifest_version",
                                          "minimum_lmstudio_version", NULL};
    static const char *const required[] = {"engine", "domains", NULL};
    static const char *const domains[] = {"llm", "embedding", NULL};
    g4_status st = check_keys(l, "lmstudio", allowed, required);
    if (st == G4_OK)
        st = check_string(cJSON_GetObjectItemCaseSensitive(l, "engine"), "lmstudio.engine", 1, 100,
                          pat_kebab_dot, "^[a-z0-9]+(?:[-.][a-z0-9]+)*$");
    if (st == G4_OK)
        st = check_str_array(cJSON_GetObjectItemCaseSensitive(l, "domains"), "lmstudio.domains", 1,
                             domains, NULL);
    const cJSON *n;
    if (st == G4_OK && (n = cJSON_GetObjectItemCaseSensitive(l, "manifest_version")) != NULL)
        st = check_string(n, "lmstudio.manifest_version", 0, 0, pat_small_uint, "^[1-9][0-9]{0,3}$");
    if (st == G4_OK && (n = cJSON_GetObjectItemCaseSensitive(l, "minimum_lmstudio_version")) != NULL)
        st = check_string(n, "lmstudio.minimum_lmstudio_version", 0, 0, pat_lms_version,
                          "MAJOR.MINOR.PATCH[+BUILD]");
    return st;
}

/* x-g4 rules: unique variant names, unique (os, arch), declared variants that fit the arch. */
static g4_status check_cross_refs(const cJSON *variants, const cJSON *platforms)
{
    char sub[PATH_CAP];
    int i = 0;
    for (const cJSON *v = variants->child; v; v = v->next, i++) {
        const char *name = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
        for (const cJSON *w = variants->child; w != v; w = w->next)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(w, "name")->valuestring, name)) {
                join_idx(sub, "isa_variants", i);
                join(sub, sub, "name");
                return bad(sub, "variant \"%s\" is declared twice", name);
            }
    }
    i = 0;
    for (const cJSON *p = platforms->child; p; p = p->next, i++) {
        const char *os = cJSON_GetObjectItemCaseSensitive(p, "os")->valuestring;
        const char *arch = cJSON_GetObjectItemCaseSensitive(p, "arch")->valuestring;
        char base[PATH_CAP];
        join_idx(base, "platforms", i);
        for (const cJSON *q = platforms->child; q != p; q = q->next)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(q, "os")->valuestring, os) &&
                !strcmp(cJSON_GetObjectItemCaseSensitive(q, "arch")->valuestring, arch))
                return bad(base, "platform %s-%s is listed twice", os, arch);
        int j = 0;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "isa_variants");
        for (const cJSON *n = list->child; n; n = n->next, j++) {
            join(sub, base, "isa_variants");
            join_idx(sub, sub, j);
            const cJSON *decl = NULL;
            for (const cJSON *v = variants->child; v && !decl; v = v->next)
                if (!strcmp(cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring, n->valuestring))
                    decl = v;
            if (!decl)
                return bad(sub, "variant \"%s\" is not declared in isa_variants", n->valuestring);
            int fits = 0;
            const cJSON *archs = cJSON_GetObjectItemCaseSensitive(decl, "cpu_architectures");
            for (const cJSON *a = archs->child; a && !fits; a = a->next)
                fits = !strcmp(arch, "universal") || !strcmp(a->valuestring, arch);
            if (!fits)
                return bad(sub, "variant \"%s\" does not run on %s", n->valuestring, arch);
        }
    }
    return G4_OK;
}

static g4_status check_root(const cJSON *j)
{
    static const char *const allowed[] = {
        "$schema",       "manifest_version", "type",            "owner",         "name",
        "version",       "revision",         "description",     "abi",           "model_formats",
        "architectures", "modalities",       "projector_types", "model_sources", "isa_variants",
        "platforms",     "lmstudio",         NULL};
    static const char *const required[] = {"manifest_version", "type",          "owner",
                                           "name",             "version",       "abi",
                                           "model_formats",    "architectures", "modalities",
                                           "isa_variants",     "platforms",     NULL};
    static const char *const formats[] = {"gguf", NULL};
    static const char *const archs[] = {"gemma4", "gemma4-assistant", NULL};
    static const char *const modalities[] = {"text", "image", "audio", NULL};
    static const char *const projectors[] = {"gemma4v", "gemma4a", "gemma4uv", "gemma4ua", NULL};
    static const char *const sources[] = {"path", "lmstudio", "ollama", NULL};
    static const char *const engine[] = {"engine", NULL};

    g4_status st = check_dupes(j, "");
    if (st == G4_OK)
        st = check_keys(j, "", allowed, required);
    if (st != G4_OK)
        return st;
    const cJSON *n;
#define GET(k) cJSON_GetObjectItemCaseSensitive(j, k)
    if ((n = GET("$schema")) && (st = check_string(n, "$schema", 0, 1000, NULL, NULL)) != G4_OK)
        return st;
    n = GET("manifest_version");
    if (!is_integer(n))
        return bad("manifest_version", "must be an integer, not %s",
                   cJSON_IsNumber(n) ? "a fraction or out of range" : type_name(n));
    if (n->valuedouble != 1)
        return bad("manifest_version", "must be 1 (this library reads manifest version 1)");
    if ((st = check_enum(GET("type"), "type", engine)) != G4_OK ||
        (st = check_string(GET("owner"), "owner", 1, 100, pat_kebab, "^[a-z0-9]+(?:-[a-z0-9]+)*$")) != G4_OK ||
        (st = check_string(GET("name"), "name", 1, 100, pat_kebab_dot, "^[a-z0-9]+(?:[-.][a-z0-9]+)*$")) != G4_OK ||
        (st = check_string(GET("version"), "version", 0, 64, pat_semver, "semver MAJOR.MINOR.PATCH[-PRE][+BUILD]")) != G4_OK)
        return st;
    if ((n = GET("revision")) != NULL) {
        if (!is_integer(n))
            return bad("revision", "must be an integer, not %s",
                       cJSON_IsNumber(n) ? "a fraction or out of range" : type_name(n));
        if (n->valuedouble < 1 || n->valuedouble > 2147483647.0)
            return bad("revision", "must be between 1 and 2147483647");
    }
    if ((n = GET("description")) && (st = check_string(n, "description", 0, 1000, NULL, NULL)) != G4_OK)
        return st;
    if ((st = check_abi(GET("abi"))) != G4_OK ||
        (st = check_str_array(GET("model_formats"), "model_formats", 1, formats, NULL)) != G4_OK ||
        (st = check_str_array(GET("architectures"), "architectures", 1, archs, "gemma4")) != G4_OK ||
        (st = check_str_array(GET("modalities"), "modalities", 1, modalities, "text")) != G4_OK)
        return st;
    if ((n = GET("projector_types")) && (st = check_str_array(n, "projector_types", 0, projectors, NULL)) != G4_OK)
        return st;
    if ((n = GET("model_sources")) && (st = check_str_array(n, "model_sources", 0, sources, NULL)) != G4_OK)
        return st;

    char sub[PATH_CAP];
    const cJSON *variants = GET("isa_variants"), *platforms = GET("platforms");
    if (!cJSON_IsArray(variants))
        return bad("isa_variants", "must be an array, not %s", type_name(variants));
    if (cJSON_GetArraySize(variants) < 1)
        return bad("isa_variants", "must have at least 1 item");
    int i = 0;
    for (const cJSON *v = variants->child; v; v = v->next, i++) {
        join_idx(sub, "isa_variants", i);
        if ((st = check_isa_variant(v, sub)) != G4_OK)
            return st;
    }
    if (!cJSON_IsArray(platforms))
        return bad("platforms", "must be an array, not %s", type_name(platforms));
    if (cJSON_GetArraySize(platforms) < 1)
        return bad("platforms", "must have at least 1 item");
    i = 0;
    for (const cJSON *p = platforms->child; p; p = p->next, i++) {
        join_idx(sub, "platforms", i);
        if ((st = check_platform(p, sub)) != G4_OK)
            return st;
    }
    if ((n = GET("lmstudio")) && (st = check_lmstudio(n)) != G4_OK)
        return st;
#undef GET
    return check_cross_refs(variants, platforms);
}
#endif

G4_API g4_status G4_CALL g4_manifest_check(const char *json, size_t len)
{
    g4_clear_error();
    if (!json)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_manifest_check: json is NULL");
    if (len > MANIFEST_MAX)
        return g4_fail(G4_ERR_FORMAT, "manifest is %zu bytes; at most %u are accepted", len,
                       MANIFEST_MAX);
#if G4_HAVE_CJSON
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!j) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        return g4_fail(G4_ERR_FORMAT, "manifest is not valid JSON (near byte %zu)", at);
    }
    /* trailing non-whitespace after the value is an error too */
    for (const char *p = end; p && p < json + len; p++)
        if (*p != '\0' && !strchr(" \t\r\n", *p)) { /* trailing NULs: a len that counted the terminator */
            cJSON_Delete(j);
            return g4_fail(G4_ERR_FORMAT, "manifest has data after the JSON value (byte %zu)",
                           (size_t)(p - json));
        }
    g4_status st = check_root(j);
    cJSON_Delete(j);
    return st;
#else
    (void)len;
    return g4_fail(G4_ERR_UNSUPPORTED,
                   "g4_manifest_check: this build has no JSON reader (built without cJSON)");
#endif
}
