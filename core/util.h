/* Small shared helpers: aligned allocation, 64-bit hashing, seeded random numbers, clocks. */
#ifndef RILL_UTIL_H
#define RILL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define RILL_ALIGN(x, a) (((x) + ((a) - 1)) & ~((size_t)(a) - 1))

/* 64-byte aligned, so rows and GEMM operands start on cache lines. NULL on failure or n == 0
 * overflow; free with rill_free. rill_zalloc also zeroes. */
void *rill_alloc(size_t n);
void *rill_zalloc(size_t n);
void rill_free(void *p);
/* n * size without overflow; returns 0 and sets *out on success, -1 on overflow. */
int rill_mul_size(size_t n, size_t size, size_t *out);

/* A strong 64-bit mixer (murmur3 finalizer on a salted input): a categorical value and a
 * field salt give a well-spread bucket hash. */
static inline uint64_t rill_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t rill_hash64(uint64_t v, uint64_t salt)
{
    return rill_mix64(v ^ rill_mix64(salt + 0x9e3779b97f4a7c15ULL));
}

/* A text's 64-bit hash (categorical values read from text files). */
uint64_t rill_hash_text(const char *s, size_t n);

/* Counter-based uniform in [0,1): the same (seed, a, b) always gives the same number, so
 * lazily created rows and dropout masks do not depend on the order of work. */
static inline double rill_hash_unit(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t h = rill_hash64(rill_hash64(a, seed), b ^ 0x632be59bd9b4e019ULL);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* xoshiro256** stream for sequential draws (shuffling, generators). */
typedef struct rill_rng {
    uint64_t s[4];
} rill_rng;

void rill_rng_seed(rill_rng *r, uint64_t seed);
uint64_t rill_rng_next(rill_rng *r);
double rill_rng_unit(rill_rng *r);                 /* [0,1) */
uint64_t rill_rng_below(rill_rng *r, uint64_t n);  /* [0,n), unbiased */
double rill_rng_normal(rill_rng *r);

double rill_now(void); /* monotonic seconds */
/* Peak resident set size of this process in bytes (from /proc), 0 if unknown. */
size_t rill_peak_rss(void);
/* The CPU's model name from /proc/cpuinfo ("unknown" where it has none), for messages and
 * benchmark figures. */
void rill_cpu_model(char *out, size_t len);

/* Parses sizes such as "2GiB", "512MiB", "1.5GB", "4096" into bytes; -1 on error. */
int rill_parse_bytes(const char *s, size_t *out);

/* mkdir -p: each component in turn; an existing directory is fine (a symbolic link to one
 * too). Errors name the component: RILL_EIO when something else exists there ("cannot
 * create directory X: a file of that name is in the way") or mkdir fails, RILL_ENOSPC on a
 * full disk, RILL_EINVAL for an empty or too long name. */
#include "err.h"
int rill_mkdir_p(const char *dir, rill_err *err);

#endif
