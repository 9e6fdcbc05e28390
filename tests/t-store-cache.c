/* The store's RAM cache of rows under budgets (store/store.h): eviction and spill under a tiny
 * budget, checked row by row against an unlimited in-memory table updated the same way;
 * evict_after deleting rows unused for a while, a bounded part per checkpoint; the map growing
 * from 1 MiB; admission. Every store lives in a mkdtemp directory removed at the end. */
#include "storetest.h"

/* ---- eviction and spill under a tiny budget, against RAM ---- */

enum { EV_PER = 300, EV_SPACE = 5000, EV_SPREAD = 37, EV_STEPS = 60 };

typedef struct {
    rill_store *s;
    rill_table *a, *b;       /* in the store: row-wise Adagrad dim 8, SGD dim 4 */
} ev_store;

/* the eviction tests run twice: checkpoints on the caller's thread, then in the background */
static bool ev_sync;

static int ev_open(ev_store *e, const char *dir, int mode, rill_err *err)
{
    memset(e, 0, sizeof *e);
    /* 1 byte: the minimum, 1024 rows */
    int rc = ev_sync ? open_store_sync(&e->s, dir, mode, 1, 0, err)
                     : open_store(&e->s, dir, mode, 1, 0, err);
    if (!rc)
        rc = rill_store_table(e->s, &e->a, "a", 1000000, 8, &ROWWISE, 11, 0.05, NULL, err);
    if (!rc)
        rc = rill_store_table(e->s, &e->b, "b", 1000000, 4, &SGD, 12, 0.05, NULL, err);
    return rc;
}

static void ev_close(ev_store *e)
{
    rill_store_close(e->s);
    rill_table_free(e->a);
    rill_table_free(e->b);
}

/* steps [from, to]: both tables, store and RAM, the same updates; every looked-up row compared
 * before its update; checkpoints every 10 steps */
static void ev_steps(ev_store *e, rill_table *ma, rill_table *mb, uint64_t from, uint64_t to,
                     size_t *differ, size_t *over_budget, rill_err *err)
{
    uint64_t ids[EV_PER];
    static float sa[EV_PER * 9], sb[EV_PER * 4], ra[EV_PER * 9], rb[EV_PER * 4];
    for (uint64_t t = from; t <= to; t++) {
        size_t n = step_ids(t, 3, EV_PER, EV_SPACE, EV_SPREAD, ids);
        int rc = train_step(e->a, ids, n, t, sa, err) || train_step(ma, ids, n, t, ra, err) ||
                 train_step(e->b, ids, n, t, sb, err) || train_step(mb, ids, n, t, rb, err) ||
                 rill_store_end_step(e->s, t, err);
        if (rc) {
            diag("step %llu: %s", (unsigned long long)t, err->msg);
            (*differ)++;
            return;
        }
        for (size_t i = 0; i < n; i++)
            *differ += memcmp(sa + 9 * i, ra + 9 * i, 9 * sizeof(float)) != 0 ||
                       memcmp(sb + 4 * i, rb + 4 * i, 4 * sizeof(float)) != 0;
        rill_table_stats st;
        rill_table_get_stats(e->a, &st);
        /* a background checkpoint's rows, and dirty ones, wait until it is done */
        *over_budget += (st.cached > st.cache_capacity && st.held == 0) || (ev_sync && st.held);
        if (t % 10 == 0 && rill_store_checkpoint(e->s, NULL, NULL, &t, sizeof t, err)) {
            diag("checkpoint at %llu: %s", (unsigned long long)t, err->msg);
            (*differ)++;
        }
    }
}

/* every id of the space, stored against RAM */
static size_t ev_compare(ev_store *e, rill_table *ma, rill_table *mb)
{
    size_t bad = 0;
    for (uint64_t k = 0; k < EV_SPACE; k++) {
        uint64_t id = k * EV_SPREAD;
        const float *x = rill_table_peek(e->a, id), *y = rill_table_peek(ma, id);
        bad += (x == NULL) != (y == NULL) || (x && memcmp(x, y, 9 * sizeof(float)) != 0);
        x = rill_table_peek(e->b, id);
        y = rill_table_peek(mb, id);
        bad += (x == NULL) != (y == NULL) || (x && memcmp(x, y, 4 * sizeof(float)) != 0);
    }
    return bad;
}

