/* sharded_trial.c -- libslotguard's sharded trials: one trial of capacity C over S shard trials on
 * the masters of a cluster. Every user has a home shard (a stable hash of the id) and is only ever
 * enrolled there, which makes the dedup exact; when the home shard is full, free slots move to it
 * from another shard (SLOTS.SEND on the sender, SLOTS.RECEIVE on the home shard, then the sender's
 * outbox entry is marked done, and removed by reconcile a day later). See slotguard.h for the
 * guarantees. */
#include "spread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KIND "sg-trial"
#define MAX_ROUNDS 1000 /* moves for one enrollment before giving up (others kept taking them) */
#define MAX_WAITS 20    /* 1 ms pauses for moves in flight before their slots count as lost */
/* How long the outbox keeps a finished move (marked done): a repeat of its SEND (a retry of the
 * call that sent it) finds it and sends nothing again, and reconcile makes its RECEIVE again in
 * case a failover lost it. Past this, reconcile removes the entry. */
#define LEDGER_HORIZON_MS (24LL * 3600 * 1000)

typedef struct shard_keys {
    char *trial, *outbox, *inbox;
    size_t trial_len, outbox_len, inbox_len;
} shard_keys;

struct sg_sharded_trial {
    int shards;
    long long capacity;
    long long batch; /* slots one move asks for */
    shard_keys *keys;
    int *order; /* scratch: the other shards, in the order they are asked */
    uint64_t rng, move_seed;
    unsigned long long moves_started;
    sg_sharded_options options;
};

/* ---- opening ----------------------------------------------------------------------------------- */
static char *copy_key(const char *name, size_t len, const char *role, int i, const sg_spread *m, size_t *key_len) {
    char buf[SG_SPREAD_KEY_SIZE];
    *key_len = sg_spread_key(buf, sizeof(buf), name, len, role, i, m);
    char *copy = malloc(*key_len + 1);
    if (copy) memcpy(copy, buf, *key_len + 1);
    return copy;
}

void sg_sharded_trial_close(sg_sharded_trial *t) {
    if (t == NULL) return;
    for (int i = 0; t->keys && i < t->shards; i++) {
        free(t->keys[i].trial);
        free(t->keys[i].outbox);
        free(t->keys[i].inbox);
    }
    free(t->keys);
    free(t->order);
    free(t);
}

static sg_sharded_trial *handle_of(sg_context *ctx, const char *name, size_t len, const sg_spread *m,
                                   const sg_sharded_options *options) {
    sg_sharded_trial *t = calloc(1, sizeof(*t));
    int ok = t != NULL;
    if (ok) {
        t->shards = m->shards;
        t->capacity = m->total;
        /* A shard that runs full pulls an eighth of an average share at a time: a shard taking
         * all the traffic needs at most 8 (S - 1) moves to gather every slot, and the three round
         * trips of a move are spread over that many enrollments. */
        t->batch = m->total / (8LL * m->shards);
        if (t->batch < 1) t->batch = 1;
        t->keys = calloc((size_t)m->shards, sizeof(*t->keys));
        t->order = calloc((size_t)m->shards, sizeof(*t->order));
        ok = t->keys && t->order;
    }
    for (int i = 0; ok && i < m->shards; i++) {
        shard_keys *k = &t->keys[i];
        k->trial = copy_key(name, len, "trial", i, m, &k->trial_len);
        k->outbox = copy_key(name, len, "out", i, m, &k->outbox_len);
        k->inbox = copy_key(name, len, "in", i, m, &k->inbox_len);
        ok = k->trial && k->outbox && k->inbox;
    }
    if (!ok) {
        sg_sharded_trial_close(t);
        sg_fail(ctx, SG_ERR_OOM, "out of memory");
        return NULL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Move ids must not repeat across clients and restarts: time, pid and the handle's address. */
    t->move_seed = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40) ^
                   (uint64_t)(uintptr_t)t;
    t->rng = t->move_seed * 0x9e3779b97f4a7c15ULL | 1;
    if (options) t->options = *options;
    if (t->options.move_wait_timeout_ms <= 0) t->options.move_wait_timeout_ms = 100;
    return t;
}

