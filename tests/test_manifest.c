/* g4_manifest_check against manifest/manifest.schema.json.
 *
 * The shipped manifest/manifest.json must pass. Then the test walks the schema itself and, for
 * every rule it states (type, const, enum, pattern, minLength, maxLength, minimum, minItems,
 * uniqueItems, contains, required, additionalProperties), derives a mutation of the manifest that
 * breaks exactly that rule, and expects G4_ERR_FORMAT with a message naming the field by its JSON
 * path. A keyword the walker does not know fails the test, so a rule added to the schema cannot go
 * unchecked. The allOf/if-then rules and the x-g4-* rules (which JSON Schema cannot state) are
 * tested by hand below.
 * Run from the repository root (or set G4_SRCDIR). G4_MANIFEST_DUMP=dir writes every mutated
 * manifest there, to cross-check with an independent JSON Schema validator. */
#include <stdarg.h>
#include <stdint.h>

#include "base/internal.h"
#include "t.h"

#if G4_HAVE_CJSON
#include <cjson/cJSON.h>

static char *read_text(const char *rel, size_t *len)
{
    char path[1024];
    const char *src = getenv("G4_SRCDIR");
    snprintf(path, sizeof path, "%s%s%s", src && *src ? src : "", src && *src ? "/" : "", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

/* ------------------------------------------------------------------ JSON paths */

typedef struct jpath {
    const char *key[24]; /* NULL: array index idx[i] */
    int idx[24];
    int n;
} jpath;

static jpath path_key(jpath p, const char *k)
{
    p.key[p.n] = k;
    p.idx[p.n++] = -1;
    return p;
}

static jpath path_idx(jpath p, int i)
{
    p.key[p.n] = NULL;
    p.idx[p.n++] = i;
    return p;
}

static void path_str(const jpath *p, char *out, size_t cap)
{
    size_t u = 0;
    out[0] = '\0';
    if (p->n == 0)
        snprintf(out, cap, "(root)");
    for (int i = 0; i < p->n && u < cap; i++) {
        int w = p->key[i] ? snprintf(out + u, cap - u, "%s%s", u ? "." : "", p->key[i])
                          : snprintf(out + u, cap - u, "[%d]", p->idx[i]);
        if (w > 0)
            u += (size_t)w;
    }
}

static cJSON *nav(cJSON *root, const jpath *p, int depth)
{
    cJSON *n = root;
    for (int i = 0; i < depth && n; i++)
        n = p->key[i] ? cJSON_GetObjectItemCaseSensitive(n, p->key[i]) : cJSON_GetArrayItem(n, p->idx[i]);
    return n;
}

/* ------------------------------------------------------------------ mutations */

typedef enum { M_SET, M_DEL, M_ADD_KEY, M_APPEND_DUP, M_FILTER } mkind;

typedef struct walker {
    const cJSON *schema; /* root, for $ref */
    cJSON *doc;          /* the full (valid) manifest */
    int n_mutations;
    int per_keyword[16];
    const char *dump_dir;
} walker;

static const char *const k_keywords[] = {"type",        "const",    "enum",     "pattern",
                                         "minLength",   "maxLength", "minimum", "maximum", "minItems",
                                         "uniqueItems", "contains", "required", "additionalProperties",
                                         NULL};

static int kw_index(const char *k)
{
    for (int i = 0; k_keywords[i]; i++)
        if (!strcmp(k_keywords[i], k))
            return i;
    return 15;
}

/* Applies one mutation to a copy of the document; expects G4_ERR_FORMAT naming `expect`. */
static void mutate(walker *w, const char *keyword, mkind kind, const jpath *p, cJSON *value,
                   const char *expect_path)
{
    cJSON *doc = cJSON_Duplicate(w->doc, 1);
    cJSON *target = nav(doc, p, p->n);
    int applied = target != NULL;
    if (applied) {
        switch (kind) {
        case M_SET:
            if (p->n == 0) {
                cJSON_Delete(doc);
                doc = value;
                value = NULL;
            } else {
                cJSON *parent = nav(doc, p, p->n - 1);
                if (p->key[p->n - 1])
                    cJSON_ReplaceItemInObjectCaseSensitive(parent, p->key[p->n - 1], value);
                else
                    cJSON_ReplaceItemInArray(parent, p->idx[p->n - 1], value);
                value = NULL;
            }
            break;
        case M_DEL: {
            cJSON *parent = nav(doc, p, p->n - 1);
            cJSON_DeleteItemFromObjectCaseSensitive(parent, p->key[p->n - 1]);
            break;
        }
        case M_ADD_KEY:
            cJSON_AddNumberToObject(target, "zz_unknown", 1);
            break;
        case M_APPEND_DUP:
            cJSON_AddItemToArray(target, cJSON_Duplicate(target->child, 1));
            break;
        case M_FILTER: /* remove every element equal to the string in value */
            for (int i = cJSON_GetArraySize(target) - 1; i >= 0; i--)
                if (cJSON_IsString(cJSON_GetArrayItem(target, i)) &&
                    !strcmp(cJSON_GetArrayItem(target, i)->valuestring, value->valuestring))
                    cJSON_DeleteItemFromArray(target, i);
            break;
        }
    }
    cJSON_Delete(value);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    char where[256];
    path_str(p, where, sizeof where);
    CHECK(applied && text, "%s at %s: could not apply", keyword, where);
    if (!applied || !text) {
        free(text);
        return;
    }
    w->n_mutations++;
    w->per_keyword[kw_index(keyword)]++;
    if (w->dump_dir) {
        char fn[600];
        snprintf(fn, sizeof fn, "%s/mut-%03d-%s.json", w->dump_dir, w->n_mutations, keyword);
        FILE *f = fopen(fn, "wb");
        if (f) {
            fputs(text, f);
            fclose(f);
        }
    }
    g4_status st = g4_manifest_check(text, strlen(text));
    char quoted[300];
    snprintf(quoted, sizeof quoted, "'%s'", expect_path);
    CHECK(st == G4_ERR_FORMAT && strstr(g4_last_error(), quoted),
          "%s at %s: expected G4_ERR_FORMAT naming %s, got %s: %s", keyword, where, quoted,
          g4_status_name(st), g4_last_error());
    free(text);
}

static const cJSON *resolve_ref(const walker *w, const cJSON *s)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (!cJSON_IsString(ref) || strncmp(ref->valuestring, "#/$defs/", 8) != 0)
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(w->schema, "$defs"),
                                            ref->valuestring + 8);
}

