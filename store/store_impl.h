/* Inside the store: what store.c, table.c and the files split from them share. Not seen by
 * anything outside store/. */
#ifndef RILL_STORE_IMPL_H
#define RILL_STORE_IMPL_H

#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>

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
    atomic_bool damaged;    /* a guarded LMDB call faulted: nothing more is read or written
                             * (set by the checkpoint writer's thread too) */
    char damage[1024];      /* the first fault's message */
    char run_id[40];        /* the run's identity, kept in meta "run_id" and DIR/run.id */
    char stored_id[40];     /* the identity the store holds ("" for a store from before them) */
    uint64_t step;          /* the step running (rill_store_set_step) */
    uint64_t checkpoints, last_ckpt_bytes, total_ckpt_bytes, total_ckpt_rows;
    double last_ckpt_seconds, total_ckpt_seconds;
    uint64_t total_ckpt_disk_bytes, total_ckpt_row_bytes;
    uint64_t last_ckpt_disk_bytes, last_ckpt_row_bytes;
    bool fold_next;         /* the next checkpoint folds every table's generations */
    bool sync_next;         /* the next checkpoint is written on the caller's thread */
    double total_ckpt_wait_seconds; /* the caller's time in checkpoints: snapshots and waits */
    bool sync_checkpoints;  /* checkpoints written on the caller's thread (rill_store_cfg) */
    bool rows_in_place;     /* no generations (rill_store_cfg) */
    uint64_t gens_chunk;    /* ids a transaction of the rolling fold takes (RILL_GENS_CHUNK) */
    struct rill_ckpt_job *job; /* the checkpoint being written, until rill_store_checkpoint_wait */
    struct rill_prefetcher *pf; /* the I/O threads reading the next step's rows ahead */
    double ckpt_pause;      /* RILL_CHECKPOINT_PAUSE (seconds): a background checkpoint waits
                             * this long before it commits, for the crash tests to kill it */
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
/* One attempt at a write transaction running fn, under a guard: RILL_OK, an LMDB code
 * (MDB_MAP_FULL and MDB_MAP_RESIZED for the caller to grow the map and retry), or a Rill
 * error already in err. Safe on a thread of its own (the checkpoint writer's). */
int rill_store_write_once(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                          rill_err *err);
/* The map resized to size bytes (the caller's and the prefetch threads' reads ended first:
 * LMDB resizes only with no transaction open in the process). */
int rill_store_resize_map(rill_store *s, size_t size, rill_err *err);
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

/* ---- prefetch (prefetch.c) ---- */

/* Before the map is resized: the prefetch threads' transactions closed (what they had left to
 * read is dropped), and none begun until resume. free: the threads stopped (closing). */
void rill_prefetch_pause(rill_store *s);
void rill_prefetch_resume(rill_store *s);
void rill_prefetch_free(rill_store *s);

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

/* Table side: the store backs a table with its main and spill databases, and its generations'
 * (gens NULL: the store has none; where, ngens, entries as rill_gens_load read them, where
 * then the table's). */
void rill_table_attach(rill_table *t, rill_store *s, MDB_dbi main, MDB_dbi spill);
/* ---- generations (table_gens.c says why) ---- */

