/* g4: command-line host for libg4plug. Reaches the library only through dlopen (g4_dl), exactly
 * like a third-party host would.
 *
 *   g4 generate -m MODEL -p PROMPT [options]   stream a completion
 *   g4 run [MODEL] [PROMPT]                    chat (generate --chat); no PROMPT: interactive;
 *                                              no MODEL: the embedded default model, end to end
 *   g4 info MODEL                              model facts and metadata highlights
 *   g4 tokenize -m MODEL TEXT                  token ids and pieces
 */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h> /* SetConsoleCtrlHandler */
#endif

#include "cli_video.h"
#include "cache_type.h"
#include "mm_precision.h"
#include "g4_dl.h"
#include "install_lmstudio.h"

static g4dl g_dl;
static const g4_api_v1 *A;

/* ---- Ctrl-C ------------------------------------------------------------------------------- */

/* First Ctrl-C: cancel the running step (g4_session_cancel is async-signal-safe). Second: leave. */
static atomic_int g_interrupts;
static _Atomic(g4_session *) g_session;

static void on_sigint(int sig)
{
    (void)sig;
    if (atomic_fetch_add(&g_interrupts, 1) >= 1)
        _exit(130);
    g4_session *s = atomic_load(&g_session);
    if (s)
        A->session_cancel(s);
}

#ifdef _WIN32
/* Console control handlers run on a thread of their own; TRUE means "handled, keep running". */
static BOOL WINAPI on_console_ctrl(DWORD ev)
{
    if (ev != CTRL_C_EVENT && ev != CTRL_BREAK_EVENT)
        return FALSE;
    on_sigint(SIGINT);
    return TRUE;
}
static void install_sigint(void) { SetConsoleCtrlHandler(on_console_ctrl, TRUE); }
#else
static void install_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
}
#endif

/* ---- Helpers ------------------------------------------------------------------------------- */

static void fatal(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "g4: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fatal(1, "out of memory");
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned char *read_all(FILE *f, size_t *size)
{
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
        if (len == cap) {
            cap *= 2;
            unsigned char *nb = realloc(buf, cap + 1);
            if (!nb)
                fatal(1, "out of memory");
            buf = nb;
        }
    }
    buf[len] = '\0';
    *size = len;
    return buf;
}

/* Largest image or audio file g4 reads (a 256 MiB WAV is about 70 minutes of 16-bit 16 kHz
 * stereo at 48 kHz... more than the audio encoder takes in one prompt). */
#define G4_CLI_MAX_MEDIA_BYTES ((long long)256 << 20)

static unsigned char *read_file(const char *path, size_t *size)
{
    /* Media files only: a regular file of bounded size, checked before reading (/dev/zero, a
     * FIFO or a huge file would otherwise be read until memory runs out). */
    struct stat sb;
    if (stat(path, &sb) != 0)
        fatal(2, "%s: %s", path, strerror(errno));
    if ((sb.st_mode & S_IFMT) != S_IFREG)
        fatal(2, "%s: not a regular file", path);
    if ((long long)sb.st_size > G4_CLI_MAX_MEDIA_BYTES)
        fatal(2, "%s: %lld bytes is more than the %lld-byte limit for media files", path,
              (long long)sb.st_size, G4_CLI_MAX_MEDIA_BYTES);
    FILE *f = fopen(path, "rb");
    if (!f)
        fatal(2, "%s: %s", path, strerror(errno));
    unsigned char *b = read_all(f, size);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        fatal(2, "%s: read error", path);
    return b;
}

static void open_library(const char *lib, int need_model)
{
    char err[4096];
    if (g4dl_open(lib, &g_dl, err, sizeof err) != 0)
        fatal(2, "%s", err);
    A = g_dl.api;
    if (need_model && (!A->load || !A->tokenize || !A->session_new || !A->step))
        fatal(2, "%s lacks the model entry points (library built without model support?)",
              g_dl.path);
}

/* ---- Loading ------------------------------------------------------------------------------- */

static int32_t G4_CALL progress_bar(void *ud, float p)
{
    (void)ud;
    int w = 40, fill = (int)(p * w + 0.5f);
    if (fill < 0)
        fill = 0;
    if (fill > w)
        fill = w;
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", fill, "########################################",
            w - fill, "", (int)(p * 100 + 0.5f));
    fflush(stderr);
    return atomic_load(&g_interrupts) == 0; /* Ctrl-C while loading cancels the load */
}

typedef struct common {
    const char *model, *mmproj, *draft, *lib;
    int threads, n_ctx;
    const char *cache_k, *cache_v; /* --cache-type-k / -v; NULL: f16 (G4_HOST_DEFAULT_CACHE_TYPE) */
    const char *mm_precision;      /* --mm-precision f32|bf16|q8; NULL: f32 */
} common;

static int cache_type_of(const char *name, const char *opt)
{
    if (!name)
        return G4_HOST_DEFAULT_CACHE_TYPE;
    int t = g4_cache_type_parse(name);
    if (t < 0)
        fatal(2, "%s %s: expected f32, f16, bf16 or q8_0", opt, name);
    return t;
}

/* Session parameters from the common options: context, threads, KV cache types. */
static void session_params_from(const common *c, g4_session_params *sp)
{
    G4DL_INIT(A, session_params, sp);
    sp->n_ctx = c->n_ctx;
    sp->n_threads = c->threads;
    if (sp->struct_size >= offsetof(g4_session_params, kv_type_v) + sizeof sp->kv_type_v) { /* 1.1 library */
        sp->kv_type_k = cache_type_of(c->cache_k, "--cache-type-k");
        sp->kv_type_v = cache_type_of(c->cache_v, "--cache-type-v");
    }
}

/* Loads c->model (+ mmproj, draft); on failure returns NULL with *st set and the library's
 * message in A->last_error(). */
static g4_model *try_load_model(const common *c, uint32_t flags, g4_status *st_out)
{
    g4_load_params p;
    G4DL_INIT(A, load_params, &p);
    p.model = c->model;
    p.mmproj = c->mmproj;
    p.draft = c->draft;
    p.n_threads = c->threads;
    p.n_ctx = c->n_ctx;
    p.flags = flags;
    if (c->mm_precision) {
        int mp = g4_mm_precision_parse(c->mm_precision);
        if (mp < 0)
            fatal(2, "--mm-precision %s: expected f32, bf16 or q8", c->mm_precision);
        if (g4_mm_precision_apply(&p, mp) != 0)
            fatal(2, "--mm-precision %s needs a 1.1 library", c->mm_precision);
    }
    int tty = isatty(2);
    if (tty) {
        p.progress = progress_bar;
        install_sigint();
    }
    g4_model *m = NULL;
    g4_status st = A->load(&p, &m);
    if (tty)
        fprintf(stderr, "\r%*s\r", 60, "");
    *st_out = st;
    if (st != G4_OK)
        return NULL;
    atomic_store(&g_interrupts, 0);
    return m;
}

static g4_model *load_model(const common *c, uint32_t flags)
{
    g4_status st;
    g4_model *m = try_load_model(c, flags, &st);
    if (!m)
        fatal(st == G4_ERR_CANCELLED ? 130 : 1, "cannot load %s: %s: %s", c->model,
              A->status_name(st), A->last_error());
    return m;
}

/* ---- Streaming output ---------------------------------------------------------------------- */

/* Token pieces can end mid-way through a UTF-8 character (byte tokens): hold back an
 * incomplete tail until the rest arrives. */
typedef struct streamer {
    const g4_model *m;
    char pend[64];
    size_t n_pend;
    int n_tokens;
    int quiet;  /* collect only, print nothing */
    char *text; /* everything emitted, for the chat history */
    size_t text_len, text_cap;
} streamer;

static size_t utf8_complete_prefix(const char *s, size_t n)
{
    size_t i = n;
    /* walk back over at most 3 continuation bytes to the last lead byte */
    size_t back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return back == n ? n : 0; /* only continuation bytes: invalid anyway, let them out */
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3
                                  : (lead & 0xF8) == 0xF0 ? 4 : 1;
    return back + 1 >= need ? n : i - 1;
}

static void stream_out(streamer *st, const char *s, size_t n)
{
    if (!st->quiet) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
    if (st->text_len + n + 1 > st->text_cap) {
        st->text_cap = (st->text_len + n + 1) * 2;
        char *nt = realloc(st->text, st->text_cap);
        if (!nt)
            fatal(1, "out of memory");
        st->text = nt;
    }
    memcpy(st->text + st->text_len, s, n);
    st->text_len += n;
    st->text[st->text_len] = '\0';
}

