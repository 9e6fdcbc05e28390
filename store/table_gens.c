/* A table's generations: the layout that makes a checkpoint write about its own bytes.
 *
 * Rows live one per key in t:NAME (the base). Updating rows in place there costs a copy of
 * every 4 KiB page a changed row sits on: with a few percent of a large table's rows changed
 * at random between checkpoints, about a third of the pages are copied, some twelve times the
 * rows' own bytes (measured by bench-store). So a checkpoint appends its rows instead, as one
 * generation, to g:NAME under the key gen << 56 | id: a generation's keys follow every earlier
 * one, its rows are written in id order with MDB_APPEND, and LMDB fills its pages full. A byte
 * per id (where[]) says which generation holds a row's newest value (0: the base); it is
 * rebuilt at opening from the generations' id lists, kept in meta as "gids:NAME:G", with
 * "gens:NAME" holding the bookkeeping below (a generation past the last one it records is an
 * orphan, being written when the run stopped, and is dropped).
 *
 * The rolling fold. Each checkpoint also folds a slice of the id range, 1/RILL_GENS_CYCLE of
 * it, into the base: the newest value of every id of the slice that is in a generation is
 * written to the base in id order, which rewrites the slice's pages once. The slice's values
 * leave the generations at the next checkpoint (each generation's keys of the slice are one
 * range), so after RILL_GENS_CYCLE checkpoints a generation holds nothing and its number is
 * retired; at most RILL_GENS_CYCLE + 1 generations hold values. Per checkpoint that costs its
 * own rows once, plus a sixteenth of the table: a fold of everything at once every sixteen
 * checkpoints would write as much, but make the checkpoint after it wait (measured: a fold
 * took 3 to 10 intervals between checkpoints). An id swept since a generation was written is
 * in the base: each generation records the fold's count and position when it was written, so
 * opening knows which of its ids still count.
 *
 * A full fold (everything into the base, the generations emptied, numbers from 1 again) comes
 * when the generation numbers run out (RILL_GENS_MAX), when the generations hold twice as
 * many values as the base has rows, when asked (rill_store_fold_next), and at every
 * checkpoint of a table that keeps the base layout (evict_after: its sweep deletes rows from
 * the base; or generations = false).
 *
 * A table that grows (rows made on first use) counts the rows that are in generations only
 * (new_rows; the cache marks a row made since the last checkpoint fresh, and remembers the
 * fresh rows it spills), so that its row count survives reopening.
 *
 * Readers may not find a value gone before where[] stops pointing at it, and where[] changes
 * only on the training thread after the checkpoint commits (rill_table_snap_done): so the
 * transaction that makes a generation leaves the spill in place, the one that folds a slice
 * leaves the slice's values in the generations, and the one that folds everything leaves
 * them and the spill; what they leave is dropped by the next write. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "table_impl.h"
#include "util.h"

#define GEN_SHIFT 56
#define GEN_ID_MASK ((UINT64_C(1) << GEN_SHIFT) - 1)

uint64_t rill_gen_key(unsigned gen, uint64_t id)
{
    return (uint64_t)gen << GEN_SHIFT | id;
}

/* ---- the generations' meta values ---- */

/* "gens:NAME" */
typedef struct {
    uint32_t ngens, gen_lo;
    uint64_t entries, new_rows, sweep_at, swept, del_from, del_len;
    uint32_t del_hi, pad;
} gens_meta;

/* "gids:NAME:G": this header, then the generation's ids ascending */
typedef struct {
    uint64_t swept;    /* the rolling fold's count when the generation was written */
    uint64_t sweep_at; /* ... and its position: ids swept since are folded out of it */
} gids_head;

static void gids_key(char *out, size_t cap, const char *name, unsigned g)
{
    snprintf(out, cap, "gids:%s:%u", name, g);
}

