#include "train.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "metrics.h"
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

int rill_evaluate(rill_graph *g, rill_reader *r, FILE *predictions, rill_eval_result *res,
                  rill_err *err)
{
    rill_node *loss[RILL_MAX_TASKS];
    scores sc[RILL_MAX_TASKS];
    memset(res, 0, sizeof *res);
    memset(sc, 0, sizeof sc);
    int nt = loss_nodes(g, loss, err);
    if (nt < 0)
        return nt;
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
        for (int k = 0; k < nt && !rc; k++) {
            int nl = b->schema->nlabels;
            for (int i = 0; i < b->B; i++)
                y[i] = b->labels[(size_t)i * nl + loss[k]->label];
            if (scores_push(&sc[k], loss[k]->in[0]->out, y, b->B))
                rc = rill_errf(err, RILL_ENOMEM, "out of memory keeping evaluation scores");
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
        }
    }
    res->seconds = rill_now() - t0;
    rill_sgemm_record(recording);
    for (int k = 0; k < RILL_MAX_TASKS; k++) {
        free(sc[k].z);
        free(sc[k].y);
    }
    free(y);
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
    for (int k = 0; k < e->ntasks; k++)
        fprintf(stderr, "%svalid %s (%s): auc %.5f  logloss %.5f  (%llu rows)\n",
                tty ? "\r\033[K" : "", e->task[k].task, e->task[k].label, e->task[k].auc,
                e->task[k].logloss, (unsigned long long)e->task[k].n);
}

/* One evaluation during training: log it, keep the best, count towards early stopping. */
static int eval_and_track(rill_graph *g, const rill_train_cfg *cfg, rill_reader *valid,
                          FILE *metrics, bool tty, uint64_t t, int epoch, rill_train_result *res,
                          int *since_best, bool *stop, rill_err *err)
{
    rill_eval_result e;
    int rc = rill_evaluate(g, valid, NULL, &e, err);
    if (rc)
        return rc;
    res->eval_seconds += e.seconds;
    res->last = e;
    print_eval(cfg, &e, tty);
    log_eval(metrics, t, (uint64_t)epoch, "valid", &e);
    if (e.task[0].auc > res->best.task[0].auc + cfg->min_delta) {
        res->best = e;
        res->best_step = t;
        *since_best = 0;
        if (cfg->patience > 0 && cfg->run_dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/params.bin", cfg->run_dir);
            return rill_params_save(g, path, err);
        }
    } else if (cfg->patience > 0 && ++*since_best >= cfg->patience) {
        res->early_stopped = true;
        *stop = true;
    }
    return RILL_OK;
}

