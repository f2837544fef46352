/* JSON request bodies → srv_request (see srv_request.h). Pure: cJSON and libc only. */
#include "srv_request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

void srv_limits_default(srv_limits *l)
{
    l->max_messages = 1024;
    l->max_media = 16;
    l->max_stop = 16;
    l->max_stop_len = 256;
    l->max_tokens_in = (size_t)1 << 20;
    l->max_predict = 1 << 20;
}

/* ---- base64 ------------------------------------------------------------------------------- */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

unsigned char *srv_base64_decode(const char *s, size_t len, size_t *n)
{
    *n = 0;
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_val(c);
        if (v < 0 || pad) /* bad character, or data after padding */
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* 6 leftover bits cannot encode a byte; padding must complete a quantum */
    if (bits >= 6 || pad > 2 || (pad && ((size_t)bits / 2 != pad)))
        goto bad;
    *n = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct pctx {
    const srv_limits *lim;
    char *err;
    size_t errn;
} pctx;

static int fail(pctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (p->errn)
        vsnprintf(p->err, p->errn, fmt, ap);
    va_end(ap);
    return -1;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    return f && !cJSON_IsNull(f) ? f : NULL; /* null means "not given" everywhere */
}

static int get_number(pctx *p, const cJSON *obj, const char *name, double lo, double hi,
                      double *out)
{
    const cJSON *f = field(obj, name);
    if (!f)
        return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble))
        return fail(p, "'%s' must be a number", name);
    if (f->valuedouble < lo || f->valuedouble > hi)
        return fail(p, "'%s' must be between %g and %g", name, lo, hi);
    *out = f->valuedouble;
    return 1;
}

static int is_int(const cJSON *f, double lo, double hi)
{
    return cJSON_IsNumber(f) && isfinite(f->valuedouble) && f->valuedouble == floor(f->valuedouble) &&
           f->valuedouble >= lo && f->valuedouble <= hi;
}

static int get_int(pctx *p, const cJSON *obj, const char *name, double lo, double hi, double *out)
{
    const cJSON *f = field(obj, name);
    if (!f)
        return 0;
    if (!is_int(f, lo, hi))
        return fail(p, "'%s' must be an integer between %.0f and %.0f", name, lo, hi);
    *out = f->valuedouble;
    return 1;
}

