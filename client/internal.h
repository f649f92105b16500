/* internal.h -- libslotguard's private parts shared by its files: the connection state and the one
 * function that sends a command (connection.c), used by the typed calls (commands.c) and the
 * watchdog (watchdog.c). Not installed. */
#ifndef SG_INTERNAL_H
#define SG_INTERNAL_H

#include "decode.h"
#include "slotguard.h"

#define SG_CLUSTER_SLOTS 16384

typedef struct sg_node {
    char address[256];             /* host (TCP) or socket path (unix) */
    int port;                      /* 0 for a unix socket */
    redisContext *c;               /* NULL until used, and after a connection error */
    unsigned long long generation; /* counts the connections made to the node: which one c is */
} sg_node;

/* One connection to one node, as it was when a reply came from it: what a WAIT must run on, since
 * WAIT acknowledges only what its own connection wrote (on any other it answers at once). */
typedef struct sg_link {
    int node; /* -1: none */
    unsigned long long generation;
} sg_link;

struct sg_connection {
    sg_options options; /* as given, with defaults filled in; strings point into `strings` */
    char *strings;      /* one block holding copies of every string option */
    sg_node *nodes;     /* single node: exactly one; cluster: every node seen (seeds, map, redirects) */
    size_t node_count, node_capacity;
    int slot_node[SG_CLUSTER_SLOTS]; /* cluster: index in nodes of each slot's master, -1 unknown */
    long long last_refresh_ms;      /* monotonic time of the last slot map read */
    long long round_trips;          /* exchanges with any node, for sg_round_trips() */
    sg_link last_link;              /* the connection the last reply of sg_execute came from */
};

/* Whether a call may be repeated after a connection error or timeout (see slotguard.h). */
typedef enum sg_retry_class {
    SG_NOT_RETRIED = 0,
    SG_RETRIED = 1,
} sg_retry_class;

/* Send one command and return its reply: routed by `key` in cluster mode (key NULL: any node),
 * following MOVED/ASK/TRYAGAIN/CLUSTERDOWN; reconnecting and repeating after a connection error
 * when `retry` allows (a failed connect, when nothing was sent, is repeated for every call).
 * `extra_timeout_ms` lengthens the command timeout for this call (blocking commands). NULL with
 * ctx->err set on failure; error replies other than redirections are returned as replies. */
redisReply *sg_execute(sg_context *ctx, const char *key, size_t key_len, int argc, const char **argv,
                       const size_t *argvlen, sg_retry_class retry, long long extra_timeout_ms);

/* The connection the last reply of sg_execute came from ({-1, 0} before any). */
sg_link sg_last_link(const sg_context *ctx);
/* Send one command on exactly that connection (for WAIT): never reconnected, redirected or
 * repeated. NULL with ctx->err set (SG_ERR_IO) when that connection is gone (closed after an error,
 * replaced by a new one) or breaks now: then nothing it wrote is acknowledged. */
redisReply *sg_execute_on_link(sg_context *ctx, sg_link link, int argc, const char **argv, const size_t *argvlen,
                               long long extra_timeout_ms);

/* Cluster mode: the distinct masters of the slot map into out (node indices, in address order),
 * reading the map first when it is empty; their count (0 in single-node mode or on an error). */
int sg_slot_map_masters(sg_context *ctx, int *out, int max);
/* Cluster mode: the node index serving `slot`, -1 when unknown. */
int sg_slot_map_node(const sg_context *ctx, unsigned slot);

/* LOCK.RELEASE with a chosen retry class: the watched lock, never reentrant, may repeat it. */
int sg_lock_release_as(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                       int *released, sg_retry_class retry);

/* Monotonic milliseconds, and a sleep that resumes after signals. */
long long sg_client_clock_ms(void);
void sg_client_pause_ms(long long ms);

#endif
