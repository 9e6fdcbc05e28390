/* CRC32C: the standard check values, the hardware path against the portable table on every
 * length and alignment up to past the three-stream size, and chaining (a CRC extended piece by
 * piece equals the CRC of the whole). */
#include "crc32c.h"

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "util.h"

int main(void)
{
    ok(rill_crc32c(0, "123456789", 9) == 0xe3069283u, "crc32c('123456789') = e3069283 (%s)",
       rill_crc32c_impl());
    unsigned char zero[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    ok(rill_crc32c(0, zero, 32) == 0x8a9136aau && rill_crc32c(0, ones, 32) == 0x62a8ab43u,
       "32 zero bytes 8a9136aa, 32 0xff bytes 62a8ab43 (RFC 3720 B.4)");
    ok(rill_crc32c_portable(0, "123456789", 9) == 0xe3069283u, "the portable table agrees");

    enum { N = 20000 };
    static unsigned char buf[N + 16];
    rill_rng r;
    rill_rng_seed(&r, 7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)rill_rng_next(&r);
    int bad = 0;
    for (size_t n = 0; n <= N && bad < 5; n += n < 300 ? 1 : 97)
        for (size_t a = 0; a < 8; a++)
            if (rill_crc32c(0x1234, buf + a, n) != rill_crc32c_portable(0x1234, buf + a, n)) {
                if (bad++ < 5)
                    diag("length %zu, offset %zu differ", n, a);
            }
    ok(bad == 0, "%s equals the portable table on lengths 0..20000 at 8 offsets",
       rill_crc32c_impl());
    uint32_t c = 0;
    for (size_t at = 0; at < N;) {
        size_t step = 1 + rill_rng_below(&r, 7000);
        if (at + step > N)
            step = N - at;
        c = rill_crc32c(c, buf + at, step);
        at += step;
    }
    ok(c == rill_crc32c(0, buf, N), "pieces chain to the CRC of the whole");
    buf[12345] ^= 4;
    ok(c != rill_crc32c(0, buf, N), "one flipped bit changes it");
    return done_testing();
}
