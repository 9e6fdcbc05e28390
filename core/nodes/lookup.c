/* The embedding lookup shared by the embed node kinds (see lookup.h). */
#include "lookup.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "store.h"
#include "util.h"

struct table_work {
    /* fixed */
    int nfields;
    int *fields;           /* output field indexes using this table */
    const rill_node *src;  /* the ids input */
    int *src_field;        /* field index within src, per entry of fields */
    rill_table *table;
    /* this step */
    rill_lookup_occ occ;   /* the distinct rows and each occurrence's */
    float **rows;
    uint32_t *csr_off, *csr_occ; /* occurrences of each distinct row, in occurrence order */
    float *grad;
};


int rill_lookup_read_args(rill_node *n, rill_lookup_args *a, rill_err *err)
{
    static const char *const poolings[] = {"sum", "mean", NULL};
    int pooling, rc;
    bool has_optim;
    rill_args sub;
    long admit;
    memset(a, 0, sizeof *a);
    if (n->nin == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "needs an ids input (an encode node)");
    for (int i = 0; i < n->nin; i++)
        if (n->in[i]->out_kind != RILL_OUT_IDS)
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "input %d ('%s', %s) is not ids: %s takes encode_hash or "
                                  "encode_bucket outputs",
                                  i + 1, n->in[i]->name, n->in[i]->ops->name, n->ops->name);
    if ((rc = rill_args_enum(&n->args, "pooling", poolings, 0, &pooling, err)) ||
        (rc = rill_args_num(&n->args, "init", 0.05, 0.0, 100.0, &a->init, err)) ||
        (rc = rill_args_sub(&n->args, "optim", &sub, &has_optim, err)) ||
        (rc = rill_args_int(&n->args, "admit", 0, 0, 1 << 30, &admit, err)) ||
        (rc = rill_args_bool(&n->args, "prefill", false, &a->topts.prefill, err)) ||
        (rc = rill_args_int(&n->args, "evict_after", 0, 0, 1L << 40, &a->topts.evict_after, err)))
        return rc;
    a->topts.admit = (int)admit;
    a->mean = pooling == 1;
    a->opt = n->g->default_sparse;
    if (has_optim && (rc = rill_optim_parse(&sub, true, &a->opt, err)))
        return rc;
    return RILL_OK;
}

int rill_lookup_create(rill_node *n, rill_lookup *lk, int D, const rill_lookup_args *a,
                       const char *suffix, rill_err *err)
{
    int rc;
    memset(lk, 0, sizeof *lk);
    lk->D = D;
    lk->mean = a->mean;
    for (int i = 0; i < n->nin; i++) {
        lk->F += n->in[i]->layout.F;
        lk->ntables += n->in[i]->layout.ntables;
    }
    lk->t = calloc((size_t)lk->ntables, sizeof *lk->t);
    lk->slots = malloc((size_t)(lk->F ? lk->F : 1) * sizeof *lk->slots);
    lk->base = malloc((size_t)(lk->F ? lk->F : 1) * sizeof *lk->base);
    if (!lk->t || !lk->slots || !lk->base)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    for (int f = 0; f < lk->F; f++) {
        lk->slots[f] = 1;
        lk->base[f] = f;
    }
    lk->Fout = lk->F;
    int f0 = 0, t0 = 0;
    for (int i = 0; i < n->nin; i++) {
        const rill_ids_layout *l = &n->in[i]->layout;
        for (int t = 0; t < l->ntables; t++) {
            table_work *w = &lk->t[t0 + t];
            w->src = n->in[i];
            w->fields = calloc((size_t)l->F, sizeof *w->fields);
            w->src_field = calloc((size_t)l->F, sizeof *w->src_field);
            if (!w->fields || !w->src_field)
                return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
            for (int f = 0; f < l->F; f++)
                if (l->field_table[f] == t) {
                    w->fields[w->nfields] = f0 + f;
                    w->src_field[w->nfields++] = f;
                }
            char name[128];
            if (l->ntables == 1 && l->F > 1)
                snprintf(name, sizeof name, "%s%s", n->in[i]->name, suffix ? suffix : "");
            else
                snprintf(name, sizeof name, "%s%s", l->field_names[w->src_field[0]],
                         suffix ? suffix : "");
            if ((rc = rill_graph_table(n->g, n, name, l->table_rows[t], D, &a->opt, a->init,
                                       &a->topts, &w->table, err)))
                return rc;
        }
        f0 += l->F;
        t0 += l->ntables;
    }
    return RILL_OK;
}

