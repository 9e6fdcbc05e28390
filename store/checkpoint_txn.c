/* The checkpoint (store.h: rill_store_checkpoint, rill_store_restore): what it writes copied
 * on the caller's thread (the tables' dirty rows, the caller's values, the meta values, the
 * trainer's state), then one LMDB write transaction holding it all, with the spilled rows
 * folded back into the tables and a part of the eviction sweep, on a thread of its own; and
 * the restore that reads it back. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_impl.h"
#include "util.h"

/* ---- checkpoints ---- */

/* A value put_all handed over, copied. */
typedef struct {
    rill_ckpt_space sp;
    char *key;
    void *data;
    size_t len;
} ckpt_value;

/* A checkpoint: everything it writes, copied on the caller's thread, then written by one
 * transaction (on the writer's thread in the background), then finished on the caller's. */
typedef struct rill_ckpt_job {
    rill_store *s;
    uint64_t step;
    rill_table_snap *snaps; /* one per table */
    int ntables;
    ckpt_value *vals;
    size_t nvals, vals_cap;
    struct pending_meta *meta;
    int nmeta;
    void *state;
    size_t state_len;
    bool background;
    pthread_t thread;
    /* the transaction's result */
    int rc;
    rill_err err;
    uint64_t rows, bytes, disk_bytes;
    uint64_t slice_bytes;   /* the rolling fold's transactions' */
    double seconds;
} ckpt_job;

/* What the caller's put and get see: the store, and the transaction of a restore or the job
 * a checkpoint's values are copied into. */
struct rill_ckpt {
    rill_store *s;
    MDB_txn *txn;
    ckpt_job *job;
};

static MDB_dbi ckpt_db(const rill_store *s, rill_ckpt_space sp)
{
    return sp == RILL_CKPT_DENSE ? s->dense : s->state;
}

const char *rill_ckpt_file(const rill_ckpt *c)
{
    return c->s->path;
}

int rill_ckpt_put(rill_ckpt *c, rill_ckpt_space sp, const char *key, const rill_ckpt_part *parts,
                  int nparts)
{
    ckpt_job *j = c->job;
    size_t n = 0;
    for (int i = 0; i < nparts; i++)
        n += parts[i].len;
    if (j->nvals == j->vals_cap) {
        size_t cap = j->vals_cap ? j->vals_cap * 2 : 64;
        ckpt_value *v = realloc(j->vals, cap * sizeof *v);
        if (!v)
            return RILL_ENOMEM;
        j->vals = v;
        j->vals_cap = cap;
    }
    ckpt_value *v = &j->vals[j->nvals];
    v->sp = sp;
    v->key = strdup(key);
    v->data = malloc(n ? n : 1);
    v->len = n;
    if (!v->key || !v->data) {
        free(v->key);
        free(v->data);
        return RILL_ENOMEM;
    }
    char *dst = v->data;
    for (int i = 0; i < nparts; i++) {
        if (parts[i].len)
            memcpy(dst, parts[i].data, parts[i].len);
        dst += parts[i].len;
    }
    j->nvals++;
    return RILL_OK;
}

int rill_ckpt_get(rill_ckpt *c, rill_ckpt_space sp, const char *key, const void **val,
                  size_t *len, const char *what, rill_err *err)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = rill_get_sealed(c->s, c->txn, ckpt_db(c->s, sp), &k, &v, what, err);
    if (rc == MDB_NOTFOUND)
        return RILL_EOF;
    if (rc)
        return rc;
    *val = v.mv_data;
    *len = v.mv_size;
    return RILL_OK;
}

/* The transaction: the tables' rows, the values, the meta values, the run state. Runs again
 * from the start when the map grows. */
