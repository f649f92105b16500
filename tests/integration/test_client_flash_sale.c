/* test_client_flash_sale.c -- examples/flash_sale run as a user runs it, against a real
 * redis-server with the module and against a three-master Redis Cluster: its exit status, its
 * contract lines (sold, remaining, one node line per node) and the keys it leaves behind.
 *
 * The binary is taken from $SG_EXAMPLES (make integration sets it to examples/, make asan-test to
 * the ASan builds). Every run is bounded by timeout(1); stdout and stderr are captured apart, so a
 * failure message shows both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include "cluster.h"
#include "example_runs.h"

#define MASTERS 3


static void fail_run(const sg_example_run *run, const char *what) {
    fail_msg("flash_sale: %s\ngot exit %d, stdout:\n%s\nstderr:\n%s", what, run->status, run->out, run->err);
}

/* The run ended with `status`; when `expected_out` is not NULL, stdout is exactly that. */
static void assert_status(const sg_example_run *run, int status, const char *expected_out) {
    if (run->status != status || (expected_out != NULL && strcmp(run->out, expected_out) != 0)) {
        char what[256];
        snprintf(what, sizeof(what), "expected exit %d and stdout:\n%s", status, expected_out ? expected_out : "(any)");
        fail_run(run, what);
    }
}

/* stdout has the line `line` (without its newline). */
static int has_line(const char *out, const char *line) {
    size_t len = strlen(line);
    for (const char *p = out; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t line_len = end ? (size_t)(end - p) : strlen(p);
        if (line_len == len && memcmp(p, line, len) == 0) return 1;
        if (end == NULL) break;
        p = end + 1;
    }
    return 0;
}

/* The contract's first lines: "sold N" then "remaining R". */
static void assert_sold_and_remaining(const sg_example_run *run, long long sold, long long remaining) {
    char expected[64];
    snprintf(expected, sizeof(expected), "sold %lld\nremaining %lld\n", sold, remaining);
    if (strncmp(run->out, expected, strlen(expected)) != 0) {
        char what[128];
        snprintf(what, sizeof(what), "expected stdout to start with:\n%s", expected);
        fail_run(run, what);
    }
}

/* The "node HOST:PORT UNITS" lines, in order. */
typedef struct node_line {
    char host[64];
    int port;
    long long units;
} node_line;

static int node_lines(const sg_example_run *run, node_line *lines, int max) {
    int count = 0;
    for (const char *p = run->out; *p != '\0';) {
        const char *end = strchr(p, '\n');
        if (strncmp(p, "node ", 5) == 0) {
            if (count == max) fail_run(run, "too many node lines");
            node_line *l = &lines[count++];
            char rest[128];
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len >= sizeof(rest)) fail_run(run, "a node line too long");
            memcpy(rest, p, len);
            rest[len] = '\0';
            char extra;
            if (sscanf(rest, "node %63[^:]:%d %lld%c", l->host, &l->port, &l->units, &extra) != 3)
                fail_run(run, "a node line not of the form \"node HOST:PORT UNITS\"");
        }
        if (end == NULL) break;
        p = end + 1;
    }
    return count;
}

/* ---- keys ------------------------------------------------------------------------------------------ */
#define MAX_KEYS 64

/* Every key matching `pattern` on the node (SCAN, as an operator finds them), malloc'ed. */
static int scan_keys(redisContext *c, const char *pattern, char **keys, int max) {
    char cursor[32] = "0";
    int count = 0;
    do {
        redisReply *r = sg_command(c, "SCAN %s MATCH %s COUNT 100", cursor, pattern);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY)
            fail_msg("SCAN: unexpected reply");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            if (count == max) fail_msg("SCAN MATCH %s: more than %d keys", pattern, max);
            keys[count++] = strdup(r->element[1]->element[i]->str);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return count;
}

static void free_keys(char **keys, int count) {
    for (int i = 0; i < count; i++) free(keys[i]);
}

/* GET of a shard as a number (-999 when missing or not a number). */
static long long get_number(redisContext *c, const char *key) {
    redisReply *r = sg_command(c, "GET %s", key);
    long long value = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -999;
    freeReplyObject(r);
    return value;
}

/* The shard keys of counter `name` on the node (NAME:shard:*), each checked to hold 0. */
static int empty_shards_on(redisContext *c, const char *name) {
    char pattern[128], *keys[MAX_KEYS];
    snprintf(pattern, sizeof(pattern), "%s:shard:*", name);
    int count = scan_keys(c, pattern, keys, MAX_KEYS);
    for (int i = 0; i < count; i++)
        if (get_number(c, keys[i]) != 0) fail_msg("shard %s holds %lld after the sale, not 0", keys[i], get_number(c, keys[i]));
    free_keys(keys, count);
    return count;
}

/* ---- fixtures -------------------------------------------------------------------------------------- */
/* ---- one server ------------------------------------------------------------------------------------ */
static const char *const sale_on_one_server[] = {"--name", "sale", "--shards", "4", "--stock", "1000",
                                                 "--threads", "8", NULL};

