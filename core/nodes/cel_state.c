/* CEL's checkpointed state (see node_embed_cel.c): the save and load ops, field by field
 * (blob.h), and the reader of the raw layout written before it (store format 3). */
#include "cel_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"

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

int rill_cel_save(rill_node *n, void **buf, size_t *len, rill_err *err)
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

/* The window's saved entries go through rill_cel_window_add, which grows its arrays and map;
 * they are copied out of the saved bytes first (unaligned there). */
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
        rc = rill_cel_window_add(st, w, wn, ids, cl, gr, oc);
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
    rill_cel_window_clear(w);
    w->occ.nuniq = 0;
    if (t->wn && install_window(st, w, t))
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    rill_cel_acc_clear(w);
    if (!rn)
        return RILL_OK;
    if (rill_cel_acc_reserve(st, w, rn))
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

int rill_cel_load(rill_node *n, const void *buf, size_t len, rill_err *err)
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
