/* test_client_slot.c -- cmocka tests of libslotguard's key slots (client/slot.c), no Redis: the
 * vectors of the Redis Cluster specification, hash tags, and binary keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)

static void crc16_of_the_check_string_is_0x31c3(void **state) {
    (void)state;
    assert_int_equal(sg_crc16(S("123456789")), 0x31C3);
}

static void crc16_of_nothing_is_zero(void **state) {
    (void)state;
    assert_int_equal(sg_crc16("", 0), 0);
    assert_int_equal(sg_key_slot("", 0), 0);
}

static void the_slot_of_foo_is_12182(void **state) {
    (void)state;
    assert_int_equal(sg_key_slot(S("foo")), 12182);
}

static void keys_with_the_same_tag_share_a_slot(void **state) {
    (void)state;
    unsigned following = sg_key_slot(S("{user1000}.following"));
    assert_int_equal(following, sg_key_slot(S("{user1000}.followers")));
    assert_int_equal(following, sg_key_slot(S("user1000")));
    assert_int_equal(sg_key_slot(S("prefix{user1000}")), following);
}

static void an_empty_tag_hashes_the_whole_key(void **state) {
    (void)state;
    assert_int_equal(sg_key_slot(S("foo{}{bar}")), sg_crc16(S("foo{}{bar}")) & 16383);
    assert_true(sg_key_slot(S("foo{}{bar}")) != sg_key_slot(S("bar")));
}

static void only_the_first_tag_counts(void **state) {
    (void)state;
    assert_int_equal(sg_key_slot(S("foo{{bar}}zap")), sg_crc16(S("{bar")) & 16383);
    assert_int_equal(sg_key_slot(S("foo{bar}{zap}")), sg_key_slot(S("bar")));
}

static void an_unclosed_tag_hashes_the_whole_key(void **state) {
    (void)state;
    assert_int_equal(sg_key_slot(S("foo{bar")), sg_crc16(S("foo{bar")) & 16383);
    assert_int_equal(sg_key_slot(S("}foo{")), sg_crc16(S("}foo{")) & 16383);
}

static void binary_keys_hash_every_byte(void **state) {
    (void)state;
    const char with_nul[] = {'a', '\0', 'b'};
    assert_int_equal(sg_key_slot(with_nul, 3), sg_crc16(with_nul, 3) & 16383);
    assert_true(sg_key_slot(with_nul, 3) != sg_key_slot("a", 1));
    const char tagged[] = {'{', '\0', '}', 'x'};
    assert_int_equal(sg_key_slot(tagged, 4), sg_crc16("\0", 1) & 16383);
}

static void every_slot_is_below_16384(void **state) {
    (void)state;
    char key[32];
    unsigned seen_high = 0;
    for (int i = 0; i < 100000; i++) {
        int len = snprintf(key, sizeof(key), "key:%d", i);
        unsigned slot = sg_key_slot(key, (size_t)len);
        assert_true(slot < 16384);
        if (slot > 16000) seen_high = 1;
    }
    assert_true(seen_high);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc16_of_the_check_string_is_0x31c3),
        cmocka_unit_test(crc16_of_nothing_is_zero),
        cmocka_unit_test(the_slot_of_foo_is_12182),
        cmocka_unit_test(keys_with_the_same_tag_share_a_slot),
        cmocka_unit_test(an_empty_tag_hashes_the_whole_key),
        cmocka_unit_test(only_the_first_tag_counts),
        cmocka_unit_test(an_unclosed_tag_hashes_the_whole_key),
        cmocka_unit_test(binary_keys_hash_every_byte),
        cmocka_unit_test(every_slot_is_below_16384),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
