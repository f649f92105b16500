/* test_lock_migration.c -- a lock whose slot moves to another master while clients wait for it
 * (issue 16, defect 3), on a real three-master Redis Cluster on loopback.
 *
 * MIGRATE deletes the lock key on the source master. That deletion must not hand the lock to the
 * source's first waiter, and neither may the lease timer when the old lease ends there: the key now
 * lives on the target, and a new record on the source would make two holders. The contract: a lock
 * key is never written by a timer or a hand-over on a node that does not own its slot, or whose slot
 * is MIGRATING with the key gone; every waiter of a lock whose key left the node gets exactly one
 * reply, an error starting with "TRYAGAIN " (retry where the key now lives), never a token. On the
 * target, the moved lock is an ordinary lock: same owner and token, and waiters queue there.
 *
 * The slot is moved in steps (cluster.h: IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), so a test can
 * look at the source while the slot is half moved. Waiters are separate connections that send
 * LOCK.ACQUIRE ... WAIT without reading the reply; the test polls their sockets with bounded waits.
 * Servers and connections belong to the test's fixture, released pass or fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster.h"
#include "raw_commands.h"

#define MASTERS 3
#define SOURCE 0 /* the master that serves the lock's slot at the start */
#define TARGET 1 /* the master the slot moves to */
#define WAITERS 3
#define HOLDER "holder-a"
#define WAITER_TTL_MS 60000
#define WAITER_TIMEOUT_MS 10000 /* far beyond every wait below: a nil from a timeout cannot pass */
#define PROMPT_MS 1000          /* waiters hear that the key left within this (next event-loop turn) */
#define QUIET_MS 200            /* after its one reply, a waiter hears nothing more within this */
#define LEASE_MARGIN_MS 500     /* waited beyond a lease's end before checking what followed it */
#define REPLY_TIMEOUT_MS 5000

/* ---- a held lock with waiters on the source ------------------------------------------------------ */

typedef struct queued_lock {
    sg_cluster cl;
    char key[32];
    int slot;
    long long token;          /* the holder's */
    int64_t lease_end_ms;     /* sg_now_ms() by which the holder's lease has surely ended */
    redisContext *waiter[WAITERS];
    char waiter_owner[WAITERS][16];
    int answered[WAITERS];    /* the waiter's one reply has been read */
} queued_lock;

/* Start the cluster, let HOLDER take a lock on the source for `lease_ms`, and queue WAITERS clients
 * behind it on the source (each confirmed queued by LOCK.INFO before the next is sent). */
static void hold_with_waiters(queued_lock *q, sg_fixture *f, long long lease_ms)
{
    sg_cluster_start(&q->cl, f, MASTERS);
    sg_cluster_key_on(&q->cl, SOURCE, "lock-", q->key, sizeof(q->key));
    q->slot = sg_cluster_slot_of(&q->cl, q->key);
    q->token = raw_lock_acquire(q->cl.c[SOURCE], q->key, HOLDER, lease_ms);
    q->lease_end_ms = sg_now_ms() + lease_ms;
    assert_true(q->token >= 1);
    for (int i = 0; i < WAITERS; i++) {
        q->answered[i] = 0;
        snprintf(q->waiter_owner[i], sizeof(q->waiter_owner[i]), "waiter-b%d", i + 1);
        q->waiter[i] = sg_fixture_connect(f, q->cl.node[SOURCE]);
        sg_send_command(q->waiter[i], "LOCK.ACQUIRE %s %s %d WAIT %d", q->key, q->waiter_owner[i], WAITER_TTL_MS,
                        WAITER_TIMEOUT_MS);
        raw_lock_wait_for_waiters(q->cl.c[SOURCE], q->key, i + 1);
    }
}

static void sleep_until(int64_t when_ms)
{
    int64_t left = when_ms - sg_now_ms();
    if (left > 0) sg_sleep_ms((int)left);
}

/* ---- findings: every problem of one moment, reported together ------------------------------------ */

typedef struct findings {
    char text[4096];
    size_t len;
} findings;

static void note(findings *f, const char *fmt, ...)
{
    if (f->len + 1 >= sizeof(f->text)) return;
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(f->text + f->len, sizeof(f->text) - f->len, "\n  - ");
    if (n > 0) f->len += (size_t)n;
    if (f->len + 1 < sizeof(f->text)) {
        n = vsnprintf(f->text + f->len, sizeof(f->text) - f->len, fmt, ap);
        if (n > 0) f->len += (size_t)n;
    }
    if (f->len >= sizeof(f->text)) f->len = sizeof(f->text) - 1;
    va_end(ap);
}

static void fail_on_findings(const findings *f, const char *when)
{
    if (f->len > 0) fail_msg("%s:%s", when, f->text);
}

/* ---- what the waiters heard ---------------------------------------------------------------------- */

typedef enum waiter_reply { NO_REPLY, TRYAGAIN_REPLY, OTHER_REPLY } waiter_reply;

