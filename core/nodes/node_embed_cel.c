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
 * grad ("mean" or "sum"), min_examples (4), and embed's pooling, optim, init. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "blob.h"
#include "graph.h"
#include "lookup.h"
#include "nodes.h"
#include "pool.h"
#include "spectrum.h"
#include "util.h"

#define MAX_CLUSTERS ((1L << 24) - 1) /* the assignment is a float: exact integers up to 2^24 */

typedef struct {
    /* fixed */
    int nfields;
    int *fields;           /* output field indexes */
    int *src_field;        /* the field index within src */
    const rill_node *src;
    rill_table *clusters, *assign;
    char name[128];        /* the field (or shared table) name, for messages */
    /* cluster bookkeeping (checkpointed) */
    long used;             /* slots used so far */
    int64_t *members;      /* per slot: entities assigned */
    int32_t *cmap;         /* per slot: this step's distinct-cluster index, -1 (kept clear) */
    /* the window since the last cluster event (checkpointed) */
    size_t wn, wcap;
    uint64_t *wid;
    uint32_t *wcluster, *wocc;
    float *wgrad;          /* wn x D */
    rill_idmap wmap;       /* entity -> its index in wid */
    /* reassignment: each entity seen in the probing steps before the next reassignment,
     * its cluster then, its candidates and its examples' loss summed under its own (0) and
     * each candidate (checkpointed) */
    size_t rn, rcap;
    uint64_t *rid;
    uint32_t *rcur, *rnex, *rcand; /* rcand: rn x candidates */
    double *rloss;                 /* rn x (candidates + 1) */
    rill_idmap rmap;               /* entity -> its index in rid */
    /* this step */
    rill_lookup_occ occ;   /* the distinct entities and each occurrence's */
    size_t ncl;
    uint32_t *ent_cluster, *ent_cl; /* their cluster, and its distinct-cluster index */
    uint64_t *cl;          /* distinct clusters */
    float **cl_rows;
    float *egrad, *cgrad;
} cel_table;

typedef struct {
    int F, D, ntables;
    bool mean_pool, mean_grad;
    long K, split_every, reassign_every, reassign_window, candidates, cluster_until, min_examples;
    cel_table *t;
    int probe;             /* table being probed in reassignment, -1 none */
    const uint32_t *probe_cluster; /* per distinct entity of the probed table */
} cel_state;

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
static uint32_t window_index(const cel_table *w, uint64_t id)
{
    return rill_idmap_get(&w->wmap, id);
}

/* Adds nu entities' gradients (nu x D) to the window, with their clusters and example
 * counts. */
