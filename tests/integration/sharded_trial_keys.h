/* sharded_trial_keys.h -- the keys of a sharded trial's shard, for the libslotguard suites that
 * write to them by hand (cut moves, lost RECEIVEs): shard i's trial "NAME:trial:<i>:{...}" and, in
 * the same hash tag, its outbox "NAME:out:<i>:{...}" and inbox "NAME:in:<i>:{...}" (slotguard.h,
 * "sharded trials"). Header-only, as these suites link the library and the harness only. */
#ifndef SG_SHARDED_TRIAL_KEYS_H
#define SG_SHARDED_TRIAL_KEYS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "slotguard.h"

/* Shard `shard`'s key of kind `part` ("trial", "out" or "in") into out (fails the test when it
 * does not fit). */
static inline void sg_sharded_shard_key(sg_sharded_trial *t, int shard, const char *part, char *out, size_t size) {
    size_t len;
    const char *trial = sg_sharded_trial_key(t, shard, &len);
    const char *at = NULL;
    for (size_t i = 0; i + 7 <= len && at == NULL; i++)
        if (memcmp(trial + i, ":trial:", 7) == 0) at = trial + i;
    assert_non_null(at);
    size_t name_len = (size_t)(at - trial), part_len = strlen(part), rest_len = len - name_len - 7;
    size_t total = name_len + 1 + part_len + 1 + rest_len;
    if (total + 1 > size) fail_msg("shard key of %zu bytes does not fit %zu", total, size);
    memcpy(out, trial, name_len);
    out[name_len] = ':';
    memcpy(out + name_len + 1, part, part_len);
    out[name_len + 1 + part_len] = ':';
    memcpy(out + name_len + 2 + part_len, at + 7, rest_len);
    out[total] = '\0';
}

#endif