static int read_record(rill_store *s, MDB_txn *txn, const char *name, uint64_t rows,
                       gens_meta *gm, rill_err *err)
{
    memset(gm, 0, sizeof *gm);
    gm->gen_lo = 1;
    char key[200];
    snprintf(key, sizeof key, "gens:%s", name);
    MDB_val k = {strlen(key), key}, v;
    int rc = rill_get_sealed(s, txn, s->meta, &k, &v, "a table's generations", err);
    if (rc == MDB_NOTFOUND)
        return RILL_OK;
    if (rc)
        return rc;
    if (v.mv_size != sizeof *gm)
        return rill_errf(err, RILL_ESTORE, "%s: table '%s': its generations' record holds "
                         "%zu bytes, expected %zu", s->path, name, v.mv_size, sizeof *gm);
    memcpy(gm, v.mv_data, sizeof *gm);
    bool bad = gm->ngens > RILL_GENS_MAX || gm->gen_lo < 1 || gm->gen_lo > gm->ngens + 1 ||
               gm->new_rows > gm->entries || (rows && gm->sweep_at >= rows) ||
               gm->del_hi > gm->ngens || (rows && gm->del_len > rows);
    if (bad)
        return rill_errf(err, RILL_ESTORE, "%s: table '%s': its generations' record is damaged "
                         "(generations %u to %u, at most %d; %llu new rows of %llu values)",
                         s->path, name, gm->gen_lo, gm->ngens, RILL_GENS_MAX,
                         (unsigned long long)gm->new_rows, (unsigned long long)gm->entries);
    return RILL_OK;
}

int rill_gens_new_rows(rill_store *s, MDB_txn *txn, const char *name, uint64_t *new_rows,
                       rill_err *err)
{
    gens_meta gm;
    int rc = read_record(s, txn, name, 0, &gm, err);
    *new_rows = rc ? 0 : gm.new_rows;
    return rc;
}

int rill_gens_load(rill_store *s, MDB_txn *txn, const char *name, uint64_t rows, bool want,
                   rill_gens_state *gs, rill_err *err)
{
    memset(gs, 0, sizeof *gs);
    gs->gen_lo = 1;
    gens_meta gm;
    int rc = read_record(s, txn, name, rows, &gm, err);
    if (rc)
        return rc;
    gs->ngens = gm.ngens;
    gs->gen_lo = gm.gen_lo;
    gs->entries = gm.entries;
    gs->new_rows = gm.new_rows;
    gs->sweep_at = gm.sweep_at;
    gs->swept = gm.swept;
    gs->del_from = gm.del_from;
    gs->del_len = gm.del_len;
    gs->del_hi = gm.del_hi;
    bool live = gm.ngens >= gm.gen_lo;
    if (!live && !want)
        return RILL_OK;
    if (rows > RILL_GENS_MAX_ROWS)
        return rill_errf(err, RILL_ESTORE, "%s: table '%s' has generations but %llu rows, more "
                         "than they can index", s->path, name, (unsigned long long)rows);
    uint8_t *w = calloc(rows ? rows : 1, 1); /* pages no id touches stay unbacked */
    if (!w)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory for its row index (%llu "
                         "bytes)", name, (unsigned long long)rows);
    char key[200];
    for (unsigned g = gm.gen_lo; live && g <= gm.ngens; g++) {
        gids_key(key, sizeof key, name, g);
        MDB_val gk = {strlen(key), key}, gv;
        rc = rill_get_sealed(s, txn, s->meta, &gk, &gv, "a generation's ids", err);
        if (rc == MDB_NOTFOUND)
            rc = rill_errf(err, RILL_ESTORE, "%s: table '%s' lacks the id list of its "
                           "generation %u", s->path, name, g);
        gids_head h = {0};
        if (!rc && (gv.mv_size < sizeof h || (gv.mv_size - sizeof h) % sizeof(uint64_t) ||
                    (memcpy(&h, gv.mv_data, sizeof h), h.swept > gm.swept)))
            rc = rill_errf(err, RILL_ESTORE, "%s: table '%s': the id list of generation %u is "
                           "damaged (%zu bytes)", s->path, name, g, gv.mv_size);
        size_t n = rc ? 0 : (gv.mv_size - sizeof h) / sizeof(uint64_t);
        const char *ids = rc ? NULL : (const char *)gv.mv_data + sizeof h;
        gs->gen_w[g] = h.swept;
        /* the ids the rolling fold has swept since the generation was written are in the base */
        uint64_t since = gm.swept - h.swept;
        uint64_t prev = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            uint64_t id;
            memcpy(&id, ids + i * sizeof id, sizeof id);
            if (id >= rows || (i && id <= prev)) {
                rc = rill_errf(err, RILL_ESTORE, "%s: table '%s': generation %u lists id %llu "
                               "out of order or past its %llu rows", s->path, name, g,
                               (unsigned long long)id, (unsigned long long)rows);
                break;
            }
            prev = id;
            uint64_t d = (id + rows - h.sweep_at % rows) % rows;
            if (since >= rows || d < since)
                continue;
            w[id] = (uint8_t)g;
        }
        if (rc) {
            free(w);
            return rc;
        }
    }
    gs->where = w;
    return RILL_OK;
}

