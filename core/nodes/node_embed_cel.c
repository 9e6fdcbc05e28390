/* embed_cel: CEL, clustered embedding learning (Chen et al., "Clustered Embedding Learning for
 * Recommender Systems", WWW 2023). The entities of a field (its ids) share the embeddings of
 * clusters: e_i = C[a(i)]. All entities start in one cluster; training alternates gradient
 * steps on the cluster embeddings with cluster optimisation:
 *   - splitting (every split_every steps, one cluster per table, until the budget of
 *     `clusters` is used): the cluster whose entities had the most examples since the last
 *     cluster event is split in two along the first principal component of its entities'
 *     gradients (Gradient PCA): the gradients are centred, the top eigenvector of their
 *     scatter matrix taken, and the entities on its negative side move to a new cluster that
 *     starts as an exact copy of the parent (weights and optimizer state);
 *   - reassignment (every reassign_every steps): each entity moves to the cluster under
 *     which its examples' loss is lowest, if that is lower than under its own.
 * The assignment is a table of the store (`FIELD.assign`, one float per entity: its cluster
 * plus one), checkpointed, cached and exported like any
 * table; the clusters are the table `FIELD.clusters` (budget rows). For inference the
 * model needs those two: clusters x dim floats plus one number per entity.
 *
 * Where we had to choose (the paper targets matrix factorisation with full-batch gradients;
 * these choices follow its authors' public code where it speaks, and adapt it to streaming
 * mini-batches where it does not):
 *   - an entity's gradient for GPCA is the sum of its gradients since the last cluster event
 *     (the code takes the full-batch gradient); entities without examples in that window stay
 *     in the parent cluster; the cluster to split is the one with the most examples in the
 *     window (the code's default "data_number" criterion);
 *   - the loss in reassignment is evaluated exactly, by forward passes in evaluation mode,
 *     for the entity's own cluster and `candidates` others: all clusters when there are few,
 *     otherwise those with the lowest first-order estimate g_i . C[c] of the change (g_i:
 *     the entity's window gradient). The code evaluates every cluster on all of an item's
 *     ratings; a stream has no "all", so the losses are summed over the training batches of
 *     the last reassign_window steps before each reassignment (each of those steps costs
 *     candidates + 1 extra forward passes). The code keeps an item in place at random; we
 *     keep it in place unless the loss strictly drops;
 *   - only entities with at least min_examples examples take part: in a split, those with
 *     that many in the window (the others stay in the parent); in reassignment, those with
 *     that many in the probing steps (an entity with fewer keeps its sums for the next
 *     reassignment, so rarer entities are moved later, on enough evidence). With one or two
 *     examples an entity's gradient and its
 *     loss under another cluster mostly say what its label was, and moving it on that
 *     evidence leaks labels into the assignment (measured: a worse validation AUC without
 *     the threshold on the generator's data with planted clusters);
 *   - an entity moved by reassignment takes no part in a split on the same step: its window
 *     gradient was taken under its old cluster;
 *   - a cluster's gradient is its entities' gradients summed, divided by its size when
 *     grad = "mean" (the default: the code's "most important step");
 *   - a cluster emptied by reassignment is the first slot the next split fills;
 *   - an entity first seen in training joins the cluster with the most entities (the code has
 *     a fixed item set, all in the first cluster at the start); in evaluation an entity
 *     training never saw reads as zeros, as embed's missing rows do; the code's later phase of
 *     personal embeddings around the centres is not implemented.
 *
 * Arguments: dim, clusters (required), split_every (default 50), reassign_every (200),
 * reassign_window (10, at most reassign_every: longer is more exact and slower),
 * candidates (8), cluster_until (the last step of cluster optimisation, 0: all of training),
 * grad ("mean" or "sum"), min_examples (4), and embed's pooling, optim, init.
 *
 * This file is the node kind (arguments, create, forward, backward, the after_step schedule
 * of cluster optimisation, the ops); the machinery it schedules is in cel_window.c,
 * cel_split.c, cel_reassign.c and cel_state.c, which share cel_impl.h. */
