/* CEL's reassignment (see node_embed_cel.c): on each probing step, a snapshot of the
 * table's training step, then forward passes in evaluation mode under each entity's own
 * cluster and its candidates, the losses summed into the accumulator (cel_window.c); at
 * reassign_every, each entity with enough examples moves to the candidate with the lowest
 * summed loss. */
#include "cel_impl.h"

#include <stdlib.h>
#include <string.h>

#include "blas.h"

typedef struct {
    uint32_t cluster;
    float score;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->cluster < y->cluster ? -1 : x->cluster > y->cluster;
}

void rill_cel_snapshot_free(cel_snapshot *sn)
{
    free(sn->ent);
    free(sn->cur);
    free(sn->occ_ent);
    free(sn->occ_b);
    free(sn->nex);
    free(sn->g);
}

int rill_cel_take_snapshot(rill_node *n, cel_table *w, cel_snapshot *sn, rill_err *err)
{
    cel_state *st = n->st;
    int D = st->D;
    size_t nu = w->occ.nuniq, nocc = w->occ.nocc;
    sn->nu = nu;
    sn->nocc = nocc;
    sn->ent = malloc((nu ? nu : 1) * sizeof *sn->ent);
    sn->cur = malloc((nu ? nu : 1) * sizeof *sn->cur);
    sn->occ_ent = malloc((nocc ? nocc : 1) * sizeof *sn->occ_ent);
    sn->occ_b = malloc((nocc ? nocc : 1) * sizeof *sn->occ_b);
    sn->nex = calloc(nu ? nu : 1, sizeof *sn->nex);
    sn->g = malloc((nu ? nu : 1) * (size_t)D * sizeof *sn->g);
    if (!sn->ent || !sn->cur || !sn->occ_ent || !sn->occ_b || !sn->nex || !sn->g)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    memcpy(sn->ent, w->occ.uniq, nu * sizeof *sn->ent);
    memcpy(sn->cur, w->ent_cluster, nu * sizeof *sn->cur);
    memcpy(sn->occ_ent, w->occ.uniq_of, nocc * sizeof *sn->occ_ent);
    for (size_t i = 0; i < nocc; i++) {
        sn->occ_b[i] = w->occ.out[i] / (uint32_t)st->F;
        sn->nex[sn->occ_ent[i]]++;
    }
    /* the entities' gradients: the window's (it includes this step), else this step's */
    memcpy(sn->g, w->egrad, nu * (size_t)D * sizeof *sn->g);
    for (size_t u = 0; u < nu; u++) {
        uint32_t i = rill_cel_window_index(w, sn->ent[u]);
        if (i != RILL_IDMAP_EMPTY)
            memcpy(sn->g + u * (size_t)D, w->wgrad + (size_t)i * D, (size_t)D * sizeof *sn->g);
    }
    return RILL_OK;
}

/* A step in the probing window before a reassignment. */
bool rill_cel_probing(const cel_state *st, uint64_t t)
{
    if (st->reassign_every <= 0)
        return false;
    uint64_t r = t % (uint64_t)st->reassign_every;
    return r == 0 || r + (uint64_t)st->reassign_window > (uint64_t)st->reassign_every;
}

/* The active clusters (with members): their slots into act, their embeddings into E
 * (nact x D, zeros for a cluster without a row). Returns nact. */
static long active_clusters(const cel_table *w, int D, uint32_t *act, float *E)
{
    long nact = 0;
    for (long c = 0; c < w->used; c++) {
        if (w->members[c] == 0)
            continue;
        const float *row = rill_table_peek(w->clusters, (uint64_t)c);
        act[nact] = (uint32_t)c;
        if (row)
            memcpy(E + (size_t)nact * D, row, (size_t)D * sizeof *E);
        else
            memset(E + (size_t)nact * D, 0, (size_t)D * sizeof *E);
        nact++;
    }
    return nact;
}

/* Each snapshot entity's accumulator entry, into idx: new ones, and ones whose entity a split
 * has moved since they started, (re)start with their cluster now and no sums (fresh[u] set).
 * Room is reserved. Returns how many are fresh. */