static int put_gens_meta(rill_store *s, MDB_txn *txn, const char *name, const rill_gens_state *gs)
{
    char key[200];
    snprintf(key, sizeof key, "gens:%s", name);
    MDB_val k = {strlen(key), key};
    gens_meta gm = {.ngens = gs->ngens, .gen_lo = gs->gen_lo, .entries = gs->entries,
                    .new_rows = gs->new_rows, .sweep_at = gs->sweep_at, .swept = gs->swept,
                    .del_from = gs->del_from, .del_len = gs->del_len, .del_hi = gs->del_hi};
    return rill_put_sealed(s, txn, s->meta, &k, &gm, sizeof gm);
}

int rill_gens_drop_orphans(rill_store *s, MDB_txn *txn, MDB_dbi gens, unsigned ngens)
{
    (void)s;
    if (!ngens)
        return mdb_drop(txn, gens, 0);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, gens, &c);
    if (rc)
        return rc;
    uint64_t from = rill_gen_key(ngens + 1, 0);
    MDB_val k = {sizeof from, &from}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT))
        if ((rc = mdb_cursor_del(c, 0)))
            break;
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc; /* EINVAL: the last one went */
}

/* ---- the rows of a table in id order, each at its newest place ---- */

/* The first id at or after from whose newest value is in a generation (n: none). */
static uint64_t next_in_gens(const uint8_t *where, uint64_t n, uint64_t from)
{
    uint64_t i = from;
    while (i < n && (i & 7))
        if (where[i++])
            return i - 1;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, where + i, sizeof w);
        if (w)
            break;
    }
    for (; i < n; i++)
        if (where[i])
            return i;
    return n;
}

int rill_rows_open(rill_rows *r, rill_store *s, MDB_txn *txn, MDB_dbi main, MDB_dbi gens,
                   const uint8_t *where, uint64_t nrows)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->txn = txn;
    r->gens = gens;
    r->where = where;
    r->nrows = where ? nrows : 0;
    int rc = rill_cursor_open(txn, main, &r->main);
    if (rc)
        return rc;
    r->mrc = mdb_cursor_get(r->main, &r->mk, &r->mv, MDB_FIRST);
    r->wnext = next_in_gens(r->where, r->nrows, 0);
    return RILL_OK;
}