static int is_annotation(const char *k)
{
    static const char *const a[] = {"$schema", "$id", "title", "description", "examples",
                                    "$comment", "$defs", "default", NULL};
    for (int i = 0; a[i]; i++)
        if (!strcmp(a[i], k))
            return 1;
    return !strncmp(k, "x-g4-", 5);
}

static const cJSON *examples_of(const walker *w, const cJSON *s)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(s, "examples");
    if (!e) {
        const cJSON *r = resolve_ref(w, s);
        e = r ? cJSON_GetObjectItemCaseSensitive(r, "examples") : NULL;
    }
    return cJSON_IsArray(e) ? cJSON_GetArrayItem(e, 0) : NULL;
}

/* Fills absent optional properties with the schema's first example so their rules are walked. */
static void fill_optional(walker *w, const cJSON *s, cJSON *inst)
{
    if (!s || !inst)
        return;
    const cJSON *r = resolve_ref(w, s);
    if (r)
        fill_optional(w, r, inst);
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    if (props && cJSON_IsObject(inst)) {
        for (const cJSON *ps = props->child; ps; ps = ps->next) {
            cJSON *child = cJSON_GetObjectItemCaseSensitive(inst, ps->string);
            if (!child) {
                const cJSON *ex = examples_of(w, ps);
                CHECK(ex != NULL, "schema property '%s' is not in manifest.json and has no examples",
                      ps->string);
                if (!ex)
                    continue;
                child = cJSON_Duplicate(ex, 1);
                cJSON_AddItemToObject(inst, ps->string, child);
            }
            fill_optional(w, ps, child);
        }
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (items && cJSON_IsArray(inst))
        for (cJSON *c = inst->child; c; c = c->next)
            fill_optional(w, items, c);
}

static void walk(walker *w, const cJSON *s, const cJSON *inst, jpath p)
{
    char here[256];
    path_str(&p, here, sizeof here);
    for (const cJSON *kw = s->child; kw; kw = kw->next) {
        const char *k = kw->string;
        if (is_annotation(k))
            continue;
        if (!strcmp(k, "$ref")) {
            const cJSON *r = resolve_ref(w, s);
            CHECK(r != NULL, "unresolvable $ref at %s", here);
            if (r)
                walk(w, r, inst, p);
        } else if (!strcmp(k, "type")) {
            const char *t = kw->valuestring;
            if (!strcmp(t, "string")) {
                mutate(w, k, M_SET, &p, cJSON_CreateNumber(42), here);
            } else if (!strcmp(t, "integer")) {
                mutate(w, k, M_SET, &p, cJSON_CreateString("1"), here);
                mutate(w, k, M_SET, &p, cJSON_CreateNumber(1.5), here);
                mutate(w, k, M_SET, &p, cJSON_CreateNumber(1e300), here);
            } else if (!strcmp(t, "array")) {
                mutate(w, k, M_SET, &p, cJSON_CreateObject(), here);
                mutate(w, k, M_SET, &p, cJSON_CreateString("x"), here);
            } else if (!strcmp(t, "object")) {
                mutate(w, k, M_SET, &p, cJSON_CreateArray(), here);
                mutate(w, k, M_SET, &p, cJSON_CreateNull(), here);
            } else {
                CHECK(0, "type %s at %s: not handled by the walker", t, here);
            }
        } else if (!strcmp(k, "const")) {
            mutate(w, k, M_SET, &p,
                   cJSON_IsNumber(kw) ? cJSON_CreateNumber(kw->valuedouble + 1000)
                                      : cJSON_CreateString("zz-not-const"),
                   here);
        } else if (!strcmp(k, "enum")) {
            mutate(w, k, M_SET, &p, cJSON_CreateString("zz-not-in-enum"), here);
            mutate(w, k, M_SET, &p, cJSON_CreateNumber(3), here);
        } else if (!strcmp(k, "pattern")) {
            mutate(w, k, M_SET, &p, cJSON_CreateString("Bad Value!"), here);
        } else if (!strcmp(k, "minLength")) {
            if (kw->valueint >= 1)
                mutate(w, k, M_SET, &p, cJSON_CreateString(""), here);
        } else if (!strcmp(k, "maxLength")) {
            size_t n = (size_t)kw->valueint + 1;
            char *long_s = malloc(n + 1);
            memset(long_s, 'a', n);
            long_s[n] = '\0';
            mutate(w, k, M_SET, &p, cJSON_CreateString(long_s), here);
            free(long_s);
        } else if (!strcmp(k, "minimum")) {
            mutate(w, k, M_SET, &p, cJSON_CreateNumber(kw->valuedouble - 1), here);
        } else if (!strcmp(k, "maximum")) {
            mutate(w, k, M_SET, &p, cJSON_CreateNumber(kw->valuedouble + 1), here);
        } else if (!strcmp(k, "minItems")) {
            if (kw->valueint >= 1)
                mutate(w, k, M_SET, &p, cJSON_CreateArray(), here);
        } else if (!strcmp(k, "uniqueItems")) {
            if (cJSON_IsTrue(kw) && cJSON_GetArraySize(inst) > 0)
                mutate(w, k, M_APPEND_DUP, &p, NULL, here);
        } else if (!strcmp(k, "contains")) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(kw, "const");
            CHECK(cJSON_IsString(c) && cJSON_GetArraySize(kw) == 1, "contains at %s: only {const} handled",
                  here);
            if (cJSON_IsString(c))
                mutate(w, k, M_FILTER, &p, cJSON_CreateString(c->valuestring), here);
        } else if (!strcmp(k, "items")) {
            int i = 0;
            for (const cJSON *e = inst ? inst->child : NULL; e; e = e->next, i++)
                walk(w, kw, e, path_idx(p, i));
        } else if (!strcmp(k, "properties")) {
            for (const cJSON *ps = kw->child; ps; ps = ps->next) {
                const cJSON *child = cJSON_GetObjectItemCaseSensitive(inst, ps->string);
                if (child)
                    walk(w, ps, child, path_key(p, ps->string));
            }
        } else if (!strcmp(k, "required")) {
            for (const cJSON *r = kw->child; r; r = r->next) {
                jpath q = path_key(p, r->valuestring);
                char there[256];
                path_str(&q, there, sizeof there);
                mutate(w, k, M_DEL, &q, NULL, there);
            }
        } else if (!strcmp(k, "additionalProperties")) {
            CHECK(cJSON_IsFalse(kw), "additionalProperties at %s: only false handled", here);
            jpath q = path_key(p, "zz_unknown");
            char there[256];
            path_str(&q, there, sizeof there);
            mutate(w, k, M_ADD_KEY, &p, NULL, there);
        } else if (!strcmp(k, "allOf")) {
            /* if/then per-OS rules: tested by hand in test_conditionals() */
        } else {
            CHECK(0, "schema keyword '%s' at %s is not handled by the test walker", k, here);
        }
    }
}

