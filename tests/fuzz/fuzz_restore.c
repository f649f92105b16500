/* fuzz_restore.c -- libFuzzer harness: every SlotGuard type's rdb_load, reached through RESTORE.
 *
 * RESTORE takes a serialized value from any client, and its CRC64 is no protection (anyone can
 * compute it), so the trial's, the lock's and the idempotency record's rdb_load see whatever a
 * client sends. This harness runs a real redis-server with the module (a sanitizer build by default),
 * turns each fuzz input into a DUMP payload with a correct RDB version and CRC64, RESTOREs it and,
 * when the server accepts it, uses the value every way a client can.
 *
 * libFuzzer's coverage covers only this process; the module's fuzzing build (see
 * fuzz_restore_coverage.c) counts its own blocks into a file mapped here, which becomes libFuzzer's
 * extra counters, so inputs reaching new code in the loaders are kept.
 *
 * Environment: SG_MODULE (module to load; default the first that exists of
 * build/fuzz/slotguard-cov.so, build/asan/slotguard.so, module/slotguard.so), SG_PRELOAD
 * (LD_PRELOAD for the server: the sanitizer runtimes the module was built with; when unset and the
 * default is one of the two sanitizer builds, cc's libasan and libubsan),
 * SG_REDIS_SERVER (default redis-server). SG_FUZZ_RESTORE_SEEDS=<dir> writes the seed inputs
 * (real DUMPs in this input format) into <dir> at start: tests/fuzz/corpus/restore was made so.
 * SG_FUZZ_RESTORE_SHOW=1 prints every payload in hex (to replay one with redis-cli).
 *
 * ---- Input format (structure-aware: mutations change the values the loader reads, and the
 * payload around them stays well formed) --------------------------------------------------------
 *   byte 0, the header:  bits 0-1  type: 0 trial, 1 lock, 2 idempotency record (3 is a trial too);
 *                        bits 2-3  3: the encoding version is in the next byte (0xff: 1023),
 *                                  otherwise the version the type is registered with;
 *                        bits 4-7  0xf: RAW (the rest of the input is the body, byte for byte),
 *                                  0xe: RDB_TYPE_MODULE framing (values without opcodes, no EOF),
 *                                  0xd: RDB_TYPE_MODULE_2 without the final EOF opcode,
 *                                  else RDB_TYPE_MODULE_2, the form DUMP writes.
 *   then values until the input ends, each a tag byte (kind = tag & 15, arg = tag >> 4) and
 *   its operands (an operand past the input's end reads as 0; a string past it is cut short):
 *     0  UINT    (arg&7)+1 bytes little-endian; arg&8: written in the 64-bit length form
 *     1  SINT    the same, sign-extended from its last byte
 *     2  UINT    interesting_unsigned[arg]          3  SINT  interesting_signed[arg]
 *     4  STRING  its bytes from the input; length: arg 0..13, or 14: next byte, 15: next 2 bytes
 *     5  STRING  2 bytes length L, 1 fill byte: the fill byte repeated L % 1100 times (L times
 *                when arg&6 is 6: up to 64 KiB); arg&1: LZF-encoded
 *     6  STRING  integer-encoded (what Redis writes for "123"): arg&3 = 0 int8, 1 int16, 2 int32
 *     7  STRING  as kind 4, LZF-encoded (literal runs)
 *     8  DOUBLE  8 bytes                            9  FLOAT  4 bytes
 *    10  RAW     bytes copied as they are; length as kind 4
 *    11  USERS   n = next byte + 1 pairs (UINT ticket, STRING user): tickets from a running
 *                counter advanced by the next byte (0: the same ticket again), users
 *                <next byte><decimal index>, with arg&7 more bytes of that prefix; the next byte is
 *                a signed delta and, with arg&8, UINT n+delta comes first (a count that may not
 *                match)
 *    12  OPCODE  a bare length-encoded arg (an opcode with no value after it, or a stray EOF)
 *    13  UINT    arg                               14  SINT  arg - 8
 *    15  STRING  the previous string again (duplicate users); arg&1: LZF-encoded
 *   The payload is [type byte][module id with the encoding version in its low 10 bits][values]
 *   [EOF opcode][RDB version 10, 2 bytes LE][CRC64 Jones of all before, 8 bytes LE]; at most
 *   PAYLOAD_MAX bytes of values are written. The same input always gives the same payload.
 *
 * ---- Per input ---------------------------------------------------------------------------------
 *   RESTORE fz:a 0 <payload> REPLACE and PING (pipelined). When RESTORE answered OK: TYPE must be
 *   the type whose id was used; the family's reads must describe a value the loader may accept
 *   (SLOTS.INFO: remaining = capacity - enrolled or 0, nobody waiting while a slot is free, fewer
 *   users than next_arrival; ENROLL.MEMBERS: arrivals increasing, below next_arrival, as many as
 *   enrolled; LOCK.INFO: holds and token >= 1, an owner of 1..512 bytes; IDEMP.GET: a known state,
 *   a token >= 1; ENROLL.STATUS: no error); DEBUG DIGEST-VALUE, MEMORY USAGE, DUMP and
 *   COPY fz:a fz:c must work; the DUMP must RESTORE into fz:b,
 *   DUMP fz:b must be the same bytes (save of load of save is save) and the three keys must have
 *   the same digest; then the family's write commands run on fz:a, the keys are deleted and PING
 *   must answer. A broken connection or a timeout means the server died or hung: its log
 *   (sanitizer report first) is printed and the harness aborts, so libFuzzer keeps the input;
 *   a failed property aborts the same way. At exit the server is shut down; a sanitizer report in
 *   its log (LeakSanitizer runs in the server when it exits) fails the run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "fuzz_restore_coverage.h"
#include "fuzz_support.h"
#include "idemp.h"
#include "lock.h"
#include "token_clock.h"
#include "trial.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

/* ---- RDB constants (rdb.h of Redis 7.0) --------------------------------------------------------- */
#define RDB_TYPE_MODULE 6
#define RDB_TYPE_MODULE_2 7
#define RDB_VERSION 10
#define OPCODE_EOF 0
#define OPCODE_SINT 1
#define OPCODE_UINT 2
#define OPCODE_FLOAT 3
#define OPCODE_DOUBLE 4
#define OPCODE_STRING 5
#define LEN_32BIT 0x80
#define LEN_64BIT 0x81
#define ENC_INT8 0xc0
#define ENC_INT16 0xc1
#define ENC_INT32 0xc2
#define ENC_LZF 0xc3
#define TRAILER_LEN 10 /* RDB version and CRC64 */

#define PAYLOAD_MAX (128u * 1024) /* bytes of values written at most */
#define REPLY_TIMEOUT_S 20
#define LOG_TRIM_EVERY 8192 /* inputs between two trims of the server log */

/* ---- the three types --------------------------------------------------------------------------- */
enum { TYPE_TRIAL, TYPE_LOCK, TYPE_IDEMP, TYPE_COUNT };
static const char *const family_names[TYPE_COUNT] = {"trial", "lock", "idemp"};

typedef struct type_info {
    uint64_t module_id; /* from a real DUMP: 54-bit name, encoding version in the low 10 bits */
    char name[16];      /* what TYPE replies */
    long accepted, refused;
} type_info;
static type_info types[TYPE_COUNT];

/* ---- the server -------------------------------------------------------------------------------- */
static struct {
    pid_t pid;
    char dir[PATH_MAX];
    char log_path[PATH_MAX + 16];
    char socket_path[PATH_MAX + 16];
    char coverage_path[PATH_MAX + 16];
    uint8_t *coverage; /* the module's block counters, shared with the server (fuzzing build) */
    redisContext *conn;
    long inputs;
} server = {.pid = -1};

/* What libFuzzer sees of the module's coverage: the server's counters, copied after each input. */
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t module_coverage[SG_COVERAGE_COUNTERS];

