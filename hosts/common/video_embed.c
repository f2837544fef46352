/* video_embed — see video_embed.h. */
#include "video_embed.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void g4v_embedded_free(g4v_embedded *e)
{
    if (!e)
        return;
    free(e->text);
    free(e->indices);
    free(e->seconds);
    free(e->frames);
    free(e->audio);
    memset(e, 0, sizeof *e);
}

/* Text of the layout and its token count. */
static int layout_text(const g4_api_v1 *A, const g4_model *m, const g4v_embedded *e,
                       char **text, size_t *n_tok, char *err, size_t errlen)
{
    g4_video_layout v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.n_frames = e->n_frames;
    v.seconds = e->seconds;
    v.frame_tokens = (int32_t)e->frame_tokens;
    v.audio_tokens = (int64_t)e->audio_tokens;
    v.duration = e->info.duration;
    size_t len = 0;
    g4_status st = A->video_format(m, &v, NULL, 0, &len);
    if (st != G4_OK)
        return fail(err, errlen, st, "%s", A->last_error());
    char *t = malloc(len + 1);
    if (!t)
        return fail(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory (%zu bytes of prompt text)", len);
    if ((st = A->video_format(m, &v, t, len + 1, &len)) != G4_OK) {
        free(t);
        return fail(err, errlen, st, "%s", A->last_error());
    }
    st = A->tokenize(m, t, len, G4_TOKENIZE_PARSE_SPECIAL, NULL, 0, n_tok);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL) {
        free(t);
        return fail(err, errlen, st, "%s", A->last_error());
    }
    *text = t;
    return G4_OK;
}

static int too_big(const g4v_embedded *e, size_t n_prompt, int64_t room, const char *what,
                   char *err, size_t errlen)
{
    return fail(err, errlen, G4_ERR_CONTEXT_FULL,
                "the video needs %s%zu prompt tokens (%d frames x %zu soft tokens, %zu audio "
                "tokens, the rest timestamps and markers) but %lld fit in the context: use fewer "
                "frames (--frames N, --fps F, --max-frames N), a smaller frame budget "
                "(--frame-tokens 70), --no-audio, or a larger --ctx",
                what, n_prompt, (int)e->n_frames, e->frame_tokens, e->audio_tokens,
                (long long)room);
}

int g4v_embed_clip(const g4_api_v1 *A, const g4_model *m, const void *bytes, size_t size,
                   const g4_video_options *o, int64_t token_room, g4v_progress_fn progress,
                   void *user, g4v_embedded *e, char *err, size_t errlen)
{
    if (!A || !m || !e || !o)
        return fail(err, errlen, G4_ERR_INVALID_ARGUMENT, "g4v_embed_clip: NULL argument");
    memset(e, 0, sizeof *e);
    if (!G4_API_HAS(A, video_format))
        return fail(err, errlen, G4_ERR_UNSUPPORTED, "the library is older than ABI 1.1 (no video)");
    double t0 = now_ms();
    g4v_clip *c = NULL;
    float *pcm = NULL;
    uint8_t *rgb = NULL;
    int rc = g4v_open(bytes, size, &c, &e->info, err, errlen);
    if (rc != G4_OK)
        return rc;
    g4_model_info mi;
    memset(&mi, 0, sizeof mi);
    mi.struct_size = sizeof mi;
    A->model_get_info(m, &mi);
    e->n_embd = mi.n_embd;
    const size_t d = (size_t)mi.n_embd;

    /* 1. which frames, how many tokens each */
    size_t nf = 0;
    g4_status st = A->video_sample(o, e->info.n_frames, e->info.fps, NULL, NULL, 0, &nf);
    if (st == G4_OK) {
        e->indices = malloc(sizeof *e->indices * nf);
        e->seconds = malloc(sizeof *e->seconds * nf);
        st = e->indices && e->seconds
                 ? A->video_sample(o, e->info.n_frames, e->info.fps, e->indices, e->seconds, nf, &nf)
                 : G4_ERR_OUT_OF_MEMORY;
    }
    if (st != G4_OK) {
        rc = fail(err, errlen, st, "%s", st == G4_ERR_OUT_OF_MEMORY ? "out of memory" : A->last_error());
        goto bad;
    }
    e->n_frames = (int32_t)nf;
    st = A->embed_video_frame(m, NULL, e->info.width, e->info.height, 0, o, NULL, 0, &e->frame_tokens);
    if (st != G4_OK) {
        rc = fail(err, errlen, st, "%s", A->last_error());
        goto bad;
    }

    /* 2. a first check without audio (and with its estimate: 40 ms a token, the reference's
     *    audio_ms_per_token) before decoding a possibly long sound track */
    int want_audio = !(o->flags & G4_VIDEO_NO_AUDIO);
    if (!want_audio)
        e->audio_note = "--no-audio";
    else if (!e->info.has_audio)
        e->audio_note = "the clip has no sound track";
    else if (!(mi.capabilities & G4_MODEL_HAS_AUDIO))
        e->audio_note = "the model has no audio encoder";
    want_audio = !e->audio_note;
    size_t n_prompt = 0;
    if (want_audio)
        e->audio_tokens = (size_t)ceil(e->info.duration * 25.0);
    if ((rc = layout_text(A, m, e, &e->text, &n_prompt, err, errlen)) != G4_OK)
        goto bad;
    free(e->text);
    e->text = NULL;
    if ((int64_t)n_prompt > token_room) {
        rc = too_big(e, n_prompt, token_room, want_audio ? "about " : "", err, errlen);
        goto bad;
    }
    e->audio_tokens = 0;

    /* 3. the sound track: decoded now (cheap next to embedding), exact token count */
    size_t n_pcm = 0;
    if (want_audio) {
        rc = g4v_audio_16k(c, e->info.duration + 10.0, &pcm, &n_pcm, err, errlen);
        if (rc != G4_OK)
            goto bad;
        if (n_pcm < 1600) { /* < 0.1 s: nothing to hear */
            e->audio_note = "the sound track is empty";
        } else if ((st = A->embed_audio(m, pcm, n_pcm, 16000, NULL, 0, &e->audio_tokens)) != G4_OK) {
            rc = fail(err, errlen, st, "sound track: %s", A->last_error());
            goto bad;
        }
    }
    if ((rc = layout_text(A, m, e, &e->text, &e->n_prompt, err, errlen)) != G4_OK)
        goto bad;
    if ((int64_t)e->n_prompt > token_room) {
        rc = too_big(e, e->n_prompt, token_room, "", err, errlen);
        goto bad;
    }

    /* 4. embed: audio, then every frame */
    size_t frame_floats = e->frame_tokens * d;
    e->frames = malloc(sizeof(float) * frame_floats * nf);
    rgb = malloc((size_t)e->info.width * e->info.height * 3);
    if (e->audio_tokens)
        e->audio = malloc(sizeof(float) * e->audio_tokens * d);
    if (!e->frames || !rgb || (e->audio_tokens && !e->audio)) {
        rc = fail(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory for %zu soft tokens of %zu floats",
                  e->frame_tokens * nf + e->audio_tokens, d);
        goto bad;
    }
    if (e->audio_tokens) {
        size_t k = 0;
        st = A->embed_audio(m, pcm, n_pcm, 16000, e->audio, e->audio_tokens * d, &k);
        if (st != G4_OK || k != e->audio_tokens) {
            rc = fail(err, errlen, st != G4_OK ? st : G4_ERR_INTERNAL, "sound track: %s",
                      st != G4_OK ? A->last_error() : "token count changed");
            goto bad;
        }
    }
    free(pcm);
    pcm = NULL;
    if (progress && !progress(user, 0, (int)nf)) {
        rc = fail(err, errlen, G4_ERR_CANCELLED, "cancelled");
        goto bad;
    }
    for (size_t i = 0; i < nf; i++) {
        rc = g4v_frame_at(c, e->seconds[i], rgb, err, errlen);
        if (rc != G4_OK)
            goto bad;
        size_t k = 0;
        st = A->embed_video_frame(m, rgb, e->info.width, e->info.height, 3 * (size_t)e->info.width,
                                  o, e->frames + i * frame_floats, frame_floats, &k);
        if (st != G4_OK || k != e->frame_tokens) {
            rc = fail(err, errlen, st != G4_OK ? st : G4_ERR_INTERNAL, "frame %zu: %s", i,
                      st != G4_OK ? A->last_error() : "token count changed");
            goto bad;
        }
        if (progress && !progress(user, (int)(i + 1), (int)nf)) {
            rc = fail(err, errlen, G4_ERR_CANCELLED, "cancelled");
            goto bad;
        }
    }
    free(rgb);
    g4v_close(c);
    e->ms = now_ms() - t0;
    return G4_OK;
bad:
    free(pcm);
    free(rgb);
    g4v_close(c);
    g4v_embedded_free(e);
    return rc;
}

