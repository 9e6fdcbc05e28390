/* Inside the store: what store.c, table.c and the files split from them share. Not seen by
 * anything outside store/. */
#ifndef RILL_STORE_IMPL_H
#define RILL_STORE_IMPL_H

#include <lmdb.h>
#include <setjmp.h>

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
    bool sealed;            /* format 3 and later: every value ends in a checksum (rill_seal) */
    bool damaged;           /* a guarded LMDB call faulted: nothing more is read or written */
    char damage[1024];      /* the first fault's message */
    char run_id[40];        /* the run's identity, kept in meta "run_id" and DIR/run.id */
    char stored_id[40];     /* the identity the store holds ("" for a store from before them) */
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
/* One read transaction running fn under a guard; its commit keeps the database handles fn
 * opened. Returns RILL_OK, or an error naming the store and what failed. */
int rill_store_read(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                    rill_err *err);
/* DIR/run.id := id (a temporary file renamed into place). */
int rill_write_run_id(const char *dir, const char *id, rill_err *err);
/* Whether rc is LMDB's (errno values, and its own codes MDB_KEYEXIST..MDB_LAST_ERRCODE) rather
 * than a Rill code whose message is already in err. */
static inline bool rill_is_mdb_code(int rc)
{
    return rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE);
}
/* An LMDB error as a Rill error naming the store and what was being done. */
int rill_store_mdb_err(rill_store *s, int rc, const char *what, rill_err *err);

/* ---- shared by store.c and the files split from it ---- */

/* Ends every table's read transaction of this step (a write is about to run, or the store
 * closes). */
void rill_store_end_all_reads(rill_store *s);
/* meta.c: a write transaction's part that puts the meta values rill_store_set_meta queued;
 * and the queue's end, once they are written (or given up). */
int rill_store_meta_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err);
void rill_store_drop_pending(rill_store *s);

/* ---- opening's checks (open_checks.c) ---- */

/* A new run's identity: 128 random bits as hex. */
int rill_new_run_id(char *out, size_t cap, rill_err *err);
/* The store's identity against DIR/run.id's (a writer gives an old store one). */
int rill_store_check_run_id(rill_store *s, rill_err *err);
/* An existing file's meta pages checked before LMDB maps it. */
int rill_store_check_file(rill_store *s, rill_err *err);
/* The pages of the current snapshot walked (pages.c): all of them, or with a large store and
 * !all, all but the tables' rows. */
int rill_store_walk_pages(rill_store *s, bool all, rill_err *err);

/* ---- guards: LMDB's faults on a damaged file as errors (guard.c) ---- */

typedef struct rill_guard {
    sigjmp_buf jb;
    struct rill_guard *prev;
    rill_store *s;
    MDB_txn *volatile txn;     /* aborted after a fault: register it once begun */
    MDB_cursor *volatile cur[8]; /* read transactions' cursors, closed after a fault (a read
                                  * transaction's abort does not free them) */
    volatile int ncur;
    volatile int fault;        /* the signal that faulted, or 0 for an assertion */
    char msg[400];             /* LMDB's assertion message */
} rill_guard;

/* Once per environment, before it is used: the assertion callback (and, once per process,
 * the SIGBUS/SIGSEGV handlers). */
void rill_guard_setup(MDB_env *env);
/* rc = call, run under guard g of store s (sigsetjmp must be called in the frame that stays
 * live, hence a macro; call may use g). After a fault, on_fault runs, then rill_guard_fail
 * closes the cursors, aborts g.txn, marks the store damaged and fills err (naming the file and
 * `what`), and rc is RILL_ESTORE. Guards nest; each pops itself. */
#define RILL_GUARDED(rc, g, s, what, err, on_fault, call)                                   \
    do {                                                                                   \
        rill_guard g;                                                                      \
        rill_guard_push(&g, (s));                                                          \
        if (sigsetjmp(g.jb, 0)) {                                                          \
            on_fault;                                                                      \
            (rc) = rill_guard_fail(&g, (what), (err));                                     \
        } else {                                                                           \
            (rc) = (call);                                                                 \
            rill_guard_pop(&g);                                                            \
        }                                                                                  \
    } while (0)
void rill_guard_push(rill_guard *g, rill_store *s);
void rill_guard_pop(rill_guard *g);
/* mdb_cursor_open / mdb_cursor_close for read transactions, the cursor kept in this thread's
 * newest guard meanwhile, so that a fault closes it. */
int rill_cursor_open(MDB_txn *txn, MDB_dbi db, MDB_cursor **c);
void rill_cursor_close(MDB_cursor *c);
int rill_guard_fail(rill_guard *g, const char *what, rill_err *err);
/* RILL_ESTORE with the first fault's message once the store is damaged, else RILL_OK. */
int rill_store_refuse_damaged(const rill_store *s, rill_err *err);

/* ---- pages (pages.c) ---- */

/* Walks the free and main trees of an LMDB file mapped at map (npages pages in use, of psize
 * bytes; roots UINT64_MAX for an empty tree), the named databases' trees too (but the tables'
 * rows with skip_rows), checking every page's header, node bounds and child pointers, and that
 * no page is reached twice: RILL_ESTORE naming the file and page for what would make LMDB
 * loop or read past a page. */
int rill_pages_check(const char *path, const unsigned char *map, uint64_t psize, uint64_t npages,
                     uint64_t free_root, uint64_t main_root, bool skip_rows, rill_err *err);

/* ---- seals: from format 3, every value is its bytes then a CRC32C of key and bytes ---- */

#define RILL_SEAL_BYTES 4
static inline size_t rill_sealed_len(const rill_store *s, size_t n)
{
    return n + (s->sealed ? RILL_SEAL_BYTES : 0);
}
/* Writes the seal of v's first n bytes (under key k) after them; nothing in older formats. */
void rill_seal(const rill_store *s, const MDB_val *k, void *v, size_t n);
/* Whether v's seal matches (always true in older formats); v is left as it is. */
bool rill_seal_ok(const rill_store *s, const MDB_val *k, const MDB_val *v);
/* Checks v's seal and drops it from v->mv_size; RILL_ESTORE naming the file, what and the key
 * (printed as text when key_is_text, else as a row id) when the value is damaged. */
int rill_unseal(const rill_store *s, const MDB_val *k, MDB_val *v, const char *what,
                bool key_is_text, rill_err *err);
/* mdb_put of a sealed copy of n bytes at data. */
int rill_put_sealed(rill_store *s, MDB_txn *txn, MDB_dbi db, MDB_val *k, const void *data,
                    size_t n);
/* mdb_get then rill_unseal: 0, MDB_NOTFOUND, an LMDB code, or RILL_ESTORE (err filled). */
int rill_get_sealed(rill_store *s, MDB_txn *txn, MDB_dbi db, MDB_val *k, MDB_val *v,
                    const char *what, rill_err *err);

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
