/* The id map: u64 keys to u32 values, open addressing with linear probing, at most 3/4 full.
 * One implementation for every place that maps ids: a table's rows (id -> cache slot, with
 * removal on eviction), a batch's distinct ids (id -> position), CEL's entity bookkeeping.
 *
 * The probe loop is in this header so hot callers inline it: rill_idmap_slot gives the slot
 * where a key is or would go, and the caller reads or fills vals[slot] itself, which keeps a
 * lookup-then-insert to one probe. A map either owns its arrays (init, grows on reserve) or
 * runs over memory its caller provides (over: a fixed capacity, e.g. a node's arena space).
 * Keys are spread with rill_mix64, so a slot's position depends only on the key and the
 * capacity: iteration order is reproducible. */
#ifndef RILL_IDMAP_H
#define RILL_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define RILL_IDMAP_EMPTY UINT32_MAX /* vals[] of a free slot; not a storable value */

typedef struct rill_idmap {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap;   /* a power of two */
    size_t count; /* keys held */
    bool owned;   /* arrays from rill_alloc (grown by reserve, freed by free) */
} rill_idmap;

/* An owned map with room for `expect` keys before it grows (at least 8 slots). RILL_ENOMEM. */
int rill_idmap_init(rill_idmap *m, size_t expect);
/* A map over caller memory of cap slots (a power of two), emptied; it never grows. */
void rill_idmap_over(rill_idmap *m, uint64_t *keys, uint32_t *vals, size_t cap);
/* The smallest power-of-two capacity that keeps n keys at most 3/4 full. */
size_t rill_idmap_cap_for(size_t n);
void rill_idmap_free(rill_idmap *m); /* owned arrays freed; the map is zeroed either way */
void rill_idmap_clear(rill_idmap *m);
/* Room for `more` keys beyond count: an owned map grows (rehashing), RILL_ENOMEM when it
 * cannot; a map over caller memory returns RILL_EINVAL when it lacks the room. */
int rill_idmap_reserve(rill_idmap *m, size_t more);

static inline size_t rill_idmap_home(const rill_idmap *m, uint64_t key)
{
    return (size_t)rill_mix64(key) & (m->cap - 1);
}

/* The slot that holds key, or the free slot where it would go. */
static inline size_t rill_idmap_slot(const rill_idmap *m, uint64_t key)
{
    size_t mask = m->cap - 1, h = (size_t)rill_mix64(key) & mask;
    while (m->vals[h] != RILL_IDMAP_EMPTY && m->keys[h] != key)
        h = (h + 1) & mask;
    return h;
}

/* key's value, or RILL_IDMAP_EMPTY when it is absent. */
static inline uint32_t rill_idmap_get(const rill_idmap *m, uint64_t key)
{
    return m->cap ? m->vals[rill_idmap_slot(m, key)] : RILL_IDMAP_EMPTY;
}

/* Fills the free slot h (from rill_idmap_slot, with room reserved) with key and val. */
static inline void rill_idmap_fill(rill_idmap *m, size_t h, uint64_t key, uint32_t val)
{
    m->keys[h] = key;
    m->vals[h] = val;
    m->count++;
}

/* key's value; when absent, key is added with value count (its position in the order of
 * first sight), which is how a batch's ids are made distinct. Needs room reserved. */
static inline uint32_t rill_idmap_intern(rill_idmap *m, uint64_t key, bool *added)
{
    size_t h = rill_idmap_slot(m, key);
    bool fresh = m->vals[h] == RILL_IDMAP_EMPTY;
    if (fresh)
        rill_idmap_fill(m, h, key, (uint32_t)m->count);
    if (added)
        *added = fresh;
    return m->vals[h];
}

/* Sets key to val (adding it, growing an owned map when needed). RILL_ENOMEM / RILL_EINVAL as
 * reserve. */
int rill_idmap_put(rill_idmap *m, uint64_t key, uint32_t val);
/* Removes the key in slot h (backward-shift deletion: no tombstones, probes stay short). */
void rill_idmap_remove_at(rill_idmap *m, size_t h);
/* Removes key; false when it was absent. */
bool rill_idmap_remove(rill_idmap *m, uint64_t key);

#endif