/* ---- CRC64 (the Jones polynomial, reflected, as Redis's crc64.c) --------------------------------- */
static uint64_t crc_table[256];

static void crc64_init(void) {
    const uint64_t poly = UINT64_C(0x95ac9329ac4bc9b5); /* 0xad93d23594c935a9, bits reversed */
    for (unsigned i = 0; i < 256; i++) {
        uint64_t crc = i;
        for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
        crc_table[i] = crc;
    }
}

/* Not instrumented for libFuzzer: its loop would be a tenth of the harness's time, and its
 * branches say nothing about the input. */
__attribute__((no_sanitize("coverage"))) static uint64_t crc64(const unsigned char *data, size_t len) {
    uint64_t crc = 0;
    for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

/* ---- a growable byte buffer ---------------------------------------------------------------------- */
typedef struct buffer {
    unsigned char *bytes;
    size_t len, cap;
} buffer;

static void buffer_reserve(buffer *b, size_t more) {
    if (b->bytes != NULL && b->len + more <= b->cap) return; /* never NULL after: memset/memcpy of 0 bytes */
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    unsigned char *grown = realloc(b->bytes, cap);
    if (grown == NULL) {
        fprintf(stderr, "fuzz_restore: out of memory\n");
        abort();
    }
    b->bytes = grown;
    b->cap = cap;
}

static void buffer_put(buffer *b, const void *src, size_t n) {
    if (n == 0) return;
    buffer_reserve(b, n);
    memcpy(b->bytes + b->len, src, n);
    b->len += n;
}

static void buffer_byte(buffer *b, unsigned char byte) { buffer_put(b, &byte, 1); }

/* An RDB length (rdbSaveLen): 6-bit, 14-bit, 32-bit or 64-bit form. `wide` forces the 64-bit form
 * (Redis reads any form for any value). */
static void buffer_length(buffer *b, uint64_t v, int wide) {
    unsigned char out[9];
    size_t n;
    if (!wide && v < (1u << 6)) {
        out[0] = (unsigned char)v;
        n = 1;
    } else if (!wide && v < (1u << 14)) {
        out[0] = (unsigned char)(0x40 | (v >> 8));
        out[1] = (unsigned char)(v & 0xff);
        n = 2;
    } else if (!wide && v <= UINT32_MAX) {
        out[0] = LEN_32BIT;
        for (int i = 0; i < 4; i++) out[1 + i] = (unsigned char)(v >> (24 - 8 * i));
        n = 5;
    } else {
        out[0] = LEN_64BIT;
        for (int i = 0; i < 8; i++) out[1 + i] = (unsigned char)(v >> (56 - 8 * i));
        n = 9;
    }
    buffer_put(b, out, n);
}

/* ---- reading the input (fuzz_support's reader; two helpers of this format) ---------------------- */
/* n bytes (1..8) little-endian. */
static uint64_t input_le(fuzz_input *in, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)fuzz_take_u8(in) << (8 * i);
    return v;
}

/* Up to `want` bytes of the input (fewer at its end). */
static const uint8_t *input_take(fuzz_input *in, size_t want, size_t *got) {
    size_t left = fuzz_input_left(in);
    *got = want < left ? want : left;
    const uint8_t *p = in->data + in->pos;
    in->pos += *got;
    return p;
}

/* The length rule of kinds 4, 7 and 10: arg 0..13 itself, 14 the next byte, 15 the next two. */
static size_t input_length(fuzz_input *in, unsigned arg) {
    if (arg < 14) return arg;
    if (arg == 14) return fuzz_take_u8(in);
    return (size_t)input_le(in, 2);
}

/* ---- encoding the input into a payload --------------------------------------------------------- */
/* Values the loaders compare against: the limits of each field and the token clock's bound. */
#define NEAR_NOW_US UINT64_C(1800000000000000) /* 2027-01-15 in Unix microseconds */
static const uint64_t interesting_unsigned[16] = {
    0, 1, 2, 3,
    TRIAL_MAX_USER_LEN, TRIAL_MAX_USER_LEN + 1, IDEMP_MAX_FINGERPRINT_LEN, IDEMP_MAX_FINGERPRINT_LEN + 1,
    UINT32_MAX, (uint64_t)UINT32_MAX + 1, (uint64_t)INT64_MAX - 1, (uint64_t)INT64_MAX,
    (uint64_t)INT64_MAX + 1, UINT64_MAX, NEAR_NOW_US, NEAR_NOW_US + TOKEN_MAX_AHEAD_US,
};
static const int64_t interesting_signed[16] = {
    0, 1, -1, 2,
    INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1,
    1800000000000LL /* a deadline near now, ms */, LOCK_MAX_TTL_MS, -1000, INT32_MAX,
    INT32_MIN, 4102444800000LL /* 2100 */, INT64_MAX / 1000, 253402300800000LL /* year 10000 */,
};

typedef struct encoder {
    buffer out;
    int opcodes;     /* RDB_TYPE_MODULE_2: every value after its opcode */
    uint64_t ticket; /* the USERS generator's counter */
    buffer last;     /* the previous string's bytes (kind 15) */
    /* Arguments for the commands run on an accepted value, taken from the input. */
    char user[TRIAL_MAX_USER_LEN];
    size_t user_len;
    uint64_t number;
    int have_user, have_number;
} encoder;

static void encode_opcode(encoder *e, unsigned opcode) {
    if (e->opcodes) buffer_length(&e->out, opcode, 0);
}

static void encode_unsigned(encoder *e, uint64_t v, int wide) {
    encode_opcode(e, OPCODE_UINT);
    buffer_length(&e->out, v, wide);
    if (!e->have_number) {
        e->number = v;
        e->have_number = 1;
    }
}

static void encode_signed(encoder *e, int64_t v, int wide) {
    encode_opcode(e, OPCODE_SINT);
    buffer_length(&e->out, (uint64_t)v, wide);
}

static void remember_string(encoder *e, const void *bytes, size_t n) {
    if (bytes != e->last.bytes) {
        e->last.len = 0;
        buffer_put(&e->last, bytes, n);
    }
    if (!e->have_user && n >= 1 && n <= TRIAL_MAX_USER_LEN) {
        memcpy(e->user, bytes, n);
        e->user_len = n;
        e->have_user = 1;
    }
}

/* A string as rdbSaveRawString writes it; with `lzf`, LZF-compressed in literal runs of up to 32
 * bytes (a valid LZF stream that Redis's lzf_decompress expands to the same bytes). */
static void encode_string(encoder *e, const void *bytes, size_t n, int lzf) {
    const unsigned char *s = bytes;
    encode_opcode(e, OPCODE_STRING);
    if (lzf && n > 0) {
        size_t runs = (n + 31) / 32;
        buffer_byte(&e->out, ENC_LZF);
        buffer_length(&e->out, n + runs, 0);
        buffer_length(&e->out, n, 0);
        for (size_t at = 0; at < n; at += 32) {
            size_t run = n - at < 32 ? n - at : 32;
            buffer_byte(&e->out, (unsigned char)(run - 1));
            buffer_put(&e->out, s + at, run);
        }
    } else {
        buffer_length(&e->out, n, 0);
        buffer_put(&e->out, s, n);
    }
    remember_string(e, bytes, n);
}

/* A string holding a decimal integer, written as Redis writes one (RDB_ENC_INT8/16/32). */
static void encode_integer_string(encoder *e, unsigned width, uint32_t raw) {
    int64_t v;
    encode_opcode(e, OPCODE_STRING);
    if (width == 1) {
        v = (int8_t)raw;
        buffer_byte(&e->out, ENC_INT8);
    } else if (width == 2) {
        v = (int16_t)raw;
        buffer_byte(&e->out, ENC_INT16);
    } else {
        v = (int32_t)raw;
        buffer_byte(&e->out, ENC_INT32);
    }
    for (unsigned i = 0; i < width; i++) buffer_byte(&e->out, (unsigned char)(raw >> (8 * i)));
    char text[24];
    int n = snprintf(text, sizeof(text), "%lld", (long long)v);
    remember_string(e, text, (size_t)n);
}