int sg_sharded_trial_create(sg_context *ctx, const char *name, size_t name_len, int shards, long long capacity,
                            int *created) {
    sg_clear_error(ctx);
    if (sg_spread_check_name(ctx, name, name_len, "trial") != SG_OK) return SG_ERR;
    if (shards < 1 || shards > SG_SPREAD_MAX_SHARDS)
        return sg_fail(ctx, SG_ERR_ARGUMENT, "shards: 1 to %d", SG_SPREAD_MAX_SHARDS);
    if (capacity < 0) return sg_fail(ctx, SG_ERR_ARGUMENT, "capacity must not be negative");
    if (created == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "result pointer is NULL");
    sg_spread *m = calloc(1, sizeof(*m));
    if (m == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    int rc = sg_spread_create(ctx, KIND, name, name_len, shards, capacity, m, created);
    /* Every shard trial with its share, each only when absent (SLOTS.INIT never resets a trial):
     * this also completes a creation that stopped half-way. */
    for (int i = 0; rc == SG_OK && i < m->shards; i++) {
        char key[SG_SPREAD_KEY_SIZE], share[24];
        size_t key_len = sg_spread_key(key, sizeof(key), name, name_len, "trial", i, m);
        const char *argv[] = {"SLOTS.INIT", key, share};
        size_t argvlen[] = {10, key_len, (size_t)snprintf(share, sizeof(share), "%lld", sg_spread_share(m, i))};
        redisReply *r = sg_execute(ctx, key, key_len, 3, argv, argvlen, SG_RETRIED, 0);
        if (r == NULL) {
            rc = SG_ERR;
        } else {
            long long ignored;
            rc = sg_decode_integer(ctx, r, 0, 1, &ignored);
            freeReplyObject(r);
        }
    }
    free(m);
    return rc;
}

sg_sharded_trial *sg_sharded_trial_open(sg_context *ctx, const char *name, size_t name_len,
                                        const sg_sharded_options *options) {
    sg_clear_error(ctx);
    if (sg_spread_check_name(ctx, name, name_len, "trial") != SG_OK) return NULL;
    sg_spread *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        sg_fail(ctx, SG_ERR_OOM, "out of memory");
        return NULL;
    }
    int found = 0;
    sg_sharded_trial *t = NULL;
    if (sg_spread_read(ctx, KIND, name, name_len, m, &found) == SG_OK) {
        if (found) t = handle_of(ctx, name, name_len, m, options);
        else sg_fail(ctx, SG_ERR_NOTRIAL, "no sharded trial %.*s (no %.*s:meta)", (int)name_len, name,
                     (int)name_len, name);
    }
    free(m);
    return t;
}

int sg_sharded_trial_shards(const sg_sharded_trial *t) { return t ? t->shards : 0; }
long long sg_sharded_trial_capacity(const sg_sharded_trial *t) { return t ? t->capacity : 0; }

const char *sg_sharded_trial_key(const sg_sharded_trial *t, int shard, size_t *len) {
    if (t == NULL || shard < 0 || shard >= t->shards) return NULL;
    if (len) *len = t->keys[shard].trial_len;
    return t->keys[shard].trial;
}

/* FNV-1a over the id: stable across clients, versions and machines. */
int sg_sharded_trial_home(const sg_sharded_trial *t, const char *user, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)user[i];
        h *= 0x100000001b3ULL;
    }
    return (int)(h % (uint64_t)t->shards);
}