/* The waiter's next reply if one arrives before `deadline_ms` (sg_now_ms clock), described in `out`. */
static waiter_reply next_reply(redisContext *w, int64_t deadline_ms, char *out, size_t size)
{
    int64_t left = deadline_ms - sg_now_ms();
    if (!sg_reply_arrives_within(w, left > 0 ? (int)left : 0)) {
        snprintf(out, size, "nothing");
        return NO_REPLY;
    }
    void *reply = NULL;
    if (redisGetReply(w, &reply) != REDIS_OK || reply == NULL) {
        snprintf(out, size, "a broken connection (%s)", w->errstr);
        return OTHER_REPLY;
    }
    redisReply *r = reply;
    sg_describe_reply(r, out, size);
    waiter_reply kind = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "TRYAGAIN ", 9) == 0 ? TRYAGAIN_REPLY
                                                                                           : OTHER_REPLY;
    freeReplyObject(r);
    return kind;
}

/* Read what the waiters said so far, waiting until `deadline_ms` for those not answered yet. A
 * waiter's one reply must be a TRYAGAIN error; with `all_must_answer`, a waiter still silent at the
 * deadline is a finding too. Then, QUIET_MS later, no answered waiter may have a second reply. */
static void note_waiter_replies(queued_lock *q, int64_t deadline_ms, int all_must_answer, findings *f)
{
    char got[300];
    for (int i = 0; i < WAITERS; i++) {
        if (q->answered[i]) continue;
        waiter_reply kind = next_reply(q->waiter[i], deadline_ms, got, sizeof(got));
        if (kind != NO_REPLY) q->answered[i] = 1;
        if (kind == OTHER_REPLY || (kind == NO_REPLY && all_must_answer))
            note(f, "waiter %s got %s, expected one error starting with \"TRYAGAIN \"", q->waiter_owner[i], got);
    }
    sg_sleep_ms(QUIET_MS);
    for (int i = 0; i < WAITERS; i++) {
        if (q->answered[i] && next_reply(q->waiter[i], sg_now_ms(), got, sizeof(got)) != NO_REPLY)
            note(f, "waiter %s got a second reply: %s", q->waiter_owner[i], got);
    }
}

/* ---- what the nodes hold -------------------------------------------------------------------------- */

/* The source must hold no key in the lock's slot: it neither kept the moved key nor wrote a new one. */
static void note_source_keys_in_slot(queued_lock *q, findings *f)
{
    redisContext *source = q->cl.c[SOURCE];
    long long count = sg_command_integer(source, "CLUSTER COUNTKEYSINSLOT %d", q->slot);
    if (count == 0) return;
    redisReply *keys = sg_command(source, "CLUSTER GETKEYSINSLOT %d 10", q->slot);
    char names[200] = "";
    size_t used = 0;
    for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements && used < sizeof(names); i++) {
        int n = snprintf(names + used, sizeof(names) - used, "%s%.*s", i ? ", " : "", (int)keys->element[i]->len,
                         keys->element[i]->str);
        if (n > 0) used += (size_t)n;
    }
    freeReplyObject(keys);
    note(f, "node %d (the source) holds %lld key(s) in slot %d (%s), expected none", SOURCE, count, q->slot, names);
}

/* On the target the moved lock is the holder's, with its original token, and nobody waits there. */
static void assert_target_holds_the_original_lock(queued_lock *q)
{
    raw_lock_info info = raw_lock_info_of(q->cl.c[TARGET], q->key);
    if (!info.held) fail_msg("LOCK.INFO %s on node %d (the target) is nil, expected %s's lock", q->key, TARGET, HOLDER);
    raw_lock_assert_owner(&info, HOLDER, strlen(HOLDER));
    assert_int_equal(info.token, q->token);
    assert_int_equal(info.waiters, 0);
}

/* After the holder's lease ended, the target's lock is free or someone's, but never a source waiter's. */
static void assert_no_source_waiter_holds_the_target_lock(queued_lock *q)
{
    raw_lock_info info = raw_lock_info_of(q->cl.c[TARGET], q->key);
    if (!info.held) return;
    for (int i = 0; i < WAITERS; i++) {
        if (info.owner_len == strlen(q->waiter_owner[i]) && memcmp(info.owner, q->waiter_owner[i], info.owner_len) == 0)
            fail_msg("LOCK.INFO %s on node %d (the target) names source waiter %s as owner (token %lld)", q->key,
                     TARGET, q->waiter_owner[i], info.token);
    }
}

static void assert_source_redirects_to_target(queued_lock *q)
{
    char expected[64], got[300];
    snprintf(expected, sizeof(expected), "MOVED %d 127.0.0.1:%d", q->slot, q->cl.node[TARGET]->port);
    redisReply *r = sg_command(q->cl.c[SOURCE], "LOCK.ACQUIRE %s late-comer 1000", q->key);
    if (r->type != REDIS_REPLY_ERROR || strcmp(r->str, expected) != 0) {
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.ACQUIRE on node %d (the source): expected \"%s\", got %s", SOURCE, expected, got);
    }
    freeReplyObject(r);
}

