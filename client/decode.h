/* decode.h -- libslotguard's pure part: replies into typed results, cluster redirections and
 * CLUSTER SLOTS into routes. No connection, no I/O: unit tests feed it replies they build by hand
 * (tests/unit/test_client_decode.c). Private to the library. */
#ifndef SG_DECODE_H
#define SG_DECODE_H

#include "slotguard.h"

#include <stdarg.h>

/* Set ctx->err and ctx->errstr; always returns SG_ERR. */
int sg_fail(sg_context *ctx, int code, const char *format, ...) __attribute__((format(printf, 3, 4)));
void sg_clear_error(sg_context *ctx);

/* An error reply as ctx->err: SG_ERR_NOTRIAL for "NOTRIAL ...", SG_ERR_SERVER otherwise; errstr
 * is the server's text. Returns SG_ERR. */
int sg_fail_with_reply(sg_context *ctx, const redisReply *reply);

/* Each decoder: SG_OK with the result filled, or SG_ERR with ctx->err set (the server's error, or
 * SG_ERR_PROTOCOL for a reply of the wrong shape). */
int sg_decode_integer(sg_context *ctx, const redisReply *reply, long long min, long long max, long long *out);
int sg_decode_ok(sg_context *ctx, const redisReply *reply);
int sg_decode_enroll(sg_context *ctx, const redisReply *reply, sg_enroll_result *out);
int sg_decode_user_status(sg_context *ctx, const redisReply *reply, sg_user_status *out);
int sg_decode_trial_info(sg_context *ctx, const redisReply *reply, sg_trial_info *out);
/* Copies the users into page storage: the page outlives the reply. */
int sg_decode_members_page(sg_context *ctx, const redisReply *reply, sg_members_page *page);
/* An integer token, or nil as 0. */
int sg_decode_token_or_nil(sg_context *ctx, const redisReply *reply, long long *token);
int sg_decode_lock_info(sg_context *ctx, const redisReply *reply, sg_lock_info *out);
int sg_decode_idemp_begin(sg_context *ctx, const redisReply *reply, sg_idemp_begin *out);
int sg_decode_idemp_record(sg_context *ctx, const redisReply *reply, sg_idemp_record *out);
int sg_decode_throttle(sg_context *ctx, const redisReply *reply, sg_throttle_result *out);
int sg_decode_window(sg_context *ctx, const redisReply *reply, sg_window_result *out);
int sg_decode_window_info(sg_context *ctx, const redisReply *reply, sg_window_info *out);
/* RATE.ALL's [flag, reply per limit]: kinds[i] tells how to read limit i's reply. */
int sg_decode_rate_all(sg_context *ctx, const redisReply *reply, const sg_limit_kind *kinds, size_t n, int *allowed,
                       sg_rate_outcome *outcomes);

/* ---- sharded trials' move ledger ------------------------------------------------------------- */
/* An outbox entry: "<to> <amount>" while the move is in flight (SLOTS.SEND writes it), "<to>
 * <amount> done <unix ms>" once its RECEIVE was made (the library marks it). *done_at_ms is -1 for
 * a move in flight. 0, or -1 when the text is not an entry (to in [0, shards), amount >= 1). */
int sg_parse_move_entry(const char *text, size_t len, int shards, int *to, long long *amount, long long *done_at_ms);

/* ---- cluster --------------------------------------------------------------------------------- */
typedef enum sg_redirect_kind {
    SG_REDIRECT_NONE = 0, /* not a cluster error: the command's own answer */
    SG_REDIRECT_MOVED,    /* the slot lives at host:port now */
    SG_REDIRECT_ASK,      /* this once, ask host:port (after ASKING): the slot is migrating */
    SG_REDIRECT_TRYAGAIN, /* multi-key command during a migration: retry shortly */
    SG_REDIRECT_CLUSTERDOWN,
} sg_redirect_kind;

typedef struct sg_redirect {
    sg_redirect_kind kind;
    int slot;
    char host[256];
    int port;
} sg_redirect;

/* Classify an error reply's text ("MOVED 3999 127.0.0.1:6381", "ASK ...", "TRYAGAIN ...",
 * "CLUSTERDOWN ..."). A MOVED/ASK that cannot be parsed is SG_REDIRECT_NONE. */
sg_redirect_kind sg_parse_redirect(const char *text, size_t len, sg_redirect *out);

/* Visit every slot range of a CLUSTER SLOTS reply with its master's address. Returns the number of
 * ranges, or -1 when the reply has the wrong shape. */
typedef void (*sg_slot_range_fn)(int first, int last, const char *host, int port, void *arg);
int sg_parse_cluster_slots(const redisReply *reply, sg_slot_range_fn visit, void *arg);

#endif