/* ---- one command on one shard --------------------------------------------------------------- */
/* Run a command routed by `key`; the integer reply in [min, max] into *out. */
static int integer_call(sg_context *ctx, const char *key, size_t key_len, int argc, const char **argv,
                        const size_t *argvlen, long long min, long long max, long long *out) {
    redisReply *r = sg_execute(ctx, key, key_len, argc, argv, argvlen, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_integer(ctx, r, min, max, out);
    freeReplyObject(r);
    return rc;
}

static int user_call(sg_context *ctx, sg_sharded_trial *t, const char *command, const char *user, size_t len,
                     redisReply **reply) {
    if (user == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "user is NULL");
    const shard_keys *k = &t->keys[sg_sharded_trial_home(t, user, len)];
    const char *argv[] = {command, k->trial, user};
    size_t argvlen[] = {strlen(command), k->trial_len, len};
    *reply = sg_execute(ctx, k->trial, k->trial_len, 3, argv, argvlen, SG_RETRIED, 0);
    return *reply ? SG_OK : SG_ERR;
}

/* ---- moves ----------------------------------------------------------------------------------- */
static uint64_t next_random(sg_sharded_trial *t) {
    t->rng ^= t->rng << 13;
    t->rng ^= t->rng >> 7;
    t->rng ^= t->rng << 17;
    return t->rng;
}

/* With move_wait_replicas: *safe 1 when the sender's master has that many replicas caught up with
 * the SEND, so that a failover cannot lose it. `wrote` is a connection that ran a command on the
 * sender's master after the SEND (the SEND itself, or reconcile's read of the outbox): WAIT counts
 * only what the stream held at its own connection's last command, and on a fresh connection it
 * answers at once. So it runs on `wrote` or not at all, and is never repeated; when that connection
 * is gone the move is not acknowledged (*safe 0) and is left to reconcile. */
static int sender_replicated(sg_context *ctx, sg_sharded_trial *t, sg_link wrote, int *safe) {
    *safe = 1;
    if (t->options.move_wait_replicas <= 0) return SG_OK;
    char replicas[16], timeout[24];
    const char *argv[] = {"WAIT", replicas, timeout};
    size_t argvlen[] = {4, (size_t)snprintf(replicas, sizeof(replicas), "%d", t->options.move_wait_replicas),
                        (size_t)snprintf(timeout, sizeof(timeout), "%lld", t->options.move_wait_timeout_ms)};
    redisReply *r = sg_execute_on_link(ctx, wrote, 3, argv, argvlen, t->options.move_wait_timeout_ms);
    if (r == NULL) {
        sg_clear_error(ctx);
        *safe = 0;
        return SG_OK;
    }
    long long acked = 0;
    int rc = sg_decode_integer(ctx, r, 0, INT32_MAX, &acked);
    freeReplyObject(r);
    *safe = acked >= t->options.move_wait_replicas;
    return rc;
}

static long long unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SLOTS.RECEIVE of a move at `to`: *added 1 when the slots were added now, 0 when `to` had them. */
static int receive_move(sg_context *ctx, sg_sharded_trial *t, int from, int to, const char *id, size_t id_len,
                        long long amount, long long *added) {
    const shard_keys *k = &t->keys[to];
    char from_text[16], amount_text[24];
    const char *receive[] = {"SLOTS.RECEIVE", k->trial, k->inbox, id, from_text, amount_text};
    size_t receive_len[] = {13, k->trial_len, k->inbox_len, id_len,
                            (size_t)snprintf(from_text, sizeof(from_text), "%d", from),
                            (size_t)snprintf(amount_text, sizeof(amount_text), "%lld", amount)};
    return integer_call(ctx, k->trial, k->trial_len, 6, receive, receive_len, 0, 1, added);
}

/* Finish a move whose first half is done: the slots reach `to` (once, whoever asks), then the
 * sender's outbox entry is marked done (kept, so that a repeat of the SEND finds it and sends
 * nothing). Every step may be repeated. *finished 0 when the sender's replicas did not acknowledge
 * in time (with move_wait_replicas): the move is left for reconcile. */
static int finish_move(sg_context *ctx, sg_sharded_trial *t, int from, int to, const char *id, size_t id_len,
                       long long amount, sg_link wrote, int *finished) {
    *finished = 0;
    int safe;
    if (sender_replicated(ctx, t, wrote, &safe) != SG_OK) return SG_ERR;
    if (!safe) return SG_OK;
    long long ignored;
    if (receive_move(ctx, t, from, to, id, id_len, amount, &ignored) != SG_OK) return SG_ERR;
    const shard_keys *f = &t->keys[from];
    char entry[96];
    const char *settle[] = {"HSET", f->outbox, id, entry};
    size_t settle_len[] = {4, f->outbox_len, id_len,
                           (size_t)snprintf(entry, sizeof(entry), "%d %lld done %lld", to, amount, unix_ms())};
    if (integer_call(ctx, f->outbox, f->outbox_len, 4, settle, settle_len, 0, 1, &ignored) != SG_OK) return SG_ERR;
    *finished = 1;
    return SG_OK;
}

/* Bring free slots to shard `home` from another shard: *moved the slots (0 when no other shard has a
 * free slot: every one was asked). */
static int move_to(sg_context *ctx, sg_sharded_trial *t, int home, long long *moved) {
    *moved = 0;
    int n = 0;
    for (int i = 0; i < t->shards; i++)
        if (i != home) t->order[n++] = i;
    for (int i = n - 1; i > 0; i--) { /* a random order, so that senders share the load */
        int j = (int)(next_random(t) % (uint64_t)(i + 1)), swap = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = swap;
    }
    for (int o = 0; o < n; o++) {
        int from = t->order[o];
        const shard_keys *f = &t->keys[from];
        char id[48], to_text[16], count_text[24];
        size_t id_len = (size_t)snprintf(id, sizeof(id), "%016llx-%llu", (unsigned long long)t->move_seed,
                                         ++t->moves_started);
        const char *send[] = {"SLOTS.SEND", f->trial, f->outbox, id, to_text, count_text};
        size_t send_len[] = {10, f->trial_len, f->outbox_len, id_len,
                             (size_t)snprintf(to_text, sizeof(to_text), "%d", home),
                             (size_t)snprintf(count_text, sizeof(count_text), "%lld", t->batch)};
        long long sent = 0;
        /* Retried: the move id makes a repeat answer what the first call sent, changing nothing.
         * A repeat on a new connection still leaves that connection fit for the WAIT: Redis sets a
         * connection's WAIT offset to the whole replication stream after every command it runs. */
        if (integer_call(ctx, f->trial, f->trial_len, 6, send, send_len, 0, t->batch, &sent) != SG_OK) return SG_ERR;
        if (sent == 0) continue;
        int finished;
        if (finish_move(ctx, t, from, home, id, id_len, sent, sg_last_link(ctx), &finished) != SG_OK)
            return SG_ERR; /* to reconcile */
        if (!finished) continue; /* not replicated in time: left to reconcile; ask another shard */
        *moved = sent;
        return SG_OK;
    }
    return SG_OK;
}

/* ---- enrollment ------------------------------------------------------------------------------ */
static int read_shards(sg_context *ctx, sg_sharded_trial *t, sg_sharded_info *info, int moves);

int sg_sharded_enroll(sg_context *ctx, sg_sharded_trial *t, const char *user, size_t len, sg_enroll_result *result) {
    sg_clear_error(ctx);
    if (t == NULL || result == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "trial and result");
    int home = sg_sharded_trial_home(t, user ? user : "", user ? len : 0), waits = 0;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        redisReply *r;
        if (user_call(ctx, t, "ENROLL", user, len, &r) != SG_OK) return SG_ERR;
        int rc = sg_decode_enroll(ctx, r, result);
        freeReplyObject(r);
        if (rc != SG_OK || *result != SG_ENROLL_FULL) return rc;
        long long moved;
        if (move_to(ctx, t, home, &moved) != SG_OK) return SG_ERR;
        if (moved > 0) continue; /* slots arrived; others enrolling at home may take them first */
        /* No other shard had a free slot when asked; but while they were asked one after another,
         * slots may have moved (to a shard asked before, or home) or be on their way. Only the
         * count decides: "full" when C users are enrolled (the shards' enrolled counts only grow,
         * except by cancels, so their sum read one shard after another never overstates it). */
        sg_sharded_info info;
        if (read_shards(ctx, t, &info, 0) != SG_OK) return SG_ERR;
        if (info.enrolled >= t->capacity) return SG_OK; /* SG_ENROLL_FULL */
        if (info.capacity > info.enrolled) continue;      /* a shard has a free slot: ask again */
        /* The rest is in moves not finished. A live client finishes its move within milliseconds;
         * a move whose client died waits for reconcile, and its slots count as lost till then. */
        if (++waits > MAX_WAITS) return SG_OK; /* SG_ENROLL_FULL */
        sg_client_pause_ms(1);
    }
    return sg_fail(ctx, SG_ERR_CLUSTER, "gave up after %d moves: the slots kept going to others", MAX_ROUNDS);
}