static void encode_double(encoder *e, uint64_t bits) {
    encode_opcode(e, OPCODE_DOUBLE);
    for (int i = 0; i < 8; i++) buffer_byte(&e->out, (unsigned char)(bits >> (8 * i)));
}

static void encode_float(encoder *e, uint32_t bits) {
    encode_opcode(e, OPCODE_FLOAT);
    for (int i = 0; i < 4; i++) buffer_byte(&e->out, (unsigned char)(bits >> (8 * i)));
}

static void encode_users(encoder *e, fuzz_input *in, unsigned arg) {
    size_t n = (size_t)fuzz_take_u8(in) + 1;
    uint8_t step = fuzz_take_u8(in), prefix = fuzz_take_u8(in);
    int8_t delta = (int8_t)fuzz_take_u8(in);
    if (arg & 8) encode_unsigned(e, (uint64_t)((int64_t)n + delta), 0);
    for (size_t i = 0; i < n && e->out.len < PAYLOAD_MAX; i++) {
        char user[24];
        int len = snprintf(user, sizeof(user), "%.*s%zu", (int)(arg & 7) + 1, "________", i);
        memset(user, prefix, (size_t)(arg & 7) + 1);
        encode_unsigned(e, e->ticket, 0);
        encode_string(e, user, (size_t)len, 0);
        e->ticket += step;
    }
}

static void encode_value(encoder *e, fuzz_input *in) {
    uint8_t tag = fuzz_take_u8(in);
    unsigned kind = tag & 15, arg = tag >> 4;
    size_t n, got;
    const uint8_t *bytes;
    switch (kind) {
    case 0: encode_unsigned(e, input_le(in, (arg & 7) + 1), (arg & 8) != 0); break;
    case 1: {
        unsigned width = (arg & 7) + 1;
        uint64_t v = input_le(in, width);
        if (width < 8 && (v >> (8 * width - 1)) & 1) v |= UINT64_MAX << (8 * width);
        encode_signed(e, (int64_t)v, (arg & 8) != 0);
        break;
    }
    case 2: encode_unsigned(e, interesting_unsigned[arg], 0); break;
    case 3: encode_signed(e, interesting_signed[arg], 0); break;
    case 4:
    case 7:
        n = input_length(in, arg);
        bytes = input_take(in, n, &got);
        encode_string(e, bytes, got, kind == 7);
        break;
    case 5: {
        n = (size_t)input_le(in, 2);
        uint8_t fill = fuzz_take_u8(in);
        if ((arg & 6) != 6) n %= 1100; /* past every id and fingerprint limit, not far past */
        buffer_reserve(&e->last, n);
        memset(e->last.bytes, fill, n);
        e->last.len = n;
        encode_string(e, e->last.bytes, n, arg & 1);
        break;
    }
    case 6: {
        static const unsigned widths[4] = {1, 2, 4, 1};
        unsigned width = widths[arg & 3];
        encode_integer_string(e, width, (uint32_t)input_le(in, width));
        break;
    }
    case 8: encode_double(e, input_le(in, 8)); break;
    case 9: encode_float(e, (uint32_t)input_le(in, 4)); break;
    case 10:
        n = input_length(in, arg);
        bytes = input_take(in, n, &got);
        buffer_put(&e->out, bytes, got);
        break;
    case 11: encode_users(e, in, arg); break;
    case 12: buffer_length(&e->out, arg, 0); break;
    case 13: encode_unsigned(e, arg, 0); break;
    case 14: encode_signed(e, (int64_t)arg - 8, 0); break;
    default: encode_string(e, e->last.bytes, e->last.len, arg & 1); break;
    }
}

typedef struct decoded_header {
    int type;
    uint64_t module_id;
    int framing; /* 0 module-2, 1 module-2 without EOF, 2 module (v1), 3 raw body */
} decoded_header;

static decoded_header decode_header(fuzz_input *in) {
    decoded_header h;
    uint8_t b0 = fuzz_take_u8(in);
    h.type = (b0 & 3) % 3;
    uint64_t id = types[h.type].module_id;
    if (((b0 >> 2) & 3) == 3) {
        uint8_t v = fuzz_take_u8(in);
        id = (id & ~(uint64_t)1023) | (v == 0xff ? 1023u : v);
    }
    h.module_id = id;
    unsigned high = b0 >> 4;
    h.framing = high == 0xf ? 3 : high == 0xe ? 2 : high == 0xd ? 1 : 0;
    return h;
}

/* The whole payload for an input into e->out (reset first). Returns the type selected. */
static int encode_input(encoder *e, const uint8_t *data, size_t size) {
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    e->out.len = 0;
    e->last.len = 0;
    e->ticket = 1;
    e->have_user = e->have_number = 0;
    decoded_header h = decode_header(&in);
    e->opcodes = h.framing != 2;
    buffer_byte(&e->out, h.framing == 2 ? RDB_TYPE_MODULE : RDB_TYPE_MODULE_2);
    buffer_length(&e->out, h.module_id, 1);
    if (h.framing == 3) {
        size_t got;
        const uint8_t *rest = input_take(&in, fuzz_input_left(&in), &got);
        buffer_put(&e->out, rest, got);
    } else {
        while (!fuzz_input_done(&in) && e->out.len < PAYLOAD_MAX) encode_value(e, &in);
        if (h.framing == 0) buffer_length(&e->out, OPCODE_EOF, 0);
    }
    buffer_byte(&e->out, RDB_VERSION & 0xff);
    buffer_byte(&e->out, RDB_VERSION >> 8);
    uint64_t crc = crc64(e->out.bytes, e->out.len);
    for (int i = 0; i < 8; i++) buffer_byte(&e->out, (unsigned char)(crc >> (8 * i)));
    return h.type;
}

/* ---- failing loudly -------------------------------------------------------------------------- */
static const char *const report_markers[] = {"ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                                             "=== REDIS BUG REPORT", "crashed by signal", NULL};

/* The server's log from its first sanitizer report or crash report (NULL when none); malloc'd. */
static char *log_report(void) {
    FILE *f = fopen(server.log_path, "r");
    if (f == NULL) return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    char line[4096];
    int reporting = 0, lines = 0;
    while (fgets(line, sizeof(line), f) != NULL && lines < 400) {
        for (int i = 0; !reporting && report_markers[i] != NULL; i++)
            if (strstr(line, report_markers[i]) != NULL) reporting = 1;
        if (reporting) {
            fputs(line, mem);
            lines++;
        }
    }
    fclose(f);
    fclose(mem);
    if (!reporting) {
        free(text);
        return NULL;
    }
    return text;
}

static void print_log_tail(int lines_wanted) {
    FILE *f = fopen(server.log_path, "r");
    if (f == NULL) return;
    char ring[64][512];
    int count = 0;
    if (lines_wanted > 64) lines_wanted = 64;
    while (fgets(ring[count % lines_wanted], sizeof(ring[0]), f) != NULL) count++;
    fclose(f);
    int first = count > lines_wanted ? count - lines_wanted : 0;
    for (int i = first; i < count; i++) fputs(ring[i % lines_wanted], stderr);
}

static int server_exited(int wait_ms) {
    for (int waited = 0;; waited += 10) {
        int status;
        pid_t r = waitpid(server.pid, &status, WNOHANG);
        if (r == server.pid || (r < 0 && errno == ECHILD)) return 1;
        if (waited >= wait_ms) return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* A crash, a hang or a broken property: show why, keep the server's directory, abort (libFuzzer
 * saves the input). */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\nfuzz_restore: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (server.pid > 0) {
        server_exited(5000); /* a dying server may still be writing its report */
        kill(server.pid, SIGKILL);
        server_exited(5000);
        server.pid = -1;
    }
    char *report = log_report();
    if (report != NULL) {
        fprintf(stderr, "---- the server's report (%s) ----\n%s", server.log_path, report);
        free(report);
    }
    fprintf(stderr, "---- the end of the server's log (%s, kept) ----\n", server.log_path);
    print_log_tail(40);
    abort();
}

/* ---- talking to the server --------------------------------------------------------------------- */
static void send_argv(int argc, const char **argv, const size_t *lens) {
    if (redisAppendCommandArgv(server.conn, argc, argv, lens) != REDIS_OK)
        fail("could not queue %s: %s", argv[0], server.conn->errstr);
}

/* Queue a command of C strings (NULL-terminated list). */
static void send_words(const char *first, ...) {
    const char *argv[16];
    size_t lens[16];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w != NULL && argc < 16; w = va_arg(ap, const char *)) {
        argv[argc] = w;
        lens[argc++] = strlen(w);
    }
    va_end(ap);
    send_argv(argc, argv, lens);
}

