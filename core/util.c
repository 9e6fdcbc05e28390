#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"

void *rill_alloc(size_t n)
{
    void *p = NULL;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - 63)
        return NULL;
    if (posix_memalign(&p, 64, RILL_ALIGN(n, 64)) != 0)
        return NULL;
    return p;
}

void *rill_zalloc(size_t n)
{
    void *p = rill_alloc(n);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

void rill_free(void *p)
{
    free(p);
}

int rill_mul_size(size_t n, size_t size, size_t *out)
{
    if (size != 0 && n > SIZE_MAX / size)
        return -1;
    *out = n * size;
    return 0;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rill_rng_seed(rill_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rill_rng_next(rill_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rill_rng_unit(rill_rng *r)
{
    return (double)(rill_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t rill_rng_below(rill_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased, rarely loops. */
    if (n == 0)
        return 0;
    uint64_t x = rill_rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = rill_rng_next(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rill_rng_normal(rill_rng *r)
{
    double u = rill_rng_unit(r), v = rill_rng_unit(r);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

double rill_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

size_t rill_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

void rill_cpu_model(char *out, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(out, len, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *v = strchr(line, ':');
            if (v) {
                v += strspn(v + 1, " \t") + 1;
                snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
            }
            break;
        }
    fclose(f);
}

int rill_parse_bytes(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e18)
        return -1;
    while (*end == ' ')
        end++;
    static const struct { const char *unit; double mult; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1e3}, {"kb", 1e3}, {"kib", 1024.0}, {"m", 1e6}, {"mb", 1e6},
        {"mib", 1048576.0}, {"g", 1e9}, {"gb", 1e9}, {"gib", 1073741824.0}, {"t", 1e12},
        {"tb", 1e12}, {"tib", 1099511627776.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].unit) == 0) {
            *out = (size_t)(v * units[i].mult);
            return 0;
        }
    return -1;
}

int rill_mkdir_p(const char *dir, rill_err *err)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0)
        return rill_errf(err, RILL_EINVAL, "cannot create a directory with an empty name");
    if (n >= sizeof buf)
        return rill_errf(err, RILL_EINVAL, "cannot create directory %s: the name is too long",
                         dir);
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        if (p[-1] != '/') { /* "a//b" and "a/" have empty components */
            *p = 0;
            if (mkdir(buf, 0777) != 0) {
                int e = errno;
                struct stat st;
                /* EEXIST, or EROFS/EACCES for a directory that is there already; a file of
                 * that name would make every later open inside it fail with a less clear
                 * ENOTDIR */
                if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
                    if (e == EEXIST)
                        return rill_errf(err, RILL_EIO, "cannot create directory %s: a file of "
                                         "that name is in the way", buf);
                    return rill_fs_errno(err, e, "cannot create directory %s", buf);
                }
            }
            *p = c;
        }
        if (!c)
            return RILL_OK;
    }
}

uint64_t rill_hash_text(const char *s, size_t n)
{
    /* 8-byte words through the 64-bit mixer, the length folded in */
    uint64_t h = 0x6a09e667f3bcc909ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = rill_mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    return rill_mix64(h ^ w ^ ((uint64_t)(n - i) << 56));
}
