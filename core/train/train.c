#include "train.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/types.h>

#include "checkpoint.h"
#include "memlimit.h"
#include "eval.h"
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
    uint64_t ckpt_writing;  /* the step of the checkpoint being written in the background */
    bool writing;
    double min_ema;         /* the lowest smoothed loss so far, for divergence */
    uint64_t steps_run;     /* steps this process ran */
    /* the run in progress (rill_train) */
    rill_reader *train;
    rill_node *loss[RILL_MAX_TASKS];
    int nt;
    bool resume;            /* continuing from a checkpoint */
    rill_arena arena;       /* the step's activations */
    rill_arena ahead;       /* the next batch's ids, for prefetching its rows */
    bool prefetching;       /* prefetch AUTO: reading ahead now */
    uint64_t pf_next;       /* the reader's first batch of the epoch not yet read ahead */
    int pf_steps;           /* ... steps since the last look */
    uint64_t pf_thread0, pf_process0; /* ... and the major faults then */
    uint64_t rows;          /* the training part's lines, for the progress line's total */
    uint64_t examples0;     /* examples before this process's first step */
    double loss_avg;        /* the smoothed loss (NaN before any step) */
    double last_auc;        /* the last validation AUC of the first task, for the progress line */
} loop;

/* prefetch AUTO (train.h): decided every 16 steps from the major page faults since. No value
 * depends on it, so it may follow the machine. */
static void auto_prefetch(loop *L)
{
    if (L->cfg->prefetch != RILL_PREFETCH_AUTO || !L->cfg->store || ++L->pf_steps < 16)
        return;
    uint64_t th, all;
    rill_major_faults(&th, &all);
    if (!L->prefetching)
        L->prefetching = th - L->pf_thread0 >= (uint64_t)L->pf_steps;
    else
        L->prefetching = all != L->pf_process0;
    L->pf_steps = 0;
    L->pf_thread0 = th;
    L->pf_process0 = all;
}

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
static int checkpoint_wait(loop *L, rill_err *err);

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
    if (!rc)
        rc = checkpoint_wait(L, err); /* the copy is of it */
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