static redisReply *next_reply(const char *what) {
    void *reply = NULL;
    if (redisGetReply(server.conn, &reply) != REDIS_OK || reply == NULL)
        fail("no reply to %s: %s (the server crashed or hung)", what, server.conn->errstr);
    return reply;
}

static void expect_type(redisReply *r, int type, const char *what) {
    if (r->type != type)
        fail("%s: reply of type %d (%s), expected %d", what, r->type, r->type == REDIS_REPLY_ERROR ? r->str : "",
             type);
}

static void drop_reply(const char *what) { freeReplyObject(next_reply(what)); }

static void drop_reply_not_error(const char *what) {
    redisReply *r = next_reply(what);
    if (r->type == REDIS_REPLY_ERROR) fail("%s on a restored value answered %s", what, r->str);
    freeReplyObject(r);
}

static void expect_pong(void) {
    redisReply *r = next_reply("PING");
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) fail("PING did not answer PONG");
    freeReplyObject(r);
}

/* A command whose reply must be a status or string equal to `want`. */
static void command_expect(const char *want, const char *first, ...) {
    const char *argv[16];
    size_t lens[16];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w != NULL && argc < 16; w = va_arg(ap, const char *)) {
        argv[argc] = w;
        lens[argc++] = strlen(w);
    }
    va_end(ap);
    send_argv(argc, argv, lens);
    redisReply *r = next_reply(first);
    if ((r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_INTEGER) ||
        (want != NULL && r->type != REDIS_REPLY_INTEGER && strcmp(r->str, want) != 0))
        fail("%s %s: unexpected reply %s", first, argc > 1 ? argv[1] : "",
             r->type == REDIS_REPLY_ERROR ? r->str : "(not a status)");
    freeReplyObject(r);
}

/* ---- one input --------------------------------------------------------------------------------- */
static encoder enc;
static buffer first_dump;

/* The family's read commands (their replies: check_reads). */
static void send_reads(int type, const char *key) {
    const char *user = enc.have_user ? enc.user : "fz-user";
    size_t user_len = enc.have_user ? enc.user_len : 7;
    switch (type) {
    case TYPE_TRIAL: {
        send_words("SLOTS.INFO", key, NULL);
        const char *argv[3] = {"ENROLL.STATUS", key, user};
        size_t lens[3] = {13, strlen(key), user_len};
        send_argv(3, argv, lens);
        send_words("ENROLL.MEMBERS", key, "0", "COUNT", "1000", "WITHARRIVALS", NULL);
        break;
    }
    case TYPE_LOCK: send_words("LOCK.INFO", key, NULL); break;
    default: send_words("IDEMP.GET", key, NULL); break;
    }
}

/* The family's writes, on an accepted value (any reply is fine); returns how many were queued. */
static int send_writes(int type, const char *key) {
    const char *id = enc.have_user ? enc.user : "fz-user";
    size_t id_len = enc.have_user ? enc.user_len : 7;
    char number[24];
    snprintf(number, sizeof(number), "%llu", (unsigned long long)enc.number);
    char small[8];
    snprintf(small, sizeof(small), "%u", (unsigned)(enc.number % 8));
    size_t key_len = strlen(key);
    switch (type) {
    case TYPE_TRIAL: {
        const char *enroll[3] = {"ENROLL", key, id};
        size_t enroll_lens[3] = {6, key_len, id_len};
        send_argv(3, enroll, enroll_lens);
        send_words("ENROLL", key, "fz-newcomer", NULL);
        const char *cancel[3] = {"ENROLL.CANCEL", key, id};
        size_t cancel_lens[3] = {13, key_len, id_len};
        send_argv(3, cancel, cancel_lens);
        send_words("SLOTS.RESIZE", key, small, NULL);
        send_words("ENROLL.MEMBERS", key, "0", "COUNT", "1000", NULL);
        send_words("SLOTS.INFO", key, NULL);
        return 6;
    }
    case TYPE_LOCK: {
        const char *acquire[5] = {"LOCK.ACQUIRE", key, id, "60000", "REENTRANT"};
        size_t acquire_lens[5] = {12, key_len, id_len, 5, 9};
        send_argv(5, acquire, acquire_lens);
        const char *extend[4] = {"LOCK.EXTEND", key, id, "60000"};
        size_t extend_lens[4] = {11, key_len, id_len, 5};
        send_argv(4, extend, extend_lens);
        const char *release[3] = {"LOCK.RELEASE", key, id};
        size_t release_lens[3] = {12, key_len, id_len};
        send_argv(3, release, release_lens);
        send_words("LOCK.INFO", key, NULL);
        return 4;
    }
    default: {
        const char *begin[4] = {"IDEMP.BEGIN", key, id, "60000"};
        size_t begin_lens[4] = {11, key_len, id_len, 5};
        send_argv(4, begin, begin_lens);
        send_words("IDEMP.COMPLETE", key, number, "fz-response", "60", NULL);
        send_words("IDEMP.ABORT", key, number, NULL);
        send_words("IDEMP.GET", key, NULL);
        return 4;
    }
    }
}

/* RESTORE a payload into fz:a; 1 when accepted. PING follows in the same round trip. */
static int restore_payload(const unsigned char *payload, size_t len) {
    const char *argv[5] = {"RESTORE", "fz:a", "0", (const char *)payload, "REPLACE"};
    size_t lens[5] = {7, 4, 1, len, 7};
    send_argv(5, argv, lens);
    send_words("PING", NULL);
    redisReply *r = next_reply("RESTORE");
    int accepted = r->type == REDIS_REPLY_STATUS;
    if (!accepted && r->type != REDIS_REPLY_ERROR) fail("RESTORE answered neither OK nor an error");
    freeReplyObject(r);
    expect_pong();
    return accepted;
}

/* ---- what a loaded value must look like ---------------------------------------------------------- */
static int reply_is_text(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* An integer reply, or a string holding one. */
static int reply_integer(const redisReply *r, long long *out) {
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 1;
    }
    if (!reply_is_text(r) || r->len == 0) return 0;
    char *end;
    errno = 0;
    *out = strtoll(r->str, &end, 10);
    return errno == 0 && end == r->str + r->len;
}

/* The value of `name` in a flat field/value array; the reply must have it. */
static const redisReply *field(const redisReply *pairs, const char *name, const char *command) {
    for (size_t i = 0; i + 1 < pairs->elements; i += 2)
        if (reply_is_text(pairs->element[i]) && strcmp(pairs->element[i]->str, name) == 0) return pairs->element[i + 1];
    fail("%s: no field %s in its reply", command, name);
}

static long long integer_field(const redisReply *pairs, const char *name, const char *command) {
    long long v;
    if (!reply_integer(field(pairs, name, command), &v)) fail("%s: field %s is not an integer", command, name);
    return v;
}

/* SLOTS.INFO of a loaded trial: the counts agree, nobody waits while a slot is free, every
 * arrival number given is below next_arrival. Returns enrolled and next_arrival. */
