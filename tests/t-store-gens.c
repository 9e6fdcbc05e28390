/* A table's generations (store/table_gens.c): checkpoints appended as generations, folded back
 * into the base a slice at a time and all at once, under a cache budget small enough to spill,
 * with checkpoints on
 * the caller's thread and in the background; every row checked against a table in RAM updated
 * the same way, after reopening too; an orphan generation (one being written when the run
 * stopped) dropped on reopening; a missing id list refused. */
#include <lmdb.h>
#include <time.h>

#include "storetest.h"

enum { G_ROWS = 16384, G_PER = 300, G_EVERY = 6, G_STEPS = 132 };

static bool g_sync, g_prefill;

static int g_open(rill_store **s, rill_table **t, const char *dir, int mode, rill_err *err)
{
    *t = NULL;
    int rc = g_sync ? open_store_sync(s, dir, mode, 1, 0, err) : open_store(s, dir, mode, 1, 0, err);
    rill_table_opts o = {.prefill = g_prefill};
    if (!rc && (rc = rill_store_table(*s, t, "a", G_ROWS, 8, &ROWWISE, 11, 0.05, &o, err)))
        rill_store_close(*s);
    return rc;
}

static void g_close(rill_store *s, rill_table *t)
{
    rill_store_close(s);
    rill_table_free(t);
}

/* Every id of the table, the store's against RAM's (RAM makes the rows it lacks, with the
 * values prefill gave them). */
static size_t g_compare(rill_table *t, rill_table *mem)
{
    size_t bad = 0;
    rill_err err;
    for (uint64_t id = 0; id < G_ROWS; id++) {
        float *y;
        const float *x = rill_table_peek(t, id);
        if (!g_prefill) { /* rows made on first use: the same ones exist */
            const float *z = rill_table_peek(mem, id);
            bad += (x == NULL) != (z == NULL) || (x && memcmp(x, z, 9 * sizeof(float)) != 0);
            continue;
        }
        if (rill_table_lookup(mem, &id, 1, &y, &err) || !x) {
            bad++;
            continue;
        }
        bad += memcmp(x, y, 9 * sizeof(float)) != 0;
    }
    return bad;
}

/* steps [from, to] in the store and in RAM, each looked-up row compared before its update;
 * a checkpoint every G_EVERY steps; the most generations seen, and the folds */