static int job_txn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    ckpt_job *j = ctx;
    int rc;
    j->rows = 0;
    j->bytes = j->slice_bytes;
    for (int i = 0; i < j->ntables; i++)
        if ((rc = rill_table_snap_write(s->tables[i], &j->snaps[i], txn, s->meta, j->step,
                                        &j->rows, &j->bytes, err)))
            return rc;
    for (size_t i = 0; i < j->nvals; i++) {
        MDB_val k = {strlen(j->vals[i].key), j->vals[i].key};
        if ((rc = rill_put_sealed(s, txn, ckpt_db(s, j->vals[i].sp), &k, j->vals[i].data,
                                  j->vals[i].len)))
            return rc;
        j->bytes += rill_sealed_len(s, j->vals[i].len);
    }
    for (int i = 0; i < j->nmeta; i++) {
        MDB_val k = {strlen(j->meta[i].key), j->meta[i].key};
        if ((rc = rill_put_sealed(s, txn, s->meta, &k, j->meta[i].val, j->meta[i].len)))
            return rc;
    }
    MDB_val k = {3, (void *)"run"};
    if ((rc = rill_put_sealed(s, txn, s->state, &k, j->state, j->state_len)))
        return rc;
    j->bytes += j->state_len;
    if (j->background && s->ckpt_pause > 0) {
        /* the crash tests' window: everything written, nothing committed */
        fprintf(stderr, "checkpoint of step %llu: written, committing in %.1f s "
                        "(RILL_CHECKPOINT_PAUSE)\n", (unsigned long long)j->step, s->ckpt_pause);
        struct timespec ts = {(time_t)s->ckpt_pause,
                              (long)((s->ckpt_pause - (double)(time_t)s->ckpt_pause) * 1e9)};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    return RILL_OK;
}

/* What this thread has written to the disk (its /proc write_bytes: the pages LMDB wrote);
 * 0 where the kernel does not say. */
static uint64_t thread_write_bytes(void)
{
    FILE *f = fopen("/proc/thread-self/io", "r");
    if (!f)
        return 0;
    char key[64];
    unsigned long long v, out = 0;
    while (fscanf(f, "%63[^:]: %llu\n", key, &v) == 2)
        if (!strcmp(key, "write_bytes"))
            out = v;
    fclose(f);
    return out;
}

typedef struct {
    ckpt_job *j;
    int table;
    rill_gens_state next;
    uint64_t bytes;
} slice_ctx;

static int slice_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    slice_ctx *c = ctx;
    rill_table_snap *sn = &c->j->snaps[c->table];
    c->next = sn->sliced;
    c->bytes = 0;
    return rill_gens_slice_step(s->tables[c->table], sn, &c->next, txn, &c->bytes, err);
}

/* The rolling fold's transactions (table_gens.c), before the checkpoint's own: each small,
 * since LMDB keeps in memory every page a transaction changes. here: on the caller's thread,
 * where the map may grow; else once each, on the writer's. */
static int job_slices(ckpt_job *j, bool here, rill_err *err)
{
    rill_store *s = j->s;
    for (int i = 0; i < j->ntables; i++) {
        rill_table_snap *sn = &j->snaps[i];
        while (rill_gens_slice_pending(sn)) {
            slice_ctx c = {.j = j, .table = i};
            int rc = here ? rill_store_write(s, slice_fn, &c, "folding a slice of a table", err)
                          : rill_store_write_once(s, slice_fn, &c, "folding a slice of a table",
                                                  err);
            if (rc)
                return rc;
            sn->sliced = c.next;
            j->slice_bytes += c.bytes;
        }
    }
    return RILL_OK;
}

/* The transaction, once, timed: on the writer's thread, or on the caller's. */
static void job_run_once(ckpt_job *j)
{
    double t0 = rill_now();
    uint64_t w0 = thread_write_bytes();
    j->rc = job_slices(j, false, &j->err);
    if (!j->rc)
        j->rc = rill_store_write_once(j->s, job_txn, j, "writing a checkpoint", &j->err);
    j->disk_bytes += thread_write_bytes() - w0;
    j->seconds += rill_now() - t0;
}

static void *writer_main(void *arg)
{
    ckpt_job *j = arg;
    job_run_once(j);
    /* committed: the rows' copies are done with, and would otherwise be held until the next
     * checkpoint waits for this one (on a large table, hundreds of MB for a whole interval);
     * a failed transaction keeps them, to run again on the caller's thread */
    for (int i = 0; !j->rc && i < j->ntables; i++) {
        free(j->snaps[i].vals);
        j->snaps[i].vals = NULL;
    }
    return NULL;
}

static void job_free(ckpt_job *j)
{
    for (size_t i = 0; i < j->nvals; i++) {
        free(j->vals[i].key);
        free(j->vals[i].data);
    }
    free(j->vals);
    for (int i = 0; i < j->nmeta; i++) {
        free(j->meta[i].key);
        free(j->meta[i].val);
    }
    free(j->meta);
    free(j->state);
    free(j->snaps);
    free(j);
}