#include <stdlib.h>
#include <string.h>

#include "cel_impl.h"
#include "graph.h"
#include "lookup.h"
#include "nodes.h"
#include "pool.h"

#define MAX_CLUSTERS ((1L << 24) - 1) /* the assignment is a float: exact integers up to 2^24 */

/* The node's arguments into st (and the clusters' optimizer and init scale). */
static int read_cel_args(rill_node *n, cel_state *st, rill_optim *opt, double *init,
                         rill_err *err)
{
    static const char *const poolings[] = {"sum", "mean", NULL};
    static const char *const grads[] = {"mean", "sum", NULL};
    int pooling, grad, rc;
    long dim;
    bool has_optim;
    rill_args sub;
    if (n->nin == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "needs an ids input (an encode node)");
    for (int i = 0; i < n->nin; i++)
        if (n->in[i]->out_kind != RILL_OUT_IDS)
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "input %d ('%s', %s) is not ids: embed_cel takes encode_hash or "
                                  "encode_bucket outputs",
                                  i + 1, n->in[i]->name, n->in[i]->ops->name);
    if ((rc = rill_args_int(&n->args, "dim", 0, 1, 1 << 16, &dim, err)) ||
        (rc = rill_args_int(&n->args, "clusters", 0, 1, MAX_CLUSTERS, &st->K, err)) ||
        (rc = rill_args_int(&n->args, "split_every", 50, 0, 1L << 40, &st->split_every, err)) ||
        (rc = rill_args_int(&n->args, "reassign_every", 200, 0, 1L << 40, &st->reassign_every,
                            err)) ||
        (rc = rill_args_int(&n->args, "reassign_window", 10, 1, 1L << 40, &st->reassign_window,
                            err)) ||
        (rc = rill_args_int(&n->args, "candidates", 8, 1, 1024, &st->candidates, err)) ||
        (rc = rill_args_int(&n->args, "cluster_until", 0, 0, 1L << 50, &st->cluster_until, err)) ||
        (rc = rill_args_int(&n->args, "min_examples", 4, 1, 1L << 30, &st->min_examples, err)) ||
        (rc = rill_args_enum(&n->args, "grad", grads, 0, &grad, err)) ||
        (rc = rill_args_enum(&n->args, "pooling", poolings, 0, &pooling, err)) ||
        (rc = rill_args_num(&n->args, "init", 0.05, 0.0, 100.0, init, err)) ||
        (rc = rill_args_sub(&n->args, "optim", &sub, &has_optim, err)))
        return rc;
    if (dim == 0 || st->K == 0)
        return rill_node_errf(n, RILL_EINVAL, err,
                              "arguments 'dim' and 'clusters' are required, e.g. dim = 16, "
                              "clusters = 1024");
    if (has_optim && (rc = rill_optim_parse(&sub, true, opt, err)))
        return rc;
    st->D = (int)dim;
    st->mean_pool = pooling == 1;
    st->mean_grad = grad == 0;
    return RILL_OK;
}

/* Table t of input i (its fields from f0 on): its bookkeeping, all entities in cluster 0, and
 * its two store tables, FIELD.clusters and FIELD.assign. */
