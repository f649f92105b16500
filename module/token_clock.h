/* token_clock.h -- the fencing-token clock that locks and idempotency records draw from.
 *
 * A hybrid clock: the next token is max(last + 1, now_us), so tokens strictly increase and stay
 * close to Unix time in microseconds, which keeps them increasing across a restart even when the
 * last token was not persisted. Plain C, no Redis header, no other core. */
#ifndef SG_TOKEN_CLOCK_H
#define SG_TOKEN_CLOCK_H

#include <stdint.h>

typedef struct token_clock {
    uint64_t last;
} token_clock;

#define TOKEN_MAX ((uint64_t)INT64_MAX) /* tokens are replied and stored as signed 64-bit */
/* The furthest a token that comes from outside (a command, a RESTORE payload, a file, a master) may
 * move the clock ahead of Unix time: 365 days of microseconds. Issued tokens are within a few of
 * now_us, so only a crafted token (or a clock a year wrong) gets near it, and the clock can never be
 * pushed to TOKEN_MAX: that takes 292,000 years of Unix time. */
#define TOKEN_MAX_AHEAD_US 31536000000000ULL

/* The next token, or 0 when the clock is exhausted (a token of TOKEN_MAX was issued: with the bound
 * on observed tokens, only a Unix clock past the year 294,000 gets there). Nothing larger can be
 * issued then, and the caller must refuse the grant. */
uint64_t token_clock_next(token_clock *clock, uint64_t now_us);
/* 1 when `token`, given from outside, is at most TOKEN_MAX_AHEAD_US ahead of now_us. */
int token_clock_acceptable(uint64_t token, uint64_t now_us);
/* A token issued elsewhere (replication, AOF, RDB): never issue one at or below it, except that the
 * clock moves at most to now_us + TOKEN_MAX_AHEAD_US. Returns 1 when the token was beyond that (the
 * clock stopped at the bound; the caller logs it), 0 otherwise. */
int token_clock_observe(token_clock *clock, uint64_t token, uint64_t now_us);

#endif