/* After the transaction, on the caller's thread: the tables told, the meta values given back
 * when it failed (a later checkpoint writes them), the totals. */
static void job_finish(rill_store *s, ckpt_job *j, bool committed)
{
    uint64_t row_bytes = 0;
    for (int i = 0; i < j->ntables; i++) {
        row_bytes += j->snaps[i].dirtied * j->snaps[i].val_bytes;
        rill_table_snap_done(s->tables[i], &j->snaps[i], committed);
    }
    for (int i = 0; !committed && i < j->nmeta; i++) {
        bool newer = false; /* set again since: that value wins */
        for (int k = 0; k < s->npending && !newer; k++)
            newer = strcmp(s->pending[k].key, j->meta[i].key) == 0;
        rill_err ignored = {0}; /* out of memory: the value is lost with the checkpoint */
        if (!newer)
            rill_store_set_meta(s, j->meta[i].key, j->meta[i].val, j->meta[i].len, &ignored);
    }
    if (committed) {
        s->has_checkpoint = true;
        s->checkpoints++;
        s->last_ckpt_bytes = j->bytes;
        s->last_ckpt_seconds = j->seconds;
        s->total_ckpt_bytes += j->bytes;
        s->total_ckpt_rows += j->rows;
        s->total_ckpt_seconds += j->seconds;
        s->total_ckpt_disk_bytes += j->disk_bytes;
        s->last_ckpt_disk_bytes = j->disk_bytes;
        s->last_ckpt_row_bytes = row_bytes;
        s->total_ckpt_row_bytes += row_bytes;
    }
}

/* The transaction on the caller's thread, the map grown as often as it fills up. */
static int job_run_here(rill_store *s, ckpt_job *j, rill_err *err)
{
    double t0 = rill_now();
    int rc = job_slices(j, true, err);
    if (!rc)
        rc = rill_store_write(s, job_txn, j, "writing a checkpoint", err);
    j->seconds += rill_now() - t0;
    return rc;
}

int rill_store_checkpoint_wait(rill_store *s, rill_err *err)
{
    ckpt_job *j = s->job;
    if (!j)
        return RILL_OK;
    double t0 = rill_now();
    s->job = NULL;
    pthread_join(j->thread, NULL);
    int rc = j->rc;
    if (rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED) {
        /* the map can only grow with no transaction open in the process: here, not there */
        rc = job_run_here(s, j, &j->err);
    } else if (rill_is_mdb_code(rc)) {
        rc = rill_store_mdb_err(s, rc, "writing a checkpoint", &j->err);
    }
    job_finish(s, j, rc == RILL_OK);
    if (rc) {
        *err = j->err;
        rill_err_prefix(err, "the checkpoint of step %llu (written in the background): ",
                        (unsigned long long)j->step);
    }
    job_free(j);
    s->total_ckpt_wait_seconds += rill_now() - t0;
    return rc;
}

/* Before a background transaction: room in the map for it (no thread but the writer may
 * resize it once it runs). A transaction writes at most about a page per row and value. */
static int reserve_map(rill_store *s, const ckpt_job *j, rill_err *err)
{
    MDB_envinfo ei;
    MDB_stat st;
    if (mdb_env_info(s->env, &ei) || mdb_env_stat(s->env, &st))
        return RILL_OK;
    uint64_t psize = st.ms_psize, pages = 1024, bytes = j->state_len;
    for (int i = 0; i < j->ntables; i++) {
        const rill_table_snap *sn = &j->snaps[i];
        pages += 2 * sn->n + (sn->fold_spill ? 2 * rill_table_spill_rows(s->tables[i]) : 0);
        if (sn->fold)
            pages += 2 * sn->before.entries;
        else /* the rolling fold's slice goes into the base */
            pages += 2 * sn->slice_len / 8 + 2 * sn->before.entries / RILL_GENS_CYCLE; /* the generations' rows go into the base */
    }
    for (size_t i = 0; i < j->nvals; i++)
        bytes += j->vals[i].len;
    uint64_t need = (ei.me_last_pgno + 1 + pages) * psize + 2 * bytes + ((uint64_t)64 << 20);
    if (need <= s->map_size)
        return RILL_OK;
    return rill_store_resize_map(s, s->map_size * 2 > need ? s->map_size * 2 : (size_t)need, err);
}