int rill_rows_next(rill_rows *r, uint64_t *id, MDB_val *k, MDB_val *v, rill_err *err)
{
    if (r->mrc && r->mrc != MDB_NOTFOUND)
        return rill_store_mdb_err(r->s, r->mrc, "reading rows", err);
    uint64_t mid = UINT64_MAX;
    if (r->mrc == 0) {
        if (r->mk.mv_size != sizeof mid)
            return rill_errf(err, RILL_ESTORE, "%s: a table holds a %zu-byte key, expected 8",
                             r->s->path, r->mk.mv_size);
        memcpy(&mid, r->mk.mv_data, sizeof mid);
    }
    if (r->wnext < r->nrows && r->wnext <= mid) {
        uint64_t w = r->wnext;
        r->key = rill_gen_key(r->where[w], w);
        MDB_val gk = {sizeof r->key, &r->key};
        int rc = mdb_get(r->txn, r->gens, &gk, v);
        if (rc == MDB_NOTFOUND)
            return rill_errf(err, RILL_ESTORE, "%s: row %llu is listed in generation %u but "
                             "missing from it", r->s->path, (unsigned long long)w, r->where[w]);
        if (rc)
            return rill_store_mdb_err(r->s, rc, "reading rows", err);
        *k = gk;
        *id = w;
        r->wnext = next_in_gens(r->where, r->nrows, w + 1);
        if (w == mid) /* the base's value is older */
            r->mrc = mdb_cursor_get(r->main, &r->mk, &r->mv, MDB_NEXT);
        return RILL_OK;
    }
    if (r->mrc == MDB_NOTFOUND)
        return RILL_EOF;
    *k = r->mk;
    *v = r->mv;
    *id = mid;
    r->mrc = mdb_cursor_get(r->main, &r->mk, &r->mv, MDB_NEXT);
    return RILL_OK;
}

void rill_rows_close(rill_rows *r)
{
    if (r->main)
        rill_cursor_close(r->main);
    r->main = NULL;
}

/* ---- a checkpoint's rows: the snapshot's and the spill's, merged in id order ---- */

typedef struct {
    rill_table *t;
    const rill_table_snap *sn;
    size_t si;           /* the snapshot's next row */
    MDB_cursor *spill;   /* NULL: no spill to fold */
    int src;             /* the spill cursor's state */
    MDB_val sk, sv;
    uint64_t sid;
} ckpt_rows;

static int ckpt_rows_open(ckpt_rows *m, rill_table *t, const rill_table_snap *sn, MDB_txn *txn)
{
    memset(m, 0, sizeof *m);
    m->t = t;
    m->sn = sn;
    m->src = MDB_NOTFOUND;
    if (!sn->fold_spill)
        return RILL_OK;
    int rc = mdb_cursor_open(txn, t->spill, &m->spill);
    if (rc)
        return rc;
    m->src = mdb_cursor_get(m->spill, &m->sk, &m->sv, MDB_FIRST);
    if (m->src == 0)
        memcpy(&m->sid, m->sk.mv_data, sizeof m->sid);
    return RILL_OK;
}

/* The next row: its id and its unsealed bytes (sn->val_bytes of them). RILL_EOF at the end. */
static int ckpt_rows_next(ckpt_rows *m, uint64_t *id, const void **val, rill_err *err)
{
    const rill_table_snap *sn = m->sn;
    if (m->src && m->src != MDB_NOTFOUND)
        return rill_store_mdb_err(m->t->store, m->src, "reading spilled rows", err);
    bool have_snap = m->si < sn->n, have_spill = m->src == 0;
    if (!have_snap && !have_spill)
        return RILL_EOF;
    if (have_snap && (!have_spill || sn->ids[m->si] <= m->sid)) {
        *id = sn->ids[m->si];
        if (sn->vals) {
            *val = sn->vals + m->si * sn->val_bytes;
        } else { /* written at once: the cache holds the values (table_snap.c) */
            rill_table_row_value(m->t, sn->slots[m->si], sn->scratch);
            *val = sn->scratch;
        }
        m->si++;
        if (have_spill && *id == m->sid) { /* spilled, then read back and changed: newer */
            m->src = mdb_cursor_get(m->spill, &m->sk, &m->sv, MDB_NEXT);
            if (m->src == 0)
                memcpy(&m->sid, m->sk.mv_data, sizeof m->sid);
        }
        return RILL_OK;
    }
    char what[160];
    snprintf(what, sizeof what, "table '%s' (a spilled row)", m->t->name);
    MDB_val v = m->sv;
    int rc = rill_unseal(m->t->store, &m->sk, &v, what, false, err);
    if (rc)
        return rc;
    if (v.mv_size != sn->val_bytes)
        return rill_errf(err, RILL_ESTORE, "%s: table '%s': a spilled row holds %zu bytes, "
                         "expected %zu", m->t->store->path, m->t->name, v.mv_size, sn->val_bytes);
    *id = m->sid;
    *val = v.mv_data;
    m->src = mdb_cursor_get(m->spill, &m->sk, &m->sv, MDB_NEXT);
    if (m->src == 0)
        memcpy(&m->sid, m->sk.mv_data, sizeof m->sid);
    return RILL_OK;
}