/* After the holder's lease ended: every waiter has had its one TRYAGAIN (and nothing more), the
 * source still holds nothing in the slot, and the target's lock went to no source waiter. */
static void check_after_the_lease_end(queued_lock *q)
{
    sleep_until(q->lease_end_ms + LEASE_MARGIN_MS);
    findings f = {.len = 0};
    note_waiter_replies(q, sg_now_ms() + REPLY_TIMEOUT_MS, 1, &f);
    note_source_keys_in_slot(q, &f);
    fail_on_findings(&f, "after the holder's lease ended");
    assert_no_source_waiter_holds_the_target_lock(q);
}

/* ---- the tests ----------------------------------------------------------------------------------- */

static void test_after_a_lock_moves_to_another_master_its_waiters_get_tryagain_and_the_old_master_writes_no_lock(
    void **state)
{
    queued_lock q;
    hold_with_waiters(&q, *state, 1500);

    sg_cluster_migration_begin(&q.cl, q.slot, SOURCE, TARGET);
    assert_int_equal(sg_cluster_migrate_keys(&q.cl, q.slot, SOURCE, TARGET, 100), 1);
    sg_cluster_migration_end(&q.cl, q.slot, TARGET);

    /* The waiters may answer now or at the lease end; whatever they said so far must be TRYAGAIN. */
    findings f = {.len = 0};
    note_waiter_replies(&q, sg_now_ms(), 0, &f);
    note_source_keys_in_slot(&q, &f);
    fail_on_findings(&f, "right after the slot moved");
    assert_target_holds_the_original_lock(&q);
    assert_source_redirects_to_target(&q);

    check_after_the_lease_end(&q);
}

static void test_while_a_slot_is_half_moved_waiters_get_tryagain_as_soon_as_the_lock_key_leaves(void **state)
{
    queued_lock q;
    hold_with_waiters(&q, *state, 3000); /* ends well after PROMPT_MS: the replies are not the lease's */

    sg_cluster_migration_begin(&q.cl, q.slot, SOURCE, TARGET);
    assert_int_equal(sg_cluster_migrate_keys(&q.cl, q.slot, SOURCE, TARGET, 100), 1);
    int64_t migrated_ms = sg_now_ms();

    findings f = {.len = 0};
    note_waiter_replies(&q, migrated_ms + PROMPT_MS, 1, &f);
    note_source_keys_in_slot(&q, &f);
    fail_on_findings(&f, "with the slot MIGRATING and the lock key migrated");
    assert_true(sg_now_ms() < q.lease_end_ms); /* all of the above happened inside the holder's lease */

    sg_cluster_migration_end(&q.cl, q.slot, TARGET);
    note_source_keys_in_slot(&q, &f);
    fail_on_findings(&f, "right after the slot moved");
    assert_target_holds_the_original_lock(&q);
    assert_source_redirects_to_target(&q);

    check_after_the_lease_end(&q);
}

static void test_on_the_new_master_a_moved_lock_queues_waiters_and_hands_over_on_release(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    char key[32];
    sg_cluster_key_on(&cl, SOURCE, "lock-", key, sizeof(key));
    long long token = raw_lock_acquire(cl.c[SOURCE], key, HOLDER, 30000);
    assert_true(token >= 1);

    sg_cluster_move_slot(&cl, sg_cluster_slot_of(&cl, key), SOURCE, TARGET);
    raw_lock_assert_held_by(cl.c[TARGET], key, HOLDER);

    redisContext *waiter = sg_fixture_connect(cl.f, cl.node[TARGET]);
    sg_send_command(waiter, "LOCK.ACQUIRE %s waiter-c %d WAIT %d", key, WAITER_TTL_MS, WAITER_TIMEOUT_MS);
    raw_lock_wait_for_waiters(cl.c[TARGET], key, 1);
    if (sg_reply_arrives_within(waiter, 0)) fail_msg("the waiter on the target was answered while the lock is held");

    assert_int_equal(raw_lock_release(cl.c[TARGET], key, HOLDER), 1);
    long long granted = raw_lock_token_or_nil(sg_receive_reply(waiter, REPLY_TIMEOUT_MS, "the waiter on the target"),
                                              "the waiter on the target");
    if (granted <= token) fail_msg("the waiter on the target got %lld, expected a token above %lld", granted, token);
    raw_lock_info info = raw_lock_info_of(cl.c[TARGET], key);
    raw_lock_assert_owner(&info, "waiter-c", strlen("waiter-c"));
    assert_int_equal(info.token, granted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_after_a_lock_moves_to_another_master_its_waiters_get_tryagain_and_the_old_master_writes_no_lock,
            sg_fixture_setup, sg_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_while_a_slot_is_half_moved_waiters_get_tryagain_as_soon_as_the_lock_key_leaves, sg_fixture_setup,
            sg_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_on_the_new_master_a_moved_lock_queues_waiters_and_hands_over_on_release,
                                        sg_fixture_setup, sg_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
