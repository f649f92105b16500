/* cluster.c -- Redis Clusters for the integration tests: see cluster.h. */
#include "cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLUSTER_TIMEOUT_MS 20000

static const char *const cluster_args[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                           "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0",
                                           NULL};

int sg_cluster_first_slot(const sg_cluster *cl, int m) { return m * 16384 / cl->masters; }
int sg_cluster_last_slot(const sg_cluster *cl, int m) { return (m + 1) * 16384 / cl->masters - 1; }

/* A field of CLUSTER INFO, malloc'ed, or NULL. */
static char *cluster_info_field(redisContext *c, const char *field) {
    redisReply *r = sg_command(c, "CLUSTER INFO");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char *value = NULL;
    size_t len = strlen(field);
    for (const char *p = r->str; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, field, len) == 0 && p[len] == ':') {
            value = strndup(p + len + 1, strcspn(p + len + 1, "\r\n"));
            break;
        }
    }
    freeReplyObject(r);
    return value;
}

static int cluster_field_is(redisContext *c, const char *field, const char *expected) {
    char *value = cluster_info_field(c, field);
    int same = value != NULL && strcmp(value, expected) == 0;
    free(value);
    return same;
}

void sg_cluster_wait_ok(sg_cluster *cl) {
    char known[16];
    snprintf(known, sizeof(known), "%d", cl->nodes);
    int64_t deadline = sg_now_ms() + CLUSTER_TIMEOUT_MS;
    for (int i = 0; i < cl->nodes; i++) {
        if (cl->node[i]->pid == 0) continue; /* killed (sg_server_kill): not asked */
        while (!cluster_field_is(cl->c[i], "cluster_state", "ok") ||
               !cluster_field_is(cl->c[i], "cluster_known_nodes", known)) {
            if (sg_now_ms() > deadline) fail_msg("node %d: cluster not ok with %d nodes in time", i, cl->nodes);
            sg_sleep_ms(50);
        }
    }
}

static int add_node(sg_cluster *cl) {
    if (cl->nodes >= SG_CLUSTER_MAX_NODES) fail_msg("a test cluster has at most %d nodes", SG_CLUSTER_MAX_NODES);
    int i = cl->nodes++;
    /* cluster_args, with the node timeout of sg_cluster_start_opts when one was chosen. */
    const char *args[sizeof(cluster_args) / sizeof(cluster_args[0])];
    char timeout[24];
    memcpy(args, cluster_args, sizeof(args));
    if (cl->node_timeout_ms > 0) {
        snprintf(timeout, sizeof(timeout), "%d", cl->node_timeout_ms);
        args[5] = timeout; /* the value after --cluster-node-timeout */
    }
    cl->node[i] = sg_fixture_start(cl->f, args);
    cl->c[i] = sg_fixture_connect(cl->f, cl->node[i]);
    return i;
}

void sg_cluster_start(sg_cluster *cl, sg_fixture *f, int masters) { sg_cluster_start_opts(cl, f, masters, 0); }

void sg_cluster_start_opts(sg_cluster *cl, sg_fixture *f, int masters, int node_timeout_ms) {
    memset(cl, 0, sizeof(*cl));
    cl->f = f;
    cl->masters = masters;
    cl->node_timeout_ms = node_timeout_ms;
    for (int m = 0; m < masters; m++) {
        add_node(cl);
        sg_command_status(cl->c[m], "OK", "CLUSTER ADDSLOTSRANGE %d %d", sg_cluster_first_slot(cl, m),
                          sg_cluster_last_slot(cl, m));
    }
    for (int m = 1; m < masters; m++) sg_command_status(cl->c[0], "OK", "CLUSTER MEET 127.0.0.1 %d", cl->node[m]->port);
    sg_cluster_wait_ok(cl);
}

char *sg_cluster_node_id(redisContext *c) {
    redisReply *r = sg_command(c, "CLUSTER MYID");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char *id = strndup(r->str, r->len);
    freeReplyObject(r);
    return id;
}