/* ------------------------------------------------------------------ hand-written cases */

static g4_status check_doc(const cJSON *doc)
{
    char *t = cJSON_PrintUnformatted(doc);
    g4_clear_error();
    g4_status st = g4_manifest_check(t, strlen(t));
    free(t);
    return st;
}

static cJSON *at(cJSON *doc, const char *a, int i, const char *b)
{
    cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, a);
    if (i >= 0)
        n = cJSON_GetArrayItem(n, i);
    return b ? cJSON_GetObjectItemCaseSensitive(n, b) : n;
}

static void set_str(cJSON *doc, const char *a, int i, const char *b, const char *v)
{
    cJSON *obj = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, a), i);
    cJSON_ReplaceItemInObjectCaseSensitive(obj, b, cJSON_CreateString(v));
}

static int platform_index(const cJSON *doc, const char *os, const char *arch)
{
    int i = 0;
    for (const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "platforms")->child; p; p = p->next, i++)
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(p, "os")->valuestring, os) &&
            !strcmp(cJSON_GetObjectItemCaseSensitive(p, "arch")->valuestring, arch))
            return i;
    return -1;
}

static void expect_bad(cJSON *doc, const char *field, const char *what)
{
    g4_status st = check_doc(doc);
    char quoted[200];
    snprintf(quoted, sizeof quoted, "'%s'", field);
    CHECK(st == G4_ERR_FORMAT && strstr(g4_last_error(), quoted), "%s: %s %s", what,
          g4_status_name(st), g4_last_error());
    cJSON_Delete(doc);
}

