/* Evaluation (train.h: rill_evaluate): a forward pass over every batch of a reader, the
 * scores kept per loss node for AUC, logloss and grouped AUC, and the per-frequency buckets of
 * the first task, their counts taken from the field's embedding rows or from one pass over a
 * reader (value_counts). The training loop (train.c) calls it for its periodic evaluations. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "eval.h"
#include "idmap.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

typedef struct {
    float *z, *y;
    size_t n, cap;
} scores;

static int scores_push(scores *s, const float *z, const float *y, int B)
{
    if (s->n + (size_t)B > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        while (cap < s->n + (size_t)B)
            cap *= 2;
        float *nz = realloc(s->z, cap * sizeof *nz);
        if (!nz)
            return RILL_ENOMEM;
        s->z = nz;
        float *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny)
            return RILL_ENOMEM;
        s->y = ny;
        s->cap = cap;
    }
    memcpy(s->z + s->n, z, (size_t)B * sizeof(float));
    memcpy(s->y + s->n, y, (size_t)B * sizeof(float));
    s->n += (size_t)B;
    return RILL_OK;
}

int rill_loss_nodes(rill_graph *g, rill_node **out, rill_err *err)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->out_kind == RILL_OUT_LOSS) {
            if (n == RILL_MAX_TASKS)
                return rill_errf(err, RILL_EINVAL, "at most %d loss nodes are supported",
                                 RILL_MAX_TASKS);
            out[n++] = g->nodes[i];
        }
    if (n == 0)
        return rill_errf(err, RILL_EINVAL,
                         "the graph has no loss node: end it with g:loss_bce{ tower_output }");
    return n;
}

/* Where a field's ids and their training counts are: the first embedding node reading an
 * ids input with that field (without a name: the field whose table has the most rows). */
typedef struct {
    const rill_node *ids;
    int field;
    rill_table *table;
} freq_src;

static int find_freq(rill_graph *g, const char *field, freq_src *src, rill_err *err)
{
    uint64_t best = 0;
    memset(src, 0, sizeof *src);
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *n = g->nodes[i];
        if (!n->ops->field_table)
            continue;
        int f0 = 0;
        for (int k = 0; k < n->nin; k++) {
            const rill_ids_layout *l = &n->in[k]->layout;
            for (int f = 0; f < l->F; f++) {
                rill_table *t = n->ops->field_table(n, f0 + f);
                bool pick = field[0] ? !src->ids && strcmp(l->field_names[f], field) == 0
                                     : t && rill_table_touched(t) > best;
                if (pick && t) {
                    src->ids = n->in[k];
                    src->field = f;
                    src->table = t;
                    best = rill_table_touched(t);
                }
            }
            f0 += l->F;
        }
    }
    if (!src->ids)
        return rill_errf(err, RILL_EINVAL,
                         field[0] ? "per-frequency evaluation: no embedding reads field '%s'"
                                  : "per-frequency evaluation: the graph has no embedding%s",
                         field);
    return RILL_OK;
}

/* How often each value of one categorical field occurs in some data: the id map gives a
 * value's index into count (in the order values were first seen). */
typedef struct {
    rill_idmap index;
    uint32_t *count;
    size_t cap;
} value_counts;

static int value_counts_add(value_counts *vc, uint64_t v)
{
    if (!vc->index.cap && rill_idmap_init(&vc->index, (size_t)1 << 15))
        return RILL_ENOMEM;
    if (rill_idmap_reserve(&vc->index, 1))
        return RILL_ENOMEM;
    bool added;
    uint32_t i = rill_idmap_intern(&vc->index, v, &added);
    if (i >= vc->cap) {
        size_t cap = vc->cap ? vc->cap * 2 : (size_t)1 << 15;
        uint32_t *c = realloc(vc->count, cap * sizeof *c);
        if (!c)
            return RILL_ENOMEM;
        vc->count = c;
        vc->cap = cap;
    }
    if (added)
        vc->count[i] = 0;
    if (vc->count[i] < UINT32_MAX)
        vc->count[i]++;
    return RILL_OK;
}

static uint64_t value_count(const value_counts *vc, uint64_t v)
{
    uint32_t i = rill_idmap_get(&vc->index, v);
    return i == RILL_IDMAP_EMPTY ? 0 : vc->count[i];
}

static void value_counts_free(value_counts *vc)
{
    rill_idmap_free(&vc->index);
    free(vc->count);
    memset(vc, 0, sizeof *vc);
}

static int schema_cat_index(const rill_schema *s, const char *field)
{
    for (int f = 0; f < s->ncat; f++)
        if (strcmp(s->cat_names[f], field) == 0)
            return f;
    return -1;
}

/* Counts the values of categorical field f (an example's first value) over the reader. */
static int count_values(rill_reader *r, int f, value_counts *vc, rill_err *err)
{
    int rc = rill_reader_start_epoch(r, 0, err), got;
    const rill_batch *b;
    while (!rc && (got = rill_reader_next(r, &b, err)) != 0) {
        if (got < 0)
            return got;
        for (int i = 0; i < b->B && !rc; i++)
            if (b->cat[f].off[i] < b->cat[f].off[i + 1] &&
                value_counts_add(vc, b->cat[f].val[b->cat[f].off[i]]))
                rc = rill_errf(err, RILL_ENOMEM, "out of memory counting field values");
    }
    return rc;
}