static int get_bool(pctx *p, const cJSON *obj, const char *name, int *out)
{
    const cJSON *f = field(obj, name);
    if (!f)
        return 0;
    if (!cJSON_IsBool(f))
        return fail(p, "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(f) ? 1 : 0;
    return 1;
}

int srv_buf_add(srv_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns)
            return -1;
        b->s = ns;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

/* ---- media -------------------------------------------------------------------------------- */

static int add_media(pctx *p, srv_request *r, int kind, unsigned char *data, size_t size)
{
    if (r->n_media >= p->lim->max_media) {
        free(data);
        return fail(p, "too many media parts (at most %zu)", p->lim->max_media);
    }
    srv_media *m = realloc(r->media, sizeof *m * (r->n_media + 1));
    if (!m) {
        free(data);
        return fail(p, "out of memory");
    }
    r->media = m;
    memset(&m[r->n_media], 0, sizeof *m);
    m[r->n_media].kind = kind;
    m[r->n_media].data = data;
    m[r->n_media].size = size;
    r->n_media++;
    return 0;
}

static int parse_image_url(pctx *p, srv_request *r, const cJSON *part)
{
    const cJSON *iu = field(part, "image_url");
    const cJSON *u = iu && cJSON_IsObject(iu) ? field(iu, "url") : iu;
    if (!u || !cJSON_IsString(u))
        return fail(p, "image_url part needs 'image_url': {'url': 'data:image/...;base64,...'}");
    const char *url = u->valuestring;
    if (strncasecmp(url, "data:", 5) != 0)
        return fail(p, "only data: URLs are supported for images (no remote fetching)");
    const char *comma = strchr(url, ',');
    if (!comma)
        return fail(p, "malformed data URL: no ','");
    size_t hlen = (size_t)(comma - url);
    char head[128];
    if (hlen >= sizeof head)
        return fail(p, "malformed data URL: header too long");
    memcpy(head, url, hlen);
    head[hlen] = '\0';
    if (!strstr(head, ";base64"))
        return fail(p, "data URL must be base64-encoded (';base64,')");
    if (strncasecmp(head + 5, "image/", 6) != 0)
        return fail(p, "image_url data URL must have an image/* media type");
    size_t n = 0;
    unsigned char *d = srv_base64_decode(comma + 1, strlen(comma + 1), &n);
    if (!d)
        return fail(p, "invalid base64 in image data URL");
    int png = n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0;
    int jpg = n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF;
    if (!png && !jpg) {
        free(d);
        return fail(p, "unsupported image format (PNG and JPEG are supported)");
    }
    return add_media(p, r, SRV_MEDIA_IMAGE, d, n);
}

static int parse_input_audio(pctx *p, srv_request *r, const cJSON *part)
{
    const cJSON *ia = field(part, "input_audio");
    if (!ia || !cJSON_IsObject(ia))
        return fail(p, "input_audio part needs 'input_audio': {'data': base64, 'format': 'wav'}");
    const cJSON *data = field(ia, "data"), *fmt = field(ia, "format");
    if (!data || !cJSON_IsString(data))
        return fail(p, "'input_audio.data' must be a base64 string");
    const char *f = fmt && cJSON_IsString(fmt) ? fmt->valuestring : NULL;
    if (fmt && !f)
        return fail(p, "'input_audio.format' must be a string");
    if (f && strcmp(f, "wav") && strcmp(f, "mp3") && strcmp(f, "flac") && strcmp(f, "ogg"))
        return fail(p, "unsupported audio format '%.32s' (wav, mp3, flac, ogg)", f);
    size_t n = 0;
    unsigned char *d = srv_base64_decode(data->valuestring, strlen(data->valuestring), &n);
    if (!d)
        return fail(p, "invalid base64 in input_audio.data");
    int wav = n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WAVE", 4);
    if ((!f || !strcmp(f, "wav")) && !wav) {
        free(d);
        return fail(p, "input_audio.data is not a WAV file");
    }
    return add_media(p, r, SRV_MEDIA_AUDIO, d, n);
}

/* {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,...", "fps": 1, "frames": 32,
 *  "max_frames": N, "frame_tokens": 70, "audio": false}}: data URLs only (never fetched). */
static int parse_video_url(pctx *p, srv_request *r, const cJSON *part)
{
    const cJSON *vu = field(part, "video_url");
    const cJSON *u = vu && cJSON_IsObject(vu) ? field(vu, "url") : vu;
    if (!u || !cJSON_IsString(u))
        return fail(p, "video_url part needs 'video_url': {'url': 'data:video/...;base64,...'}");
    const char *url = u->valuestring;
    if (strncasecmp(url, "data:", 5) != 0)
        return fail(p, "only data: URLs are supported for videos (no remote fetching)");
    const char *comma = strchr(url, ',');
    if (!comma || (size_t)(comma - url) >= 128)
        return fail(p, "malformed data URL");
    char head[128];
    memcpy(head, url, (size_t)(comma - url));
    head[comma - url] = '\0';
    if (!strstr(head, ";base64"))
        return fail(p, "data URL must be base64-encoded (';base64,')");
    if (strncasecmp(head + 5, "video/", 6) != 0 && strncasecmp(head + 5, "application/octet-stream", 24) != 0)
        return fail(p, "video_url data URL must have a video/* media type");
    int32_t iv[3] = {0, 0, 0};
    static const char *const names[3] = {"frames", "max_frames", "frame_tokens"};
    double fps = 0;
    int no_audio = 0;
    if (cJSON_IsObject(vu)) {
        for (int k = 0; k < 3; k++) {
            const cJSON *x = field(vu, names[k]);
            if (x && (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 7200 ||
                      x->valuedouble != (double)(int32_t)x->valuedouble))
                return fail(p, "video_url.%s must be a whole number in 1..7200", names[k]);
            iv[k] = x ? (int32_t)x->valuedouble : 0;
        }
        const cJSON *x = field(vu, "fps");
        if (x && (!cJSON_IsNumber(x) || !(x->valuedouble > 0) || x->valuedouble > 1000))
            return fail(p, "video_url.fps must be a number in (0, 1000]");
        fps = x ? x->valuedouble : 0;
        x = field(vu, "audio");
        if (x && !cJSON_IsBool(x))
            return fail(p, "video_url.audio must be true or false");
        no_audio = x && cJSON_IsFalse(x);
    }
    size_t n = 0;
    unsigned char *d = srv_base64_decode(comma + 1, strlen(comma + 1), &n);
    if (!d || n == 0) {
        free(d);
        return fail(p, "invalid base64 in video data URL");
    }
    if (add_media(p, r, SRV_MEDIA_VIDEO, d, n))
        return -1;
    srv_media *m = &r->media[r->n_media - 1];
    m->frames = iv[0];
    m->max_frames = iv[1];
    m->frame_tokens = iv[2];
    m->fps = fps;
    m->no_audio = no_audio;
    return 0;
}

/* Text must not smuggle media markers: each marker stands for exactly one media part. */
static int add_text(pctx *p, srv_buf *b, const char *s)
{
    if (strstr(s, "<|image|>") || strstr(s, "<|audio|>") || strstr(s, "<|video|>"))
        return fail(p, "message text must not contain the <|image|>, <|audio|> or <|video|> markers");
    return srv_buf_add(b, s, strlen(s)) ? fail(p, "out of memory") : 0;
}

static int parse_messages(pctx *p, srv_request *r, const cJSON *root)
{
    const cJSON *msgs = field(root, "messages");
    if (!msgs || !cJSON_IsArray(msgs))
        return fail(p, "'messages' must be a non-empty array");
    size_t n = (size_t)cJSON_GetArraySize(msgs);
    if (n == 0)
        return fail(p, "'messages' must be a non-empty array");
    if (n > p->lim->max_messages)
        return fail(p, "too many messages (at most %zu)", p->lim->max_messages);
    r->msgs = calloc(n + 1, sizeof *r->msgs); /* +1: see srv_request_free */
    if (!r->msgs)
        return fail(p, "out of memory");
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        srv_message *out = &r->msgs[r->n_msgs];
        if (!cJSON_IsObject(m))
            return fail(p, "messages[%zu] must be an object", r->n_msgs);
        const cJSON *role = field(m, "role");
        if (!role || !cJSON_IsString(role))
            return fail(p, "messages[%zu].role must be a string", r->n_msgs);
        const char *rs = role->valuestring;
        if (!strcmp(rs, "system") || !strcmp(rs, "developer"))
            strcpy(out->role, "system");
        else if (!strcmp(rs, "user"))
            strcpy(out->role, "user");
        else if (!strcmp(rs, "assistant") || !strcmp(rs, "model"))
            strcpy(out->role, "model");
        else if (!strcmp(rs, "tool")) /* a tool result (see srv_tools.c) */
            strcpy(out->role, "tool");
        else
            return fail(p, "messages[%zu].role '%.32s' is not supported", r->n_msgs, rs);
        srv_buf b = {0};
        if (srv_buf_add(&b, "", 0))
            return fail(p, "out of memory");
        out->content = b.s; /* owned from here on, so failures below free it */
        const cJSON *c = field(m, "content");
        if (!c) {
            if (strcmp(out->role, "model") != 0)
                return fail(p, "messages[%zu].content is required", r->n_msgs);
        } else if (cJSON_IsString(c)) {
            if (add_text(p, &b, c->valuestring))
                return -1;
        } else if (cJSON_IsArray(c)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, c)
            {
                const cJSON *type = cJSON_IsObject(part) ? field(part, "type") : NULL;
                int rc = 0;
                if (!type || !cJSON_IsString(type))
                    rc = fail(p, "messages[%zu].content parts need a string 'type'", r->n_msgs);
                else if (!strcmp(type->valuestring, "text")) {
                    const cJSON *t = field(part, "text");
                    rc = t && cJSON_IsString(t) ? add_text(p, &b, t->valuestring)
                                                : fail(p, "text part needs a string 'text'");
                } else if (!strcmp(type->valuestring, "image_url")) {
                    rc = parse_image_url(p, r, part);
                    if (!rc && srv_buf_add(&b, "<|image|>", 9))
                        rc = fail(p, "out of memory");
                } else if (!strcmp(type->valuestring, "video_url")) {
                    rc = parse_video_url(p, r, part);
                    if (!rc && srv_buf_add(&b, "<|video|>", 9))
                        rc = fail(p, "out of memory");
                } else if (!strcmp(type->valuestring, "input_audio")) {
                    rc = parse_input_audio(p, r, part);
                    if (!rc && srv_buf_add(&b, "<|audio|>", 9))
                        rc = fail(p, "out of memory");
                } else {
                    rc = fail(p, "content part type '%.32s' is not supported", type->valuestring);
                }
                out->content = b.s;
                if (rc)
                    return -1;
            }
        } else {
            return fail(p, "messages[%zu].content must be a string or an array of parts", r->n_msgs);
        }
        out->content = b.s;
        r->n_msgs++;
    }
    return 0;
}