/* 1 when CLUSTER NODES on `c` shows `replica_id` as a replica of `master_id`. */
static int knows_as_replica(redisContext *c, const char *replica_id, const char *master_id) {
    redisReply *r = sg_command(c, "CLUSTER NODES");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int found = 0;
    for (const char *line = r->str; line != NULL && *line != '\0';
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        /* <id> <ip:port@bus> <flags> <master id> ... */
        char id[64], address[128], flags[128], master[64];
        if (sscanf(line, "%63s %127s %127s %63s", id, address, flags, master) == 4 && strcmp(id, replica_id) == 0)
            found = strstr(flags, "slave") != NULL && strcmp(master, master_id) == 0;
    }
    freeReplyObject(r);
    return found;
}

int sg_cluster_add_replica(sg_cluster *cl, int master) {
    int r = add_node(cl);
    sg_command_status(cl->c[master], "OK", "CLUSTER MEET 127.0.0.1 %d", cl->node[r]->port);
    sg_cluster_wait_ok(cl);
    char *master_id = sg_cluster_node_id(cl->c[master]), *replica_id = sg_cluster_node_id(cl->c[r]);
    sg_command_status(cl->c[r], "OK", "CLUSTER REPLICATE %s", master_id);
    int64_t deadline = sg_now_ms() + CLUSTER_TIMEOUT_MS;
    while (!sg_info_field_is(cl->c[r], "master_link_status", "up") ||
           !sg_info_field_is(cl->c[r], "master_sync_in_progress", "0")) {
        if (sg_now_ms() > deadline) fail_msg("the replica did not sync with node %d in time", master);
        sg_sleep_ms(50);
    }
    for (int i = 0; i < cl->nodes; i++) {
        if (i == r || cl->node[i]->pid == 0) continue;
        while (!knows_as_replica(cl->c[i], replica_id, master_id)) {
            if (sg_now_ms() > deadline) fail_msg("node %d never learned of the replica of node %d", i, master);
            sg_sleep_ms(50);
        }
    }
    free(master_id);
    free(replica_id);
    return r;
}

