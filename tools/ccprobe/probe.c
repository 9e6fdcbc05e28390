/* The compiler probe the Makefile runs before building anything (tools/ccprobe/ccprobe.sh):
 * does this compiler, with these flags, copy small constant arrays right?
 *
 * Debian 12's gcc 12.2 with AVX-512 enabled (-march=native on an AVX-512 CPU, x86-64-v4,
 * skylake-avx512, ...) at -O1 and above expands memcpy from a read-only array of 36 to 60
 * bytes (and 68 to 124: every 32-byte block of the copy) inline, as 32-byte and smaller
 * stores of constants. A 32-byte block whose 64-bit words are one nonzero value two or three
 * times followed by zeros, such as the floats {1,1,1,1,1,1,0,0}, is stored as that value
 * broadcast over all four words: {1,1,1,1,1,1,0,0,0,0,0,1} arrives as eight ones and the last
 * four. So is a block of one negative word (top bit set) repeated and then all-ones words.
 * Both are the blocks whose 256-bit integer constant gcc writes with fewer 64-bit elements
 * than four (the upper ones implied by sign extension), as if they were a repeated element.
 * A loop copying such an array element by element is turned into the same memcpy at -O2 and
 * above (loop distribution). The block is materialised with vpbroadcastd from a general
 * register; without AVX-512F (-mavx2, or -mno-avx512f) the same code is right;
 * -mprefer-vector-width does not change it; -mstore-max=128 (no constant stores wider than
 * 16 bytes) avoids it and keeps AVX-512 everywhere else. clang 14 is not affected.
 *
 * Each case copies one constant into memory the compiler cannot see into, then compares the
 * copy element by element with values read through volatile, which no optimisation folds.
 * Exit 0 and "ok" when every copy is right; exit 1 and one line per wrong copy otherwise.
 * Not a general compiler test: only this pattern and its near neighbours. */
#include <stdio.h>
#include <string.h>

/* the copies land here; sink() hides them from the optimiser */
static unsigned char buf[4][256] __attribute__((aligned(64)));
static int failures;

__attribute__((noinline)) static void *sink(int i)
{
    static void *volatile p[4] = {buf[0], buf[1], buf[2], buf[3]};
    return p[i];
}

/* got (n bytes) against want, read byte by byte through volatile */
__attribute__((noinline)) static void check(const char *what, const void *got,
                                            const volatile unsigned char *want, size_t n)
{
    const unsigned char *g = got;
    for (size_t i = 0; i < n; i++)
        if (g[i] != want[i]) {
            printf("wrong: %s differs from byte %zu on (%zu bytes copied)\n", what, i, n);
            failures++;
            return;
        }
}

/* the pattern tests/t-loss.c met: its labels */
static const float labels[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};
static const volatile float labels_v[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};
/* the same bits as ints; four ones then zeros (64-bit words x,x,0,0) */
static const int ints[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};
static const volatile int ints_v[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};
static const float fours[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1};
static const volatile float fours_v[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1};
/* doubles: words 1.0, 1.0, 1.0, 0 then two more */
static const double dbl[6] = {1, 1, 1, 0, 0, 1};
static const volatile double dbl_v[6] = {1, 1, 1, 0, 0, 1};
/* other lengths the inline expansion covers: 9 and 15 floats */
static const float nine[9] = {2, 2, 2, 2, 2, 2, 0, 0, 5};
static const volatile float nine_v[9] = {2, 2, 2, 2, 2, 2, 0, 0, 5};
static const float fifteen[15] = {1, 1, 1, 1, 1, 1, 0, 0, 8, 9, 10, 11, 12, 13, 14};
static const volatile float fifteen_v[15] = {1, 1, 1, 1, 1, 1, 0, 0, 8, 9, 10, 11, 12, 13, 14};
/* words of (1.0f, -1.0f), negative as integers, three times, then all-ones words */
static const unsigned neg[12] = {0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u,
                                 0x3f800000u, 0xbf800000u, 0xffffffffu, 0xffffffffu, 5, 6, 7, 8};
static const volatile unsigned neg_v[12] = {
    0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u,
    0x3f800000u, 0xbf800000u, 0xffffffffu, 0xffffffffu, 5, 6, 7, 8};
/* 20 floats: the second 32-byte block is four ones and zeros */
static const float twenty[20] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 16, 17, 18, 19};
static const volatile float twenty_v[20] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0,
                                            16, 17, 18, 19};
/* a struct assigned from a constant one */
typedef struct { float y[12]; } row;
static const row row0 = {{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1}};

int main(void)
{
    float *f = sink(0);
    memcpy(f, labels, sizeof labels);
    check("memcpy of float[12] {1,1,1,1,1,1,0,0,0,0,0,1}", f, (const volatile void *)labels_v,
          sizeof labels);

    f = sink(1);
    for (int i = 0; i < 12; i++) /* -O2 makes this loop a memcpy */
        f[i] = labels[i];
    check("loop copy of float[12] {1,1,1,1,1,1,0,0,0,0,0,1}", f,
          (const volatile void *)labels_v, sizeof labels);

    int *k = sink(2);
    memcpy(k, ints, sizeof ints);
    check("memcpy of int[12] {1,1,1,1,1,1,0,0,0,0,0,1}", k, (const volatile void *)ints_v,
          sizeof ints);

    f = sink(3);
    memcpy(f, fours, sizeof fours);
    check("memcpy of float[12] {1,1,1,1,0,0,0,0,0,0,0,1}", f, (const volatile void *)fours_v,
          sizeof fours);

    double *d = sink(0);
    memcpy(d, dbl, sizeof dbl);
    check("memcpy of double[6] {1,1,1,0,0,1}", d, (const volatile void *)dbl_v, sizeof dbl);

    f = sink(1);
    memcpy(f, nine, sizeof nine);
    check("memcpy of float[9] {2,2,2,2,2,2,0,0,5}", f, (const volatile void *)nine_v,
          sizeof nine);

    f = sink(2);
    memcpy(f, fifteen, sizeof fifteen);
    check("memcpy of float[15] {1,1,1,1,1,1,0,0,8,...,14}", f,
          (const volatile void *)fifteen_v, sizeof fifteen);

    unsigned *u = sink(0);
    memcpy(u, neg, sizeof neg);
    check("memcpy of unsigned[12] {(1.0f,-1.0f) x 3, all-ones x 2, 5..8}", u,
          (const volatile void *)neg_v, sizeof neg);

    f = sink(1);
    memcpy(f, twenty, sizeof twenty);
    check("memcpy of float[20] {1 x 12, 0 x 4, 16..19}", f, (const volatile void *)twenty_v,
          sizeof twenty);

    row *r = sink(3);
    *r = row0;
    check("struct assignment of {float y[12]} {1,1,1,1,1,1,0,0,0,0,0,1}", r,
          (const volatile void *)labels_v, sizeof row0);

    if (failures == 0)
        printf("ok\n");
    return failures != 0;
}
