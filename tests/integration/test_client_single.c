/* test_client_single.c -- libslotguard against one real redis-server with the module: every typed
 * call and its results, the error model (coded errors in the context, business outcomes as
 * results), binary-safe arguments, AUTH (password, ACL user), SELECT, unix sockets, connection loss
 * and reconnection, command timeouts, and which calls are retried after a connection error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)


static sg_context *client_with(sg_options o) {
    if (o.host == NULL && o.unix_path == NULL) o.host = "127.0.0.1";
    if (o.port == 0 && o.unix_path == NULL) o.port = sg_group_server->port;
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    return ctx;
}

static sg_context *client(void) {
    sg_context *ctx = client_with((sg_options){0});
    if (ctx->err) fail_msg("connect: %s", ctx->errstr);
    return ctx;
}

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

/* ---- connecting ------------------------------------------------------------------------------ */
static void the_library_reports_the_version_of_the_version_header(void **state) {
    (void)state;
    assert_string_equal(sg_version(), SG_VERSION_STRING);
    char expected[32];
    snprintf(expected, sizeof(expected), "%d.%d.%d", SG_VERSION_MAJOR, SG_VERSION_MINOR, SG_VERSION_PATCH);
    assert_string_equal(sg_version(), expected);
}

static void connecting_to_a_closed_port_sets_an_io_error_in_the_context(void **state) {
    (void)state;
    sg_options o = {.host = "127.0.0.1", .port = sg_free_port(), .connect_timeout_ms = 500};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    assert_int_equal(ctx->err, SG_ERR_IO);
    assert_non_null(strstr(ctx->errstr, "127.0.0.1:"));
    /* Calls on it fail the same way, without crashing, and never hang. */
    sg_enroll_result result;
    assert_int_equal(sg_enroll(ctx, S("t"), S("u"), &result), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_IO);
    sg_free(ctx);
}

static void sg_connect_tcp_uses_default_options(void **state) {
    (void)state;
    sg_context *ctx = sg_connect_tcp("127.0.0.1", sg_group_server->port);
    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
    int created = -1;
    CHECK(ctx, sg_trial_create(ctx, S("tcp:trial"), 1, 0, &created));
    assert_int_equal(created, 1);
    sg_free(ctx);
}

static void a_password_is_sent_with_auth_and_a_wrong_one_is_an_auth_error(void **state) {
    (void)state;
    sg_command_status(sg_conn, "OK", "CONFIG SET requirepass s3cret");
    sg_context *wrong = client_with((sg_options){.password = "nope"});
    assert_int_equal(wrong->err, SG_ERR_AUTH);
    sg_free(wrong);
    sg_context *none = client_with((sg_options){0});
    int created = -1;
    assert_int_equal(sg_trial_create(none, S("auth:trial"), 1, 0, &created), SG_ERR);
    assert_int_equal(none->err, SG_ERR_SERVER); /* NOAUTH */
    assert_non_null(strstr(none->errstr, "NOAUTH"));
    sg_free(none);
    sg_context *ok = client_with((sg_options){.password = "s3cret"});
    assert_int_equal(ok->err, 0);
    CHECK(ok, sg_trial_create(ok, S("auth:trial"), 1, 0, &created));
    assert_int_equal(created, 1);
    sg_free(ok);
    sg_command_status(sg_conn, "OK", "AUTH s3cret");
    sg_command_status(sg_conn, "OK", "CONFIG SET requirepass %s", "");
}

