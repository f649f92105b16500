/* token_clock.c -- the fencing-token clock: see token_clock.h. */
#include "token_clock.h"

uint64_t token_clock_next(token_clock *clock, uint64_t now_us) {
    if (clock->last >= TOKEN_MAX) return 0;
    uint64_t next = clock->last + 1;
    if (now_us > next) next = now_us;
    if (next > TOKEN_MAX) next = TOKEN_MAX;
    clock->last = next;
    return next;
}

void token_clock_observe(token_clock *clock, uint64_t token) {
    if (token > clock->last) clock->last = token;
}
