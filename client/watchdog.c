/* watchdog.c -- the watched lock: LOCK.ACQUIRE, then LOCK.EXTEND every ttl/3 from a thread with a
 * connection of its own, until the caller releases the lock or the lock is lost.
 *
 * The failures this is built against: a renewal that outlives the unlock (here the release first
 * stops and joins the thread, so no LOCK.EXTEND can follow it), a watchdog that dies on a
 * reconnect (here every renewal reconnects when it must), and a silent loss (here the holder is
 * told, with the fencing token). "Held" is judged by the client's monotonic clock: the lease of a
 * renewal is counted from the moment it was sent, which is never later than the server's. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_RETRY_MS 20

struct sg_watched_lock {
    sg_context *worker; /* the watchdog thread's own context */
    char *key, *owner;
    size_t key_len, owner_len;
    long long token, ttl_ms;
    sg_lock_lost_fn on_lost;
    void *on_lost_arg;

    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    int stopping;        /* the caller is releasing: no renewal may start */
    int lost;
    long long lease_end_ms; /* monotonic: the last confirmed lease ends by then */
};

static struct timespec monotonic_deadline(long long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    return ts;
}

static void *watch(void *arg) {
    sg_watched_lock *l = arg;
    long long interval = l->ttl_ms / 3 > 0 ? l->ttl_ms / 3 : 1;
    long long retry = interval / 4 > MIN_RETRY_MS ? interval / 4 : MIN_RETRY_MS;
    pthread_mutex_lock(&l->mutex);
    long long next = l->lease_end_ms - l->ttl_ms + interval;
    int tell = 0;
    while (!l->stopping) {
        struct timespec until = monotonic_deadline(next);
        while (!l->stopping && sg_client_clock_ms() < next) pthread_cond_timedwait(&l->wake, &l->mutex, &until);
        if (l->stopping) break;
        pthread_mutex_unlock(&l->mutex);

        long long sent = sg_client_clock_ms();
        int extended = 0;
        int rc = sg_lock_extend(l->worker, l->key, l->key_len, l->owner, l->owner_len, l->ttl_ms, &extended);

        pthread_mutex_lock(&l->mutex);
        if (l->stopping) break;
        long long now = sg_client_clock_ms();
        if (rc == SG_OK && extended) {
            l->lease_end_ms = sent + l->ttl_ms;
            next = sent + interval;
        } else if (rc == SG_OK || now >= l->lease_end_ms) {
            /* Not ours any more, or no renewal got through before the lease ended: the server
             * may have given the lock away. */
            l->lost = 1;
            tell = 1;
            break;
        } else {
            next = now + retry; /* a connection error: try again while the lease lasts */
            if (next > l->lease_end_ms) next = l->lease_end_ms;
        }
    }
    pthread_mutex_unlock(&l->mutex);
    if (tell && l->on_lost) l->on_lost(l->key, l->key_len, l->token, l->on_lost_arg);
    return NULL;
}

static void watched_free(sg_watched_lock *l) {
    sg_free(l->worker);
    free(l->key);
    free(l->owner);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->mutex);
    free(l);
}

static char *copy_of(const char *bytes, size_t len) {
    char *copy = malloc(len ? len : 1);
    if (copy && len) memcpy(copy, bytes, len);
    return copy;
}

/* The watchdog's context: the caller's options, with timeouts short enough that a hung renewal
 * cannot outlast the lease. */
static sg_context *worker_context(const sg_context *ctx, long long ttl_ms) {
    sg_options o = ctx->conn->options;
    long long cap = ttl_ms / 3 > 10 ? ttl_ms / 3 : 10;
    if (o.command_timeout_ms > cap) o.command_timeout_ms = (int)cap;
    if (o.connect_timeout_ms > cap) o.connect_timeout_ms = (int)cap;
    o.max_retries = -1; /* the watchdog loop does its own retrying, within the lease */
    return sg_connect(&o);
}