static int32_t G4_CALL on_token(void *ud, int32_t tok)
{
    streamer *st = ud;
    st->n_tokens++;
    if (A->token_is_eog(st->m, tok))
        return 0;
    char piece[256];
    size_t len = 0;
    if (A->token_to_piece(st->m, tok, 0, piece, sizeof piece, &len) != G4_OK || len > sizeof piece)
        return atomic_load(&g_interrupts) == 0;
    if (st->n_pend + len > sizeof st->pend) { /* never happens with valid UTF-8: flush */
        stream_out(st, st->pend, st->n_pend);
        st->n_pend = 0;
    }
    if (st->n_pend + len <= sizeof st->pend) {
        memcpy(st->pend + st->n_pend, piece, len);
        st->n_pend += len;
    } else {
        stream_out(st, piece, len);
    }
    size_t ok = utf8_complete_prefix(st->pend, st->n_pend);
    stream_out(st, st->pend, ok);
    memmove(st->pend, st->pend + ok, st->n_pend - ok);
    st->n_pend -= ok;
    return atomic_load(&g_interrupts) == 0;
}

/* ---- Prompt building ----------------------------------------------------------------------- */

typedef struct gen_opts {
    common c;
    const char *prompt, *image, *audio;
    int n_predict, chat, seed_set, n_predict_set, temp_set;
    int special_in_content; /* parse control tokens typed into chat messages (old behaviour) */
    int media_markers;      /* <|image|>/<|audio|> in the text are placeholders (media spliced by the caller) */
    cli_video_args video; /* --video and its options (hosts/cli/cli_video.c) */
    int show_prompt;
    float temp;
    uint64_t seed;
} gen_opts;

typedef struct chat_msg {
    const char *role;
    char *content;
} chat_msg;

/* The prompt text: chat-formatted (which starts with <bos>) or raw. */
static char *format_prompt(const g4_model *m, const chat_msg *msgs, size_t n, int chat,
                           int *has_bos)
{
    if (!chat) {
        *has_bos = 0;
        size_t l = strlen(msgs[n - 1].content);
        char *t = xmalloc(l + 1);
        memcpy(t, msgs[n - 1].content, l + 1);
        return t;
    }
    g4_chat_message *cm = xmalloc(sizeof *cm * n);
    memset(cm, 0, sizeof *cm * n);
    for (size_t i = 0; i < n; i++) {
        cm[i].role = msgs[i].role;
        cm[i].content = msgs[i].content;
    }
    size_t len = 0;
    g4_status st = A->chat_format(m, cm, n, G4_CHAT_ADD_GENERATION_PROMPT, NULL, 0, &len);
    char *out = NULL;
    if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
        out = xmalloc(len + 1);
        st = A->chat_format(m, cm, n, G4_CHAT_ADD_GENERATION_PROMPT, out, len + 1, &len);
    }
    if (st != G4_OK) {
        /* Fall back to the Gemma 4 turn layout. */
        free(out);
        size_t cap = 64;
        for (size_t i = 0; i < n; i++)
            cap += strlen(msgs[i].content) + 32;
        out = xmalloc(cap);
        strcpy(out, "<bos>");
        for (size_t i = 0; i < n; i++) {
            const char *r = strcmp(msgs[i].role, "assistant") == 0 ? "model" : msgs[i].role;
            strcat(out, "<|turn>");
            strcat(out, r);
            strcat(out, "\n");
            strcat(out, msgs[i].content);
            strcat(out, "<turn|>\n");
        }
        strcat(out, "<|turn>model\n");
    }
    free(cm);
    *has_bos = 1;
    return out;
}

static int32_t *tokenize(const g4_model *m, const char *text, uint32_t flags, size_t *n)
{
    size_t need = 0, len = strlen(text);
    g4_status st = A->tokenize(m, text, len, flags, NULL, 0, &need);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        fatal(1, "tokenize: %s: %s", A->status_name(st), A->last_error());
    int32_t *ids = xmalloc(sizeof *ids * (need + 1));
    st = A->tokenize(m, text, len, flags, ids, need + 1, n);
    if (st != G4_OK)
        fatal(1, "tokenize: %s: %s", A->status_name(st), A->last_error());
    return ids;
}

/* Tokenize text whose "<|image|>" / "<|audio|>" markers must each become exactly one
 * placeholder id, whatever the tokenizer does with them: split at the markers ourselves. */
static int32_t *tokenize_marked(const g4_model *m, const char *text, uint32_t flags, size_t *n)
{
    static const char *const mk[3] = {"<|image|>", "<|audio|>", "<|video|>"};
    const int32_t mid[3] = {A->token_id(m, G4_TOKEN_IMAGE_SOFT), A->token_id(m, G4_TOKEN_AUDIO_SOFT),
                            A->token_id(m, G4_TOKEN_VIDEO_SOFT)};
    size_t cap = 64, len = 0;
    int32_t *out = xmalloc(sizeof *out * cap);
    const char *p = text;
    for (;;) {
        const char *hit = NULL;
        int which = 0;
        for (int k = 0; k < 3; k++) {
            const char *h = mid[k] >= 0 ? strstr(p, mk[k]) : NULL;
            if (h && (!hit || h < hit)) {
                hit = h;
                which = k;
            }
        }
        size_t seg_len = hit ? (size_t)(hit - p) : strlen(p);
        char *seg = xmalloc(seg_len + 1);
        memcpy(seg, p, seg_len);
        seg[seg_len] = '\0';
        size_t ns = 0;
        int32_t *ids = seg_len || (flags & G4_TOKENIZE_ADD_BOS) ? tokenize(m, seg, flags, &ns) : NULL;
        free(seg);
        flags &= ~G4_TOKENIZE_ADD_BOS; /* only the first piece starts the sequence */
        if (len + ns + 1 > cap) {
            cap = (len + ns + 1) * 2;
            out = realloc(out, sizeof *out * cap);
            if (!out)
                fatal(1, "out of memory");
        }
        if (ns)
            memcpy(out + len, ids, sizeof *ids * ns);
        len += ns;
        free(ids);
        if (!hit)
            break;
        out[len++] = mid[which];
        p = hit + strlen(mk[which]);
    }
    *n = len;
    return out;
}

/* Soft tokens of one media file, expanded in place of its first placeholder token as
 * start + soft*n + end, with a span over the soft run. */
typedef struct prompt {
    int32_t *ids;
    size_t n;
    g4_embd_span *spans; /* sorted by first */
    int n_spans;
    float **embd;        /* buffers the spans point into (owned) */
    int n_embd;
} prompt;

/* Takes ownership of buffer e and adds span sp (kept sorted). */
static void prompt_add_span(prompt *p, const g4_embd_span *sp, float *e)
{
    p->spans = realloc(p->spans, sizeof *p->spans * (size_t)(p->n_spans + 1));
    p->embd = realloc(p->embd, sizeof *p->embd * (size_t)(p->n_embd + 1));
    if (!p->spans || !p->embd)
        fatal(1, "out of memory");
    if (e)
        p->embd[p->n_embd++] = e;
    int i = p->n_spans++;
    while (i > 0 && p->spans[i - 1].first > sp->first) {
        p->spans[i] = p->spans[i - 1];
        i--;
    }
    p->spans[i] = *sp;
}

static void prompt_free(prompt *p)
{
    for (int i = 0; i < p->n_embd; i++)
        free(p->embd[i]);
    free(p->embd);
    free(p->spans);
    free(p->ids);
    memset(p, 0, sizeof *p);
}

/* Soft tokens of a media file: *embd (malloc'd, n_tok * n_embd floats) or a status with the
 * library's message in A->last_error(). */
static g4_status embed_media(const g4_model *m, const char *path, int is_img, float **embd,
                             size_t *n_tok_out)
{
    size_t fsize = 0, n_tok = 0;
    unsigned char *bytes = read_file(path, &fsize);
    g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    A->model_get_info(m, &info);
    g4_image_options io;
    G4DL_INIT(A, image_options, &io);
    g4_status st = is_img ? A->embed_image_file(m, bytes, fsize, &io, NULL, 0, &n_tok)
                          : A->embed_audio_file(m, bytes, fsize, NULL, 0, &n_tok);
    float *e = NULL;
    if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
        e = xmalloc(sizeof(float) * n_tok * (size_t)info.n_embd);
        st = is_img ? A->embed_image_file(m, bytes, fsize, &io, e, n_tok * (size_t)info.n_embd,
                                          &n_tok)
                    : A->embed_audio_file(m, bytes, fsize, e, n_tok * (size_t)info.n_embd, &n_tok);
    }
    free(bytes);
    if (st != G4_OK) {
        free(e);
        e = NULL;
        n_tok = 0;
    }
    *embd = e;
    *n_tok_out = n_tok;
    return st;
}

