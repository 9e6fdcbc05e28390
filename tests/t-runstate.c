/* The run state a checkpoint keeps (core/train/run_state.h), saved field by field: it
 * round-trips bit for bit; a blob written before a field existed loads with that field's
 * default; the raw form of versions 1 and 2 still loads (the legacy reader); every truncation,
 * a damaged length, a foreign blob and a newer version are errors that say so. The same for
 * loss_bce's IPW counts: the raw form loads, and counts kept for another ipw_max_repeats are
 * refused. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "graphtest.h"
#include "run_state.h"

static void fill_eval(rill_eval_result *e, double base)
{
    e->ntasks = 2;
    for (int k = 0; k < RILL_MAX_TASKS; k++) {
        rill_task_metrics *m = &e->task[k];
        snprintf(m->task, sizeof m->task, "task%d", k);
        snprintf(m->label, sizeof m->label, "label%d", k);
        m->auc = base + k, m->logloss = base / 2 + k, m->pos_rate = 0.25;
        m->mean_pred = k == 1 ? (double)NAN : 0.125 * k;
        m->n = 1000u + (uint64_t)k, m->gauc = -INFINITY, m->groups = 7;
    }
    e->rows = 123456789012345ull;
    e->seconds = 1.5;
    snprintf(e->freq_field, sizeof e->freq_field, "C1");
    e->nfreq = 3;
    for (int j = 0; j < RILL_MAX_FREQ; j++)
        e->freq[j] = (rill_freq_bucket){(uint64_t)j, (uint64_t)j * 10, 0.5 + j, 0.1 * j, 9};
}

static void fill_state(rill_run_state *st)
{
    memset(st, 0, sizeof *st); /* padding too, so the structs compare with memcmp */
    st->step = 4242, st->examples = 1u << 30, st->bad_total = 3, st->best_step = 4000;
    st->metrics_bytes = 99999;
    st->epoch = 2, st->epoch_done = 1, st->finished = 0, st->since_best = -1;
    st->early_stopped = 1, st->has_pos = 1;
    st->pos = (rill_data_pos){2, 17, 5, 1u << 20, 40001, 2};
    st->ema = 0.123456789, st->ema_w = 0.999;
    fill_eval(&st->best, 0.7);
    fill_eval(&st->last, 0.6);
}

static void round_trip(void)
{
    rill_run_state st, back;
    rill_err err = {0};
    void *blob = NULL;
    size_t len = 0;
    fill_state(&st);
    int rc = rill_run_state_save(&st, &blob, &len, &err);
    ok(rc == RILL_OK && blob && len > 8, "a run state saves (%zu bytes)", len);
    rc = rill_run_state_load(&back, blob, len, &err);
    ok(rc == RILL_OK && memcmp(&st, &back, sizeof st) == 0,
       "and loads back bit for bit (NaN and -inf metrics, every task slot, the data position)%s%s",
       rc ? ": " : "", rc ? err.msg : "");

    /* every cut is refused, with a message, and never read past */
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        void *part = malloc(cut ? cut : 1); /* a heap copy of exactly cut bytes: ASan sees */
        memcpy(part, blob, cut);
        rill_err e = {0};
        if (rill_run_state_load(&back, part, cut, &e) != RILL_ESTORE || !e.msg[0])
            bad++;
        free(part);
    }
    ok(bad == 0, "every truncation of it (%zu lengths) is RILL_ESTORE with a message (%d not)", len,
       bad);

    /* a field's length damaged: its bytes would run past the end */
    unsigned char *dam = malloc(len);
    memcpy(dam, blob, len);
    uint64_t huge = 1u << 30;
    memcpy(dam + 8 + 8, &huge, sizeof huge); /* the first field's length */
    rc = rill_run_state_load(&back, dam, len, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "damaged") && strstr(err.msg, "run state"),
       "a damaged field length is an error naming the run state: %s", err.msg);

    uint32_t newer = 9;
    memcpy(dam, blob, len);
    memcpy(dam + 4, &newer, sizeof newer);
    rc = rill_run_state_load(&back, dam, len, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "newer"), "a newer version is refused: %s", err.msg);

    memcpy(dam, "XXXX", 4);
    rc = rill_run_state_load(&back, dam, len, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "magic"), "a foreign blob is refused: %s", err.msg);
    free(dam);
    free(blob);
}

