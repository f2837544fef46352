/* g4-gguf-dump: prints a GGUF file's version, metadata (arrays abbreviated) and tensor table.
 * Usage: g4-gguf-dump [-a] FILE.gguf    (-a prints arrays and strings in full) */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"

static const char *vtype_name(uint32_t t)
{
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "str", "arr", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Strings are printed quoted, with control bytes escaped and long ones cut. */
static void print_str(g4_gguf_str s, uint64_t max)
{
    putchar('"');
    for (uint64_t i = 0; i < s.len && i < max; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (s.len > max)
        printf("...(%" PRIu64 " bytes)", s.len);
}

static void print_scalar(uint32_t type, const void *p)
{
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; uint64_t u64; int64_t i64; double f64;
    } v;
    memcpy(&v, p, g4_gguf_vtype_size(type) ? g4_gguf_vtype_size(type) : 1);
    switch (type) {
    case G4_GGUF_UINT8: printf("%u", v.u8); break;
    case G4_GGUF_INT8: printf("%d", v.i8); break;
    case G4_GGUF_UINT16: printf("%u", v.u16); break;
    case G4_GGUF_INT16: printf("%d", v.i16); break;
    case G4_GGUF_UINT32: printf("%" PRIu32, v.u32); break;
    case G4_GGUF_INT32: printf("%" PRId32, v.i32); break;
    case G4_GGUF_FLOAT32: printf("%.9g", v.f32); break;
    case G4_GGUF_BOOL: printf("%s", v.u8 ? "true" : "false"); break;
    case G4_GGUF_UINT64: printf("%" PRIu64, v.u64); break;
    case G4_GGUF_INT64: printf("%" PRId64, v.i64); break;
    case G4_GGUF_FLOAT64: printf("%.17g", v.f64); break;
    default: printf("?");
    }
}

int main(int argc, char **argv)
{
    int full = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-a") == 0)
            full = 1;
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s [-a] FILE.gguf\n", argv[0]);
        return 2;
    }
    char err[512];
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("version %u, alignment %u, shards %u, %" PRIu64 " bytes mapped\n", g4_gguf_version(g),
           g4_gguf_alignment(g), g4_gguf_n_shards(g), g4_gguf_mapped_bytes(g));
    int64_t n_kv = g4_gguf_n_kv(g);
    printf("%" PRId64 " metadata entries:\n", n_kv);
    for (int64_t i = 0; i < n_kv; i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        printf("  %.*s ", (int)kv->key.len, kv->key.ptr);
        if (kv->type == G4_GGUF_STRING) {
            g4_gguf_str s;
            memcpy(&s.len, kv->data, 8);
            s.ptr = (const char *)kv->data + 8;
            printf("str = ");
            print_str(s, full ? UINT64_MAX : 200);
        } else if (kv->type == G4_GGUF_ARRAY) {
            uint64_t show = full ? kv->arr_len : (kv->arr_len < 8 ? kv->arr_len : 8);
            printf("arr[%s x %" PRIu64 "] = [", vtype_name(kv->arr_type), kv->arr_len);
            for (uint64_t j = 0; j < show; j++) {
                if (j)
                    printf(", ");
                if (kv->arr_type == G4_GGUF_STRING) {
                    g4_gguf_str s;
                    if (g4_gguf_arr_str(kv, j, &s) == 0)
                        print_str(s, full ? UINT64_MAX : 60);
                } else if (g4_gguf_vtype_size(kv->arr_type)) {
                    print_scalar(kv->arr_type, (const char *)kv->data + j * g4_gguf_vtype_size(kv->arr_type));
                } else {
                    printf("...");
                    break;
                }
            }
            printf("%s]", show < kv->arr_len ? ", ..." : "");
        } else {
            printf("%s = ", vtype_name(kv->type));
            print_scalar(kv->type, kv->data);
        }
        putchar('\n');
    }
    int64_t n_t = g4_gguf_n_tensors(g);
    printf("%" PRId64 " tensors:\n", n_t);
    for (int64_t i = 0; i < n_t; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        const g4_type_info *ti = g4_type_get(t->type);
        printf("  %-40.*s %-7s [", (int)t->name.len, t->name.ptr, ti ? ti->name : "?");
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf("%s%" PRId64, d ? ", " : "", t->ne[d]);
        printf("] offset %" PRIu64 " nbytes %" PRIu64, t->offset, t->nbytes);
        if (g4_gguf_n_shards(g) > 1)
            printf(" shard %u", t->shard);
        putchar('\n');
    }
    g4_gguf_close(g);
    return 0;
}