static void test_eviction(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "evict");
    diag("eviction, checkpoints written %s", ev_sync ? "on the caller's thread" : "in the background");
    ev_store e;
    rill_table *ma, *mb;
    int rc = ev_open(&e, dir, RILL_STORE_CREATE, &err) ||
             rill_table_create(&ma, "a", 1000000, 8, &ROWWISE, 11, 0.05, &err) ||
             rill_table_create(&mb, "b", 1000000, 4, &SGD, 12, 0.05, &err);
    if (!ok(rc == RILL_OK, "a store with a 1-byte cache budget; tables a and b, and twins in RAM")) {
        diag("%s", err.msg);
        return;
    }
    size_t differ = 0, over = 0;
    ev_steps(&e, ma, mb, 1, 30, &differ, &over, &err);
    rill_table_stats st;
    rill_table_get_stats(e.a, &st);
    ok(st.cache_capacity == 1024, "the budget is the minimum, 1024 rows a table (%llu)",
       (unsigned long long)st.cache_capacity);
    ok(st.evicted > 0 && st.spilled > 0 && st.misses > st.created,
       "30 steps over %d ids: rows evicted (%llu), spilled (%llu), read back (%llu misses for "
       "%llu created)",
       EV_SPACE, (unsigned long long)st.evicted, (unsigned long long)st.spilled,
       (unsigned long long)st.misses, (unsigned long long)st.created);
    ok(st.rows == rill_table_touched(ma) && st.rows > st.cache_capacity,
       "the store counts %llu rows, as many as RAM",
       (unsigned long long)st.rows);
    ev_close(&e);

    rc = ev_open(&e, dir, RILL_STORE_WRITE, &err);
    if (!ok(rc == RILL_OK, "reopened for writing after the checkpoint of step 30")) {
        diag("%s", err.msg);
        rill_table_free(ma);
        rill_table_free(mb);
        return;
    }
    ok(rill_table_touched(e.a) == rill_table_touched(ma) &&
           rill_table_touched(e.b) == rill_table_touched(mb),
       "reopened: it counts the stored rows as touched (%llu)",
       (unsigned long long)rill_table_touched(e.a));
    ev_steps(&e, ma, mb, 31, EV_STEPS, &differ, &over, &err);
    ok(differ == 0, "steps 1 to %d: every row looked up equals RAM's before its update (%zu "
                    "differ)", EV_STEPS, differ);
    ok(over == 0, "after every step the cache is within its budget (%zu steps over)", over);
    size_t bad = ev_compare(&e, ma, mb);
    ok(bad == 0, "after step %d: every row equals RAM's, cached or stored (%zu differ)", EV_STEPS,
       bad);
    ok(rill_store_verify(e.s, &err) == RILL_OK, "verify passes");
    uint64_t dg = 0, dg2 = 1;
    rill_store_digest(e.s, &dg, &err);

    /* more steps, spilling, in the store only; then closed without a checkpoint */
    rill_table_stats st0, st1;
    rill_table_get_stats(e.a, &st0);
    uint64_t ids[EV_PER];
    for (uint64_t t = EV_STEPS + 1; t <= EV_STEPS + 10 && !rc; t++) {
        size_t n = step_ids(t, 4, EV_PER, EV_SPACE, EV_SPREAD, ids);
        rc = train_step(e.a, ids, n, t, NULL, &err) || train_step(e.b, ids, n, t, NULL, &err) ||
             rill_store_end_step(e.s, t, &err);
    }
    rill_table_get_stats(e.a, &st1);
    ok(rc == RILL_OK && st1.spilled > st0.spilled,
       "10 more steps without a checkpoint spill %llu rows",
       (unsigned long long)(st1.spilled - st0.spilled));
    rill_store_digest(e.s, &dg2, &err);
    ok(dg2 == dg, "spills change nothing of the last checkpoint's digest");
    ev_close(&e);

    rc = ev_open(&e, dir, RILL_STORE_READ, &err);
    if (!ok(rc == RILL_OK, "reopened read-only")) {
        diag("%s", err.msg);
        rill_table_free(ma);
        rill_table_free(mb);
        return;
    }
    bad = ev_compare(&e, ma, mb);
    ok(bad == 0, "reopened: every row is that of step %d's checkpoint, none of the spilled "
                 "later ones (%zu differ)", EV_STEPS, bad);
    rill_store_digest(e.s, &dg2, &err);
    ok(dg2 == dg, "reopened: the same digest");
    check_each(e.a, ma, "table a reopened");
    check_each(e.b, mb, "table b reopened");
    ev_close(&e);

    /* for writing again: the spill of the lost steps is dropped, nothing of it comes back */
    rc = ev_open(&e, dir, RILL_STORE_WRITE, &err);
    ok(rc == RILL_OK && ev_compare(&e, ma, mb) == 0,
       "reopened for writing: the same rows, the unsaved spill dropped");
    if (rc == RILL_OK)
        ev_close(&e);
    rill_table_free(ma);
    rill_table_free(mb);
}

