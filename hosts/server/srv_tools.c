/* g4-server: the agentic fields of a request (tools, tool_choice, response_format, logprobs,
 * reasoning) and the chat-message JSON handed to g4_chat_format_json. Pure: cJSON and libc only
 * (fuzzed with the rest of the request parser). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "srv_request.h"

static int fail(char *err, size_t errn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errn)
        vsnprintf(err, errn, fmt, ap);
    va_end(ap);
    return -1;
}

static const cJSON *field(const cJSON *o, const char *k)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static const char *fn_name(const cJSON *tool_or_call)
{
    const cJSON *f = field(tool_or_call, "function");
    const cJSON *n = f ? field(f, "name") : NULL;
    return n && cJSON_IsString(n) ? n->valuestring : NULL;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

static const cJSON *find_tool(const cJSON *tools, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const char *n = fn_name(t);
        if (n && !strcmp(n, name))
            return t;
    }
    return NULL;
}

static int dup_json(const cJSON *v, char **out, char *err, size_t errn)
{
    if (!(*out = cJSON_PrintUnformatted(v)))
        return fail(err, errn, "out of memory");
    return 0;
}

/* messages for the library: the parsed content (media markers in place) + tool fields */
static int build_messages(const cJSON *root, srv_request *r, const cJSON *tools, char *err, size_t errn)
{
    const cJSON *msgs = field(root, "messages"), *m;
    cJSON *out = cJSON_CreateArray();
    if (!out)
        return fail(err, errn, "out of memory");
    size_t i = 0;
    int rc = 0;
    cJSON_ArrayForEach(m, msgs)
    {
        if (i >= r->n_msgs)
            break;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(out, o);
        cJSON_AddStringToObject(o, "role", r->msgs[i].role);
        const cJSON *c = field(m, "content");
        if (c || strcmp(r->msgs[i].role, "model"))
            cJSON_AddStringToObject(o, "content", r->msgs[i].content ? r->msgs[i].content : "");
        else
            cJSON_AddNullToObject(o, "content");
        const cJSON *rc_ = field(m, "reasoning_content");
        if (!rc_)
            rc_ = field(m, "reasoning");
        if (!rc_)
            rc_ = field(m, "thinking"); /* Ollama */
        if (rc_ && cJSON_IsString(rc_))
            cJSON_AddStringToObject(o, "reasoning_content", rc_->valuestring);
        const cJSON *id = field(m, "tool_call_id"), *nm = field(m, "name");
        if (id && cJSON_IsString(id))
            cJSON_AddStringToObject(o, "tool_call_id", id->valuestring);
        if (nm && cJSON_IsString(nm))
            cJSON_AddStringToObject(o, "name", nm->valuestring);
        if (!strcmp(r->msgs[i].role, "tool") && !nm) {
            const cJSON *tn = field(m, "tool_name"); /* Ollama */
            if (tn && cJSON_IsString(tn))
                cJSON_AddStringToObject(o, "name", tn->valuestring);
        }
        const cJSON *tcs = field(m, "tool_calls");
        if (tcs) {
            if (!cJSON_IsArray(tcs)) {
                rc = fail(err, errn, "messages[%zu].tool_calls must be an array", i);
                break;
            }
            cJSON *arr = cJSON_AddArrayToObject(o, "tool_calls");
            const cJSON *tc;
            size_t k = 0;
            cJSON_ArrayForEach(tc, tcs)
            {
                const char *name = fn_name(tc);
                if (!name) {
                    rc = fail(err, errn, "messages[%zu].tool_calls[%zu] needs 'function': {'name': ...}", i, k);
                    break;
                }
                if (!valid_name(name)) {
                    rc = fail(err, errn, "messages[%zu].tool_calls[%zu]: invalid function name '%.64s'", i, k, name);
                    break;
                }
                if (tools && !find_tool(tools, name)) {
                    rc = fail(err, errn, "messages[%zu].tool_calls[%zu] calls unknown tool '%.64s' (not in 'tools')", i, k,
                              name);
                    break;
                }
                const cJSON *args = field(field(tc, "function"), "arguments");
                cJSON *a = NULL;
                if (!args) {
                    a = cJSON_CreateObject();
                } else if (cJSON_IsString(args)) { /* OpenAI: a JSON string */
                    a = cJSON_Parse(args->valuestring);
                    if (!a || !cJSON_IsObject(a)) {
                        cJSON_Delete(a);
                        rc = fail(err, errn, "messages[%zu].tool_calls[%zu].function.arguments is not a JSON object", i,
                                  k);
                        break;
                    }
                } else if (cJSON_IsObject(args)) { /* Ollama: an object */
                    a = cJSON_Duplicate(args, 1);
                } else {
                    rc = fail(err, errn, "messages[%zu].tool_calls[%zu].function.arguments must be an object or a "
                                         "JSON string", i, k);
                    break;
                }
                cJSON *t = cJSON_CreateObject(), *f = cJSON_CreateObject();
                const cJSON *tid = field(tc, "id");
                if (tid && cJSON_IsString(tid))
                    cJSON_AddStringToObject(t, "id", tid->valuestring);
                cJSON_AddStringToObject(t, "type", "function");
                cJSON_AddStringToObject(f, "name", name);
                cJSON_AddItemToObject(f, "arguments", a);
                cJSON_AddItemToObject(t, "function", f);
                cJSON_AddItemToArray(arr, t);
                k++;
            }
            if (rc)
                break;
        }
        i++;
    }
    if (!rc && !(r->messages_json = cJSON_PrintUnformatted(out)))
        rc = fail(err, errn, "out of memory");
    cJSON_Delete(out);
    return rc;
}

