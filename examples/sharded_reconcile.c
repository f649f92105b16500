/* sharded_reconcile.c -- finish the capacity moves a sharded trial has left half-done.
 *
 * A move between two shards of a sharded trial is two steps on two nodes (SLOTS.SEND, then
 * SLOTS.RECEIVE); a client that dies between them leaves the slots in the sender's outbox, lost to
 * the trial until someone finishes the move. This tool does it (sg_sharded_reconcile: every step is
 * applied at most once, so it is safe while clients enroll), then prints the trial's state:
 *   finished K          the moves it finished
 *   capacity N          the shards' capacities added up: the trial's total again
 *   enrolled N
 *   remaining N
 *   moves_in_flight K   moves other clients are in the middle of right now
 * Exit 0 on success, 1 on an error, 2 on bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotguard.h"

static void usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--host H] [--port P] [--cluster] --trial NAME\n"
            "  --host H       server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P       its port; default 6379\n"
            "  --cluster      talk to a Redis Cluster (host:port is the seed)\n"
            "  --trial NAME   the sharded trial (created with sg_sharded_trial_create)\n"
            "  --help         print this and exit\n"
            "Finishes the moves left half-done in the trial's outboxes and prints finished, capacity,\n"
            "enrolled, remaining and moves_in_flight. Exit 0 on success, 1 on failure, 2 on bad arguments.\n",
            program);
}

int main(int argc, char **argv) {
    sg_options options = {.host = "127.0.0.1", .port = 6379};
    const char *trial = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (strcmp(argv[i], "--cluster") == 0) {
            options.cluster = 1;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            options.host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            long port = strtol(argv[++i], &end, 10);
            if (*end != '\0' || port < 1 || port > 65535) {
                usage(stderr, argv[0]);
                return 2;
            }
            options.port = (int)port;
        } else if (strcmp(argv[i], "--trial") == 0 && i + 1 < argc) {
            trial = argv[++i];
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (trial == NULL) {
        usage(stderr, argv[0]);
        return 2;
    }
    sg_context *ctx = sg_connect(&options);
    if (ctx == NULL || ctx->err) {
        fprintf(stderr, "connect: %s\n", ctx ? ctx->errstr : "out of memory");
        sg_free(ctx);
        return 1;
    }
    int status = 1;
    sg_sharded_trial *t = sg_sharded_trial_open(ctx, trial, strlen(trial), NULL);
    long long finished = 0;
    sg_sharded_info info;
    if (t == NULL || sg_sharded_reconcile(ctx, t, &finished) != SG_OK || sg_sharded_info_get(ctx, t, &info) != SG_OK) {
        fprintf(stderr, "%s: %s\n", trial, ctx->errstr);
    } else {
        printf("finished %lld\ncapacity %lld\nenrolled %lld\nremaining %lld\nmoves_in_flight %lld\n", finished,
               info.capacity, info.enrolled, info.remaining, info.moves_in_flight);
        status = 0;
    }
    sg_sharded_trial_close(t);
    sg_free(ctx);
    return status;
}