/* ---- evict_after: rows unused for a while are deleted, a bounded part per checkpoint ---- */

enum { EA_COLD = 10000, EA_HOT = 10, EA_AFTER = 5, EA_STEPS = 40 };

/* step t of the evict_after run: step 1 touches the cold ids [0, EA_COLD), every step the hot
 * ones [EA_COLD, EA_COLD + EA_HOT), and steps from 30 on cold id 7 again */
static int ea_step(rill_store *s, rill_table *t, uint64_t step, rill_err *err)
{
    static uint64_t ids[EA_COLD + EA_HOT];
    size_t n = 0;
    if (step == 1)
        for (uint64_t i = 0; i < EA_COLD; i++)
            ids[n++] = i;
    for (uint64_t i = 0; i < EA_HOT; i++)
        ids[n++] = EA_COLD + i;
    if (step >= 30)
        ids[n++] = 7;
    rill_store_set_step(s, step);
    int rc = train_step(t, ids, n, step, NULL, err);
    return rc ? rc : rill_store_end_step(s, step, err);
}

static void test_evict_after(void)
{
    rill_err err;
    char da[256], db[256];
    in_tmp(da, sizeof da, "sweep-a");
    in_tmp(db, sizeof db, "sweep-b");
    rill_table_opts o = {.evict_after = EA_AFTER};
    rill_store *a, *b;
    rill_table *ta, *tb, *mem;
    int rc = open_store(&a, da, RILL_STORE_CREATE, 0, 0, &err) ||
             open_store(&b, db, RILL_STORE_CREATE, 0, 0, &err) ||
             rill_store_table(a, &ta, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err) ||
             rill_store_table(b, &tb, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err) ||
             rill_table_create(&mem, "emb", 1 << 20, 4, &SGD, 3, 0.05, &err);
    if (!ok(rc == RILL_OK, "two stores with a table of evict_after = %d", EA_AFTER)) {
        diag("%s", err.msg);
        return;
    }
    /* the same steps in both; b closed and reopened for writing after every checkpoint */
    uint64_t deleted_first = 0, rows_after = 0;
    size_t digests_differ = 0;
    for (uint64_t step = 1; step <= EA_STEPS && !rc; step++) {
        rc = ea_step(a, ta, step, &err) || ea_step(b, tb, step, &err);
        if (rc || step % 5)
            continue;
        rc = rill_store_checkpoint(a, NULL, NULL, &step, sizeof step, &err) ||
             rill_store_checkpoint(b, NULL, NULL, &step, sizeof step, &err);
        uint64_t d1 = 0, d2 = 1;
        rill_store_digest(a, &d1, &err);
        rill_store_digest(b, &d2, &err);
        digests_differ += d1 != d2;
        rill_table_stats st;
        rill_table_get_stats(ta, &st);
        if (step == 10)
            deleted_first = st.deleted;
        if (step == 25)
            rows_after = st.rows;
        rill_store_close(b);
        rill_table_free(tb);
        rc = rc || open_store(&b, db, RILL_STORE_WRITE, 0, 0, &err) ||
             rill_store_table(b, &tb, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err);
    }
    if (!ok(rc == RILL_OK, "%d steps, a checkpoint every 5", EA_STEPS))
        diag("%s", err.msg);
    ok(deleted_first > 0 && deleted_first < EA_COLD,
       "the first sweep (step 10) deletes a part of the %d cold rows (%llu)", EA_COLD,
       (unsigned long long)deleted_first);
    ok(rows_after == EA_HOT, "by step 25 only the %d hot rows are left (%llu)", EA_HOT,
       (unsigned long long)rows_after);
    ok(digests_differ == 0,
       "a store reopened after every checkpoint sweeps as one kept open (equal digests)");
    ok(rill_table_peek(ta, 3) == NULL && rill_table_peek(ta, EA_COLD) != NULL,
       "a swept row is gone, a hot row is there");
    /* cold id 7, swept, then used from step 30 on: a new row, from its initial values */
    uint64_t seven = 7;
    for (uint64_t step = 30; step <= EA_STEPS && !rc; step++)
        rc = train_step(mem, &seven, 1, step, NULL, &err);
    const float *x = rill_table_peek(ta, 7), *y = rill_table_peek(mem, 7);
    ok(rc == RILL_OK && x && y && memcmp(x, y, 4 * sizeof(float)) == 0,
       "a swept id used again is a new row, made from (seed, id) again");
    rill_store_close(a);
    rill_table_free(ta);
    rill_store_close(b);
    rill_table_free(tb);
    rc = open_store(&a, da, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(a, &ta, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err);
    if (ok(rc == RILL_OK, "reopened read-only")) {
        rows_seen r = {.stride = 4};
        rill_table_each(ta, collect, &r, &err);
        ok(r.n == EA_HOT + 1 && r.ids[0] == 7 && r.ids[1] == EA_COLD,
           "it holds the hot rows and id 7 (%zu rows)", r.n);
        seen_free(&r);
        rill_store_close(a);
        rill_table_free(ta);
    }
    rill_table_free(mem);
}

/* ---- the map grows ---- */

static void test_map_growth(void)
{
    rill_err err;
    char dir[256];
    enum { ROWS = 60000, PER = 6000 };
    static const size_t caches[2] = {0, 1};
    for (int c = 0; c < 2; c++) {
        snprintf(dir, sizeof dir, "%s/grow%d", tmpdir, c);
        rill_store *s;
        rill_table *t, *mem;
        int rc = open_store(&s, dir, RILL_STORE_CREATE, caches[c], (size_t)1 << 20, &err) ||
                 rill_store_table(s, &t, "big", 1 << 20, 16, &SGD, 5, 0.05, NULL, &err) ||
                 rill_table_create(&mem, "big", 1 << 20, 16, &SGD, 5, 0.05, &err);
        if (!ok(rc == RILL_OK, "a store with a 1 MiB map, cache %s",
                caches[c] ? "of 1024 rows" : "unlimited")) {
            diag("%s", err.msg);
            return;
        }
        static uint64_t ids[PER];
        for (uint64_t step = 1; step <= ROWS / PER && !rc; step++) {
            for (size_t k = 0; k < PER; k++)
                ids[k] = (step - 1) * PER + k;
            rc = train_step(t, ids, PER, step, NULL, &err) ||
                 train_step(mem, ids, PER, step, NULL, &err) ||
                 rill_store_end_step(s, step, &err);
            if (!rc && step % 5 == 0)
                rc = rill_store_checkpoint(s, NULL, NULL, &step, sizeof step, &err);
        }
        if (!ok(rc == RILL_OK, "%d rows of 16 floats (about 5 MiB) written and checkpointed", ROWS))
            diag("%s", err.msg);
        rill_store_info info;
        rill_store_get_info(s, &info);
        ok(info.map_size > ((size_t)4 << 20) && info.used_bytes > ((size_t)4 << 20),
           "the map grew: %llu bytes used of a %llu-byte map", (unsigned long long)info.used_bytes,
           (unsigned long long)info.map_size);
        rill_table_stats st;
        rill_table_get_stats(t, &st);
        if (caches[c])
            ok(st.spilled > 0, "spills too grew the map (%llu rows spilled)",
               (unsigned long long)st.spilled);
        ok(rill_store_verify(s, &err) == RILL_OK, "verify passes");
        rill_store_close(s);
        rill_table_free(t);
        rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) ||
             rill_store_table(s, &t, "big", 1 << 20, 16, &SGD, 5, 0.05, NULL, &err);
        if (ok(rc == RILL_OK, "reopened read-only")) {
            check_each(t, mem, "grown map reopened");
            rill_store_close(s);
            rill_table_free(t);
        } else {
            diag("%s", err.msg);
        }
        rill_table_free(mem);
    }
}