int sg_sharded_cancel(sg_context *ctx, sg_sharded_trial *t, const char *user, size_t len, int *withdrawn) {
    sg_clear_error(ctx);
    if (t == NULL || withdrawn == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "trial and result");
    redisReply *r;
    if (user_call(ctx, t, "ENROLL.CANCEL", user, len, &r) != SG_OK) return SG_ERR;
    long long value = 0;
    int rc = sg_decode_integer(ctx, r, 0, 1, &value);
    freeReplyObject(r);
    *withdrawn = (int)value;
    return rc;
}

int sg_sharded_status(sg_context *ctx, sg_sharded_trial *t, const char *user, size_t len, sg_user_status *status) {
    sg_clear_error(ctx);
    if (t == NULL || status == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "trial and result");
    redisReply *r;
    if (user_call(ctx, t, "ENROLL.STATUS", user, len, &r) != SG_OK) return SG_ERR;
    int rc = sg_decode_user_status(ctx, r, status);
    freeReplyObject(r);
    return rc;
}

/* The shards' capacities and counts, read one after another; with `moves`, also the moves in
 * flight (each outbox read whole: an operator's call, not the enrollment path's). */
static int read_shards(sg_context *ctx, sg_sharded_trial *t, sg_sharded_info *info, int moves) {
    memset(info, 0, sizeof(*info));
    info->shards = t->shards;
    for (int i = 0; i < t->shards; i++) {
        const shard_keys *k = &t->keys[i];
        const char *argv[] = {"SLOTS.INFO", k->trial};
        size_t argvlen[] = {10, k->trial_len};
        redisReply *r = sg_execute(ctx, k->trial, k->trial_len, 2, argv, argvlen, SG_RETRIED, 0);
        if (r == NULL) return SG_ERR;
        sg_trial_info one;
        int rc = sg_decode_trial_info(ctx, r, &one);
        freeReplyObject(r);
        if (rc != SG_OK) return SG_ERR;
        if (!one.exists) return sg_fail(ctx, SG_ERR_NOTRIAL, "shard %d of the trial is missing", i);
        info->capacity += one.capacity;
        info->enrolled += one.enrolled;
        info->remaining += one.remaining;
        if (!moves) continue;
        /* Moves in flight: the outbox entries not marked done. */
        const char *hvals[] = {"HVALS", k->outbox};
        size_t hvals_len[] = {5, k->outbox_len};
        r = sg_execute(ctx, k->outbox, k->outbox_len, 2, hvals, hvals_len, SG_RETRIED, 0);
        if (r == NULL) return SG_ERR;
        if (r->type == REDIS_REPLY_ERROR) rc = sg_fail_with_reply(ctx, r);
        else if (r->type != REDIS_REPLY_ARRAY) rc = sg_fail(ctx, SG_ERR_PROTOCOL, "bad outbox");
        for (size_t e = 0; rc == SG_OK && e < r->elements; e++) {
            const redisReply *v = r->element[e];
            int to;
            long long amount, done_at;
            if (v->type != REDIS_REPLY_STRING || sg_parse_move_entry(v->str, v->len, t->shards, &to, &amount, &done_at))
                rc = sg_fail(ctx, SG_ERR_PROTOCOL, "an outbox entry of shard %d is not a move", i);
            else if (done_at < 0)
                info->moves_in_flight++;
        }
        freeReplyObject(r);
        if (rc != SG_OK) return SG_ERR;
    }
    return SG_OK;
}