static void an_acl_user_and_password_are_sent_together(void **state) {
    (void)state;
    sg_command_status(sg_conn, "OK", "ACL SETUSER enroller on >pw-1 ~trial:* +@all");
    sg_context *ctx = client_with((sg_options){.user = "enroller", .password = "pw-1"});
    assert_int_equal(ctx->err, 0);
    int created = -1;
    CHECK(ctx, sg_trial_create(ctx, S("trial:acl"), 2, 0, &created));
    assert_int_equal(created, 1);
    /* The user may not touch other keys: the server's NOPERM comes back as a server error. */
    assert_int_equal(sg_trial_create(ctx, S("other:acl"), 2, 0, &created), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_non_null(strstr(ctx->errstr, "NOPERM"));
    sg_free(ctx);
    sg_context *wrong = client_with((sg_options){.user = "enroller", .password = "pw-2"});
    assert_int_equal(wrong->err, SG_ERR_AUTH);
    sg_free(wrong);
    sg_command_integer(sg_conn, "ACL DELUSER enroller");
}

static void the_database_option_selects_a_database(void **state) {
    (void)state;
    sg_context *ctx = client_with((sg_options){.db = 3});
    assert_int_equal(ctx->err, 0);
    int created = -1;
    CHECK(ctx, sg_trial_create(ctx, S("db:trial"), 5, 0, &created));
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS db:trial"), 0);
    sg_command_status(sg_conn, "OK", "SELECT 3");
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS db:trial"), 1);
    sg_command_status(sg_conn, "OK", "SELECT 0");
    sg_free(ctx);
}

static void a_unix_socket_works_like_tcp(void **state) {
    (void)state;
    char dir[] = "/tmp/sg-client-unix-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/redis.sock", dir);
    const char *args[] = {"--unixsocket", path, NULL};
    sg_server *s = sg_server_start(args);
    sg_context *ctx = sg_connect(&(sg_options){.unix_path = path});
    assert_non_null(ctx);
    if (ctx->err) fail_msg("unix connect: %s", ctx->errstr);
    long long token = 0;
    CHECK(ctx, sg_lock_acquire(ctx, S("unix:lock"), S("me"), 10000, 0, 0, &token));
    assert_true(token > 0);
    sg_free(ctx);
    sg_server_stop(s);
    unlink(path);
    rmdir(dir);
}

