/* Helpers for the generator tests (t-gen-criteo.c, t-gen-multitask.c): a generated text
 * held in memory, and the field checks both line formats share. */
#ifndef RILL_GENTEST_H
#define RILL_GENTEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf;
    size_t len;
} text;

static inline int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static inline int is_hex8(const char *s, size_t n)
{
    if (n != 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static inline int is_count(const char *s, size_t n, int allow_minus)
{
    size_t i = allow_minus && n > 1 && s[0] == '-';
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

#endif
