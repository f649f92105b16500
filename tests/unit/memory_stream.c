/* memory_stream.c -- the tagged in-memory writer / reader of memory_stream.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core_alloc.h"
#include "memory_stream.h"

/* ==== writer ==================================================================================== */
static void buffer_put(buffer *b, const void *bytes, size_t len) {
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < len) cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        assert_non_null(grown);
        b->data = grown;
        b->cap = cap;
    }
    if (len > 0) memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

static void buffer_put_u64(buffer *b, uint64_t value) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(value >> (8 * i));
    buffer_put(b, le, 8);
}

void buffer_free(buffer *b) {
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void write_u64(void *io, uint64_t value) {
    buffer_put(io, "U", 1);
    buffer_put_u64(io, value);
}

void write_bytes(void *io, const char *bytes, size_t len) {
    buffer_put(io, "B", 1);
    buffer_put_u64(io, len);
    buffer_put(io, bytes, len);
}

/* ==== reader ==================================================================================== */
typedef struct source {
    const unsigned char *data;
    size_t len; /* readable bytes: less than the buffer to simulate truncation */
    size_t pos;
} source;

static int take(source *s, void *out, size_t len) {
    if (s->len - s->pos < len) return -1;
    memcpy(out, s->data + s->pos, len);
    s->pos += len;
    return 0;
}

static int take_u64(source *s, uint64_t *value) {
    unsigned char le[8];
    if (take(s, le, 8) != 0) return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)le[i] << (8 * i);
    *value = v;
    return 0;
}

static int take_tag(source *s, char expected) {
    char tag;
    if (take(s, &tag, 1) != 0 || tag != expected) return -1;
    return 0;
}

static int read_u64(void *io, uint64_t *value) {
    source *s = io;
    if (take_tag(s, 'U') != 0) return -1;
    return take_u64(s, value);
}

static int read_bytes(void *io, char **bytes, size_t *len) {
    source *s = io;
    uint64_t n;
    if (take_tag(s, 'B') != 0 || take_u64(s, &n) != 0 || n > s->len - s->pos) return -1;
    char *copy = core_alloc((size_t)n); /* the core frees it with the same allocator */
    if (copy == NULL) return -1;
    if (take(s, copy, (size_t)n) != 0) {
        core_free(copy);
        return -1;
    }
    *bytes = copy;
    *len = (size_t)n;
    return 0;
}

/* ==== trials ==================================================================================== */
buffer save(const trial *t) {
    buffer b = {NULL, 0, 0};
    trial_writer w = {write_u64, write_bytes, &b};
    trial_save(t, &w);
    return b;
}

trial *load_prefix(const buffer *b, size_t len, int version, size_t *consumed) {
    source s = {b->data, len, 0};
    trial_reader r = {read_u64, read_bytes, &s};
    trial *t = trial_load(&r, version);
    if (consumed) *consumed = s.pos;
    return t;
}

trial *load(const buffer *b) {
    size_t consumed = 0;
    trial *t = load_prefix(b, b->len, TRIAL_ENCODING_VERSION, &consumed);
    if (t != NULL) assert_int_equal(consumed, b->len);
    return t;
}

void assert_same_bytes(const buffer *a, const buffer *b) {
    assert_int_equal(a->len, b->len);
    if (a->len > 0) assert_memory_equal(a->data, b->data, a->len);
}

void assert_unchanged(const trial *t, const buffer *before) {
    buffer now = save(t);
    assert_same_bytes(&now, before);
    buffer_free(&now);
}

/* ==== tokens ==================================================================================== */
token_list tokenize(const buffer *b) {
    token_list l = {NULL, 0};
    source s = {b->data, b->len, 0};
    size_t bound = b->len; /* every token takes at least 9 bytes */
    for (size_t i = 0; i < bound && s.pos < s.len; i++) {
        token tk = {0, 0, NULL, 0};
        char tag = 0;
        assert_int_equal(take(&s, &tag, 1), 0);
        assert_int_equal(take_u64(&s, &tk.value), 0);
        if (tag == 'B') {
            tk.is_bytes = 1;
            tk.len = (size_t)tk.value;
            tk.bytes = malloc(tk.len + 1);
            assert_non_null(tk.bytes);
            assert_int_equal(take(&s, tk.bytes, tk.len), 0);
        } else {
            assert_int_equal(tag, 'U');
        }
        token *grown = realloc(l.items, (l.n + 1) * sizeof(*grown));
        assert_non_null(grown);
        l.items = grown;
        l.items[l.n++] = tk;
    }
    return l;
}

buffer untokenize(const token_list *l) {
    buffer b = {NULL, 0, 0};
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].is_bytes)
            write_bytes(&b, l->items[i].bytes, l->items[i].len);
        else
            write_u64(&b, l->items[i].value);
    }
    return b;
}

void tokens_free(token_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].bytes);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

token *u64_token(token_list *l, uint64_t value) {
    token *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->items[i].is_bytes && l->items[i].value == value) {
            found = &l->items[i];
            matches++;
        }
    }
    assert_int_equal(matches, 1);
    return found;
}

token *bytes_token(token_list *l, const char *user) {
    token *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].is_bytes && l->items[i].len == strlen(user) &&
            memcmp(l->items[i].bytes, user, l->items[i].len) == 0) {
            found = &l->items[i];
            matches++;
        }
    }
    assert_int_equal(matches, 1);
    return found;
}

void set_token_bytes(token *tk, const char *bytes, size_t len) {
    free(tk->bytes);
    tk->bytes = malloc(len + 1);
    assert_non_null(tk->bytes);
    if (len > 0) memcpy(tk->bytes, bytes, len);
    tk->len = len;
}

trial *load_tokens(const token_list *l) {
    buffer b = untokenize(l);
    trial *t = load(&b);
    buffer_free(&b);
    return t;
}
