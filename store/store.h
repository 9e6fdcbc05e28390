/* The parameter store: embedding tables, dense parameters and the run's state, in one LMDB
 * environment per run directory. Node kinds know only the table functions below: they ask
 * for rows and hand back gradients; how rows are kept is the store's business.
 *
 * Tables. Rows are created on first touch (ids need not be dense or known in advance),
 * initialised from (seed, row id) so the order of first touches does not matter. A table
 * lives in RAM as a cache of rows (slabs of rows found through an id map). Without a store
 * the cache is the whole table. With a store, the cache holds the rows touched lately under
 * a byte budget; a row missing from it is read from LMDB's memory map (copied into the cache
 * only when a step will update it); dirty rows go back to LMDB in key-sorted write
 * transactions at checkpoints, and on eviction into a spill database that the next
 * checkpoint folds in, so the main databases always hold exactly the last checkpoint.
 *
 * Checkpoints. rill_store_checkpoint writes every dirty row, the spilled rows, the values its
 * caller hands it (dense parameters with their optimizer state, node state) and the caller's
 * run state in one write transaction: a crash at any moment leaves the previous checkpoint
 * whole. MDB_MAP_FULL grows the map and retries. The store knows nothing of graphs: what
 * the values mean is the caller's business. One process at a time may write a run (a lock
 * file says which). */
#ifndef RILL_STORE_H
#define RILL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "optim.h"

typedef struct rill_table rill_table;
typedef struct rill_store rill_store;

/* ---- tables ---- */

typedef struct rill_table_opts {
    int admit;           /* create a row only once its id was seen this many times (0, 1: at
                          * once); until then it reads as zeros and is not trained */
    long evict_after;    /* with a store: delete rows unused for this many steps (0: never);
                          * each checkpoint sweeps a part of the table, resuming where the last
                          * one stopped, so a sweep costs about what the checkpoint writes */
    bool prefill;        /* with a store: create every row [0, rows) up front, in the store */
} rill_table_opts;

/* An in-memory table (no store). rows: ids are in [0, rows). init_scale: new rows' weights
 * are uniform(+-init_scale). */
int rill_table_create(rill_table **t, const char *name, int64_t rows, int dim,
                      const rill_optim *opt, uint64_t seed, double init_scale, rill_err *err);
void rill_table_free(rill_table *t);
void rill_table_set_opts(rill_table *t, const rill_table_opts *o);

const char *rill_table_name(const rill_table *t);
int rill_table_dim(const rill_table *t);
int rill_table_stride(const rill_table *t); /* dim + optimizer state floats */
int64_t rill_table_rows(const rill_table *t);
const rill_optim *rill_table_optim(const rill_table *t);
uint64_t rill_table_touched(const rill_table *t); /* rows created so far, stored ones included */
/* Distinct rows updated, summed over the steps so far (each was gathered once in forward and
 * read and written once by its optimizer). */
uint64_t rill_table_row_visits(const rill_table *t);

typedef struct rill_table_stats {
    uint64_t rows;          /* rows that exist (created and not deleted) */
    uint64_t cached, cache_capacity; /* rows in RAM now, and the budget (0: unlimited) */
    uint64_t hits, misses;  /* lookups found in the cache, and not */
    uint64_t created, evicted, spilled, deleted, pending; /* pending: seen, not yet admitted */
    uint64_t bytes_written; /* row bytes written to LMDB (spills and checkpoints) */
    uint64_t sealed_reads, sealed_bytes; /* rows read from LMDB whose seal was checked */
    double read_seconds;    /* the training thread's time reading missed rows from LMDB */
    uint64_t cached_max;    /* the most rows cached at the end of a step */
    uint64_t held;          /* rows the last eviction could not evict because a background
                             * checkpoint was being written (its rows, and dirty ones); while
                             * it is not 0 the cache may be above its budget */
    uint64_t generations;   /* the checkpoints kept as generations that still hold values
                             * (store/table_gens.c), and the values they hold */
    uint64_t generation_values;
    uint64_t folds;         /* checkpoints that folded all generations into the base */
    uint64_t folded;        /* ids the rolling fold went over (a slice a checkpoint) */
} rill_table_stats;
void rill_table_get_stats(const rill_table *t, rill_table_stats *st);

/* rows[i] points at the dim weights of ids[i] (its optimizer state follows them), valid until
 * the step ends (rill_store_end_step / rill_table_apply); NULL for an id not yet admitted.
 * Ids must be below rill_table_rows. Creates rows as needed. */