static int parse_response_format(const cJSON *root, srv_request *r, char *err, size_t errn)
{
    const cJSON *rf = field(root, "response_format");
    const cJSON *schema = NULL;
    int object_only = 0;
    if (rf) {
        const cJSON *type = cJSON_IsObject(rf) ? field(rf, "type") : NULL;
        if (!type || !cJSON_IsString(type))
            return fail(err, errn, "'response_format' must be an object with a string 'type'");
        if (!strcmp(type->valuestring, "text"))
            return 0;
        if (!strcmp(type->valuestring, "json_object")) {
            schema = field(rf, "schema"); /* llama-server accepts a schema here too */
            object_only = !schema;
        } else if (!strcmp(type->valuestring, "json_schema")) {
            const cJSON *js = field(rf, "json_schema");
            schema = js && cJSON_IsObject(js) ? field(js, "schema") : NULL;
            if (!schema)
                return fail(err, errn, "'response_format.json_schema.schema' is required for type json_schema");
        } else {
            return fail(err, errn, "'response_format.type' must be text, json_object or json_schema");
        }
    } else if ((schema = field(root, "json_schema")) == NULL) { /* llama-server native */
        const cJSON *gr = field(root, "grammar");
        if (gr && cJSON_IsString(gr) && gr->valuestring[0])
            return fail(err, errn, "GBNF 'grammar' is not supported by g4-server: use 'json_schema' or "
                                   "'response_format'");
        return 0;
    }
    if (schema && !cJSON_IsObject(schema) && !cJSON_IsBool(schema))
        return fail(err, errn, "the JSON schema must be an object");
    if (object_only) {
        r->grammar_kind = SRV_GRAMMAR_JSON_OBJECT;
        return 0;
    }
    r->grammar_kind = SRV_GRAMMAR_JSON_SCHEMA;
    return dup_json(schema, &r->grammar_text, err, errn);
}

static int parse_logprobs(srv_endpoint ep, const cJSON *root, srv_request *r, char *err, size_t errn)
{
    const cJSON *lp = field(root, "logprobs"), *top = field(root, "top_logprobs"), *np = field(root, "n_probs");
    if (lp) {
        if (cJSON_IsBool(lp)) {
            r->logprobs = cJSON_IsTrue(lp);
        } else if (cJSON_IsNumber(lp) && ep != SRV_EP_CHAT) { /* legacy completions: an integer */
            if (lp->valuedouble < 0 || lp->valuedouble > 20 || lp->valuedouble != (int)lp->valuedouble)
                return fail(err, errn, "'logprobs' must be an integer between 0 and 20");
            r->logprobs = 1;
            r->top_logprobs = (int)lp->valuedouble;
        } else {
            return fail(err, errn, "'logprobs' must be a boolean");
        }
    }
    if (top) {
        if (!cJSON_IsNumber(top) || top->valuedouble < 0 || top->valuedouble > 20 ||
            top->valuedouble != (int)top->valuedouble)
            return fail(err, errn, "'top_logprobs' must be an integer between 0 and 20");
        r->top_logprobs = (int)top->valuedouble;
        if (ep == SRV_EP_CHAT && !r->logprobs && r->top_logprobs)
            return fail(err, errn, "'top_logprobs' needs 'logprobs': true");
    }
    if (np) {
        if (!cJSON_IsNumber(np) || np->valuedouble < 0 || np->valuedouble > 20 ||
            np->valuedouble != (int)np->valuedouble)
            return fail(err, errn, "'n_probs' must be an integer between 0 and 20");
        if (np->valuedouble > 0) {
            r->logprobs = 1;
            r->top_logprobs = (int)np->valuedouble;
        }
    }
    return 0;
}

