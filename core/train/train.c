#include "train.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/types.h>

#include "blas.h"
#include "checkpoint.h"
#include "metrics.h"
#include "run_state.h"
#include "store.h"
#include "util.h"

double rill_schedule_scale(const rill_schedule *s, uint64_t t)
{
    double scale = 1.0;
    if (s->warmup > 0 && t <= (uint64_t)s->warmup)
        return (double)t / (double)s->warmup;
    long start = s->decay_start > 0 ? s->decay_start : s->warmup;
    if (s->decay == RILL_DECAY_NONE || (long)t <= start)
        return scale;
    double k = (double)((long)t - start);
    double span = s->decay_steps > 0 ? (double)s->decay_steps : 1.0;
    switch (s->decay) {
    case RILL_DECAY_LINEAR: scale = 1.0 - (1.0 - s->min_scale) * fmin(1.0, k / span); break;
    case RILL_DECAY_COSINE:
        scale = s->min_scale + (1.0 - s->min_scale) * 0.5 * (1.0 + cos(M_PI * fmin(1.0, k / span)));
        break;
    case RILL_DECAY_EXP: scale = fmax(s->min_scale, pow(0.5, k / span)); break;
    default: break;
    }
    return scale;
}

/* ---- evaluation ---- */

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

static int loss_nodes(rill_graph *g, rill_node **out, rill_err *err)
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

/* How often each value of one categorical field occurs in some data: open addressing over
 * the values (their 64-bit hashes), doubling at half full. */
typedef struct {
    uint64_t *key;
    uint32_t *count; /* 0: empty */
    size_t cap, n;
} value_counts;

static size_t value_slot(const value_counts *vc, uint64_t v)
{
    size_t mask = vc->cap - 1, h = (size_t)rill_mix64(v) & mask;
    while (vc->count[h] && vc->key[h] != v)
        h = (h + 1) & mask;
    return h;
}

static int value_counts_add(value_counts *vc, uint64_t v)
{
    if ((vc->n + 1) * 2 > vc->cap) {
        value_counts grown = {.cap = vc->cap ? vc->cap * 2 : 1u << 16};
        grown.key = malloc(grown.cap * sizeof *grown.key);
        grown.count = calloc(grown.cap, sizeof *grown.count);
        if (!grown.key || !grown.count) {
            free(grown.key);
            free(grown.count);
            return RILL_ENOMEM;
        }
        for (size_t i = 0; i < vc->cap; i++)
            if (vc->count[i]) {
                size_t h = value_slot(&grown, vc->key[i]);
                grown.key[h] = vc->key[i];
                grown.count[h] = vc->count[i];
            }
        grown.n = vc->n;
        free(vc->key);
        free(vc->count);
        *vc = grown;
    }
    size_t h = value_slot(vc, v);
    if (!vc->count[h]) {
        vc->key[h] = v;
        vc->n++;
    }
    if (vc->count[h] < UINT32_MAX)
        vc->count[h]++;
    return RILL_OK;
}