static int parse_token_array(pctx *p, srv_request *r, const cJSON *arr, const char *name)
{
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > p->lim->max_tokens_in)
        return fail(p, "'%s' has too many tokens (at most %zu)", name, p->lim->max_tokens_in);
    r->tokens = malloc(sizeof *r->tokens * (n ? n : 1));
    if (!r->tokens)
        return fail(p, "out of memory");
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        if (!is_int(t, 0, 2147483647.0))
            return fail(p, "'%s' must be an array of non-negative integer token ids", name);
        r->tokens[r->n_tokens++] = (int32_t)t->valuedouble;
    }
    r->has_tokens = 1;
    return 0;
}

/* prompt: a string, an array of token ids, or an array holding one string */
static int parse_prompt(pctx *p, srv_request *r, const cJSON *root, const char *name)
{
    const cJSON *pr = field(root, name);
    if (!pr)
        return fail(p, "'%s' is required", name);
    if (cJSON_IsString(pr)) {
        r->prompt = dupn(pr->valuestring, strlen(pr->valuestring));
        return r->prompt ? 0 : fail(p, "out of memory");
    }
    if (cJSON_IsArray(pr)) {
        int n = cJSON_GetArraySize(pr);
        if (n == 1 && cJSON_IsString(pr->child)) {
            r->prompt = dupn(pr->child->valuestring, strlen(pr->child->valuestring));
            return r->prompt ? 0 : fail(p, "out of memory");
        }
        if (n >= 1 && cJSON_IsString(pr->child))
            return fail(p, "only one prompt per request is supported");
        if (n == 0)
            return fail(p, "'%s' must not be empty", name);
        return parse_token_array(p, r, pr, name);
    }
    return fail(p, "'%s' must be a string or an array of token ids", name);
}

