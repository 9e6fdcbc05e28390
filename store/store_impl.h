/* Inside the store: what store.c and table.c share. Not seen by anything outside store/. */
#ifndef RILL_STORE_IMPL_H
#define RILL_STORE_IMPL_H

#include <lmdb.h>

#include "store.h"

struct rill_store {
    char dir[4096];
    char path[4200];
    MDB_env *env;
    int mode;
    size_t map_size;
    MDB_dbi dense, state, meta;
    rill_table **tables;
    int ntables;
    size_t cache_bytes;
    bool budgets_set;
    int lock_fd;
    bool has_checkpoint;
    uint64_t step;          /* the step running (rill_store_set_step) */
    uint64_t checkpoints, last_ckpt_bytes, total_ckpt_bytes, total_ckpt_rows;
    double last_ckpt_seconds, total_ckpt_seconds;
    struct pending_meta {
        char *key;
        void *val;
        size_t len;
    } *pending;
    int npending;
};

/* One write transaction running fn; on MDB_MAP_FULL the map grows and fn runs again (so fn
 * must be repeatable). Returns RILL_OK or an error naming the store and what failed. */
typedef int (*rill_store_write_fn)(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err);
int rill_store_write(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                     rill_err *err);
/* An LMDB error as a Rill error naming the store and what was being done. */
int rill_store_mdb_err(rill_store *s, int rc, const char *what, rill_err *err);

/* Table side: the store backs a table with its main and spill databases. */
void rill_table_attach(rill_table *t, rill_store *s, MDB_dbi main, MDB_dbi spill);
void rill_table_set_budget(rill_table *t, size_t rows);
void rill_table_set_stored_rows(rill_table *t, uint64_t rows);
size_t rill_table_row_bytes(const rill_table *t); /* cache bytes per row */
/* Within a checkpoint's transaction: dirty rows and the spill into the main database. */
int rill_table_flush(rill_table *t, MDB_txn *txn, uint64_t *rows, uint64_t *bytes,
                     rill_err *err);
void rill_table_flushed(rill_table *t); /* after the commit: dirty rows are clean */
int rill_table_sweep(rill_table *t, MDB_txn *txn, MDB_dbi meta, uint64_t step, size_t budget,
                     rill_err *err);
void rill_table_set_sweep(rill_table *t, uint64_t pos);
int rill_table_write_pending(rill_table *t, MDB_txn *txn, MDB_dbi meta, rill_err *err);
int rill_table_read_pending(rill_table *t, const void *blob, size_t len);
void rill_table_set_step(rill_table *t, uint64_t step);
/* After a step: evict rows over the budget (dirty ones spilled), end read transactions. */
int rill_table_end_step(rill_table *t, uint64_t step, rill_err *err);
void rill_table_end_reads(rill_table *t);
/* Writes every row of [0, rows) that the store lacks, initialised, in key order. */
int rill_table_prefill(rill_table *t, rill_err *err);

#endif
