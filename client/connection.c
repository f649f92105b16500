/* connection.c -- libslotguard's contexts: connecting (timeouts, AUTH, SELECT), the cluster slot
 * map, and sg_execute, which sends a command to the right node and follows the cluster's
 * redirections, with bounded retries. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000
#define DEFAULT_MAX_RETRIES 2
#define DEFAULT_MAX_REDIRECTS 16
#define MIN_REFRESH_INTERVAL_MS 100 /* a MOVED re-reads the whole map at most this often */
#define MAX_BACKOFF_MS 500

const char *sg_version(void) { return SG_VERSION_STRING; }

long long sg_client_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sg_client_pause_ms(long long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static struct timeval timeval_of(long long ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* ---- nodes ----------------------------------------------------------------------------------- */
static void node_disconnect(sg_node *n) {
    if (n->c) redisFree(n->c);
    n->c = NULL;
}

/* The index of the node at address:port, added when new; -1 when out of memory. */
static int node_index(struct sg_connection *conn, const char *address, int port) {
    for (size_t i = 0; i < conn->node_count; i++)
        if (conn->nodes[i].port == port && strcmp(conn->nodes[i].address, address) == 0) return (int)i;
    if (strlen(address) >= sizeof(conn->nodes[0].address)) return -1;
    if (conn->node_count == conn->node_capacity) {
        size_t capacity = conn->node_capacity ? conn->node_capacity * 2 : 4;
        sg_node *grown = realloc(conn->nodes, capacity * sizeof(*grown));
        if (grown == NULL) return -1;
        conn->nodes = grown;
        conn->node_capacity = capacity;
    }
    sg_node *n = &conn->nodes[conn->node_count];
    memset(n, 0, sizeof(*n));
    strcpy(n->address, address);
    n->port = port;
    return (int)conn->node_count++;
}

/* ctx->err from a hiredis context's error (a read timeout is an I/O error with EAGAIN). */
static int fail_from_hiredis(sg_context *ctx, const redisContext *c, const sg_node *n, int saved_errno) {
    int code = SG_ERR_IO;
    switch (c->err) {
    case REDIS_ERR_EOF: code = SG_ERR_EOF; break;
    case REDIS_ERR_PROTOCOL: code = SG_ERR_PROTOCOL; break;
    case REDIS_ERR_OOM: code = SG_ERR_OOM; break;
    case REDIS_ERR_IO:
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
            strstr(c->errstr, "temporarily unavailable") != NULL || strstr(c->errstr, "timed out") != NULL)
            code = SG_ERR_TIMEOUT;
        break;
    default: break;
    }
    if (n->port) return sg_fail(ctx, code, "%s:%d: %s", n->address, n->port, c->errstr);
    return sg_fail(ctx, code, "%s: %s", n->address, c->errstr);
}

/* Run one command on a fresh connection during its setup; SG_ERR_AUTH when refused. */
static int setup_command(sg_context *ctx, sg_node *n, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(n->c, argc, argv, NULL);
    if (r == NULL) return fail_from_hiredis(ctx, n->c, n, errno);
    int ok = r->type != REDIS_REPLY_ERROR;
    if (!ok) sg_fail(ctx, SG_ERR_AUTH, "%s refused: %.100s", argv[0], r->str);
    freeReplyObject(r);
    return ok ? SG_OK : SG_ERR;
}

/* Connect `n` if it is not: connect timeout, command timeout (set again on every new connection:
 * hiredis 0.14 forgets it on reconnect, so we never reconnect, we connect anew), AUTH, SELECT. */
static int node_connect(sg_context *ctx, sg_node *n) {
    if (n->c) return SG_OK;
    const sg_options *o = &ctx->conn->options;
    struct timeval connect_tv = timeval_of(o->connect_timeout_ms);
    redisContext *c = n->port ? redisConnectWithTimeout(n->address, n->port, connect_tv)
                              : redisConnectUnixWithTimeout(n->address, connect_tv);
    if (c == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    n->c = c;
    n->generation++;
    if (c->err) {
        fail_from_hiredis(ctx, c, n, errno);
        if (ctx->err == SG_ERR_IO && strstr(c->errstr, "Operation now in progress") != NULL) ctx->err = SG_ERR_TIMEOUT;
        node_disconnect(n);
        return SG_ERR;
    }
    if (redisSetTimeout(c, timeval_of(o->command_timeout_ms)) != REDIS_OK) {
        fail_from_hiredis(ctx, c, n, errno);
        node_disconnect(n);
        return SG_ERR;
    }
    if (n->port) redisEnableKeepAlive(c);
    int rc = SG_OK;
    if (o->password) {
        ctx->conn->round_trips++;
        const char *auth_user[] = {"AUTH", o->user, o->password}, *auth[] = {"AUTH", o->password};
        rc = o->user ? setup_command(ctx, n, 3, auth_user) : setup_command(ctx, n, 2, auth);
    }
    if (rc == SG_OK && o->db != 0 && !o->cluster) {
        char db[16];
        snprintf(db, sizeof(db), "%d", o->db);
        ctx->conn->round_trips++;
        const char *select[] = {"SELECT", db};
        rc = setup_command(ctx, n, 2, select);
    }
    if (rc != SG_OK) node_disconnect(n);
    return rc;
}

/* ---- the slot map ---------------------------------------------------------------------------- */
typedef struct map_update {
    struct sg_connection *conn;
    int failed;
} map_update;

static void learn_range(int first, int last, const char *host, int port, void *arg) {
    map_update *u = arg;
    if (host[0] == '\0' || strcmp(host, "?") == 0) return; /* an address the node does not know yet */
    int node = node_index(u->conn, host, port);
    if (node < 0) {
        u->failed = 1;
        return;
    }
    for (int s = first; s <= last; s++) u->conn->slot_node[s] = node;
}

/* Read CLUSTER SLOTS from the first node that answers (`avoid`, a node that just failed, last). */
static int refresh_slot_map(sg_context *ctx, int avoid) {
    struct sg_connection *conn = ctx->conn;
    conn->last_refresh_ms = sg_client_clock_ms();
    size_t count = conn->node_count;
    int avoid_known = avoid >= 0 && (size_t)avoid < count;
    for (size_t k = 0; k < count + (size_t)avoid_known; k++) {
        size_t i = k;
        if (k == count) i = (size_t)avoid; /* the node that failed, last */
        else if ((int)k == avoid) continue;
        sg_node *n = &conn->nodes[i];
        if (node_connect(ctx, n) != SG_OK) continue;
        conn->round_trips++;
        redisReply *r = redisCommand(n->c, "CLUSTER SLOTS");
        if (r == NULL) {
            fail_from_hiredis(ctx, n->c, n, errno);
            node_disconnect(&conn->nodes[i]);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            sg_fail(ctx, SG_ERR_CLUSTER, "CLUSTER SLOTS on %s:%d: %.100s", n->address, n->port, r->str);
            freeReplyObject(r);
            continue;
        }
        for (int s = 0; s < SG_CLUSTER_SLOTS; s++) conn->slot_node[s] = -1;
        map_update u = {conn, 0};
        int ranges = sg_parse_cluster_slots(r, learn_range, &u);
        freeReplyObject(r);
        if (ranges < 0) return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected CLUSTER SLOTS reply");
        if (u.failed) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
        sg_clear_error(ctx);
        return SG_OK;
    }
    if (ctx->err == 0) sg_fail(ctx, SG_ERR_CLUSTER, "no cluster node answered");
    return SG_ERR;
}

int sg_refresh_slots(sg_context *ctx) {
    sg_clear_error(ctx);
    if (!ctx->conn->options.cluster) return SG_OK;
    return refresh_slot_map(ctx, -1);
}

/* ---- contexts -------------------------------------------------------------------------------- */
/* Copies of every string option into one block. */
static int copy_options(struct sg_connection *conn, const sg_options *given) {
    const char *const *fields[] = {&given->host, &given->unix_path, &given->seeds, &given->user, &given->password};
    const char **copies[] = {&conn->options.host, &conn->options.unix_path, &conn->options.seeds, &conn->options.user,
                             &conn->options.password};
    size_t total = 0;
    for (size_t i = 0; i < 5; i++) total += *fields[i] ? strlen(*fields[i]) + 1 : 0;
    conn->strings = malloc(total + 1);
    if (conn->strings == NULL) return -1;
    char *at = conn->strings;
    for (size_t i = 0; i < 5; i++) {
        if (*fields[i] == NULL) continue;
        size_t len = strlen(*fields[i]) + 1;
        memcpy(at, *fields[i], len);
        *copies[i] = at;
        at += len;
    }
    return 0;
}

/* Seeds "h1:p1,h2:p2": each becomes a node. */
static int add_seeds(sg_context *ctx, const char *seeds) {
    const char *p = seeds;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[300];
        if (len == 0 || len >= sizeof(item)) return sg_fail(ctx, SG_ERR_ARGUMENT, "bad seed list");
        memcpy(item, p, len);
        item[len] = '\0';
        char *colon = strrchr(item, ':');
        char *rest;
        long port = colon ? strtol(colon + 1, &rest, 10) : 0;
        if (colon == NULL || colon == item || *rest != '\0' || port <= 0 || port > 65535)
            return sg_fail(ctx, SG_ERR_ARGUMENT, "bad seed \"%s\": host:port expected", item);
        *colon = '\0';
        if (node_index(ctx->conn, item, (int)port) < 0) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
        p = end ? end + 1 : NULL;
    }
    return SG_OK;
}

static sg_context *context_new(const sg_options *given) {
    sg_context *ctx = calloc(1, sizeof(*ctx));
    struct sg_connection *conn = calloc(1, sizeof(*conn));
    if (ctx == NULL || conn == NULL || copy_options(conn, given) != 0) {
        if (conn) free(conn->strings);
        free(conn);
        free(ctx);
        return NULL;
    }
    ctx->conn = conn;
    sg_options *o = &conn->options;
    o->port = given->port ? given->port : 6379;
    o->cluster = given->cluster;
    o->connect_timeout_ms = given->connect_timeout_ms > 0 ? given->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    o->command_timeout_ms = given->command_timeout_ms > 0 ? given->command_timeout_ms : DEFAULT_COMMAND_TIMEOUT_MS;
    o->db = given->db;
    o->max_retries = given->max_retries == 0 ? DEFAULT_MAX_RETRIES : given->max_retries < 0 ? 0 : given->max_retries;
    o->max_redirects = given->max_redirects > 0 ? given->max_redirects : DEFAULT_MAX_REDIRECTS;
    for (int s = 0; s < SG_CLUSTER_SLOTS; s++) conn->slot_node[s] = -1;
    conn->last_link = (sg_link){-1, 0};
    return ctx;
}

sg_context *sg_connect(const sg_options *given) {
    sg_options defaults = {0};
    if (given == NULL) given = &defaults;
    sg_context *ctx = context_new(given);
    if (ctx == NULL) return NULL;
    const sg_options *o = &ctx->conn->options;
    if (o->cluster && o->unix_path) {
        sg_fail(ctx, SG_ERR_ARGUMENT, "cluster mode needs TCP seeds, not a unix socket");
        return ctx;
    }
    if (o->cluster && o->db != 0) {
        sg_fail(ctx, SG_ERR_ARGUMENT, "cluster mode has only database 0");
        return ctx;
    }
    int first = o->unix_path ? node_index(ctx->conn, o->unix_path, 0)
                             : node_index(ctx->conn, o->host ? o->host : "127.0.0.1", o->port);
    if (first < 0) {
        sg_fail(ctx, SG_ERR_ARGUMENT, "address too long");
        return ctx;
    }
    if (o->cluster) {
        if (o->seeds && add_seeds(ctx, o->seeds) != SG_OK) return ctx;
        refresh_slot_map(ctx, -1);
    } else {
        node_connect(ctx, &ctx->conn->nodes[0]);
    }
    return ctx;
}

sg_context *sg_connect_tcp(const char *host, int port) {
    sg_options o = {0};
    o.host = host;
    o.port = port;
    return sg_connect(&o);
}

sg_context *sg_clone(const sg_context *ctx) {
    sg_options o = ctx->conn->options;
    if (o.max_retries == 0) o.max_retries = -1; /* keep "none" as none: 0 would mean the default */
    return sg_connect(&o);
}

void sg_free(sg_context *ctx) {
    if (ctx == NULL) return;
    if (ctx->conn) {
        for (size_t i = 0; i < ctx->conn->node_count; i++) node_disconnect(&ctx->conn->nodes[i]);
        free(ctx->conn->nodes);
        free(ctx->conn->strings);
        free(ctx->conn);
    }
    free(ctx);
}

/* ---- sending --------------------------------------------------------------------------------- */
static long long backoff_ms(int attempt) {
    long long ms = 10LL << (attempt < 6 ? attempt : 6);
    return ms < MAX_BACKOFF_MS ? ms : MAX_BACKOFF_MS;
}

/* The node for a key: the slot's master in cluster mode (after reading the map when the slot is
 * unknown), the one server otherwise. -1 with ctx->err set. */
static int route(sg_context *ctx, const char *key, size_t key_len) {
    struct sg_connection *conn = ctx->conn;
    if (!conn->options.cluster) return 0;
    if (key == NULL) {
        for (int s = 0; s < SG_CLUSTER_SLOTS; s++)
            if (conn->slot_node[s] >= 0) return conn->slot_node[s];
        if (refresh_slot_map(ctx, -1) != SG_OK) return -1;
        return conn->slot_node[0] >= 0 ? conn->slot_node[0] : 0;
    }
    unsigned slot = sg_key_slot(key, key_len);
    /* A slot no node serves in the map just read: a failover in progress, seen from a node that
     * has not heard of it yet. Waited out like CLUSTERDOWN: backoff, read again, bounded by
     * max_redirects. */
    for (int attempt = 0; conn->slot_node[slot] < 0; attempt++) {
        if (attempt > conn->options.max_redirects) {
            sg_fail(ctx, SG_ERR_CLUSTER, "no node serves slot %u", slot);
            return -1;
        }
        if (attempt > 0) sg_client_pause_ms(backoff_ms(attempt - 1));
        if (refresh_slot_map(ctx, -1) != SG_OK) return -1;
    }
    return conn->slot_node[slot];
}

/* One exchange with node `n` (ASKING first when `asking`). NULL on a connection error. */
static redisReply *exchange(sg_node *n, int asking, int argc, const char **argv, const size_t *argvlen) {
    if (!asking) return redisCommandArgv(n->c, argc, argv, argvlen);
    if (redisAppendCommand(n->c, "ASKING") != REDIS_OK ||
        redisAppendCommandArgv(n->c, argc, argv, argvlen) != REDIS_OK)
        return NULL;
    void *asking_reply = NULL, *reply = NULL;
    if (redisGetReply(n->c, &asking_reply) != REDIS_OK) return NULL;
    freeReplyObject(asking_reply);
    if (redisGetReply(n->c, &reply) != REDIS_OK) return NULL;
    return reply;
}

redisReply *sg_execute(sg_context *ctx, const char *key, size_t key_len, int argc, const char **argv,
                       const size_t *argvlen, sg_retry_class retry, long long extra_timeout_ms) {
    struct sg_connection *conn = ctx->conn;
    const sg_options *o = &conn->options;
    int retries = 0, redirects = 0, ask_node = -1;
    sg_clear_error(ctx);
    for (;;) {
        int node = ask_node >= 0 ? ask_node : route(ctx, key, key_len);
        if (node < 0) return NULL;
        sg_node *n = &conn->nodes[node];
        if (node_connect(ctx, n) != SG_OK) {
            /* Nothing was sent: any call may try again, on a fresh map in cluster mode. */
            if (ctx->err == SG_ERR_AUTH || ctx->err == SG_ERR_OOM || retries >= o->max_retries) return NULL;
            sg_client_pause_ms(backoff_ms(retries++));
            if (o->cluster) refresh_slot_map(ctx, node);
            ask_node = -1;
            continue;
        }
        if (extra_timeout_ms > 0) {
            /* Any extra the caller gives (a WAIT of up to LLONG_MAX ms) stops at LLONG_MAX ms. */
            long long timeout = extra_timeout_ms > LLONG_MAX - o->command_timeout_ms ? LLONG_MAX
                                                                                   : o->command_timeout_ms + extra_timeout_ms;
            redisSetTimeout(n->c, timeval_of(timeout));
        }
        conn->round_trips++;
        redisReply *reply = exchange(n, ask_node >= 0, argc, argv, argvlen);
        if (reply != NULL) conn->last_link = (sg_link){node, n->generation};
        int saved_errno = errno;
        if (reply == NULL) {
            fail_from_hiredis(ctx, n->c, n, saved_errno);
            node_disconnect(n); /* its state is unknown: a late reply must never be read as ours */
            if (retry != SG_RETRIED || retries >= o->max_retries || ctx->err == SG_ERR_OOM) return NULL;
            sg_client_pause_ms(backoff_ms(retries++));
            if (o->cluster) refresh_slot_map(ctx, node);
            ask_node = -1;
            continue;
        }
        if (extra_timeout_ms > 0) redisSetTimeout(n->c, timeval_of(o->command_timeout_ms));
        ask_node = -1;
        sg_redirect redirect;
        if (!o->cluster || reply->type != REDIS_REPLY_ERROR ||
            sg_parse_redirect(reply->str, reply->len, &redirect) == SG_REDIRECT_NONE) {
            sg_clear_error(ctx); /* from a map read or retry on the way here */
            return reply;
        }
        /* A redirection without a host means the node that answered; copy its address, since
         * learning a new node may move the node array. */
        char answered_by[sizeof(n->address)];
        strcpy(answered_by, n->address);
        if (++redirects > o->max_redirects) {
            sg_fail(ctx, SG_ERR_CLUSTER, "gave up after %d redirections; last: %.100s", o->max_redirects, reply->str);
            freeReplyObject(reply);
            return NULL;
        }
        freeReplyObject(reply);
        switch (redirect.kind) {
        case SG_REDIRECT_MOVED: {
            int target = node_index(conn, redirect.host[0] ? redirect.host : answered_by, redirect.port);
            if (target < 0) {
                sg_fail(ctx, SG_ERR_OOM, "out of memory");
                return NULL;
            }
            conn->slot_node[redirect.slot] = target;
            /* A slot moved: others may have too (resharding, failover). Re-read the map, not
             * more often than every MIN_REFRESH_INTERVAL_MS; the slot just learnt stays. */
            if (sg_client_clock_ms() - conn->last_refresh_ms >= MIN_REFRESH_INTERVAL_MS) {
                refresh_slot_map(ctx, -1);
                conn->slot_node[redirect.slot] = target;
                sg_clear_error(ctx);
            }
            break;
        }
        case SG_REDIRECT_ASK:
            ask_node = node_index(conn, redirect.host[0] ? redirect.host : answered_by, redirect.port);
            if (ask_node < 0) {
                sg_fail(ctx, SG_ERR_OOM, "out of memory");
                return NULL;
            }
            break;
        case SG_REDIRECT_TRYAGAIN:
            sg_client_pause_ms(backoff_ms(redirects - 1));
            break;
        case SG_REDIRECT_CLUSTERDOWN:
            sg_client_pause_ms(backoff_ms(redirects - 1));
            refresh_slot_map(ctx, -1);
            sg_clear_error(ctx);
            break;
        case SG_REDIRECT_NONE:
            break;
        }
    }
}

long long sg_round_trips(const sg_context *ctx) { return ctx->conn->round_trips; }

sg_link sg_last_link(const sg_context *ctx) { return ctx->conn->last_link; }

redisReply *sg_execute_on_link(sg_context *ctx, sg_link link, int argc, const char **argv, const size_t *argvlen,
                               long long extra_timeout_ms) {
    struct sg_connection *conn = ctx->conn;
    const sg_options *o = &conn->options;
    sg_clear_error(ctx);
    if (link.node < 0 || (size_t)link.node >= conn->node_count) {
        sg_fail(ctx, SG_ERR_IO, "no connection wrote anything: nothing to acknowledge");
        return NULL;
    }
    sg_node *n = &conn->nodes[link.node];
    if (n->c == NULL || n->generation != link.generation) {
        if (n->port) sg_fail(ctx, SG_ERR_IO, "%s:%d: the connection that wrote is gone: nothing acknowledged", n->address, n->port);
        else sg_fail(ctx, SG_ERR_IO, "%s: the connection that wrote is gone: nothing acknowledged", n->address);
        return NULL;
    }
    if (extra_timeout_ms > 0) {
        long long timeout = extra_timeout_ms > LLONG_MAX - o->command_timeout_ms ? LLONG_MAX
                                                                               : o->command_timeout_ms + extra_timeout_ms;
        redisSetTimeout(n->c, timeval_of(timeout));
    }
    conn->round_trips++;
    redisReply *reply = exchange(n, 0, argc, argv, argvlen);
    if (reply == NULL) {
        fail_from_hiredis(ctx, n->c, n, errno);
        node_disconnect(n); /* its state is unknown: a late reply must never be read as ours */
        return NULL;
    }
    if (extra_timeout_ms > 0) redisSetTimeout(n->c, timeval_of(o->command_timeout_ms));
    return reply;
}

int sg_slot_map_node(const sg_context *ctx, unsigned slot) {
    return slot < SG_CLUSTER_SLOTS ? ctx->conn->slot_node[slot] : -1;
}

static int by_address(const void *a, const void *b, void *nodes) {
    const sg_node *x = &((const sg_node *)nodes)[*(const int *)a], *y = &((const sg_node *)nodes)[*(const int *)b];
    int c = strcmp(x->address, y->address);
    return c ? c : (x->port > y->port) - (x->port < y->port);
}

int sg_slot_map_masters(sg_context *ctx, int *out, int max) {
    struct sg_connection *conn = ctx->conn;
    if (!conn->options.cluster) return 0;
    int count = 0;
    for (int pass = 0; pass < 2 && count == 0; pass++) {
        if (pass == 1 && refresh_slot_map(ctx, -1) != SG_OK) return 0;
        for (int s = 0; s < SG_CLUSTER_SLOTS; s++) {
            int node = conn->slot_node[s], seen = 0;
            if (node < 0) continue;
            for (int k = 0; k < count && !seen; k++) seen = out[k] == node;
            if (!seen && count < max) out[count++] = node;
        }
    }
    /* Insertion sort by address: few masters, and no qsort_r in C11. */
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && by_address(&out[j - 1], &out[j], conn->nodes) > 0; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return count;
}

redisReply *sg_command_argv(sg_context *ctx, const char *key, size_t key_len, int argc, const char **argv,
                            const size_t *argvlen) {
    if (argc < 1 || argv == NULL) {
        sg_fail(ctx, SG_ERR_ARGUMENT, "no command");
        return NULL;
    }
    return sg_execute(ctx, key, key_len, argc, argv, argvlen, SG_NOT_RETRIED, 0);
}
