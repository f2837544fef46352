/* libFuzzer target: parse arbitrary bytes as GGUF, then walk everything the reader hands out, so
 * that a file which passes validation but lies somewhere is caught when its data is touched.
 *   clang -fsanitize=fuzzer,address,undefined -Iplugin -Ikernels -Ios fuzz/fuzz_gguf.c \
 *         plugin/gguf/gguf_read.c kernels/ggml_types.c -o fuzz_gguf
 *   ./fuzz_gguf fuzz/corpus/gguf */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

/* Touch every byte so ASan sees any pointer past the input; the sum keeps it from being elided. */
static uint64_t touch(const void *p, uint64_t n)
{
    const volatile uint8_t *c = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += c[i];
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    /* Exact-size copy: libFuzzer's buffer is exact too, but this keeps the target self-contained. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    g4_gguf *g = g4_gguf_open_memory(buf, size, err, sizeof err);
    if (!g) {
        if (err[0] == 0 || strlen(err) >= sizeof err)
            abort(); /* every failure must say why */
        free(buf);
        return 0;
    }
    uint64_t sum = g4_gguf_version(g) + g4_gguf_alignment(g) + g4_gguf_n_shards(g) + g4_gguf_mapped_bytes(g);
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        char key[300];
        sum += touch(kv->key.ptr, kv->key.len);
        if (kv->key.len < sizeof key) {
            memcpy(key, kv->key.ptr, kv->key.len);
            key[kv->key.len] = 0;
            if (g4_gguf_find_kv(g, key) != kv)
                abort();
            uint32_t u;
            int64_t v;
            float f;
            int b;
            g4_gguf_str s;
            uint32_t et;
            uint64_t n;
            const void *d;
            sum += (uint64_t)g4_gguf_get_u32(g, key, &u) + (uint64_t)g4_gguf_get_i64(g, key, &v) +
                   (uint64_t)g4_gguf_get_f32(g, key, &f) + (uint64_t)g4_gguf_get_bool(g, key, &b) +
                   (uint64_t)g4_gguf_get_arr(g, key, &et, &n, &d);
            if (g4_gguf_get_str(g, key, &s) == 0)
                sum += touch(s.ptr, s.len);
        }
        if (kv->type == G4_GGUF_ARRAY) {
            for (uint64_t j = 0; j < kv->arr_len; j++) {
                g4_gguf_str s;
                int64_t v;
                double d;
                if (g4_gguf_arr_str(kv, j, &s) == 0)
                    sum += touch(s.ptr, s.len);
                if (g4_gguf_arr_i64(kv, j, &v) == 0)
                    sum += (uint64_t)v;
                if (g4_gguf_arr_f64(kv, j, &d) == 0)
                    sum += d == d;
            }
        }
    }
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        char name[300];
        if (t->name.len < sizeof name) {
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = 0;
            if (g4_gguf_find_tensor(g, name) != t)
                abort();
        }
        if (t->n_dims > G4_GGUF_MAX_DIMS || !g4_type_get(t->type))
            abort();
        sum += touch(t->data, t->nbytes);
    }
    g4_gguf_close(g);
    free(buf);
    volatile uint64_t sink = sum; /* keeps the walks from being optimised away */
    (void)sink;
    return 0;
}
