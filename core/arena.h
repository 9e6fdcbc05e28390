/* Per-step bump arena: activations and gradients of one batch. Reset, not freed, every step. */
#ifndef RILL_ARENA_H
#define RILL_ARENA_H

#include <stddef.h>

typedef struct rill_arena {
    unsigned char *base;
    size_t size, used, peak;
} rill_arena;

int rill_arena_init(rill_arena *a, size_t size); /* 0 or RILL_ENOMEM */
void rill_arena_free(rill_arena *a);
/* 64-byte aligned; NULL when it does not fit (caller reports who asked and how much). */
void *rill_arena_alloc(rill_arena *a, size_t n);
void *rill_arena_zalloc(rill_arena *a, size_t n);
static inline void rill_arena_reset(rill_arena *a) { a->used = 0; }

#endif