static void check_trial_info(const redisReply *r, long long *enrolled_out, long long *next_out) {
    expect_type((redisReply *)r, REDIS_REPLY_ARRAY, "SLOTS.INFO");
    long long capacity = integer_field(r, "capacity", "SLOTS.INFO");
    long long remaining = integer_field(r, "remaining", "SLOTS.INFO");
    long long enrolled = integer_field(r, "enrolled", "SLOTS.INFO");
    long long waitlisted = integer_field(r, "waitlisted", "SLOTS.INFO");
    long long next = integer_field(r, "next_arrival", "SLOTS.INFO");
    (void)integer_field(r, "waitlist_max", "SLOTS.INFO");
    if (capacity < 0 || enrolled < 0 || waitlisted < 0 || next < 1)
        fail("SLOTS.INFO of a loaded trial: a negative count or next_arrival %lld", next);
    if (remaining != (enrolled < capacity ? capacity - enrolled : 0))
        fail("SLOTS.INFO of a loaded trial: remaining %lld with capacity %lld and %lld enrolled", remaining, capacity,
             enrolled);
    if (waitlisted > 0 && remaining > 0)
        fail("a loaded trial has %lld users waiting and %lld free slots", waitlisted, remaining);
    if (enrolled + waitlisted > next - 1)
        fail("a loaded trial has %lld users and next_arrival %lld (arrival numbers are unique)", enrolled + waitlisted,
             next);
    *enrolled_out = enrolled;
    *next_out = next;
}

/* ENROLL.MEMBERS <key> 0 COUNT 1000 WITHARRIVALS: users in arrival order, numbers below next. */
static void check_trial_members(const redisReply *r, long long enrolled, long long next) {
    expect_type((redisReply *)r, REDIS_REPLY_ARRAY, "ENROLL.MEMBERS");
    if (r->elements != 2 || r->element[1]->type != REDIS_REPLY_ARRAY) fail("ENROLL.MEMBERS: not [cursor, users]");
    const redisReply *users = r->element[1];
    if (users->elements % 2 != 0) fail("ENROLL.MEMBERS WITHARRIVALS: an odd number of elements");
    long long last = 0;
    for (size_t i = 0; i < users->elements; i += 2) {
        long long arrival;
        if (!reply_is_text(users->element[i]) || !reply_integer(users->element[i + 1], &arrival))
            fail("ENROLL.MEMBERS WITHARRIVALS: not user, arrival");
        if (arrival <= last || arrival >= next)
            fail("ENROLL.MEMBERS of a loaded trial: arrival %lld after %lld (next_arrival %lld)", arrival, last, next);
        last = arrival;
    }
    if (enrolled < 1000 && (long long)(users->elements / 2) != enrolled)
        fail("ENROLL.MEMBERS of a loaded trial lists %zu users, SLOTS.INFO says %lld enrolled",
             (size_t)(users->elements / 2), enrolled);
}

/* The replies to send_reads: checked for what a loaded value must satisfy. */
static void check_reads(int type) {
    if (type == TYPE_TRIAL) {
        long long enrolled, next;
        redisReply *info = next_reply("SLOTS.INFO");
        check_trial_info(info, &enrolled, &next);
        freeReplyObject(info);
        drop_reply_not_error("ENROLL.STATUS");
        redisReply *members = next_reply("ENROLL.MEMBERS");
        check_trial_members(members, enrolled, next);
        freeReplyObject(members);
    } else if (type == TYPE_LOCK) {
        redisReply *r = next_reply("LOCK.INFO");
        if (r->type == REDIS_REPLY_ERROR) fail("LOCK.INFO on a loaded lock: %s", r->str);
        if (r->type == REDIS_REPLY_ARRAY) {
            long long holds = integer_field(r, "holds", "LOCK.INFO"), token = integer_field(r, "token", "LOCK.INFO");
            const redisReply *owner = field(r, "owner", "LOCK.INFO");
            if (holds < 1 || token < 1 || !reply_is_text(owner) || owner->len < 1 || owner->len > LOCK_MAX_OWNER_LEN)
                fail("LOCK.INFO of a loaded lock: holds %lld, token %lld, owner of %zu bytes", holds, token,
                     (size_t)owner->len);
        }
        freeReplyObject(r);
    } else {
        redisReply *r = next_reply("IDEMP.GET");
        expect_type(r, REDIS_REPLY_ARRAY, "IDEMP.GET of a loaded record");
        const redisReply *state = field(r, "state", "IDEMP.GET");
        if (!reply_is_text(state) || (strcmp(state->str, "in_progress") != 0 && strcmp(state->str, "completed") != 0))
            fail("IDEMP.GET of a loaded record: state %s", reply_is_text(state) ? state->str : "(not a string)");
        if (integer_field(r, "token", "IDEMP.GET") < 1) fail("IDEMP.GET of a loaded record: a token below 1");
        freeReplyObject(r);
    }
}

/* Use an accepted value every way a client can; check what must hold. */
static void exercise(int type) {
    /* Round trip 1: what it is, the reads, digest, memory, DUMP, COPY. */
    send_words("TYPE", "fz:a", NULL);
    send_reads(type, "fz:a");
    send_words("DEBUG", "DIGEST-VALUE", "fz:a", NULL);
    send_words("MEMORY", "USAGE", "fz:a", NULL);
    send_words("DUMP", "fz:a", NULL);
    send_words("COPY", "fz:a", "fz:c", "REPLACE", NULL);

    redisReply *r = next_reply("TYPE");
    expect_type(r, REDIS_REPLY_STATUS, "TYPE");
    if (strcmp(r->str, types[type].name) != 0)
        fail("a %s payload restored as a value of type %s", family_names[type], r->str);
    freeReplyObject(r);
    check_reads(type);
    r = next_reply("DEBUG DIGEST-VALUE");
    expect_type(r, REDIS_REPLY_ARRAY, "DEBUG DIGEST-VALUE");
    freeReplyObject(r);
    r = next_reply("MEMORY USAGE");
    expect_type(r, REDIS_REPLY_INTEGER, "MEMORY USAGE");
    freeReplyObject(r);
    r = next_reply("DUMP");
    expect_type(r, REDIS_REPLY_STRING, "DUMP");
    first_dump.len = 0;
    buffer_put(&first_dump, r->str, r->len);
    freeReplyObject(r);
    r = next_reply("COPY");
    expect_type(r, REDIS_REPLY_INTEGER, "COPY");
    if (r->integer != 1) fail("COPY of a restored %s copied nothing", family_names[type]);
    freeReplyObject(r);

    /* Round trip 2: the dump restores to the same value, which dumps to the same bytes; then the
     * writes, and the keys go. */
    const char *argv[5] = {"RESTORE", "fz:b", "0", (const char *)first_dump.bytes, "REPLACE"};
    size_t lens[5] = {7, 4, 1, first_dump.len, 7};
    send_argv(5, argv, lens);
    send_words("DUMP", "fz:b", NULL);
    send_words("DEBUG", "DIGEST-VALUE", "fz:a", "fz:b", "fz:c", NULL);
    int writes = send_writes(type, "fz:a");
    send_words("DEL", "fz:a", "fz:b", "fz:c", NULL);
    send_words("PING", NULL);

    r = next_reply("RESTORE of a DUMP");
    if (r->type != REDIS_REPLY_STATUS)
        fail("the DUMP of an accepted %s was refused by RESTORE: %s", family_names[type],
             r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
    r = next_reply("DUMP of the restored DUMP");
    expect_type(r, REDIS_REPLY_STRING, "DUMP");
    if (r->len != first_dump.len || memcmp(r->str, first_dump.bytes, first_dump.len) != 0)
        fail("a %s's DUMP, restored and dumped again, changed (%zu bytes, then %zu)", family_names[type],
             first_dump.len, (size_t)r->len);
    freeReplyObject(r);
    r = next_reply("DEBUG DIGEST-VALUE");
    expect_type(r, REDIS_REPLY_ARRAY, "DEBUG DIGEST-VALUE");
    if (r->elements != 3) fail("DEBUG DIGEST-VALUE of three keys gave %zu digests", (size_t)r->elements);
    for (size_t i = 1; i < 3; i++)
        if (r->element[i]->type != REDIS_REPLY_STATUS && r->element[i]->type != REDIS_REPLY_STRING)
            fail("DEBUG DIGEST-VALUE: a digest that is not a string");
    if (strcmp(r->element[0]->str, r->element[1]->str) != 0 || strcmp(r->element[0]->str, r->element[2]->str) != 0)
        fail("a %s, its restored DUMP and its COPY have different digests: %s %s %s", family_names[type],
             r->element[0]->str, r->element[1]->str, r->element[2]->str);
    freeReplyObject(r);
    for (int i = 0; i < writes; i++) drop_reply("a write command");
    drop_reply("DEL");
    expect_pong();
}

/* The log grows by a warning per refused payload: look for a report, then empty it. */
static void trim_server_log(void) {
    char *report = log_report();
    if (report != NULL) {
        free(report);
        fail("the server's log has a sanitizer or crash report");
    }
    if (truncate(server.log_path, 0) != 0) fprintf(stderr, "fuzz_restore: cannot trim %s\n", server.log_path);
}

/* SG_FUZZ_RESTORE_SHOW=1: each payload in hex on stderr (to replay a crash by hand:
 * redis-cli RESTORE k 0 "$(echo <hex> | xxd -r -p)"). */
static int show_payloads;

static void show_payload(int type) {
    fprintf(stderr, "fuzz_restore: %s payload (%zu bytes): ", family_names[type], enc.out.len);
    for (size_t i = 0; i < enc.out.len; i++) fprintf(stderr, "%02x", enc.out.bytes[i]);
    fprintf(stderr, "\n");
}

static int run_input(const uint8_t *data, size_t size) {
    int type = encode_input(&enc, data, size);
    if (show_payloads) show_payload(type);
    memset(server.coverage, 0, SG_COVERAGE_COUNTERS);
    int accepted = restore_payload(enc.out.bytes, enc.out.len);
    if (accepted) {
        types[type].accepted++;
        exercise(type);
    } else {
        types[type].refused++;
    }
    /* Every reply is in, so the server is done with this input. */
    memcpy(module_coverage, server.coverage, SG_COVERAGE_COUNTERS);
    if (++server.inputs % LOG_TRIM_EVERY == 0) trim_server_log();
    return accepted;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    run_input(data, size);
    return 0;
}

/* ---- starting and stopping the server ------------------------------------------------------------ */
static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* `name` searched in $PATH unless it holds a slash. */
static int find_program(const char *name, char *out, size_t size) {
    if (strchr(name, '/') != NULL) return snprintf(out, size, "%s", name) < (int)size && file_exists(out);
    const char *path = getenv("PATH");
    if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (snprintf(out, size, "%.*s/%s", (int)n, path, name) < (int)size && access(out, X_OK) == 0) return 1;
        path += n;
        if (*path == ':') path++;
    }
    return 0;
}