static void ckpt_rows_close(ckpt_rows *m)
{
    if (m->spill)
        mdb_cursor_close(m->spill);
}

/* val (n bytes) put under key, sealed; MDB_MAP_FULL is passed on for the caller to grow. */
static int put_row(rill_table *t, MDB_txn *txn, MDB_dbi db, uint64_t key, const void *val,
                   size_t n, unsigned flags, uint64_t *bytes, rill_err *err)
{
    MDB_val k = {sizeof key, &key}, v = {rill_sealed_len(t->store, n), NULL};
    int rc = mdb_put(txn, db, &k, &v, flags | MDB_RESERVE);
    if (rc)
        return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(t->store, rc, "writing rows", err);
    memcpy(v.mv_data, val, n);
    rill_seal(t->store, &k, v.mv_data, n);
    *bytes += v.mv_size;
    return RILL_OK;
}

static int mdb_or_err(rill_table *t, int rc, const char *what, rill_err *err)
{
    if (!rc || rc == MDB_MAP_FULL || !rill_is_mdb_code(rc))
        return rc;
    return rill_store_mdb_err(t->store, rc, what, err);
}

/* The values of ids [from, from + len) leave generations lo..hi (a key range in each). */
static int delete_slice(rill_table *t, MDB_txn *txn, unsigned lo, unsigned hi, uint64_t from,
                        uint64_t len, uint64_t *deleted)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, t->gens, &c);
    if (rc)
        return rc;
    uint64_t rows = (uint64_t)t->rows;
    for (unsigned g = lo; g <= hi && !rc; g++) {
        /* the slice wraps round the id range: two ranges */
        for (int part = 0; part < 2 && !rc; part++) {
            uint64_t a = part ? 0 : from, b = part ? (from + len > rows ? from + len - rows : 0)
                                                   : (from + len > rows ? rows : from + len);
            if (a >= b)
                continue;
            uint64_t key = rill_gen_key(g, a), end = rill_gen_key(g, b);
            MDB_val k = {sizeof key, &key}, v;
            for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
                 rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT)) {
                uint64_t at;
                memcpy(&at, k.mv_data, sizeof at);
                if (at >= end)
                    break;
                if ((rc = mdb_cursor_del(c, 0)))
                    break;
                (*deleted)++;
            }
            if (rc == MDB_NOTFOUND || rc == EINVAL) /* EINVAL: the database's last one went */
                rc = 0;
        }
    }
    mdb_cursor_close(c);
    return rc;
}

/* The rolling fold's slice: the newest value of each id of it that is in a generation goes
 * into the base (in id order); *moved counts those the base did not have. */