/* ---- enrollment ------------------------------------------------------------------------------ */
static void every_enroll_outcome_comes_back_as_its_result(void **state) {
    (void)state;
    sg_context *ctx = client();
    int created = -1;
    CHECK(ctx, sg_trial_create(ctx, S("trial:a"), 2, 1, &created));
    assert_int_equal(created, 1);
    CHECK(ctx, sg_trial_create(ctx, S("trial:a"), 99, 0, &created));
    assert_int_equal(created, 0);
    sg_enroll_result r;
    CHECK(ctx, sg_enroll(ctx, S("trial:a"), S("alice"), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    CHECK(ctx, sg_enroll(ctx, S("trial:a"), S("alice"), &r));
    assert_int_equal(r, SG_ENROLL_ALREADY_ENROLLED);
    CHECK(ctx, sg_enroll(ctx, S("trial:a"), S("bob"), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    CHECK(ctx, sg_enroll(ctx, S("trial:a"), S("carol"), &r));
    assert_int_equal(r, SG_ENROLL_WAITLISTED);
    CHECK(ctx, sg_enroll(ctx, S("trial:a"), S("carol"), &r));
    assert_int_equal(r, SG_ENROLL_ALREADY_WAITLISTED);
    CHECK(ctx, sg_enroll(ctx, S("trial:a"), S("dave"), &r));
    assert_int_equal(r, SG_ENROLL_FULL);
    assert_int_equal(ctx->err, 0);
    sg_free(ctx);
}

static void status_info_cancel_and_resize_report_the_trial(void **state) {
    (void)state;
    sg_context *ctx = client();
    int created, withdrawn;
    sg_enroll_result r;
    CHECK(ctx, sg_trial_create(ctx, S("trial:b"), 2, 2, &created));
    const char *users[] = {"u1", "u2", "u3", "u4"};
    for (int i = 0; i < 4; i++) CHECK(ctx, sg_enroll(ctx, S("trial:b"), users[i], 2, &r));
    sg_user_status st;
    CHECK(ctx, sg_enroll_status(ctx, S("trial:b"), S("u2"), &st));
    assert_int_equal(st.state, SG_USER_ENROLLED);
    assert_int_equal(st.value, 2);
    CHECK(ctx, sg_enroll_status(ctx, S("trial:b"), S("u4"), &st));
    assert_int_equal(st.state, SG_USER_WAITLISTED);
    assert_int_equal(st.value, 2);
    CHECK(ctx, sg_enroll_status(ctx, S("trial:b"), S("nobody"), &st));
    assert_int_equal(st.state, SG_USER_NONE);
    assert_int_equal(st.value, 0);

    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, S("trial:b"), &info));
    assert_int_equal(info.exists, 1);
    assert_int_equal(info.capacity, 2);
    assert_int_equal(info.remaining, 0);
    assert_int_equal(info.enrolled, 2);
    assert_int_equal(info.waitlisted, 2);
    assert_int_equal(info.waitlist_max, 2);
    assert_int_equal(info.next_arrival, 5);

    CHECK(ctx, sg_enroll_cancel(ctx, S("trial:b"), S("u1"), &withdrawn));
    assert_int_equal(withdrawn, 1);
    CHECK(ctx, sg_enroll_cancel(ctx, S("trial:b"), S("u1"), &withdrawn));
    assert_int_equal(withdrawn, 0);
    CHECK(ctx, sg_enroll_status(ctx, S("trial:b"), S("u3"), &st));
    assert_int_equal(st.state, SG_USER_ENROLLED); /* promoted by the cancel */

    long long promoted = -1;
    CHECK(ctx, sg_trial_resize(ctx, S("trial:b"), 5, &promoted));
    assert_int_equal(promoted, 1);
    CHECK(ctx, sg_trial_info_get(ctx, S("trial:b"), &info));
    assert_int_equal(info.capacity, 5);
    assert_int_equal(info.enrolled, 3);
    assert_int_equal(info.remaining, 2);

    CHECK(ctx, sg_trial_info_get(ctx, S("trial:none"), &info));
    assert_int_equal(info.exists, 0);
    sg_free(ctx);
}

static void members_pages_through_every_user_in_arrival_order(void **state) {
    (void)state;
    sg_context *ctx = client();
    int created;
    sg_enroll_result r;
    CHECK(ctx, sg_trial_create(ctx, S("trial:m"), 100, 0, &created));
    char user[16];
    for (int i = 1; i <= 25; i++) {
        int len = snprintf(user, sizeof(user), "p-%d", i);
        CHECK(ctx, sg_enroll(ctx, S("trial:m"), user, (size_t)len, &r));
    }
    int seen = 0, pages = 0;
    unsigned long long cursor = 0;
    do {
        sg_members_page page;
        CHECK(ctx, sg_enroll_members(ctx, S("trial:m"), cursor, 10, &page));
        for (size_t i = 0; i < page.count; i++) {
            seen++;
            int len = snprintf(user, sizeof(user), "p-%d", seen);
            assert_int_equal(page.members[i].user_len, (size_t)len);
            assert_memory_equal(page.members[i].user, user, (size_t)len);
            assert_int_equal(page.members[i].arrival, seen);
        }
        cursor = page.next_cursor;
        sg_members_page_free(&page);
        pages++;
    } while (cursor != 0 && pages < 10);
    assert_int_equal(seen, 25);
    assert_int_equal(pages, 3);
    sg_members_page page;
    assert_int_equal(sg_enroll_members(ctx, S("trial:m"), 0, 0, &page), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    sg_free(ctx);
}

static void restore_rebuilds_users_with_their_arrival_numbers(void **state) {
    (void)state;
    sg_context *ctx = client();
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("trial:r"), 10, 5, &created));
    const sg_member enrolled[] = {{"x", 1, 3}, {"y", 1, 7}};
    const sg_member waiting[] = {{"z", 1, 9}};
    CHECK(ctx, sg_trial_restore(ctx, S("trial:r"), 20, 0, enrolled, 2));
    CHECK(ctx, sg_trial_restore(ctx, S("trial:r"), 20, 1, waiting, 1));
    sg_user_status st;
    CHECK(ctx, sg_enroll_status(ctx, S("trial:r"), S("y"), &st));
    assert_int_equal(st.state, SG_USER_ENROLLED);
    assert_int_equal(st.value, 7);
    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, S("trial:r"), &info));
    assert_int_equal(info.next_arrival, 20);
    assert_int_equal(info.enrolled, 3); /* z was promoted at once: slots were free */
    /* All or nothing: a batch with a user already there is refused and changes nothing. */
    const sg_member again[] = {{"w", 1, 30}, {"x", 1, 31}};
    assert_int_equal(sg_trial_restore(ctx, S("trial:r"), 40, 0, again, 2), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_non_null(strstr(ctx->errstr, "duplicate"));
    CHECK(ctx, sg_trial_info_get(ctx, S("trial:r"), &info));
    assert_int_equal(info.next_arrival, 20);
    CHECK(ctx, sg_enroll_status(ctx, S("trial:r"), S("w"), &st));
    assert_int_equal(st.state, SG_USER_NONE);
    sg_free(ctx);
}