/* Puts n_tok soft tokens (embeddings e, now owned by p) in place of the first placeholder. */
static void splice_media(const g4_model *m, prompt *p, int is_img, float *e, size_t n_tok)
{
    int32_t soft = A->token_id(m, is_img ? G4_TOKEN_IMAGE_SOFT : G4_TOKEN_AUDIO_SOFT);
    int32_t beg = A->token_id(m, is_img ? G4_TOKEN_IMAGE_START : G4_TOKEN_AUDIO_START);
    int32_t end = A->token_id(m, is_img ? G4_TOKEN_IMAGE_END : G4_TOKEN_AUDIO_END);
    size_t at = 0;
    while (at < p->n && p->ids[at] != soft)
        at++;
    if (at == p->n || soft < 0)
        fatal(1, "internal: no %s placeholder in the prompt", is_img ? "image" : "audio");

    /* replace ids[at] by beg, soft*n_tok, end (start/end only if the prompt lacks them) */
    int add_beg = beg >= 0 && !(at > 0 && p->ids[at - 1] == beg);
    int add_end = end >= 0 && !(at + 1 < p->n && p->ids[at + 1] == end);
    size_t grow = n_tok - 1 + (size_t)add_beg + (size_t)add_end;
    int32_t *ids = xmalloc(sizeof *ids * (p->n + grow));
    size_t k = 0;
    memcpy(ids, p->ids, sizeof *ids * at);
    k = at;
    if (add_beg)
        ids[k++] = beg;
    size_t first = k;
    for (size_t i = 0; i < n_tok; i++)
        ids[k++] = soft;
    if (add_end)
        ids[k++] = end;
    memcpy(ids + k, p->ids + at + 1, sizeof *ids * (p->n - at - 1));
    k += p->n - at - 1;
    /* spans already placed after `at` shift too */
    for (int i = 0; i < p->n_spans; i++)
        if ((size_t)p->spans[i].first > at)
            p->spans[i].first += (int32_t)grow;
    free(p->ids);
    p->ids = ids;
    p->n = k;
    g4_embd_span sp;
    memset(&sp, 0, sizeof sp);
    sp.first = (int32_t)first;
    sp.n = (int32_t)n_tok;
    sp.kind = is_img ? G4_SPAN_IMAGE : G4_SPAN_AUDIO;
    sp.embd = e;
    prompt_add_span(p, &sp, e);
}

/* Replaces the <|video|> placeholder by the video part's tokens (e->text) with a span per frame
 * and per audio run; the embeddings move into p. */
static void splice_video(const g4_model *m, prompt *p, g4v_embedded *e)
{
    int32_t vid = A->token_id(m, G4_TOKEN_VIDEO_SOFT);
    size_t at = 0;
    while (at < p->n && p->ids[at] != vid)
        at++;
    if (at == p->n || vid < 0)
        fatal(1, "internal: no video placeholder in the prompt");
    size_t nv = 0;
    int32_t *v = tokenize(m, e->text, G4_TOKENIZE_PARSE_SPECIAL, &nv);
    size_t grow = nv - 1;
    int32_t *ids = xmalloc(sizeof *ids * (p->n + grow));
    memcpy(ids, p->ids, sizeof *ids * at);
    memcpy(ids + at, v, sizeof *ids * nv);
    memcpy(ids + at + nv, p->ids + at + 1, sizeof *ids * (p->n - at - 1));
    for (int i = 0; i < p->n_spans; i++)
        if ((size_t)p->spans[i].first > at)
            p->spans[i].first += (int32_t)grow;
    free(p->ids);
    p->ids = ids;
    p->n += grow;
    size_t ns = 0;
    char err[512] = "";
    g4v_spans(A, m, v, nv, (int32_t)at, e, NULL, 0, &ns, err, sizeof err);
    g4_embd_span *sp = xmalloc(sizeof *sp * (ns + 1));
    if (g4v_spans(A, m, v, nv, (int32_t)at, e, sp, ns, &ns, err, sizeof err) != G4_OK)
        fatal(1, "video: %s", err);
    for (size_t i = 0; i < ns; i++)
        prompt_add_span(p, &sp[i], i == 0 ? e->frames : i == 1 ? e->audio : NULL);
    if (ns == 1) /* (a video always has frames; audio is optional) */
        free(e->audio);
    e->frames = e->audio = NULL;
    free(sp);
    free(v);
}

static void add_media(const g4_model *m, prompt *p, const char *path, int is_img)
{
    float *e = NULL;
    size_t n_tok = 0;
    g4_status st = embed_media(m, path, is_img, &e, &n_tok);
    if (st != G4_OK) {
        /* the hint only when the model has no projector for this kind of input */
        char why[512];
        snprintf(why, sizeof why, "%s", A->last_error()); /* before the next call clears it */
        g4_model_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        int has = A->model_get_info(m, &info) == G4_OK &&
                  (info.capabilities & (is_img ? G4_MODEL_HAS_VISION : G4_MODEL_HAS_AUDIO));
        fatal(1, "%s: %s: %s%s", path, A->status_name(st), why,
              st == G4_ERR_UNSUPPORTED && !has ? " (did you pass --mmproj?)" : "");
    }
    splice_media(m, p, is_img, e, n_tok);
}

/* ---- Generation ---------------------------------------------------------------------------- */

/* What one prompt + generation did. */
typedef struct run_result {
    char *text; /* the reply (caller frees) */
    size_t n_prompt;
    double t_prompt, t_gen;
    int n_gen, n_drafted, n_accepted;
    g4_status gen_status; /* g4_generate's status when run_prompt returned 1 */
} run_result;

/* Steps prompt p (its ids and embeddings are freed here) into the reset session, then generates
 * up to n_predict tokens with g4_generate (n_draft as in g4_generate_params), streaming them to
 * stdout unless quiet. Returns 0 (done), -1 (interrupted: r->text is NULL) or 1
 * (g4_generate failed: r->gen_status, message in A->last_error(); only when soft_fail). */