static void on_one_server_it_sells_the_whole_stock_and_names_the_server_as_the_only_node(void **state) {
    (void)state;
    sg_example_run run;
    sg_run_example(&run, "flash_sale", sg_group_server->port, sale_on_one_server);
    assert_status(&run, 0, NULL);
    assert_sold_and_remaining(&run, 1000, 0);
    node_line nodes[8];
    int count = node_lines(&run, nodes, 8);
    char expected[64];
    snprintf(expected, sizeof(expected), "node 127.0.0.1:%d 1000", sg_group_server->port);
    if (count != 1 || !has_line(run.out, expected)) fail_run(&run, "expected one node line for the server");
}

static void on_one_server_an_operator_finds_the_four_shards_and_the_meta_key_with_scan_all_empty(void **state) {
    (void)state;
    sg_example_run run;
    sg_run_example(&run, "flash_sale", sg_group_server->port, sale_on_one_server);
    assert_status(&run, 0, NULL);
    char *keys[MAX_KEYS];
    int count = scan_keys(sg_conn, "sale:*", keys, MAX_KEYS);
    int meta = 0, shards = 0;
    for (int i = 0; i < count; i++) {
        if (strcmp(keys[i], "sale:meta") == 0) meta++;
        else if (strncmp(keys[i], "sale:shard:", 11) == 0) shards++;
        else fail_msg("SCAN MATCH sale:* found %s, neither a shard nor the meta key", keys[i]);
    }
    free_keys(keys, count);
    assert_int_equal(meta, 1);
    assert_int_equal(shards, 4);
    assert_int_equal(empty_shards_on(sg_conn, "sale"), 4);
}

static void a_second_run_on_the_same_name_says_it_exists_and_sells_nothing(void **state) {
    (void)state;
    sg_example_run first, second;
    sg_run_example(&first, "flash_sale", sg_group_server->port, sale_on_one_server);
    assert_status(&first, 0, NULL);
    sg_run_example(&second, "flash_sale", sg_group_server->port, sale_on_one_server);
    assert_status(&second, 0, NULL);
    assert_sold_and_remaining(&second, 0, 0);
    if (strstr(second.err, "already exists") == NULL) fail_run(&second, "expected \"already exists\" on stderr");
}

/* ---- the command line ------------------------------------------------------------------------------- */
/* Cut off from the server three times mid-sale: the buyers count the failed takes, back off and go
 * on; the sale still ends with the whole stock sold as the server holds it, and exit 3 (faults,
 * servers consistent). */
static void cut_off_three_times_it_goes_on_and_the_server_holds_the_whole_stock_sold(void **state) {
    (void)state;
    sg_cutoff *cut = sg_cutoff_start(sg_group_server->port, sg_conn, 3);
    sg_example_run run;
    const char *args[] = {"--name", "cut", "--shards", "4", "--stock", "200000", "--threads", "8", NULL};
    sg_run_example(&run, "flash_sale", sg_group_server->port, args);
    long kills = sg_cutoff_join(cut);
    if (run.status != 3 || strstr(run.out, "remaining 0\n") == NULL || strstr(run.out, "server_sold 200000\n") == NULL ||
        strstr(run.out, "gave_up 0\n") == NULL || strstr(run.out, "errors 0\n") != NULL ||
        strstr(run.out, "\nerrors ") == NULL)
        fail_msg("flash_sale through %ld killed connections: exit %d (expected 3), stdout:\n%s\nstderr:\n%s", kills,
                 run.status, run.out, run.err);
}

static void help_prints_the_usage_with_every_flag_and_exits_0(void **state) {
    (void)state;
    static const char *const flags[] = {"--cluster", "--host", "--port",    "--name",
                                        "--shards",  "--stock", "--threads", "--help"};
    sg_example_run run;
    const char *args[] = {"--help", NULL};
    sg_run_example(&run, "flash_sale", 0, args);
    assert_status(&run, 0, NULL);
    if (strncmp(run.out, "usage: ", 7) != 0) fail_run(&run, "no usage on stdout");
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
        if (strstr(run.out, flags[f]) == NULL) fail_run(&run, "the usage does not name every flag");
}

static void a_missing_required_flag_exits_2_with_the_usage_on_stderr(void **state) {
    (void)state;
    /* Each run leaves one of --name, --shards, --stock out. */
    const char *const runs[3][8] = {
        {"--shards", "4", "--stock", "10", NULL},
        {"--name", "sale", "--stock", "10", NULL},
        {"--name", "sale", "--shards", "4", NULL},
    };
    const char *const missing[3] = {"--name", "--shards", "--stock"};
    for (int i = 0; i < 3; i++) {
        sg_example_run run;
        sg_run_example(&run, "flash_sale", sg_group_server->port, runs[i]);
        assert_status(&run, 2, "");
        if (strstr(run.err, missing[i]) == NULL || strstr(run.err, "usage: ") == NULL)
            fail_run(&run, "expected the missing flag and the usage on stderr");
    }
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 0);
}

