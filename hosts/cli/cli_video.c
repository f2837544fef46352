/* The g4 CLI's video options and steps (see cli_video.h). */
#include "cli_video.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A video file is read whole (FFmpeg then seeks in memory); larger files are refused. */
#define CLI_VIDEO_MAX_BYTES ((size_t)4 << 30)

static int parse_int(const char *opt, const char *s, int32_t lo, int32_t hi, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "g4: %s %s: use a whole number in %d..%d\n", opt, s, (int)lo, (int)hi);
        exit(2);
    }
    *out = (int32_t)v;
    return 1;
}

int cli_video_parse(int argc, char **argv, int *i, cli_video_args *v)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--no-audio")) {
        v->no_audio = 1;
        return 1;
    }
    int takes = !strcmp(a, "--video") || !strcmp(a, "--frames") || !strcmp(a, "--fps") ||
                !strcmp(a, "--max-frames") || !strcmp(a, "--frame-tokens");
    if (!takes)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "g4: %s needs a value\n", a);
        exit(2);
    }
    const char *val = argv[++*i];
    if (!strcmp(a, "--video")) {
        v->path = val;
        return 1;
    }
    if (!strcmp(a, "--frames"))
        return parse_int(a, val, 1, G4_VIDEO_MAX_FRAMES, &v->n_frames);
    if (!strcmp(a, "--max-frames"))
        return parse_int(a, val, 1, G4_VIDEO_MAX_FRAMES, &v->max_frames);
    if (!strcmp(a, "--frame-tokens")) {
        int r = parse_int(a, val, 70, 1120, &v->frame_tokens);
        if (r == 1 && v->frame_tokens != 70 && v->frame_tokens != 140 && v->frame_tokens != 280 &&
            v->frame_tokens != 560 && v->frame_tokens != 1120) {
            fprintf(stderr, "g4: --frame-tokens %s: use 70, 140, 280, 560 or 1120\n", val);
            exit(2);
        }
        return r;
    }
    char *end;
    errno = 0;
    double f = strtod(val, &end);
    if (errno || end == val || *end || !(f > 0) || f > 1000) {
        fprintf(stderr, "g4: --fps %s: use a rate in (0, 1000]\n", val);
        exit(2);
    }
    v->fps = f;
    return 1;
}

static unsigned char *slurp(const char *path, size_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    /* a regular file of a known size only (not /dev/zero, a FIFO or a terminal) */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > CLI_VIDEO_MAX_BYTES) {
        snprintf(err, errlen, "not a regular file of at most %zu GiB", CLI_VIDEO_MAX_BYTES >> 30);
        fclose(f);
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= CLI_VIDEO_MAX_BYTES) {
                snprintf(err, errlen, "the file is larger than %zu GiB", CLI_VIDEO_MAX_BYTES >> 30);
                free(buf);
                fclose(f);
                return NULL;
            }
            cap = cap ? cap * 2 : (1 << 20);
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "read error");
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

static int on_progress(void *user, int done, int total)
{
    int tty = *(int *)user;
    if (tty) {
        fprintf(stderr, "\rvideo: embedding frame %d/%d", done, total);
        if (done == total)
            fputs("\r\033[K", stderr);
    } else if (done == 0 || (total >= 8 && done % (total / 4) == 0 && done < total)) {
        fprintf(stderr, "video: %d/%d frames embedded\n", done, total);
    }
    return 1;
}

int cli_video_embed(const g4_api_v1 *A, const g4_model *m, const cli_video_args *v,
                    int64_t token_room, g4v_embedded *e, char *err, size_t errlen)
{
    size_t size = 0;
    unsigned char *bytes = slurp(v->path, &size, err, errlen);
    if (!bytes)
        return G4_ERR_IO;
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    if (v->n_frames)
        o.n_frames = v->n_frames;
    o.fps = v->fps;
    o.max_frames = v->max_frames;
    if (v->frame_tokens)
        o.frame_tokens = v->frame_tokens;
    if (v->no_audio)
        o.flags |= G4_VIDEO_NO_AUDIO;
    int tty = isatty(2);
    int rc = g4v_embed_clip(A, m, bytes, size, &o, token_room, on_progress, &tty, e, err, errlen);
    free(bytes);
    if (rc != G4_OK)
        return rc;
    fprintf(stderr, "video %s -> %d frames, %zu soft tokens + %zu audio tokens in %.0f ms", v->path,
            (int)e->n_frames, e->frame_tokens * (size_t)e->n_frames, e->audio_tokens, e->ms);
    if (e->audio_note && !v->no_audio)
        fprintf(stderr, " (no audio: %s)", e->audio_note);
    fprintf(stderr, "\n");
    return G4_OK;
}

void cli_show_prompt(const g4_api_v1 *A, const g4_model *m, const int32_t *ids, size_t n)
{
    char piece[256];
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && ids[j] == ids[i])
            j++;
        size_t len = 0;
        if (A->token_to_piece(m, ids[i], G4_DETOK_RENDER_SPECIAL, piece, sizeof piece - 1, &len) != G4_OK)
            len = 0;
        if (len > sizeof piece - 1)
            len = sizeof piece - 1;
        piece[len] = '\0';
        int soft = ids[i] == A->token_id(m, G4_TOKEN_VIDEO_SOFT) ||
                   ids[i] == A->token_id(m, G4_TOKEN_IMAGE_SOFT) ||
                   ids[i] == A->token_id(m, G4_TOKEN_AUDIO_SOFT);
        if (soft) {
            fprintf(stderr, "%sx%zu", piece, j - i);
            i = j;
        } else {
            fputs(piece, stderr);
            i++;
        }
    }
    fputc('\n', stderr);
}