static size_t g_steps(rill_store *s, rill_table *t, rill_table *mem, uint64_t from, uint64_t to,
                      uint64_t *max_gens, rill_err *err)
{
    uint64_t ids[G_PER];
    static float st_rows[G_PER * 9], mem_rows[G_PER * 9];
    size_t differ = 0;
    for (uint64_t step = from; step <= to; step++) {
        size_t n = step_ids(step, 5, G_PER, G_ROWS, 1, ids);
        if (train_step(t, ids, n, step, st_rows, err) || train_step(mem, ids, n, step, mem_rows, err) ||
            rill_store_end_step(s, step, err)) {
            diag("step %llu: %s", (unsigned long long)step, err->msg);
            return differ + 1;
        }
        for (size_t i = 0; i < n; i++)
            differ += memcmp(st_rows + 9 * i, mem_rows + 9 * i, 9 * sizeof(float)) != 0;
        if (step % G_EVERY == 0 && rill_store_checkpoint(s, NULL, NULL, &step, sizeof step, err)) {
            diag("checkpoint at %llu: %s", (unsigned long long)step, err->msg);
            differ++;
        }
        if (step % G_EVERY == 0) { /* every row readable while the checkpoint is written */
            if (!g_sync) { /* the rolling fold's transactions committed, the last one held
                            * (RILL_CHECKPOINT_PAUSE): what readers see in between */
                struct timespec ts = {0, 30 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            for (uint64_t id = 0; id < G_ROWS; id++)
                (void)rill_table_peek(t, id);
            rill_err fault;
            if (rill_table_fault(t, &fault)) {
                diag("reading every row after the checkpoint of step %llu: %s",
                     (unsigned long long)step, fault.msg);
                differ++;
            }
        }
        /* a background checkpoint done a step later: the steps before the next one may spill
         * (while it is written, dirty rows stay) */
        if (step % G_EVERY == 1 && rill_store_checkpoint_wait(s, err)) {
            diag("checkpoint before %llu: %s", (unsigned long long)step, err->msg);
            differ++;
        }
        rill_table_stats st;
        rill_table_get_stats(t, &st);
        if (st.generations > *max_gens)
            *max_gens = st.generations;
    }
    return differ;
}

/* More steps of G_EVERY until the last checkpoint is a generation (not a fold). */
static size_t g_until_generation(rill_store *s, rill_table *t, rill_table *mem, uint64_t *steps,
                                 uint64_t *max_gens, rill_err *err)
{
    size_t differ = 0;
    rill_table_stats st;
    do {
        differ += g_steps(s, t, mem, *steps + 1, *steps + G_EVERY, max_gens, err);
        *steps += G_EVERY;
        differ += rill_store_checkpoint_wait(s, err) != RILL_OK; /* its generation committed */
        rill_table_get_stats(t, &st);
    } while (!differ && st.generations == 0);
    return differ;
}

/* LMDB opened directly on DIR/store.mdb, for planting what a crash or damage leaves. */
static int raw_txn(const char *dir, MDB_env **env, MDB_txn **txn)
{
    char path[400];
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    int rc = mdb_env_create(env);
    if (!rc)
        rc = mdb_env_set_maxdbs(*env, 64);
    if (!rc)
        rc = mdb_env_set_mapsize(*env, (size_t)1 << 30);
    if (!rc)
        rc = mdb_env_open(*env, path, MDB_NOSUBDIR, 0644);
    if (!rc)
        rc = mdb_txn_begin(*env, NULL, 0, txn);
    return rc;
}

static void test_generations(void)
{
    rill_err err;
    char dir[256];
    char name[48];
    snprintf(name, sizeof name, "gens-%d-%d-%s", g_sync, g_prefill,
             getenv("RILL_GENS_CHUNK") ? "chunked" : "whole");
    in_tmp(dir, sizeof dir, name);
    diag("generations of a %s table, checkpoints written %s", g_prefill ? "prefilled" : "growing",
         g_sync ? "on the caller's thread" : "in the background");
    rill_store *s;
    rill_table *t, *mem;
    int rc = g_open(&s, &t, dir, RILL_STORE_CREATE, &err);
    if (!rc && (rc = rill_table_create(&mem, "a", G_ROWS, 8, &ROWWISE, 11, 0.05, &err)))
        g_close(s, t);
    if (!ok(rc == RILL_OK, "a table of %d rows with a 1024-row cache, and its twin in RAM",
            G_ROWS)) {
        diag("%s", err.msg);
        return;
    }
    uint64_t max_gens = 0;
    size_t differ = g_steps(s, t, mem, 1, G_STEPS, &max_gens, &err);
    differ += rill_store_checkpoint_wait(s, &err) != RILL_OK;
    rill_table_stats st;
    rill_table_get_stats(t, &st);
    ok(differ == 0, "%d steps: every row looked up equals RAM's before its update (%zu differ)",
       G_STEPS, differ);
    /* 22 checkpoints: the rolling fold goes round in 16, then a generation holds nothing */
    ok(max_gens >= 2 && max_gens <= 17 && st.folded >= G_ROWS && st.spilled > 0,
       "checkpoints made generations (at most %llu at once, of 22) and folded them a slice at a "
       "time (%llu ids); rows spilled (%llu)", (unsigned long long)max_gens,
       (unsigned long long)st.folded, (unsigned long long)st.spilled);
    ok(g_compare(t, mem) == 0, "every row equals RAM's, cached or stored");
    if (!ok(rill_store_verify(s, &err) == RILL_OK, "verify passes"))
        diag("%s", err.msg);
    uint64_t dg = 0, dg2 = 1;
    rill_store_digest(s, &dg, &err);
    /* a checkpoint that folds everything */
    rill_store_fold_next(s);
    differ += g_steps(s, t, mem, G_STEPS + 1, G_STEPS + G_EVERY, &max_gens, &err);
    differ += rill_store_checkpoint_wait(s, &err) != RILL_OK;
    rill_table_get_stats(t, &st);
    ok(differ == 0 && st.folds == 1 && st.generations == 0 && g_compare(t, mem) == 0,
       "a full fold (rill_store_fold_next): no generation left, every row equals RAM's (%llu "
       "folds, %llu generations)", (unsigned long long)st.folds,
       (unsigned long long)st.generations);
    /* steps ending on a generation, then steps that spill and are never checkpointed */
    uint64_t steps = G_STEPS + G_EVERY;
    differ += g_until_generation(s, t, mem, &steps, &max_gens, &err);
    rill_table_get_stats(t, &st);
    ok(st.generations > 0 && differ == 0, "after step %llu the last checkpoint is generation %llu",
       (unsigned long long)steps, (unsigned long long)st.generations);
    unsigned gens_kept = (unsigned)st.generations;
    rill_store_digest(s, &dg, &err);
    uint64_t ids[G_PER];
    for (uint64_t step = steps + 1; step <= steps + 2 && !rc; step++) {
        size_t n = step_ids(step, 9, G_PER, G_ROWS, 1, ids);
        rc = train_step(t, ids, n, step, NULL, &err) || rill_store_end_step(s, step, &err);
    }
    rill_store_digest(s, &dg2, &err);
    ok(rc == RILL_OK && dg2 == dg, "2 more steps without a checkpoint change nothing stored");
    g_close(s, t);

    rc = g_open(&s, &t, dir, RILL_STORE_READ, &err);
    if (!ok(rc == RILL_OK, "reopened read-only")) {
        diag("%s", err.msg);
        rill_table_free(mem);
        return;
    }
    rill_table_get_stats(t, &st);
    ok(st.generations == gens_kept, "it reads its %u generations back (%llu)", gens_kept,
       (unsigned long long)st.generations);
    ok(st.rows == (g_prefill ? (uint64_t)G_ROWS : rill_table_touched(mem)),
       "it counts %llu rows, base and generations (RAM: %llu)", (unsigned long long)st.rows,
       (unsigned long long)rill_table_touched(mem));
    ok(g_compare(t, mem) == 0, "reopened: every row is the last checkpoint's");
    rill_store_digest(s, &dg2, &err);
    ok(dg2 == dg, "reopened: the same digest");
    check_each(t, mem, "reopened");
    g_close(s, t);

    /* an orphan: a generation past the last committed one, as a kill mid-checkpoint leaves */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi g;
    rc = raw_txn(dir, &env, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "g:a", MDB_INTEGERKEY, &g);
    uint64_t key = (uint64_t)(gens_kept + 1) << 56 | 17; /* generation << 56 | id */
    char junk[64] = "not a row";
    MDB_val k = {sizeof key, &key}, v = {sizeof junk, junk};
    if (!rc)
        rc = mdb_put(txn, g, &k, &v, 0);
    rc = rc ? rc : mdb_txn_commit(txn);
    mdb_env_close(env);
    ok(rc == 0, "an orphan generation planted");
    rc = g_open(&s, &t, dir, RILL_STORE_WRITE, &err);
    if (!ok(rc == RILL_OK && rill_store_verify(s, &err) == RILL_OK && g_compare(t, mem) == 0,
            "reopened to write: the orphan is dropped, verify passes, the rows are the last "
            "checkpoint's"))
        diag("%s", err.msg);
    unsigned gens_now = 0;
    if (rc == RILL_OK) {
        differ = g_until_generation(s, t, mem, &steps, &max_gens, &err);
        rill_table_get_stats(t, &st);
        gens_now = (unsigned)st.generations;
        ok(differ == 0 && g_compare(t, mem) == 0,
           "training goes on from there as in RAM, to generation %u", gens_now);
        g_close(s, t);
    }

    /* damage: a generation's id list gone */
    MDB_dbi meta;
    char gk[64];
    snprintf(gk, sizeof gk, "gids:a:%u", gens_now);
    MDB_val mk = {strlen(gk), gk};
    rc = raw_txn(dir, &env, &txn);
    rc = rc ? rc : mdb_dbi_open(txn, "meta", 0, &meta);
    rc = rc ? rc : mdb_del(txn, meta, &mk, NULL);
    rc = rc ? rc : mdb_txn_commit(txn);
    mdb_env_close(env);
    ok(rc == 0 && gens_now > 0, "the id list of generation %u removed", gens_now);
    rc = g_open(&s, &t, dir, RILL_STORE_READ, &err);
    ok(rc == RILL_ESTORE && has(err.msg, "lacks the id list") && has(err.msg, "'a'"),
       "a missing id list is refused, naming the table: %s", err.msg);
    if (rc == RILL_OK)
        g_close(s, t);
    rill_table_free(mem);
}

int main(void)
{
    if (!make_tmpdir())
        return 1;
    setenv("RILL_CHECKPOINT_PAUSE", "0.1", 1);
    for (int prefill = 1; prefill >= 0; prefill--) {
        g_prefill = prefill;
        g_sync = true;
        test_generations();
        g_sync = false;
        test_generations();
    }
    /* the rolling fold's slice (1,024 ids) in transactions of 100 ids, as a large table's is */
    setenv("RILL_GENS_CHUNK", "100", 1);
    diag("the rolling fold 100 ids a transaction");
    g_prefill = false;
    g_sync = false;
    test_generations();
    g_sync = true;
    test_generations();
    unsetenv("RILL_GENS_CHUNK");
    rm_tree(tmpdir);
    return done_testing();
}