static uint64_t value_count(const value_counts *vc, uint64_t v)
{
    if (!vc->cap)
        return 0;
    return vc->count[value_slot(vc, v)];
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

int rill_evaluate(rill_graph *g, rill_reader *r, FILE *predictions, const rill_freq_cfg *freq,
                  rill_eval_result *res, rill_err *err)
{
    rill_node *loss[RILL_MAX_TASKS];
    scores sc[RILL_MAX_TASKS];
    memset(res, 0, sizeof *res);
    memset(sc, 0, sizeof sc);
    int nt = loss_nodes(g, loss, err);
    if (nt < 0)
        return nt;
    freq_src fs = {0};
    uint64_t bounds[RILL_MAX_FREQ - 1] = {10, 1000};
    int nb = 2;
    scores fsc[RILL_MAX_FREQ];
    memset(fsc, 0, sizeof fsc);
    uint64_t *groups = NULL; /* the examples' groups, in score order (grouped AUC) */
    size_t ngroups = 0, gcap = 0;
    value_counts vc = {0};
    int data_field = -1; /* counting in data: the field's index in the schema */
    if (freq && freq->count_from) {
        if (!freq->field[0] || (data_field = schema_cat_index(g->schema, freq->field)) < 0)
            return rill_errf(err, RILL_EINVAL,
                             "per-frequency evaluation counted in the training data needs a "
                             "categorical field of the data, got '%s'",
                             freq->field);
        int frc = count_values(freq->count_from, data_field, &vc, err);
        if (frc) {
            free(vc.key);
            free(vc.count);
            return frc;
        }
    }
    if (freq) {
        int frc = data_field >= 0 ? RILL_OK : find_freq(g, freq->field, &fs, err);
        if (frc)
            return frc;
        if (freq->nbounds > 0) {
            nb = freq->nbounds;
            memcpy(bounds, freq->bounds, (size_t)nb * sizeof bounds[0]);
        }
    }
    double t0 = rill_now();
    bool recording = rill_sgemm_record(false); /* a benchmark counts training GEMMs only */
    rill_arena arena;
    rill_arena_init(&arena, 0);
    float *y = NULL;
    int rc = rill_reader_start_epoch(r, 0, err);
    const rill_batch *b;
    int got;
    while (!rc && (got = rill_reader_next(r, &b, err)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        rill_arena_reset(&arena);
        rill_step s = {.batch = b, .B = b->B, .training = false, .t = 0, .seed = g->seed,
                       .arena = &arena};
        if ((rc = rill_graph_forward(g, &s, NULL, err)))
            break;
        float *ny = realloc(y, (size_t)b->B * sizeof *y);
        if (!ny) {
            rc = rill_errf(err, RILL_ENOMEM, "out of memory in evaluation");
            break;
        }
        y = ny;
        if (g->schema->has_group && !rc) {
            if (ngroups + (size_t)b->B > gcap) {
                size_t cap = gcap ? gcap * 2 : 65536;
                while (cap < ngroups + (size_t)b->B)
                    cap *= 2;
                uint64_t *ng = realloc(groups, cap * sizeof *ng);
                if (!ng) {
                    rc = rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation groups");
                    break;
                }
                groups = ng;
                gcap = cap;
            }
            const rill_catcol *c = &b->cat[g->schema->group_field];
            for (int i = 0; i < b->B; i++) /* a missing group is a group of its own: 0 */
                groups[ngroups++] = c->off[i] < c->off[i + 1] ? c->val[c->off[i]] : 0;
        }
        for (int k = 0; k < nt && !rc; k++) {
            int nl = b->schema->nlabels;
            for (int i = 0; i < b->B; i++)
                y[i] = b->labels[(size_t)i * nl + loss[k]->label];
            if (scores_push(&sc[k], loss[k]->in[0]->out, y, b->B))
                rc = rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation scores");
            if (k == 0 && data_field >= 0 && !rc)
                for (int i = 0; i < b->B && !rc; i++) {
                    const rill_catcol *c = &b->cat[data_field];
                    uint64_t cnt = c->off[i] < c->off[i + 1] ? value_count(&vc, c->val[c->off[i]])
                                                             : 0;
                    int bk = 0;
                    while (bk < nb && cnt >= bounds[bk])
                        bk++;
                    if (scores_push(&fsc[bk], loss[0]->in[0]->out + i, y + i, 1))
                        rc = rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation scores");
                }
            if (k == 0 && fs.ids && !rc)
                for (int i = 0; i < b->B && !rc; i++) {
                    /* the example's id of the field (its first, when several) */
                    int F = fs.ids->layout.F;
                    uint32_t a = fs.ids->ids.off[(size_t)i * F + fs.field];
                    uint32_t e = fs.ids->ids.off[(size_t)i * F + fs.field + 1];
                    uint64_t cnt = a < e ? rill_table_count(fs.table, fs.ids->ids.id[a]) : 0;
                    int bk = 0;
                    while (bk < nb && cnt >= bounds[bk])
                        bk++;
                    if (scores_push(&fsc[bk], loss[0]->in[0]->out + i, y + i, 1))
                        rc = rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation scores");
                }
        }
        if (!rc && predictions)
            for (int i = 0; i < b->B; i++)
                for (int k = 0; k < nt; k++) {
                    double z = loss[k]->in[0]->out[i];
                    fprintf(predictions, "%.6g%c", 1.0 / (1.0 + exp(-z)), k == nt - 1 ? '\n' : '\t');
                }
        res->rows += (uint64_t)b->B;
    }
    if (!rc && predictions && ferror(predictions))
        rc = rill_errf(err, RILL_EIO, "writing predictions failed: %s", strerror(errno));
    if (!rc) {
        res->ntasks = nt;
        for (int k = 0; k < nt; k++) {
            rill_task_metrics *m = &res->task[k];
            snprintf(m->task, sizeof m->task, "%s", loss[k]->name);
            snprintf(m->label, sizeof m->label, "%s", g->schema->label_names[loss[k]->label]);
            m->n = sc[k].n;
            m->auc = rill_auc(sc[k].z, sc[k].y, sc[k].n);
            m->logloss = rill_logloss_logit(sc[k].z, sc[k].y, sc[k].n);
            double pos = 0;
            for (size_t i = 0; i < sc[k].n; i++)
                pos += sc[k].y[i] > 0.5f;
            m->pos_rate = sc[k].n ? pos / (double)sc[k].n : (double)NAN;
            double p = 0;
            for (size_t i = 0; i < sc[k].n; i++)
                p += 1.0 / (1.0 + exp(-(double)sc[k].z[i]));
            m->mean_pred = sc[k].n ? p / (double)sc[k].n : (double)NAN;
            m->gauc = (double)NAN;
            if (groups && ngroups == sc[k].n) {
                size_t gn = 0;
                m->gauc = rill_gauc(sc[k].z, sc[k].y, groups, sc[k].n, &gn);
                m->groups = gn;
            }
        }
        if (fs.ids || data_field >= 0) {
            snprintf(res->freq_field, sizeof res->freq_field, "%s",
                     data_field >= 0 ? g->schema->cat_names[data_field]
                                     : fs.ids->layout.field_names[fs.field]);
            res->nfreq = nb + 1;
            for (int k = 0; k <= nb; k++) {
                rill_freq_bucket *fb = &res->freq[k];
                fb->lo = k ? bounds[k - 1] : 0;
                fb->hi = k < nb ? bounds[k] : UINT64_MAX;
                fb->n = fsc[k].n;
                fb->auc = rill_auc(fsc[k].z, fsc[k].y, fsc[k].n);
                fb->logloss = rill_logloss_logit(fsc[k].z, fsc[k].y, fsc[k].n);
            }
        }
    }
    res->seconds = rill_now() - t0;
    rill_sgemm_record(recording);
    for (int k = 0; k < RILL_MAX_TASKS; k++) {
        free(sc[k].z);
        free(sc[k].y);
    }
    for (int k = 0; k < RILL_MAX_FREQ; k++) {
        free(fsc[k].z);
        free(fsc[k].y);
    }
    free(y);
    free(groups);
    free(vc.key);
    free(vc.count);
    rill_arena_free(&arena);
    return rc;
}

/* ---- training ---- */

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.6g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static void log_eval(FILE *f, uint64_t step, uint64_t epoch, const char *split,
                     const rill_eval_result *e)
{
    if (!f)
        return;
    for (int k = 0; k < e->ntasks; k++) {
        fprintf(f, "{\"step\":%llu,\"epoch\":%llu,\"split\":\"%s\",\"task\":\"%s\"",
                (unsigned long long)step, (unsigned long long)epoch, split, e->task[k].task);
        json_num(f, "auc", e->task[k].auc);
        json_num(f, "logloss", e->task[k].logloss);
        json_num(f, "mean_pred", e->task[k].mean_pred);
        if (!isnan(e->task[k].gauc))
            json_num(f, "gauc", e->task[k].gauc);
        fprintf(f, ",\"rows\":%llu}\n", (unsigned long long)e->task[k].n);
    }
    fflush(f);
}

static void fmt_time(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "--");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

typedef struct {
    const rill_train_cfg *cfg;
    bool tty;
    double t_start, t_last;
    uint64_t total_steps;
    const double *eval_s; /* time spent evaluating, left out of the rate */
} progress;

static void show_progress(progress *p, uint64_t epoch, uint64_t t, uint64_t examples,
                          double loss, double auc, bool final)
{
    if (!p->cfg->progress)
        return;
    double now = rill_now();
    if (!final && now - p->t_last < (p->tty ? 0.5 : 10.0))
        return;
    p->t_last = now;
    double el = now - p->t_start, tr = el - *p->eval_s;
    double rate = tr > 0 ? (double)examples / tr : 0;
    double eta = p->total_steps && t ? el * ((double)p->total_steps / (double)t - 1.0) : (double)NAN;
    char e1[32], e2[32], a[32] = "";
    fmt_time(e1, sizeof e1, el);
    fmt_time(e2, sizeof e2, eta);
    if (isfinite(auc))
        snprintf(a, sizeof a, "  valid auc %.4f", auc);
    fprintf(stderr, "%sepoch %llu  step %llu", p->tty ? "\r\033[K" : "",
            (unsigned long long)epoch + 1, (unsigned long long)t);
    if (p->total_steps)
        fprintf(stderr, "/%llu", (unsigned long long)p->total_steps);
    fprintf(stderr, "  %.0f ex/s  loss %.4f%s  %s  eta %s%s", rate, loss, a, e1, e2,
            p->tty && !final ? "" : "\n");
    fflush(stderr);
}

static void print_eval(const rill_train_cfg *cfg, const rill_eval_result *e, bool tty)
{
    if (!cfg->progress)
        return;
    for (int k = 0; k < e->ntasks; k++) {
        char gauc[64] = "";
        if (!isnan(e->task[k].gauc))
            snprintf(gauc, sizeof gauc, "  gauc %.5f", e->task[k].gauc);
        fprintf(stderr, "%svalid %s (%s): auc %.5f%s  logloss %.5f  (%llu rows)\n",
                tty ? "\r\033[K" : "", e->task[k].task, e->task[k].label, e->task[k].auc, gauc,
                e->task[k].logloss, (unsigned long long)e->task[k].n);
    }
}

typedef struct loop {
    rill_graph *g;
    const rill_train_cfg *cfg;
    rill_reader *valid;
    rill_train_result *res;
    FILE *metrics, *timing;
    progress pg;
    rill_run_state st;
    bool stop;
    uint64_t ckpt_step;     /* the step of the last checkpoint written (or resumed from) */
    bool has_ckpt;
    double min_ema;         /* the lowest smoothed loss so far, for divergence */
    uint64_t steps_run;     /* steps this process ran */
} loop;

/* Interest entanglement: each task's gradient on each embedding table, taken by a backward
 * pass of that task's loss alone over the step's forward (no update; the step's own backward
 * follows and replaces what the probes staged), then per table every task's gradient norm and
 * every pair's cosine. One metrics.jsonl line per table:
 *   {"step":T,"split":"entanglement","table":"NAME","tasks":[...],"norm":[...],"cos":[...]}
 * with cos over the pairs (0,1), (0,2), ..., (1,2), ...; null where a task's gradient is 0
 * (its loss does not reach the table) or not finite. */
static int probe_entanglement(loop *L, rill_node **loss, int nt, const rill_step *step,
                              rill_err *err)
{
    rill_step probe = *step, *s = &probe;
    rill_graph *g = L->g;
    size_t *nrows = rill_arena_zalloc(s->arena, (size_t)g->ntables * sizeof *nrows);
    float **grads = rill_arena_zalloc(s->arena, (size_t)(nt * g->ntables) * sizeof *grads);
    if (!nrows || !grads)
        return rill_errf(err, RILL_ENOMEM, "out of memory probing the tasks' gradients");
    int rc = RILL_OK;
    for (int k = 0; k < nt && !rc; k++) {
        probe.only_loss = loss[k];
        rc = rill_graph_backward(g, s, err);
        for (int i = 0; i < g->ntables && !rc; i++) {
            float *const *rows;
            const float *grad;
            size_t n;
            rill_table_staged(g->tables[i], &n, &rows, &grad);
            size_t D = (size_t)rill_table_dim(g->tables[i]);
            float *copy = rill_arena_zalloc(s->arena, (n ? n : 1) * D * sizeof(float));
            if (!copy) {
                rc = rill_errf(err, RILL_ENOMEM, "out of memory probing the tasks' gradients");
                break;
            }
            /* the same batch stages the same rows in the same order for every task */
            for (size_t r = 0; r < n; r++)
                if (rows[r])
                    memcpy(copy + r * D, grad + r * D, D * sizeof(float));
            nrows[i] = n;
            grads[k * g->ntables + i] = copy;
        }
    }
    if (rc)
        return rc;
    for (int i = 0; i < g->ntables; i++) {
        if (rill_table_optim(g->tables[i])->kind == RILL_OPT_NONE)
            continue; /* not trained (CEL's assignments) */
        size_t len = nrows[i] * (size_t)rill_table_dim(g->tables[i]);
        double norm[RILL_MAX_TASKS];
        FILE *f = L->metrics;
        fprintf(f, "{\"step\":%llu,\"epoch\":%d,\"split\":\"entanglement\",\"table\":\"%s\","
                   "\"tasks\":[",
                (unsigned long long)L->st.step, L->st.epoch, rill_table_name(g->tables[i]));
        for (int k = 0; k < nt; k++) {
            const float *a = grads[k * g->ntables + i];
            double sq = 0;
            for (size_t j = 0; j < len; j++)
                sq += (double)a[j] * (double)a[j];
            norm[k] = sqrt(sq);
            fprintf(f, "%s\"%s\"", k ? "," : "", loss[k]->name);
        }
        fprintf(f, "],\"norm\":[");
        for (int k = 0; k < nt; k++)
            fprintf(f, isfinite(norm[k]) ? "%s%.6g" : "%snull", k ? "," : "", norm[k]);
        fprintf(f, "],\"cos\":[");
        int pair = 0;
        for (int a = 0; a < nt; a++)
            for (int b = a + 1; b < nt; b++) {
                const float *x = grads[a * g->ntables + i], *y = grads[b * g->ntables + i];
                double dot = 0;
                for (size_t j = 0; j < len; j++)
                    dot += (double)x[j] * (double)y[j];
                double cs = norm[a] > 0 && norm[b] > 0 ? dot / (norm[a] * norm[b]) : (double)NAN;
                if (isfinite(cs))
                    fprintf(f, "%s%.6g", pair++ ? "," : "", cs);
                else
                    fprintf(f, "%snull", pair++ ? "," : "");
            }
        fprintf(f, "]}\n");
    }
    return RILL_OK;
}

/* A non-finite loss, or a step loss far above the lowest smoothed loss so far (a learning rate
 * of 1e6 drives BCE to 1e24 with finite values and AUC 0.5), ends training with an error that
 * names the node where the values first blew up, in forward order. */
static int check_divergence(loop *L, rill_step *s, double l, uint64_t t, int epoch, rill_err *err)
{
    double factor = L->cfg->diverge == 0 ? 100.0 : L->cfg->diverge;
    bool finite = isfinite(l);
    uint64_t seen = ++L->steps_run; /* of this process: a resumed run starts over */
    if (finite && (factor < 0 || seen <= 5 || !(L->min_ema > 0) || l <= factor * L->min_ema)) {
        if (L->st.ema_w > 0) { /* the smoothed loss before this step's */
            double ema = L->st.ema / L->st.ema_w;
            if (!(L->min_ema > 0) || ema < L->min_ema)
                L->min_ema = ema;
        }
        return RILL_OK;
    }
    double worst;
    rill_node *n = rill_graph_first_blowup(L->g, s->B, 1e6, &worst);
    char where[700] = "", val[64];
    if (isfinite(worst))
        snprintf(val, sizeof val, "largest |value| %g", worst);
    else
        snprintf(val, sizeof val, "%s", isnan(worst) ? "a NaN" : "an infinite value");
    if (n)
        snprintf(where, sizeof where, "; the values first blow up in node '%s' (%s) at %s (%s)",
                 n->name, n->ops->name, n->where, val);
    char why[160];
    if (finite)
        snprintf(why, sizeof why, "%g, over %g times the lowest smoothed loss so far (%g)", l,
                 factor, L->min_ema);
    else
        snprintf(why, sizeof why, "%s", isnan(l) ? "not a number" : "infinite");
    return rill_errf(err, RILL_EINVAL,
                     "training diverged at step %llu (epoch %d): the loss is %s%s; lower the "
                     "learning rate or set clip_norm",
                     (unsigned long long)t, epoch + 1, why, where);
}

static int checkpoint(loop *L, rill_err *err);

/* One evaluation during training: log it, keep the best, count towards early stopping.
 * *improved says whether it is the best so far (the caller keeps a copy of the model once
 * the loop's state says this evaluation is done, so that a resumed run does not repeat it). */
static int eval_and_track(loop *L, bool *improved, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    rill_train_result *res = L->res;
    rill_eval_result e;
    *improved = false;
    int rc = rill_evaluate(L->g, L->valid, NULL, NULL, &e, err);
    if (rc)
        return rc;
    res->eval_seconds += e.seconds;
    res->last = e;
    L->st.last = e;
    print_eval(cfg, &e, L->pg.tty);
    log_eval(L->metrics, L->st.step, (uint64_t)L->st.epoch, "valid", &e);
    if (e.task[0].auc > L->st.best.task[0].auc + cfg->min_delta || L->st.best_step == 0) {
        L->st.best = e;
        L->st.best_step = L->st.step;
        L->st.since_best = 0;
        *improved = true;
    } else if (cfg->patience > 0 && ++L->st.since_best >= cfg->patience) {
        L->st.early_stopped = 1;
        L->stop = true;
    }
    return RILL_OK;
}

static int checkpoint(loop *L, rill_err *err);

/* With early stopping, the model at the best evaluation is kept: a checkpoint, copied to
 * RUN/best. A run resumed from that checkpoint copies it again (the copy may not have been
 * made when the run was killed). */
static int keep_best(loop *L, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    if (cfg->patience <= 0 || !cfg->store || !cfg->run_dir)
        return RILL_OK;
    char dir[4200];
    int rc = checkpoint(L, err);
    snprintf(dir, sizeof dir, "%s/best", cfg->run_dir);
    return rc ? rc : rill_store_copy(cfg->store, dir, err);
}

/* A log line lost to a full disk must not pass unnoticed: the logs are flushed and checked
 * before every checkpoint (whose state records how far they reach) and at the end. */
static int check_log(FILE *f, const char *dir, const char *name, rill_err *err)
{
    if (!f || (fflush(f) == 0 && !ferror(f)))
        return RILL_OK;
    int e = errno;
    bool full = e == ENOSPC || e == EDQUOT;
    return rill_errf(err, full ? RILL_ENOSPC : RILL_EIO, "%s/%s: cannot write: %s%s",
                     dir ? dir : ".", name, strerror(e), full ? ": the disk is full" : "");
}

/* A full disk (a checkpoint, a spill of evicted rows, a log) leaves the previous checkpoint
 * whole, since a failed transaction changes nothing: say so, and how to go on. */
static void note_disk_full(const loop *L, rill_err *err)
{
    size_t len = strlen(err->msg);
    if (L->cfg->store && L->has_ckpt)
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; the last checkpoint (step %llu) is intact: free space and run rill resume %s",
                 (unsigned long long)L->ckpt_step, rill_store_dir(L->cfg->store));
    else
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; no checkpoint had been written yet: free space and train again");
}

static int checkpoint(loop *L, rill_err *err)
{
    if (!L->cfg->store)
        return RILL_OK;
    int rc = check_log(L->metrics, L->cfg->run_dir, "metrics.jsonl", err);
    if (!rc)
        rc = check_log(L->timing, L->cfg->run_dir, "timing.jsonl", err);
    if (!rc && L->metrics) {
        long off = ftell(L->metrics);
        L->st.metrics_bytes = off > 0 ? (uint64_t)off : 0;
    }
    void *state = NULL;
    size_t len = 0;
    if (!rc && !(rc = rill_run_state_save(&L->st, &state, &len, err)))
        rc = rill_checkpoint_write(L->cfg->store, L->g, state, len, err);
    free(state);
    if (!rc) {
        L->ckpt_step = L->st.step;
        L->has_ckpt = true;
    }
    return rc;
}

static int open_logs(loop *L, bool resume, rill_err *err)
{
    char path[4200];
    const char *dir = L->cfg->run_dir;
    if (!dir)
        return RILL_OK;
    int rc = rill_mkdir_p(dir, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (resume) {
        /* what was logged after the checkpoint is logged again by the resumed steps */
        if (truncate(path, (off_t)L->st.metrics_bytes) != 0 && errno != ENOENT)
            return rill_errf(err, RILL_EIO, "%s: cannot cut back to the checkpoint: %s", path,
                             strerror(errno));
        L->metrics = fopen(path, "a");
    } else {
        L->metrics = fopen(path, "w");
    }
    if (!L->metrics)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/timing.jsonl", dir);
    L->timing = fopen(path, resume ? "a" : "w");
    if (!L->timing)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", path, strerror(errno));
    return RILL_OK;
}

int rill_train(rill_graph *g, const rill_train_cfg *cfg, rill_reader *train,
               rill_reader *valid, rill_train_result *res, rill_err *err)
{
    rill_node *loss[RILL_MAX_TASKS];
    memset(res, 0, sizeof *res);
    int nt = loss_nodes(g, loss, err), rc = RILL_OK;
    if (nt < 0)
        return nt;
    if (!g->built && (rc = rill_graph_build(g, cfg->seed, err)))
        return rc;
    loop L = {.g = g, .cfg = cfg, .valid = valid, .res = res};
    L.st.best.task[0].auc = -INFINITY;
    bool resume = false;
    if (cfg->resume) {
        void *blob = NULL;
        size_t len = 0;
        if (!cfg->store)
            return rill_errf(err, RILL_EINVAL, "resuming needs the run's store");
        rc = rill_checkpoint_read(cfg->store, g, &blob, &len, err);
        if (rc == RILL_EOF) {
            rc = RILL_OK; /* killed before its first checkpoint: start from the beginning */
            goto fresh;
        }
        if (rc)
            return rc;
        rc = rill_run_state_load(&L.st, blob, len, err);
        free(blob);
        if (rc)
            return rill_err_prefix(err, "%s: ", rill_store_dir(cfg->store));
        resume = true;
        L.ckpt_step = L.st.step;
        L.has_ckpt = true;
    }
fresh:
    if ((rc = open_logs(&L, resume, err)))
        goto out;
    if (resume && L.st.best_step == L.st.step && L.st.best_step > 0 && cfg->patience > 0 &&
        cfg->run_dir) {
        /* the checkpoint resumed from was written for the best evaluation; the copy of it
         * may not have been made before the run stopped */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/best", cfg->run_dir);
        if ((rc = rill_store_copy(cfg->store, dir, err)))
            goto out;
    }
    rill_arena arena;
    rill_arena_init(&arena, 0);
    L.pg = (progress){.cfg = cfg, .tty = isatty(2), .t_start = rill_now(),
                      .eval_s = &res->eval_seconds};
    uint64_t rows = rill_reader_rows(train), examples0 = L.st.examples;
    double loss_avg = L.st.ema_w > 0 ? L.st.ema / L.st.ema_w : (double)NAN;
    double last_auc = L.st.last.ntasks ? L.st.last.task[0].auc : (double)NAN;
    int start_epoch = resume ? L.st.epoch + (L.st.epoch_done ? 1 : 0) : 0;
    if (L.st.finished)
        start_epoch = cfg->epochs; /* nothing left to do */
    for (int epoch = start_epoch; epoch < cfg->epochs && !L.stop; epoch++) {
        bool mid_epoch = resume && epoch == L.st.epoch && !L.st.epoch_done && L.st.has_pos;
        if ((rc = rill_reader_start_epoch(train, (uint64_t)epoch, err)) ||
            (mid_epoch && (rc = rill_reader_seek(train, &L.st.pos, err))))
            break;
        L.st.epoch = epoch;
        L.st.epoch_done = 0;
        const rill_batch *b;
        int got;
        while ((got = rill_reader_next(train, &b, err)) != 0) {
            if (got < 0) {
                rc = got;
                break;
            }
            if (L.pg.total_steps == 0 && b->B > 0) {
                uint64_t per = (rows + (uint64_t)b->B - 1) / (uint64_t)b->B;
                L.pg.total_steps = per * (uint64_t)cfg->epochs;
                if (cfg->max_steps > 0 && (uint64_t)cfg->max_steps < L.pg.total_steps)
                    L.pg.total_steps = (uint64_t)cfg->max_steps;
            }
            uint64_t t = ++L.st.step;
            if (cfg->store)
                rill_store_set_step(cfg->store, t);
            rill_arena_reset(&arena);
            rill_step s = {.batch = b, .B = b->B, .training = true, .t = t, .seed = cfg->seed,
                           .arena = &arena};
            double l;
            if ((rc = rill_graph_forward(g, &s, &l, err)))
                break;
            if ((rc = check_divergence(&L, &s, l, t, epoch, err)))
                break;
            if (cfg->entanglement_every > 0 && nt > 1 && L.metrics &&
                t % (uint64_t)cfg->entanglement_every == 0 &&
                (rc = probe_entanglement(&L, loss, nt, &s, err)))
                break;
            if ((rc = rill_graph_backward(g, &s, err)))
                break;
            double gscale = 1.0;
            if (cfg->clip_norm > 0) {
                double norm = sqrt(rill_graph_grad_sqnorm(g));
                if (norm > cfg->clip_norm)
                    gscale = cfg->clip_norm / norm;
            }
            if ((rc = rill_graph_update(g, &cfg->dense, rill_schedule_scale(&cfg->schedule, t),
                                        gscale, t, err)))
                break;
            if ((rc = rill_graph_after_step(g, &s, err)))
                break;
            if (cfg->store && (rc = rill_store_end_step(cfg->store, t, err)))
                break;
            L.st.pos = b->pos;
            L.st.has_pos = 1;
            L.st.examples += (uint64_t)b->B;
            /* moving average of the last ~50 steps, debiased so early steps are not damped */
            L.st.ema = 0.98 * L.st.ema + 0.02 * l;
            L.st.ema_w = 0.98 * L.st.ema_w + 0.02;
            loss_avg = L.st.ema / L.st.ema_w;
            show_progress(&L.pg, (uint64_t)epoch, t, L.st.examples - examples0, loss_avg, last_auc,
                          false);
            bool at_eval = cfg->eval_every > 0 && t % (uint64_t)cfg->eval_every == 0;
            bool at_max = cfg->max_steps > 0 && t >= (uint64_t)cfg->max_steps;
            bool interrupted = cfg->stop && *cfg->stop;
            /* the evaluation belongs to the step: also when stopping here (Ctrl-C), or a
             * resumed run would never make it */
            if (at_eval && valid) {
                bool improved;
                if ((rc = eval_and_track(&L, &improved, err)) ||
                    (improved && (rc = keep_best(&L, err))))
                    break;
                last_auc = res->last.task[0].auc;
            }
            if (L.metrics && t % 100 == 0) {
                fprintf(L.metrics, "{\"step\":%llu,\"epoch\":%d,\"split\":\"train\"",
                        (unsigned long long)t, epoch);
                json_num(L.metrics, "loss", loss_avg);
                fprintf(L.metrics, "}\n");
                fprintf(L.timing, "{\"step\":%llu", (unsigned long long)t);
                json_num(L.timing, "examples_per_s",
                         (double)(L.st.examples - examples0) /
                             (rill_now() - L.pg.t_start - res->eval_seconds));
                fprintf(L.timing, "}\n");
            }
            if (interrupted) {
                res->interrupted = true;
                L.stop = true;
            }
            if (at_max)
                L.st.finished = 1;
            if (L.stop || at_max) {
                L.stop = true;
                break;
            }
            if (cfg->checkpoint_every > 0 && t % (uint64_t)cfg->checkpoint_every == 0 &&
                (rc = checkpoint(&L, err)))
                break;
        }
        L.st.bad_total += rill_reader_bad_lines(train);
        if (rc)
            break;
        if (rill_reader_bad_lines(train) && cfg->progress)
            fprintf(stderr, "%sskipped %llu bad lines in epoch %d (first: %s)\n",
                    L.pg.tty ? "\r\033[K" : "", (unsigned long long)rill_reader_bad_lines(train),
                    epoch + 1, rill_reader_first_bad(train));
        if (res->interrupted)
            break;
        /* evaluate at the end of each epoch unless evaluations run by steps */
        bool improved = false;
        if (valid && cfg->eval_every == 0 && !L.st.early_stopped) {
            if ((rc = eval_and_track(&L, &improved, err)))
                break;
            last_auc = res->last.task[0].auc;
        }
        L.st.epoch_done = 1;
        if (improved && (rc = keep_best(&L, err)))
            break;
    }
    if (!rc && !res->interrupted)
        L.st.finished = 1;
    res->steps = L.st.step;
    res->examples = L.st.examples;
    res->seconds = rill_now() - L.pg.t_start;
    double train_s = res->seconds - res->eval_seconds;
    res->examples_per_s = train_s > 0 ? (double)(L.st.examples - examples0) / train_s : 0;
    res->last_loss = loss_avg;
    res->bad_lines = L.st.bad_total;
    res->early_stopped = L.st.early_stopped;
    res->best = L.st.best;
    res->best_step = L.st.best_step;
    if (!res->last.ntasks)
        res->last = L.st.last;
    rill_graph_profile_print(g, L.st.step);
    if (!rc)
        show_progress(&L.pg, (uint64_t)(cfg->epochs - 1), L.st.step, L.st.examples - examples0,
                      loss_avg, last_auc, true);
    if (!rc || res->interrupted) {
        int crc = checkpoint(&L, err);
        if (!rc)
            rc = crc;
    }
    if (!rc && res->interrupted)
        rc = rill_errf(err, RILL_EINTR, "interrupted at step %llu; checkpoint written in %s",
                       (unsigned long long)L.st.step, cfg->run_dir ? cfg->run_dir : "(no run)");
    rill_arena_free(&arena);
out:
    if (!rc)
        rc = check_log(L.metrics, cfg->run_dir, "metrics.jsonl", err);
    if (!rc)
        rc = check_log(L.timing, cfg->run_dir, "timing.jsonl", err);
    if (L.metrics && fclose(L.metrics) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s/metrics.jsonl: cannot write: %s", cfg->run_dir,
                       strerror(errno));
    if (L.timing && fclose(L.timing) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s/timing.jsonl: cannot write: %s", cfg->run_dir,
                       strerror(errno));
    if (rc == RILL_ENOSPC)
        note_disk_full(&L, err);
    return rc;
}

int rill_train_state_info(const void *blob, size_t len, rill_train_state *out)
{
    rill_run_state state, *st = &state;
    rill_err err = {0};
    memset(out, 0, sizeof *out);
    if (rill_run_state_load(st, blob, len, &err) != RILL_OK)
        return RILL_EINVAL;
    out->step = st->step;
    out->examples = st->examples;
    out->epoch = st->epoch;
    out->epoch_done = st->epoch_done;
    out->finished = st->finished;
    out->early_stopped = st->early_stopped;
    out->best_step = st->best_step;
    out->best = st->best;
    out->last = st->last;
    return RILL_OK;
}
