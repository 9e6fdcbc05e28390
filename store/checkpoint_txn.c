/* The checkpoint transaction (store.h: rill_store_checkpoint, rill_store_restore): one LMDB
 * write holding the caller's values (rill_ckpt_put/get), the tables' dirty rows, the spilled
 * rows folded back into the tables and a part of the eviction sweep, and the trainer's state;
 * a restore reads it back. */

#include <string.h>

#include "store_impl.h"
#include "util.h"

/* ---- checkpoints ---- */

/* What the caller's put and get see: the store and the checkpoint's transaction. */
struct rill_ckpt {
    rill_store *s;
    MDB_txn *txn;
    uint64_t bytes; /* written so far */
};

static MDB_dbi ckpt_db(const rill_ckpt *c, rill_ckpt_space sp)
{
    return sp == RILL_CKPT_DENSE ? c->s->dense : c->s->state;
}

const char *rill_ckpt_file(const rill_ckpt *c)
{
    return c->s->path;
}

int rill_ckpt_put(rill_ckpt *c, rill_ckpt_space sp, const char *key, const rill_ckpt_part *parts,
                  int nparts)
{
    size_t n = 0;
    for (int i = 0; i < nparts; i++)
        n += parts[i].len;
    /* reserved in place and filled part by part: a parameter and its optimizer state go in
     * without being gathered into a buffer first */
    MDB_val k = {strlen(key), (void *)key}, v = {rill_sealed_len(c->s, n), NULL};
    int rc = mdb_put(c->txn, ckpt_db(c, sp), &k, &v, MDB_RESERVE);
    if (rc)
        return rc;
    char *dst = v.mv_data; /* LMDB aligns values to 2 bytes only: copies, no float access */
    for (int i = 0; i < nparts; i++) {
        if (parts[i].len)
            memcpy(dst, parts[i].data, parts[i].len);
        dst += parts[i].len;
    }
    rill_seal(c->s, &k, v.mv_data, n);
    c->bytes += v.mv_size;
    return RILL_OK;
}

int rill_ckpt_get(rill_ckpt *c, rill_ckpt_space sp, const char *key, const void **val,
                  size_t *len, const char *what, rill_err *err)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = rill_get_sealed(c->s, c->txn, ckpt_db(c, sp), &k, &v, what, err);
    if (rc == MDB_NOTFOUND)
        return RILL_EOF;
    if (rc)
        return rc;
    *val = v.mv_data;
    *len = v.mv_size;
    return RILL_OK;
}

typedef struct {
    rill_ckpt_put_fn put_all;
    void *ud;
    const void *state;
    size_t state_len;
    uint64_t bytes, rows;
} ckpt_ctx;

/* The tables' part of a checkpoint: dirty and spilled rows, a part of the eviction sweep,
 * the rows waiting for admission. */
static int ckpt_tables(rill_store *s, MDB_txn *txn, ckpt_ctx *c, rill_err *err)
{
    int rc;
    for (int i = 0; i < s->ntables; i++) {
        uint64_t rows0 = c->rows;
        if ((rc = rill_table_flush(s->tables[i], txn, &c->rows, &c->bytes, err)))
            return rc;
        /* a sweep visits a few times what this checkpoint writes of the table */
        size_t budget = (size_t)(4 * (c->rows - rows0)) + 4096;
        if ((rc = rill_table_sweep(s->tables[i], txn, s->meta, s->step, budget, err)) ||
            (rc = rill_table_write_pending(s->tables[i], txn, s->meta, err)))
            return rc;
    }
    return RILL_OK;
}

/* One attempt at the whole checkpoint; run again from the start when the map grows. */
static int ckpt_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    ckpt_ctx *c = ctx;
    int rc;
    c->bytes = 0;
    c->rows = 0;
    if ((rc = ckpt_tables(s, txn, c, err)))
        return rc;
    rill_ckpt ck = {s, txn, 0};
    if (c->put_all && (rc = c->put_all(c->ud, &ck, err)))
        return rc;
    c->bytes += ck.bytes;
    if ((rc = rill_store_meta_fn(s, txn, NULL, err)))
        return rc;
    MDB_val k = {3, (void *)"run"};
    if ((rc = rill_put_sealed(s, txn, s->state, &k, c->state, c->state_len)))
        return rc;
    c->bytes += c->state_len;
    return RILL_OK;
}

int rill_store_checkpoint(rill_store *s, rill_ckpt_put_fn put_all, void *ud, const void *state,
                          size_t state_len, rill_err *err)
{
    double t0 = rill_now();
    rill_store_end_all_reads(s);
    ckpt_ctx c = {put_all, ud, state, state_len, 0, 0};
    int rc = rill_store_write(s, ckpt_fn, &c, "writing a checkpoint", err);
    if (rc)
        return rc;
    for (int i = 0; i < s->ntables; i++)
        rill_table_flushed(s->tables[i]);
    rill_store_drop_pending(s);
    s->has_checkpoint = true;
    s->checkpoints++;
    s->last_ckpt_bytes = c.bytes;
    s->last_ckpt_seconds = rill_now() - t0;
    s->total_ckpt_bytes += c.bytes;
    s->total_ckpt_rows += c.rows;
    s->total_ckpt_seconds += s->last_ckpt_seconds;
    return RILL_OK;
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
    rill_ckpt ck = {s, txn, 0};
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
