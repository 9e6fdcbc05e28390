/* Reading a whole store back: the listing of its entries (rill_store_list), the check of
 * every value and row against its seal (rill_store_verify) and a digest of its contents
 * (rill_store_digest), all in one guarded read transaction each. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "util.h"

/* ---- listing and checking ---- */

/* The listing within the caller's read transaction: LMDB lets one transaction at a time open
 * database handles, so the callbacks that read tables must share this one. */
static int list_in(rill_store *s, MDB_txn *txn, int (*fn)(void *ud, const rill_store_entry *e),
                   void *ud, rill_err *err)
{
    int rc;
    MDB_cursor *c;
    MDB_val k, v;
    int urc = RILL_OK;
    if ((rc = rill_cursor_open(txn, s->meta, &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !urc;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size <= 6 || memcmp(k.mv_data, "table:", 6) != 0)
                continue;
            if ((urc = rill_unseal(s, &k, &v, "a table's shape", true, err)))
                break;
            rill_store_entry e = {.is_table = true};
            if (v.mv_size > 0 && v.mv_size < 160) {
                char sh[160];
                snprintf(sh, sizeof sh, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
                long long r0 = 0;
                if (sscanf(sh, "%lld", &r0) == 1 && r0 > 0)
                    e.ids = (uint64_t)r0;
            }
            snprintf(e.name, sizeof e.name, "%.*s", (int)k.mv_size - 6, (const char *)k.mv_data + 6);
            char shape[160];
            snprintf(shape, sizeof shape, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
            long long rows = 0;
            if (sscanf(shape, "%lld %d %d %31s", &rows, &e.dim, &e.stride, e.optim) != 4)
                continue;
            char dbn[200];
            MDB_dbi dbi;
            MDB_stat st;
            snprintf(dbn, sizeof dbn, "t:%s", e.name);
            if (mdb_dbi_open(txn, dbn, MDB_INTEGERKEY, &dbi) == 0 && mdb_stat(txn, dbi, &st) == 0) {
                e.rows = st.ms_entries;
                e.bytes = (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
                          (uint64_t)st.ms_psize;
            }
            snprintf(dbn, sizeof dbn, "g:%s", e.name);
            if (mdb_dbi_open(txn, dbn, MDB_INTEGERKEY, &dbi) == 0 && mdb_stat(txn, dbi, &st) == 0)
                e.bytes += (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
                           (uint64_t)st.ms_psize;
            uint64_t only_in_gens = 0; /* a growing table's rows not yet folded into its base */
            if ((urc = rill_gens_new_rows(s, txn, e.name, &only_in_gens, err))) {
                if (rill_is_mdb_code(urc))
                    urc = rill_store_mdb_err(s, urc, "listing", err);
                break;
            }
            e.rows += only_in_gens;
            urc = fn(ud, &e);
        }
        rill_cursor_close(c);
    }
    if (!urc && (rc == MDB_NOTFOUND || rc == 0) && (rc = rill_cursor_open(txn, s->dense, &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !urc;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if ((urc = rill_unseal(s, &k, &v, "a dense parameter", true, err)))
                break;
            rill_store_entry e = {.is_table = false};
            snprintf(e.name, sizeof e.name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
            e.rows = v.mv_size / sizeof(float);
            e.bytes = v.mv_size;
            urc = fn(ud, &e);
        }
        rill_cursor_close(c);
    }
    if (urc)
        return urc;
    if (rc && rc != MDB_NOTFOUND)
        return rill_store_mdb_err(s, rc, "listing", err);
    return RILL_OK;
}

typedef struct {
    int (*fn)(void *ud, const rill_store_entry *e);
    void *ud;
} list_ctx;

static int list_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    list_ctx *c = ctx;
    return list_in(s, txn, c->fn, c->ud, err);
}

int rill_store_list(rill_store *s, int (*fn)(void *ud, const rill_store_entry *e), void *ud,
                    rill_err *err)
{
    list_ctx c = {fn, ud};
    return rill_store_read(s, list_fn, &c, "listing", err);
}

typedef struct {
    rill_store *s;
    MDB_txn *txn;
    rill_err *err;
} verify_ctx;

/* Every value of a table's database (the base, or its generations) has the row's size, its
 * seal and finite floats. */
static int verify_rows_db(verify_ctx *c, const rill_store_entry *e, MDB_dbi dbi, bool gens)
{
    MDB_cursor *cur;
    int rc;
    if ((rc = rill_cursor_open(c->txn, dbi, &cur)))
        return rill_store_mdb_err(c->s, rc, "checking", c->err);
    size_t want = (size_t)e->stride * sizeof(float) + 2 * sizeof(uint64_t);
    char what[200];
    snprintf(what, sizeof what, gens ? "table '%s' (its generations)" : "table '%s'", e->name);
    MDB_val k, v;
    uint64_t n = 0;
    int urc = RILL_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !urc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size != sizeof(uint64_t) || v.mv_size != rill_sealed_len(c->s, want)) {
            urc = rill_errf(c->err, RILL_ESTORE,
                            "%s: %s, entry %llu: %zu-byte key, %zu-byte row (expected 8 and %zu)",
                            c->s->path, what, (unsigned long long)n, k.mv_size, v.mv_size,
                            rill_sealed_len(c->s, want));
            break;
        }
        if ((urc = rill_unseal(c->s, &k, &v, what, false, c->err)))
            break;
        for (int d = 0; d < e->stride; d++) {
            float f;
            memcpy(&f, (const char *)v.mv_data + (size_t)d * sizeof f, sizeof f);
            if (!isfinite(f)) {
                uint64_t id;
                memcpy(&id, k.mv_data, sizeof id);
                urc = rill_errf(c->err, RILL_ESTORE, "%s: %s, row %llu holds a non-finite value",
                                c->s->path, what, (unsigned long long)(id & ((UINT64_C(1) << 56) - 1)));
                break;
            }
        }
    }
    rill_cursor_close(cur);
    if (urc)
        return urc;
    if (rc != MDB_NOTFOUND)
        return rill_store_mdb_err(c->s, rc, "checking", c->err);
    return RILL_OK;
}

static int verify_entry(void *ud, const rill_store_entry *e)
{
    verify_ctx *c = ud;
    if (!e->is_table)
        return RILL_OK;
    char dbn[200];
    MDB_dbi dbi, gdbi;
    snprintf(dbn, sizeof dbn, "t:%s", e->name);
    int rc = mdb_dbi_open(c->txn, dbn, MDB_INTEGERKEY, &dbi);
    if (rc)
        return rill_store_mdb_err(c->s, rc, "opening a table to check it", c->err);
    if ((rc = verify_rows_db(c, e, dbi, false)))
        return rc;
    snprintf(dbn, sizeof dbn, "g:%s", e->name);
    rc = mdb_dbi_open(c->txn, dbn, MDB_INTEGERKEY, &gdbi);
    if (rc == MDB_NOTFOUND)
        return RILL_OK; /* a store from before generations */
    if (rc)
        return rill_store_mdb_err(c->s, rc, "opening a table to check it", c->err);
    if ((rc = verify_rows_db(c, e, gdbi, true)))
        return rc;
    /* every row a generation lists is in it */
    rill_gens_state gs;
    if ((rc = rill_gens_load(c->s, c->txn, e->name, e->ids, false, &gs, c->err)))
        return rill_is_mdb_code(rc) ? rill_store_mdb_err(c->s, rc, "checking", c->err) : rc;
    const uint8_t *where = gs.where;
    for (uint64_t id = 0; where && id < e->ids && !rc; id++) {
        if (!where[id])
            continue;
        uint64_t key = rill_gen_key(where[id], id);
        MDB_val k = {sizeof key, &key}, v;
        rc = mdb_get(c->txn, gdbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            rc = rill_errf(c->err, RILL_ESTORE, "%s: table '%s', row %llu is listed in generation "
                           "%u but missing from it", c->s->path, e->name, (unsigned long long)id,
                           where[id]);
        else if (rc)
            rc = rill_store_mdb_err(c->s, rc, "checking", c->err);
    }
    free(gs.where);
    return rc;
}

/* Every value of a database of text keys passes its seal ("format" excepted). */
static int verify_db(rill_store *s, MDB_txn *txn, MDB_dbi db, const char *what, rill_err *err)
{
    MDB_cursor *cur;
    int rc = rill_cursor_open(txn, db, &cur);
    if (rc)
        return rill_store_mdb_err(s, rc, "checking", err);
    MDB_val k, v;
    int urc = RILL_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !urc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        bool is_format = k.mv_size == 6 && memcmp(k.mv_data, "format", 6) == 0;
        if (!is_format)
            urc = rill_unseal(s, &k, &v, what, true, err);
    }
    rill_cursor_close(cur);
    if (urc)
        return urc;
    return rc == MDB_NOTFOUND ? RILL_OK : rill_store_mdb_err(s, rc, "checking", err);
}

static int verify_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    (void)ctx;
    verify_ctx c = {s, txn, err};
    int rc;
    if ((rc = verify_db(s, txn, s->meta, "the run's description", err)) ||
        (rc = verify_db(s, txn, s->state, "the run state", err)) ||
        (rc = verify_db(s, txn, s->dense, "a dense parameter", err)))
        return rc;
    return list_in(s, txn, verify_entry, &c, err);
}

int rill_store_verify(rill_store *s, rill_err *err)
{
    int rc = rill_store_walk_pages(s, true, err); /* every page, the rows' too */
    return rc ? rc : rill_store_read(s, verify_fn, NULL, "checking", err);
}

/* ---- digest ---- */

typedef struct {
    rill_store *s;
    MDB_txn *txn;
    uint64_t h;
    rill_err *err;
} digest_ctx;

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = rill_hash64(w, h);
    }
    uint64_t tail = 0;
    memcpy(&tail, b + i, n - i);
    return rill_hash64(tail ^ ((uint64_t)(n - i) << 56), h);
}