static int create_table(rill_node *n, cel_table *w, int i, int t, int f0, const rill_optim *opt,
                        double init, rill_err *err)
{
    cel_state *st = n->st;
    const rill_ids_layout *l = &n->in[i]->layout;
    rill_optim none = {.kind = RILL_OPT_NONE};
    rill_table_opts topts = {0};
    int rc;
    w->src = n->in[i];
    w->fields = calloc((size_t)l->F, sizeof *w->fields);
    w->src_field = calloc((size_t)l->F, sizeof *w->src_field);
    w->members = calloc((size_t)st->K, sizeof *w->members);
    w->cmap = malloc((size_t)st->K * sizeof *w->cmap);
    if (!w->fields || !w->src_field || !w->members || !w->cmap)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory for %ld clusters", st->K);
    memset(w->cmap, 0xff, (size_t)st->K * sizeof *w->cmap);
    w->used = 1;
    for (int f = 0; f < l->F; f++)
        if (l->field_table[f] == t) {
            w->fields[w->nfields] = f0 + f;
            w->src_field[w->nfields++] = f;
        }
    if (l->ntables == 1 && l->F > 1)
        snprintf(w->name, sizeof w->name, "%s", n->in[i]->name);
    else
        snprintf(w->name, sizeof w->name, "%s", l->field_names[w->src_field[0]]);
    char name[160];
    snprintf(name, sizeof name, "%s.clusters", w->name);
    if ((rc = rill_graph_table(n->g, n, name, st->K, st->D, opt, init, &topts, &w->clusters,
                               err)))
        return rc;
    snprintf(name, sizeof name, "%s.assign", w->name);
    return rill_graph_table(n->g, n, name, l->table_rows[t], 1, &none, 0.0, &topts, &w->assign,
                            err);
}

static int cel_create(rill_node *n, rill_err *err)
{
    cel_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    st->probe = -1;
    rill_optim opt = n->g->default_sparse;
    double init;
    int rc;
    if ((rc = read_cel_args(n, st, &opt, &init, err)))
        return rc;
    for (int i = 0; i < n->nin; i++) {
        st->F += n->in[i]->layout.F;
        st->ntables += n->in[i]->layout.ntables;
    }
    st->t = calloc((size_t)st->ntables, sizeof *st->t);
    if (!st->t)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    int f0 = 0, t0 = 0;
    for (int i = 0; i < n->nin; i++) {
        const rill_ids_layout *l = &n->in[i]->layout;
        for (int t = 0; t < l->ntables; t++)
            if ((rc = create_table(n, &st->t[t0 + t], i, t, f0, &opt, init, err)))
                return rc;
        f0 += l->F;
        t0 += l->ntables;
    }
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 2;
    n->dims[0] = st->F;
    n->dims[1] = st->D;
    return RILL_OK;
}

/* ---- forward and backward ---- */

static rill_lookup_span span_of(const cel_state *st, const cel_table *w)
{
    return (rill_lookup_span){.src = w->src, .src_field = w->src_field, .fields = w->fields,
                              .nfields = w->nfields, .Fout = st->F, .mean = st->mean_pool};
}

static int plan_table(rill_node *n, rill_step *s, const cel_state *st, cel_table *w,
                      rill_err *err)
{
    rill_lookup_span sp = span_of(st, w);
    if (rill_lookup_plan(n, s, &sp, &w->occ, err))
        return err->code;
    size_t m = w->occ.nocc ? w->occ.nocc : 1;
    w->ent_cluster = rill_node_alloc(n, s, m * sizeof(uint32_t), false, err);
    w->ent_cl = rill_node_alloc(n, s, m * sizeof(uint32_t), false, err);
    w->cl = rill_node_alloc(n, s, m * sizeof(uint64_t), false, err);
    w->cl_rows = rill_node_alloc(n, s, m * sizeof(float *), false, err);
    w->egrad = w->cgrad = NULL;
    if (!w->ent_cluster || !w->ent_cl || !w->cl || !w->cl_rows)
        return err->code;
    return RILL_OK;
}