int g4v_spans(const g4_api_v1 *A, const g4_model *m, const int32_t *ids, size_t n,
              int32_t first_index, const g4v_embedded *e, g4_embd_span *spans, size_t cap,
              size_t *n_spans, char *err, size_t errlen)
{
    const int32_t vid = A->token_id(m, G4_TOKEN_VIDEO_SOFT), aud = A->token_id(m, G4_TOKEN_AUDIO_SOFT);
    const size_t d = (size_t)e->n_embd;
    size_t k = 0, frame = 0, arow = 0;
    for (size_t i = 0; i < n;) {
        int32_t t = ids[i];
        if (t != vid && t != aud) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && ids[j] == t)
            j++;
        size_t run = j - i;
        g4_embd_span sp;
        memset(&sp, 0, sizeof sp);
        sp.first = first_index + (int32_t)i;
        sp.n = (int32_t)run;
        if (t == vid) {
            if (frame >= (size_t)e->n_frames || run != e->frame_tokens)
                return fail(err, errlen, G4_ERR_FORMAT, "video layout: run of %zu <|video|> at %zu "
                            "does not match frame %zu (%zu tokens)", run, i, frame, e->frame_tokens);
            sp.kind = G4_SPAN_VIDEO;
            sp.embd = e->frames + frame * e->frame_tokens * d;
            frame++;
        } else {
            if (arow + run > e->audio_tokens)
                return fail(err, errlen, G4_ERR_FORMAT, "video layout: %zu <|audio|> at %zu run past "
                            "the %zu audio tokens", run, i, e->audio_tokens);
            sp.kind = G4_SPAN_AUDIO;
            sp.embd = e->audio + arow * d;
            arow += run;
        }
        if (k < cap)
            spans[k] = sp;
        k++;
        i = j;
    }
    *n_spans = k;
    if (frame != (size_t)e->n_frames || arow != e->audio_tokens)
        return fail(err, errlen, G4_ERR_FORMAT, "video layout: %zu of %d frames and %zu of %zu audio "
                    "tokens placed", frame, (int)e->n_frames, arow, e->audio_tokens);
    if (k > cap)
        return fail(err, errlen, G4_ERR_BUFFER_TOO_SMALL, "%zu spans, cap %zu", k, cap);
    return G4_OK;
}