int rill_table_lookup(rill_table *t, const uint64_t *ids, size_t n, float **rows,
                      rill_err *err);
/* Writes the first n floats of row id (created if needed) without the optimizer and without
 * counting a use: the engine's own changes (CEL's assignments and split clusters). The row
 * goes out with the next checkpoint. vals may point into the table (a row peeked at). */
int rill_table_write_row(rill_table *t, uint64_t id, const float *vals, int n, rill_err *err);
/* How many training steps looked the row up (0 when it does not exist). */
uint64_t rill_table_count(rill_table *t, uint64_t id);
/* Read-only view of a row for evaluation and export: *row is NULL when the row does not exist.
 * May point into the store's map; valid until the step ends. Errors: a damaged row (it fails
 * its checksum, or its page is broken), naming the file, table and row. */
int rill_table_read(rill_table *t, uint64_t id, const float **row, rill_err *err);
/* rill_table_read for callers that cannot return an error: NULL for a damaged row too, which
 * rill_table_fault then reports (the first one met). */
const float *rill_table_peek(rill_table *t, uint64_t id);
int rill_table_fault(const rill_table *t, rill_err *err);

/* Prefetch. The training loop knows the next batch before its step (the loader reads ahead)
 * and the graph its ids: rill_table_prefetch keeps those of ids the cache lacks, and
 * rill_store_prefetch hands them all to the store's I/O threads, which read those rows from
 * LMDB's map while the current step computes, so that their pages are in memory when the step
 * asks for them. It changes no value, only when pages are read from the disk. Training thread
 * only. */
void rill_table_prefetch(rill_table *t, const uint64_t *ids, size_t n);
void rill_store_prefetch(rill_store *s);
uint64_t rill_store_prefetched(const rill_store *s); /* rows read ahead so far */

/* Hands the table this step's gradient for n distinct rows (grad is n x dim; it and rows
 * must stay valid until rill_table_apply). Rows that are NULL are skipped. */
void rill_table_stage(rill_table *t, size_t n, const uint64_t *ids, float *const *rows,
                      float *grad);
double rill_table_grad_sqnorm(const rill_table *t);
/* The staged gradient: *n rows, rows[i] NULL for a row not admitted, grad n x dim. */
void rill_table_staged(const rill_table *t, size_t *n, float *const **rows, const float **grad);
/* Optimizer step on the staged rows with lr * lr_scale and gradients times grad_scale; marks
 * them dirty; clears the stage. t_step is the 1-based global step. */
void rill_table_apply(rill_table *t, double lr_scale, double grad_scale, uint64_t t_step);

/* Saves every row (id, weights, state) / loads them back (replacing the table's rows) into a
 * table of the same name, dim and optimizer. Errors name the table and the file position. */
int rill_table_save(rill_table *t, FILE *f, rill_err *err);
int rill_table_load(rill_table *t, FILE *f, const char *path, rill_err *err);
/* Calls fn for every row in id order (export, analysis); a stored table must have no
 * unsaved rows (checkpoint first). */
int rill_table_each(rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                    void *ud, rill_err *err);

/* Benchmark baseline: RAM tables created from now on are one plain array of rows x stride
 * floats indexed by id (what the store's overhead is measured against); they cannot be
 * saved or listed. */
void rill_table_use_plain(bool on);

/* Benchmark: the time CRC32C takes over a buffer of `bytes` (a row's key and value: what a
 * seal check computes), warm in cache, in nanoseconds. */
double rill_store_seal_ns(size_t bytes);

/* Benchmark: random reads of whole rows of `stride` floats from a table-like mapping of
 * `rows` rows, on the pool's threads; *rows_per_s gets the rate. */
int rill_table_bench_gather(int64_t rows, int stride, uint64_t samples, double *rows_per_s,
                            rill_err *err);

/* ---- the store ---- */

enum {
    RILL_STORE_READ = 0,   /* an existing store, read only (eval, inspect, export) */
    RILL_STORE_WRITE = 1,  /* an existing store, to resume training */
    RILL_STORE_CREATE = 2, /* a new store; an old one in the directory is replaced */
};