static int window_add(const cel_state *st, cel_table *w, size_t nu, const uint64_t *ent,
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

static void window_clear(cel_table *w)
{
    w->wn = 0;
    rill_idmap_clear(&w->wmap);
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
            window_add(st, w, nu, w->occ.uniq, w->ent_cluster, w->egrad, count)) {
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

/* ---- cluster optimisation ---- */

/* Moves entity id from cluster `from` to `to`. An entity in the window leaves the coming
 * split: its window gradients were taken under its old cluster's embedding, and a split of
 * `from` must not move it a second time. */
static int move_entity(cel_table *w, uint64_t id, uint32_t from, uint32_t to, rill_err *err)
{
    const float v = (float)to + 1.0f;
    int rc = rill_table_write_row(w->assign, id, &v, 1, err);
    if (rc)
        return rc;
    w->members[from]--;
    w->members[to]++;
    uint32_t i = window_index(w, id);
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
static int split(rill_node *n, cel_table *w, rill_err *err)
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
            rc = move_entity(w, w->wid[i], (uint32_t)best, (uint32_t)slot, err);
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

/* What reassignment needs of a table's training step, taken before the probing passes
 * overwrite the node's step state. */
typedef struct {
    size_t nu, nocc;
    uint64_t *ent;
    uint32_t *cur, *occ_ent, *occ_b, *nex; /* nex: the entity's examples in the batch */
    float *g;
} snapshot;

static void snapshot_free(snapshot *sn)
{
    free(sn->ent);
    free(sn->cur);
    free(sn->occ_ent);
    free(sn->occ_b);
    free(sn->nex);
    free(sn->g);
}

static int take_snapshot(rill_node *n, cel_table *w, snapshot *sn, rill_err *err)
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
        uint32_t i = window_index(w, sn->ent[u]);
        if (i != RILL_IDMAP_EMPTY)
            memcpy(sn->g + u * (size_t)D, w->wgrad + (size_t)i * D, (size_t)D * sizeof *sn->g);
    }
    return RILL_OK;
}

/* ---- reassignment's accumulator ---- */

/* Room for `more` entries (arrays and map). */
static int acc_reserve(const cel_state *st, cel_table *w, size_t more)
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

static void acc_clear(cel_table *w)
{
    w->rn = 0;
    rill_idmap_clear(&w->rmap);
}

/* A step in the probing window before a reassignment. */
static bool probing(const cel_state *st, uint64_t t)
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
static size_t start_entries(cel_table *w, int C, const snapshot *sn, uint32_t *idx,
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
static void choose_candidates(cel_table *w, int C, const snapshot *sn, const uint32_t *idx,
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
static int probe_passes(rill_node *n, rill_step *s, int ti, const snapshot *sn,
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
static int reassign_probe(rill_node *n, rill_step *s, int ti, const snapshot *sn, rill_err *err)
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
    if (acc_reserve(st, w, nu))
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
static int reassign_apply(rill_node *n, int ti, rill_err *err)
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
        rc = move_entity(w, w->rid[e], from, to, err);
    }
    acc_clear(w);
    w->rn = kept;
    for (size_t e = 0; e < kept; e++) /* fewer than before: the room is there */
        rill_idmap_intern(&w->rmap, w->rid[e], NULL);
    return rc;
}

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
    if (probing(st, t)) {
        snapshot *sn = calloc((size_t)st->ntables, sizeof *sn);
        if (!sn)
            return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        for (int ti = 0; ti < st->ntables && !rc; ti++)
            rc = take_snapshot(n, &st->t[ti], &sn[ti], err);
        for (int ti = 0; ti < st->ntables && !rc; ti++)
            rc = reassign_probe(n, s, ti, &sn[ti], err);
        for (int ti = 0; ti < st->ntables; ti++)
            snapshot_free(&sn[ti]);
        free(sn);
        if (rc)
            return rc;
    }
    for (int ti = 0; ti < st->ntables && at_reassign; ti++)
        if ((rc = reassign_apply(n, ti, err)))
            return rc;
    for (int ti = 0; ti < st->ntables && at_split; ti++)
        if ((rc = split(n, &st->t[ti], err)))
            return rc;
    if (at_reassign || at_split)
        for (int ti = 0; ti < st->ntables; ti++)
            window_clear(&st->t[ti]);
    return RILL_OK;
}

/* ---- checkpointed state: per table the slots used, their sizes, the window, the
 * reassignment sums ----
 *
 * Saved field by field (blob.h): the node's shape (tables, dim, candidates), then per table
 * its fields under tags TABLE_TAG(table, field). A field added later is absent from older
 * states and takes its default; the shape fields make a state of another graph an error that
 * says so. States written before this layout (the raw one, magic "RCE2") are still read, by
 * load_legacy_raw below. */

#define STATE_MAGIC 0x4c454352u        /* "RCEL" */
#define STATE_VERSION 1u
#define LEGACY_STATE_MAGIC 0x32454352u /* "RCE2": the raw layout of store format 3 */

enum { TAG_NTABLES = 1, TAG_DIM, TAG_CANDIDATES };
enum { F_USED = 1, F_MEMBERS, F_WID, F_WCLUSTER, F_WOCC, F_WGRAD, F_RID, F_RCUR, F_RNEX,
       F_RCAND, F_RLOSS };
#define TABLE_TAG(ti, f) (((uint32_t)(ti) + 1u) << 8 | (uint32_t)(f))

static int cel_save(rill_node *n, void **buf, size_t *len, rill_err *err)
{
    cel_state *st = n->st;
    size_t D = (size_t)st->D, C = (size_t)st->candidates;
    rill_blob b;
    rill_blob_init(&b, STATE_MAGIC, STATE_VERSION);
    rill_blob_put_u32(&b, TAG_NTABLES, (uint32_t)st->ntables);
    rill_blob_put_u32(&b, TAG_DIM, (uint32_t)st->D);
    rill_blob_put_u32(&b, TAG_CANDIDATES, (uint32_t)st->candidates);
    for (int ti = 0; ti < st->ntables; ti++) {
        const cel_table *w = &st->t[ti];
        rill_blob_put_u64(&b, TABLE_TAG(ti, F_USED), (uint64_t)w->used);
        rill_blob_put(&b, TABLE_TAG(ti, F_MEMBERS), w->members, (size_t)w->used * sizeof(int64_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_WID), w->wid, w->wn * sizeof(uint64_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_WCLUSTER), w->wcluster, w->wn * sizeof(uint32_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_WOCC), w->wocc, w->wn * sizeof(uint32_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_WGRAD), w->wgrad, w->wn * D * sizeof(float));
        rill_blob_put(&b, TABLE_TAG(ti, F_RID), w->rid, w->rn * sizeof(uint64_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_RCUR), w->rcur, w->rn * sizeof(uint32_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_RNEX), w->rnex, w->rn * sizeof(uint32_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_RCAND), w->rcand, w->rn * C * sizeof(uint32_t));
        rill_blob_put(&b, TABLE_TAG(ti, F_RLOSS), w->rloss, w->rn * (C + 1) * sizeof(double));
    }
    char what[300];
    snprintf(what, sizeof what, "node '%s' (%s) at %s: cluster state", n->name, n->ops->name,
             n->where);
    return rill_blob_finish(&b, buf, len, what, err);
}

/* One table's saved state as read from either layout; the arrays point into the saved bytes
 * (unaligned: copied out with memcpy). */
typedef struct {
    uint64_t used, wn, rn;
    const void *members, *wid, *wcluster, *wocc, *wgrad, *rid, *rcur, *rnex, *rcand, *rloss;
} saved_table;

static int state_misfit(rill_node *n, size_t len, const char *why, rill_err *err)
{
    return rill_node_errf(n, RILL_ESTORE, err,
                          "the checkpoint's cluster state (%zu bytes) does not fit this node (%s): "
                          "the store belongs to another graph",
                          len, why);
}

/* The window's saved entries go through window_add, which grows its arrays and map; they are
 * copied out of the saved bytes first (unaligned there). */
static int install_window(cel_state *st, cel_table *w, const saved_table *t)
{
    size_t wn = (size_t)t->wn, D = (size_t)st->D;
    uint64_t *ids = malloc(wn * sizeof *ids);
    uint32_t *cl = malloc(wn * sizeof *cl), *oc = malloc(wn * sizeof *oc);
    float *gr = malloc(wn * D * sizeof *gr);
    int rc = ids && cl && oc && gr ? RILL_OK : RILL_ENOMEM;
    if (!rc) {
        memcpy(ids, t->wid, wn * sizeof *ids);
        memcpy(cl, t->wcluster, wn * sizeof *cl);
        memcpy(oc, t->wocc, wn * sizeof *oc);
        memcpy(gr, t->wgrad, wn * D * sizeof *gr);
        rc = window_add(st, w, wn, ids, cl, gr, oc);
    }
    free(ids);
    free(cl);
    free(oc);
    free(gr);
    return rc;
}

/* Puts table ti's saved state in place, checking what the arrays' lengths cannot: the
 * clusters used fit the budget, entries are distinct and name used clusters. */
static int install_table(rill_node *n, int ti, const saved_table *t, size_t len, rill_err *err)
{
    cel_state *st = n->st;
    cel_table *w = &st->t[ti];
    size_t C = (size_t)st->candidates, rn = (size_t)t->rn;
    if (t->used < 1 || t->used > (uint64_t)st->K)
        return state_misfit(n, len, "clusters used past the budget", err);
    w->used = (long)t->used;
    memset(w->members, 0, (size_t)st->K * sizeof *w->members);
    memcpy(w->members, t->members, (size_t)t->used * sizeof(int64_t));
    window_clear(w);
    w->occ.nuniq = 0;
    if (t->wn && install_window(st, w, t))
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    acc_clear(w);
    if (!rn)
        return RILL_OK;
    if (acc_reserve(st, w, rn))
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    memcpy(w->rid, t->rid, rn * sizeof(uint64_t));
    memcpy(w->rcur, t->rcur, rn * sizeof(uint32_t));
    memcpy(w->rnex, t->rnex, rn * sizeof(uint32_t));
    memcpy(w->rcand, t->rcand, rn * C * sizeof(uint32_t));
    memcpy(w->rloss, t->rloss, rn * (C + 1) * sizeof(double));
    w->rn = rn;
    for (size_t e = 0; e < rn; e++) {
        bool added;
        rill_idmap_intern(&w->rmap, w->rid[e], &added);
        if (!added || w->rcur[e] >= (uint32_t)w->used)
            return state_misfit(n, len, "a repeated entity, or a cluster past the used ones", err);
        for (size_t k = 0; k < C; k++)
            if (w->rcand[e * C + k] >= (uint32_t)w->used)
                return state_misfit(n, len, "a candidate past the used clusters", err);
    }
    return RILL_OK;
}

/* One array field of table ti, of exactly `want` elements of `elem` bytes. */
static int get_table_array(const rill_blob_reader *r, int ti, int f, size_t elem, uint64_t want,
                           const void **data, rill_err *err)
{
    size_t n;
    int rc = rill_blob_get_array(r, TABLE_TAG(ti, f), elem, data, &n, err);
    if (rc)
        return rc;
    if ((uint64_t)n != want)
        return rill_errf(err, RILL_ESTORE, "%s: damaged: table %d's field %d holds %zu elements, "
                         "expected %llu", r->what, ti, f, n, (unsigned long long)want);
    return RILL_OK;
}

static int read_table(const rill_blob_reader *r, const cel_state *st, int ti, saved_table *t,
                      rill_err *err)
{
    size_t D = (size_t)st->D, C = (size_t)st->candidates, n;
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = rill_blob_get_bytes(r, TABLE_TAG(ti, F_USED), &t->used, sizeof t->used, err)) ||
        (rc = get_table_array(r, ti, F_MEMBERS, sizeof(int64_t), t->used, &t->members, err)) ||
        (rc = rill_blob_get_array(r, TABLE_TAG(ti, F_WID), sizeof(uint64_t), &t->wid, &n, err)))
        return rc;
    t->wn = n;
    if ((rc = get_table_array(r, ti, F_WCLUSTER, sizeof(uint32_t), t->wn, &t->wcluster, err)) ||
        (rc = get_table_array(r, ti, F_WOCC, sizeof(uint32_t), t->wn, &t->wocc, err)) ||
        (rc = get_table_array(r, ti, F_WGRAD, D * sizeof(float), t->wn, &t->wgrad, err)) ||
        (rc = rill_blob_get_array(r, TABLE_TAG(ti, F_RID), sizeof(uint64_t), &t->rid, &n, err)))
        return rc;
    t->rn = n;
    if ((rc = get_table_array(r, ti, F_RCUR, sizeof(uint32_t), t->rn, &t->rcur, err)) ||
        (rc = get_table_array(r, ti, F_RNEX, sizeof(uint32_t), t->rn, &t->rnex, err)) ||
        (rc = get_table_array(r, ti, F_RCAND, C * sizeof(uint32_t), t->rn, &t->rcand, err)) ||
        (rc = get_table_array(r, ti, F_RLOSS, (C + 1) * sizeof(double), t->rn, &t->rloss, err)))
        return rc;
    return RILL_OK;
}