/* A blob as a build without mean_pred, ema_w and the data position's bad_lines would write. */
static void older_blob(void)
{
    rill_blob task, ev, st;
    rill_blob_init(&task, 0x4d544c52u, 1); /* "RLTM" */
    rill_blob_put(&task, RILL_TM_TASK, "click", 5);
    rill_blob_put_f64(&task, RILL_TM_AUC, 0.75);
    rill_blob_put_u64(&task, RILL_TM_N, 500);
    rill_blob_init(&ev, 0x56454c52u, 1); /* "RLEV" */
    rill_blob_put_i64(&ev, RILL_EV_NTASKS, 1);
    rill_blob_put(&ev, RILL_EV_TASK, task.buf, task.len);
    rill_blob_init(&st, 0x54534c52u, 3); /* "RLST" */
    rill_blob_put_u64(&st, RILL_RS_STEP, 77);
    rill_blob_put_f64(&st, RILL_RS_EMA, 0.5);
    rill_blob_put_u64(&st, RILL_RS_POS_LINE, 12);
    rill_blob_put(&st, RILL_RS_BEST, ev.buf, ev.len);
    rill_blob_put(&st, RILL_RS_LAST, ev.buf, ev.len);
    rill_blob_put(&st, 0x7777, "a field of a later build", 24); /* skipped */
    rill_blob_put_u32(&st, RILL_RS_END, 0);
    void *blob = NULL;
    size_t len = 0;
    rill_err err = {0};
    rill_run_state s;
    int rc = rill_blob_finish(&st, &blob, &len, "test", &err);
    if (!rc)
        rc = rill_run_state_load(&s, blob, len, &err);
    const rill_task_metrics *m = &s.best.task[0];
    ok(rc == RILL_OK && s.step == 77 && s.ema == 0.5 && s.pos.line == 12 && s.best.ntasks == 1 &&
           strcmp(m->task, "click") == 0 && m->auc == 0.75 && m->n == 500,
       "a blob of an older build loads the fields it has%s%s", rc ? ": " : "", rc ? err.msg : "");
    ok(rc == RILL_OK && isnan(m->mean_pred) && isnan(m->gauc) && m->label[0] == 0 &&
           s.ema_w == 0 && s.pos.bad_lines == 0 && isnan(s.best.task[1].auc),
       "and the fields it lacks take their defaults (NaN metrics, zero counts, empty names)");
    free(blob);
    rill_blob_free(&task);
    rill_blob_free(&ev);

    /* without the end field (cut at a field boundary) */
    rill_blob_init(&st, 0x54534c52u, 3);
    rill_blob_put_u64(&st, RILL_RS_STEP, 77);
    rc = rill_blob_finish(&st, &blob, &len, "test", &err);
    if (!rc)
        rc = rill_run_state_load(&s, blob, len, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "truncated"), "a blob without its end field is "
       "truncated: %s", err.msg);
    free(blob);
}

/* The raw form of the builds before (versions 1 and 2): magic, version, then the fields in the
 * struct's order. Only the leading counters are set here; the fixture runs (t-fixture) load
 * whole ones. */
static void legacy_blobs(void)
{
    size_t sizes[2] = {3624, 3752};
    for (uint32_t v = 1; v <= 2; v++) {
        size_t len = sizes[v - 1];
        unsigned char *raw = calloc(1, len);
        uint32_t head[2] = {0x54534c52u, v};
        uint64_t step = 311, examples = 9000;
        memcpy(raw, head, sizeof head);
        memcpy(raw + 8, &step, sizeof step);
        memcpy(raw + 16, &examples, sizeof examples);
        rill_run_state s;
        rill_err err = {0};
        int rc = rill_run_state_load(&s, raw, len, &err);
        ok(rc == RILL_OK && s.step == 311 && s.examples == 9000 &&
               (v == 2 ? s.best.task[0].mean_pred == 0 : isnan(s.best.task[0].mean_pred)),
           "the raw form of version %u loads (mean_pred %s)%s%s", v, v == 2 ? "read" : "NaN",
           rc ? ": " : "", rc ? err.msg : "");
        rc = rill_run_state_load(&s, raw, len - 1, &err);
        ok(rc == RILL_ESTORE && strstr(err.msg, "raw") && strstr(err.msg, "expected"),
           "a cut one of version %u is refused: %s", v, err.msg);
        free(raw);
    }
}

