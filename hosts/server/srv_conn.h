/* Connection guards for g4-server (issue #19 items 3, 4, 6):
 *   - a registry of open connections with the time each began receiving its current request; a
 *     reaper thread shuts down a connection whose whole request (headers and body) has not
 *     arrived within the receive deadline, however slowly it trickles in (slowloris), and when
 *     the connections near the limit, the slowest receiver is shut down to keep headroom for
 *     new clients;
 *   - a watcher that cancels a running generation when its client closes the connection;
 *   - request header checks (Content-Length, Transfer-Encoding, JSON content type, CORS). */
#ifndef G4_SRV_CONN_H
#define G4_SRV_CONN_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <microhttpd.h>

struct srv_conns;
typedef struct srv_conn_entry {
    struct srv_conns *owner;
    int fd;
    int receiving;    /* between accept / the previous answer and a complete request */
    int cut;          /* shut down by the reaper, not yet closed by MHD */
    double t_start;   /* when it began receiving */
    struct srv_conn_entry *next;
} srv_conn_entry;

typedef struct srv_conns {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_conn_entry *head;
    int n, max_conn, headroom;
    double recv_timeout;  /* seconds for a whole request; <= 0: no deadline */
    double evict_after;   /* a receiver this old may be shut down to keep headroom */
    int stop;
    pthread_t reaper;
    int has_reaper;
    atomic_int n_reaped, n_evicted; /* for the log and the tests */
    const char *cors_origin;        /* NULL: no CORS; "*": any origin; else that one origin */
} srv_conns;

/* max_conn: the daemon's connection limit; headroom: connections kept free for newcomers. */
int srv_conns_start(srv_conns *k, int max_conn, int headroom, double recv_timeout);
void srv_conns_stop(srv_conns *k);
/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = srv_conns *). */
void srv_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
/* The request on c has fully arrived (receiving = 0) / has been answered (receiving again). */
void srv_conns_received(srv_conns *k, void *socket_context);
void srv_conns_answered(srv_conns *k, void *socket_context);

/* Calls cancel(ctx) once if the peer of fd closes the connection while the watch runs. */
typedef struct srv_watch srv_watch;
srv_watch *srv_watch_start(int fd, void (*cancel)(void *), void *ctx);
/* Stops and frees the watch; returns 1 if it saw the connection close. NULL is a no-op. */
int srv_watch_stop(srv_watch *w);
/* The connection's socket, or -1. */
int srv_conn_fd(struct MHD_Connection *c);

/* CORS (--cors-origin): adds Access-Control-Allow-Origin to r when the request's Origin is
 * allowed. Without the option nothing is added, so browsers keep other sites' pages from reading
 * the answers (and from sending JSON at all: that needs a preflight, see srv_conn_preflight). */
void srv_conn_add_cors(struct MHD_Connection *c, struct MHD_Response *r);
/* Answers an OPTIONS preflight: 204 with the allow headers for an allowed origin, else 403. */
enum MHD_Result srv_conn_preflight(struct MHD_Connection *c);

/* Checks the request line and headers before the body is read. Returns 0, or the HTTP status
 * (400, 415) with a message in err. require_json: POST bodies must be application/json. */
int srv_conn_check_headers(struct MHD_Connection *c, const char *method, int require_json, char *err,
                           size_t errn);
#endif
