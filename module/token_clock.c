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

static uint64_t furthest(uint64_t now_us) {
    return now_us > TOKEN_MAX - TOKEN_MAX_AHEAD_US ? TOKEN_MAX : now_us + TOKEN_MAX_AHEAD_US;
}

int token_clock_acceptable(uint64_t token, uint64_t now_us) {
    return token <= furthest(now_us);
}

int token_clock_observe(token_clock *clock, uint64_t token, uint64_t now_us) {
    int beyond = !token_clock_acceptable(token, now_us);
    if (beyond) token = furthest(now_us);
    if (token > clock->last) clock->last = token;
    return beyond;
}