int rill_lookup_set_slots(rill_lookup *lk, int f, int L)
{
    if (f < 0 || f >= lk->F || L < 1)
        return RILL_EINVAL;
    lk->slots[f] = L;
    lk->Fout = 0;
    for (int k = 0; k < lk->F; k++) {
        lk->base[k] = lk->Fout;
        lk->Fout += lk->slots[k];
    }
    return RILL_OK;
}

rill_table *rill_lookup_table_of_field(const rill_lookup *lk, int f)
{
    for (int t = 0; t < lk->ntables; t++)
        for (int k = 0; k < lk->t[t].nfields; k++)
            if (lk->t[t].fields[k] == f)
                return lk->t[t].table;
    return NULL;
}

rill_table **rill_lookup_table_slot(rill_lookup *lk, int t)
{
    return &lk->t[t].table;
}

void rill_lookup_prefetch(const rill_lookup *lk, int B)
{
    for (int t = 0; t < lk->ntables; t++) {
        const table_work *w = &lk->t[t];
        const rill_ids *ids = &w->src->ids;
        int Fs = w->src->layout.F;
        for (int k = 0; k < w->nfields; k++)
            for (int b = 0; b < B; b++) {
                size_t slot = (size_t)b * Fs + w->src_field[k];
                uint32_t a = ids->off[slot], e = ids->off[slot + 1];
                rill_table_prefetch(w->table, ids->id + a, e - a);
            }
    }
}

void rill_lookup_free(rill_lookup *lk)
{
    if (lk->t)
        for (int t = 0; t < lk->ntables; t++) {
            free(lk->t[t].fields);
            free(lk->t[t].src_field);
        }
    free(lk->t);
    free(lk->slots);
    free(lk->base);
    lk->t = NULL;
    lk->slots = lk->base = NULL;
}

size_t rill_lookup_count(const rill_node *src, const int *src_field, int nfields, int B,
                         size_t *map_cap)
{
    const rill_ids *ids = &src->ids;
    int Fs = src->layout.F;
    size_t nocc = 0;
    for (int k = 0; k < nfields; k++)
        for (int b = 0; b < B; b++) {
            size_t slot = (size_t)b * Fs + src_field[k];
            nocc += ids->off[slot + 1] - ids->off[slot];
        }
    size_t cap = 16;
    while (cap < 2 * nocc)
        cap *= 2;
    *map_cap = cap;
    return nocc;
}

int rill_lookup_plan(rill_node *n, rill_step *s, const rill_lookup_span *sp, rill_lookup_occ *o,
                     rill_err *err)
{
    o->nocc = rill_lookup_count(sp->src, sp->src_field, sp->nfields, s->B, &o->map_cap);
    o->nuniq = 0;
    size_t m = o->nocc ? o->nocc : 1;
    o->uniq_of = rill_node_alloc(n, s, m * sizeof(uint32_t), false, err);
    o->out = rill_node_alloc(n, s, m * sizeof(uint32_t), false, err);
    o->scale = rill_node_alloc(n, s, m * sizeof(float), false, err);
    o->uniq = rill_node_alloc(n, s, m * sizeof(uint64_t), false, err);
    o->map_keys = rill_node_alloc(n, s, o->map_cap * sizeof(uint64_t), false, err);
    o->map_vals = rill_node_alloc(n, s, o->map_cap * sizeof(uint32_t), false, err);
    if (!o->uniq_of || !o->out || !o->scale || !o->uniq || !o->map_keys || !o->map_vals)
        return err->code;
    return RILL_OK;
}

static rill_lookup_span span_of(const rill_lookup *st, const table_work *w)
{
    return (rill_lookup_span){.src = w->src, .src_field = w->src_field, .fields = w->fields,
                              .nfields = w->nfields, .Fout = st->Fout, .base = st->base,
                              .slots = st->slots, .mean = st->mean};
}

/* Plans a table's step: its occurrences and buffers from the arena (the arena is not
 * thread-safe, so this runs before the parallel part). */
