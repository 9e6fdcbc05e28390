/* The run state, field by field (run_state.h, which lists the tags). A blob holds the loop's
 * fields (RILL_RS_*), the data position's (RILL_RS_POS_*), RILL_RS_BEST and RILL_RS_LAST each
 * a nested blob of an evaluation (RILL_EV_*; RILL_EV_TASK + k a nested blob of task k's
 * metrics, RILL_EV_FREQ + j of frequency bucket j), and RILL_RS_END last, so that a blob cut
 * at a field boundary is found out. */
#include "run_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"

#define STATE_MAGIC 0x54534c52u  /* "RLST", as the raw form had it */
#define STATE_VERSION 3          /* 3: field by field; 1 and 2 were raw struct bytes */
#define EVAL_MAGIC 0x56454c52u   /* "RLEV" */
#define TASK_MAGIC 0x4d544c52u   /* "RLTM" */
#define FREQ_MAGIC 0x51464c52u   /* "RLFQ" */
#define PART_VERSION 1

/* ---- writing ---- */

static void put_str(rill_blob *b, uint32_t tag, const char *s, size_t cap)
{
    rill_blob_put(b, tag, s, strnlen(s, cap));
}

/* A nested blob as one field; a failed allocation fails the outer blob too. */
static void put_nested(rill_blob *b, uint32_t tag, rill_blob *inner)
{
    if (inner->failed)
        b->failed = 1;
    else
        rill_blob_put(b, tag, inner->buf, inner->len);
    rill_blob_free(inner);
}

static void put_task(rill_blob *b, uint32_t tag, const rill_task_metrics *m)
{
    rill_blob t;
    rill_blob_init(&t, TASK_MAGIC, PART_VERSION);
    put_str(&t, RILL_TM_TASK, m->task, sizeof m->task);
    put_str(&t, RILL_TM_LABEL, m->label, sizeof m->label);
    rill_blob_put_f64(&t, RILL_TM_AUC, m->auc);
    rill_blob_put_f64(&t, RILL_TM_LOGLOSS, m->logloss);
    rill_blob_put_f64(&t, RILL_TM_POS_RATE, m->pos_rate);
    rill_blob_put_f64(&t, RILL_TM_MEAN_PRED, m->mean_pred);
    rill_blob_put_u64(&t, RILL_TM_N, m->n);
    rill_blob_put_f64(&t, RILL_TM_GAUC, m->gauc);
    rill_blob_put_u64(&t, RILL_TM_GROUPS, m->groups);
    put_nested(b, tag, &t);
}

static void put_freq(rill_blob *b, uint32_t tag, const rill_freq_bucket *q)
{
    rill_blob f;
    rill_blob_init(&f, FREQ_MAGIC, PART_VERSION);
    rill_blob_put_u64(&f, RILL_FQ_LO, q->lo);
    rill_blob_put_u64(&f, RILL_FQ_HI, q->hi);
    rill_blob_put_f64(&f, RILL_FQ_AUC, q->auc);
    rill_blob_put_f64(&f, RILL_FQ_LOGLOSS, q->logloss);
    rill_blob_put_u64(&f, RILL_FQ_N, q->n);
    put_nested(b, tag, &f);
}

/* Every task slot is saved, used or not: the raw form kept them all, and a resumed run must
 * see the same bytes in its best and last results as one never interrupted. */
static void put_eval(rill_blob *b, uint32_t tag, const rill_eval_result *e)
{
    rill_blob ev;
    rill_blob_init(&ev, EVAL_MAGIC, PART_VERSION);
    rill_blob_put_i64(&ev, RILL_EV_NTASKS, e->ntasks);
    rill_blob_put_u64(&ev, RILL_EV_ROWS, e->rows);
    rill_blob_put_f64(&ev, RILL_EV_SECONDS, e->seconds);
    put_str(&ev, RILL_EV_FREQ_FIELD, e->freq_field, sizeof e->freq_field);
    rill_blob_put_i64(&ev, RILL_EV_NFREQ, e->nfreq);
    for (int k = 0; k < RILL_MAX_TASKS; k++)
        put_task(&ev, RILL_EV_TASK + (uint32_t)k, &e->task[k]);
    for (int j = 0; j < RILL_MAX_FREQ; j++)
        put_freq(&ev, RILL_EV_FREQ + (uint32_t)j, &e->freq[j]);
    put_nested(b, tag, &ev);
}