static int fold_slice(rill_table *t, const rill_table_snap *sn, MDB_txn *txn, uint64_t from,
                      uint64_t len, uint64_t *moved, uint64_t *bytes, rill_err *err)
{
    uint64_t rows = (uint64_t)t->rows;
    const uint8_t *where = t->gs.where;
    char what[160];
    snprintf(what, sizeof what, "table '%s' (a generation's row)", t->name);
    for (uint64_t i = 0; i < len; i++) {
        uint64_t id = (from + i) % rows;
        if (!where[id])
            continue;
        uint64_t key = rill_gen_key(where[id], id);
        MDB_val k = {sizeof key, &key}, v, bk = {sizeof id, &id}, bv;
        int rc = mdb_get(txn, t->gens, &k, &v);
        if (rc == MDB_NOTFOUND)
            return rill_errf(err, RILL_ESTORE, "%s: table '%s': row %llu is listed in generation "
                             "%u but missing from it", t->store->path, t->name,
                             (unsigned long long)id, where[id]);
        if (rc)
            return rc;
        if ((rc = rill_unseal(t->store, &k, &v, what, false, err)))
            return rc;
        if (v.mv_size != sn->val_bytes)
            return rill_errf(err, RILL_ESTORE, "%s: table '%s': a generation's row holds %zu "
                             "bytes, expected %zu", t->store->path, t->name, v.mv_size,
                             sn->val_bytes);
        if ((rc = mdb_get(txn, t->main, &bk, &bv)) && rc != MDB_NOTFOUND)
            return rc;
        *moved += rc == MDB_NOTFOUND;
        if ((rc = put_row(t, txn, t->main, id, v.mv_data, sn->val_bytes, 0, bytes, err)))
            return rc;
    }
    return RILL_OK;
}

/* Deleting: the last checkpoint's slice, before any of this one's is folded (the range then
 * names this one's, which stays until the next checkpoint). */
static bool deleting(const rill_table_snap *sn, const rill_gens_state *st)
{
    return st->swept == sn->before.swept && st->del_len && st->del_hi >= st->gen_lo;
}

bool rill_gens_slice_pending(const rill_table_snap *sn)
{
    const rill_gens_state *st = &sn->sliced;
    return !sn->fold && (deleting(sn, st) || st->swept - sn->before.swept < sn->slice_len);
}

int rill_gens_slice_step(rill_table *t, const rill_table_snap *sn, rill_gens_state *st,
                         MDB_txn *txn, uint64_t *bytes, rill_err *err)
{
    uint64_t rows = (uint64_t)t->rows;
    int rc;
    if (deleting(sn, st)) {
        /* a chunk of the last slice leaves the generations it was folded from */
        uint64_t chunk = t->store->gens_chunk;
        uint64_t len = st->del_len < chunk ? st->del_len : chunk, deleted = 0;
        if ((rc = delete_slice(t, txn, st->gen_lo, st->del_hi, st->del_from, len, &deleted)))
            return mdb_or_err(t, rc, "folding a slice of the generations", err);
        st->entries -= deleted < st->entries ? deleted : st->entries;
        st->del_from = (st->del_from + len) % rows;
        st->del_len -= len;
        /* a generation the deletions have gone all round since it was written is empty */
        char key[200];
        while (!st->del_len && st->gen_lo <= st->ngens && st->swept >= st->gen_w[st->gen_lo] + rows) {
            gids_key(key, sizeof key, t->name, st->gen_lo);
            MDB_val k = {strlen(key), key};
            if ((rc = mdb_del(txn, t->store->meta, &k, NULL)) && rc != MDB_NOTFOUND)
                return mdb_or_err(t, rc, "retiring a generation", err);
            st->gen_lo++;
        }
    } else {
        /* a chunk of this checkpoint's slice into the base */
        st->del_len = 0;
        uint64_t done = st->swept - sn->before.swept, left = sn->slice_len - done;
        uint64_t len = left < t->store->gens_chunk ? left : t->store->gens_chunk, moved = 0;
        uint64_t from = (sn->slice_from + done) % rows;
        if ((rc = fold_slice(t, sn, txn, from, len, &moved, bytes, err)))
            return mdb_or_err(t, rc, "folding a slice of the generations", err);
        st->new_rows -= moved < st->new_rows ? moved : st->new_rows;
        st->sweep_at = (from + len) % rows;
        st->swept += len;
        /* folded, and left in the generations until where[] stops pointing at them */
        st->del_from = sn->slice_from;
        st->del_len = done + len;
        st->del_hi = sn->before.ngens;
    }
    if ((rc = put_gens_meta(t->store, txn, t->name, st)))
        return mdb_or_err(t, rc, "folding a slice of the generations", err);
    return RILL_OK;
}