static void test_conditionals(const cJSON *base)
{
    int lx = platform_index(base, "linux", "x86_64"), la = platform_index(base, "linux", "aarch64");
    int wx = platform_index(base, "windows", "x86_64"), mu = platform_index(base, "macos", "universal");
    CHECK(lx >= 0 && la >= 0 && wx >= 0 && mu >= 0, "shipped manifest lacks a platform");
    if (lx < 0 || la < 0 || wx < 0 || mu < 0)
        return;
    char f[64];
    cJSON *d;

    /* allOf[0..2]: per-OS library naming */
    static const struct {
        const char *lib;
        int ok_linux, ok_windows, ok_macos;
    } libs[] = {
        {"libg4plug.so.1", 1, 0, 0}, {"libg4plug.so.12", 1, 0, 0}, {"libg4plug.so", 0, 0, 0},
        {"g4plug.so.1", 0, 0, 0},    {"g4plug.dll", 0, 1, 0},      {"libg4plug.dll", 0, 1, 0},
        {"g4plug.DLL", 0, 0, 0},     {"libg4plug.1.dylib", 0, 0, 1}, {"libg4plug.dylib", 0, 0, 0},
        {"lib.so.1", 0, 0, 0},       {"libg4plug.so.1.0", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        const int idx[3] = {lx, wx, mu};
        const int ok[3] = {libs[i].ok_linux, libs[i].ok_windows, libs[i].ok_macos};
        for (int o = 0; o < 3; o++) {
            d = cJSON_Duplicate(base, 1);
            set_str(d, "platforms", idx[o], "library", libs[i].lib);
            snprintf(f, sizeof f, "platforms[%d].library", idx[o]);
            if (ok[o]) {
                CHECK(check_doc(d) == G4_OK, "%s on platform %d: %s", libs[i].lib, idx[o],
                      g4_last_error());
                cJSON_Delete(d);
            } else {
                expect_bad(d, f, libs[i].lib);
            }
        }
    }
    /* "universal" only for macOS; windows-aarch64 is fine */
    d = cJSON_Duplicate(base, 1);
    set_str(d, "platforms", lx, "arch", "universal");
    snprintf(f, sizeof f, "platforms[%d].arch", lx);
    expect_bad(d, f, "linux universal");
    d = cJSON_Duplicate(base, 1);
    set_str(d, "platforms", wx, "arch", "universal");
    snprintf(f, sizeof f, "platforms[%d].arch", wx);
    expect_bad(d, f, "windows universal");
    d = cJSON_Duplicate(base, 1);
    cJSON_AddItemToArray(at(d, "platforms", -1, NULL),
                         cJSON_Parse("{\"os\":\"windows\",\"arch\":\"aarch64\",\"library\":\"g4plug.dll\","
                                     "\"isa_variants\":[\"scalar\",\"neon\"]}"));
    CHECK(check_doc(d) == G4_OK, "windows-aarch64: %s", g4_last_error());
    cJSON_Delete(d);

    /* x-g4-unique-by name / (os, arch) */
    d = cJSON_Duplicate(base, 1);
    set_str(d, "isa_variants", 1, "name", "scalar");
    expect_bad(d, "isa_variants[1].name", "duplicate variant");
    d = cJSON_Duplicate(base, 1);
    cJSON_AddItemToArray(at(d, "platforms", -1, NULL), cJSON_Duplicate(at(d, "platforms", lx, NULL), 1));
    snprintf(f, sizeof f, "platforms[%d]", cJSON_GetArraySize(at(d, "platforms", -1, NULL)) - 1);
    expect_bad(d, f, "duplicate platform");
    /* platform variants must be declared, and run on the platform's arch */
    d = cJSON_Duplicate(base, 1);
    {
        cJSON *vs = at(d, "isa_variants", -1, NULL);
        for (int i = cJSON_GetArraySize(vs) - 1; i >= 0; i--)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(vs, i), "name")->valuestring, "neon"))
                cJSON_DeleteItemFromArray(vs, i);
        cJSON *list = at(d, "platforms", la, "isa_variants");
        int j = 0;
        for (const cJSON *n = list->child; n && strcmp(n->valuestring, "neon"); n = n->next)
            j++;
        snprintf(f, sizeof f, "platforms[%d].isa_variants[%d]", la, j);
    }
    expect_bad(d, f, "undeclared variant");
    d = cJSON_Duplicate(base, 1);
    cJSON_AddItemToArray(at(d, "platforms", la, "isa_variants"), cJSON_CreateString("avx2"));
    snprintf(f, sizeof f, "platforms[%d].isa_variants[%d]", la,
             cJSON_GetArraySize(at(d, "platforms", la, "isa_variants")) - 1);
    expect_bad(d, f, "avx2 on aarch64");
    d = cJSON_Duplicate(base, 1);
    cJSON_AddItemToArray(at(d, "platforms", mu, "isa_variants"), cJSON_CreateString("avx2"));
    snprintf(f, sizeof f, "platforms[%d].isa_variants", mu);
    expect_bad(d, f, "universal: duplicate avx2 (uniqueItems)");
}

