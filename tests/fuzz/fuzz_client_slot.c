/* fuzz_client_slot.c -- libFuzzer harness of libslotguard's cluster slots and RateLimit fields
 * (client/slot.c, sg_parse_cluster_slots in client/decode.c, client/ratelimit_fields.c).
 *
 * sg_crc16() against a table-driven CRC-16/XMODEM written here; sg_key_slot() against the
 * hash-tag rule of the cluster specification; a slot map built from a CLUSTER SLOTS reply that
 * hiredis's reader parses from the input covers exactly the ranges the reply lists, each with its
 * master. sg_ratelimit_from_throttle/_from_window on arbitrary parameters against 128-bit
 * arithmetic, and sg_ratelimit_format() into buffers of every size against snprintf. */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "decode.h"
#include "fuzz_support.h"

/* ==== slots ===================================================================================== */
static uint16_t crc_table[256];

static void build_crc_table(void) {
    for (unsigned i = 0; i < 256; i++) {
        uint16_t crc = (uint16_t)(i << 8);
        for (int k = 0; k < 8; k++) crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : (crc << 1));
        crc_table[i] = crc;
    }
}

static uint16_t reference_crc(const uint8_t *bytes, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ bytes[i]) & 0xff]);
    return crc;
}

static unsigned reference_slot(const uint8_t *key, size_t len) {
    const uint8_t *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const uint8_t *close = memchr(key + from, '}', len - from);
        if (close != NULL && close > open + 1) return reference_crc(open + 1, (size_t)(close - open - 1)) % 16384;
    }
    return reference_crc(key, len) % 16384;
}

typedef struct slot_map {
    int owner[16384]; /* index of the range that set it, -1 none */
    int ports[1024];
    int ranges;
} slot_map;

static void record_range(int first, int last, const char *host, int port, void *arg) {
    slot_map *m = arg;
    FUZZ_CHECK(first >= 0 && first <= last && last <= 16383 && port >= 1 && port <= 65535, "range %d-%d port %d",
               first, last, port);
    FUZZ_CHECK(strlen(host) < 256, "host too long");
    int id = m->ranges++;
    if (id < 1024) m->ports[id] = port;
    for (int s = first; s <= last; s++) m->owner[s] = id;
}