/* `cc -print-file-name=<lib>`: the runtimes the Makefile's ASan module was built against. */
static void compiler_runtime(const char *lib, char *out, size_t size) {
    char command[128];
    snprintf(command, sizeof(command), "cc -print-file-name=%s 2>/dev/null", lib);
    out[0] = '\0';
    FILE *p = popen(command, "r");
    if (p == NULL) return;
    if (fgets(out, (int)size, p) == NULL) out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_restore: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (server.pid > 0) {
        kill(server.pid, SIGKILL);
        server_exited(5000);
        fprintf(stderr, "---- the server's log (%s) ----\n", server.log_path);
        print_log_tail(40);
    }
    exit(1);
}

static void remove_server_dir(void) {
    DIR *d = opendir(server.dir);
    if (d == NULL) return;
    struct dirent *entry;
    char path[PATH_MAX + 256];
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        snprintf(path, sizeof(path), "%s/%s", server.dir, entry->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(server.dir);
}

static void print_counts(void) {
    fprintf(stderr, "fuzz_restore: %ld inputs;", server.inputs);
    for (int t = 0; t < TYPE_COUNT; t++)
        fprintf(stderr, " %s %ld accepted %ld refused;", family_names[t], types[t].accepted, types[t].refused);
    fprintf(stderr, "\n");
}

/* At exit: SHUTDOWN NOSAVE, wait for the server (LeakSanitizer runs as it exits), fail the run when
 * its log has a report, remove its directory otherwise. */
static void stop_server(void) {
    if (server.pid <= 0) return;
    print_counts();
    if (server.conn != NULL) {
        redisReply *r = redisCommand(server.conn, "SHUTDOWN NOSAVE");
        if (r != NULL) freeReplyObject(r);
        redisFree(server.conn);
        server.conn = NULL;
    }
    if (!server_exited(60000)) {
        fprintf(stderr, "fuzz_restore: the server did not exit after SHUTDOWN; killing it\n");
        kill(server.pid, SIGKILL);
        server_exited(5000);
    }
    server.pid = -1;
    char *report = log_report();
    if (report != NULL) {
        fprintf(stderr, "fuzz_restore: the server's log has a report (%s, kept):\n%s", server.log_path, report);
        free(report);
        _exit(1);
    }
    remove_server_dir();
}

/* The module's builds, in the order a default is chosen: the fuzzing build (ASan, UBSan and the
 * coverage of fuzz_restore_coverage.c), the ASan build, the plain one. */
#define COVERAGE_MODULE "build/fuzz/slotguard-cov.so"
#define ASAN_MODULE "build/asan/slotguard.so"

/* The file the fuzzing build counts the module's blocks into, mapped here too. */
static void map_coverage_file(void) {
    snprintf(server.coverage_path, sizeof(server.coverage_path), "%s/coverage", server.dir);
    int fd = open(server.coverage_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, SG_COVERAGE_COUNTERS) != 0) die("%s: %s", server.coverage_path, strerror(errno));
    void *shared = mmap(NULL, SG_COVERAGE_COUNTERS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (shared == MAP_FAILED) die("mmap %s: %s", server.coverage_path, strerror(errno));
    server.coverage = shared;
}

static void start_server(void) {
    const char *module = getenv("SG_MODULE");
    const char *preload = getenv("SG_PRELOAD");
    char runtime_asan[PATH_MAX], runtime_ubsan[PATH_MAX], preload_default[2 * PATH_MAX + 2];
    if (module == NULL || module[0] == '\0') {
        module = file_exists(COVERAGE_MODULE) ? COVERAGE_MODULE
                 : file_exists(ASAN_MODULE)   ? ASAN_MODULE
                                              : "module/slotguard.so";
        if ((preload == NULL || preload[0] == '\0') && strcmp(module, "module/slotguard.so") != 0) {
            compiler_runtime("libasan.so", runtime_asan, sizeof(runtime_asan));
            compiler_runtime("libubsan.so", runtime_ubsan, sizeof(runtime_ubsan));
            snprintf(preload_default, sizeof(preload_default), "%s %s", runtime_asan, runtime_ubsan);
            preload = preload_default;
        }
    }
    char module_path[PATH_MAX];
    if (realpath(module, module_path) == NULL) die("module %s: %s", module, strerror(errno));
    const char *server_name = getenv("SG_REDIS_SERVER");
    char server_path[PATH_MAX];
    if (server_name == NULL || server_name[0] == '\0') server_name = "redis-server";
    if (!find_program(server_name, server_path, sizeof(server_path))) die("%s not found", server_name);

    const char *tmp = getenv("TMPDIR");
    snprintf(server.dir, sizeof(server.dir), "%s/sg-fuzz-restore-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(server.dir) == NULL) die("mkdtemp: %s", strerror(errno));
    snprintf(server.log_path, sizeof(server.log_path), "%s/redis.log", server.dir);
    snprintf(server.socket_path, sizeof(server.socket_path), "%s/redis.sock", server.dir);
    map_coverage_file();

    /* A Unix socket: no port to race the other suites for, and faster round trips than TCP. */
    const char *argv[] = {server_path, "--port", "0", "--unixsocket", server.socket_path, "--unixsocketperm", "700",
                          "--dir", server.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
                          "--enable-debug-command", "yes", "--loadmodule", module_path, NULL};

    /* The environment: ours, minus sanitizer settings meant for this process, plus the server's. */
    size_t count = 0;
    while (environ[count] != NULL) count++;
    char **env = calloc(count + 5, sizeof(char *));
    if (env == NULL) die("out of memory");
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 || strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0 ||
            strncmp(environ[i], "UBSAN_OPTIONS=", 14) == 0 || strncmp(environ[i], "LSAN_OPTIONS=", 13) == 0)
            continue;
        env[n++] = environ[i];
    }
    char preload_entry[2 * PATH_MAX + 16];
    if (preload != NULL && preload[0] != '\0') {
        snprintf(preload_entry, sizeof(preload_entry), "LD_PRELOAD=%s", preload);
        env[n++] = preload_entry;
    }
    /* Leaks are looked for when the server exits; any report stops it at once. A payload may
     * declare a string of any length, which Redis tries to allocate before reading it: ASan takes
     * seconds to map and poison a gigabyte, so allocations over 16 MB fail at once instead (Redis
     * refuses the payload; nothing this harness loads legitimately needs that much). */
    env[n++] = "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:"
               "max_allocation_size_mb=16";
    env[n++] = "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1";
    char coverage_entry[PATH_MAX + 64];
    snprintf(coverage_entry, sizeof(coverage_entry), "%s=%s", SG_COVERAGE_ENV, server.coverage_path);
    env[n++] = coverage_entry;
    env[n] = NULL;

    int log_fd = open(server.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) die("%s: %s", server.log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The server goes when the harness goes, however it ends (libFuzzer's crash handler
         * exits without running atexit). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        execve(server_path, (char *const *)argv, env);
        _exit(127);
    }
    close(log_fd);
    free(env);
    server.pid = pid;

    /* Wait for PING (an ASan server takes a moment). */
    struct timeval connect_timeout = {1, 0};
    for (int waited = 0;; waited += 20) {
        if (server_exited(0)) {
            server.pid = -1;
            print_log_tail(40);
            die("the server exited at start (log above, %s)", server.log_path);
        }
        redisContext *c = redisConnectUnixWithTimeout(server.socket_path, connect_timeout);
        if (c != NULL && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int up = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r != NULL) freeReplyObject(r);
            if (up) {
                server.conn = c;
                break;
            }
        }
        if (c != NULL) redisFree(c);
        if (waited > 30000) die("the server did not answer PING within 30 s");
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct timeval reply_timeout = {REPLY_TIMEOUT_S, 0};
    redisSetTimeout(server.conn, reply_timeout);
    fprintf(stderr, "fuzz_restore: %s with %s (LD_PRELOAD=%s), log %s\n", server_path, module_path,
            preload ? preload : "", server.log_path);
}