static size_t start_entries(cel_table *w, int C, const cel_snapshot *sn, uint32_t *idx,
                            unsigned char *fresh)
{
    size_t nfresh = 0;
    for (size_t u = 0; u < sn->nu; u++) {
        bool added;
        idx[u] = rill_idmap_intern(&w->rmap, sn->ent[u], &added); /* a new one's index is rn */
        if (added) {
            w->rid[w->rn++] = sn->ent[u];
            fresh[u] = 1;
        } else if (w->rcur[idx[u]] != sn->cur[u]) {
            fresh[u] = 1;
        }
        if (fresh[u]) {
            size_t e = idx[u];
            w->rcur[e] = sn->cur[u];
            w->rnex[e] = 0;
            memset(w->rloss + e * (size_t)(C + 1), 0, (size_t)(C + 1) * sizeof *w->rloss);
            nfresh++;
        }
    }
    return nfresh;
}

/* A fresh entry's candidates: every other active cluster when they are at most C, else the C
 * with the lowest g . C[c] (sc: nu x nact scores, NULL when they are few); an entry with
 * fewer candidates than C has its own cluster in the rest. cd: room for nact. */
static void choose_candidates(cel_table *w, int C, const cel_snapshot *sn, const uint32_t *idx,
                              const unsigned char *fresh, const uint32_t *act, long nact,
                              const float *sc, cand *cd)
{
    for (size_t u = 0; u < sn->nu; u++) {
        if (!fresh[u])
            continue;
        uint32_t *row = w->rcand + (size_t)idx[u] * C;
        long m = 0;
        for (long a = 0; a < nact; a++)
            if (act[a] != sn->cur[u])
                cd[m++] = (cand){act[a], sc ? sc[u * (size_t)nact + a] : (float)a};
        if (sc)
            qsort(cd, (size_t)m, sizeof *cd, cmp_cand);
        for (int k = 0; k < C; k++) /* fewer clusters than candidates: the rest stay put */
            row[k] = k < m ? cd[k].cluster : sn->cur[u];
    }
}

/* The passes on the snapshot's batch, in evaluation mode: 0 under the entities' own clusters,
 * k under their k-th candidates; each example's loss is added to its entities' entry. probe
 * (nu) and ex (B) are scratch. */
static int probe_passes(rill_node *n, rill_step *s, int ti, const cel_snapshot *sn,
                        const uint32_t *idx, uint32_t *probe, float *ex, rill_err *err)
{
    cel_state *st = n->st;
    cel_table *w = &st->t[ti];
    int C = (int)st->candidates, rc = RILL_OK;
    size_t nu = sn->nu;
    rill_step ps = *s;
    ps.training = false;
    st->probe = ti;
    st->probe_cluster = probe;
    for (int k = 0; k <= C && !rc; k++) {
        bool moved = false;
        for (size_t u = 0; u < nu; u++) {
            probe[u] = k == 0 ? sn->cur[u] : w->rcand[(size_t)idx[u] * C + k - 1];
            moved |= probe[u] != sn->cur[u];
        }
        double *col0 = w->rloss, *colk = w->rloss + k;
        if (k > 0 && !moved) { /* no entity has a k-th candidate: its loss is pass 0's */
            for (size_t u = 0; u < nu; u++) {
                size_t e = idx[u];
                colk[e * (size_t)(C + 1)] = col0[e * (size_t)(C + 1)];
            }
            continue;
        }
        if ((rc = rill_graph_example_loss(n->g, &ps, ex, err)))
            break;
        if (w->occ.nuniq != nu) {
            rc = rill_node_errf(n, RILL_EINVAL, err, "reassignment saw another batch");
            break;
        }
        for (size_t i = 0; i < sn->nocc; i++)
            colk[(size_t)idx[sn->occ_ent[i]] * (size_t)(C + 1)] += (double)ex[sn->occ_b[i]];
    }
    st->probe = -1;
    st->probe_cluster = NULL;
    return rc;
}

/* Probing of table ti on this step's batch: each entity's examples' loss (a forward pass in
 * evaluation mode) under its own cluster and under each of its candidates is added to its
 * accumulator entry. Candidates are chosen when the entry starts: every other active
 * cluster when they are few, else the `candidates` lowest first-order estimates g . C[c]. */
