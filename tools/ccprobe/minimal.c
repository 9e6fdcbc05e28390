/* The smallest form of the miscompile tools/ccprobe/probe.c looks for, for a bug report:
 *   gcc -O1 -march=native tools/ccprobe/minimal.c && ./a.out    (on an AVX-512 CPU)
 *   gcc -O1 -march=x86-64-v4 tools/ccprobe/minimal.c && ./a.out (needs AVX-512 to run)
 * Debian 12's gcc 12.2.0 prints "1 1 1 1 1 1 1 1 0 0 0 1" and exits 1 at -O1, -O2, -O3, -Os
 * and -Og; right at -O0, with -mavx2 -mfma, -mno-avx512f or -mstore-max=128, and with clang
 * 14. The first 32 bytes are stored with `vpbroadcastd` of 1.0f. */
#include <stdio.h>
#include <string.h>

static const float labels[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};
static float buf[12];

__attribute__((noinline)) static float *dest(void) { return buf; }

int main(void)
{
    float *y = dest();
    memcpy(y, labels, sizeof labels);
    int bad = 0;
    for (int i = 0; i < 12; i++) {
        printf("%g%s", y[i], i < 11 ? " " : "\n");
        bad |= y[i] != (i < 6 || i == 11 ? 1.0f : 0.0f);
    }
    return bad;
}