static void fuzz_slots(fuzz_input *in) {
    const uint8_t *key;
    size_t len = fuzz_take_bytes(in, 300, &key);
    FUZZ_CHECK(sg_crc16((const char *)key, len) == reference_crc(key, len), "sg_crc16 differs");
    unsigned slot = sg_key_slot((const char *)key, len);
    FUZZ_CHECK(slot == reference_slot(key, len), "sg_key_slot = %u, the reference %u", slot, reference_slot(key, len));

    redisReader *reader = redisReaderCreate();
    FUZZ_CHECK(reader != NULL, "out of memory");
    if (redisReaderFeed(reader, (const char *)in->data + in->pos, fuzz_input_left(in)) == REDIS_OK) {
        void *reply = NULL;
        if (redisReaderGetReply(reader, &reply) == REDIS_OK && reply != NULL) {
            static slot_map m;
            for (int s = 0; s < 16384; s++) m.owner[s] = -1;
            m.ranges = 0;
            const redisReply *r = reply;
            int n = sg_parse_cluster_slots(r, record_range, &m);
            FUZZ_CHECK(n == -1 || (n == m.ranges && (size_t)n == r->elements), "%d ranges, %d visited", n, m.ranges);
            if (n > 0) {
                /* Every slot a range lists belongs to the last range that lists it, with its port. */
                for (size_t i = 0; i < r->elements; i++) {
                    const redisReply *range = r->element[i];
                    for (long long s = range->element[0]->integer; s <= range->element[1]->integer; s++) {
                        int id = m.owner[s];
                        FUZZ_CHECK(id >= (int)i, "slot %lld lost its range", s);
                        if (id == (int)i && id < 1024)
                            FUZZ_CHECK(m.ports[id] == range->element[2]->element[1]->integer, "slot %lld's port", s);
                    }
                }
            }
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
}

/* ==== RateLimit fields ============================================================================ */
typedef __int128 wide;

static long long reference_seconds(long long amount, int flags) {
    if (amount <= 0) return 0;
    return (flags & SG_RATE_MS) ? amount / 1000 + (amount % 1000 != 0) : amount;
}

static void check_format(const sg_ratelimit_fields *f, fuzz_input *in) {
    static const char *const names[] = {"default", "a.b-c_d", "", "bad name", "q\"", "x"};
    const char *name = names[fuzz_take_u8(in) % 6];
    size_t rl_size = fuzz_take_u8(in) % 80, policy_size = fuzz_take_u8(in) % 80;
    char rl[80], policy[80], want_rl[128], want_policy[128];
    int rc = sg_ratelimit_format(f, name, rl, rl_size, policy, policy_size);
    int a = snprintf(want_rl, sizeof(want_rl), "\"%s\";r=%lld;t=%lld", name, f->r, f->t);
    int b = snprintf(want_policy, sizeof(want_policy), "\"%s\";q=%lld;w=%lld", name, f->q, f->w);
    int token = name[0] != '\0' && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
                                       strlen(name);
    int fits = (size_t)a < rl_size && (size_t)b < policy_size;
    FUZZ_CHECK(rc == (token && fits ? SG_OK : SG_ERR), "sg_ratelimit_format(\"%s\", %zu, %zu) = %d", name, rl_size,
               policy_size, rc);
    if (rc == SG_OK)
        FUZZ_CHECK(strcmp(rl, want_rl) == 0 && strcmp(policy, want_policy) == 0, "formatted \"%s\" / \"%s\"", rl,
                   policy);
}

static void fuzz_fields(fuzz_input *in) {
    long long max_burst = fuzz_take_i64_edgy(in), count = fuzz_take_i64_edgy(in), period = fuzz_take_i64_edgy(in);
    int flags = fuzz_take_u8(in) & 3;
    sg_throttle_result t = {fuzz_take_u8(in) & 1, max_burst + (max_burst < INT64_MAX), fuzz_take_i64_edgy(in), -1,
                            fuzz_take_i64_edgy(in)};
    sg_ratelimit_fields f;
    memset(&f, 0, sizeof(f));
    int rc = sg_ratelimit_from_throttle(max_burst, count, period, flags, &t, &f);
    int valid = max_burst >= 0 && count > 0 && period > 0 && max_burst < INT64_MAX;
    wide refill = 0;
    if (valid) {
        wide limit = (wide)max_burst + 1;
        refill = (limit * period + count - 1) / count; /* limit x period / count, rounded up */
        valid = refill <= INT64_MAX;
        /* Refused only when the refill itself does not fit (once also when (limit % count) x period
         * did not: tests/fuzz/crashes/client-ratelimit-refill-overflow.bin). */
    }
    FUZZ_CHECK(rc == (valid ? SG_OK : SG_ERR), "sg_ratelimit_from_throttle(%lld, %lld, %lld) = %d", max_burst, count,
               period, rc);
    if (rc == SG_OK) {
        FUZZ_CHECK(f.q == max_burst + 1 && f.w == reference_seconds((long long)refill, flags) && f.r == t.remaining &&
                       f.t == reference_seconds(t.reset_after, flags),
                   "throttle fields q=%lld w=%lld r=%lld t=%lld", f.q, f.w, f.r, f.t);
        check_format(&f, in);
    }
    long long quota = fuzz_take_i64_edgy(in);
    sg_window_info w = {fuzz_take_i64_edgy(in), fuzz_take_i64_edgy(in), fuzz_take_i64_edgy(in), fuzz_take_i64_edgy(in)};
    rc = sg_ratelimit_from_window(quota, period, flags, &w, &f);
    FUZZ_CHECK(rc == (quota > 0 && period > 0 ? SG_OK : SG_ERR), "sg_ratelimit_from_window = %d", rc);
    if (rc == SG_OK) {
        long long want_t = w.wait_ms < 0 ? 0 : w.wait_ms / 1000 + (w.wait_ms % 1000 != 0);
        FUZZ_CHECK(f.q == quota && f.w == reference_seconds(period, flags) && f.r == w.remaining && f.t == want_t,
                   "window fields");
        check_format(&f, in);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    build_crc_table();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    if (fuzz_take_u8(&in) & 1) fuzz_fields(&in);
    else fuzz_slots(&in);
    return 0;
}
