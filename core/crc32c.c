/* CRC32C, reflected polynomial 0x82f63b78. Three independent streams hide the instruction's
 * 3-cycle latency on long inputs; they are combined by multiplying out the shift of each
 * stream's CRC (a table-free GF(2) shift, cheap beside the 8 KiB and more it is used for).
 * Rows of a few hundred bytes take the single-stream loop. */
#include "crc32c.h"

#include <stdbool.h>
#include <string.h>

#define POLY 0x82f63b78u

static uint32_t table[8][256];

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc_table(uint32_t crc, const unsigned char *p, size_t n)
{
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc; /* little-endian: the CRC meets the first four bytes */
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
              table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
    }
    while (n--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

#define HW_TARGET __attribute__((target("sse4.2")))

/* Multiplies a by b in GF(2)[x] modulo the polynomial (both reflected). */
static uint32_t gf2_mul(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++) {
        if (a & 0x80000000u)
            r ^= b;
        a <<= 1;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return r;
}

/* x^(8n) mod P, reflected: what a CRC is multiplied by to move it n bytes on. */
static uint32_t shift_bytes(size_t n)
{
    uint32_t r = 0x80000000u, sq = 0x00800000u; /* x^0 and x^8 */
    for (; n; n >>= 1) {
        if (n & 1)
            r = gf2_mul(r, sq);
        sq = gf2_mul(sq, sq);
    }
    return r;
}

HW_TARGET static uint32_t crc_hw1(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

enum { LANE = 2048 }; /* bytes per stream per round */
static uint32_t lane_shift; /* shift_bytes(LANE), set before the hardware path is chosen */

HW_TARGET static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n >= 3 * LANE) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < LANE; i += 8) {
            uint64_t wa, wb, wc;
            memcpy(&wa, p + i, 8);
            memcpy(&wb, p + LANE + i, 8);
            memcpy(&wc, p + 2 * LANE + i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        /* crc(A B C) = shift(crc(A), |B C|) ^ shift(crc(B), |C|) ^ crc(C), with the
         * streams after the first started from 0 */
        uint32_t ab = gf2_mul((uint32_t)a, lane_shift) ^ (uint32_t)b;
        crc = gf2_mul(ab, lane_shift) ^ (uint32_t)c;
        p += 3 * LANE;
        n -= 3 * LANE;
    }
    return crc_hw1(crc, p, n);
}

static bool have_hw(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.2"))
        return false;
    lane_shift = shift_bytes(LANE);
    return true;
}
#else
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    return crc_table(crc, p, n);
}
static bool have_hw(void) { return false; }
#endif

/* 0: not yet chosen, 1: hardware, 2: table. Two first callers racing both choose the same and
 * write the same tables, so a plain int is enough; they are made before the choice is stored. */
static volatile int impl;
static bool table_made;

static int choose(void)
{
    if (!impl) {
        int i = have_hw() ? 1 : 2;
        if (i == 2 && !table_made) {
            make_table();
            table_made = true;
        }
        impl = i;
    }
    return impl;
}

uint32_t rill_crc32c_portable(uint32_t crc, const void *p, size_t n)
{
    if (!table_made) { /* tests only: not raced */
        make_table();
        table_made = true;
    }
    return ~crc_table(~crc, p, n);
}

uint32_t rill_crc32c(uint32_t crc, const void *p, size_t n)
{
    crc = ~crc;
    crc = choose() == 1 ? crc_hw(crc, p, n) : crc_table(crc, p, n);
    return ~crc;
}

const char *rill_crc32c_impl(void)
{
    return choose() == 1 ? "sse4.2" : "table";
}
