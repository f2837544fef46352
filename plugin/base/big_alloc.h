/* Large, short-lived or load-time arrays (the tokenizer's tables, an encoder's scratch): one
 * allocation, on Linux an anonymous mapping advised to use transparent huge pages. With 4 KiB
 * pages the first touch of each page is a fault, and on virtual machines those faults cost:
 * they dominated the tokenizer's load time and were ~1% of an E2B image embed (its ~60 MB of
 * scratch is new for every image). Elsewhere plain malloc. */
#ifndef G4_BIG_ALLOC_H
#define G4_BIG_ALLOC_H

#include <stddef.h>

typedef struct g4_big {
    void *base;    /* what g4_big_free releases (NULL: nothing) */
    size_t mapped; /* its length */
} g4_big;

/* size bytes (at least 1), 64-byte aligned (2 MiB on Linux), or NULL; *b records the allocation. */
void *g4_big_alloc(g4_big *b, size_t size);
void g4_big_free(g4_big *b); /* idempotent */

#endif