int sg_cluster_owner(sg_cluster *cl, int asked, int slot) {
    redisReply *r = sg_command(cl->c[asked], "CLUSTER SLOTS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    int port = -1;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (range->element[0]->integer <= slot && slot <= range->element[1]->integer)
            port = (int)range->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
    for (int i = 0; i < cl->nodes; i++)
        if (cl->node[i]->port == port) return i;
    return -1;
}

int sg_cluster_slot_of(sg_cluster *cl, const char *key) {
    return (int)sg_command_integer(cl->c[0], "CLUSTER KEYSLOT %s", key);
}

void sg_cluster_key_on(sg_cluster *cl, int node, const char *prefix, char *out, size_t size) {
    for (int i = 0; i < 100000; i++) {
        snprintf(out, size, "%s%d", prefix, i);
        if (sg_cluster_owner(cl, 0, sg_cluster_slot_of(cl, out)) == node) return;
    }
    fail_msg("no key with prefix %s on node %d", prefix, node);
}

/* 1 when CLUSTER SLOTS on `c` names the node at `port` as the master of some slot range. */
static int serves_a_slot(redisContext *c, int port) {
    redisReply *r = sg_command(c, "CLUSTER SLOTS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    int serves = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->element[2]->element[1]->integer == port) serves = 1;
    freeReplyObject(r);
    return serves;
}

void sg_cluster_failover(sg_cluster *cl, int replica) {
    redisReply *role = sg_command(cl->c[replica], "ROLE");
    assert_int_equal(role->type, REDIS_REPLY_ARRAY);
    assert_true(sg_reply_is_text(role->element[0], "slave"));
    int master_port = (int)role->element[2]->integer;
    freeReplyObject(role);
    int master = -1;
    for (int i = 0; i < cl->nodes; i++)
        if (cl->node[i]->port == master_port) master = i;
    assert_true(master >= 0);
    sg_command_status(cl->c[replica], "OK", "CLUSTER FAILOVER");
    int64_t deadline = sg_now_ms() + CLUSTER_TIMEOUT_MS;
    while (!sg_info_field_is(cl->c[replica], "role", "master") || !sg_info_field_is(cl->c[master], "role", "slave")) {
        if (sg_now_ms() > deadline) fail_msg("CLUSTER FAILOVER of node %d did not complete in time", replica);
        sg_sleep_ms(50);
    }
    /* Every node has heard: none still maps a slot to the old master. */
    for (int i = 0; i < cl->nodes; i++) {
        while (serves_a_slot(cl->c[i], master_port)) {
            if (sg_now_ms() > deadline) fail_msg("node %d still maps slots to the demoted node %d", i, master);
            sg_sleep_ms(50);
        }
    }
    sg_cluster_wait_ok(cl);
}

void sg_cluster_migration_begin(sg_cluster *cl, int slot, int from, int to) {
    char *from_id = sg_cluster_node_id(cl->c[from]), *to_id = sg_cluster_node_id(cl->c[to]);
    sg_command_status(cl->c[to], "OK", "CLUSTER SETSLOT %d IMPORTING %s", slot, from_id);
    sg_command_status(cl->c[from], "OK", "CLUSTER SETSLOT %d MIGRATING %s", slot, to_id);
    free(from_id);
    free(to_id);
}

int sg_cluster_migrate_keys(sg_cluster *cl, int slot, int from, int to, int count) {
    redisReply *keys = sg_command(cl->c[from], "CLUSTER GETKEYSINSLOT %d %d", slot, count);
    assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
    int moved = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *k = keys->element[i];
        redisReply *r = sg_command(cl->c[from], "MIGRATE 127.0.0.1 %d %b 0 5000", cl->node[to]->port, k->str, k->len);
        if (r->type == REDIS_REPLY_ERROR) fail_msg("MIGRATE of %.*s: %s", (int)k->len, k->str, r->str);
        freeReplyObject(r);
        moved++;
    }
    freeReplyObject(keys);
    return moved;
}

void sg_cluster_migration_end(sg_cluster *cl, int slot, int to) {
    char *to_id = sg_cluster_node_id(cl->c[to]);
    /* The new owner first, so that it never answers ASK back once others point at it. */
    sg_command_status(cl->c[to], "OK", "CLUSTER SETSLOT %d NODE %s", slot, to_id);
    for (int i = 0; i < cl->nodes; i++) {
        if (i == to || !sg_info_field_is(cl->c[i], "role", "master")) continue;
        sg_command_status(cl->c[i], "OK", "CLUSTER SETSLOT %d NODE %s", slot, to_id);
    }
    free(to_id);
    int64_t deadline = sg_now_ms() + CLUSTER_TIMEOUT_MS;
    for (int i = 0; i < cl->nodes; i++) {
        while (sg_cluster_owner(cl, i, slot) != to) {
            if (sg_now_ms() > deadline) fail_msg("node %d did not learn the new owner of slot %d", i, slot);
            sg_sleep_ms(50);
        }
    }
}

void sg_cluster_move_slot(sg_cluster *cl, int slot, int from, int to) {
    sg_cluster_migration_begin(cl, slot, from, to);
    while (sg_cluster_migrate_keys(cl, slot, from, to, 100) > 0) {
    }
    sg_cluster_migration_end(cl, slot, to);
}

void sg_cluster_wait_auto_failover(sg_cluster *cl, int killed, int replica, int timeout_ms) {
    int killed_port = cl->node[killed]->port;
    int64_t deadline = sg_now_ms() + timeout_ms;
    while (!sg_info_field_is(cl->c[replica], "role", "master") || !serves_a_slot(cl->c[replica], cl->node[replica]->port)) {
        if (sg_now_ms() > deadline) fail_msg("node %d did not take over from the killed node %d in time", replica, killed);
        sg_sleep_ms(50);
    }
    for (int i = 0; i < cl->nodes; i++) {
        if (i == killed || cl->node[i]->pid == 0) continue;
        while (serves_a_slot(cl->c[i], killed_port) || !serves_a_slot(cl->c[i], cl->node[replica]->port) ||
               !cluster_field_is(cl->c[i], "cluster_state", "ok")) {
            if (sg_now_ms() > deadline)
                fail_msg("node %d did not see node %d replace the killed node %d in time", i, replica, killed);
            sg_sleep_ms(50);
        }
    }
}