/* Distinct entities, their clusters (placing new ones in the largest), distinct clusters. */
static int resolve(cel_state *st, int ti, cel_table *w, rill_step *s, float **arows,
                   rill_err *err)
{
    rill_lookup_span sp = span_of(st, w);
    rill_lookup_dedupe(&sp, s->B, &w->occ);
    size_t nu = w->occ.nuniq;
    if (st->probe == ti) {
        memcpy(w->ent_cluster, st->probe_cluster, nu * sizeof(uint32_t));
    } else if (s->training) {
        int rc = rill_table_lookup(w->assign, w->occ.uniq, nu, arows, err);
        if (rc)
            return rc;
        long home = -1;
        for (size_t u = 0; u < nu; u++) {
            float v = arows[u] ? arows[u][0] : 1.0f;
            if (v == 0.0f) { /* first seen: into the largest cluster (at first the only one) */
                if (home < 0) {
                    home = 0;
                    for (long c = 1; c < w->used; c++)
                        if (w->members[c] > w->members[home])
                            home = c;
                }
                v = (float)home + 1.0f;
                if ((rc = rill_table_write_row(w->assign, w->occ.uniq[u], &v, 1, err)))
                    return rc;
                w->members[home]++;
            }
            if (!(v >= 1.0f && v <= (float)w->used)) /* (an assignment is its cluster + 1) */
                return rill_errf(err, RILL_ESTORE,
                                 "table '%s.assign': entity %llu is in cluster %g of %ld: the "
                                 "store is damaged or its cluster state lost",
                                 w->name, (unsigned long long)w->occ.uniq[u], (double)v - 1, w->used);
            w->ent_cluster[u] = (uint32_t)v - 1;
        }
    } else {
        for (size_t u = 0; u < nu; u++) {
            const float *row;
            int rc = rill_table_read(w->assign, w->occ.uniq[u], &row, err);
            if (rc)
                return rc;
            float v = row ? row[0] : 0.0f;
            w->ent_cluster[u] = v >= 1.0f && v <= (float)st->K ? (uint32_t)v - 1 : UINT32_MAX;
        }
    }
    size_t nc = 0;
    for (size_t u = 0; u < nu; u++) {
        uint32_t c = w->ent_cluster[u];
        if (c == UINT32_MAX) { /* unseen in evaluation: reads as zeros, like embed's rows */
            w->ent_cl[u] = UINT32_MAX;
            continue;
        }
        if (w->cmap[c] < 0) {
            w->cmap[c] = (int32_t)nc;
            w->cl[nc++] = c;
        }
        w->ent_cl[u] = (uint32_t)w->cmap[c];
    }
    for (size_t c = 0; c < nc; c++)
        w->cmap[w->cl[c]] = -1;
    w->ncl = nc;
    return RILL_OK;
}

typedef struct {
    rill_node *n;
    rill_step *s;
    const float *dout;
    int failed;
    rill_err errs[64];
} cel_job;

static void forward_part(void *ctx, size_t t0, size_t t1, int worker)
{
    cel_job *j = ctx;
    cel_state *st = j->n->st;
    rill_step *s = j->s;
    rill_err *err = &j->errs[worker];
    int D = st->D, F = st->F;
    for (size_t ti = t0; ti < t1; ti++) {
        cel_table *w = &st->t[ti];
        /* the assignment rows are only needed while resolving: borrow cl_rows for them */
        if (resolve(st, (int)ti, w, s, w->cl_rows, err)) {
            j->failed = 1;
            return;
        }
        if (s->training) {
            if (rill_table_lookup(w->clusters, w->cl, w->ncl, w->cl_rows, err)) {
                j->failed = 1;
                return;
            }
        } else {
            for (size_t c = 0; c < w->ncl; c++) {
                const float *row;
                if (rill_table_read(w->clusters, w->cl[c], &row, err)) {
                    j->failed = 1;
                    return;
                }
                w->cl_rows[c] = (float *)row;
            }
        }
        for (int k = 0; k < w->nfields; k++)
            for (int b = 0; b < s->B; b++)
                memset(j->n->out + ((size_t)b * F + w->fields[k]) * D, 0, (size_t)D * sizeof(float));
        for (size_t i = 0; i < w->occ.nocc; i++) {
            uint32_t cl = w->ent_cl[w->occ.uniq_of[i]];
            const float *row = cl == UINT32_MAX ? NULL : w->cl_rows[cl];
            if (!row)
                continue;
            float *dst = j->n->out + (size_t)w->occ.out[i] * D, sc = w->occ.scale[i];
            for (int d = 0; d < D; d++)
                dst[d] += sc * row[d];
        }
    }
}