static void test_strings(const cJSON *base)
{
    static const struct {
        const char *field, *value;
        int ok;
    } cases[] = {
        {"version", "1.0.0", 1},        {"version", "0.0.0", 1},         {"version", "10.20.30", 1},
        {"version", "1.0.0-rc.1+b.5", 1}, {"version", "1.0.0-alpha-1", 1}, {"version", "1.0.0+20260101", 1},
        {"version", "1.0", 0},          {"version", "01.0.0", 0},        {"version", "1.0.0-", 0},
        {"version", "1.0.0+", 0},       {"version", "1.0.0-a..b", 0},    {"version", "1.0.0.0", 0},
        {"version", "v1.0.0", 0},       {"version", " 1.0.0", 0},        {"version", "1.0.0-é", 0},
        {"owner", "g4-plug", 1},        {"owner", "g4--plug", 0},        {"owner", "-g4", 0},
        {"owner", "g4.plug", 0},        {"owner", "G4", 0},              {"owner", "g4-", 0},
        {"name", "g4.plug-x", 1},       {"name", "g4..plug", 0},         {"name", "g4_plug", 0},
        {"$schema", "anything", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *d = cJSON_Duplicate(base, 1);
        cJSON_ReplaceItemInObjectCaseSensitive(d, cases[i].field, cJSON_CreateString(cases[i].value));
        if (cases[i].ok) {
            CHECK(check_doc(d) == G4_OK, "%s=\"%s\": %s", cases[i].field, cases[i].value, g4_last_error());
            cJSON_Delete(d);
        } else {
            expect_bad(d, cases[i].field, cases[i].value);
        }
    }
    static const struct {
        const char *value;
        int ok;
    } abi[] = {{"1.0", 1}, {"1.10", 1}, {"1.99999", 1}, {"2.0", 0}, {"1.00", 0},
               {"1", 0},   {"1.0.0", 0}, {"1.100000", 0}, {"01.0", 0}};
    for (size_t i = 0; i < sizeof abi / sizeof *abi; i++) {
        cJSON *d = cJSON_Duplicate(base, 1);
        cJSON_ReplaceItemInObjectCaseSensitive(at(d, "abi", -1, NULL), "version",
                                               cJSON_CreateString(abi[i].value));
        if (abi[i].ok) {
            CHECK(check_doc(d) == G4_OK, "abi.version=%s: %s", abi[i].value, g4_last_error());
            cJSON_Delete(d);
        } else {
            expect_bad(d, "abi.version", abi[i].value);
        }
    }
    cJSON *d = cJSON_Duplicate(base, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(at(d, "abi", -1, NULL), "entry_point", cJSON_CreateString("9api"));
    expect_bad(d, "abi.entry_point", "identifier starting with a digit");
}

static void test_text(const char *good, size_t good_len)
{
    g4_status st;
    /* duplicate keys, at the top and nested */
    size_t n = good_len + 64;
    char *t = malloc(n);
    const char *brace = strchr(good, '{');
    snprintf(t, n, "{\"name\":\"other\",%s", brace + 1);
    st = g4_manifest_check(t, strlen(t));
    CHECK(st == G4_ERR_FORMAT && strstr(g4_last_error(), "'name'") && strstr(g4_last_error(), "duplicate"),
          "%s", g4_last_error());
    const char *abi = strstr(good, "\"abi\"");
    const char *abi_brace = abi ? strchr(abi, '{') : NULL;
    if (abi_brace) {
        snprintf(t, n, "%.*s\"header\":\"x.h\",%s", (int)(abi_brace + 1 - good), good, abi_brace + 1);
        st = g4_manifest_check(t, strlen(t));
        CHECK(st == G4_ERR_FORMAT && strstr(g4_last_error(), "'abi.header'"), "%s", g4_last_error());
    }
    free(t);
    /* trailing garbage vs trailing whitespace / NUL */
    t = malloc(good_len + 8);
    memcpy(t, good, good_len);
    memcpy(t + good_len, " \n\0", 3);
    CHECK(g4_manifest_check(t, good_len + 3) == G4_OK, "trailing NUL: %s", g4_last_error());
    memcpy(t + good_len, " x", 2);
    CHECK(g4_manifest_check(t, good_len + 2) == G4_ERR_FORMAT, "trailing garbage accepted");
    free(t);
    /* truncated, empty, not JSON, NULL, too large */
    CHECK(g4_manifest_check(good, good_len / 2) == G4_ERR_FORMAT, "truncated accepted");
    CHECK(g4_manifest_check("", 0) == G4_ERR_FORMAT, "empty accepted");
    CHECK(g4_manifest_check("manifest", 8) == G4_ERR_FORMAT, "not JSON accepted");
    CHECK(g4_manifest_check("[]", 2) == G4_ERR_FORMAT && strstr(g4_last_error(), "'(root)'"), "%s",
          g4_last_error());
    CHECK(g4_manifest_check(NULL, 3) == G4_ERR_INVALID_ARGUMENT, "NULL");
    CHECK(g4_manifest_check(good, (1u << 20) + 1) == G4_ERR_FORMAT &&
              strstr(g4_last_error(), "at most"),
          "%s", g4_last_error());
    /* an object with very many keys is refused quickly, not scanned pairwise */
    {
        size_t cap = 40 * 20000 + 16, u = 0;
        char *big = malloc(cap);
        u += (size_t)snprintf(big + u, cap - u, "{");
        for (int i = 0; i < 20000; i++)
            u += (size_t)snprintf(big + u, cap - u, "%s\"k%d\":%d", i ? "," : "", i, i);
        u += (size_t)snprintf(big + u, cap - u, "}");
        CHECK(g4_manifest_check(big, u) == G4_ERR_FORMAT && strstr(g4_last_error(), "64 keys"), "%s",
              g4_last_error());
        free(big);
    }
    /* deep nesting */
    {
        size_t depth = 5000;
        char *deep = malloc(2 * depth + 1);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        CHECK(g4_manifest_check(deep, 2 * depth) == G4_ERR_FORMAT, "deep nesting accepted");
        free(deep);
    }
}

int main(void)
{
    size_t mlen = 0, slen = 0;
    char *mtext = read_text("manifest/manifest.json", &mlen);
    char *stext = read_text("manifest/manifest.schema.json", &slen);
    CHECK(mtext && stext, "cannot read manifest/manifest.json or manifest.schema.json (run from the repo root or set G4_SRCDIR)");
    if (!mtext || !stext)
        return T_DONE("test_manifest");

    /* the shipped manifest passes */
    g4_status st = g4_manifest_check(mtext, mlen);
    CHECK(st == G4_OK, "manifest/manifest.json: %s", g4_last_error());

    cJSON *schema = cJSON_Parse(stext), *doc = cJSON_Parse(mtext);
    CHECK(schema && doc, "parse");
    const cJSON *draft = cJSON_GetObjectItemCaseSensitive(schema, "$schema");
    CHECK(cJSON_IsString(draft) && !strcmp(draft->valuestring, "https://json-schema.org/draft/2020-12/schema"),
          "schema is not draft 2020-12");

    walker w = {schema, doc, 0, {0}, getenv("G4_MANIFEST_DUMP")};
    fill_optional(&w, schema, doc);
    CHECK(check_doc(doc) == G4_OK, "manifest with every optional field: %s", g4_last_error());
    walk(&w, schema, doc, (jpath){{0}, {0}, 0});
    for (int i = 0; k_keywords[i]; i++)
        CHECK(w.per_keyword[i] > 0, "no mutation exercised keyword '%s'", k_keywords[i]);
    CHECK(w.n_mutations > 150, "only %d mutations", w.n_mutations);
    printf("test_manifest: %d schema-derived mutations\n", w.n_mutations);

    test_conditionals(doc);
    test_strings(doc);
    test_text(mtext, mlen);

    cJSON_Delete(schema);
    cJSON_Delete(doc);
    free(mtext);
    free(stext);
    return T_DONE("test_manifest");
}

#else
int main(void)
{
    g4_status st = g4_manifest_check("{}", 2);
    CHECK(st == G4_ERR_UNSUPPORTED && strstr(g4_last_error(), "cJSON"), "%s", g4_last_error());
    return T_DONE("test_manifest");
}
#endif