/* ---- legacy reader: the raw layout written before the field-by-field one (store format 3,
 * tests/fixtures/format3/cel). Only read, never written; per table: u64 used, u64 wn,
 * members[used], then wn ids, clusters, counts and gradients; u64 rn, then rn ids, clusters,
 * example counts, candidates and losses. Every length is checked against the end. ---- */

/* The next n elements of elem bytes, or NULL when they run past the end. */
static const void *take(const unsigned char **p, const unsigned char *end, uint64_t n, size_t elem)
{
    size_t left = (size_t)(end - *p);
    if (elem && n > left / elem)
        return NULL;
    const void *at = *p;
    *p += (size_t)n * elem;
    return at;
}

static int take_u64(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    const void *at = take(p, end, 1, sizeof *v);
    if (at)
        memcpy(v, at, sizeof *v);
    return at ? 0 : -1;
}

static int load_legacy_raw(rill_node *n, const unsigned char *p, size_t len, rill_err *err)
{
    cel_state *st = n->st;
    const unsigned char *end = p + len;
    size_t D = (size_t)st->D, C = (size_t)st->candidates;
    uint32_t head[2];
    const void *h = take(&p, end, 2, sizeof(uint32_t));
    if (!h)
        return state_misfit(n, len, "truncated", err);
    memcpy(head, h, sizeof head);
    if (head[1] != (uint32_t)st->ntables)
        return state_misfit(n, len, "another number of tables", err);
    for (int ti = 0; ti < st->ntables; ti++) {
        saved_table t = {0};
        int rc;
        if (take_u64(&p, end, &t.used) || take_u64(&p, end, &t.wn) ||
            !(t.members = take(&p, end, t.used, sizeof(int64_t))) ||
            !(t.wid = take(&p, end, t.wn, sizeof(uint64_t))) ||
            !(t.wcluster = take(&p, end, t.wn, sizeof(uint32_t))) ||
            !(t.wocc = take(&p, end, t.wn, sizeof(uint32_t))) ||
            !(t.wgrad = take(&p, end, t.wn, D * sizeof(float))) || take_u64(&p, end, &t.rn) ||
            !(t.rid = take(&p, end, t.rn, sizeof(uint64_t))) ||
            !(t.rcur = take(&p, end, t.rn, sizeof(uint32_t))) ||
            !(t.rnex = take(&p, end, t.rn, sizeof(uint32_t))) ||
            !(t.rcand = take(&p, end, t.rn, C * sizeof(uint32_t))) ||
            !(t.rloss = take(&p, end, t.rn, (C + 1) * sizeof(double))))
            return state_misfit(n, len, "truncated", err);
        if ((rc = install_table(n, ti, &t, len, err)))
            return rc;
    }
    return p == end ? RILL_OK : state_misfit(n, len, "bytes past its end", err);
}