static int cel_forward(rill_node *n, rill_step *s, rill_err *err)
{
    cel_state *st = n->st;
    int rc;
    for (int t = 0; t < st->ntables; t++)
        if ((rc = plan_table(n, s, st, &st->t[t], err)))
            return rc;
    cel_job j = {.n = n, .s = s};
    rill_parallel_each((size_t)st->ntables, forward_part, &j);
    return j.failed ? rill_lookup_job_err(n, j.errs, (int)(sizeof j.errs / sizeof j.errs[0]), err) : RILL_OK;
}

static bool clustering(const cel_state *st, uint64_t t)
{
    return st->cluster_until == 0 || t <= (uint64_t)st->cluster_until;
}

static void backward_part(void *ctx, size_t t0, size_t t1, int worker)
{
    cel_job *j = ctx;
    cel_state *st = j->n->st;
    int D = st->D;
    for (size_t ti = t0; ti < t1; ti++) {
        cel_table *w = &st->t[ti];
        size_t nu = w->occ.nuniq;
        /* each entity's gradient, occurrences in order (the thread count does not matter) */
        memset(w->egrad, 0, nu * (size_t)D * sizeof(float));
        uint32_t *count = (uint32_t *)w->occ.map_vals; /* free after forward: reuse */
        memset(count, 0, nu * sizeof *count);
        for (size_t i = 0; i < w->occ.nocc; i++) {
            uint32_t u = w->occ.uniq_of[i];
            const float *src = j->dout + (size_t)w->occ.out[i] * D;
            float *g = w->egrad + (size_t)u * D, sc = w->occ.scale[i];
            for (int d = 0; d < D; d++)
                g[d] += sc * src[d];
            count[u]++;
        }
        /* each cluster's: its entities' summed, in entity order, or their mean */
        memset(w->cgrad, 0, w->ncl * (size_t)D * sizeof(float));
        for (size_t u = 0; u < nu; u++) {
            const float *g = w->egrad + u * (size_t)D;
            float *cg = w->cgrad + (size_t)w->ent_cl[u] * D;
            for (int d = 0; d < D; d++)
                cg[d] += g[d];
        }
        if (st->mean_grad)
            for (size_t c = 0; c < w->ncl; c++) {
                int64_t m = w->members[w->cl[c]];
                float k = m > 1 ? 1.0f / (float)m : 1.0f;
                for (int d = 0; d < D; d++)
                    w->cgrad[c * (size_t)D + d] *= k;
            }
        rill_table_stage(w->clusters, w->ncl, w->cl, w->cl_rows, w->cgrad);
        /* a probe of one task's gradient (entanglement) is not a training step */
        if (!j->s->only_loss && clustering(st, j->s->t) &&
            rill_cel_window_add(st, w, nu, w->occ.uniq, w->ent_cluster, w->egrad, count)) {
            rill_errf(&j->errs[worker], RILL_ENOMEM, "table '%s': out of memory for the gradient "
                      "window of %zu entities", w->name, w->wn + nu);
            j->failed = 1;
        }
    }
}

