/* Inside a table: the cache's layout, shared by table.c (the cache), table_rows.c (the
 * stored rows) and table_file.c (files, iteration, the benchmark). Private to store/. */
#ifndef RILL_TABLE_IMPL_H
#define RILL_TABLE_IMPL_H

#include "idmap.h"
#include "store_impl.h"

#define SLAB_ROWS 16384

/* After a stored row's floats: the last step that used it and how many training steps did */
#define ROW_TAIL (2 * sizeof(uint64_t))

/* 24 bytes a cached row, which at 100M rows is 2.4 GB, so the flags share a word with the
 * step (2^60 steps are never reached) and the count saturates at 2^32 - 1 steps (stored rows
 * keep 64 bits of both). Only the training thread writes heads, so the shared word is safe. */
#define ROW_COUNT_MAX UINT32_MAX
typedef struct {
    uint64_t id;
    uint64_t used : 60;        /* last step that looked the row up */
    uint64_t dirty : 1;
    uint64_t in_dirty_list : 1;
    uint64_t pinned : 1;       /* in the checkpoint being written: not evicted until it is done */
    uint64_t fresh : 1;        /* made since the last checkpoint: the store has no value of it yet */
    uint32_t count;            /* training steps that looked it up (per-frequency evaluation) */
    uint32_t slot;             /* this row's slot, so a row pointer finds its bookkeeping */
} row_head;
_Static_assert(sizeof(row_head) == 24, "a cached row's header is 24 bytes");

struct rill_table {
    char name[128];
    int64_t rows;
    int dim, stride;
    rill_optim opt;
    uint64_t seed;
    float init_scale;
    rill_table_opts o;
    size_t row_bytes;        /* floats and header, 8-aligned */
    size_t head_off;         /* where the header starts in a cache row */
    /* the cache */
    unsigned char **slabs;
    size_t nslabs, slab_cap;
    uint32_t nslots;         /* slots ever taken */
    uint32_t *free_slots;
    size_t nfree, free_cap;
    rill_idmap map;          /* id -> slot */
    uint32_t *dirty;         /* slots changed since the last flush */
    size_t ndirty, dirty_cap;
    bool dirty_list_short;   /* a dirty row missed the list (no memory): flush looks at all */
    size_t budget;           /* rows; 0: no limit */
    rill_idmap pending;      /* admission: id -> sightings so far */
    uint64_t step;           /* the current step, for the rows' "used" stamps */
    rill_table_stats st;
    uint64_t visits;
    /* the store */
    rill_store *store;
    MDB_dbi main, spill;
    MDB_dbi gens;            /* g:NAME: checkpoints' generations (table_gens.c) */
    bool gens_open;          /* ... exists (a store from before them, opened to read, lacks it) */
    bool gens_ok;            /* checkpoints make generations (prefilled tables): else they fold */
    rill_gens_state gs;      /* where[] and the generations' bookkeeping (table_gens.c) */
    bool gens_stale;         /* a fold left them (readers no longer look): the next write drops */
    bool spill_stale;        /* a generation took the spill's rows: the next write drops it */
    rill_idmap fresh_spill;  /* ids of spilled rows made since the last checkpoint */
    MDB_txn *rtxn;           /* this step's read transaction, begun on the first miss */
    bool spilled;            /* the spill database holds rows */
    uint64_t spill_rows;     /* ... this many (a row spilled twice counted twice) */
    bool inflight;           /* a background checkpoint holds a snapshot of the table */
    size_t snap_rows;        /* ... of this many rows (their copies count against the budget) */
    size_t evict_retry_at;   /* while it does: the cache size at which to try evicting again */
    uint64_t sweep_pos;      /* evict_after: the id the next sweep starts from */
    uint64_t sweep_next;     /* ... once the checkpoint being written commits */
    uint64_t *swept;         /* ids the sweep in the checkpoint being written deleted */
    rill_err fault;          /* the first damaged row met by peek or count (rill_table_fault) */
    size_t nswept, swept_cap;
    /* the benchmark baseline (rill_table_use_plain): one array of rows x stride floats indexed by
     * id, and a bit per row made; RAM tables only, no files, no iteration */
    float *plain;
    uint64_t *made;
    size_t plain_bytes;
    /* staged gradient of this step */
    size_t stage_n;
    const uint64_t *stage_ids;
    float *const *stage_rows;
    float *stage_grad;
};

/* Slot slot's row (its floats) and the header after them. */
static inline float *slot_row(const rill_table *t, uint32_t slot)
{
    return (float *)(t->slabs[slot / SLAB_ROWS] + (size_t)(slot % SLAB_ROWS) * t->row_bytes);
}

static inline row_head *slot_head(const rill_table *t, uint32_t slot)
{
    return (row_head *)((unsigned char *)slot_row(t, slot) + t->head_off);
}

/* A cached row by id, for writing rows in id order (LMDB appends them fastest). */
typedef struct {
    uint64_t id;
    uint32_t slot;
} id_slot;

/* ---- shared by table.c, table_rows.c and table_file.c ---- */

/* table_snap.c: slot's stored value (the floats, then the last step used and the count:
 * stride floats + ROW_TAIL bytes, as checkpoints and spills write it) into dst. */
void rill_table_row_value(const rill_table *t, uint32_t slot, unsigned char *dst);

/* table.c: room for one more free slot (0 on success); a new row's initial values. */
int rill_table_grow_free(rill_table *t);
void rill_table_init_row(const rill_table *t, uint64_t id, float *row);

/* table_rows.c: the step's read transaction, begun on the first miss; the stored row of id
 * (spill first, then main; NULL when absent), bare and under a guard; a damaged row met where
 * no error can be returned, kept for rill_table_fault; id_slot order by id (qsort). */
int rill_table_begin_reads(rill_table *t, rill_err *err);
int rill_table_stored_row(rill_table *t, uint64_t id, const float **row, rill_err *err);
int rill_table_guarded_row(rill_table *t, uint64_t id, const float **row, rill_err *err);
void rill_table_keep_fault(rill_table *t, const rill_err *err);
int rill_table_cmp_id(const void *a, const void *b);

/* table_gens.c, in a checkpoint's transaction: the snapshot's rows and the spill's written as
 * a new generation (sn->gen; its ids kept in sn->gids), or folded with the generations' newest
 * values into the base. Add to *rows and *bytes; repeatable (the map may grow). */
int rill_gens_write(rill_table *t, rill_table_snap *sn, MDB_txn *txn, uint64_t *rows,
                    uint64_t *bytes, rill_err *err);
int rill_gens_fold(rill_table *t, rill_table_snap *sn, MDB_txn *txn, uint64_t *rows,
                   uint64_t *bytes, rill_err *err);

#endif
