/* fault_proxy.c -- see fault_proxy.h. */
#include "fault_proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 32
#define NEEDLE_MAX 64

typedef struct pair {
    int client, server; /* -1 when closed */
    int losing;         /* the server's next bytes answer the command whose reply is lost */
} pair;

struct sg_proxy {
    int listener, port, target_port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock; /* guards needle, armed, lost */
    char needle[NEEDLE_MAX];
    size_t needle_len;
    int armed, lost;
    pair pairs[MAX_PAIRS];
};

static int connect_target(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void close_pair(pair *p) {
    if (p->client >= 0) close(p->client);
    if (p->server >= 0) close(p->server);
    p->client = p->server = -1;
    p->losing = 0;
}

static int contains(const char *hay, size_t len, const char *needle, size_t needle_len) {
    for (size_t i = 0; i + needle_len <= len; i++)
        if (memcmp(hay + i, needle, needle_len) == 0) return 1;
    return 0;
}

/* Does this client write trigger the armed fault? Disarms it when it does. */
static int claims_the_fault(sg_proxy *p, const char *buf, size_t len) {
    pthread_mutex_lock(&p->lock);
    int hit = p->armed && contains(buf, len, p->needle, p->needle_len);
    if (hit) p->armed = 0;
    pthread_mutex_unlock(&p->lock);
    return hit;
}

static void accept_one(sg_proxy *p) {
    int client = accept(p->listener, NULL, NULL);
    if (client < 0) return;
    int server = connect_target(p->target_port);
    for (int i = 0; server >= 0 && i < MAX_PAIRS; i++) {
        if (p->pairs[i].client >= 0) continue;
        p->pairs[i] = (pair){.client = client, .server = server};
        return;
    }
    close(client); /* no target, or no room: the client sees the connection closed */
    if (server >= 0) close(server);
}

/* Bytes from the client go to the server; from the server to the client, unless they answer the
 * command whose reply is lost: then they are dropped and the client's connection closed. */
static void forward(sg_proxy *p, pair *pr, int from_client) {
    char buf[65536];
    ssize_t n = read(from_client ? pr->client : pr->server, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
        close_pair(pr);
        return;
    }
    if (from_client) {
        if (claims_the_fault(p, buf, (size_t)n)) pr->losing = 1;
        if (write_all(pr->server, buf, (size_t)n) != 0) close_pair(pr);
        return;
    }
    if (pr->losing) {
        pthread_mutex_lock(&p->lock);
        p->lost++;
        pthread_mutex_unlock(&p->lock);
        close_pair(pr);
        return;
    }
    if (write_all(pr->client, buf, (size_t)n) != 0) close_pair(pr);
}

static void *serve(void *arg) {
    sg_proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd fds[1 + 2 * MAX_PAIRS];
        int owner[1 + 2 * MAX_PAIRS]; /* pair index * 2 + (0 client, 1 server); -1 the listener */
        int n = 0;
        fds[n] = (struct pollfd){.fd = p->listener, .events = POLLIN};
        owner[n++] = -1;
        for (int i = 0; i < MAX_PAIRS; i++) {
            if (p->pairs[i].client < 0) continue;
            fds[n] = (struct pollfd){.fd = p->pairs[i].client, .events = POLLIN};
            owner[n++] = i * 2;
            fds[n] = (struct pollfd){.fd = p->pairs[i].server, .events = POLLIN};
            owner[n++] = i * 2 + 1;
        }
        if (poll(fds, (nfds_t)n, 50) <= 0) continue;
        for (int k = 0; k < n; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (owner[k] < 0) {
                accept_one(p);
                continue;
            }
            pair *pr = &p->pairs[owner[k] / 2];
            if (pr->client < 0) continue; /* closed earlier in this round */
            forward(p, pr, owner[k] % 2 == 0);
        }
    }
    return NULL;
}

sg_proxy *sg_proxy_start(int target_port) {
    sg_proxy *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->target_port = target_port;
    for (int i = 0; i < MAX_PAIRS; i++) p->pairs[i].client = p->pairs[i].server = -1;
    pthread_mutex_init(&p->lock, NULL);
    p->listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(p->listener, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p->listener, 16) != 0 ||
        getsockname(p->listener, (struct sockaddr *)&a, &len) != 0)
        fail_msg("proxy: cannot listen on 127.0.0.1: %s", strerror(errno));
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->thread, NULL, serve, p) != 0) fail_msg("proxy: cannot start its thread");
    return p;
}

int sg_proxy_port(const sg_proxy *p) { return p->port; }

void sg_proxy_lose_reply_to(sg_proxy *p, const char *needle) {
    size_t len = strlen(needle);
    assert_true(len > 0 && len <= NEEDLE_MAX);
    pthread_mutex_lock(&p->lock);
    memcpy(p->needle, needle, len);
    p->needle_len = len;
    p->armed = 1;
    pthread_mutex_unlock(&p->lock);
}

int sg_proxy_lost(sg_proxy *p) {
    pthread_mutex_lock(&p->lock);
    int lost = p->lost;
    pthread_mutex_unlock(&p->lock);
    return lost;
}

void sg_proxy_stop(sg_proxy *p) {
    if (p == NULL) return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    for (int i = 0; i < MAX_PAIRS; i++) close_pair(&p->pairs[i]);
    close(p->listener);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