static int parse_stop(pctx *p, srv_request *r, const cJSON *root)
{
    const cJSON *s = field(root, "stop");
    if (!s)
        return 0;
    size_t n = cJSON_IsString(s) ? 1 : cJSON_IsArray(s) ? (size_t)cJSON_GetArraySize(s) : (size_t)-1;
    if (n == (size_t)-1)
        return fail(p, "'stop' must be a string or an array of strings");
    if (n > p->lim->max_stop)
        return fail(p, "'stop' has too many strings (at most %zu)", p->lim->max_stop);
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    if (!r->stop)
        return fail(p, "out of memory");
    const cJSON *one = cJSON_IsString(s) ? s : s->child;
    for (; one; one = cJSON_IsString(s) ? NULL : one->next) {
        if (!cJSON_IsString(one))
            return fail(p, "'stop' must be a string or an array of strings");
        size_t l = strlen(one->valuestring);
        if (l == 0)
            continue; /* an empty stop string would stop before anything: ignore it */
        if (l > p->lim->max_stop_len)
            return fail(p, "stop strings are limited to %zu bytes", p->lim->max_stop_len);
        if (!(r->stop[r->n_stop] = dupn(one->valuestring, l)))
            return fail(p, "out of memory");
        r->n_stop++;
    }
    return 0;
}

static int parse_sampling(pctx *p, srv_request *r, const cJSON *root)
{
    double v;
    int rc;
#define NUM(name, lo, hi, dst, bit)                                                              \
    if ((rc = get_number(p, root, name, lo, hi, &v)) < 0)                                       \
        return -1;                                                                               \
    if (rc) {                                                                                    \
        dst = (float)v;                                                                          \
        r->set |= bit;                                                                           \
    }
    NUM("temperature", 0, 100, r->temperature, SRV_SET_TEMPERATURE)
    NUM("top_p", 0, 1, r->top_p, SRV_SET_TOP_P)
    NUM("min_p", 0, 1, r->min_p, SRV_SET_MIN_P)
    NUM("repeat_penalty", 0, 100, r->repeat_penalty, SRV_SET_REPEAT_PENALTY)
#undef NUM
    /* OpenAI penalties: accepted for compatibility, not used */
    if (get_number(p, root, "frequency_penalty", -2, 2, &v) < 0 ||
        get_number(p, root, "presence_penalty", -2, 2, &v) < 0)
        return -1;
    if ((rc = get_int(p, root, "top_k", -1, 1e9, &v)) < 0)
        return -1;
    if (rc) {
        r->top_k = (int32_t)v;
        r->set |= SRV_SET_TOP_K;
    }
    if ((rc = get_int(p, root, "repeat_last_n", -1, 1e9, &v)) < 0)
        return -1;
    if (rc) {
        r->repeat_last_n = (int32_t)v;
        r->set |= SRV_SET_REPEAT_LAST_N;
    }
    /* seed: any integer a double holds exactly; -1 means "random" as in llama-server */
    if ((rc = get_int(p, root, "seed", -9007199254740992.0, 9007199254740992.0, &v)) < 0)
        return -1;
    if (rc && v != -1) {
        r->seed = v < 0 ? (uint64_t)(int64_t)v : (uint64_t)v;
        r->set |= SRV_SET_SEED;
    }
    /* output length: endpoint-specific names, -1 = unlimited */
    static const char *const names[] = {"max_tokens", "max_completion_tokens", "n_predict"};
    for (size_t i = 0; i < 3; i++) {
        if ((rc = get_int(p, root, names[i], -1, p->lim->max_predict, &v)) < 0)
            return -1;
        if (rc)
            r->max_tokens = (int32_t)v;
    }
    if ((rc = get_int(p, root, "n", 1, 1, &v)) < 0)
        return fail(p, "only n = 1 is supported");
    return parse_stop(p, r, root);
}