/* The checkpoint being written in the background is committed (or its error). */
static int checkpoint_wait(loop *L, rill_err *err)
{
    if (!L->cfg->store || !L->writing)
        return RILL_OK;
    int rc = rill_store_checkpoint_wait(L->cfg->store, err);
    L->writing = false;
    if (!rc) {
        L->ckpt_step = L->ckpt_writing;
        L->has_ckpt = true;
    }
    return rc;
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
    if (!rc)
        rc = checkpoint_wait(L, err);
    if (!rc && !(rc = rill_run_state_save(&L->st, &state, &len, err)))
        rc = rill_checkpoint_write(L->cfg->store, L->g, state, len, err);
    free(state);
    if (!rc) {
        L->ckpt_writing = L->st.step;
        L->writing = true;
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

/* Continues from the run's last checkpoint: the parameters and node state into g, the run
 * state into L->st. None yet (killed before the first) starts from the beginning. */
static int resume_state(loop *L, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    void *blob = NULL;
    size_t len = 0;
    if (!cfg->store)
        return rill_errf(err, RILL_EINVAL, "resuming needs the run's store");
    int rc = rill_checkpoint_read(cfg->store, L->g, &blob, &len, err);
    if (rc == RILL_EOF)
        return RILL_OK;
    if (rc)
        return rc;
    rc = rill_run_state_load(&L->st, blob, len, err);
    free(blob);
    if (rc)
        return rill_err_prefix(err, "%s: ", rill_store_dir(cfg->store));
    L->resume = true;
    L->ckpt_step = L->st.step;
    L->has_ckpt = true;
    return RILL_OK;
}

/* The checkpoint resumed from was written for the best evaluation; the copy of it may not
 * have been made before the run stopped. */
static int restore_best_copy(loop *L, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    if (!L->resume || L->st.best_step != L->st.step || L->st.best_step == 0 ||
        cfg->patience <= 0 || !cfg->run_dir)
        return RILL_OK;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/best", cfg->run_dir);
    return rill_store_copy(cfg->store, dir, err);
}

/* One training step on b: forward (*l gets the loss), the divergence check, the tasks'
 * gradient probe, backward, clipping, the optimizers, the nodes' after-step hooks and the
 * store's end of step. */
static int step_batch(loop *L, const rill_batch *b, int epoch, uint64_t t, double *l,
                      rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    rill_graph *g = L->g;
    if (cfg->store)
        rill_store_set_step(cfg->store, t);
    rill_arena_reset(&L->arena);
    rill_step s = {.batch = b, .B = b->B, .training = true, .t = t, .seed = cfg->seed,
                   .precision = g->precision, .arena = &L->arena};
    int rc;
    if ((rc = rill_graph_forward(g, &s, l, err)) ||
        (rc = check_divergence(L, &s, *l, t, epoch, err)))
        return rc;
    if (cfg->entanglement_every > 0 && L->nt > 1 && L->metrics &&
        t % (uint64_t)cfg->entanglement_every == 0 &&
        (rc = probe_entanglement(L, L->loss, L->nt, &s, err)))
        return rc;
    if ((rc = rill_graph_backward(g, &s, err)))
        return rc;
    double gscale = 1.0;
    if (cfg->clip_norm > 0) {
        double norm = sqrt(rill_graph_grad_sqnorm(g));
        if (norm > cfg->clip_norm)
            gscale = cfg->clip_norm / norm;
    }
    if ((rc = rill_graph_update(g, &cfg->dense, rill_schedule_scale(&cfg->schedule, t), gscale,
                                t, err)) ||
        (rc = rill_graph_after_step(g, &s, err)) ||
        (cfg->store && (rc = rill_store_end_step(cfg->store, t, err))))
        return rc;
    return RILL_OK;
}

/* After a step: where the data is, the smoothed loss, the progress line. */
static void note_step(loop *L, const rill_batch *b, int epoch, uint64_t t, double l)
{
    L->st.pos = b->pos;
    L->st.has_pos = 1;
    L->st.examples += (uint64_t)b->B;
    /* moving average of the last ~50 steps, debiased so early steps are not damped */
    L->st.ema = 0.98 * L->st.ema + 0.02 * l;
    L->st.ema_w = 0.98 * L->st.ema_w + 0.02;
    L->loss_avg = L->st.ema / L->st.ema_w;
    show_progress(&L->pg, (uint64_t)epoch, t, L->st.examples - L->examples0, L->loss_avg,
                  L->last_auc, false);
}

static void log_train_line(loop *L, int epoch, uint64_t t)
{
    fprintf(L->metrics, "{\"step\":%llu,\"epoch\":%d,\"split\":\"train\"", (unsigned long long)t,
            epoch);
    json_num(L->metrics, "loss", L->loss_avg);
    fprintf(L->metrics, "}\n");
    fprintf(L->timing, "{\"step\":%llu", (unsigned long long)t);
    json_num(L->timing, "examples_per_s",
             (double)(L->st.examples - L->examples0) /
                 (rill_now() - L->pg.t_start - L->res->eval_seconds));
    fprintf(L->timing, "}\n");
}

/* What follows step t: its evaluation, its metrics line, stopping (Ctrl-C, max_steps: *leave
 * ends the epoch) or its checkpoint. */
static int end_step(loop *L, int epoch, uint64_t t, bool *leave, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    bool at_eval = cfg->eval_every > 0 && t % (uint64_t)cfg->eval_every == 0;
    bool at_max = cfg->max_steps > 0 && t >= (uint64_t)cfg->max_steps;
    bool interrupted = cfg->stop && *cfg->stop;
    int rc;
    /* the evaluation belongs to the step: also when stopping here (Ctrl-C), or a resumed run
     * would never make it */
    if (at_eval && L->valid) {
        bool improved;
        if ((rc = eval_and_track(L, &improved, err)) || (improved && (rc = keep_best(L, err))))
            return rc;
        L->last_auc = L->res->last.task[0].auc;
    }
    if (L->metrics && t % 100 == 0)
        log_train_line(L, epoch, t);
    if (interrupted) {
        L->res->interrupted = true;
        L->stop = true;
    }
    if (at_max)
        L->st.finished = 1;
    if (L->stop || at_max) {
        L->stop = true;
        *leave = true;
        return RILL_OK;
    }
    if (cfg->checkpoint_every > 0 && t % (uint64_t)cfg->checkpoint_every == 0)
        return checkpoint(L, err);
    return RILL_OK;
}

/* The steps of one epoch, until the data ends or the run stops. */
static int run_batches(loop *L, int epoch, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    const rill_batch *b;
    int got, rc;
    L->pf_next = 0; /* the reader counts its batches from the epoch's (or the seek's) start */
    for (;;) {
        double w0 = L->g->profile ? rill_now() : 0;
        got = rill_reader_next(L->train, &b, err);
        if (w0 > 0)
            L->g->prof_loader += rill_now() - w0;
        if (got == 0)
            break;
        if (got < 0)
            return got;
        if (L->pg.total_steps == 0 && b->B > 0) {
            uint64_t per = (L->rows + (uint64_t)b->B - 1) / (uint64_t)b->B;
            L->pg.total_steps = per * (uint64_t)cfg->epochs;
            if (cfg->max_steps > 0 && (uint64_t)cfg->max_steps < L->pg.total_steps)
                L->pg.total_steps = (uint64_t)cfg->max_steps;
        }
        /* the rows of the batch after the next are read from the store while this step
         * computes, so reading them has two steps' time: under a memory limit a step's misses
         * take longer than one step to read. The next batch's are, when the loader is not that
         * far ahead and they were not asked for yet. */
        bool ahead = cfg->prefetch == RILL_PREFETCH_ON ||
                     (cfg->prefetch == RILL_PREFETCH_AUTO && L->prefetching);
        if (cfg->store && ahead) {
            uint64_t seq = 0;
            const rill_batch *nb = rill_reader_peek(L->train, 1, &seq);
            if (!nb || seq < L->pf_next)
                nb = rill_reader_peek(L->train, 0, &seq);
            if (nb && seq >= L->pf_next) {
                if ((rc = rill_graph_prefetch(L->g, nb, &L->ahead, err)))
                    return rc;
                L->pf_next = seq + 1;
            }
        }
        uint64_t t = ++L->st.step;
        double l;
        if ((rc = step_batch(L, b, epoch, t, &l, err)))
            return rc;
        note_step(L, b, epoch, t, l);
        auto_prefetch(L);
        bool leave = false;
        if ((rc = end_step(L, epoch, t, &leave, err)) || leave)
            return rc;
    }
    return RILL_OK;
}

/* One epoch (from the checkpoint's position when resuming in its middle), then its bad lines
 * reported and, unless evaluations run by steps, its evaluation. */
static int train_epoch(loop *L, int epoch, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    rill_reader *train = L->train;
    bool mid_epoch = L->resume && epoch == L->st.epoch && !L->st.epoch_done && L->st.has_pos;
    int rc;
    if ((rc = rill_reader_start_epoch(train, (uint64_t)epoch, err)) ||
        (mid_epoch && (rc = rill_reader_seek(train, &L->st.pos, err))))
        return rc;
    L->st.epoch = epoch;
    L->st.epoch_done = 0;
    rc = run_batches(L, epoch, err);
    L->st.bad_total += rill_reader_bad_lines(train);
    if (rc)
        return rc;
    if (rill_reader_bad_lines(train) && cfg->progress)
        fprintf(stderr, "%sskipped %llu bad lines in epoch %d (first: %s)\n",
                L->pg.tty ? "\r\033[K" : "", (unsigned long long)rill_reader_bad_lines(train),
                epoch + 1, rill_reader_first_bad(train));
    if (L->res->interrupted)
        return RILL_OK;
    bool improved = false;
    if (L->valid && cfg->eval_every == 0 && !L->st.early_stopped) {
        /* the evaluation's own reader and arena would sit on top of the training's: those go
         * first (the next epoch makes them again), which keeps a run's peak memory the
         * training's, not the training's plus the evaluation's */
        rill_reader_release(train);
        rill_arena_free(&L->arena);
        rill_arena_free(&L->ahead);
        if ((rc = eval_and_track(L, &improved, err)))
            return rc;
        L->last_auc = L->res->last.task[0].auc;
    }
    L->st.epoch_done = 1;
    return improved ? keep_best(L, err) : RILL_OK;
}

static void fill_result(loop *L)
{
    rill_train_result *res = L->res;
    res->steps = L->st.step;
    res->examples = L->st.examples;
    res->seconds = rill_now() - L->pg.t_start;
    double train_s = res->seconds - res->eval_seconds;
    res->examples_per_s = train_s > 0 ? (double)(L->st.examples - L->examples0) / train_s : 0;
    res->last_loss = L->loss_avg;
    res->bad_lines = L->st.bad_total;
    res->early_stopped = L->st.early_stopped;
    res->best = L->st.best;
    res->best_step = L->st.best_step;
    if (!res->last.ntasks)
        res->last = L->st.last;
}

/* The epochs left, then the result, the last progress line and the final checkpoint (also
 * after Ctrl-C, which then is RILL_EINTR). */
static int train_epochs(loop *L, rill_err *err)
{
    const rill_train_cfg *cfg = L->cfg;
    rill_train_result *res = L->res;
    rill_arena_init(&L->arena, 0);
    rill_arena_init(&L->ahead, 0);
    rill_proc_io io0, io1;
    rill_proc_io_get(&io0);
    L->pg = (progress){.cfg = cfg, .tty = isatty(2), .t_start = rill_now(),
                       .eval_s = &res->eval_seconds};
    L->rows = rill_reader_rows(L->train);
    L->examples0 = L->st.examples;
    L->loss_avg = L->st.ema_w > 0 ? L->st.ema / L->st.ema_w : (double)NAN;
    L->last_auc = L->st.last.ntasks ? L->st.last.task[0].auc : (double)NAN;
    int start_epoch = L->resume ? L->st.epoch + (L->st.epoch_done ? 1 : 0) : 0;
    if (L->st.finished)
        start_epoch = cfg->epochs; /* nothing left to do */
    int rc = RILL_OK;
    for (int epoch = start_epoch; epoch < cfg->epochs && !L->stop; epoch++)
        if ((rc = train_epoch(L, epoch, err)) || res->interrupted)
            break;
    if (!rc && !res->interrupted)
        L->st.finished = 1;
    fill_result(L);
    rill_graph_profile_print(L->g, L->st.step);
    if (!rc)
        show_progress(&L->pg, (uint64_t)(cfg->epochs - 1), L->st.step,
                      L->st.examples - L->examples0, L->loss_avg, L->last_auc, true);
    if (!rc || res->interrupted) {
        double t0 = rill_now();
        /* training is over: the loader's chunks and the steps' arenas go before the last
         * checkpoint, which is written here and now with its rows read from the cache, not
         * copied (the peak memory of a run was this checkpoint's, on top of all of them) */
        rill_reader_release(L->train);
        rill_arena_free(&L->arena);
        rill_arena_free(&L->ahead);
        if (cfg->store)
            rill_store_sync_next(cfg->store);
        if (cfg->fold_at_end && cfg->store && !res->interrupted)
            rill_store_fold_next(cfg->store);
        int crc = checkpoint(L, err);
        if (!crc)
            crc = checkpoint_wait(L, err);
        res->final_checkpoint_seconds = rill_now() - t0;
        if (!rc)
            rc = crc;
    } else {
        rill_err ignored = {0}; /* the run failed: its error is the one to report */
        checkpoint_wait(L, &ignored);
    }
    rill_proc_io_get(&io1);
    res->disk_read_bytes = io1.read_bytes - io0.read_bytes;
    res->disk_write_bytes = io1.write_bytes - io0.write_bytes;
    res->major_faults = io1.major_faults - io0.major_faults;
    if (!rc && res->interrupted)
        rc = rill_errf(err, RILL_EINTR, "interrupted at step %llu; checkpoint written in %s",
                       (unsigned long long)L->st.step, cfg->run_dir ? cfg->run_dir : "(no run)");
    rill_arena_free(&L->arena);
    rill_arena_free(&L->ahead);
    return rc;
}

/* The logs checked and closed; rc is the run's result so far, and the first error wins. */
static int close_logs(loop *L, int rc, rill_err *err)
{
    const char *dir = L->cfg->run_dir;
    if (!rc)
        rc = check_log(L->metrics, dir, "metrics.jsonl", err);
    if (!rc)
        rc = check_log(L->timing, dir, "timing.jsonl", err);
    if (L->metrics && fclose(L->metrics) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s/metrics.jsonl: cannot write: %s", dir, strerror(errno));
    if (L->timing && fclose(L->timing) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s/timing.jsonl: cannot write: %s", dir, strerror(errno));
    if (rc == RILL_ENOSPC)
        note_disk_full(L, err);
    return rc;
}

int rill_train(rill_graph *g, const rill_train_cfg *cfg, rill_reader *train,
               rill_reader *valid, rill_train_result *res, rill_err *err)
{
    memset(res, 0, sizeof *res);
    loop L = {.g = g, .cfg = cfg, .valid = valid, .train = train, .res = res};
    if ((L.nt = rill_loss_nodes(g, L.loss, err)) < 0)
        return L.nt;
    int rc;
    if (!g->built && (rc = rill_graph_build(g, cfg->seed, err)))
        return rc;
    L.st.best.task[0].auc = -INFINITY;
    if (cfg->resume && (rc = resume_state(&L, err)))
        return rc;
    if (!(rc = open_logs(&L, L.resume, err)) && !(rc = restore_best_copy(&L, err)))
        rc = train_epochs(&L, err);
    return close_logs(&L, rc, err);
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