static int cel_backward(rill_node *n, rill_step *s, rill_err *err)
{
    cel_state *st = n->st;
    if (!s->training)
        return RILL_OK;
    for (int t = 0; t < st->ntables; t++) {
        cel_table *w = &st->t[t];
        w->egrad = rill_node_alloc(n, s, (w->occ.nuniq ? w->occ.nuniq : 1) * (size_t)st->D * sizeof(float),
                                   false, err);
        w->cgrad = rill_node_alloc(n, s, (w->ncl ? w->ncl : 1) * (size_t)st->D * sizeof(float),
                                   false, err);
        if (!w->egrad || !w->cgrad)
            return err->code;
    }
    cel_job j = {.n = n, .s = s, .dout = n->dout};
    rill_parallel_each((size_t)st->ntables, backward_part, &j);
    return j.failed ? rill_lookup_job_err(n, j.errs, (int)(sizeof j.errs / sizeof j.errs[0]), err) : RILL_OK;
}

/* ---- cluster optimisation (cel_split.c, cel_reassign.c) ---- */

static int cel_after_step(rill_node *n, rill_step *s, rill_err *err)
{
    cel_state *st = n->st;
    uint64_t t = s->t;
    if (!clustering(st, t))
        return RILL_OK;
    bool at_reassign = st->reassign_every > 0 && t % (uint64_t)st->reassign_every == 0;
    bool at_split = st->split_every > 0 && t % (uint64_t)st->split_every == 0;
    int rc = RILL_OK;
    /* probing and reassignment first: they read the window gradients the split then uses */
    if (rill_cel_probing(st, t)) {
        cel_snapshot *sn = calloc((size_t)st->ntables, sizeof *sn);
        if (!sn)
            return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        for (int ti = 0; ti < st->ntables && !rc; ti++)
            rc = rill_cel_take_snapshot(n, &st->t[ti], &sn[ti], err);
        for (int ti = 0; ti < st->ntables && !rc; ti++)
            rc = rill_cel_reassign_probe(n, s, ti, &sn[ti], err);
        for (int ti = 0; ti < st->ntables; ti++)
            rill_cel_snapshot_free(&sn[ti]);
        free(sn);
        if (rc)
            return rc;
    }
    for (int ti = 0; ti < st->ntables && at_reassign; ti++)
        if ((rc = rill_cel_reassign_apply(n, ti, err)))
            return rc;
    for (int ti = 0; ti < st->ntables && at_split; ti++)
        if ((rc = rill_cel_split(n, &st->t[ti], err)))
            return rc;
    if (at_reassign || at_split)
        for (int ti = 0; ti < st->ntables; ti++)
            rill_cel_window_clear(&st->t[ti]);
    return RILL_OK;
}

static rill_table *cel_field_table(rill_node *n, int f)
{
    cel_state *st = n->st;
    for (int t = 0; t < st->ntables; t++)
        for (int k = 0; k < st->t[t].nfields; k++)
            if (st->t[t].fields[k] == f)
                return st->t[t].assign;
    return NULL;
}

static void cel_destroy(rill_node *n)
{
    cel_state *st = n->st;
    if (st && st->t)
        for (int t = 0; t < st->ntables; t++) {
            cel_table *w = &st->t[t];
            free(w->fields);
            free(w->src_field);
            free(w->members);
            free(w->cmap);
            free(w->wid);
            free(w->wcluster);
            free(w->wocc);
            free(w->wgrad);
            rill_idmap_free(&w->wmap);
            free(w->rid);
            free(w->rcur);
            free(w->rnex);
            free(w->rcand);
            free(w->rloss);
            rill_idmap_free(&w->rmap);
        }
    if (st)
        free(st->t);
    free(st);
}

const rill_node_ops rill_node_embed_cel = {.name = "embed_cel",
    .args = (const char *const[]){"candidates", "cluster_until", "clusters", "dim", "grad", "init", "min_examples", "optim", "pooling", "reassign_every", "reassign_window", "split_every", NULL},
                                           .create = cel_create,
                                           .forward = cel_forward,
                                           .backward = cel_backward,
                                           .destroy = cel_destroy,
                                           .after_step = cel_after_step,
                                           .save = rill_cel_save,
                                           .load = rill_cel_load,
                                           .field_table = cel_field_table};
