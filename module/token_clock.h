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

/* The next token, or 0 when the clock is exhausted: a token of TOKEN_MAX was issued or observed
 * (only a crafted LOCK.GRANT, RESTORE or RDB file gets there: Unix microseconds reach it in
 * 292,000 years). Nothing larger can be issued then, and the caller must refuse the grant. */
uint64_t token_clock_next(token_clock *clock, uint64_t now_us);
/* A token issued elsewhere (replication, AOF, RDB): never issue one at or below it. */
void token_clock_observe(token_clock *clock, uint64_t token);

#endif