static int run_prompt(const g4_model *m, g4_session *s, prompt *p, const g4_sampler_params *sp,
                      int n_predict, int n_draft, int quiet, int soft_fail,
                      run_result *r)
{
    memset(r, 0, sizeof *r);
    if (!p->n)
        fatal(1, "empty prompt");
    A->session_reset(s);
    if ((int64_t)p->n + n_predict > A->session_n_ctx(s))
        fatal(1, "prompt (%zu tokens) + %d to generate exceed the context (%d); use --ctx", p->n,
              n_predict, A->session_n_ctx(s));
    uint8_t *want = xmalloc(p->n);
    memset(want, 0, p->n);
    want[p->n - 1] = G4_OUT_LOGITS | G4_OUT_HIDDEN; /* the drafter reads the hidden state too */
    g4_batch b;
    G4DL_INIT(A, batch, &b);
    b.n_tokens = (int32_t)p->n;
    b.tokens = p->ids;
    b.want = want;
    b.spans = p->n_spans ? p->spans : NULL;
    b.n_spans = p->n_spans;

    atomic_store(&g_session, s);
    double t0 = now_s();
    g4_status st = A->step(s, &b);
    r->t_prompt = now_s() - t0;
    r->n_prompt = p->n;
    free(want);
    prompt_free(p);
    if (st == G4_ERR_CANCELLED) {
        atomic_store(&g_session, NULL);
        fprintf(stderr, "\n[interrupted]\n");
        return -1;
    }
    if (st != G4_OK)
        fatal(1, "prompt: %s: %s", A->status_name(st), A->last_error());

    streamer str;
    memset(&str, 0, sizeof str);
    str.m = m;
    str.quiet = quiet;
    g4_generate_params gp;
    G4DL_INIT(A, generate_params, &gp);
    gp.max_tokens = n_predict;
    gp.n_draft = n_draft;
    gp.sampling = sp;
    gp.on_token = on_token;
    gp.user_data = &str;
    g4_generate_stats gs;
    memset(&gs, 0, sizeof gs);
    gs.struct_size = sizeof gs;
    t0 = now_s();
    st = A->generate(s, &gp, &gs);
    if (gs.seconds <= 0)
        gs.seconds = now_s() - t0;
    atomic_store(&g_session, NULL);
    if (st != G4_OK && st != G4_ERR_CANCELLED && soft_fail && !atomic_load(&g_interrupts)) {
        free(str.text);
        r->gen_status = st;
        return 1;
    }
    if (str.n_pend)
        stream_out(&str, str.pend, str.n_pend); /* whatever is left, even if incomplete */
    if (!quiet) {
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (st == G4_ERR_CANCELLED || atomic_load(&g_interrupts))
        fprintf(stderr, "[interrupted]\n");
    else if (st != G4_OK)
        fatal(1, "generate: %s: %s", A->status_name(st), A->last_error());

    r->n_gen = gs.n_generated ? gs.n_generated : str.n_tokens;
    r->t_gen = gs.seconds;
    r->n_drafted = gs.n_drafted;
    r->n_accepted = gs.n_accepted;
    r->text = str.text ? str.text : calloc(1, 1);
    return 0;
}

/* The prompt of a conversation: chat-formatted (or raw) text with the media of o spliced in. */
static void build_prompt(const g4_model *m, const gen_opts *o, const chat_msg *msgs, size_t n_msgs,
                         prompt *p)
{
    int has_bos = 0;
    memset(p, 0, sizeof *p);
    if (o->chat && G4_API_HAS(A, chat_tokenize)) {
        /* 1.1: message contents are plain text; only the template's markers are control
         * tokens, so typed "<|turn>system" stays text (--special-in-content: the old way) */
        g4_chat_message *cm = xmalloc(sizeof *cm * n_msgs);
        for (size_t i = 0; i < n_msgs; i++) {
            cm[i].role = msgs[i].role;
            cm[i].content = msgs[i].content;
        }
        uint32_t fl = G4_CHAT_ADD_GENERATION_PROMPT |
                      (o->image || o->audio || o->video.path || o->media_markers ? G4_CHAT_MEDIA_MARKERS : 0) |
                      (o->special_in_content ? G4_CHAT_PARSE_SPECIAL_IN_CONTENT : 0);
        size_t nt = 0;
        g4_status st = A->chat_tokenize(m, cm, n_msgs, fl, NULL, 0, &nt);
        if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
            p->ids = xmalloc(sizeof *p->ids * (nt + 1));
            st = A->chat_tokenize(m, cm, n_msgs, fl, p->ids, nt + 1, &nt);
        }
        free(cm);
        if (st != G4_OK)
            fatal(1, "chat prompt: %s: %s", A->status_name(st), A->last_error());
        p->n = nt;
    } else {
        char *text = format_prompt(m, msgs, n_msgs, o->chat, &has_bos);
        /* Chat text carries <bos> itself; control tokens are parsed so <|turn> etc. are single ids. */
        uint32_t flags = G4_TOKENIZE_PARSE_SPECIAL | (has_bos ? 0 : G4_TOKENIZE_ADD_BOS);
        p->ids = tokenize_marked(m, text, flags, &p->n);
        free(text);
    }
    if (o->image)
        add_media(m, p, o->image, 1);
    if (o->audio)
        add_media(m, p, o->audio, 0);
    if (o->video.path) {
        g4_model_info mi;
        memset(&mi, 0, sizeof mi);
        mi.struct_size = sizeof mi;
        A->model_get_info(m, &mi);
        int64_t room = (int64_t)(o->c.n_ctx > 0 ? o->c.n_ctx : mi.n_ctx_default) - (int64_t)p->n -
                       (o->n_predict > 0 ? o->n_predict : 0) + 1;
        g4v_embedded e;
        char err[1024] = "";
        int rc = cli_video_embed(A, m, &o->video, room, &e, err, sizeof err);
        if (rc != G4_OK)
            fatal(1, "%s: %s: %s%s", o->video.path, A->status_name(rc), err,
                  rc == G4_ERR_UNSUPPORTED && !(mi.capabilities & G4_MODEL_HAS_VISION)
                      ? " (did you pass --mmproj?)" : "");
        splice_video(m, p, &e);
        g4v_embedded_free(&e);
    }
    if (o->show_prompt)
        cli_show_prompt(A, m, p->ids, p->n);
}

/* Run one prompt through a fresh session state and stream the reply. Returns the reply text
 * (caller frees) or NULL when interrupted. */
static char *generate_once(const g4_model *m, g4_session *s, const gen_opts *o, const chat_msg *msgs,
                           size_t n_msgs)
{
    prompt p;
    build_prompt(m, o, msgs, n_msgs, &p);
    g4_sampler_params sp;
    G4DL_INIT(A, sampler_params, &sp);
    sp.temperature = o->temp;
    sp.seed = o->seed_set ? o->seed : (uint64_t)time(NULL);
    run_result r;
    if (run_prompt(m, s, &p, &sp, o->n_predict, o->c.draft ? -1 : 0, 0, 0, &r) != 0)
        return NULL;
    fprintf(stderr, "prompt: %zu tokens in %.2f s (%.1f tok/s); generated: %d tokens in %.2f s "
                    "(%.1f tok/s)",
            r.n_prompt, r.t_prompt, r.t_prompt > 0 ? r.n_prompt / r.t_prompt : 0.0, r.n_gen,
            r.t_gen, r.t_gen > 0 ? r.n_gen / r.t_gen : 0.0);
    if (o->c.draft && r.n_drafted)
        fprintf(stderr, "; drafted %d, accepted %d (%.0f%%)", r.n_drafted, r.n_accepted,
                100.0 * r.n_accepted / r.n_drafted);
    fputc('\n', stderr);
    return r.text;
}

/* ---- Subcommands --------------------------------------------------------------------------- */

static const char *k_usage =
    "usage: g4 <command> [options]\n"
    "\n"
    "commands:\n"
    "  generate -m MODEL -p PROMPT [options]   complete PROMPT, streaming to stdout\n"
    "  run [MODEL] [PROMPT]                    chat with MODEL (generate --chat); without\n"
    "                                          PROMPT, an interactive chat on stdin; without\n"
    "                                          MODEL, a tour of the embedded default model\n"
    "                                          (tiny, trained on WordNet: text, image, audio,\n"
    "                                          drafting, timings; -p/-n/--temp/--seed apply)\n"
    "  chat MODEL                              interactive chat (same as run MODEL)\n"
    "  info MODEL                              model facts, kernels, memory estimate, metadata\n"
    "  bench MODEL [--pp N] [--tg N] [--threads N]\n"
    "                                          prompt processing and generation speed\n"
    "                                          (default pp 512, tg 128; random tokens)\n"
    "  tokenize -m MODEL TEXT [--no-bos] [--no-special] [--ids]\n"
    "                                          show the tokens of TEXT\n"
    "  version                                 library and ABI versions\n"
    "  install lmstudio [--home DIR]           copy this archive's engine pack into LM Studio\n"
    "                                          (DIR/extensions/backends/; default ~/.lmstudio)\n"
    "\n"
    "generate options:\n"
    "  -m, --model PATH     GGUF model (or an LM Studio folder / Ollama name)\n"
    "  -p, --prompt TEXT    the prompt ('-' reads stdin)\n"
    "  -n, --n-predict N    tokens to generate (default 256)\n"
    "  --temp T             sampling temperature, 0 = greedy (default 0.8)\n"
    "  --seed S             sampling seed (default: time)\n"
    "  --threads N          worker threads (default: performance cores)\n"
    "  --ctx N              context size (default: the model's, at most 8192)\n"
    "  --cache-type-k T     KV cache type for K: f16 (default, as llama.cpp), f32, bf16, q8_0\n"
    "  --cache-type-v T     the same for V (-ctk / -ctv also work)\n"
    "  --chat               wrap PROMPT as a user turn: <|turn>user\\n...<turn|>\\n<|turn>model\\n\n"
    "  --special-in-content parse control tokens typed into chat messages (unsafe: text can fake\n"
    "                       a turn; by default only the template's own markers are special)\n"
    "  --draft PATH         MTP drafter: speculative decoding (same output, faster)\n"
    "  --mmproj PATH        vision/audio projector\n"
    "  --mm-precision P     encoders' arithmetic: f32 (default, exact), bf16 or q8 (faster, small\n"
    "                       documented error: docs/BENCHMARKS.md \"Encoder precision\")\n"
    "  --image FILE         PNG/JPEG to show the model (at <|image|> in PROMPT, else first)\n"
    "  --audio FILE         WAV to play the model (at <|audio|>, else first)\n"
    CLI_VIDEO_USAGE
    "  --lib PATH           libg4plug to use (default: $G4PLUG_LIB, then next to g4)\n"
    "\n"
    "Ctrl-C stops generation (a second Ctrl-C exits). Timings go to stderr.\n";

/* Numeric option values: the whole string must be a number in range ("-n abc", "-n 1e3" and
 * "--temp nan" are errors, not the default or a prefix). */
static long parse_long(const char *opt, const char *v, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        fatal(2, "%s: '%s' is not a whole number in [%ld, %ld]", opt, v, lo, hi);
    return x;
}