/* One evaluation's running state: every task's scores, the first task's per frequency
 * bucket, the examples' groups. */
typedef struct {
    rill_graph *g;
    rill_node *loss[RILL_MAX_TASKS];
    int nt;
    scores sc[RILL_MAX_TASKS], fsc[RILL_MAX_FREQ];
    uint64_t bounds[RILL_MAX_FREQ - 1];
    int nb;
    freq_src fs;            /* counting in the table: the embedding that reads the field */
    value_counts vc;        /* counting in data: the field's values */
    int data_field;         /* counting in data: the field's index in the schema, else -1 */
    uint64_t *groups;       /* the examples' groups, in score order (grouped AUC) */
    size_t ngroups, gcap;
    float *y;
} eval_run;

/* Where per-frequency counts come from, and the bucket bounds. */
static int eval_setup_freq(eval_run *E, const rill_freq_cfg *freq, rill_err *err)
{
    rill_graph *g = E->g;
    if (freq->count_from) {
        if (!freq->field[0] || (E->data_field = schema_cat_index(g->schema, freq->field)) < 0)
            return rill_errf(err, RILL_EINVAL,
                             "per-frequency evaluation counted in the training data needs a "
                             "categorical field of the data, got '%s'",
                             freq->field);
        int rc = count_values(freq->count_from, E->data_field, &E->vc, err);
        if (rc)
            return rc;
    }
    int rc = E->data_field >= 0 ? RILL_OK : find_freq(g, freq->field, &E->fs, err);
    if (rc)
        return rc;
    if (freq->nbounds > 0) {
        E->nb = freq->nbounds;
        memcpy(E->bounds, freq->bounds, (size_t)E->nb * sizeof E->bounds[0]);
    }
    return RILL_OK;
}

static int eval_keep_groups(eval_run *E, const rill_batch *b, rill_err *err)
{
    if (E->ngroups + (size_t)b->B > E->gcap) {
        size_t cap = E->gcap ? E->gcap * 2 : 65536;
        while (cap < E->ngroups + (size_t)b->B)
            cap *= 2;
        uint64_t *ng = realloc(E->groups, cap * sizeof *ng);
        if (!ng)
            return rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation groups");
        E->groups = ng;
        E->gcap = cap;
    }
    const rill_catcol *c = &b->cat[E->g->schema->group_field];
    for (int i = 0; i < b->B; i++) /* a missing group is a group of its own: 0 */
        E->groups[E->ngroups++] = c->off[i] < c->off[i + 1] ? c->val[c->off[i]] : 0;
    return RILL_OK;
}

/* How often training saw example i's value of the frequency field: counted in the data, or
 * the use count of its embedding row (its first id, when several). */
static uint64_t example_count(const eval_run *E, const rill_batch *b, int i)
{
    if (E->data_field >= 0) {
        const rill_catcol *c = &b->cat[E->data_field];
        return c->off[i] < c->off[i + 1] ? value_count(&E->vc, c->val[c->off[i]]) : 0;
    }
    const rill_node *ids = E->fs.ids;
    int F = ids->layout.F;
    uint32_t a = ids->ids.off[(size_t)i * F + E->fs.field];
    uint32_t e = ids->ids.off[(size_t)i * F + E->fs.field + 1];
    return a < e ? rill_table_count(E->fs.table, ids->ids.id[a]) : 0;
}

/* The batch's scores and labels for every task (y: task k's labels), and the first task's
 * by frequency bucket. */
static int eval_push_scores(eval_run *E, const rill_batch *b, rill_err *err)
{
    bool by_freq = E->data_field >= 0 || E->fs.ids;
    for (int k = 0; k < E->nt; k++) {
        int nl = b->schema->nlabels;
        const float *z = E->loss[k]->in[0]->out;
        for (int i = 0; i < b->B; i++)
            E->y[i] = b->labels[(size_t)i * nl + E->loss[k]->label];
        if (scores_push(&E->sc[k], z, E->y, b->B))
            return rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation scores");
        for (int i = 0; k == 0 && by_freq && i < b->B; i++) {
            uint64_t cnt = example_count(E, b, i);
            int bk = 0;
            while (bk < E->nb && cnt >= E->bounds[bk])
                bk++;
            if (scores_push(&E->fsc[bk], z + i, E->y + i, 1))
                return rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation scores");
        }
    }
    return RILL_OK;
}

static void write_predictions(const eval_run *E, int B, FILE *predictions)
{
    for (int i = 0; i < B; i++)
        for (int k = 0; k < E->nt; k++) {
            double z = E->loss[k]->in[0]->out[i];
            fprintf(predictions, "%.6g%c", 1.0 / (1.0 + exp(-z)), k == E->nt - 1 ? '\n' : '\t');
        }
}