int sg_sharded_info_get(sg_context *ctx, sg_sharded_trial *t, sg_sharded_info *info) {
    sg_clear_error(ctx);
    if (t == NULL || info == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "trial and result");
    return read_shards(ctx, t, info, 1);
}

int sg_sharded_members(sg_context *ctx, sg_sharded_trial *t, int shard, unsigned long long cursor, size_t count,
                       sg_members_page *page) {
    sg_clear_error(ctx);
    if (t == NULL || shard < 0 || shard >= t->shards) return sg_fail(ctx, SG_ERR_ARGUMENT, "no such shard");
    return sg_enroll_members(ctx, t->keys[shard].trial, t->keys[shard].trial_len, cursor, count, page);
}

/* ---- reconcile ------------------------------------------------------------------------------- */
int sg_sharded_reconcile(sg_context *ctx, sg_sharded_trial *t, long long *finished) {
    sg_clear_error(ctx);
    if (t == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "trial is NULL");
    long long done = 0;
    for (int from = 0; from < t->shards; from++) {
        const shard_keys *f = &t->keys[from];
        const char *argv[] = {"HGETALL", f->outbox};
        size_t argvlen[] = {7, f->outbox_len};
        redisReply *r = sg_execute(ctx, f->outbox, f->outbox_len, 2, argv, argvlen, SG_RETRIED, 0);
        if (r == NULL) return SG_ERR;
        /* Every SEND in this outbox came before that read on the sender's master, so a WAIT on the
         * connection that read (Redis moves a connection's WAIT offset after every command) waits for
         * them all. */
        sg_link read_on = sg_last_link(ctx);
        int rc = SG_OK;
        if (r->type == REDIS_REPLY_ERROR) rc = sg_fail_with_reply(ctx, r);
        else if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) rc = sg_fail(ctx, SG_ERR_PROTOCOL, "bad outbox");
        /* An entry in flight is a move whose slots left `from` but may not have arrived: finish it.
         * A done one had its RECEIVE, which a failover of `to` may have lost with the inbox entry
         * (they go together): make it again (once per move id, so exact), and remove the entry
         * once it is past the ledger's horizon. */
        long long now = unix_ms();
        for (size_t e = 0; rc == SG_OK && e + 1 < r->elements; e += 2) {
            const redisReply *id = r->element[e], *entry = r->element[e + 1];
            int to = -1;
            long long amount = 0, done_at = -1;
            if (entry->type != REDIS_REPLY_STRING ||
                sg_parse_move_entry(entry->str, entry->len, t->shards, &to, &amount, &done_at) != 0) {
                rc = sg_fail(ctx, SG_ERR_PROTOCOL, "an outbox entry of shard %d is not a move", from);
                break;
            }
            if (done_at < 0) {
                int finished = 0;
                rc = finish_move(ctx, t, from, to, id->str, id->len, amount, read_on, &finished);
                if (rc == SG_OK) done += finished;
                continue;
            }
            long long added = 0;
            rc = receive_move(ctx, t, from, to, id->str, id->len, amount, &added);
            if (rc == SG_OK) done += added;
            if (rc == SG_OK && done_at < now - LEDGER_HORIZON_MS) {
                const char *prune[] = {"HDEL", f->outbox, id->str};
                size_t prune_len[] = {4, f->outbox_len, id->len};
                long long ignored;
                rc = integer_call(ctx, f->outbox, f->outbox_len, 3, prune, prune_len, 0, 1, &ignored);
            }
        }
        freeReplyObject(r);
        if (rc != SG_OK) return SG_ERR;
    }
    if (finished) *finished = done;
    return SG_OK;
}