static double parse_double(const char *opt, const char *v, double lo, double hi)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi)
        fatal(2, "%s: '%s' is not a number in [%g, %g]", opt, v, lo, hi);
    return x;
}

static uint64_t parse_u64(const char *opt, const char *v)
{
    char *end = NULL;
    errno = 0;
    if (*v == '-' || *v == '+' || *v == ' ')
        fatal(2, "%s: '%s' is not an unsigned whole number", opt, v);
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end)
        fatal(2, "%s: '%s' is not an unsigned whole number", opt, v);
    return (uint64_t)x;
}

/* Parses the options shared by the subcommands. Returns 1 if argv[*i] was consumed. */
static int parse_common(int argc, char **argv, int *i, common *c, gen_opts *g)
{
    const char *a = argv[*i];
#define VAL() (*i + 1 < argc ? argv[++*i] : (fatal(2, "%s needs a value", a), ""))
    if (!strcmp(a, "-m") || !strcmp(a, "--model"))
        c->model = VAL();
    else if (!strcmp(a, "--mmproj"))
        c->mmproj = VAL();
    else if (!strcmp(a, "--mm-precision"))
        c->mm_precision = VAL();
    else if (!strcmp(a, "--draft"))
        c->draft = VAL();
    else if (!strcmp(a, "--lib"))
        c->lib = VAL();
    else if (!strcmp(a, "--threads") || !strcmp(a, "-t"))
        c->threads = (int)parse_long(a, VAL(), 0, 4096);
    else if (!strcmp(a, "--ctx") || !strcmp(a, "-c"))
        c->n_ctx = (int)parse_long(a, VAL(), 0, 1 << 24);
    else if (!strcmp(a, "--cache-type-k") || !strcmp(a, "-ctk"))
        cache_type_of(c->cache_k = VAL(), a); /* checked now, used at session creation */
    else if (!strcmp(a, "--cache-type-v") || !strcmp(a, "-ctv"))
        cache_type_of(c->cache_v = VAL(), a);
    else if (g && (!strcmp(a, "-p") || !strcmp(a, "--prompt")))
        g->prompt = VAL();
    else if (g && (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))) {
        g->n_predict = (int)parse_long(a, VAL(), -1, 1 << 24);
        g->n_predict_set = 1;
    }
    else if (g && !strcmp(a, "--temp")) {
        g->temp = (float)parse_double(a, VAL(), 0.0, 100.0);
        g->temp_set = 1;
    }
    else if (g && !strcmp(a, "--seed")) {
        g->seed = parse_u64(a, VAL());
        g->seed_set = 1;
    } else if (g && !strcmp(a, "--image"))
        g->image = VAL();
    else if (g && !strcmp(a, "--audio"))
        g->audio = VAL();
    else if (g && !strcmp(a, "--chat"))
        g->chat = 1;
    else if (g && !strcmp(a, "--special-in-content"))
        g->special_in_content = 1;
    else if (g && !strcmp(a, "--show-prompt"))
        g->show_prompt = 1;
    else if (g && cli_video_parse(argc, argv, i, &g->video))
        ; /* consumed (a bad value exits with status 2) */
    else
        return 0;
#undef VAL
    return 1;
}

/* Put the media markers into the user text when the user did not place them. */
static char *with_markers(const char *text, const gen_opts *o)
{
    size_t l = strlen(text);
    char *out = xmalloc(l + 32);
    out[0] = '\0';
    if (o->image && !strstr(text, "<|image|>"))
        strcat(out, "<|image|>");
    if (o->audio && !strstr(text, "<|audio|>"))
        strcat(out, "<|audio|>");
    if (o->video.path && !strstr(text, "<|video|>"))
        strcat(out, "<|video|>");
    strcat(out, text);
    return out;
}

static int cmd_generate(gen_opts *o, int interactive)
{
    if (!o->c.model)
        fatal(2, "no model: use -m MODEL (see g4 --help)");
    if (!o->prompt && !interactive)
        fatal(2, "no prompt: use -p TEXT (or -p - to read stdin)");
    if (o->n_predict <= 0)
        o->n_predict = 256;
    open_library(o->c.lib, 1);
    g4_model *m = load_model(&o->c, 0);
    g4_session_params sp;
    session_params_from(&o->c, &sp);
    g4_session *s = NULL;
    g4_status st = A->session_new(m, &sp, &s);
    if (st != G4_OK)
        fatal(1, "session: %s: %s", A->status_name(st), A->last_error());
    install_sigint();

    if (!interactive) {
        char *ptext = NULL;
        if (!strcmp(o->prompt, "-")) {
            size_t n;
            ptext = (char *)read_all(stdin, &n);
        }
        char *content = with_markers(ptext ? ptext : o->prompt, o);
        chat_msg msg = {"user", content};
        char *reply = generate_once(m, s, o, &msg, 1);
        free(reply);
        free(content);
        free(ptext);
    } else {
        /* Multi-turn chat: the whole conversation is re-run each turn (simple and exact). */
        chat_msg *hist = NULL;
        size_t n_hist = 0;
        char line[8192];
        int tty = isatty(0);
        for (;;) {
            if (tty) {
                fprintf(stderr, "> ");
                fflush(stderr);
            }
            atomic_store(&g_interrupts, 0);
            if (!fgets(line, sizeof line, stdin))
                break;
            line[strcspn(line, "\n")] = '\0';
            if (!line[0])
                continue;
            if (!strcmp(line, "/bye") || !strcmp(line, "/exit"))
                break;
            hist = realloc(hist, sizeof *hist * (n_hist + 2));
            if (!hist)
                fatal(1, "out of memory");
            hist[n_hist].role = "user";
            hist[n_hist].content = n_hist == 0 ? with_markers(line, o) : strdup(line);
            n_hist++;
            char *reply = generate_once(m, s, o, hist, n_hist);
            if (!reply) { /* interrupted before any output: forget the question */
                free(hist[--n_hist].content);
                continue;
            }
            hist[n_hist].role = "model";
            hist[n_hist].content = reply;
            n_hist++;
            o->image = o->audio = NULL; /* media belong to the first turn only */
            o->video.path = NULL;
        }
        for (size_t i = 0; i < n_hist; i++)
            free(hist[i].content);
        free(hist);
    }
    A->session_free(s);
    A->model_free(m);
    return atomic_load(&g_interrupts) ? 130 : 0;
}

/* ---- The embedded default model (`g4 run` with no MODEL) ------------------------------------ */

/* `make` puts a tiny Gemma 4 trained on WordNet and its MTP drafter (assets/, made by
 * tools/train/), a projector with random weights and two media files into build/default/,
 * i.e. "default/" beside the g4 binary. $G4_DEFAULT_MODEL_DIR overrides. */
#define DEMO_MODEL "gemma4-tiny.gguf"
#define DEMO_MMPROJ "mmproj-gemma4-tiny.gguf"
#define DEMO_DRAFT "gemma4-tiny-assistant.gguf"
#define DEMO_IMAGE "demo-image.png"
#define DEMO_AUDIO "demo-audio.wav"

static int default_model_dir(char *buf, size_t n)
{
    const char *env = getenv("G4_DEFAULT_MODEL_DIR");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return 0;
    }
    char exe[4096];
#ifdef _WIN32
    DWORD wl = GetModuleFileNameA(NULL, exe, (DWORD)sizeof exe);
    ssize_t len = wl && wl < sizeof exe ? (ssize_t)wl : -1;
    for (ssize_t i = 0; i < len; i++) /* the '/' split below then works unchanged */
        if (exe[i] == '\\')
            exe[i] = '/';
#else
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
#endif
    if (len <= 0) { /* no /proc (macOS, BSD): the repo layout, as g4_dl's search does */
        snprintf(buf, n, "build/default");
        return 0;
    }
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if (strlen(exe) + sizeof "/default" > n)
        return -1;
    memcpy(buf, exe, strlen(exe));
    memcpy(buf + strlen(exe), "/default", sizeof "/default");
    return 0;
}