typedef struct rill_store_cfg {
    int mode;              /* RILL_STORE_* */
    size_t cache_bytes;    /* RAM budget of the row caches, all tables together; 0: no limit */
    size_t map_bytes;      /* initial map size; 0: 1 GiB (it grows as needed) */
    bool sync_checkpoints; /* write checkpoints on the caller's thread; default: in the
                            * background (rill_store_checkpoint) */
    bool rows_in_place;    /* prefilled tables' checkpoints update rows in place, as other
                            * tables' do, instead of appending generations (table_gens.c): the
                            * layout bench-store compares against */
} rill_store_cfg;

/* Opens DIR/store.mdb. Errors: a missing store, a foreign, truncated or damaged file, a store
 * from another run (DIR/run.id), a version from another Rill, another process writing the run
 * (WRITE and CREATE take an exclusive lock). Damage found later (a value failing its checksum,
 * a broken LMDB page) is an error of the call that met it, and the store refuses every call
 * after it. READ writes nothing into DIR. */
int rill_store_open(rill_store **s, const char *dir, const rill_store_cfg *cfg, rill_err *err);
void rill_store_close(rill_store *s);
const char *rill_store_dir(const rill_store *s);
/* The run's identity (32 hex digits; "" for a store from an earlier build opened read-only).
 * It is kept in the store and in DIR/run.id; rill_store_open refuses a store whose identity
 * differs from the file's (a store copied in from another run). */
const char *rill_store_run_id(const rill_store *s);

/* A table backed by the store (called by rill_graph_build). The name is the table's key in
 * the store; a table of that name from an earlier run must have the same dim and optimizer. */
int rill_store_table(rill_store *s, rill_table **t, const char *name, int64_t rows, int dim,
                     const rill_optim *opt, uint64_t seed, double init_scale,
                     const rill_table_opts *o, rill_err *err);

/* Small named values of the run (the pipeline, its settings, the graph's signature), written
 * with the next checkpoint; get returns RILL_EOF when absent. */
int rill_store_set_meta(rill_store *s, const char *key, const void *val, size_t len,
                        rill_err *err);
int rill_store_get_meta(rill_store *s, const char *key, void **val, size_t *len, rill_err *err);
/* Writes the values set so far now, without a checkpoint. */
int rill_store_commit_meta(rill_store *s, rill_err *err);

/* The step about to run (1-based): rows looked up are stamped with it. */
void rill_store_set_step(rill_store *s, uint64_t step);
/* Once per training step, after the optimizer update: evicts cold rows over the budget
 * (dirty ones into the spill database) and ends the step's read transactions. While a
 * background checkpoint holds rows the cache cannot evict, the cache may exceed its budget by
 * a quarter; past that, this waits for the checkpoint, so memory stays bounded. */
int rill_store_end_step(rill_store *s, uint64_t step, rill_err *err);

/* The checkpoint. The store knows no graph: the caller (core/train/checkpoint.c) hands it
 * its values through put_all, which calls rill_ckpt_put once per value; they are copied, so
 * the caller may change them as soon as rill_store_checkpoint returns. In one write
 * transaction go, in this order: the tables' dirty and spilled rows (and their eviction sweep
 * and admission counts), what put_all put, the run's meta values, and state (the caller's run
 * state, opaque here, key "run" of the state space). A crash at any moment leaves the previous
 * checkpoint whole.
 *
 * In the background (the default): rill_store_checkpoint first waits for the previous
 * checkpoint (returning its error, if it failed), then copies what is dirty (the rows, put_all's
 * values) and returns while a thread of its own writes the transaction; training goes on. The
 * rows being written stay in the cache and no row is spilled until the write ends, so what
 * training reads does not depend on when it ends: a run gives the same numbers whether its
 * checkpoints are written in the background or not, and a resumed one the same as both.
 * rill_store_checkpoint_wait waits for it; every call that reads the store as a whole (copy,
 * digest, verify, list, a table's rows in order, meta values, any other write) waits first.
 * Tables with evict_after, and stores opened with sync_checkpoints, checkpoint on the caller's
 * thread. When the map fills up it grows and the whole transaction runs again. */
typedef struct rill_ckpt rill_ckpt; /* a checkpoint being written or read, valid in the call */
typedef enum {
    RILL_CKPT_DENSE, /* the dense database: per parameter, its values and optimizer state */
    RILL_CKPT_STATE, /* the state database: the caller's "node:NAME" keys ("run" is the store's) */
} rill_ckpt_space;
typedef struct rill_ckpt_part {
    const void *data;
    size_t len;
} rill_ckpt_part;
typedef int (*rill_ckpt_put_fn)(void *ud, rill_ckpt *c, rill_err *err);
typedef int (*rill_ckpt_get_fn)(void *ud, rill_ckpt *c, rill_err *err);
int rill_store_checkpoint(rill_store *s, rill_ckpt_put_fn put_all, void *ud, const void *state,
                          size_t state_len, rill_err *err);
