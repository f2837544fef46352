/* g4-server: HTTP helpers shared by server.c and the endpoint files that answer over
 * libmicrohttpd themselves (srv_ollama.c). */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <cJSON.h>
#include <microhttpd.h>

#include "server.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

MHD_RESULT srv_send_json(struct MHD_Connection *c, unsigned code, cJSON *j); /* takes j */
MHD_RESULT srv_send_error(struct MHD_Connection *c, unsigned code, const char *type, const char *msg);
void srv_add_usage_timings(cJSON *o, const srv_job *j);

/* srv_ollama.c: /api/... (Ollama's native API) and /apply-template (llama-server). */
MHD_RESULT srv_route_extra(srv *S, struct MHD_Connection *c, const char *url, const char *method, const char *body,
                           size_t len);

#endif