static char *path_in(const char *dir, const char *name)
{
    size_t l = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(l);
    snprintf(p, l, "%s/%s", dir, name);
    return p;
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

static void demo_section(int i, const char *title)
{
    printf("\n[%d/5] %s\n", i, title);
    fflush(stdout);
}

/* Embeds one demo media file; prints the outcome. Returns 1 when e/n_tok hold soft tokens. */
static int demo_embed(const g4_model *m, const char *path, int is_img, float **e, size_t *n_tok,
                      double *ms)
{
    double t0 = now_s();
    g4_status st = embed_media(m, path, is_img, e, n_tok);
    *ms = (now_s() - t0) * 1e3;
    const char *what = is_img ? "image" : "audio";
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (st != G4_OK) {
        printf("  %s %-16s skipped: %s: %s\n", what, base, A->status_name(st), A->last_error());
        return 0;
    }
    printf("  %s %-16s -> %zu soft tokens in %.1f ms\n", what, base, *n_tok, *ms);
    return 1;
}

static int cmd_demo(gen_opts *o)
{
    char dir[4096];
    if (default_model_dir(dir, sizeof dir) != 0)
        fatal(2, "cannot locate the embedded default model (set G4_DEFAULT_MODEL_DIR)");
    char *model = path_in(dir, DEMO_MODEL), *mmproj = path_in(dir, DEMO_MMPROJ),
         *draft = path_in(dir, DEMO_DRAFT), *image = path_in(dir, DEMO_IMAGE),
         *audio = path_in(dir, DEMO_AUDIO);
    if (!file_exists(model))
        fatal(2, "no embedded default model at %s\n"
                 "    build it with `make` (or `make run`), or run a GGUF file instead:\n"
                 "    g4 run MODEL.gguf \"your prompt\"",
              model);
    double t_all = now_s();
    printf("==============================================================================\n"
           " embedded default model: tiny Gemma 4 trained here on WordNet's definitions\n"
           " (tools/train/); it answers \"What is ...?\" in English, knows little else, and its\n"
           " image/audio projector has RANDOM weights. It demonstrates the pipeline (load,\n"
           " chat, image, audio, MTP drafting, timings).\n"
           " Real models:  g4 run MODEL.gguf \"your prompt\"    (see g4 --help)\n"
           "==============================================================================\n");
    printf("model dir: %s\n", dir);

    /* 1. load: model + projector + drafter, each optional beyond the model */
    demo_section(1, "load");
    open_library(o->c.lib, 1);
    o->c.model = model;
    o->c.mmproj = file_exists(mmproj) ? mmproj : NULL;
    o->c.draft = file_exists(draft) ? draft : NULL;
    double t0 = now_s();
    g4_status st;
    g4_model *m = try_load_model(&o->c, 0, &st);
    if (!m && o->c.draft && st != G4_ERR_CANCELLED) { /* a library that rejects the drafter */
        printf("  the library refused the drafter (%s: %s): loading without it\n",
               A->status_name(st), A->last_error());
        o->c.draft = NULL;
        m = try_load_model(&o->c, 0, &st);
    }
    if (!m)
        fatal(st == G4_ERR_CANCELLED ? 130 : 1, "cannot load %s: %s: %s", model,
              A->status_name(st), A->last_error());
    double t_load = (now_s() - t0) * 1e3;
    g4_model_info in;
    memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    A->model_get_info(m, &in);
    printf("  %s\n", in.name);
    printf("  %d layers, %d wide, vocabulary %d, %.1f M parameters (%.1f MiB of weights)\n",
           in.n_layer, in.n_embd, in.n_vocab, in.n_params / 1e6, in.weight_bytes / 1048576.0);
    printf("  kernels %s, %d threads; loaded in %.0f ms (model%s%s)\n", in.isa, in.n_threads,
           t_load, o->c.mmproj ? " + projector" : "", o->c.draft ? " + drafter" : "");

    g4_session_params spp;
    session_params_from(&o->c, &spp);
    g4_session *s = NULL;
    st = A->session_new(m, &spp, &s);
    if (st != G4_OK)
        fatal(1, "session: %s: %s", A->status_name(st), A->last_error());
    install_sigint();

    /* fixed seed: the demo prints the same tokens every run */
    g4_sampler_params sp;
    G4DL_INIT(A, sampler_params, &sp);
    sp.temperature = o->temp;
    sp.seed = o->seed_set ? o->seed : 42;
    int n_predict = o->n_predict_set && o->n_predict > 0 ? o->n_predict : 32; /* a few seconds */
    o->chat = 1;

    /* 2. text through the chat template, streamed */
    demo_section(2, "text: chat template, streamed");
    const char *text_prompt = o->prompt ? o->prompt : "What is a tree?";
    printf("  user> %s\n  model> ", text_prompt);
    fflush(stdout);
    chat_msg msg = {"user", (char *)text_prompt};
    prompt p;
    build_prompt(m, o, &msg, 1, &p);
    run_result rt;
    if (run_prompt(m, s, &p, &sp, n_predict, 0, 0, 0, &rt) != 0)
        return 130;
    printf("  (%zu prompt tokens, %d generated)\n", rt.n_prompt, rt.n_gen);

    /* 3. an image and an audio clip, embedded by the projector and used in one prompt */
    demo_section(3, "image + audio: soft tokens in a prompt");
    float *ie = NULL, *ae = NULL;
    size_t in_tok = 0, an_tok = 0;
    double ims = 0, ams = 0;
    int have_img = demo_embed(m, image, 1, &ie, &in_tok, &ims);
    int have_aud = demo_embed(m, audio, 0, &ae, &an_tok, &ams);
    run_result rm;
    memset(&rm, 0, sizeof rm);
    int mm_ran = 0;
    if (have_img || have_aud) {
        char mm_text[256];
        snprintf(mm_text, sizeof mm_text, "%s%sDescribe %s.", have_img ? "<|image|>" : "",
                 have_aud ? "<|audio|>" : "",
                 have_img && have_aud ? "the picture and the sound"
                 : have_img           ? "the picture"
                                      : "the sound");
        printf("  user> %s\n  model> ", mm_text);
        fflush(stdout);
        chat_msg mmsg = {"user", mm_text};
        gen_opts plain = *o;
        plain.image = plain.audio = NULL;
        plain.media_markers = 1; /* spliced below */
        build_prompt(m, &plain, &mmsg, 1, &p);
        if (have_img)
            splice_media(m, &p, 1, ie, in_tok);
        if (have_aud)
            splice_media(m, &p, 0, ae, an_tok);
        if (run_prompt(m, s, &p, &sp, n_predict, 0, 0, 0, &rm) != 0)
            return 130;
        printf("  (%zu prompt tokens incl. %zu soft, %d generated)\n", rm.n_prompt,
               in_tok + an_tok, rm.n_gen);
        mm_ran = 1;
    } else {
        printf("  multimodal prompt skipped: this library embeds no media yet\n");
    }

    /* 4. MTP drafting: lossless speculative decoding (greedy: same tokens as plain greedy).
     * One short answer is a few milliseconds, too little to time: several prompts, each plain
     * then drafted, three times over; each mode's best pass (a busy machine only adds time). */
    demo_section(4, "drafting: MTP speculative decoding");
    g4_sampler_params greedy = sp;
    greedy.temperature = 0.0f;
    static const char *const spec_q[] = {NULL, "What is a river?", "What is a bird?", "What is music?",
                                         "What is a doctor?", "What is a house?"};
    enum { SPEC_Q = sizeof spec_q / sizeof spec_q[0], SPEC_PASSES = 3 };
    run_result rg, rd;
    memset(&rg, 0, sizeof rg);
    memset(&rd, 0, sizeof rd);
    const char *skip = NULL;
    char why[512];
    double best_plain = 0, best_spec = 0;
    int same = 1, n_tok = 0, n_drafted = 0, n_accepted = 0;
    for (int pass = 0; pass < SPEC_PASSES && !skip; pass++) {
        double t_plain = 0, t_spec = 0;
        for (int q = 0; q < SPEC_Q && !skip; q++) {
            chat_msg qm = {"user", (char *)(spec_q[q] ? spec_q[q] : text_prompt)};
            free(rg.text);
            free(rd.text);
            rg.text = rd.text = NULL;
            build_prompt(m, o, &qm, 1, &p);
            if (run_prompt(m, s, &p, &greedy, n_predict, 0, 1, 0, &rg) != 0)
                return 130;
            build_prompt(m, o, &qm, 1, &p);
            int r = run_prompt(m, s, &p, &greedy, n_predict, -1, 1, 1, &rd);
            if (r < 0)
                return 130;
            if (!o->c.draft) {
                skip = "no drafter file was loaded";
            } else if (r == 1) {
                snprintf(why, sizeof why, "g4_generate: %s: %s%s", A->status_name(rd.gen_status),
                         A->last_error(),
                         rd.gen_status == G4_ERR_UNSUPPORTED
                             ? "\n    (MTP drafting is not in this library build yet)"
                             : "");
                skip = why;
            } else if (!(in.capabilities & G4_MODEL_HAS_DRAFT) && rd.n_drafted == 0) {
                skip = "the library did not attach the drafter (no G4_MODEL_HAS_DRAFT)";
            }
            if (q == 0 && pass == 0)
                printf("  greedy> %s\n", rg.text);
            same &= rg.text && rd.text && !strcmp(rg.text, rd.text);
            t_plain += rg.t_gen;
            t_spec += rd.t_gen;
            if (pass == 0) {
                n_tok += rd.n_gen;
                n_drafted += rd.n_drafted;
                n_accepted += rd.n_accepted;
            }
        }
        best_plain = pass == 0 || t_plain < best_plain ? t_plain : best_plain;
        best_spec = pass == 0 || t_spec < best_spec ? t_spec : best_spec;
    }
    if (skip) {
        printf("  drafting demo skipped: %s\n", skip);
        printf("  plain greedy: %d tokens in %.2f s (%.1f tok/s)\n", rg.n_gen, rg.t_gen,
               rg.t_gen > 0 ? rg.n_gen / rg.t_gen : 0.0);
    } else {
        double r_spec = best_spec > 0 ? n_tok / best_spec : 0.0, r_plain = best_plain > 0 ? n_tok / best_plain : 0.0;
        printf("  drafted %d, accepted %d (%.0f%%); %d prompts, %d tokens in %.3f s (%.1f tok/s) vs plain "
               "greedy %.1f tok/s: speedup %.2fx (best of %d passes)\n",
               n_drafted, n_accepted, n_drafted ? 100.0 * n_accepted / n_drafted : 0.0, (int)SPEC_Q, n_tok,
               best_spec, r_spec, r_plain, r_plain > 0 ? r_spec / r_plain : 0.0, (int)SPEC_PASSES);
        printf("  same tokens as plain greedy: %s\n", same ? "yes" : "NO");
    }
    /* 5. timings */
    demo_section(5, "timings");
#define RATE(n, t) ((t) > 0 ? (n) / (t) : 0.0)
    printf("  %-22s %8.0f ms\n", "load", t_load);
    printf("  %-22s %8.1f ms  %5zu tokens  %8.1f tok/s\n", "text prompt", rt.t_prompt * 1e3,
           rt.n_prompt, RATE(rt.n_prompt, rt.t_prompt));
    printf("  %-22s %8.1f ms  %5d tokens  %8.1f tok/s\n", "text generation", rt.t_gen * 1e3,
           rt.n_gen, RATE(rt.n_gen, rt.t_gen));
    if (have_img)
        printf("  %-22s %8.1f ms  %5zu soft tokens\n", "image embed", ims, in_tok);
    if (have_aud)
        printf("  %-22s %8.1f ms  %5zu soft tokens\n", "audio embed", ams, an_tok);
    if (mm_ran) {
        printf("  %-22s %8.1f ms  %5zu tokens  %8.1f tok/s\n", "multimodal prompt",
               rm.t_prompt * 1e3, rm.n_prompt, RATE(rm.n_prompt, rm.t_prompt));
        printf("  %-22s %8.1f ms  %5d tokens  %8.1f tok/s\n", "multimodal generation",
               rm.t_gen * 1e3, rm.n_gen, RATE(rm.n_gen, rm.t_gen));
    }
    /* the drafting section's prompts together, each mode's best pass */
    printf("  %-22s %8.1f ms  %5d tokens  %8.1f tok/s\n", "greedy generation", best_plain * 1e3, n_tok,
           RATE(n_tok, best_plain));
    if (!skip)
        printf("  %-22s %8.1f ms  %5d tokens  %8.1f tok/s\n", "speculative (MTP)", best_spec * 1e3, n_tok,
               RATE(n_tok, best_spec));
    else
        printf("  %-22s skipped\n", "speculative (MTP)");
    printf("  %-22s %8.2f s\n", "total", now_s() - t_all);
#undef RATE
    printf("\nA 2M-parameter model trained for minutes: fluent-looking, not knowledgeable; the "
           "answers about media ignore them (random projector). "
           "Try a real model: g4 run MODEL.gguf \"your prompt\"\n");

    free(rt.text);
    free(rm.text);
    free(rg.text);
    free(rd.text);
    A->session_free(s);
    A->model_free(m);
    free(model);
    free(mmproj);
    free(draft);
    free(image);
    free(audio);
    return 0;
}

/* Text from a file or a model (metadata, token pieces): control bytes (ESC, CR, BEL, ...) are
 * written as escapes, so a hostile GGUF cannot drive the terminal (as g4-gguf-dump does). */
static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n')
            fputs("\\n", stdout);
        else if (ch == '\t')
            fputs("\\t", stdout);
        else if (ch == '\r')
            fputs("\\r", stdout);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
}