/* Within put_all: key := the nparts parts one after the other (sealed, copied). 0, or a
 * nonzero code (out of memory) for put_all to return unchanged. */
int rill_ckpt_put(rill_ckpt *c, rill_ckpt_space sp, const char *key, const rill_ckpt_part *parts,
                  int nparts);
/* Reads back the last checkpoint: the run state (malloc'd into *state), then get_all (may be
 * NULL) within the same read transaction, which reads the caller's values with rill_ckpt_get.
 * RILL_EOF when the store has no checkpoint yet (get_all is not called). */
int rill_store_restore(rill_store *s, rill_ckpt_get_fn get_all, void *ud, void **state,
                       size_t *state_len, rill_err *err);
/* Within get_all: *val (len bytes, in the map: read-only, valid during get_all only, aligned
 * to 2 bytes only) of key. RILL_OK; RILL_EOF when key is absent; another nonzero result (a
 * damaged value, err naming what and the file) for get_all to return unchanged. */
int rill_ckpt_get(rill_ckpt *c, rill_ckpt_space sp, const char *key, const void **val,
                  size_t *len, const char *what, rill_err *err);
/* The store's file, for the caller's messages. */
const char *rill_ckpt_file(const rill_ckpt *c);
bool rill_store_has_checkpoint(rill_store *s);
/* Waits for the checkpoint being written in the background: RILL_OK once it is committed (or
 * when none is), else its error (the previous checkpoint is then the store's last). */
int rill_store_checkpoint_wait(rill_store *s, rill_err *err);

typedef struct rill_store_info {
    uint64_t map_size, used_bytes, checkpoints, last_checkpoint_bytes;
    double last_checkpoint_seconds;
    uint64_t checkpoint_bytes, checkpoint_rows; /* totals over this process's checkpoints */
    double checkpoint_seconds;      /* writing them (on the writer's thread in the background) */
    double checkpoint_wait_seconds; /* the caller's time in them: snapshots and waits */
    uint64_t checkpoint_disk_bytes; /* what their transactions wrote to the disk (the writing
                                     * thread's /proc write_bytes: LMDB's pages, all of them) */
    uint64_t checkpoint_row_bytes;  /* the bytes of the rows they saved that had changed (the
                                     * snapshots' and the spills' rows x value size) */
    uint64_t last_checkpoint_disk_bytes, last_checkpoint_row_bytes; /* ... the last one's */
} rill_store_info;
void rill_store_get_info(rill_store *s, rill_store_info *info);
/* The next checkpoint folds every table's generations into its base at once (table_gens.c),
 * rather than a slice of them: the store is left in one layout (rill.train{ fold_at_end =
 * true }). */
void rill_store_fold_next(rill_store *s);
/* The next checkpoint is written on the caller's thread, its rows read from the cache rather
 * than copied: for a last checkpoint, which the caller would wait for anyway (the same bytes
 * are written either way). */
void rill_store_sync_next(rill_store *s);

/* Structural check of a store (rill inspect --check, the crash tests): every table's rows have
 * the table's size, the state and dense parameters read back; a message for the first fault. */
int rill_store_verify(rill_store *s, rill_err *err);

/* A 64-bit digest of every table row (ids and floats) and dense parameter of the last
 * checkpoint: equal digests mean bit-identical parameters (the crash tests compare runs). */
int rill_store_digest(rill_store *s, uint64_t *digest, rill_err *err);
/* A compact copy of the last checkpoint into DIR/store.mdb (early stopping keeps the best). */
int rill_store_copy(rill_store *s, const char *dir, rill_err *err);

/* Lists what the store holds, for rill inspect: fn is called per table (name, rows, dim,
 * stride, optimizer kind, bytes) and per dense parameter (name, values). */
typedef struct rill_store_entry {
    bool is_table;
    char name[160];
    uint64_t rows, bytes;    /* a table's: rows stored, and the pages of its databases */
    uint64_t ids;            /* a table's id range (the rows it may have) */
    int dim, stride;
    char optim[32];
} rill_store_entry;
int rill_store_list(rill_store *s, int (*fn)(void *ud, const rill_store_entry *e), void *ud,
                    rill_err *err);

#endif