static void an_unknown_flag_exits_2_with_the_flag_and_the_usage_on_stderr(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--name", "sale", "--shards", "4", "--stock", "10", "--no-such-flag", NULL};
    sg_run_example(&run, "flash_sale", sg_group_server->port, args);
    assert_status(&run, 2, "");
    if (strstr(run.err, "--no-such-flag") == NULL || strstr(run.err, "usage: ") == NULL)
        fail_run(&run, "expected the flag and the usage on stderr");
}

static void a_bad_number_or_a_flag_without_its_value_exits_2(void **state) {
    (void)state;
    const char *const runs[][10] = {
        {"--name", "sale", "--shards", "0", "--stock", "10", NULL},
        {"--name", "sale", "--shards", "4", "--stock", "-1", NULL},
        {"--name", "sale", "--shards", "4", "--stock", "10", "--threads", "many", NULL},
        {"--name", "sale", "--shards", "4", "--stock", "10", "--port", "sixty", NULL},
        {"--name", "sale", "--shards", "4", "--stock", NULL},
    };
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        sg_example_run run;
        sg_run_example(&run, "flash_sale", 0, runs[i]);
        assert_status(&run, 2, "");
    }
}

static void an_unreachable_port_exits_1_with_the_library_error_naming_it(void **state) {
    (void)state;
    int closed_port = sg_free_port();
    sg_example_run run;
    const char *args[] = {"--name", "sale", "--shards", "4", "--stock", "10", NULL};
    sg_run_example(&run, "flash_sale", closed_port, args);
    assert_status(&run, 1, "");
    char where[32];
    snprintf(where, sizeof(where), "127.0.0.1:%d", closed_port);
    if (strstr(run.err, where) == NULL) fail_run(&run, "expected the library's error naming the address");
}

/* ---- a cluster ------------------------------------------------------------------------------------- */
static void on_a_three_master_cluster_every_master_sells_its_share_of_the_stock(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    /* The shards are spread round-robin over the masters (2 of 6 on each), so no master serves
     * none of them; the seed is a master that does not serve sale:meta instead, so the library
     * follows MOVED from the very first read of the counter. */
    int meta_owner = sg_cluster_owner(&cl, 0, sg_cluster_slot_of(&cl, "sale:meta"));
    int seed = (meta_owner + 1) % MASTERS;
    sg_example_run run;
    const char *args[] = {"--cluster", "--name", "sale", "--shards", "6", "--stock", "3000", "--threads", "8", NULL};
    sg_run_example(&run, "flash_sale", cl.node[seed]->port, args);
    assert_status(&run, 0, NULL);
    print_message("flash_sale --cluster (seed node %d):\n%s", seed, run.out);
    assert_sold_and_remaining(&run, 3000, 0);

    node_line nodes[8];
    int count = node_lines(&run, nodes, 8);
    if (count != MASTERS) fail_run(&run, "expected one node line per master");
    int seen[MASTERS] = {0};
    long long sum = 0;
    for (int n = 0; n < count; n++) {
        int m = 0;
        while (m < MASTERS && cl.node[m]->port != nodes[n].port) m++;
        if (m == MASTERS || strcmp(nodes[n].host, "127.0.0.1") != 0 || seen[m]++)
            fail_run(&run, "a node line that is not one master of the cluster, once");
        /* Each master holds 2 of the 6 shards (SCAN on it), each shard a sixth of the stock, all sold. */
        int shards_here = empty_shards_on(cl.c[m], "sale");
        if (nodes[n].units != shards_here * 500LL) fail_run(&run, "a node's units are not what its shards held");
        if (nodes[n].units < 600 || nodes[n].units > 1500) fail_run(&run, "a master's share out of 20%..50%");
        sum += nodes[n].units;
    }
    assert_int_equal(sum, 3000);
}

#define ON_SERVER(f) cmocka_unit_test_setup(f, sg_group_flush)
#define ON_CLUSTER(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        ON_SERVER(on_one_server_it_sells_the_whole_stock_and_names_the_server_as_the_only_node),
        ON_SERVER(on_one_server_an_operator_finds_the_four_shards_and_the_meta_key_with_scan_all_empty),
        ON_SERVER(a_second_run_on_the_same_name_says_it_exists_and_sells_nothing),
        ON_SERVER(cut_off_three_times_it_goes_on_and_the_server_holds_the_whole_stock_sold),
        ON_SERVER(help_prints_the_usage_with_every_flag_and_exits_0),
        ON_SERVER(a_missing_required_flag_exits_2_with_the_usage_on_stderr),
        ON_SERVER(an_unknown_flag_exits_2_with_the_flag_and_the_usage_on_stderr),
        ON_SERVER(a_bad_number_or_a_flag_without_its_value_exits_2),
        ON_SERVER(an_unreachable_port_exits_1_with_the_library_error_naming_it),
        ON_CLUSTER(on_a_three_master_cluster_every_master_sells_its_share_of_the_stock),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