/* The copies: every table's snapshot, put_all's values, the meta values, the state. */
static int job_take(rill_store *s, ckpt_job *j, rill_ckpt_put_fn put_all, void *ud,
                    const void *state, size_t state_len, bool pin, rill_err *err)
{
    int rc;
    j->snaps = calloc((size_t)(s->ntables ? s->ntables : 1), sizeof *j->snaps);
    j->state = malloc(state_len ? state_len : 1);
    if (!j->snaps || !j->state)
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory taking a checkpoint", s->path);
    if (state_len)
        memcpy(j->state, state, state_len);
    j->state_len = state_len;
    for (; j->ntables < s->ntables; j->ntables++)
        if ((rc = rill_table_snapshot(s->tables[j->ntables], &j->snaps[j->ntables], pin, err)))
            return rc;
    s->fold_next = false;
    rill_ckpt ck = {s, NULL, j};
    if (put_all && (rc = put_all(ud, &ck, err)))
        return rc == RILL_ENOMEM
                   ? rill_errf(err, RILL_ENOMEM, "%s: out of memory taking a checkpoint", s->path)
                   : rc;
    j->meta = s->pending;
    j->nmeta = s->npending;
    s->pending = NULL;
    s->npending = 0;
    return RILL_OK;
}

int rill_store_checkpoint(rill_store *s, rill_ckpt_put_fn put_all, void *ud, const void *state,
                          size_t state_len, rill_err *err)
{
    int rc = rill_store_checkpoint_wait(s, err);
    if (rc)
        return rc;
    if (s->mode == RILL_STORE_READ)
        return rill_errf(err, RILL_ESTORE, "%s: writing a checkpoint: the store is open read-only",
                         s->path);
    if (rill_store_refuse_damaged(s, err))
        return RILL_ESTORE;
    double t0 = rill_now();
    ckpt_job *j = calloc(1, sizeof *j);
    if (!j)
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory taking a checkpoint", s->path);
    j->s = s;
    j->step = s->step;
    bool background = !s->sync_checkpoints && !s->sync_next;
    s->sync_next = false;
    for (int i = 0; i < s->ntables; i++)
        if (rill_table_sweeps(s->tables[i]))
            background = false;
    if ((rc = job_take(s, j, put_all, ud, state, state_len, background, err)) ||
        (background && (rc = reserve_map(s, j, err)))) {
        job_finish(s, j, false);
        job_free(j);
        return rc;
    }
    j->background = background;
    if (background && pthread_create(&j->thread, NULL, writer_main, j) == 0) {
        s->job = j;
        s->total_ckpt_wait_seconds += rill_now() - t0;
        return RILL_OK;
    }
    j->background = false;
    rill_store_end_all_reads(s);
    rc = job_run_here(s, j, err);
    job_finish(s, j, rc == RILL_OK);
    job_free(j);
    s->total_ckpt_wait_seconds += rill_now() - t0;
    return rc;
}

typedef struct {
    rill_ckpt_get_fn get_all;
    void *ud;
    void *state;
    size_t state_len;
    bool found;
} restore_ctx;

static int restore_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    restore_ctx *c = ctx;
    MDB_val k = {3, (void *)"run"}, v;
    int rc = rill_get_sealed(s, txn, s->state, &k, &v, "the run state", err);
    if (rc == MDB_NOTFOUND)
        return RILL_OK;
    if (rc)
        return rc;
    c->found = true;
    if (!(c->state = malloc(v.mv_size ? v.mv_size : 1)))
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    memcpy(c->state, v.mv_data, v.mv_size);
    c->state_len = v.mv_size;
    rill_ckpt ck = {s, txn, NULL};
    return c->get_all ? c->get_all(c->ud, &ck, err) : RILL_OK;
}

int rill_store_restore(rill_store *s, rill_ckpt_get_fn get_all, void *ud, void **state,
                       size_t *state_len, rill_err *err)
{
    restore_ctx c = {get_all, ud, NULL, 0, false};
    int rc = rill_store_read(s, restore_fn, &c, "reading the checkpoint", err);
    if (rc || !c.found) {
        free(c.state);
        *state = NULL;
        *state_len = 0;
        return rc ? rc : RILL_EOF;
    }
    *state = c.state;
    *state_len = c.state_len;
    return RILL_OK;
}