int rill_run_state_save(const rill_run_state *st, void **blob, size_t *len, rill_err *err)
{
    rill_blob b;
    rill_blob_init(&b, STATE_MAGIC, STATE_VERSION);
    rill_blob_put_u64(&b, RILL_RS_STEP, st->step);
    rill_blob_put_u64(&b, RILL_RS_EXAMPLES, st->examples);
    rill_blob_put_u64(&b, RILL_RS_BAD_TOTAL, st->bad_total);
    rill_blob_put_u64(&b, RILL_RS_BEST_STEP, st->best_step);
    rill_blob_put_u64(&b, RILL_RS_METRICS_BYTES, st->metrics_bytes);
    rill_blob_put_i64(&b, RILL_RS_EPOCH, st->epoch);
    rill_blob_put_i64(&b, RILL_RS_EPOCH_DONE, st->epoch_done);
    rill_blob_put_i64(&b, RILL_RS_FINISHED, st->finished);
    rill_blob_put_i64(&b, RILL_RS_SINCE_BEST, st->since_best);
    rill_blob_put_i64(&b, RILL_RS_EARLY_STOPPED, st->early_stopped);
    rill_blob_put_i64(&b, RILL_RS_HAS_POS, st->has_pos);
    rill_blob_put_f64(&b, RILL_RS_EMA, st->ema);
    rill_blob_put_f64(&b, RILL_RS_EMA_W, st->ema_w);
    rill_blob_put_u64(&b, RILL_RS_POS_EPOCH, st->pos.epoch);
    rill_blob_put_u64(&b, RILL_RS_POS_CHUNK, st->pos.chunk);
    rill_blob_put_u64(&b, RILL_RS_POS_BATCH, st->pos.batch);
    rill_blob_put_u64(&b, RILL_RS_POS_OFFSET, st->pos.offset);
    rill_blob_put_u64(&b, RILL_RS_POS_LINE, st->pos.line);
    rill_blob_put_u64(&b, RILL_RS_POS_BAD_LINES, st->pos.bad_lines);
    put_eval(&b, RILL_RS_BEST, &st->best);
    put_eval(&b, RILL_RS_LAST, &st->last);
    rill_blob_put_u32(&b, RILL_RS_END, 0);
    return rill_blob_finish(&b, blob, len, "the run state", err);
}

/* ---- reading ---- */

/* A text field into char[cap]: absent is "", one that does not fit is damage. */
static int get_str(const rill_blob_reader *r, uint32_t tag, char *dst, size_t cap, rill_err *err)
{
    const void *d;
    size_t n;
    dst[0] = 0;
    if (!rill_blob_find(r, tag, &d, &n))
        return RILL_OK;
    if (n >= cap)
        return rill_errf(err, RILL_ESTORE, "%s: field %u holds %zu bytes of text, at most %zu fit",
                         r->what, tag, n, cap - 1);
    memcpy(dst, d, n);
    dst[n] = 0;
    return RILL_OK;
}

/* An int32 kept as an i64 field; one out of range is damage. */
static int get_i32(const rill_blob_reader *r, uint32_t tag, int32_t *v, rill_err *err)
{
    int64_t x;
    int rc = rill_blob_get_i64(r, tag, &x, 0, err);
    if (rc)
        return rc;
    if (x < INT32_MIN || x > INT32_MAX)
        return rill_errf(err, RILL_ESTORE, "%s: field %u is %lld, out of range", r->what, tag,
                         (long long)x);
    *v = (int32_t)x;
    return RILL_OK;
}

/* The nested blob in field tag: 1 and *in opened, 0 when absent, or an error. */
static int open_nested(const rill_blob_reader *r, uint32_t tag, uint32_t magic,
                       rill_blob_reader *in, const char *what, rill_err *err)
{
    const void *d;
    size_t n;
    if (!rill_blob_find(r, tag, &d, &n))
        return 0;
    int rc = rill_blob_open(in, d, n, magic, PART_VERSION, what, err);
    return rc ? rc : 1;
}

