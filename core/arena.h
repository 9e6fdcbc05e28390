/* Per-step arena: activations, gradients and scratch of one batch. Memory comes in chunks
 * that are kept across steps, so after the first (largest) batch a step allocates nothing;
 * reset rewinds to the first chunk. Pointers stay valid until the reset. */
#ifndef RILL_ARENA_H
#define RILL_ARENA_H

#include <stddef.h>

typedef struct rill_arena_chunk {
    struct rill_arena_chunk *next;
    size_t size, used;
    unsigned char *base;
} rill_arena_chunk;

typedef struct rill_arena {
    rill_arena_chunk *first, *cur;
    size_t chunk_size;   /* default size of a new chunk */
    size_t used, peak;   /* bytes handed out this step, and the most in any step */
} rill_arena;

void rill_arena_init(rill_arena *a, size_t chunk_size);
/* Returns its memory; the arena stays usable (its next allocation takes a new chunk). */
void rill_arena_free(rill_arena *a);
/* 64-byte aligned; NULL only when the system is out of memory (caller reports who asked). */
void *rill_arena_alloc(rill_arena *a, size_t n);
void *rill_arena_zalloc(rill_arena *a, size_t n);
void rill_arena_reset(rill_arena *a);

#endif
