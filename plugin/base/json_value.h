/* json_value — a small JSON reader (to a tree) and a growing text buffer, for the library's
 * text-in/text-out features (tool declarations and calls, JSON Schema). No dependency: the
 * library also builds where cJSON is not available (cross builds). */
#ifndef G4_JSON_VALUE_H
#define G4_JSON_VALUE_H

#include <stddef.h>

typedef enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type;

typedef struct jv {
    jv_type type;
    int boolean;
    double num;
    char *str;        /* JV_STR: the decoded text (NUL-terminated; may hold NULs, see len);
                         JV_NUM: the number as written */
    size_t len;       /* bytes of str */
    char *key;        /* member name when the parent is an object */
    struct jv *child; /* arrays and objects: first element / member, in document order */
    struct jv *next;
    size_t n;         /* number of children */
} jv;

/* Parse len bytes. NULL on error with a message in err (errn bytes). Depth is limited to 64. */
jv *jv_parse(const char *s, size_t len, char *err, size_t errn);
void jv_free(jv *v);
/* Member of an object (NULL when absent or not an object). */
const jv *jv_get(const jv *obj, const char *key);
/* Truthiness as Jinja sees it: null/false/0/""/[]/{} are false. */
int jv_truthy(const jv *v);
int jv_is_int(const jv *v); /* a number written without fraction or exponent */
/* A new node (tree building by hand, e.g. from g4_chat_message). NULL when out of memory. */
jv *jv_new(jv_type t);
jv *jv_new_str(const char *s, size_t n);
void jv_append(jv *parent, jv *child); /* child->key set by the caller for objects */

/* Growing text buffer; `oom` records a failed allocation (all later adds are dropped). */
typedef struct jbuf {
    char *s;
    size_t n, cap;
    int oom;
    struct jmarks *marks; /* optional: ranges a writer marks (see jb_mark) */
} jbuf;
/* Byte ranges of a jbuf's text, [v[2i], v[2i+1]), in the order they were marked
 * (g4_chat_render marks user-authored text so that it can be tokenized as plain text). */
typedef struct jmarks {
    size_t *v;
    size_t n, cap;
    int oom;
} jmarks;
/* Marks [start, b->n) when b->marks is set. */
void jb_mark(jbuf *b, size_t start);
void jb_add(jbuf *b, const char *s, size_t n);
void jb_str(jbuf *b, const char *s);
void jb_printf(jbuf *b, const char *fmt, ...);
/* s as a JSON string literal (quotes included). */
void jb_json_string(jbuf *b, const char *s, size_t n);
/* v written back as compact JSON. */
void jb_json(jbuf *b, const jv *v);

#endif
