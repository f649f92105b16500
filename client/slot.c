/* slot.c -- Redis Cluster key slots: CRC16 (XMODEM: polynomial 0x1021, initial value 0, no
 * reflection) over the key or its hash tag, modulo 16384, as the cluster specification defines
 * it. Pure: unit-tested alone (tests/unit/test_client_slot.c). */
#include "slotguard.h"

uint16_t sg_crc16(const char *bytes, size_t len) {
    /* Bit by bit: no table to build or share between threads, and a key is a few dozen bytes
     * against a network round trip. */
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)bytes[i] << 8);
        for (int bit = 0; bit < 8; bit++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned sg_key_slot(const char *key, size_t len) {
    size_t open = 0;
    while (open < len && key[open] != '{') open++;
    if (open < len) {
        size_t close = open + 1;
        while (close < len && key[close] != '}') close++;
        /* A tag needs a '}' after the '{' and at least one byte between them. */
        if (close < len && close > open + 1) return sg_crc16(key + open + 1, close - open - 1) & 16383;
    }
    return sg_crc16(key, len) & 16383;
}