int srv_agentic_parse(srv_endpoint ep, const cJSON *root, srv_request *r, char *err, size_t errn)
{
    r->split_reasoning = 1;
    if (parse_logprobs(ep, root, r, err, errn) || parse_response_format(root, r, err, errn))
        return -1;
    const cJSON *eff = field(root, "reasoning_effort");
    if (eff) {
        if (!cJSON_IsString(eff))
            return fail(err, errn, "'reasoning_effort' must be a string");
        r->enable_thinking = strcmp(eff->valuestring, "none") != 0;
    }
    const cJSON *rfmt = field(root, "reasoning_format");
    if (rfmt && cJSON_IsString(rfmt) && !strcmp(rfmt->valuestring, "none"))
        r->split_reasoning = 0;
    if (ep != SRV_EP_CHAT)
        return 0;

    const cJSON *tools = field(root, "tools");
    if (tools) {
        if (!cJSON_IsArray(tools))
            return fail(err, errn, "'tools' must be an array");
        const cJSON *t;
        size_t k = 0;
        cJSON_ArrayForEach(t, tools)
        {
            const char *n = fn_name(t);
            const cJSON *type = field(t, "type");
            if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "function")))
                return fail(err, errn, "tools[%zu].type must be \"function\"", k);
            if (!n)
                return fail(err, errn, "tools[%zu] needs 'function': {'name': ...}", k);
            if (!valid_name(n))
                return fail(err, errn, "tools[%zu]: invalid function name '%.64s' (letters, digits, _ - . only)", k, n);
            const cJSON *params = field(field(t, "function"), "parameters");
            if (params && !cJSON_IsObject(params))
                return fail(err, errn, "tools[%zu].function.parameters must be a JSON Schema object", k);
            if (find_tool(tools, n) != t)
                return fail(err, errn, "tools[%zu]: duplicate function name '%.64s'", k, n);
            k++;
        }
        if (k == 0)
            tools = NULL;
    }
    const cJSON *tc = field(root, "tool_choice");
    const char *named = NULL;
    if (tc) {
        if (cJSON_IsString(tc)) {
            if (!strcmp(tc->valuestring, "none"))
                r->tool_choice = SRV_TOOL_CHOICE_NONE;
            else if (!strcmp(tc->valuestring, "auto"))
                r->tool_choice = SRV_TOOL_CHOICE_AUTO;
            else if (!strcmp(tc->valuestring, "required"))
                r->tool_choice = SRV_TOOL_CHOICE_REQUIRED;
            else
                return fail(err, errn, "'tool_choice' must be none, auto, required or {\"type\":\"function\", ...}");
        } else if (cJSON_IsObject(tc) && (named = fn_name(tc)) != NULL) {
            r->tool_choice = SRV_TOOL_CHOICE_NAMED;
        } else {
            return fail(err, errn, "'tool_choice' must be none, auto, required or {\"type\":\"function\", "
                                   "\"function\":{\"name\":...}}");
        }
    }
    if ((r->tool_choice == SRV_TOOL_CHOICE_REQUIRED || r->tool_choice == SRV_TOOL_CHOICE_NAMED) && !tools)
        return fail(err, errn, "'tool_choice' %s needs a non-empty 'tools' array",
                    named ? "naming a function" : "required");
    if (named && !find_tool(tools, named))
        return fail(err, errn, "'tool_choice' names unknown tool '%.64s' (not in 'tools')", named);
    if ((r->tool_choice == SRV_TOOL_CHOICE_REQUIRED || r->tool_choice == SRV_TOOL_CHOICE_NAMED) && r->grammar_kind)
        return fail(err, errn, "'tool_choice' %s cannot be combined with a JSON 'response_format'",
                    named ? "naming a function" : "required");
    if (build_messages(root, r, tools, err, errn))
        return -1;
    if (tools && r->tool_choice != SRV_TOOL_CHOICE_NONE && dup_json(tools, &r->tools_json, err, errn))
        return -1;
    if (r->tool_choice == SRV_TOOL_CHOICE_REQUIRED) {
        r->grammar_kind = SRV_GRAMMAR_TOOL_CALL;
        return dup_json(tools, &r->grammar_text, err, errn);
    }
    if (r->tool_choice == SRV_TOOL_CHOICE_NAMED) {
        cJSON *one = cJSON_CreateArray();
        if (!one)
            return fail(err, errn, "out of memory");
        cJSON_AddItemToArray(one, cJSON_Duplicate(find_tool(tools, named), 1));
        int rc = dup_json(one, &r->grammar_text, err, errn);
        cJSON_Delete(one);
        r->grammar_kind = SRV_GRAMMAR_TOOL_CALL;
        return rc;
    }
    return 0;
}

void srv_agentic_free(srv_request *r)
{
    cJSON_free(r->tools_json);
    cJSON_free(r->messages_json);
    cJSON_free(r->grammar_text);
    r->tools_json = r->messages_json = r->grammar_text = NULL;
}