static int plan_table(rill_node *n, rill_step *s, const rill_lookup *st, table_work *w,
                      rill_err *err)
{
    rill_lookup_span sp = span_of(st, w);
    if (rill_lookup_plan(n, s, &sp, &w->occ, err))
        return err->code;
    size_t m = w->occ.nocc ? w->occ.nocc : 1;
    w->rows = rill_node_alloc(n, s, m * sizeof(float *), false, err);
    w->csr_off = rill_node_alloc(n, s, (m + 1) * sizeof(uint32_t), false, err);
    w->csr_occ = rill_node_alloc(n, s, m * sizeof(uint32_t), false, err);
    w->grad = NULL;
    if (!w->rows || !w->csr_off || !w->csr_occ)
        return err->code;
    return RILL_OK;
}

typedef struct {
    rill_lookup *lk;
    rill_step *s;
    float *out;
    const float *dout;
    int failed;
    rill_err errs[64];
} embed_job;

void rill_lookup_dedupe(const rill_lookup_span *sp, int B, rill_lookup_occ *o)
{
    rill_idmap map;
    rill_idmap_over(&map, o->map_keys, o->map_vals, o->map_cap);
    const rill_ids *ids = &sp->src->ids;
    int Fs = sp->src->layout.F;
    size_t n = 0;
    for (int k = 0; k < sp->nfields; k++) {
        int f = sp->fields[k];
        int L = sp->slots ? sp->slots[f] : 1, base = sp->base ? sp->base[f] : f;
        for (int b = 0; b < B; b++) {
            size_t slot = (size_t)b * Fs + sp->src_field[k];
            uint32_t a = ids->off[slot], e = ids->off[slot + 1];
            uint32_t first = a; /* a sequence keeps its last L values, one slot each */
            if (L > 1 && e - a > (uint32_t)L)
                first = e - (uint32_t)L;
            int pad = L > 1 ? L - (int)(e - first) : 0;
            float scale = L == 1 && sp->mean && e > a ? 1.0f / (float)(e - a) : 1.0f;
            for (uint32_t i = first; i < e; i++, n++) {
                bool added;
                uint32_t u = rill_idmap_intern(&map, ids->id[i], &added);
                if (added)
                    o->uniq[u] = ids->id[i];
                o->uniq_of[n] = u;
                o->out[n] = (uint32_t)((size_t)b * sp->Fout + base +
                                       (L > 1 ? pad + (int)(i - first) : 0));
                o->scale[n] = scale;
            }
        }
    }
    o->nocc = n;
    o->nuniq = map.count;
}

static void forward_table(rill_lookup *st, table_work *w, rill_step *s, float *out,
                          rill_err *err, int *failed)
{
    int F = st->Fout, D = st->D;
    rill_lookup_span sp = span_of(st, w);
    rill_lookup_dedupe(&sp, s->B, &w->occ);
    size_t nu = w->occ.nuniq;
    if (s->training) {
        int rc = rill_table_lookup(w->table, w->occ.uniq, nu, w->rows, err);
        if (rc) {
            *failed = 1;
            return;
        }
    } else {
        for (size_t u = 0; u < nu; u++) {
            const float *row;
            if (rill_table_read(w->table, w->occ.uniq[u], &row, err)) {
                *failed = 1; /* a damaged row: no metrics from a model that read it */
                return;
            }
            w->rows[u] = (float *)row;
        }
    }
    /* pool: walked per (field, example) in the order rill_lookup_dedupe listed the
     * occurrences, so each output slot is written once (its first row copied, the rest added)
     * and only the slots no row reaches are zeroed */
    const rill_ids *ids = &sp.src->ids;
    int Fs = sp.src->layout.F;
    size_t i = 0, nocc = w->occ.nocc;
    for (int k = 0; k < w->nfields; k++) {
        int f = w->fields[k], L = st->slots[f];
        for (int b = 0; b < s->B; b++) {
            size_t slot = (size_t)b * Fs + w->src_field[k];
            uint32_t a = ids->off[slot], e = ids->off[slot + 1];
            uint32_t cnt = L > 1 && e - a > (uint32_t)L ? (uint32_t)L : e - a;
            float *dst = out + ((size_t)b * F + st->base[f]) * D;
            if (L > 1) { /* a sequence: left padding, then one slot per value */
                size_t pad = (size_t)L - cnt;
                memset(dst, 0, pad * D * sizeof(float));
                dst += pad * D;
            } else if (cnt == 0) {
                memset(dst, 0, (size_t)D * sizeof(float));
            }
            for (uint32_t c = 0; c < cnt; c++, i++) {
                /* rows are scattered over a large table: ask for a later one while adding
                 * this one */
                if (i + 16 < nocc) {
                    const float *ahead = w->rows[w->occ.uniq_of[i + 16]];
                    if (ahead)
                        __builtin_prefetch(ahead);
                }
                const float *row = w->rows[w->occ.uniq_of[i]];
                float sc = w->occ.scale[i];
                float *o = L > 1 ? dst + (size_t)c * D : dst;
                if (!row) { /* not admitted (yet): adds nothing */
                    if (L > 1 || c == 0)
                        memset(o, 0, (size_t)D * sizeof(float));
                } else if (L == 1 && c > 0) {
                    for (int d = 0; d < D; d++)
                        o[d] += sc * row[d];
                } else {
                    for (int d = 0; d < D; d++)
                        o[d] = 0.0f + sc * row[d]; /* as 0 + row: no -0 */
                }
            }
        }
    }
}

