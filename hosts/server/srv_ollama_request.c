/* g4-server: an Ollama /api/chat or /api/generate body -> the equivalent OpenAI / llama-server
 * body, which srv_request_parse then validates. Pure: cJSON and libc only (fuzzed by
 * fuzz/fuzz_ollama_request.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "srv_ollama_request.h"

static const cJSON *field(const cJSON *o, const char *k)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static void copy_field(cJSON *dst, const char *to, const cJSON *src, const char *from)
{
    const cJSON *f = field(src, from);
    if (f)
        cJSON_AddItemToObject(dst, to, cJSON_Duplicate(f, 1));
}

/* content + images -> an OpenAI content value (a string, or parts with data-URL images) */
static cJSON *content_of(const cJSON *m, const char *text_key, char *err, size_t errn)
{
    const cJSON *text = field(m, text_key), *images = field(m, "images");
    if (text && !cJSON_IsString(text)) {
        snprintf(err, errn, "'%s' must be a string", text_key);
        return NULL;
    }
    if (!images)
        return cJSON_CreateString(text ? text->valuestring : "");
    if (!cJSON_IsArray(images)) {
        snprintf(err, errn, "'images' must be an array of base64 strings");
        return NULL;
    }
    cJSON *parts = cJSON_CreateArray();
    if (text && text->valuestring[0]) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "text");
        cJSON_AddStringToObject(t, "text", text->valuestring);
        cJSON_AddItemToArray(parts, t);
    }
    const cJSON *im;
    cJSON_ArrayForEach(im, images)
    {
        if (!cJSON_IsString(im)) {
            snprintf(err, errn, "'images' must be an array of base64 strings");
            cJSON_Delete(parts);
            return NULL;
        }
        size_t n = strlen(im->valuestring);
        char *url = malloc(n + 32);
        if (!url) {
            cJSON_Delete(parts);
            snprintf(err, errn, "out of memory");
            return NULL;
        }
        /* the media type is only a label: the bytes' signature decides (PNG or JPEG) */
        snprintf(url, n + 32, "data:image/png;base64,%s", im->valuestring);
        cJSON *p = cJSON_CreateObject(), *iu = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON_AddStringToObject(iu, "url", url);
        cJSON_AddItemToObject(p, "image_url", iu);
        cJSON_AddItemToArray(parts, p);
        free(url);
    }
    return parts;
}

