/* Connection guards: see srv_conn.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POLLRDHUP */
#endif
#include "srv_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#ifdef _WIN32
#include "srv_os_win32.h" /* Winsock: WSAPoll reports a closed peer as POLLHUP */
#define poll(p, n, ms) WSAPoll((p), (n), (ms))
#ifndef SHUT_RDWR
#define SHUT_RDWR SD_BOTH
#endif
#else
#include <poll.h>
#include <sys/socket.h>
#endif

#include <microhttpd.h>

#ifndef POLLRDHUP /* Linux-only: elsewhere a closed peer shows as POLLHUP (or not until a write) */
#define POLLRDHUP 0
#endif

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- deadlines and headroom --------------------------------------------------------------- */

/* Shuts down e's socket: MHD then sees the connection end, closes it and calls notify CLOSED. */
static void cut(srv_conns *k, srv_conn_entry *e)
{
    (void)k;
    shutdown(e->fd, SHUT_RDWR);
    e->receiving = 0;
    e->cut = 1;
}

/* Near the limit: shut down the receivers that have been at it longest (at least evict_after
 * seconds), until headroom connections are free for new clients. Caller holds k->mu. */
static void keep_headroom(srv_conns *k, double now)
{
    if (k->headroom <= 0)
        return;
    int live = 0;
    for (srv_conn_entry *x = k->head; x; x = x->next)
        live += !x->cut;
    while (live > k->max_conn - k->headroom) {
        srv_conn_entry *old = NULL;
        for (srv_conn_entry *x = k->head; x; x = x->next)
            if (x->receiving && x->fd >= 0 && now - x->t_start >= k->evict_after &&
                (!old || x->t_start < old->t_start))
                old = x;
        if (!old)
            break;
        cut(k, old);
        atomic_fetch_add(&k->n_evicted, 1);
        live--;
    }
}

static void *reaper_main(void *arg)
{
    srv_conns *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->stop)
            continue;
        double now = mono_now();
        if (k->recv_timeout > 0)
            for (srv_conn_entry *e = k->head; e; e = e->next)
                if (e->receiving && e->fd >= 0 && now - e->t_start > k->recv_timeout) {
                    cut(k, e);
                    atomic_fetch_add(&k->n_reaped, 1);
                }
        keep_headroom(k, now);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

int srv_conns_start(srv_conns *k, int max_conn, int headroom, double recv_timeout)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->max_conn = max_conn;
    k->headroom = headroom;
    k->recv_timeout = recv_timeout;
    k->evict_after = 1.0;
    if (pthread_create(&k->reaper, NULL, reaper_main, k) != 0)
        return -1;
    k->has_reaper = 1;
    return 0;
}

void srv_conns_stop(srv_conns *k)
{
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (k->has_reaper)
        pthread_join(k->reaper, NULL);
    k->has_reaper = 0;
    while (k->head) {
        srv_conn_entry *e = k->head;
        k->head = e->next;
        free(e);
    }
}

int srv_conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

void srv_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
    srv_conns *k = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        srv_conn_entry *e = calloc(1, sizeof *e);
        if (!e)
            return;
        e->owner = k;
        e->fd = srv_conn_fd(c);
        e->receiving = 1;
        e->t_start = mono_now();
        pthread_mutex_lock(&k->mu);
        e->next = k->head;
        k->head = e;
        k->n++;
        keep_headroom(k, e->t_start);
        pthread_mutex_unlock(&k->mu);
        *socket_context = e;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        srv_conn_entry *e = *socket_context;
        if (!e)
            return;
        pthread_mutex_lock(&k->mu);
        for (srv_conn_entry **p = &k->head; *p; p = &(*p)->next)
            if (*p == e) {
                *p = e->next;
                k->n--;
                break;
            }
        pthread_mutex_unlock(&k->mu);
        free(e);
        *socket_context = NULL;
    }
}

void srv_conns_received(srv_conns *k, void *socket_context)
{
    srv_conn_entry *e = socket_context;
    if (!e)
        return;
    pthread_mutex_lock(&k->mu);
    e->receiving = 0;
    pthread_mutex_unlock(&k->mu);
}

