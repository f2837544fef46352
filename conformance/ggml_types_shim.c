/* The GGUF reader (plugin/gguf_read.c) validates tensor types with g4_type_get from
 * kernels/ggml_types.c, which the Makefile rule for g4-conformance does not list. Compile the
 * real table in from here (no copy) until the rule names kernels/ggml_types.c itself; then
 * delete this file (a duplicate-symbol link error will say so). */
#include "ggml_types.c"