static void print_meta(const g4_model *m, const char *key)
{
    char buf[512];
    size_t len = 0;
    g4_status st = A->model_meta(m, key, buf, sizeof buf, &len);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        return; /* absent keys are simply not shown */
    buf[sizeof buf - 1] = '\0';
    printf("  %-40s ", key);
    print_escaped(buf, strlen(buf));
    printf("%s\n", len >= sizeof buf ? " ..." : "");
}

static int cmd_info(common *c)
{
    if (!c->model)
        fatal(2, "usage: g4 info MODEL");
    open_library(c->lib, 1);
    g4_model *m = load_model(c, 0);
    g4_model_info in;
    memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    g4_status st = A->model_get_info(m, &in);
    if (st != G4_OK)
        fatal(1, "info: %s: %s", A->status_name(st), A->last_error());
    printf("%s\n", c->model);
    printf("  %-28s ", "name");
    print_escaped(in.name, strnlen(in.name, sizeof in.name));
    putchar('\n');
    printf("  %-28s %s (%s)\n", "architecture", in.arch, in.variant);
    printf("  %-28s %.2f B (%.1f MiB of weights)\n", "parameters", in.n_params / 1e9,
           in.weight_bytes / 1048576.0);
    printf("  %-28s %d layers, %d wide, vocabulary %d\n", "shape", in.n_layer, in.n_embd,
           in.n_vocab);
    printf("  %-28s %d trained, %d by default\n", "context", in.n_ctx_train, in.n_ctx_default);
    printf("  %-28s %s%s%s%s\n", "capabilities", "text",
           in.capabilities & G4_MODEL_HAS_VISION ? ", vision" : "",
           in.capabilities & G4_MODEL_HAS_AUDIO ? ", audio" : "",
           in.capabilities & G4_MODEL_HAS_DRAFT ? ", MTP drafter" : "");
    printf("  %-28s %s, %d threads\n", "kernels", in.isa, in.n_threads);
    /* what the estimate holds beyond the file's weights and the KV cache: the library's working
     * memory (the LM head re-laid out for its kernel, scratch) */
    const double kv_default = (double)in.kv_bytes_fixed + (double)in.kv_bytes_per_token * in.n_ctx_default;
    const double work = (double)in.mem_estimate > in.weight_bytes + kv_default
                            ? ((double)in.mem_estimate - in.weight_bytes - kv_default) / 1073741824.0
                            : 0.0;
    printf("  %-28s %.2f GiB at %d positions (weights %.2f GiB, working memory %.2f GiB, KV %.1f MiB + %.1f "
           "KiB/position)\n",
           "memory estimate", in.mem_estimate / 1073741824.0, in.n_ctx_default, in.weight_bytes / 1073741824.0,
           work, in.kv_bytes_fixed / 1048576.0, in.kv_bytes_per_token / 1024.0);
    const char *tmpl = A->chat_template ? A->chat_template(m) : NULL;
    {
        const int tk = cache_type_of(c->cache_k, "--cache-type-k"), tv = cache_type_of(c->cache_v, "--cache-type-v");
        /* the library reports f32 rows; every Gemma 4 head dim is a multiple of 32, so the
         * other types scale them exactly */
        const double r = (g4_cache_type_ratio(tk) + g4_cache_type_ratio(tv)) / 2;
        const double w = in.weight_bytes / 1073741824.0 + work;
        printf("  %-28s K %s, V %s: %.1f MiB + %.1f KiB/position; at %d positions %.2f GiB, at 32768 %.2f GiB "
               "(+ weights and working memory %.2f GiB = %.2f GiB)\n",
               "KV cache (g4 default f16)", g4_cache_type_name(tk), g4_cache_type_name(tv),
               r * in.kv_bytes_fixed / 1048576.0, r * in.kv_bytes_per_token / 1024.0, in.n_ctx_default,
               r * (in.kv_bytes_fixed + (double)in.kv_bytes_per_token * in.n_ctx_default) / 1073741824.0,
               r * (in.kv_bytes_fixed + (double)in.kv_bytes_per_token * 32768) / 1073741824.0, w,
               w + r * (in.kv_bytes_fixed + (double)in.kv_bytes_per_token * 32768) / 1073741824.0);
    }
    printf("  %-28s %s\n", "chat template", tmpl ? "yes" : "none (Gemma 4 default used)");

    printf("metadata:\n");
    static const char *const general[] = {"general.name", "general.size_label",
                                          "general.file_type", "general.quantization_version",
                                          "general.license", "tokenizer.ggml.model"};
    for (size_t i = 0; i < sizeof general / sizeof *general; i++)
        print_meta(m, general[i]);
    static const char *const per_arch[] = {
        "context_length", "embedding_length", "block_count", "feed_forward_length",
        "attention.head_count", "attention.head_count_kv", "attention.key_length",
        "attention.sliding_window", "final_logit_softcapping", "expert_count",
        "expert_used_count"};
    for (size_t i = 0; i < sizeof per_arch / sizeof *per_arch; i++) {
        char key[128];
        snprintf(key, sizeof key, "%.60s.%s", in.arch, per_arch[i]);
        print_meta(m, key);
    }
    A->model_free(m);
    return 0;
}