sg_watched_lock *sg_watched_lock_acquire(sg_context *ctx, const char *key, size_t key_len, const char *owner,
                                         size_t owner_len, const sg_watch_options *options) {
    sg_clear_error(ctx);
    if (options == NULL || options->ttl_ms < 3 || options->wait_ms < 0) {
        sg_fail(ctx, SG_ERR_ARGUMENT, "watched lock: ttl_ms must be at least 3 and wait_ms not negative");
        return NULL;
    }
    long long sent = sg_client_clock_ms(), token = 0;
    if (sg_lock_acquire(ctx, key, key_len, owner, owner_len, options->ttl_ms, options->wait_ms, 0, &token) != SG_OK ||
        token == 0)
        return NULL;
    if (options->wait_ms > 0) {
        /* Granted at some moment of the wait: renew now, so that the lease is known from here. */
        int extended = 0;
        sent = sg_client_clock_ms();
        if (sg_lock_extend(ctx, key, key_len, owner, owner_len, options->ttl_ms, &extended) != SG_OK) {
            sg_context saved = *ctx; /* report the extend's error, not the release's */
            int released;
            sg_lock_release_as(ctx, key, key_len, owner, owner_len, &released, SG_RETRIED);
            ctx->err = saved.err;
            memcpy(ctx->errstr, saved.errstr, sizeof(ctx->errstr));
            return NULL;
        }
        if (!extended) return NULL; /* already lost: as if not granted */
    }
    sg_watched_lock *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        sg_fail(ctx, SG_ERR_OOM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &attr);
    pthread_condattr_destroy(&attr);
    l->key = copy_of(key, key_len);
    l->owner = copy_of(owner, owner_len);
    l->key_len = key_len;
    l->owner_len = owner_len;
    l->token = token;
    l->ttl_ms = options->ttl_ms;
    l->on_lost = options->on_lost;
    l->on_lost_arg = options->on_lost_arg;
    l->lease_end_ms = sent + options->ttl_ms;
    l->worker = worker_context(ctx, options->ttl_ms);
    /* The worker may not be connected yet (it connects on its first renewal); only memory is fatal. */
    if (l->key == NULL || l->owner == NULL || l->worker == NULL ||
        pthread_create(&l->thread, NULL, watch, l) != 0) {
        int released;
        sg_lock_release_as(ctx, key, key_len, owner, owner_len, &released, SG_RETRIED);
        watched_free(l);
        sg_fail(ctx, SG_ERR_OOM, "could not start the watchdog");
        return NULL;
    }
    return l;
}

long long sg_watched_lock_token(const sg_watched_lock *lock) { return lock->token; }

int sg_watched_lock_held(sg_watched_lock *lock) {
    pthread_mutex_lock(&lock->mutex);
    int held = !lock->lost && sg_client_clock_ms() < lock->lease_end_ms;
    pthread_mutex_unlock(&lock->mutex);
    return held;
}

int sg_watched_lock_release(sg_context *ctx, sg_watched_lock *lock, int *released) {
    sg_clear_error(ctx);
    if (lock == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "lock is NULL");
    pthread_mutex_lock(&lock->mutex);
    lock->stopping = 1;
    pthread_cond_signal(&lock->wake);
    pthread_mutex_unlock(&lock->mutex);
    pthread_join(lock->thread, NULL); /* from here on, no LOCK.EXTEND is in flight or to come */
    int was_released = 0;
    /* Retried: the lock is not reentrant, so a repeated release by its owner answers 0 and changes
     * nothing; a lost release must not leave the lock to its lease while a waiter waits. */
    int rc = sg_lock_release_as(ctx, lock->key, lock->key_len, lock->owner, lock->owner_len, &was_released,
                                SG_RETRIED);
    if (released) *released = rc == SG_OK ? was_released : 0;
    watched_free(lock);
    return rc;
}