#define RILL_GENS_MAX 255                     /* generation numbers (a byte); then a full fold */
#define RILL_GENS_CYCLE 16                    /* checkpoints for the rolling fold to go round */
#define RILL_GENS_MAX_ROWS (UINT64_C(1) << 32) /* where[] is a byte per row */
#define RILL_GENS_MIN_BASE (UINT64_C(1) << 20) /* a growing table folds fully past 2x this */
#define RILL_GENS_CHUNK (UINT64_C(1) << 18)    /* ids a transaction of the rolling fold takes */
/* A table's generations as meta records them ("gens:NAME"), and where[]. */
typedef struct rill_gens_state {
    uint8_t *where;          /* per id, the generation of its newest stored value (0: the
                              * base); NULL: no generations (and none wanted) */
    unsigned ngens, gen_lo;  /* generations gen_lo..ngens hold values (ngens 0: none) */
    uint64_t entries;        /* values they hold, stale ones included */
    uint64_t new_rows;       /* rows with no value in the base (a growing table's) */
    uint64_t sweep_at;       /* the rolling fold: the id its next slice starts at */
    uint64_t swept;          /* ... ids it has folded so far, all slices */
    uint64_t del_from, del_len; /* the last slice folded, whose values leave generations */
    unsigned del_hi;            /* ... gen_lo..del_hi at the next checkpoint */
    uint64_t gen_w[RILL_GENS_MAX + 1]; /* per generation, `swept` when it was written */
} rill_gens_state;
void rill_table_attach_gens(rill_table *t, const MDB_dbi *gens, bool gens_ok,
                            const rill_gens_state *gs);
uint64_t rill_gen_key(unsigned gen, uint64_t id);
/* Table name's generations as meta records them into *gs, with where[] (a byte per row of
 * rows, malloc'd) when there are some, or want. RILL_ESTORE when damaged. */
int rill_gens_load(rill_store *s, MDB_txn *txn, const char *name, uint64_t rows, bool want,
                   rill_gens_state *gs, rill_err *err);
/* The rows of table name that are in its generations only (0 without a record). */
int rill_gens_new_rows(rill_store *s, MDB_txn *txn, const char *name, uint64_t *new_rows,
                       rill_err *err);
/* Drops from gens every value of a generation past ngens (an LMDB code on failure). */
int rill_gens_drop_orphans(rill_store *s, MDB_txn *txn, MDB_dbi gens, unsigned ngens);
/* A table's rows in id order, each at its newest place (the base, or a generation). */
typedef struct {
    rill_store *s;
    MDB_txn *txn;
    MDB_cursor *main;
    MDB_dbi gens;
    const uint8_t *where; /* NULL: no generations */
    uint64_t nrows;
    uint64_t wnext;       /* the next id at or after the scan whose value is in a generation */
    int mrc;              /* the base cursor: 0 (mk, mv hold its row) or MDB_NOTFOUND */
    MDB_val mk, mv;
    uint64_t key;         /* the key of the generation row returned */
} rill_rows;
/* An LMDB code on failure. */
int rill_rows_open(rill_rows *r, rill_store *s, MDB_txn *txn, MDB_dbi main, MDB_dbi gens,
                   const uint8_t *where, uint64_t nrows);
/* The next row: its id, its key and sealed value as stored; RILL_EOF after the last. */
int rill_rows_next(rill_rows *r, uint64_t *id, MDB_val *k, MDB_val *v, rill_err *err);
void rill_rows_close(rill_rows *r);
void rill_table_set_budget(rill_table *t, size_t rows);
void rill_table_set_stored_rows(rill_table *t, uint64_t rows);
size_t rill_table_row_bytes(const rill_table *t); /* cache bytes per row */
/* ---- a table's part of a checkpoint (table_snap.c) ----
 * Taken on the training thread between steps (rill_table_snapshot: the dirty rows sorted by id,
 * copied out for a background checkpoint, and the admission counts), written in the
 * checkpoint's transaction, on the writer's thread when checkpoints run in the background
 * (rill_table_snap_write reads only the snapshot and the table's fixed fields), and finished on the training thread once the
 * transaction ended (rill_table_snap_done). While a background checkpoint is being written the
 * rows it holds stay in the cache (pinned: a miss would read the value from before it), and
 * no row is spilled (LMDB has one writer: a spill would wait for the checkpoint). */