int rill_cel_reassign_probe(rill_node *n, rill_step *s, int ti, const cel_snapshot *sn,
                            rill_err *err)
{
    cel_state *st = n->st;
    cel_table *w = &st->t[ti];
    int D = st->D, C = (int)st->candidates, rc = RILL_OK;
    size_t nu = sn->nu;
    long nact = 0;
    for (long c = 0; c < w->used; c++)
        nact += w->members[c] > 0;
    if (nu == 0 || nact < 2)
        return RILL_OK;
    if (rill_cel_acc_reserve(st, w, nu))
        return rill_node_errf(n, RILL_ENOMEM, err, "table '%s': out of memory for reassignment",
                              w->name);
    uint32_t *idx = malloc(nu * sizeof *idx), *probe = malloc(nu * sizeof *probe);
    unsigned char *fresh = calloc(nu, 1);
    float *ex = malloc((size_t)s->B * sizeof *ex);
    uint32_t *act = malloc((size_t)nact * sizeof *act);
    float *E = malloc((size_t)nact * D * sizeof *E), *sc = NULL;
    cand *cd = malloc((size_t)nact * sizeof *cd);
    if (!idx || !probe || !fresh || !ex || !act || !E || !cd) {
        rc = rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        goto out;
    }
    nact = active_clusters(w, D, act, E);
    size_t nfresh = start_entries(w, C, sn, idx, fresh);
    if (nfresh && nact - 1 > C) {
        sc = malloc(nu * (size_t)nact * sizeof *sc);
        if (!sc) {
            rc = rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
            goto out;
        }
        rill_sgemm(false, true, (int)nu, (int)nact, D, 1.0f, sn->g, D, E, D, 0.0f, sc, (int)nact);
    }
    if (nfresh)
        choose_candidates(w, C, sn, idx, fresh, act, nact, sc, cd);
    rc = probe_passes(n, s, ti, sn, idx, probe, ex, err);
    for (size_t u = 0; u < nu && !rc; u++)
        w->rnex[idx[u]] += sn->nex[u];
out:
    free(idx);
    free(probe);
    free(fresh);
    free(ex);
    free(act);
    free(E);
    free(sc);
    free(cd);
    return rc;
}

/* Reassignment of table ti: each entity of the accumulator with at least min_examples
 * examples moves to the candidate under which their summed loss was lowest, if that is
 * strictly lower than under its own cluster and it is still in that cluster. */
int rill_cel_reassign_apply(rill_node *n, int ti, rill_err *err)
{
    cel_state *st = n->st;
    cel_table *w = &st->t[ti];
    int C = (int)st->candidates, rc = RILL_OK;
    size_t kept = 0;
    for (size_t e = 0; e < w->rn && !rc; e++) {
        if (w->rnex[e] < (uint32_t)st->min_examples) {
            /* too few examples yet: its sums carry over to the next reassignment */
            if (kept != e) {
                w->rid[kept] = w->rid[e];
                w->rcur[kept] = w->rcur[e];
                w->rnex[kept] = w->rnex[e];
                memcpy(w->rcand + kept * (size_t)C, w->rcand + e * (size_t)C,
                       (size_t)C * sizeof *w->rcand);
                memcpy(w->rloss + kept * (size_t)(C + 1), w->rloss + e * (size_t)(C + 1),
                       (size_t)(C + 1) * sizeof *w->rloss);
            }
            kept++;
            continue;
        }
        const double *l = w->rloss + e * (size_t)(C + 1);
        int best = 0;
        for (int k = 1; k <= C; k++)
            if (l[k] < l[best])
                best = k;
        if (best == 0)
            continue;
        uint32_t to = w->rcand[e * (size_t)C + best - 1], from = w->rcur[e];
        const float *row = rill_table_peek(w->assign, w->rid[e]);
        if (to == from || !row || row[0] != (float)from + 1.0f)
            continue;
        rc = rill_cel_move_entity(w, w->rid[e], from, to, err);
    }
    rill_cel_acc_clear(w);
    w->rn = kept;
    for (size_t e = 0; e < kept; e++) /* fewer than before: the room is there */
        rill_idmap_intern(&w->rmap, w->rid[e], NULL);
    return rc;
}
