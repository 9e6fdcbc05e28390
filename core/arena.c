#include "arena.h"

#include <string.h>

#include "util.h"

void rill_arena_init(rill_arena *a, size_t chunk_size)
{
    memset(a, 0, sizeof *a);
    a->chunk_size = chunk_size ? chunk_size : ((size_t)64 << 20);
}

void rill_arena_free(rill_arena *a)
{
    rill_arena_chunk *c = a->first;
    while (c) {
        rill_arena_chunk *next = c->next;
        rill_free(c->base);
        rill_free(c);
        c = next;
    }
    size_t chunk_size = a->chunk_size; /* still usable: it allocates afresh */
    memset(a, 0, sizeof *a);
    a->chunk_size = chunk_size;
}

static rill_arena_chunk *new_chunk(size_t size)
{
    rill_arena_chunk *c = rill_zalloc(sizeof *c);
    if (!c)
        return NULL;
    c->base = rill_alloc(size);
    if (!c->base) {
        rill_free(c);
        return NULL;
    }
    c->size = size;
    return c;
}

void *rill_arena_alloc(rill_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = RILL_ALIGN(n ? n : 1, 64);
    for (;;) {
        rill_arena_chunk *c = a->cur;
        if (c && c->size - c->used >= n) {
            void *p = c->base + c->used;
            c->used += n;
            a->used += n;
            if (a->used > a->peak)
                a->peak = a->used;
            return p;
        }
        /* move to the next kept chunk that fits, or append a new one */
        rill_arena_chunk *next = c ? c->next : a->first;
        while (next && next->size < n)
            next = next->next;
        if (!next) {
            next = new_chunk(n > a->chunk_size ? n : a->chunk_size);
            if (!next)
                return NULL;
            rill_arena_chunk **tail = &a->first;
            while (*tail)
                tail = &(*tail)->next;
            *tail = next;
        }
        next->used = 0;
        a->cur = next;
    }
}

void *rill_arena_zalloc(rill_arena *a, size_t n)
{
    void *p = rill_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void rill_arena_reset(rill_arena *a)
{
    for (rill_arena_chunk *c = a->first; c; c = c->next)
        c->used = 0;
    a->cur = a->first;
    a->used = 0;
}