typedef struct rill_table_snap {
    size_t n;              /* rows */
    uint64_t *ids;         /* ascending */
    unsigned char *vals;   /* n values of val_bytes: the floats, the last step used, the count;
                            * NULL when written on the caller's thread at once: the values are
                            * read from the cache, which nothing changes before it ends (a
                            * copy would double the memory of a last checkpoint of every row);
                            * freed by the writer once its transaction commits */
    unsigned char *scratch; /* val_bytes: one value put together from the cache (vals NULL) */
    uint32_t *slots;       /* their cache slots */
    size_t val_bytes;
    bool fold_spill;       /* the spill database holds rows: folded into the main one */
    bool sweep;            /* evict_after: sweep in the transaction (checkpoints of such tables
                            * run on the caller's thread: the sweep's deletions must reach the
                            * cache at the checkpoint's step) */
    bool pinned;           /* the rows are pinned until done */
    void *pending;         /* admission counts (id, count) pairs; NULL: none kept */
    size_t pending_len;
    /* generations (table_gens.c) */
    bool fold;             /* all of them into the base; else written as generation gen */
    unsigned gen;
    rill_gens_state before; /* the generations before this checkpoint (where[] not copied) */
    uint64_t slice_from, slice_len; /* the rolling fold's slice of ids this checkpoint folds */
    rill_gens_state sliced; /* ... after the rolling fold's transactions so far */
    rill_gens_state after;  /* ... and after it (set by the transaction; where[] not kept) */
    uint64_t new_rows;     /* rows of this checkpoint the store had no value of */
    uint64_t dirtied;      /* rows it wrote that changed since the last one (set by the
                            * transaction: the snapshot's and the spill's) */
    bool drop_gens;        /* a fold's leftover generations: dropped first */
    bool drop_spill;       /* a generation's leftover spill: dropped first */
    uint64_t *gids;        /* a generation: the ids it wrote */
    size_t ngids, gids_cap;
} rill_table_snap;
int rill_table_snapshot(rill_table *t, rill_table_snap *sn, bool pin, rill_err *err);
/* In the transaction: the spill folded in, the rows, a part of the eviction sweep, the
 * admission counts. Adds to *rows and *bytes. Repeatable (the map may grow). */
int rill_table_snap_write(rill_table *t, rill_table_snap *sn, MDB_txn *txn, MDB_dbi meta,
                          uint64_t step, uint64_t *rows, uint64_t *bytes, rill_err *err);
/* After the transaction: rows unpinned; committed, the spill is empty and the sweep's rows
 * leave the cache; not committed, the rows are dirty again. Frees the snapshot's arrays. */
void rill_table_snap_done(rill_table *t, rill_table_snap *sn, bool committed);
/* The rolling fold's work before a generation, a transaction per chunk of RILL_GENS_CHUNK ids
 * (LMDB keeps in memory every page a transaction changes): the last slice's values leaving the
 * generations, then this checkpoint's slice into the base. pending: whether any is left;
 * step: the next chunk, from *st (sn->sliced, committed so far) to *st. */
bool rill_gens_slice_pending(const rill_table_snap *sn);
int rill_gens_slice_step(rill_table *t, const rill_table_snap *sn, rill_gens_state *st,
                         MDB_txn *txn, uint64_t *bytes, rill_err *err);
bool rill_table_sweeps(const rill_table *t);
/* While a background checkpoint holds rows: the cache is a quarter over its budget. */
bool rill_table_held_over(const rill_table *t);
uint64_t rill_table_spill_rows(const rill_table *t);
void rill_table_set_sweep(rill_table *t, uint64_t pos);
int rill_table_read_pending(rill_table *t, const void *blob, size_t len);
void rill_table_set_step(rill_table *t, uint64_t step);
/* After a step: evict rows over the budget (dirty ones spilled), end read transactions. */
int rill_table_end_step(rill_table *t, uint64_t step, rill_err *err);
void rill_table_end_reads(rill_table *t);
/* Writes every row of [0, rows) that the store lacks, initialised, in key order. */
int rill_table_prefill(rill_table *t, rill_err *err);

#endif
