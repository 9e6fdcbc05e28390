/* The id map (idmap.h): growth by rehashing into twice the capacity, deletion by backward
 * shift. */
#include "idmap.h"

#include <string.h>

#include "err.h"

/* At most three quarters full. A table's map is its largest piece of bookkeeping (12 bytes a
 * slot): at half full, a table just past a power of two paid 48 bytes for each of its rows.
 * Linear probing at 3/4 still finds a present key in about 2.5 probes, mostly in one cache
 * line of keys. */
static bool fits(size_t n, size_t cap)
{
    return n <= cap / 4 * 3;
}

size_t rill_idmap_cap_for(size_t n)
{
    size_t cap = 8;
    while (!fits(n, cap))
        cap *= 2;
    return cap;
}

static int alloc_arrays(rill_idmap *m, size_t cap)
{
    m->keys = rill_alloc(cap * sizeof *m->keys);
    m->vals = rill_alloc(cap * sizeof *m->vals);
    if (!m->keys || !m->vals) {
        rill_free(m->keys);
        rill_free(m->vals);
        memset(m, 0, sizeof *m);
        return RILL_ENOMEM;
    }
    memset(m->vals, 0xff, cap * sizeof *m->vals);
    m->cap = cap;
    m->count = 0;
    m->owned = true;
    return RILL_OK;
}

int rill_idmap_init(rill_idmap *m, size_t expect)
{
    memset(m, 0, sizeof *m);
    return alloc_arrays(m, rill_idmap_cap_for(expect));
}

void rill_idmap_over(rill_idmap *m, uint64_t *keys, uint32_t *vals, size_t cap)
{
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->owned = false;
    rill_idmap_clear(m);
}

void rill_idmap_free(rill_idmap *m)
{
    if (m->owned) {
        rill_free(m->keys);
        rill_free(m->vals);
    }
    memset(m, 0, sizeof *m);
}

void rill_idmap_clear(rill_idmap *m)
{
    if (m->cap)
        memset(m->vals, 0xff, m->cap * sizeof *m->vals);
    m->count = 0;
}

int rill_idmap_reserve(rill_idmap *m, size_t more)
{
    if (m->cap && fits(m->count + more, m->cap))
        return RILL_OK;
    if (!m->owned && m->cap)
        return RILL_EINVAL;
    size_t cap = m->cap ? m->cap : 8;
    while (!fits(m->count + more, cap))
        cap *= 2;
    rill_idmap n;
    memset(&n, 0, sizeof n);
    if (alloc_arrays(&n, cap))
        return RILL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->vals[i] != RILL_IDMAP_EMPTY) {
            size_t h = rill_idmap_slot(&n, m->keys[i]);
            n.keys[h] = m->keys[i];
            n.vals[h] = m->vals[i];
        }
    n.count = m->count;
    rill_idmap_free(m);
    *m = n;
    return RILL_OK;
}

int rill_idmap_put(rill_idmap *m, uint64_t key, uint32_t val)
{
    int rc = rill_idmap_reserve(m, 1);
    if (rc)
        return rc;
    size_t h = rill_idmap_slot(m, key);
    if (m->vals[h] == RILL_IDMAP_EMPTY)
        rill_idmap_fill(m, h, key, val);
    else
        m->vals[h] = val;
    return RILL_OK;
}

void rill_idmap_remove_at(rill_idmap *m, size_t h)
{
    size_t mask = m->cap - 1, i = h, j = h;
    for (;;) {
        j = (j + 1) & mask;
        if (m->vals[j] == RILL_IDMAP_EMPTY)
            break;
        size_t home = rill_idmap_home(m, m->keys[j]);
        /* j moves into the hole at i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->vals[i] = RILL_IDMAP_EMPTY;
    m->count--;
}

bool rill_idmap_remove(rill_idmap *m, uint64_t key)
{
    if (!m->cap)
        return false;
    size_t h = rill_idmap_slot(m, key);
    if (m->vals[h] == RILL_IDMAP_EMPTY)
        return false;
    rill_idmap_remove_at(m, h);
    return true;
}