static int get_task(const rill_blob_reader *ev, uint32_t tag, rill_task_metrics *m, rill_err *err)
{
    rill_blob_reader r;
    m->auc = m->logloss = m->pos_rate = m->mean_pred = m->gauc = (double)NAN;
    int rc = open_nested(ev, tag, TASK_MAGIC, &r, "the run state's task metrics", err);
    if (rc <= 0)
        return rc;
    if ((rc = get_str(&r, RILL_TM_TASK, m->task, sizeof m->task, err)) ||
        (rc = get_str(&r, RILL_TM_LABEL, m->label, sizeof m->label, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_TM_AUC, &m->auc, (double)NAN, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_TM_LOGLOSS, &m->logloss, (double)NAN, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_TM_POS_RATE, &m->pos_rate, (double)NAN, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_TM_MEAN_PRED, &m->mean_pred, (double)NAN, err)) ||
        (rc = rill_blob_get_u64(&r, RILL_TM_N, &m->n, 0, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_TM_GAUC, &m->gauc, (double)NAN, err)) ||
        (rc = rill_blob_get_u64(&r, RILL_TM_GROUPS, &m->groups, 0, err)))
        return rc;
    return RILL_OK;
}

static int get_freq(const rill_blob_reader *ev, uint32_t tag, rill_freq_bucket *q, rill_err *err)
{
    rill_blob_reader r;
    int rc = open_nested(ev, tag, FREQ_MAGIC, &r, "the run state's frequency bucket", err);
    if (rc <= 0)
        return rc;
    if ((rc = rill_blob_get_u64(&r, RILL_FQ_LO, &q->lo, 0, err)) ||
        (rc = rill_blob_get_u64(&r, RILL_FQ_HI, &q->hi, 0, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_FQ_AUC, &q->auc, (double)NAN, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_FQ_LOGLOSS, &q->logloss, (double)NAN, err)) ||
        (rc = rill_blob_get_u64(&r, RILL_FQ_N, &q->n, 0, err)))
        return rc;
    return RILL_OK;
}

static int get_count(const rill_blob_reader *r, uint32_t tag, int *v, int max, rill_err *err)
{
    int32_t x = 0;
    int rc = get_i32(r, tag, &x, err);
    if (rc)
        return rc;
    if (x < 0 || x > max)
        return rill_errf(err, RILL_ESTORE, "%s: field %u is %d, not in [0, %d]", r->what, tag, x,
                         max);
    *v = x;
    return RILL_OK;
}