/* pp: one step of n_pp random tokens (logits for the last only); tg: n_tg one-token steps.
 * The same measurement tools/g4-bench makes against llama.cpp, in a quick form. */
static int cmd_bench(common *c, int n_pp, int n_tg, int reps)
{
    if (!c->model)
        fatal(2, "usage: g4 bench MODEL [--pp N] [--tg N] [--threads N]");
    open_library(c->lib, 1);
    g4_model *m = load_model(c, 0);
    g4_session_params sp;
    session_params_from(c, &sp);
    sp.n_ctx = n_pp + n_tg + 1;
    g4_session *s = NULL;
    g4_status st = A->session_new(m, &sp, &s);
    if (st != G4_OK)
        fatal(1, "session: %s: %s", A->status_name(st), A->last_error());
    int32_t V = A->vocab_size(m);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n_pp > 1 ? n_pp : 1));
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < n_pp; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)(V > 1000 ? 1000 : V)) + 2;
    }
    double best_pp = 0, best_tg = 0;
    for (int r = 0; r < reps + 1; r++) { /* the first round warms caches and page-ins */
        A->session_reset(s);
        g4_batch b;
        G4DL_INIT(A, batch, &b);
        b.n_tokens = n_pp;
        b.tokens = ids;
        double t0 = now_s();
        if (n_pp > 0 && (st = A->step(s, &b)) != G4_OK)
            fatal(1, "bench: %s: %s", A->status_name(st), A->last_error());
        double t_pp = now_s() - t0;
        t0 = now_s();
        for (int i = 0; i < n_tg; i++) {
            int32_t t = ids[i % (n_pp > 0 ? n_pp : 1)];
            b.n_tokens = 1;
            b.tokens = &t;
            if ((st = A->step(s, &b)) != G4_OK)
                fatal(1, "bench: %s: %s", A->status_name(st), A->last_error());
        }
        double t_tg = now_s() - t0;
        if (r > 0) {
            if (n_pp > 0 && n_pp / t_pp > best_pp)
                best_pp = n_pp / t_pp;
            if (n_tg > 0 && n_tg / t_tg > best_tg)
                best_tg = n_tg / t_tg;
        }
    }
    g4_model_info in;
    memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    A->model_get_info(m, &in);
    printf("model %s (%s, %.2f GiB), kernels %s, %d threads, best of %d\n", c->model, in.variant,
           in.weight_bytes / 1073741824.0, in.isa, c->threads > 0 ? c->threads : in.n_threads, reps);
    printf("  pp%-5d %10.2f tok/s\n", n_pp, best_pp);
    printf("  tg%-5d %10.2f tok/s  (%.1f GB/s of weights)\n", n_tg, best_tg,
           best_tg * in.weight_bytes / 1e9);
    free(ids);
    A->session_free(s);
    A->model_free(m);
    return 0;
}

static int cmd_tokenize(common *c, const char *text, int bos, int special, int ids_only)
{
    if (!c->model || !text)
        fatal(2, "usage: g4 tokenize -m MODEL TEXT");
    open_library(c->lib, 1);
    g4_model *m = load_model(c, G4_LOAD_VOCAB_ONLY);
    size_t n = 0;
    int32_t *ids = tokenize(m, text, (bos ? G4_TOKENIZE_ADD_BOS : 0) |
                                         (special ? G4_TOKENIZE_PARSE_SPECIAL : 0),
                            &n);
    for (size_t i = 0; i < n; i++) {
        if (ids_only) {
            printf("%s%d", i ? " " : "", ids[i]);
            continue;
        }
        char piece[512];
        size_t len = 0;
        A->token_to_piece(m, ids[i], G4_DETOK_RENDER_SPECIAL, piece, sizeof piece, &len);
        printf("%8d  '", ids[i]);
        print_escaped(piece, len < sizeof piece ? len : sizeof piece);
        printf("'\n");
    }
    if (ids_only)
        printf("\n");
    else
        printf("%zu tokens\n", n);
    free(ids);
    A->model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(k_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "install")) /* its own options: hosts/cli/install_lmstudio.c */
        return g4_install_main(argc - 1, argv + 1);
    gen_opts g;
    memset(&g, 0, sizeof g);
    g.temp = 0.8f;
    g.n_predict = 256;
    const char *pos[4] = {0};
    int n_pos = 0, bos = 1, special = 1, ids_only = 0, n_pp = 512, n_tg = 128, reps = 3;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (parse_common(argc, argv, &i, &g.c, &g))
            continue;
        if (!strcmp(a, "--no-bos"))
            bos = 0;
        else if (!strcmp(a, "--no-special"))
            special = 0;
        else if (!strcmp(a, "--ids"))
            ids_only = 1;
        else if ((!strcmp(a, "--pp") || !strcmp(a, "--tg") || !strcmp(a, "--reps")) && i + 1 < argc) {
            int v = (int)parse_long(a, argv[++i], 0, 1 << 20);
            *(!strcmp(a, "--pp") ? &n_pp : !strcmp(a, "--tg") ? &n_tg : &reps) = v;
        }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            return 0;
        } else if (a[0] == '-' && a[1])
            fatal(2, "unknown option '%s' (see g4 --help)", a);
        else if (n_pos < 4)
            pos[n_pos++] = a;
        else
            fatal(2, "too many arguments (see g4 --help)");
    }

    if (!strcmp(cmd, "generate")) {
        if (n_pos)
            fatal(2, "unexpected argument '%s' (the prompt goes after -p)", pos[0]);
        return cmd_generate(&g, 0);
    }
    if (!strcmp(cmd, "run")) {
        if (n_pos == 0 && !g.c.model)
            return cmd_demo(&g); /* the embedded default model, end to end */
        int k = 0;
        if (!g.c.model)
            g.c.model = pos[k++];
        if (n_pos - k > 1)
            fatal(2, "usage: g4 run [MODEL] [PROMPT] (quote the prompt)");
        if (n_pos - k == 1)
            g.prompt = pos[k];
        g.chat = 1;
        return cmd_generate(&g, g.prompt == NULL);
    }
    if (!strcmp(cmd, "chat")) {
        if (!g.c.model && n_pos)
            g.c.model = pos[0];
        if (!g.c.model)
            fatal(2, "usage: g4 chat MODEL");
        g.chat = 1;
        return cmd_generate(&g, 1);
    }
    if (!strcmp(cmd, "bench")) {
        if (!g.c.model && n_pos)
            g.c.model = pos[0];
        return cmd_bench(&g.c, n_pp, n_tg, reps > 0 ? reps : 1);
    }
    if (!strcmp(cmd, "info")) {
        if (!g.c.model && n_pos)
            g.c.model = pos[0];
        return cmd_info(&g.c);
    }
    if (!strcmp(cmd, "tokenize")) {
        if (!g.c.model && n_pos >= 2) {
            g.c.model = pos[0];
            return cmd_tokenize(&g.c, pos[1], bos, special, ids_only);
        }
        return cmd_tokenize(&g.c, n_pos ? pos[n_pos - 1] : NULL, bos, special, ids_only);
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        open_library(g.c.lib, 0);
        printf("g4plug %s (ABI %u.%u) from %s\n", A->version_string(),
               (unsigned)(g_dl.abi_version >> 16), (unsigned)(g_dl.abi_version & 0xffff),
               g_dl.path);
        return 0;
    }
    fprintf(stderr, "g4: unknown command '%s'\n\n%s", cmd, k_usage);
    return 2;
}