static void a_missing_trial_is_sg_err_notrial_and_a_wrong_type_sg_err_server(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_enroll_result r;
    assert_int_equal(sg_enroll(ctx, S("trial:typo"), S("u"), &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_NOTRIAL);
    assert_true(strncmp(ctx->errstr, "NOTRIAL ", 8) == 0);
    sg_command_status(sg_conn, "OK", "SET plain:string hello");
    assert_int_equal(sg_enroll(ctx, S("plain:string"), S("u"), &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_true(strncmp(ctx->errstr, "WRONGTYPE ", 10) == 0);
    /* The next call clears the error. */
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("trial:typo"), 1, 0, &created));
    assert_int_equal(ctx->err, 0);
    assert_string_equal(ctx->errstr, "");
    /* Bad input caught by the server: an empty user. */
    assert_int_equal(sg_enroll(ctx, S("trial:typo"), "", 0, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_non_null(strstr(ctx->errstr, "invalid user"));
    sg_free(ctx);
}

static void null_arguments_are_refused_before_anything_is_sent(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_enroll_result r;
    long long before = sg_info_number(sg_conn, "total_commands_processed");
    assert_int_equal(sg_enroll(ctx, NULL, 3, S("u"), &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_enroll(ctx, S("t"), NULL, 1, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_enroll(ctx, S("t"), S("u"), NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    long long token;
    assert_int_equal(sg_lock_acquire(ctx, S("l"), S("o"), 1000, -1, 0, &token), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    /* Only INFO itself ran since (the counter counts the command reading it). */
    assert_int_equal(sg_info_number(sg_conn, "total_commands_processed"), before + 1);
    sg_free(ctx);
}

/* The wait is added to the command timeout for the socket: at LLONG_MAX that sum used to overflow
 * (a negative timeout, SG_ERR_IO from setsockopt); it now stops at LLONG_MAX, the call reaches the
 * server, and the server's refusal comes back. */
static void a_wait_of_llong_max_reaches_the_server_and_gets_its_refusal(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long token = -1;
    assert_int_equal(sg_lock_acquire(ctx, S("l"), S("o"), 1000, LLONG_MAX, 0, &token), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_true(strncmp(ctx->errstr, "ERR invalid timeout", 19) == 0);
    /* The context still works with its own timeout. */
    CHECK(ctx, sg_lock_acquire(ctx, S("l"), S("o"), 1000, 0, 0, &token));
    assert_true(token > 0);
    sg_free(ctx);
}

static void keys_and_users_are_binary_safe(void **state) {
    (void)state;
    sg_context *ctx = client();
    const char key[] = {'t', '\0', 'r', '\n', 'x'};
    const char user[] = {'\0', 'u', '\r', '\n', ' ', '\xff'};
    int created;
    sg_enroll_result r;
    CHECK(ctx, sg_trial_create(ctx, key, sizeof(key), 3, 0, &created));
    CHECK(ctx, sg_enroll(ctx, key, sizeof(key), user, sizeof(user), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    CHECK(ctx, sg_enroll(ctx, key, sizeof(key), user, sizeof(user) - 1, &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED); /* a different user: one byte shorter */
    sg_members_page page;
    CHECK(ctx, sg_enroll_members(ctx, key, sizeof(key), 0, 10, &page));
    assert_int_equal(page.count, 2);
    assert_int_equal(page.members[0].user_len, sizeof(user));
    assert_memory_equal(page.members[0].user, user, sizeof(user));
    sg_members_page_free(&page);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS %b", key, sizeof(key)), 1);
    sg_free(ctx);
}

/* ---- locks ----------------------------------------------------------------------------------- */
static void acquire_release_extend_and_info_work_as_the_commands_do(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long token = 0, again = 0, other = -1;
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:a"), S("owner-1"), 10000, 0, 0, &token));
    assert_true(token > 0);
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:a"), S("owner-1"), 20000, 0, 0, &again));
    assert_int_equal(again, token); /* the holder gets its own token back */
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:a"), S("owner-2"), 10000, 0, 0, &other));
    assert_int_equal(other, 0); /* busy */
    sg_lock_info info;
    CHECK(ctx, sg_lock_info_get(ctx, S("lock:a"), &info));
    assert_int_equal(info.held, 1);
    assert_int_equal(info.owner_len, 7);
    assert_memory_equal(info.owner, "owner-1", 7);
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
    assert_true(info.ttl_ms > 10000 && info.ttl_ms <= 20000);
    int extended = -1, released = -1;
    CHECK(ctx, sg_lock_extend(ctx, S("lock:a"), S("owner-2"), 5000, &extended));
    assert_int_equal(extended, 0);
    CHECK(ctx, sg_lock_extend(ctx, S("lock:a"), S("owner-1"), 50000, &extended));
    assert_int_equal(extended, 1);
    assert_true(sg_command_integer(sg_conn, "PTTL lock:a") > 40000);
    CHECK(ctx, sg_lock_release(ctx, S("lock:a"), S("owner-2"), &released));
    assert_int_equal(released, 0);
    CHECK(ctx, sg_lock_release(ctx, S("lock:a"), S("owner-1"), &released));
    assert_int_equal(released, 1);
    CHECK(ctx, sg_lock_info_get(ctx, S("lock:a"), &info));
    assert_int_equal(info.held, 0);
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:a"), S("owner-2"), 10000, 0, 0, &other));
    assert_true(other > token);
    sg_free(ctx);
}

static void a_reentrant_lock_is_freed_after_one_release_per_hold(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long t1, t2;
    int released;
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:re"), S("me"), 10000, 0, 1, &t1));
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:re"), S("me"), 10000, 0, 1, &t2));
    assert_int_equal(t1, t2);
    sg_lock_info info;
    CHECK(ctx, sg_lock_info_get(ctx, S("lock:re"), &info));
    assert_int_equal(info.holds, 2);
    CHECK(ctx, sg_lock_release(ctx, S("lock:re"), S("me"), &released));
    assert_int_equal(released, 1);
    CHECK(ctx, sg_lock_info_get(ctx, S("lock:re"), &info));
    assert_int_equal(info.holds, 1);
    CHECK(ctx, sg_lock_release(ctx, S("lock:re"), S("me"), &released));
    CHECK(ctx, sg_lock_info_get(ctx, S("lock:re"), &info));
    assert_int_equal(info.held, 0);
    sg_free(ctx);
}

static void a_waiting_acquire_outlasts_the_command_timeout_and_is_granted_when_the_lease_ends(void **state) {
    (void)state;
    /* The command timeout is 300 ms; the wait is 5 s: the library lengthens the timeout for it. */
    sg_context *holder = client(), *waiter = client_with((sg_options){.command_timeout_ms = 300});
    long long held, granted = 0;
    int extended;
    CHECK(holder, sg_lock_acquire(holder, S("lock:w"), S("holder"), 60000, 0, 0, &held));
    CHECK(holder, sg_lock_extend(holder, S("lock:w"), S("holder"), 800, &extended)); /* ends in 0.8 s */
    assert_int_equal(extended, 1);
    int64_t started = sg_now_ms();
    CHECK(waiter, sg_lock_acquire(waiter, S("lock:w"), S("waiter"), 10000, 5000, 0, &granted));
    int64_t waited = sg_now_ms() - started;
    assert_true(granted > held);
    assert_true(waited >= 500);
    sg_lock_info info;
    CHECK(waiter, sg_lock_info_get(waiter, S("lock:w"), &info));
    assert_memory_equal(info.owner, "waiter", 6);
    /* The timeout is back to 300 ms afterwards: a server busy for 1 s times the next call out. */
    redisContext *sleeper = sg_connect_to(sg_group_server);
    sg_send_command(sleeper, "DEBUG SLEEP 1");
    sg_sleep_ms(50);
    int64_t before = sg_now_ms();
    int recorded;
    assert_int_equal(sg_idemp_setnx(waiter, S("idemp:after"), 60, NULL, 0, &recorded), SG_ERR);
    assert_int_equal(waiter->err, SG_ERR_TIMEOUT);
    assert_true(sg_now_ms() - before < 900);
    freeReplyObject(sg_receive_reply(sleeper, 5000, "DEBUG SLEEP"));
    redisFree(sleeper);
    sg_free(holder);
    sg_free(waiter);
}

static void a_wait_that_ends_without_a_grant_answers_zero(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long held, token = -1;
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:t"), S("holder"), 60000, 0, 0, &held));
    int64_t started = sg_now_ms();
    CHECK(ctx, sg_lock_acquire(ctx, S("lock:t"), S("other"), 1000, 300, 0, &token));
    assert_int_equal(token, 0);
    assert_true(sg_now_ms() - started >= 250);
    sg_free(ctx);
}

static void lock_grant_sets_an_exact_lock(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long deadline = sg_unix_us() / 1000 + 60000;
    CHECK(ctx, sg_lock_grant(ctx, S("lock:g"), S("migrated"), 123456789, deadline, 2));
    sg_lock_info info;
    CHECK(ctx, sg_lock_info_get(ctx, S("lock:g"), &info));
    assert_int_equal(info.token, 123456789);
    assert_int_equal(info.holds, 2);
    assert_memory_equal(info.owner, "migrated", 8);
    sg_free(ctx);
}

/* ---- idempotency ----------------------------------------------------------------------------- */
static void setnx_records_a_key_once_as_set_nx_ex_would(void **state) {
    (void)state;
    sg_context *ctx = client();
    int recorded = -1;
    CHECK(ctx, sg_idemp_setnx(ctx, S("msg:1"), 600, NULL, 0, &recorded));
    assert_int_equal(recorded, 1);
    CHECK(ctx, sg_idemp_setnx(ctx, S("msg:1"), 600, NULL, 0, &recorded));
    assert_int_equal(recorded, 0);
    CHECK(ctx, sg_idemp_setnx(ctx, S("msg:2"), 600, S("v\0x"), &recorded));
    redisReply *r = sg_command(sg_conn, "GET msg:2");
    assert_int_equal(r->len, 3);
    assert_memory_equal(r->str, "v\0x", 3);
    freeReplyObject(r);
    r = sg_command(sg_conn, "GET msg:1");
    assert_true(sg_reply_is_text(r, "1"));
    freeReplyObject(r);
    sg_free(ctx);
}

static void begin_complete_abort_and_get_follow_a_request(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_idemp_begin b;
    CHECK(ctx, sg_idemp_begin_processing(ctx, S("req:1"), S("fp-a"), 30000, &b));
    assert_int_equal(b.outcome, SG_IDEMP_NEW);
    long long token = b.token;
    assert_true(token > 0);
    sg_idemp_begin_free(&b);
    CHECK(ctx, sg_idemp_begin_processing(ctx, S("req:1"), S("fp-a"), 30000, &b));
    assert_int_equal(b.outcome, SG_IDEMP_IN_PROGRESS);
    assert_true(b.retry_after_ms > 0 && b.retry_after_ms <= 30000);
    CHECK(ctx, sg_idemp_begin_processing(ctx, S("req:1"), S("fp-other"), 30000, &b));
    assert_int_equal(b.outcome, SG_IDEMP_MISMATCH);
    assert_int_equal(b.other_completed, 0);

    sg_idemp_record rec;
    CHECK(ctx, sg_idemp_get(ctx, S("req:1"), &rec));
    assert_int_equal(rec.exists, 1);
    assert_int_equal(rec.completed, 0);
    assert_int_equal(rec.token, token);
    assert_memory_equal(rec.fingerprint, "fp-a", 4);
    sg_idemp_record_free(&rec);

    sg_idemp_complete_result done;
    CHECK(ctx, sg_idemp_complete(ctx, S("req:1"), token + 1, S("nope"), 600, &done));
    assert_int_equal(done, SG_IDEMP_LOST);
    CHECK(ctx, sg_idemp_complete(ctx, S("req:1"), token, S("201 {\"id\":7}"), 600, &done));
    assert_int_equal(done, SG_IDEMP_STORED);
    CHECK(ctx, sg_idemp_complete(ctx, S("req:1"), token, S("201 {\"id\":7}"), 600, &done));
    assert_int_equal(done, SG_IDEMP_ALREADY_STORED);
    CHECK(ctx, sg_idemp_begin_processing(ctx, S("req:1"), S("fp-a"), 30000, &b));
    assert_int_equal(b.outcome, SG_IDEMP_COMPLETED);
    assert_int_equal(b.response_len, 12);
    assert_memory_equal(b.response, "201 {\"id\":7}", 12);
    sg_idemp_begin_free(&b);
    CHECK(ctx, sg_idemp_get(ctx, S("req:1"), &rec));
    assert_int_equal(rec.completed, 1);
    assert_int_equal(rec.response_len, 12);
    sg_idemp_record_free(&rec);

    int freed = -1;
    CHECK(ctx, sg_idemp_begin_processing(ctx, S("req:2"), S("fp"), 30000, &b));
    CHECK(ctx, sg_idemp_abort(ctx, S("req:2"), b.token + 1, &freed));
    assert_int_equal(freed, 0);
    CHECK(ctx, sg_idemp_abort(ctx, S("req:2"), b.token, &freed));
    assert_int_equal(freed, 1);
    CHECK(ctx, sg_idemp_get(ctx, S("req:2"), &rec));
    assert_int_equal(rec.exists, 0);
    sg_free(ctx);
}

static void record_set_writes_an_exact_record(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long deadline = sg_unix_us() / 1000 + 60000;
    CHECK(ctx, sg_idemp_record_set(ctx, S("req:m"), 1, S("fp"), 4242, deadline, S("resp")));
    sg_idemp_record rec;
    CHECK(ctx, sg_idemp_get(ctx, S("req:m"), &rec));
    assert_int_equal(rec.completed, 1);
    assert_int_equal(rec.token, 4242);
    assert_memory_equal(rec.response, "resp", 4);
    sg_idemp_record_free(&rec);
    sg_free(ctx);
}

/* ---- other commands -------------------------------------------------------------------------- */
static void any_command_goes_through_command_argv_with_its_raw_reply(void **state) {
    (void)state;
    sg_context *ctx = client();
    const char *hset[] = {"HSET", "store", "last_token", "17"};
    redisReply *r = sg_command_argv(ctx, S("store"), 4, hset, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    const char *bad[] = {"HGET", "store"};
    r = sg_command_argv(ctx, S("store"), 2, bad, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR); /* an error reply is a reply */
    assert_int_equal(ctx->err, 0);
    freeReplyObject(r);
    sg_free(ctx);
}

/* ---- connection loss, timeouts and retries --------------------------------------------------- */
/* CLIENT KILL every normal client but the admin connection: the library's connection breaks. */
static void kill_client_connections(void) {
    sg_command_integer(sg_conn, "CLIENT KILL TYPE normal SKIPME yes");
}

static void a_retried_call_reconnects_after_the_connection_was_killed(void **state) {
    (void)state;
    sg_context *ctx = client();
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("trial:k"), 10, 0, &created));
    kill_client_connections();
    sg_enroll_result r;
    CHECK(ctx, sg_enroll(ctx, S("trial:k"), S("u1"), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    kill_client_connections();
    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, S("trial:k"), &info));
    assert_int_equal(info.enrolled, 1);
    sg_free(ctx);
}

static void a_call_that_is_not_retried_reports_the_broken_connection_and_the_next_one_reconnects(void **state) {
    (void)state;
    sg_context *ctx = client();
    int recorded = -1;
    CHECK(ctx, sg_idemp_setnx(ctx, S("msg:k0"), 60, NULL, 0, &recorded));
    kill_client_connections();
    assert_int_equal(sg_idemp_setnx(ctx, S("msg:k1"), 60, NULL, 0, &recorded), SG_ERR);
    assert_true(ctx->err == SG_ERR_EOF || ctx->err == SG_ERR_IO);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS msg:k1"), 0); /* never reached the server */
    CHECK(ctx, sg_idemp_setnx(ctx, S("msg:k1"), 60, NULL, 0, &recorded));
    assert_int_equal(recorded, 1);
    sg_free(ctx);
}

static void retries_are_bounded_and_then_the_error_is_reported(void **state) {
    (void)state;
    sg_context *ctx = client_with((sg_options){.max_retries = 3, .connect_timeout_ms = 200});
    assert_int_equal(ctx->err, 0);
    sg_server_kill(sg_group_server);
    int64_t started = sg_now_ms();
    sg_trial_info info;
    assert_int_equal(sg_trial_info_get(ctx, S("trial:gone"), &info), SG_ERR);
    assert_true(ctx->err == SG_ERR_IO || ctx->err == SG_ERR_EOF);
    assert_true(sg_now_ms() - started < 3000);
    sg_server_start_again(sg_group_server);
    redisFree(sg_conn);
    sg_conn = sg_connect_to(sg_group_server);
    /* The same context works again once the server is back. */
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("trial:back"), 1, 0, &created));
    assert_int_equal(created, 1);
    sg_free(ctx);
}

static void a_restart_of_the_server_is_invisible_to_retried_calls(void **state) {
    (void)state;
    sg_context *ctx = client();
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("trial:restart"), 3, 0, &created));
    sg_command_status(sg_conn, "OK", "SAVE");
    sg_server_restart(sg_group_server);
    redisFree(sg_conn);
    sg_conn = sg_connect_to(sg_group_server);
    sg_enroll_result r;
    CHECK(ctx, sg_enroll(ctx, S("trial:restart"), S("after"), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    sg_free(ctx);
}

static void a_command_timeout_is_reported_and_a_retried_call_succeeds_once_the_server_answers(void **state) {
    (void)state;
    sg_context *ctx = client_with((sg_options){.command_timeout_ms = 200, .max_retries = 8});
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("trial:slow"), 5, 0, &created));
    redisContext *sleeper = sg_connect_to(sg_group_server);
    /* Not retried: the timeout is reported, and the command may still run later. */
    sg_send_command(sleeper, "DEBUG SLEEP 0.6");
    sg_sleep_ms(50);
    int recorded;
    assert_int_equal(sg_idemp_setnx(ctx, S("msg:slow"), 60, NULL, 0, &recorded), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_TIMEOUT);
    freeReplyObject(sg_receive_reply(sleeper, 5000, "DEBUG SLEEP"));
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS msg:slow"), 1); /* it did run */
    /* Retried: reconnects and repeats until the server answers (bounded by max_retries). */
    sg_send_command(sleeper, "DEBUG SLEEP 0.6");
    sg_sleep_ms(50);
    sg_enroll_result r;
    CHECK(ctx, sg_enroll(ctx, S("trial:slow"), S("patient"), &r));
    assert_true(r == SG_ENROLL_ENROLLED || r == SG_ENROLL_ALREADY_ENROLLED);
    freeReplyObject(sg_receive_reply(sleeper, 5000, "DEBUG SLEEP"));
    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, S("trial:slow"), &info));
    assert_int_equal(info.enrolled, 1); /* however often it was sent, one slot */
    redisFree(sleeper);
    sg_free(ctx);
}

static void a_clone_is_an_independent_context_with_the_same_options(void **state) {
    (void)state;
    sg_context *ctx = client_with((sg_options){.db = 2});
    sg_context *copy = sg_clone(ctx);
    assert_non_null(copy);
    assert_int_equal(copy->err, 0);
    int created;
    CHECK(copy, sg_trial_create(copy, S("clone:trial"), 1, 0, &created));
    sg_free(ctx);
    sg_trial_info info;
    CHECK(copy, sg_trial_info_get(copy, S("clone:trial"), &info));
    assert_int_equal(info.exists, 1);
    sg_command_status(sg_conn, "OK", "SELECT 2");
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS clone:trial"), 1);
    sg_command_status(sg_conn, "OK", "SELECT 0");
    sg_free(copy);
}

#define TEST(f) cmocka_unit_test_setup(f, sg_group_flush)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(the_library_reports_the_version_of_the_version_header),
        TEST(connecting_to_a_closed_port_sets_an_io_error_in_the_context),
        TEST(sg_connect_tcp_uses_default_options),
        TEST(a_password_is_sent_with_auth_and_a_wrong_one_is_an_auth_error),
        TEST(an_acl_user_and_password_are_sent_together),
        TEST(the_database_option_selects_a_database),
        TEST(a_unix_socket_works_like_tcp),
        TEST(every_enroll_outcome_comes_back_as_its_result),
        TEST(status_info_cancel_and_resize_report_the_trial),
        TEST(members_pages_through_every_user_in_arrival_order),
        TEST(restore_rebuilds_users_with_their_arrival_numbers),
        TEST(a_missing_trial_is_sg_err_notrial_and_a_wrong_type_sg_err_server),
        TEST(null_arguments_are_refused_before_anything_is_sent),
        TEST(a_wait_of_llong_max_reaches_the_server_and_gets_its_refusal),
        TEST(keys_and_users_are_binary_safe),
        TEST(acquire_release_extend_and_info_work_as_the_commands_do),
        TEST(a_reentrant_lock_is_freed_after_one_release_per_hold),
        TEST(a_waiting_acquire_outlasts_the_command_timeout_and_is_granted_when_the_lease_ends),
        TEST(a_wait_that_ends_without_a_grant_answers_zero),
        TEST(lock_grant_sets_an_exact_lock),
        TEST(setnx_records_a_key_once_as_set_nx_ex_would),
        TEST(begin_complete_abort_and_get_follow_a_request),
        TEST(record_set_writes_an_exact_record),
        TEST(any_command_goes_through_command_argv_with_its_raw_reply),
        TEST(a_retried_call_reconnects_after_the_connection_was_killed),
        TEST(a_call_that_is_not_retried_reports_the_broken_connection_and_the_next_one_reconnects),
        TEST(retries_are_bounded_and_then_the_error_is_reported),
        TEST(a_restart_of_the_server_is_invisible_to_retried_calls),
        TEST(a_command_timeout_is_reported_and_a_retried_call_succeeds_once_the_server_answers),
        TEST(a_clone_is_an_independent_context_with_the_same_options),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
