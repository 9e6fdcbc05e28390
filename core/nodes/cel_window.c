/* CEL's memory between cluster events (see node_embed_cel.c): per table, the window of the
 * entities' gradients since the last split or reassignment (which GPCA splits and the
 * candidates' first-order estimates read), and reassignment's accumulator of each entity's
 * summed losses over the probing steps. Both are growing parallel arrays with an id map. */
#include "cel_impl.h"

#include <stdlib.h>
#include <string.h>

/* p resized to bytes; when that fails, p as it was and *failed set (so a list of arrays can
 * grow together and be checked once, each still valid). */
static void *grow(void *p, size_t bytes, bool *failed)
{
    void *q = realloc(p, bytes);
    if (!q) {
        *failed = true;
        return p;
    }
    return q;
}

/* Entity id's index in the window, RILL_IDMAP_EMPTY when it has none. */
uint32_t rill_cel_window_index(const cel_table *w, uint64_t id)
{
    return rill_idmap_get(&w->wmap, id);
}

/* Adds nu entities' gradients (nu x D) to the window, with their clusters and example
 * counts. */
int rill_cel_window_add(const cel_state *st, cel_table *w, size_t nu, const uint64_t *ent,
                      const uint32_t *cluster, const float *grad, const uint32_t *occ_count)
{
    int D = st->D;
    if (!w->wmap.cap && rill_idmap_init(&w->wmap, 512))
        return RILL_ENOMEM;
    if (rill_idmap_reserve(&w->wmap, nu))
        return RILL_ENOMEM;
    if (w->wn + nu > w->wcap) {
        size_t cap = w->wcap ? w->wcap : 1024;
        while (cap < w->wn + nu)
            cap *= 2;
        bool failed = false;
        w->wid = grow(w->wid, cap * sizeof *w->wid, &failed);
        w->wcluster = grow(w->wcluster, cap * sizeof *w->wcluster, &failed);
        w->wocc = grow(w->wocc, cap * sizeof *w->wocc, &failed);
        w->wgrad = grow(w->wgrad, cap * (size_t)D * sizeof *w->wgrad, &failed);
        if (failed)
            return RILL_ENOMEM;
        w->wcap = cap;
    }
    for (size_t u = 0; u < nu; u++) {
        uint64_t id = ent[u];
        bool added;
        size_t i = rill_idmap_intern(&w->wmap, id, &added); /* a new one's index is wn */
        if (added) {
            w->wn++;
            w->wid[i] = id;
            w->wocc[i] = 0;
            memset(w->wgrad + i * D, 0, (size_t)D * sizeof(float));
        }
        w->wcluster[i] = cluster[u];
        w->wocc[i] += occ_count[u];
        const float *g = grad + u * (size_t)D;
        float *acc = w->wgrad + i * (size_t)D;
        for (int d = 0; d < D; d++)
            acc[d] += g[d];
    }
    return RILL_OK;
}

void rill_cel_window_clear(cel_table *w)
{
    w->wn = 0;
    rill_idmap_clear(&w->wmap);
}

/* ---- reassignment's accumulator ---- */

/* Room for `more` entries (arrays and map). */
int rill_cel_acc_reserve(const cel_state *st, cel_table *w, size_t more)
{
    size_t C = (size_t)st->candidates, need = w->rn + more;
    if (need > w->rcap) {
        size_t cap = w->rcap ? w->rcap : 1024;
        while (cap < need)
            cap *= 2;
        bool failed = false;
        w->rid = grow(w->rid, cap * sizeof *w->rid, &failed);
        w->rcur = grow(w->rcur, cap * sizeof *w->rcur, &failed);
        w->rnex = grow(w->rnex, cap * sizeof *w->rnex, &failed);
        w->rcand = grow(w->rcand, cap * C * sizeof *w->rcand, &failed);
        w->rloss = grow(w->rloss, cap * (C + 1) * sizeof *w->rloss, &failed);
        if (failed)
            return RILL_ENOMEM;
        w->rcap = cap;
    }
    if (!w->rmap.cap && rill_idmap_init(&w->rmap, 1024))
        return RILL_ENOMEM;
    return rill_idmap_reserve(&w->rmap, more);
}

void rill_cel_acc_clear(cel_table *w)
{
    w->rn = 0;
    rill_idmap_clear(&w->rmap);
}