/* a graph of one feed and loss_bce{args} over a schema with a label and "repeats" */
static rill_node *ipw_loss(rill_graph **g, rill_schema *sc, const char *args, rill_err *err)
{
    memset(sc, 0, sizeof *sc);
    sc->name = strdup("test");
    sc->nlabels = 1;
    sc->label_names = calloc(1, sizeof(char *));
    sc->label_names[0] = strdup("click");
    sc->nnum = 1;
    sc->num_names = calloc(1, sizeof(char *));
    sc->num_names[0] = strdup("repeats");
    *g = NULL;
    if (rill_graph_create(g, sc, err))
        return NULL;
    rill_node *z = gt_add(*g, "feed", "z", NULL, 0, "dims={1}", err);
    rill_node *n = z ? gt_add(*g, "loss_bce", "task", &z, 1, args, err) : NULL;
    return n && !rill_graph_build(*g, 1, err) ? n : NULL;
}

static void ipw_counts(void)
{
    rill_err err = {0};
    rill_schema sc5, sc3;
    rill_graph *g5, *g3;
    rill_node *n5 = ipw_loss(&g5, &sc5, "ipw='repeats'", &err); /* ipw_max_repeats 5 */
    rill_node *n3 = ipw_loss(&g3, &sc3, "ipw='repeats',ipw_max_repeats=3", &err);
    if (!ok(n5 && n3, "two losses with IPW (ipw_max_repeats 5 and 3)")) {
        diag("%s", err.msg);
        return;
    }
    /* the raw form: magic "IPW" 1, then pos and seen, 6 doubles each */
    unsigned char raw[4 + 12 * sizeof(double)];
    double pos[6] = {1, 2, 3, 4, 5, 6}, seen[6] = {10, 20, 30, 40, 50, 60};
    uint32_t magic = 0x49505701u;
    memcpy(raw, &magic, 4);
    memcpy(raw + 4, pos, sizeof pos);
    memcpy(raw + 4 + sizeof pos, seen, sizeof seen);
    void *blob = NULL;
    size_t len = 0;
    int rc = n5->ops->load(n5, raw, sizeof raw, &err);
    if (!rc)
        rc = n5->ops->save(n5, &blob, &len, &err);
    /* the saved form's fields, as node_loss_bce.c tags them: 2 pos, 3 seen */
    rill_blob_reader r;
    const void *p = NULL, *q = NULL;
    size_t np = 0, nq = 0;
    if (!rc)
        rc = rill_blob_open(&r, blob, len, 0x49505702u, 1, "ipw", &err) ||
             rill_blob_get_array(&r, 2, sizeof(double), &p, &np, &err) ||
             rill_blob_get_array(&r, 3, sizeof(double), &q, &nq, &err);
    ok(rc == RILL_OK && np == 6 && nq == 6 && memcmp(p, pos, sizeof pos) == 0 &&
           memcmp(q, seen, sizeof seen) == 0,
       "IPW counts in the raw form load, and save again field by field%s%s", rc ? ": " : "",
       rc ? err.msg : "");
    rc = n3->ops->load(n3, blob, len, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "ipw_max_repeats") && strstr(err.msg, "task"),
       "counts kept for another ipw_max_repeats are refused: %s", err.msg);
    rc = n5->ops->load(n5, raw, sizeof raw - 8, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "repeat counts"), "a cut raw form is refused: %s",
       err.msg);
    rc = n5->ops->load(n5, blob, len - 3, &err);
    ok(rc == RILL_ESTORE && strstr(err.msg, "damaged"), "a cut blob is refused: %s", err.msg);
    free(blob);
    rill_graph_free(g5);
    rill_graph_free(g3);
    rill_schema_free(&sc5);
    rill_schema_free(&sc3);
}

int main(void)
{
    round_trip();
    older_blob();
    legacy_blobs();
    ipw_counts();
    return done_testing();
}