/* ---- seeds: real DUMPs in the input format ----------------------------------------------------- */
/* Parse an RDB length at p[*at]; -1 on a malformed or special one. */
static int parse_length(const unsigned char *p, size_t len, size_t *at, uint64_t *out) {
    if (*at >= len) return -1;
    unsigned char b = p[*at];
    if ((b >> 6) == 0) {
        *out = b & 0x3f;
        *at += 1;
    } else if ((b >> 6) == 1) {
        if (*at + 2 > len) return -1;
        *out = (uint64_t)(b & 0x3f) << 8 | p[*at + 1];
        *at += 2;
    } else if (b == LEN_32BIT || b == LEN_64BIT) {
        size_t n = b == LEN_32BIT ? 4 : 8;
        if (*at + 1 + n > len) return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v = v << 8 | p[*at + 1 + i];
        *out = v;
        *at += 1 + n;
    } else {
        return -1;
    }
    return 0;
}

static void seed_number(buffer *seed, unsigned kind, uint64_t v, int is_signed) {
    unsigned width = 8;
    while (width > 1) {
        unsigned bits = 8 * (width - 1);
        uint64_t cut = v & ((UINT64_C(1) << bits) - 1);
        if (is_signed && (cut >> (bits - 1)) & 1) cut |= UINT64_MAX << bits;
        if (cut != v) break;
        width--;
    }
    buffer_byte(seed, (unsigned char)(kind | (width - 1) << 4));
    for (unsigned i = 0; i < width; i++) buffer_byte(seed, (unsigned char)(v >> (8 * i)));
}

/* A DUMP of type `type` written as an input (header, then one value per opcode); -1 when it
 * holds something the format does not describe. */
static int seed_from_dump(int type, const unsigned char *p, size_t len, buffer *seed) {
    size_t at = 1, end = len - TRAILER_LEN;
    uint64_t id, opcode, v;
    seed->len = 0;
    if (len < 1 + TRAILER_LEN || p[0] != RDB_TYPE_MODULE_2 || parse_length(p, end, &at, &id) != 0) return -1;
    if (id == types[type].module_id) {
        buffer_byte(seed, (unsigned char)type);
    } else {
        buffer_byte(seed, (unsigned char)(type | 0x0c));
        buffer_byte(seed, (unsigned char)(id & 1023));
    }
    for (;;) {
        if (parse_length(p, end, &at, &opcode) != 0) return -1;
        switch (opcode) {
        case OPCODE_EOF: return at == end ? 0 : -1;
        case OPCODE_UINT:
        case OPCODE_SINT:
            if (parse_length(p, end, &at, &v) != 0) return -1;
            seed_number(seed, opcode == OPCODE_UINT ? 0 : 1, v, opcode == OPCODE_SINT);
            break;
        case OPCODE_DOUBLE:
        case OPCODE_FLOAT: {
            size_t n = opcode == OPCODE_DOUBLE ? 8 : 4;
            if (at + n > end) return -1;
            buffer_byte(seed, opcode == OPCODE_DOUBLE ? 8 : 9);
            buffer_put(seed, p + at, n);
            at += n;
            break;
        }
        case OPCODE_STRING:
            if (at >= end) return -1;
            if (p[at] == ENC_INT8 || p[at] == ENC_INT16 || p[at] == ENC_INT32) {
                unsigned width = p[at] == ENC_INT8 ? 1 : p[at] == ENC_INT16 ? 2 : 4;
                if (at + 1 + width > end) return -1;
                buffer_byte(seed, (unsigned char)(6 | (width == 1 ? 0 : width == 2 ? 1 : 2) << 4));
                buffer_put(seed, p + at + 1, width);
                at += 1 + width;
                break;
            }
            if (parse_length(p, end, &at, &v) != 0 || v > 65535 || at + v > end) return -1;
            if (v < 14) {
                buffer_byte(seed, (unsigned char)(4 | v << 4));
            } else if (v < 256) {
                buffer_byte(seed, 4 | 14 << 4);
                buffer_byte(seed, (unsigned char)v);
            } else {
                buffer_byte(seed, 4 | 15 << 4);
                buffer_byte(seed, (unsigned char)(v & 0xff));
                buffer_byte(seed, (unsigned char)(v >> 8));
            }
            buffer_put(seed, p + at, (size_t)v);
            at += (size_t)v;
            break;
        default: return -1;
        }
    }
}

typedef struct seed_value {
    const char *file; /* its name in the corpus */
    int type;
    const char *key;
} seed_value;