int rill_train(rill_graph *g, const rill_train_cfg *cfg, rill_reader *train,
               rill_reader *valid, rill_train_result *res, rill_err *err)
{
    rill_node *loss[RILL_MAX_TASKS];
    memset(res, 0, sizeof *res);
    res->best.task[0].auc = -INFINITY;
    int nt = loss_nodes(g, loss, err), rc = RILL_OK;
    if (nt < 0)
        return nt;
    if (!g->built && (rc = rill_graph_build(g, cfg->seed, err)))
        return rc;
    FILE *metrics = NULL;
    char path[4096];
    if (cfg->run_dir) {
        if ((rc = rill_mkdir_p(cfg->run_dir, err)))
            return rc;
        snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->run_dir);
        metrics = fopen(path, "w"); /* a new run; resuming appends */
        if (!metrics)
            return rill_errf(err, RILL_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    rill_arena arena;
    rill_arena_init(&arena, 0);
    progress pg = {.cfg = cfg, .tty = isatty(2), .t_start = rill_now(),
                   .eval_s = &res->eval_seconds};
    uint64_t rows = rill_reader_rows(train);
    /* the batch size is the reader's; count steps per epoch from its first batch */
    uint64_t t = 0, examples = 0, bad_total = 0;
    double loss_avg = NAN, last_auc = NAN, ema = 0, ema_w = 0;
    int since_best = 0;
    bool stop = false;
    for (int epoch = 0; epoch < cfg->epochs && !stop; epoch++) {
        if ((rc = rill_reader_start_epoch(train, (uint64_t)epoch, err)))
            break;
        const rill_batch *b;
        int got;
        while ((got = rill_reader_next(train, &b, err)) != 0) {
            if (got < 0) {
                rc = got;
                break;
            }
            if (pg.total_steps == 0 && b->B > 0) {
                uint64_t per = (rows + (uint64_t)b->B - 1) / (uint64_t)b->B;
                pg.total_steps = per * (uint64_t)cfg->epochs;
                if (cfg->max_steps > 0 && (uint64_t)cfg->max_steps < pg.total_steps)
                    pg.total_steps = (uint64_t)cfg->max_steps;
            }
            t++;
            rill_arena_reset(&arena);
            rill_step s = {.batch = b, .B = b->B, .training = true, .t = t, .seed = cfg->seed,
                           .arena = &arena};
            double l;
            if ((rc = rill_graph_forward(g, &s, &l, err)))
                break;
            if (!isfinite(l)) {
                rc = rill_errf(err, RILL_EINVAL,
                               "training diverged at step %llu (epoch %d): the loss is %g; lower "
                               "the learning rate or set clip_norm",
                               (unsigned long long)t, epoch + 1, l);
                break;
            }
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
            examples += (uint64_t)b->B;
            /* moving average of the last ~50 steps, debiased so early steps are not damped */
            ema = 0.98 * ema + 0.02 * l;
            ema_w = 0.98 * ema_w + 0.02;
            loss_avg = ema / ema_w;
            show_progress(&pg, (uint64_t)epoch, t, examples, loss_avg, last_auc, false);
            bool at_eval = cfg->eval_every > 0 && t % (uint64_t)cfg->eval_every == 0;
            bool at_max = cfg->max_steps > 0 && t >= (uint64_t)cfg->max_steps;
            bool interrupted = cfg->stop && *cfg->stop;
            if (at_eval && valid && !interrupted) {
                if ((rc = eval_and_track(g, cfg, valid, metrics, pg.tty, t, epoch, res,
                                         &since_best, &stop, err)))
                    break;
                last_auc = res->last.task[0].auc;
            }
            if (metrics && t % 100 == 0) {
                fprintf(metrics, "{\"step\":%llu,\"epoch\":%d,\"split\":\"train\"", (unsigned long long)t,
                        epoch);
                json_num(metrics, "loss", loss_avg);
                json_num(metrics, "examples_per_s",
                         (double)examples / (rill_now() - pg.t_start - res->eval_seconds));
                fprintf(metrics, "}\n");
            }
            if (interrupted) {
                res->interrupted = true;
                stop = true;
            }
            if (stop || at_max) {
                stop = true;
                break;
            }
        }
        bad_total += rill_reader_bad_lines(train);
        if (rc)
            break;
        if (rill_reader_bad_lines(train) && cfg->progress)
            fprintf(stderr, "%sskipped %llu bad lines in epoch %d (first: %s)\n", pg.tty ? "\r\033[K" : "",
                    (unsigned long long)rill_reader_bad_lines(train), epoch + 1,
                    rill_reader_first_bad(train));
        /* evaluate at the end of each epoch unless evaluations run by steps */
        if (valid && cfg->eval_every == 0 && !res->interrupted && !res->early_stopped) {
            if ((rc = eval_and_track(g, cfg, valid, metrics, pg.tty, t, epoch, res, &since_best,
                                     &stop, err)))
                break;
            last_auc = res->last.task[0].auc;
        }
    }
    res->steps = t;
    res->examples = examples;
    res->seconds = rill_now() - pg.t_start;
    double train_s = res->seconds - res->eval_seconds;
    res->examples_per_s = train_s > 0 ? (double)examples / train_s : 0;
    res->last_loss = loss_avg;
    res->bad_lines = bad_total;
    rill_graph_profile_print(g, t);
    if (!rc)
        show_progress(&pg, (uint64_t)(cfg->epochs - 1), t, examples, loss_avg, last_auc, true);
    /* with early stopping the best evaluation's parameters are already saved */
    bool saved_best = cfg->patience > 0 && res->best_step > 0;
    if ((!rc || res->interrupted) && cfg->run_dir && !saved_best) {
        snprintf(path, sizeof path, "%s/params.bin", cfg->run_dir);
        int src = rill_params_save(g, path, err);
        if (!rc)
            rc = src;
    }
    if (!rc && res->interrupted)
        rc = rill_errf(err, RILL_EINTR, "interrupted at step %llu; parameters saved in %s",
                       (unsigned long long)t, cfg->run_dir ? cfg->run_dir : "(no run directory)");
    if (metrics)
        fclose(metrics);
    rill_arena_free(&arena);
    return rc;
}