int rill_gens_write(rill_table *t, rill_table_snap *sn, MDB_txn *txn, uint64_t *rows,
                    uint64_t *bytes, rill_err *err)
{
    int rc;
    const rill_gens_state *b = &sn->sliced; /* after the rolling fold's transactions */
    rill_gens_state *a = &sn->after;
    *a = *b;
    a->where = NULL;
    sn->ngids = 0;
    if (sn->drop_gens && (rc = mdb_drop(txn, t->gens, 0)))
        return mdb_or_err(t, rc, "emptying old generations", err);
    size_t cap = sn->n + (size_t)(sn->fold_spill ? rill_table_spill_rows(t) : 0);
    if (cap > sn->gids_cap) {
        uint64_t *g = realloc(sn->gids, (cap ? cap : 1) * sizeof *g);
        if (!g)
            return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory in a checkpoint",
                             t->name);
        sn->gids = g;
        sn->gids_cap = cap;
    }
    ckpt_rows m;
    if ((rc = ckpt_rows_open(&m, t, sn, txn)))
        return mdb_or_err(t, rc, "reading spilled rows", err);
    uint64_t id = 0;
    const void *val = NULL;
    while ((rc = ckpt_rows_next(&m, &id, &val, err)) == RILL_OK) {
        if (sn->ngids == sn->gids_cap) { /* the spill held more than it counted */
            size_t c2 = sn->gids_cap ? sn->gids_cap * 2 : 1024;
            uint64_t *g = realloc(sn->gids, c2 * sizeof *g);
            if (!g) {
                rc = rill_errf(err, RILL_ENOMEM, "table '%s': out of memory in a checkpoint",
                               t->name);
                break;
            }
            sn->gids = g;
            sn->gids_cap = c2;
        }
        /* a generation's keys come after every key of the ones before it, in id order */
        if ((rc = put_row(t, txn, t->gens, rill_gen_key(sn->gen, id), val, sn->val_bytes,
                          MDB_APPEND, bytes, err)))
            break;
        sn->gids[sn->ngids++] = id;
    }
    ckpt_rows_close(&m);
    if (rc != RILL_EOF)
        return rc;
    *rows += sn->ngids;
    sn->dirtied = sn->ngids;
    /* the bookkeeping after this checkpoint */
    a->ngens = sn->gen;
    a->entries = b->entries + sn->ngids;
    a->new_rows = b->new_rows + sn->new_rows;
    a->gen_w[sn->gen] = a->swept;
    char key[200];
    gids_key(key, sizeof key, t->name, sn->gen);
    MDB_val k = {strlen(key), key};
    gids_head h = {.swept = a->swept, .sweep_at = a->sweep_at};
    size_t n = sizeof h + sn->ngids * sizeof(uint64_t);
    unsigned char *blob = malloc(n);
    if (!blob)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory in a checkpoint", t->name);
    memcpy(blob, &h, sizeof h);
    if (sn->ngids)
        memcpy(blob + sizeof h, sn->gids, sn->ngids * sizeof(uint64_t));
    rc = rill_put_sealed(t->store, txn, t->store->meta, &k, blob, n);
    free(blob);
    if (rc || (rc = put_gens_meta(t->store, txn, t->name, a)))
        return mdb_or_err(t, rc, "writing a generation's ids", err);
    *bytes += n;
    return RILL_OK;
}