static int cel_load(rill_node *n, const void *buf, size_t len, rill_err *err)
{
    cel_state *st = n->st;
    uint32_t magic = 0, ntables, dim, candidates;
    if (len >= sizeof magic)
        memcpy(&magic, buf, sizeof magic);
    if (magic == LEGACY_STATE_MAGIC)
        return load_legacy_raw(n, buf, len, err);
    rill_blob_reader r;
    int rc;
    if ((rc = rill_blob_open(&r, buf, len, STATE_MAGIC, STATE_VERSION, "cluster state", err)) ||
        (rc = rill_blob_get_bytes(&r, TAG_NTABLES, &ntables, sizeof ntables, err)) ||
        (rc = rill_blob_get_bytes(&r, TAG_DIM, &dim, sizeof dim, err)) ||
        (rc = rill_blob_get_bytes(&r, TAG_CANDIDATES, &candidates, sizeof candidates, err)))
        goto damaged;
    if (ntables != (uint32_t)st->ntables || dim != (uint32_t)st->D ||
        candidates != (uint32_t)st->candidates) {
        char why[160];
        snprintf(why, sizeof why, "%u tables of dim %u with %u candidates, this node has %d of "
                 "dim %d with %ld", ntables, dim, candidates, st->ntables, st->D, st->candidates);
        return state_misfit(n, len, why, err);
    }
    for (int ti = 0; ti < st->ntables; ti++) {
        saved_table t;
        if ((rc = read_table(&r, st, ti, &t, err)))
            goto damaged;
        if ((rc = install_table(n, ti, &t, len, err)))
            return rc;
    }
    return RILL_OK;
damaged: /* the blob's messages say what and where; this says whose */
    return rill_err_prefix(err, "node '%s' (%s) at %s: ", n->name, n->ops->name, n->where);
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
                                           .save = cel_save,
                                           .load = cel_load,
                                           .field_table = cel_field_table};
