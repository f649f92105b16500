/* memory_stream.h -- an in-memory trial_writer / trial_reader for the unit tests (module/trial.h).
 *
 * The stream is a growable byte buffer in which every value is tagged: 'U' + 8 bytes little-endian
 * for an integer, 'B' + an 8-byte length + the bytes for a byte string. The tags make the stream
 * self-describing, so a test can cut it anywhere (load_prefix) or turn it into a list of tokens,
 * rewrite one value and load the result, without knowing the layout trial_save() chose. Strings the
 * reader hands to the core are allocated with core_alloc(), the allocator the core frees them with.
 * Failures (a buffer that cannot grow, a token that is not unique) are cmocka assertions. */
#ifndef SG_MEMORY_STREAM_H
#define SG_MEMORY_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "trial.h"

typedef struct buffer {
    unsigned char *data;
    size_t len;
    size_t cap;
} buffer;

/* The writer's two callbacks (`io` is a buffer *): also the way to hand-build a stream. */
void write_u64(void *io, uint64_t value);
void write_bytes(void *io, const char *bytes, size_t len);
void buffer_free(buffer *b);

/* The trial serialized into a new buffer. */
buffer save(const trial *t);
/* Load from the first `len` bytes of `b` (less than b->len simulates truncation); *consumed, when
 * not NULL, receives how many bytes the core read. */
trial *load_prefix(const buffer *b, size_t len, int version, size_t *consumed);
/* Load the whole buffer at the current encoding; a trial that loads must have read every byte. */
trial *load(const buffer *b);

void assert_same_bytes(const buffer *a, const buffer *b);
/* The serialized form as a snapshot: the trial still saves to exactly `before`. */
void assert_unchanged(const trial *t, const buffer *before);

/* ---- tokens: the stream as a list of values, to rewrite single values --------------------------- */
typedef struct token {
    int is_bytes;
    uint64_t value;
    char *bytes;
    size_t len;
} token;

typedef struct token_list {
    token *items;
    size_t n;
} token_list;

token_list tokenize(const buffer *b);
buffer untokenize(const token_list *l);
void tokens_free(token_list *l);
/* The one integer token holding `value` / the one string token equal to `user` (asserted unique). */
token *u64_token(token_list *l, uint64_t value);
token *bytes_token(token_list *l, const char *user);
void set_token_bytes(token *tk, const char *bytes, size_t len);
trial *load_tokens(const token_list *l);

#endif