static int digest_entry(void *ud, const rill_store_entry *e)
{
    digest_ctx *c = ud;
    c->h = hash_bytes(c->h, e->name, strlen(e->name));
    int rc;
    if (!e->is_table) {
        MDB_cursor *cur;
        if ((rc = rill_cursor_open(c->txn, c->s->dense, &cur)))
            return rill_store_mdb_err(c->s, rc, "reading", c->err);
        MDB_val k = {strlen(e->name), (void *)e->name}, v;
        int urc = RILL_OK;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        if (rc == 0 && !(urc = rill_unseal(c->s, &k, &v, "a dense parameter", true, c->err)))
            c->h = hash_bytes(c->h, v.mv_data, v.mv_size);
        rill_cursor_close(cur);
        if (urc)
            return urc;
        return rc == 0 || rc == MDB_NOTFOUND ? RILL_OK : rill_store_mdb_err(c->s, rc, "reading", c->err);
    }
    /* a table's rows each at its newest place, so a table hashes the same in any layout */
    char dbn[200];
    MDB_dbi dbi, gdbi = 0;
    snprintf(dbn, sizeof dbn, "t:%s", e->name);
    if ((rc = mdb_dbi_open(c->txn, dbn, MDB_INTEGERKEY, &dbi)))
        return rill_store_mdb_err(c->s, rc, "reading a table", c->err);
    snprintf(dbn, sizeof dbn, "g:%s", e->name);
    rill_gens_state gs = {0};
    rc = mdb_dbi_open(c->txn, dbn, MDB_INTEGERKEY, &gdbi);
    if (rc == 0)
        rc = rill_gens_load(c->s, c->txn, e->name, e->ids, false, &gs, c->err);
    else if (rc == MDB_NOTFOUND)
        rc = RILL_OK;
    uint8_t *where = gs.where;
    if (rc)
        return rill_is_mdb_code(rc) ? rill_store_mdb_err(c->s, rc, "reading a table", c->err) : rc;
    rill_rows r;
    if ((rc = rill_rows_open(&r, c->s, c->txn, dbi, gdbi, where, e->ids))) {
        free(where);
        return rill_store_mdb_err(c->s, rc, "reading", c->err);
    }
    char what[200];
    snprintf(what, sizeof what, "table '%s'", e->name);
    size_t fl = (size_t)e->stride * sizeof(float);
    MDB_val k, v;
    uint64_t id;
    while ((rc = rill_rows_next(&r, &id, &k, &v, c->err)) == RILL_OK) {
        if (v.mv_size != rill_sealed_len(c->s, fl + 2 * sizeof(uint64_t))) {
            rc = rill_errf(c->err, RILL_ESTORE, "%s: table '%s' holds a malformed row "
                           "(%zu bytes)", c->s->path, e->name, v.mv_size);
            break;
        }
        if ((rc = rill_unseal(c->s, &k, &v, what, false, c->err)))
            break;
        c->h = hash_bytes(c->h, &id, sizeof id);
        /* the floats only: the last-used step is bookkeeping, not a parameter */
        c->h = hash_bytes(c->h, v.mv_data, fl);
    }
    rill_rows_close(&r);
    free(where);
    return rc == RILL_EOF ? RILL_OK : rc;
}

static int digest_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    digest_ctx *c = ctx;
    c->txn = txn;
    return list_in(s, txn, digest_entry, c, err);
}

int rill_store_digest(rill_store *s, uint64_t *digest, rill_err *err)
{
    digest_ctx c = {s, NULL, 0x5eed, err};
    int rc = rill_store_read(s, digest_fn, &c, "reading", err);
    *digest = c.h;
    return rc;
}
