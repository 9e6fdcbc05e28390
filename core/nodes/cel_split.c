/* CEL's splits (see node_embed_cel.c): GPCA, the cluster with the most examples in the
 * window split in two along the top principal component of its entities' window gradients;
 * and moving an entity between clusters, which splits and reassignment share. */
#include "cel_impl.h"

#include <stdlib.h>
#include <string.h>

#include "linalg.h"

/* Moves entity id from cluster `from` to `to`. An entity in the window leaves the coming
 * split: its window gradients were taken under its old cluster's embedding, and a split of
 * `from` must not move it a second time. */
int rill_cel_move_entity(cel_table *w, uint64_t id, uint32_t from, uint32_t to, rill_err *err)
{
    const float v = (float)to + 1.0f;
    int rc = rill_table_write_row(w->assign, id, &v, 1, err);
    if (rc)
        return rc;
    w->members[from]--;
    w->members[to]++;
    uint32_t i = rill_cel_window_index(w, id);
    if (i != RILL_IDMAP_EMPTY) {
        w->wcluster[i] = to;
        w->wocc[i] = 0;
    }
    return RILL_OK;
}

/* A slot for a new cluster: the first emptied one, else the next unused; -1 when the budget
 * is spent. */
static long free_slot(const cel_state *st, const cel_table *w)
{
    for (long c = 0; c < w->used; c++)
        if (w->members[c] == 0)
            return c;
    return w->used < st->K ? w->used : -1;
}

/* Whether window entry i takes part in a split of cluster c: in it, with enough examples. */
static bool split_member(const cel_state *st, const cel_table *w, size_t i, long c)
{
    return w->wcluster[i] == (uint32_t)c && w->wocc[i] >= (uint32_t)st->min_examples;
}

/* The sides of cluster c's GPCA split: its members' window gradients centred (mean, D), the
 * top eigenvector of their scatter matrix taken, side[i] set for a member on its negative
 * side. cnt: c's members. S (D x D) and x, v (D) are zeroed scratch. *neg: how many moved. */
static int split_sides(const cel_state *st, const cel_table *w, long c, uint32_t cnt,
                       double *mean, double *S, double *x, double *v, unsigned char *side,
                       size_t *neg, rill_err *err)
{
    int D = st->D, rc;
    for (size_t i = 0; i < w->wn; i++)
        if (split_member(st, w, i, c))
            for (int d = 0; d < D; d++)
                mean[d] += (double)w->wgrad[i * (size_t)D + d];
    for (int d = 0; d < D; d++)
        mean[d] /= cnt;
    for (size_t i = 0; i < w->wn; i++) {
        if (!split_member(st, w, i, c))
            continue;
        for (int d = 0; d < D; d++)
            x[d] = (double)w->wgrad[i * (size_t)D + d] - mean[d];
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++)
                S[(size_t)a * D + b] += x[a] * x[b];
    }
    if ((rc = rill_top_eigenvector(D, S, v, err)))
        return rc;
    *neg = 0;
    for (size_t i = 0; i < w->wn; i++) {
        if (!split_member(st, w, i, c))
            continue;
        double p = 0;
        for (int d = 0; d < D; d++)
            p += ((double)w->wgrad[i * (size_t)D + d] - mean[d]) * v[d];
        side[i] = p < 0;
        *neg += p < 0;
    }
    return RILL_OK;
}

/* GPCA: splits the cluster with the most examples in the window along the first principal
 * component of its entities' window gradients; the negative side moves to a new cluster that
 * starts as a copy of the parent. Nothing happens unless both sides have entities. */
int rill_cel_split(rill_node *n, cel_table *w, rill_err *err)
{
    cel_state *st = n->st;
    int D = st->D, rc = RILL_OK;
    long slot = free_slot(st, w);
    if (slot < 0 || w->wn < 2)
        return RILL_OK;
    /* examples per cluster, and its entities with enough examples to go by */
    uint64_t *occ = calloc((size_t)w->used, sizeof *occ);
    uint32_t *cnt = calloc((size_t)w->used, sizeof *cnt);
    double *mean = calloc((size_t)D, sizeof *mean), *S = calloc((size_t)D * D, sizeof *S);
    double *v = calloc((size_t)D, sizeof *v), *x = calloc((size_t)D, sizeof *x);
    unsigned char *side = calloc(w->wn, 1);
    if (!occ || !cnt || !mean || !S || !v || !x || !side) {
        rc = rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < w->wn; i++) {
        occ[w->wcluster[i]] += w->wocc[i];
        cnt[w->wcluster[i]] += w->wocc[i] >= (uint32_t)st->min_examples;
    }
    long best = -1;
    for (long c = 0; c < w->used; c++)
        if (cnt[c] >= 2 && (best < 0 || occ[c] > occ[best]))
            best = c;
    size_t neg = 0;
    if (best < 0 || (rc = split_sides(st, w, best, cnt[best], mean, S, x, v, side, &neg, err)) ||
        neg == 0 || neg == cnt[best])
        goto out;
    const float *parent = rill_table_peek(w->clusters, (uint64_t)best);
    if (!parent) {
        rc = rill_node_errf(n, RILL_ESTORE, err, "table '%s.clusters': cluster %ld has no row",
                            w->name, best);
        goto out;
    }
    if ((rc = rill_table_write_row(w->clusters, (uint64_t)slot, parent,
                                   rill_table_stride(w->clusters), err)))
        goto out;
    if (slot == w->used)
        w->used++;
    for (size_t i = 0; i < w->wn && !rc; i++)
        if (side[i])
            rc = rill_cel_move_entity(w, w->wid[i], (uint32_t)best, (uint32_t)slot, err);
out:
    free(side);
    free(occ);
    free(cnt);
    free(mean);
    free(S);
    free(v);
    free(x);
    return rc;
}