cJSON *srv_ollama_translate(const cJSON *in, int generate, srv_endpoint *ep, int *stream, char *err, size_t errn)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *f;
    *ep = SRV_EP_CHAT;
    *stream = 1; /* Ollama streams unless told otherwise */
    if ((f = field(in, "stream"))) {
        if (!cJSON_IsBool(f)) {
            snprintf(err, errn, "'stream' must be a boolean");
            goto bad;
        }
        *stream = cJSON_IsTrue(f);
    }
    if (generate) {
        const cJSON *raw = field(in, "raw");
        if (raw && cJSON_IsTrue(raw)) {
            *ep = SRV_EP_COMPLETION;
            copy_field(o, "prompt", in, "prompt");
            if (!field(in, "prompt"))
                cJSON_AddStringToObject(o, "prompt", "");
        } else {
            cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
            const cJSON *sys = field(in, "system");
            if (sys && cJSON_IsString(sys) && sys->valuestring[0]) {
                cJSON *m = cJSON_CreateObject();
                cJSON_AddStringToObject(m, "role", "system");
                cJSON_AddStringToObject(m, "content", sys->valuestring);
                cJSON_AddItemToArray(msgs, m);
            }
            cJSON *c = content_of(in, "prompt", err, errn);
            if (!c)
                goto bad;
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "user");
            cJSON_AddItemToObject(m, "content", c);
            cJSON_AddItemToArray(msgs, m);
        }
    } else {
        const cJSON *msgs = field(in, "messages"), *m;
        if (!msgs || !cJSON_IsArray(msgs)) {
            snprintf(err, errn, "'messages' must be an array");
            goto bad;
        }
        cJSON *out = cJSON_AddArrayToObject(o, "messages");
        cJSON_ArrayForEach(m, msgs)
        {
            if (!cJSON_IsObject(m)) {
                snprintf(err, errn, "every message must be an object");
                goto bad;
            }
            cJSON *x = cJSON_CreateObject();
            cJSON_AddItemToArray(out, x);
            copy_field(x, "role", m, "role");
            cJSON *c = content_of(m, "content", err, errn);
            if (!c)
                goto bad;
            cJSON_AddItemToObject(x, "content", c);
            copy_field(x, "tool_calls", m, "tool_calls");
            copy_field(x, "reasoning_content", m, "thinking");
            copy_field(x, "name", m, "tool_name");
        }
        copy_field(o, "tools", in, "tools");
    }
    /* options */
    const cJSON *opt = field(in, "options");
    if (opt && !cJSON_IsObject(opt)) {
        snprintf(err, errn, "'options' must be an object");
        goto bad;
    }
    static const char *const map[][2] = {{"num_predict", "max_tokens"}, {"temperature", "temperature"},
                                         {"top_k", "top_k"},             {"top_p", "top_p"},
                                         {"min_p", "min_p"},             {"seed", "seed"},
                                         {"repeat_penalty", "repeat_penalty"}, {"repeat_last_n", "repeat_last_n"},
                                         {"stop", "stop"}};
    for (size_t i = 0; opt && i < sizeof map / sizeof *map; i++)
        copy_field(o, map[i][1], opt, map[i][0]);
    if (opt && (f = field(opt, "num_ctx")) && !cJSON_IsNumber(f)) {
        snprintf(err, errn, "'options.num_ctx' must be a number");
        goto bad;
    }
    const cJSON *num_predict = opt ? field(opt, "num_predict") : NULL;
    if (num_predict && cJSON_IsNumber(num_predict) && num_predict->valuedouble < -1) {
        cJSON_DeleteItemFromObject(o, "max_tokens");
        cJSON_AddNumberToObject(o, "max_tokens", -1); /* Ollama: -2 = fill the context */
    }
    /* think: true/false or "low" / "medium" / "high" */
    if ((f = field(in, "think"))) {
        int on = cJSON_IsBool(f) ? cJSON_IsTrue(f) : cJSON_IsString(f) ? strcmp(f->valuestring, "none") != 0 : -1;
        if (on < 0) {
            snprintf(err, errn, "'think' must be a boolean or low / medium / high");
            goto bad;
        }
        cJSON *kw = cJSON_AddObjectToObject(o, "chat_template_kwargs");
        cJSON_AddBoolToObject(kw, "enable_thinking", on);
    }
    /* format: "json" or a JSON Schema */
    if ((f = field(in, "format"))) {
        cJSON *rf = cJSON_AddObjectToObject(o, "response_format");
        if (cJSON_IsString(f) && !strcmp(f->valuestring, "json")) {
            cJSON_AddStringToObject(rf, "type", "json_object");
        } else if (cJSON_IsObject(f)) {
            cJSON_AddStringToObject(rf, "type", "json_schema");
            cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
            cJSON_AddStringToObject(js, "name", "format");
            cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(f, 1));
        } else if (!(cJSON_IsString(f) && !f->valuestring[0])) {
            snprintf(err, errn, "'format' must be \"json\" or a JSON Schema object");
            goto bad;
        }
    }
    copy_field(o, "logprobs", in, "logprobs");
    copy_field(o, "top_logprobs", in, "top_logprobs");
    if (*ep == SRV_EP_CHAT && field(in, "top_logprobs") && !field(in, "logprobs"))
        cJSON_AddBoolToObject(o, "logprobs", 1);
    /* keep_alive, model, suffix, context, template: accepted, not used */
    return o;
bad:
    cJSON_Delete(o);
    return NULL;
}