/* ---- entry -------------------------------------------------------------------------------- */

int srv_request_parse(srv_endpoint ep, const char *body, size_t len, const srv_limits *lim,
                      srv_request *r, char *err, size_t errn)
{
    srv_limits dl;
    if (!lim) {
        srv_limits_default(&dl);
        lim = &dl;
    }
    pctx p = {lim, err, errn};
    memset(r, 0, sizeof *r);
    r->ep = ep;
    r->max_tokens = -1;
    r->parse_special = 1;
    r->cache_prompt = 1;
    if (errn)
        err[0] = '\0';

    const char *end = NULL;
    cJSON *root = body ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
    if (!root)
        return fail(&p, "request body is not valid JSON");
    /* one JSON value, then only whitespace: "{...} garbage" is not a request */
    while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end && end < body + len && *end) {
        cJSON_Delete(root);
        return fail(&p, "request body has data after the JSON value (byte %zu)", (size_t)(end - body));
    }
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = fail(&p, "request body must be a JSON object");
        goto done;
    }
    switch (ep) {
    case SRV_EP_CHAT:
    case SRV_EP_OAI_COMPLETION:
    case SRV_EP_COMPLETION: {
        if ((rc = ep == SRV_EP_CHAT ? parse_messages(&p, r, root) : parse_prompt(&p, r, root, "prompt")))
            break;
        if ((rc = parse_sampling(&p, r, root)))
            break;
        if (get_bool(&p, root, "stream", &r->stream) < 0 ||
            get_bool(&p, root, "cache_prompt", &r->cache_prompt) < 0 ||
            get_bool(&p, root, "return_tokens", &r->return_tokens) < 0) {
            rc = -1;
            break;
        }
        const cJSON *so = field(root, "stream_options");
        if (so && (!cJSON_IsObject(so) || get_bool(&p, so, "include_usage", &r->include_usage) < 0)) {
            rc = fail(&p, "'stream_options' must be an object with a boolean 'include_usage'");
            break;
        }
        const cJSON *kw = field(root, "chat_template_kwargs");
        if (kw && (!cJSON_IsObject(kw) || get_bool(&p, kw, "enable_thinking", &r->enable_thinking) < 0)) {
            rc = fail(&p, "'chat_template_kwargs.enable_thinking' must be a boolean");
            break;
        }
        rc = srv_agentic_parse(ep, root, r, err, errn);
        break;
    }
    case SRV_EP_TOKENIZE: {
        const cJSON *c = field(root, "content");
        if (!c || !cJSON_IsString(c)) {
            rc = fail(&p, "'content' must be a string");
            break;
        }
        if (!(r->prompt = dupn(c->valuestring, strlen(c->valuestring)))) {
            rc = fail(&p, "out of memory");
            break;
        }
        if (get_bool(&p, root, "add_special", &r->add_special) < 0 ||
            get_bool(&p, root, "parse_special", &r->parse_special) < 0 ||
            get_bool(&p, root, "with_pieces", &r->with_pieces) < 0)
            rc = -1;
        break;
    }
    case SRV_EP_DETOKENIZE: {
        const cJSON *t = field(root, "tokens");
        if (!t || !cJSON_IsArray(t)) {
            rc = fail(&p, "'tokens' must be an array of token ids");
            break;
        }
        rc = parse_token_array(&p, r, t, "tokens");
        break;
    }
    default:
        rc = fail(&p, "unknown endpoint");
    }
done:
    cJSON_Delete(root);
    if (rc) {
        srv_request_free(r);
        r->ep = ep;
    }
    return rc ? -1 : 0;
}

void srv_request_free(srv_request *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_msgs; i++)
        free(r->msgs[i].content);
    /* a message that failed mid-parse owns its content but is not counted in n_msgs */
    if (r->msgs && r->msgs[r->n_msgs].content)
        free(r->msgs[r->n_msgs].content);
    free(r->msgs);
    free(r->prompt);
    free(r->tokens);
    for (size_t i = 0; i < r->n_media; i++)
        free(r->media[i].data);
    free(r->media);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->stop);
    srv_agentic_free(r);
    memset(r, 0, sizeof *r);
}
