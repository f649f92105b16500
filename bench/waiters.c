/* bench/waiters.c -- queue `count` clients on one lock for bench/scaling.sh.
 *
 *   waiters -p port -n count -k key [-t wait_ms]
 *
 * Opens `count` TCP connections to 127.0.0.1:port and sends on each
 * "LOCK.ACQUIRE key w<i> 600000 WAIT <wait_ms>" (wait_ms defaults to 600000), so that each blocks in
 * the lock's FIFO queue while another owner holds the lock. Prints "ready <count>" once every
 * command is sent, then holds the connections until stdin is closed or SIGTERM/SIGINT arrives,
 * closes them all and exits 0. Replies are never read: a waiter only stands in the queue.
 *
 * Plain POSIX sockets (no hiredis): one descriptor per waiter, nothing else per connection, so ten
 * thousand of them cost nothing worth measuring on the client side. RLIMIT_NOFILE is raised to what
 * `count` needs (up to the hard limit; the caller raises that, e.g. `ulimit -n 32768` as root).
 * Errors (bad arguments, too few descriptors, a failed connection or write) go to stderr, exit 1.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#define WAITERS_MAX 1000000
#define LEASE_MS 600000
#define SPARE_DESCRIPTORS 64 /* stdin/stdout/stderr and whatever the C library opens */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo) {
    (void)signo;
    stop_requested = 1;
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("waiters: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(void) { fail("usage: waiters -p port -n count -k key [-t wait_ms]"); }

static long parse_number(const char *text, const char *what, long min, long max) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        fail("invalid %s '%s': must be an integer from %ld to %ld", what, text, min, max);
    return value;
}

/* Room for `count` sockets: raise the soft limit, up to the hard one. */
static void raise_descriptor_limit(long count) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) fail("getrlimit: %s", strerror(errno));
    rlim_t wanted = (rlim_t)count + SPARE_DESCRIPTORS;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= wanted) return;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
        limit.rlim_max = wanted; /* only root may raise the hard limit */
    }
    limit.rlim_cur = wanted;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
        fail("cannot raise the descriptor limit to %lu for %ld connections: %s (raise it with ulimit -n)",
             (unsigned long)wanted, count, strerror(errno));
}

/* RESP of LOCK.ACQUIRE key w<i> LEASE_MS WAIT wait_ms into buf; returns its length. */
static size_t format_acquire(char *buf, size_t size, const char *key, long index, long wait_ms) {
    char owner[32], lease[32], wait[32];
    int owner_len = snprintf(owner, sizeof(owner), "w%ld", index);
    int lease_len = snprintf(lease, sizeof(lease), "%d", LEASE_MS);
    int wait_len = snprintf(wait, sizeof(wait), "%ld", wait_ms);
    int n = snprintf(buf, size,
                     "*6\r\n$12\r\nLOCK.ACQUIRE\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$4\r\nWAIT\r\n$%d\r\n%s\r\n",
                     strlen(key), key, owner_len, owner, lease_len, lease, wait_len, wait);
    if (n < 0 || (size_t)n >= size) fail("command too long");
    return (size_t)n;
}

static void send_all(int fd, const char *buf, size_t len, long index) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("sending to connection %ld: %s", index, strerror(errno));
        buf += n;
        len -= (size_t)n;
    }
}

static int connect_to(const struct sockaddr_in *addr, long index) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket for connection %ld: %s", index, strerror(errno));
    while (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        if (errno == EINTR) continue;
        fail("connecting %ld to 127.0.0.1:%d: %s", index, ntohs(addr->sin_port), strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Until stdin reaches end of file (or fails) or a stop signal arrives. The signals are blocked
 * outside pselect, so one that arrives between the check and the wait is not lost. */
static void hold_until_told(const sigset_t *wait_mask) {
    char scratch[256];
    while (!stop_requested) {
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(STDIN_FILENO, &readable);
        int ready = pselect(STDIN_FILENO + 1, &readable, NULL, NULL, NULL, wait_mask);
        if (ready < 0) {
            if (errno == EINTR) continue;
            fail("waiting on stdin: %s", strerror(errno));
        }
        ssize_t n = read(STDIN_FILENO, scratch, sizeof(scratch));
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
    }
}

int main(int argc, char **argv) {
    long port = 0, count = -1, wait_ms = LEASE_MS;
    const char *key = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:n:k:t:")) != -1) {
        switch (opt) {
        case 'p': port = parse_number(optarg, "port", 1, 65535); break;
        case 'n': count = parse_number(optarg, "count", 0, WAITERS_MAX); break;
        case 'k': key = optarg; break;
        case 't': wait_ms = parse_number(optarg, "wait_ms", 1, LONG_MAX); break;
        default: usage();
        }
    }
    if (optind != argc || port == 0 || count < 0 || key == NULL || key[0] == '\0') usage();
    if (strlen(key) > 1024) fail("key too long (at most 1024 bytes)");

    /* Block the stop signals from the start; pselect unblocks them while it waits. */
    sigset_t stop_signals, wait_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask) != 0) fail("sigprocmask: %s", strerror(errno));
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_descriptor_limit(count);
    int *fds = calloc(count > 0 ? (size_t)count : 1, sizeof(*fds));
    if (fds == NULL) fail("out of memory for %ld connections", count);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    char command[1200];
    for (long i = 0; i < count; i++) {
        fds[i] = connect_to(&addr, i);
        size_t len = format_acquire(command, sizeof(command), key, i, wait_ms);
        send_all(fds[i], command, len, i);
    }
    printf("ready %ld\n", count);
    if (fflush(stdout) != 0) fail("writing to stdout: %s", strerror(errno));

    hold_until_told(&wait_mask);
    for (long i = 0; i < count; i++) close(fds[i]);
    free(fds);
    return 0;
}