/* Representative values, made by the commands a client would use. */
static void make_seed_values(void) {
    command_expect(NULL, "SLOTS.INIT", "s:trial-empty", "3", NULL);

    /* Enrolled u1 12345 u4 w1 (w1 promoted when user-two left, a hole in the arrivals); w2 and a
     * binary id waiting. "12345" is written as an integer-encoded string. */
    command_expect(NULL, "SLOTS.INIT", "s:trial-waitlist", "4", "WAITLIST", "3", NULL);
    static const char *const users[] = {"u1", "user-two", "12345", "u4", "w1", "w2"};
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        command_expect(NULL, "ENROLL", "s:trial-waitlist", users[i], NULL);
    {
        const char *argv[3] = {"ENROLL", "s:trial-waitlist", "bin\0\xff\r\n"};
        size_t lens[3] = {6, 16, 8};
        send_argv(3, argv, lens);
        drop_reply_not_error("ENROLL");
    }
    command_expect(NULL, "ENROLL.CANCEL", "s:trial-waitlist", "user-two", NULL);

    /* 40 enrolled and 18 waiting, one of each gone (an index grown several times). */
    command_expect(NULL, "SLOTS.INIT", "s:trial-sixty", "40", "WAITLIST", "40", NULL);
    for (int i = 0; i < 60; i++) {
        char user[16];
        snprintf(user, sizeof(user), "user-%02d", i);
        command_expect(NULL, "ENROLL", "s:trial-sixty", user, NULL);
    }
    command_expect(NULL, "ENROLL.CANCEL", "s:trial-sixty", "user-03", NULL);
    command_expect(NULL, "ENROLL.CANCEL", "s:trial-sixty", "user-45", NULL);

    command_expect(NULL, "LOCK.ACQUIRE", "s:lock-held", "owner-a", "600000", NULL);
    for (int i = 0; i < 3; i++)
        command_expect(NULL, "LOCK.ACQUIRE", "s:lock-reentrant", "host-7:pid-4242", "600000", "REENTRANT", NULL);

    send_words("IDEMP.BEGIN", "s:idemp-in-progress", "fingerprint-1", "600000", NULL);
    drop_reply_not_error("IDEMP.BEGIN");
    send_words("IDEMP.BEGIN", "s:idemp-completed", "sha256:5d41402abc4b2a76b9719d911017c592", "600000", NULL);
    redisReply *r = next_reply("IDEMP.BEGIN");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_INTEGER)
        die("IDEMP.BEGIN did not answer new and a token");
    char token[24];
    snprintf(token, sizeof(token), "%lld", r->element[1]->integer);
    freeReplyObject(r);
    const char *argv[5] = {"IDEMP.COMPLETE", "s:idemp-completed", token, "HTTP/1.1 201\r\n\0{\"id\":7}", "600"};
    size_t lens[5] = {14, 17, strlen(token), 24, 3};
    send_argv(5, argv, lens);
    drop_reply_not_error("IDEMP.COMPLETE");
}

static void write_file(const char *dir, const char *name, const buffer *b) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b->bytes, 1, b->len, f) != b->len || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* DUMP each seed value; learn each type's module id and name; check that the encoder rebuilds
 * every DUMP byte for byte from its input form (so the format and the CRC are Redis's); write the
 * inputs to $SG_FUZZ_RESTORE_SEEDS when set. */
static void learn_types_and_seeds(void) {
    static const seed_value seeds[] = {
        {"trial-empty", TYPE_TRIAL, "s:trial-empty"},
        {"trial-enrolled-waitlisted-cancelled", TYPE_TRIAL, "s:trial-waitlist"},
        {"trial-sixty-users", TYPE_TRIAL, "s:trial-sixty"},
        {"lock-held", TYPE_LOCK, "s:lock-held"},
        {"lock-reentrant-three-holds", TYPE_LOCK, "s:lock-reentrant"},
        {"idemp-in-progress", TYPE_IDEMP, "s:idemp-in-progress"},
        {"idemp-completed-binary-response", TYPE_IDEMP, "s:idemp-completed"},
    };
    const size_t count = sizeof(seeds) / sizeof(seeds[0]);
    /* Plain strings in the DUMPs, as the input format writes them (LZF is its own kind). */
    command_expect("OK", "CONFIG", "SET", "rdbcompression", "no", NULL);
    make_seed_values();
    buffer dumps[sizeof(seeds) / sizeof(seeds[0])] = {{0}};
    for (size_t i = 0; i < count; i++) {
        send_words("TYPE", seeds[i].key, NULL);
        send_words("DUMP", seeds[i].key, NULL);
        redisReply *type = next_reply("TYPE"), *dump = next_reply("DUMP");
        if (type->type != REDIS_REPLY_STATUS || dump->type != REDIS_REPLY_STRING || dump->len < 1 + 9 + TRAILER_LEN)
            die("no DUMP of %s", seeds[i].key);
        buffer_put(&dumps[i], dump->str, dump->len);
        size_t at = 1;
        uint64_t id;
        if (parse_length(dumps[i].bytes, dumps[i].len, &at, &id) != 0) die("%s: no module id in its DUMP", seeds[i].key);
        type_info *t = &types[seeds[i].type];
        if (t->module_id == 0) {
            t->module_id = id;
            snprintf(t->name, sizeof(t->name), "%s", type->str);
        } else if (t->module_id != id || strcmp(t->name, type->str) != 0) {
            die("%s: type %s, id %llx: another type than its family's first seed", seeds[i].key, type->str,
                (unsigned long long)id);
        }
        freeReplyObject(type);
        freeReplyObject(dump);
    }
    command_expect("OK", "CONFIG", "SET", "rdbcompression", "yes", NULL);
    command_expect("OK", "FLUSHALL", "SYNC", NULL);

    const char *seed_dir = getenv("SG_FUZZ_RESTORE_SEEDS");
    buffer seed = {0};
    for (size_t i = 0; i < count; i++) {
        if (seed_from_dump(seeds[i].type, dumps[i].bytes, dumps[i].len, &seed) != 0)
            die("the DUMP of %s is not in the form the input format describes", seeds[i].key);
        encode_input(&enc, seed.bytes, seed.len);
        if (enc.out.len != dumps[i].len || memcmp(enc.out.bytes, dumps[i].bytes, enc.out.len) != 0)
            die("the input form of %s does not encode back to its DUMP (the encoder or the CRC is wrong)",
                seeds[i].key);
        if (!run_input(seed.bytes, seed.len)) die("the DUMP of %s, encoded again, was refused", seeds[i].key);
        if (seed_dir != NULL && seed_dir[0] != '\0') {
            write_file(seed_dir, seeds[i].file, &seed);
            /* Two more framings of the first trial and the first lock: the body as raw bytes, and
             * the values without opcodes (RDB_TYPE_MODULE). */
            if (i == 1 || i == 3) {
                char name[96];
                buffer variant = {0};
                size_t body = 1 + 9; /* type byte and module id */
                buffer_byte(&variant, (unsigned char)(0xf0 | seeds[i].type));
                buffer_put(&variant, dumps[i].bytes + body, dumps[i].len - TRAILER_LEN - body);
                snprintf(name, sizeof(name), "%s-raw-body", seeds[i].file);
                write_file(seed_dir, name, &variant);
                variant.len = 0;
                buffer_put(&variant, seed.bytes, seed.len);
                variant.bytes[0] = (unsigned char)(0xe0 | (variant.bytes[0] & 0x0f));
                snprintf(name, sizeof(name), "%s-module-v1-framing", seeds[i].file);
                write_file(seed_dir, name, &variant);
                free(variant.bytes);
            }
        }
        free(dumps[i].bytes);
    }
    free(seed.bytes);
    if (seed_dir != NULL && seed_dir[0] != '\0') fprintf(stderr, "fuzz_restore: seeds written to %s\n", seed_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN); /* a server that died shows as a failed write, not a dead harness */
    const char *show = getenv("SG_FUZZ_RESTORE_SHOW");
    show_payloads = show != NULL && show[0] == '1';
    crc64_init();
    static const unsigned char check[] = "123456789";
    if (crc64(check, 9) != UINT64_C(0xe9c6d914c4b8d9ca)) die("CRC64 self-check failed");
    start_server();
    atexit(stop_server);
    learn_types_and_seeds();
    return 0;
}
