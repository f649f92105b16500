/* cluster.h -- real Redis Clusters on loopback for the integration tests, built by hand
 * (CLUSTER ADDSLOTSRANGE, MEET, REPLICATE; no redis-cli --cluster), with the module loaded on every
 * node. Nodes and connections belong to the test's sg_fixture, so they are released pass or fail.
 * Also: replica failover, and slot migration in steps (MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE)
 * so that tests can act while a slot is half moved. Every wait fails the test after 20 s. */
#ifndef SG_CLUSTER_H
#define SG_CLUSTER_H

#include "harness.h"

#define SG_CLUSTER_MAX_NODES SG_FIXTURE_MAX_SERVERS

typedef struct sg_cluster {
    sg_fixture *f;
    int masters; /* nodes 0 .. masters-1 started as masters, each serving an equal slot range */
    int nodes;
    sg_server *node[SG_CLUSTER_MAX_NODES];
    redisContext *c[SG_CLUSTER_MAX_NODES];
    int node_timeout_ms; /* --cluster-node-timeout of its nodes; 0: 2000 (set by sg_cluster_start_opts) */
} sg_cluster;

/* Start `masters` nodes and join them; returns once every node sees the cluster ok. */
void sg_cluster_start(sg_cluster *cl, sg_fixture *f, int masters);
/* sg_cluster_start with every node (replicas added later too) started with --cluster-node-timeout
 * node_timeout_ms (0: the default 2000), e.g. a short one for automatic failovers. */
void sg_cluster_start_opts(sg_cluster *cl, sg_fixture *f, int masters, int node_timeout_ms);
/* Add a replica of node `master`; returns its node index once it has synced and every master
 * knows it as that master's replica (masters vote for no other in a failover). */
int sg_cluster_add_replica(sg_cluster *cl, int master);
/* Wait until every node says cluster_state:ok and knows every node. */
void sg_cluster_wait_ok(sg_cluster *cl);

/* The slot range node m served at the start: an equal share of 0..16383. */
int sg_cluster_first_slot(const sg_cluster *cl, int m);
int sg_cluster_last_slot(const sg_cluster *cl, int m);
/* The node serving `slot` now, as node `asked` sees it (CLUSTER SLOTS); -1 when none. */
int sg_cluster_owner(sg_cluster *cl, int asked, int slot);
/* CLUSTER KEYSLOT of a key. */
int sg_cluster_slot_of(sg_cluster *cl, const char *key);
/* A key `prefix`N whose slot node `node` serves now, into out. */
void sg_cluster_key_on(sg_cluster *cl, int node, const char *prefix, char *out, size_t size);
/* CLUSTER MYID, malloc'ed. */
char *sg_cluster_node_id(redisContext *c);

/* CLUSTER FAILOVER on `replica`; returns once it is a master and its old master a replica, no node
 * maps a slot to the old master any more, and every node sees the cluster ok. */
void sg_cluster_failover(sg_cluster *cl, int replica);

/* After node `killed` (a master) was killed: wait, up to timeout_ms, until its replica `replica`
 * has taken over by itself (automatic failover: role master, serving slots), and every live node
 * (pid != 0, not `killed`) maps no slot to the killed node, maps slots to `replica`, and says
 * cluster_state:ok. cl->c[killed] is not used. */
void sg_cluster_wait_auto_failover(sg_cluster *cl, int killed, int replica, int timeout_ms);

/* Moving a slot: begin (IMPORTING on `to`, MIGRATING on `from`), move up to `count` keys with
 * MIGRATE (returns how many moved; 0 when none is left), end (SETSLOT NODE on every master). */
void sg_cluster_migration_begin(sg_cluster *cl, int slot, int from, int to);
int sg_cluster_migrate_keys(sg_cluster *cl, int slot, int from, int to, int count);
void sg_cluster_migration_end(sg_cluster *cl, int slot, int to);
/* All three steps. */
void sg_cluster_move_slot(sg_cluster *cl, int slot, int from, int to);

#endif