/* Forward over one batch, scores kept, predictions written. */
static int eval_batch(eval_run *E, const rill_batch *b, rill_arena *arena, FILE *predictions,
                      rill_err *err)
{
    rill_arena_reset(arena);
    rill_step s = {.batch = b, .B = b->B, .training = false, .t = 0, .seed = E->g->seed,
                   .precision = E->g->precision, .arena = arena};
    int rc = rill_graph_forward(E->g, &s, NULL, err);
    if (rc)
        return rc;
    float *ny = realloc(E->y, (size_t)b->B * sizeof *ny);
    if (!ny)
        return rill_errf(err, RILL_ENOMEM, "out of memory in evaluation");
    E->y = ny;
    if (E->g->schema->has_group && (rc = eval_keep_groups(E, b, err)))
        return rc;
    if ((rc = eval_push_scores(E, b, err)))
        return rc;
    if (predictions)
        write_predictions(E, b->B, predictions);
    return RILL_OK;
}

static void task_metrics(const eval_run *E, int k, rill_task_metrics *m)
{
    const scores *sc = &E->sc[k];
    snprintf(m->task, sizeof m->task, "%s", E->loss[k]->name);
    snprintf(m->label, sizeof m->label, "%s", E->g->schema->label_names[E->loss[k]->label]);
    m->n = sc->n;
    m->auc = rill_auc(sc->z, sc->y, sc->n);
    m->logloss = rill_logloss_logit(sc->z, sc->y, sc->n);
    double pos = 0;
    for (size_t i = 0; i < sc->n; i++)
        pos += sc->y[i] > 0.5f;
    m->pos_rate = sc->n ? pos / (double)sc->n : (double)NAN;
    double p = 0;
    for (size_t i = 0; i < sc->n; i++)
        p += 1.0 / (1.0 + exp(-(double)sc->z[i]));
    m->mean_pred = sc->n ? p / (double)sc->n : (double)NAN;
    m->gauc = (double)NAN;
    if (E->groups && E->ngroups == sc->n) {
        size_t gn = 0;
        m->gauc = rill_gauc(sc->z, sc->y, E->groups, sc->n, &gn);
        m->groups = gn;
    }
}

static void eval_results(const eval_run *E, rill_eval_result *res)
{
    res->ntasks = E->nt;
    for (int k = 0; k < E->nt; k++)
        task_metrics(E, k, &res->task[k]);
    if (!E->fs.ids && E->data_field < 0)
        return;
    const rill_graph *g = E->g;
    snprintf(res->freq_field, sizeof res->freq_field, "%s",
             E->data_field >= 0 ? g->schema->cat_names[E->data_field]
                                : E->fs.ids->layout.field_names[E->fs.field]);
    res->nfreq = E->nb + 1;
    for (int k = 0; k <= E->nb; k++) {
        rill_freq_bucket *fb = &res->freq[k];
        const scores *f = &E->fsc[k];
        fb->lo = k ? E->bounds[k - 1] : 0;
        fb->hi = k < E->nb ? E->bounds[k] : UINT64_MAX;
        fb->n = f->n;
        fb->auc = rill_auc(f->z, f->y, f->n);
        fb->logloss = rill_logloss_logit(f->z, f->y, f->n);
    }
}

static void eval_free(eval_run *E)
{
    for (int k = 0; k < RILL_MAX_TASKS; k++) {
        free(E->sc[k].z);
        free(E->sc[k].y);
    }
    for (int k = 0; k < RILL_MAX_FREQ; k++) {
        free(E->fsc[k].z);
        free(E->fsc[k].y);
    }
    free(E->y);
    free(E->groups);
    value_counts_free(&E->vc);
}

int rill_evaluate(rill_graph *g, rill_reader *r, FILE *predictions, const rill_freq_cfg *freq,
                  rill_eval_result *res, rill_err *err)
{
    eval_run E = {.g = g, .bounds = {10, 1000}, .nb = 2, .data_field = -1};
    memset(res, 0, sizeof *res);
    if ((E.nt = rill_loss_nodes(g, E.loss, err)) < 0)
        return E.nt;
    int rc = freq ? eval_setup_freq(&E, freq, err) : RILL_OK;
    if (rc) {
        eval_free(&E);
        return rc;
    }
    double t0 = rill_now();
    bool recording = rill_sgemm_record(false); /* a benchmark counts training GEMMs only */
    rill_arena arena;
    rill_arena_init(&arena, 0);
    rc = rill_reader_start_epoch(r, 0, err);
    const rill_batch *b;
    int got;
    while (!rc && (got = rill_reader_next(r, &b, err)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        if ((rc = eval_batch(&E, b, &arena, predictions, err)))
            break;
        res->rows += (uint64_t)b->B;
    }
    if (!rc && predictions && ferror(predictions))
        rc = rill_errf(err, RILL_EIO, "writing predictions failed: %s", strerror(errno));
    if (!rc)
        eval_results(&E, res);
    res->seconds = rill_now() - t0;
    rill_sgemm_record(recording);
    eval_free(&E);
    rill_arena_free(&arena);
    return rc;
}