static void forward_part(void *ctx, size_t t0, size_t t1, int worker)
{
    embed_job *j = ctx;
    rill_lookup *st = j->lk;
    for (size_t t = t0; t < t1; t++)
        forward_table(st, &st->t[t], j->s, j->out, &j->errs[worker], &j->failed);
}

int rill_lookup_forward(rill_node *n, rill_step *s, rill_lookup *st, float *out, rill_err *err)
{
    int rc;
    for (int t = 0; t < st->ntables; t++)
        if ((rc = plan_table(n, s, st, &st->t[t], err)))
            return rc;
    embed_job j = {.lk = st, .s = s, .out = out};
    rill_parallel_each((size_t)st->ntables, forward_part, &j);
    return j.failed ? rill_lookup_job_err(n, j.errs, (int)(sizeof j.errs / sizeof j.errs[0]), err) : RILL_OK;
}

int rill_lookup_job_err(const rill_node *n, const rill_err *errs, int nerrs, rill_err *err)
{
    for (int i = 0; i < nerrs; i++)
        if (errs[i].code) {
            *err = errs[i];
            return rill_err_prefix(err, "node '%s' (%s) at %s: ", n->name, n->ops->name,
                                   n->where);
        }
    return rill_node_errf(n, RILL_ESTORE, err, "table lookup failed");
}

static void backward_table(rill_lookup *st, table_work *w, const float *dout)
{
    int D = st->D;
    size_t nu = w->occ.nuniq;
    /* occurrences grouped by distinct row (counting sort keeps occurrence order) */
    memset(w->csr_off, 0, (nu + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < w->occ.nocc; i++)
        w->csr_off[w->occ.uniq_of[i] + 1]++;
    for (size_t u = 0; u < nu; u++)
        w->csr_off[u + 1] += w->csr_off[u];
    for (size_t i = 0; i < w->occ.nocc; i++)
        w->csr_occ[w->csr_off[w->occ.uniq_of[i]]++] = (uint32_t)i;
    for (size_t u = nu; u > 0; u--)
        w->csr_off[u] = w->csr_off[u - 1];
    w->csr_off[0] = 0;
    memset(w->grad, 0, nu * (size_t)D * sizeof(float));
    for (size_t u = 0; u < nu; u++) {
        float *g = w->grad + u * (size_t)D;
        for (uint32_t k = w->csr_off[u]; k < w->csr_off[u + 1]; k++) {
            uint32_t i = w->csr_occ[k];
            const float *src = dout + (size_t)w->occ.out[i] * D;
            float sc = w->occ.scale[i];
            for (int d = 0; d < D; d++)
                g[d] += sc * src[d];
        }
    }
    rill_table_stage(w->table, nu, w->occ.uniq, w->rows, w->grad);
}

static void backward_part(void *ctx, size_t t0, size_t t1, int worker)
{
    embed_job *j = ctx;
    rill_lookup *st = j->lk;
    (void)worker;
    for (size_t t = t0; t < t1; t++)
        backward_table(st, &st->t[t], j->dout);
}

int rill_lookup_backward(rill_node *n, rill_step *s, rill_lookup *st, const float *dout,
                         rill_err *err)
{
    if (!s->training)
        return RILL_OK;
    for (int t = 0; t < st->ntables; t++) {
        table_work *w = &st->t[t];
        w->grad = rill_node_alloc(n, s, (w->occ.nuniq ? w->occ.nuniq : 1) * (size_t)st->D * sizeof(float),
                                  false, err);
        if (!w->grad)
            return err->code;
    }
    embed_job j = {.lk = st, .s = s, .dout = dout};
    rill_parallel_each((size_t)st->ntables, backward_part, &j);
    return RILL_OK;
}