void srv_conns_answered(srv_conns *k, void *socket_context)
{
    srv_conn_entry *e = socket_context;
    if (!e)
        return;
    pthread_mutex_lock(&k->mu);
    e->receiving = 1; /* keep-alive: the next request's deadline starts now */
    e->t_start = mono_now();
    pthread_mutex_unlock(&k->mu);
}

/* ---- closed-connection watcher ------------------------------------------------------------ */

struct srv_watch {
    int fd;
    void (*cancel)(void *);
    void *ctx;
    atomic_int stop, closed;
    pthread_t th;
};

static void *watch_main(void *arg)
{
    srv_watch *w = arg;
    while (!atomic_load(&w->stop)) {
        /* POLLRDHUP: the peer closed (or shut down its writing side); data that a keep-alive
         * client sends ahead is not an event here, so the loop never spins on it. */
        struct pollfd p = {.fd = w->fd, .events = (short)POLLRDHUP};
        int r = poll(&p, 1, 100);
        if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            atomic_store(&w->closed, 1);
            w->cancel(w->ctx);
            break;
        }
        if (r < 0 && errno != EINTR)
            break;
    }
    return NULL;
}

srv_watch *srv_watch_start(int fd, void (*cancel)(void *), void *ctx)
{
    if (fd < 0 || !cancel)
        return NULL;
    srv_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = fd;
    w->cancel = cancel;
    w->ctx = ctx;
    if (pthread_create(&w->th, NULL, watch_main, w) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

int srv_watch_stop(srv_watch *w)
{
    if (!w)
        return 0;
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    int closed = atomic_load(&w->closed);
    free(w);
    return closed;
}

/* ---- header checks ------------------------------------------------------------------------ */

typedef struct hdr_count {
    int n_cl, n_te, n_ct;
    const char *ct;
} hdr_count;

#if MHD_VERSION < 0x00097002
#define ITER_RESULT int
#else
#define ITER_RESULT enum MHD_Result
#endif

static ITER_RESULT count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    hdr_count *h = cls;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        h->n_cl++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        h->n_te++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE)) {
        h->n_ct++;
        h->ct = value;
    }
    return MHD_YES;
}

/* "application/json" or "application/<x>+json", any parameters (charset) after ';'. */
static int is_json_type(const char *ct)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 16 && !strncasecmp(ct, "application/json", 16))
        return 1;
    return n > 17 && !strncasecmp(ct, "application/", 12) && !strncasecmp(ct + n - 5, "+json", 5);
}

int srv_conn_check_headers(struct MHD_Connection *c, const char *method, int require_json, char *err,
                           size_t errn)
{
    hdr_count h = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &h);
    if (h.n_cl > 1) {
        snprintf(err, errn, "more than one Content-Length header");
        return 400;
    }
    if (h.n_cl && h.n_te) {
        snprintf(err, errn, "both Content-Length and Transfer-Encoding are present");
        return 400;
    }
    if (h.n_ct > 1) {
        snprintf(err, errn, "more than one Content-Type header");
        return 400;
    }
    if (require_json && !strcmp(method, "POST") && (!h.ct || !is_json_type(h.ct))) {
        /* A cross-site page can POST text/plain or a form without a CORS preflight; it cannot
         * send application/json without one, and the server answers no preflight unless
         * --cors-origin allows that origin. */
        snprintf(err, errn, "Content-Type must be application/json (got %s)", h.ct ? h.ct : "none");
        return 415;
    }
    return 0;
}

static const char *allowed_origin(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const srv_conn_entry *e = ci ? ci->socket_context : NULL;
    const char *want = e && e->owner ? e->owner->cors_origin : NULL;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!want || !origin)
        return NULL;
    return !strcmp(want, "*") ? "*" : !strcmp(want, origin) ? want : NULL;
}

void srv_conn_add_cors(struct MHD_Connection *c, struct MHD_Response *r)
{
    const char *o = allowed_origin(c);
    if (o) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", o);
        if (strcmp(o, "*"))
            MHD_add_response_header(r, "Vary", "Origin");
    }
}

enum MHD_Result srv_conn_preflight(struct MHD_Connection *c)
{
    const char *o = allowed_origin(c);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    if (o) {
        srv_conn_add_cors(c, r);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization");
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    }
    enum MHD_Result ret = MHD_queue_response(c, o ? 204 : 403, r);
    MHD_destroy_response(r);
    return ret;
}
