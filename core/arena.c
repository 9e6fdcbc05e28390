#include "arena.h"

#include <string.h>

#include "err.h"
#include "util.h"

int rill_arena_init(rill_arena *a, size_t size)
{
    memset(a, 0, sizeof *a);
    a->base = rill_alloc(size);
    if (!a->base)
        return RILL_ENOMEM;
    a->size = size;
    return RILL_OK;
}

void rill_arena_free(rill_arena *a)
{
    rill_free(a->base);
    memset(a, 0, sizeof *a);
}

void *rill_arena_alloc(rill_arena *a, size_t n)
{
    size_t off = RILL_ALIGN(a->used, 64);
    if (off > a->size || n > a->size - off) /* written so nothing can overflow */
        return NULL;
    a->used = off + n;
    if (a->used > a->peak)
        a->peak = a->used;
    return a->base + off;
}

void *rill_arena_zalloc(rill_arena *a, size_t n)
{
    void *p = rill_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}
