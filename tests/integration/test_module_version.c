/* test_module_version.c -- the version SlotGuard reports is the one client/slotguard_version.h
 * writes: MODULE LIST's `ver`, and no command's COMMAND DOCS `since` above it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slotguard_version.h"

static sg_server *server;
static redisContext *conn;

static int start_server(void **state) {
    (void)state;
    server = sg_server_start(NULL);
    conn = sg_connect_to(server);
    return 0;
}

static int stop_server(void **state) {
    (void)state;
    redisFree(conn);
    sg_server_stop(server);
    return 0;
}

/* The value of `field` in a flat field/value array reply, or NULL. */
static const redisReply *field_of(const redisReply *pairs, const char *field) {
    if (pairs == NULL || pairs->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < pairs->elements; i += 2)
        if (sg_reply_is_text(pairs->element[i], field)) return pairs->element[i + 1];
    return NULL;
}

static void module_list_reports_the_version_of_the_version_header(void **state) {
    (void)state;
    redisReply *r = sg_command(conn, "MODULE LIST");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    int found = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *name = field_of(r->element[i], "name");
        if (name == NULL || !sg_reply_is_text(name, "slotguard")) continue;
        const redisReply *ver = field_of(r->element[i], "ver");
        assert_non_null(ver);
        assert_int_equal(ver->type, REDIS_REPLY_INTEGER);
        assert_int_equal(ver->integer, SG_VERSION_NUMBER);
        found = 1;
    }
    freeReplyObject(r);
    assert_true(found);
    /* The number spells the string: MAJOR * 10000 + MINOR * 100 + PATCH. */
    char spelled[32];
    snprintf(spelled, sizeof(spelled), "%d.%d.%d", SG_VERSION_NUMBER / 10000, SG_VERSION_NUMBER / 100 % 100,
             SG_VERSION_NUMBER % 100);
    assert_string_equal(spelled, SG_VERSION_STRING);
}

static long version_number_of(const char *text) {
    int major, minor, patch, used = 0;
    if (sscanf(text, "%d.%d.%d%n", &major, &minor, &patch, &used) != 3 || text[used] != '\0') return -1;
    return (long)major * 10000 + minor * 100 + patch;
}

static void no_command_was_introduced_after_the_current_version(void **state) {
    (void)state;
    redisReply *list = sg_command(conn, "COMMAND LIST FILTERBY MODULE slotguard");
    assert_int_equal(list->type, REDIS_REPLY_ARRAY);
    assert_true(list->elements >= 19);
    for (size_t i = 0; i < list->elements; i++) {
        const char *name = list->element[i]->str;
        redisReply *docs = sg_command(conn, "COMMAND DOCS %s", name);
        assert_int_equal(docs->type, REDIS_REPLY_ARRAY);
        assert_int_equal(docs->elements, 2);
        const redisReply *since = field_of(docs->element[1], "since");
        if (since == NULL || since->type != REDIS_REPLY_STRING) fail_msg("COMMAND DOCS %s has no since", name);
        long introduced = version_number_of(since->str);
        if (introduced < 0 || introduced > SG_VERSION_NUMBER)
            fail_msg("COMMAND DOCS %s says since %s, current version %s", name, since->str, SG_VERSION_STRING);
        freeReplyObject(docs);
    }
    freeReplyObject(list);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(module_list_reports_the_version_of_the_version_header),
        cmocka_unit_test(no_command_was_introduced_after_the_current_version),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