static int get_eval(const rill_blob_reader *st, uint32_t tag, rill_eval_result *e, rill_err *err)
{
    rill_blob_reader r;
    memset(e, 0, sizeof *e);
    int rc = open_nested(st, tag, EVAL_MAGIC, &r, "the run state's evaluation", err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return rill_errf(err, RILL_ESTORE, "%s: damaged: it has no field %u", st->what, tag);
    if ((rc = get_count(&r, RILL_EV_NTASKS, &e->ntasks, RILL_MAX_TASKS, err)) ||
        (rc = rill_blob_get_u64(&r, RILL_EV_ROWS, &e->rows, 0, err)) ||
        (rc = rill_blob_get_f64(&r, RILL_EV_SECONDS, &e->seconds, 0, err)) ||
        (rc = get_str(&r, RILL_EV_FREQ_FIELD, e->freq_field, sizeof e->freq_field, err)) ||
        (rc = get_count(&r, RILL_EV_NFREQ, &e->nfreq, RILL_MAX_FREQ, err)))
        return rc;
    for (int k = 0; k < RILL_MAX_TASKS; k++)
        if ((rc = get_task(&r, RILL_EV_TASK + (uint32_t)k, &e->task[k], err)))
            return rc;
    for (int j = 0; j < RILL_MAX_FREQ; j++)
        if ((rc = get_freq(&r, RILL_EV_FREQ + (uint32_t)j, &e->freq[j], err)))
            return rc;
    return RILL_OK;
}

static int get_loop(const rill_blob_reader *r, rill_run_state *st, rill_err *err)
{
    int rc;
    if ((rc = rill_blob_get_u64(r, RILL_RS_STEP, &st->step, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_EXAMPLES, &st->examples, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_BAD_TOTAL, &st->bad_total, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_BEST_STEP, &st->best_step, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_METRICS_BYTES, &st->metrics_bytes, 0, err)) ||
        (rc = get_i32(r, RILL_RS_EPOCH, &st->epoch, err)) ||
        (rc = get_i32(r, RILL_RS_EPOCH_DONE, &st->epoch_done, err)) ||
        (rc = get_i32(r, RILL_RS_FINISHED, &st->finished, err)) ||
        (rc = get_i32(r, RILL_RS_SINCE_BEST, &st->since_best, err)) ||
        (rc = get_i32(r, RILL_RS_EARLY_STOPPED, &st->early_stopped, err)) ||
        (rc = get_i32(r, RILL_RS_HAS_POS, &st->has_pos, err)) ||
        (rc = rill_blob_get_f64(r, RILL_RS_EMA, &st->ema, 0, err)) ||
        (rc = rill_blob_get_f64(r, RILL_RS_EMA_W, &st->ema_w, 0, err)))
        return rc;
    rill_data_pos *p = &st->pos;
    if ((rc = rill_blob_get_u64(r, RILL_RS_POS_EPOCH, &p->epoch, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_POS_CHUNK, &p->chunk, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_POS_BATCH, &p->batch, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_POS_OFFSET, &p->offset, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_POS_LINE, &p->line, 0, err)) ||
        (rc = rill_blob_get_u64(r, RILL_RS_POS_BAD_LINES, &p->bad_lines, 0, err)))
        return rc;
    return RILL_OK;
}

static int legacy_load(rill_run_state *st, const void *blob, size_t len, uint32_t version,
                       rill_err *err);

int rill_run_state_load(rill_run_state *st, const void *blob, size_t len, rill_err *err)
{
    uint32_t head[2] = {0, 0};
    memset(st, 0, sizeof *st);
    if (len >= sizeof head)
        memcpy(head, blob, sizeof head);
    if (head[0] == STATE_MAGIC && (head[1] == 1 || head[1] == 2))
        return legacy_load(st, blob, len, head[1], err);
    rill_blob_reader r;
    int rc = rill_blob_open(&r, blob, len, STATE_MAGIC, STATE_VERSION, "the run state", err);
    if (rc)
        return rc;
    uint32_t end;
    if (rill_blob_get_bytes(&r, RILL_RS_END, &end, sizeof end, err))
        return rill_errf(err, RILL_ESTORE, "the run state: truncated (%zu bytes, no end field)",
                         len);
    if ((rc = get_loop(&r, st, err)) || (rc = get_eval(&r, RILL_RS_BEST, &st->best, err)) ||
        (rc = get_eval(&r, RILL_RS_LAST, &st->last, err)))
        return rc;
    return RILL_OK;
}

/* ---- the legacy reader: versions 1 and 2, the raw bytes of the struct ----
 * Frozen copies of the structs as those builds laid them out (they must never change); new
 * blobs are never written this way. Version 2 added mean_pred to the task metrics. */

typedef struct {
    char task[64], label[64];
    double auc, logloss, pos_rate;
    uint64_t n;
    double gauc;
    uint64_t groups;
} legacy_task_v1;

typedef struct {
    char task[64], label[64];
    double auc, logloss, pos_rate, mean_pred;
    uint64_t n;
    double gauc;
    uint64_t groups;
} legacy_task_v2;

typedef struct {
    uint64_t lo, hi;
    double auc, logloss;
    uint64_t n;
} legacy_freq;

/* the evaluation and the state around it, over task metrics of type TASK */
#define LEGACY_STATE(TASK)                                                                 \
    struct {                                                                               \
        uint32_t magic, version;                                                           \
        uint64_t step, examples, bad_total, best_step, metrics_bytes;                      \
        int32_t epoch, epoch_done, finished, since_best, early_stopped, has_pos;           \
        uint64_t pos[6];                                                                   \
        double ema, ema_w;                                                                 \
        struct {                                                                           \
            int ntasks;                                                                    \
            TASK task[8];                                                                  \
            uint64_t rows;                                                                 \
            double seconds;                                                                \
            char freq_field[64];                                                           \
            int nfreq;                                                                     \
            legacy_freq freq[6];                                                           \
        } best, last;                                                                      \
    }
typedef LEGACY_STATE(legacy_task_v1) legacy_state_v1;
typedef LEGACY_STATE(legacy_task_v2) legacy_state_v2;
/* the sizes those builds wrote (on x86-64, the machines Rill runs on) */
_Static_assert(sizeof(legacy_state_v1) == 3624, "the legacy run state v1 layout changed");
_Static_assert(sizeof(legacy_state_v2) == 3752, "the legacy run state v2 layout changed");

/* The fields both versions share; mean_pred is copied by the caller where it exists. */
#define LEGACY_COPY_EVAL(e, o)                                                              \
    do {                                                                                   \
        (e)->ntasks = (o)->ntasks < 0 || (o)->ntasks > RILL_MAX_TASKS ? 0 : (o)->ntasks;    \
        for (int k_ = 0; k_ < 8; k_++) {                                                   \
            rill_task_metrics *m_ = &(e)->task[k_];                                        \
            memcpy(m_->task, (o)->task[k_].task, sizeof m_->task);                         \
            memcpy(m_->label, (o)->task[k_].label, sizeof m_->label);                      \
            m_->task[sizeof m_->task - 1] = m_->label[sizeof m_->label - 1] = 0;           \
            m_->auc = (o)->task[k_].auc, m_->logloss = (o)->task[k_].logloss;              \
            m_->pos_rate = (o)->task[k_].pos_rate, m_->n = (o)->task[k_].n;                \
            m_->gauc = (o)->task[k_].gauc, m_->groups = (o)->task[k_].groups;              \
            m_->mean_pred = (double)NAN;                                                   \
        }                                                                                  \
        (e)->rows = (o)->rows, (e)->seconds = (o)->seconds;                                \
        memcpy((e)->freq_field, (o)->freq_field, sizeof (e)->freq_field);                  \
        (e)->freq_field[sizeof (e)->freq_field - 1] = 0;                                   \
        (e)->nfreq = (o)->nfreq < 0 || (o)->nfreq > RILL_MAX_FREQ ? 0 : (o)->nfreq;         \
        for (int j_ = 0; j_ < 6; j_++) {                                                   \
            (e)->freq[j_].lo = (o)->freq[j_].lo, (e)->freq[j_].hi = (o)->freq[j_].hi;       \
            (e)->freq[j_].auc = (o)->freq[j_].auc, (e)->freq[j_].n = (o)->freq[j_].n;       \
            (e)->freq[j_].logloss = (o)->freq[j_].logloss;                                 \
        }                                                                                  \
    } while (0)

#define LEGACY_COPY_STATE(st, o)                                                            \
    do {                                                                                   \
        (st)->step = (o)->step, (st)->examples = (o)->examples;                            \
        (st)->bad_total = (o)->bad_total, (st)->best_step = (o)->best_step;                \
        (st)->metrics_bytes = (o)->metrics_bytes;                                          \
        (st)->epoch = (o)->epoch, (st)->epoch_done = (o)->epoch_done;                      \
        (st)->finished = (o)->finished, (st)->since_best = (o)->since_best;                \
        (st)->early_stopped = (o)->early_stopped, (st)->has_pos = (o)->has_pos;            \
        (st)->pos = (rill_data_pos){(o)->pos[0], (o)->pos[1], (o)->pos[2], (o)->pos[3],     \
                                    (o)->pos[4], (o)->pos[5]};                             \
        (st)->ema = (o)->ema, (st)->ema_w = (o)->ema_w;                                    \
        LEGACY_COPY_EVAL(&(st)->best, &(o)->best);                                         \
        LEGACY_COPY_EVAL(&(st)->last, &(o)->last);                                         \
    } while (0)

static int legacy_load(rill_run_state *st, const void *blob, size_t len, uint32_t version,
                       rill_err *err)
{
    size_t want = version == 1 ? sizeof(legacy_state_v1) : sizeof(legacy_state_v2);
    if (len != want)
        return rill_errf(err, RILL_ESTORE, "the run state (version %u, raw): %zu bytes, expected "
                         "%zu: truncated or damaged", version, len, want);
    if (version == 1) {
        legacy_state_v1 *o = malloc(sizeof *o); /* copied out: the blob may be unaligned */
        if (!o)
            return rill_errf(err, RILL_ENOMEM, "out of memory reading the run state");
        memcpy(o, blob, sizeof *o);
        LEGACY_COPY_STATE(st, o);
        free(o);
        return RILL_OK;
    }
    legacy_state_v2 *o = malloc(sizeof *o);
    if (!o)
        return rill_errf(err, RILL_ENOMEM, "out of memory reading the run state");
    memcpy(o, blob, sizeof *o);
    LEGACY_COPY_STATE(st, o);
    for (int k = 0; k < RILL_MAX_TASKS; k++)
        st->best.task[k].mean_pred = o->best.task[k].mean_pred,
        st->last.task[k].mean_pred = o->last.task[k].mean_pred;
    free(o);
    return RILL_OK;
}