int rill_gens_fold(rill_table *t, rill_table_snap *sn, MDB_txn *txn, uint64_t *rows,
                   uint64_t *bytes, rill_err *err)
{
    int rc;
    if (sn->drop_gens && (rc = mdb_drop(txn, t->gens, 0)))
        return mdb_or_err(t, rc, "emptying old generations", err);
    ckpt_rows m;
    if ((rc = ckpt_rows_open(&m, t, sn, txn)))
        return mdb_or_err(t, rc, "reading spilled rows", err);
    /* three sources in id order: the checkpoint's rows (newest), then the generations' */
    const uint8_t *where = sn->before.ngens >= sn->before.gen_lo ? t->gs.where : NULL;
    uint64_t nrows = where ? (uint64_t)t->rows : 0, w = next_in_gens(where, nrows, 0);
    uint64_t cid = UINT64_MAX;
    const void *cval = NULL;
    int crc = ckpt_rows_next(&m, &cid, &cval, err);
    sn->dirtied = 0;
    char what[160];
    snprintf(what, sizeof what, "table '%s' (a generation's row)", t->name);
    for (;;) {
        if (crc != RILL_OK && crc != RILL_EOF) {
            rc = crc;
            break;
        }
        bool have_c = crc == RILL_OK, have_w = w < nrows;
        if (!have_c && !have_w) {
            rc = RILL_OK;
            break;
        }
        if (have_c && (!have_w || cid <= w)) {
            if ((rc = put_row(t, txn, t->main, cid, cval, sn->val_bytes, 0, bytes, err)))
                break;
            sn->dirtied++;
            if (have_w && cid == w)
                w = next_in_gens(where, nrows, w + 1);
            crc = ckpt_rows_next(&m, &cid, &cval, err);
        } else {
            uint64_t key = rill_gen_key(where[w], w);
            MDB_val k = {sizeof key, &key}, v;
            if ((rc = mdb_get(txn, t->gens, &k, &v))) {
                if (rc == MDB_NOTFOUND)
                    rc = rill_errf(err, RILL_ESTORE, "%s: table '%s': row %llu is listed in "
                                   "generation %u but missing from it", t->store->path, t->name,
                                   (unsigned long long)w, where[w]);
                break;
            }
            if ((rc = rill_unseal(t->store, &k, &v, what, false, err)))
                break;
            if (v.mv_size != sn->val_bytes) {
                rc = rill_errf(err, RILL_ESTORE, "%s: table '%s': a generation's row holds %zu "
                               "bytes, expected %zu", t->store->path, t->name, v.mv_size,
                               sn->val_bytes);
                break;
            }
            if ((rc = put_row(t, txn, t->main, w, v.mv_data, sn->val_bytes, 0, bytes, err)))
                break;
            w = next_in_gens(where, nrows, w + 1);
        }
        (*rows)++;
    }
    ckpt_rows_close(&m);
    if (rc)
        return mdb_or_err(t, rc, "folding generations", err);
    /* without generations the spill can go: readers find its rows in the base. With them it
     * stays, as the generations do, until where[] no longer points into them: a spilled row
     * newer than its generation's would read as that older value */
    if (sn->fold_spill && !where && (rc = mdb_drop(txn, t->spill, 0)))
        return mdb_or_err(t, rc, "emptying the spill", err);
    char key[200];
    for (unsigned g = sn->before.gen_lo; g <= sn->before.ngens; g++) {
        gids_key(key, sizeof key, t->name, g);
        MDB_val k = {strlen(key), key};
        if ((rc = mdb_del(txn, t->store->meta, &k, NULL)) && rc != MDB_NOTFOUND)
            return mdb_or_err(t, rc, "folding generations", err);
    }
    /* empty: generation numbers start again at 1; the rolling fold keeps its place */
    rill_gens_state *a = &sn->after;
    memset(a, 0, sizeof *a);
    a->gen_lo = 1;
    a->sweep_at = sn->before.sweep_at;
    a->swept = sn->before.swept;
    if (t->gens_open && (rc = put_gens_meta(t->store, txn, t->name, a)))
        return mdb_or_err(t, rc, "folding generations", err);
    return RILL_OK;
}