/* ---- admission ---- */

static void test_admission(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "admit");
    rill_store *s;
    rill_table *t, *mem;
    rill_table_opts o = {.admit = 3};
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err) ||
             rill_store_table(s, &t, "adm", 100, 4, &SGD, 9, 0.05, &o, &err) ||
             rill_table_create(&mem, "adm", 100, 4, &SGD, 9, 0.05, &err);
    if (!ok(rc == RILL_OK, "a table with admit = 3")) {
        diag("%s", err.msg);
        return;
    }
    bool nulls = true;
    float *row = NULL;
    rill_table_stats st;
    for (uint64_t step = 1; step <= 2; step++) {
        uint64_t id = 5;
        float *rows[1];
        rc = rill_table_lookup(t, &id, 1, rows, &err);
        nulls = nulls && rc == RILL_OK && rows[0] == NULL && rill_table_peek(t, 5) == NULL;
        float g[4] = {1, 1, 1, 1};
        rill_table_stage(t, 1, &id, rows, g); /* a row not admitted is not trained */
        rill_table_apply(t, 1.0, 1.0, step);
        if (step == 1)
            rill_table_get_stats(t, &st);
        rill_store_end_step(s, step, &err);
    }
    ok(nulls, "id 5 reads as NULL in its first two steps");
    ok(st.pending == 1 && st.rows == 0 && st.created == 0,
       "after the first: 1 pending, no row (%llu, %llu)", (unsigned long long)st.pending,
       (unsigned long long)st.rows);
    uint64_t ids[2] = {5, 6};
    float *rows[2];
    rc = rill_table_lookup(t, ids, 2, rows, &err);
    const float *want = NULL;
    if (rc == RILL_OK && rill_table_lookup(mem, ids, 1, &row, &err) == RILL_OK)
        want = row;
    ok(rc == RILL_OK && rows[0] && want && memcmp(rows[0], want, 4 * sizeof(float)) == 0,
       "in its third step it gets a row, with the initial values of (seed, 5)");
    ok(rows[1] == NULL, "id 6, first seen in that step, does not");
    rill_table_get_stats(t, &st);
    ok(st.rows == 1 && st.created == 1 && st.pending == 1, "1 row, 1 pending (%llu, %llu)",
       (unsigned long long)st.rows, (unsigned long long)st.pending);
    rill_store_end_step(s, 3, &err);
    rc = rill_store_checkpoint(s, NULL, NULL, "st", 2, &err);
    rill_store_close(s);
    rill_table_free(t);
    rc = rc || open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(s, &t, "adm", 100, 4, &SGD, 9, 0.05, &o, &err);
    if (ok(rc == RILL_OK, "checkpointed and reopened")) {
        ok(rill_table_peek(t, 5) != NULL && rill_table_peek(t, 6) == NULL,
           "the admitted row is stored, the pending id is not");
        rill_store_close(s);
        rill_table_free(t);
    }
    rill_table_free(mem);
}

int main(void)
{
    if (!make_tmpdir())
        return 1;
    ev_sync = true;
    test_eviction();
    ev_sync = false;
    test_eviction();
    test_evict_after();
    test_map_growth();
    test_admission();
    rm_tree(tmpdir);
    return done_testing();
}
