/* A small model for the store and export targets, made with the C API: ids of C1 and C2
 * hashed into 100 buckets, a 3-wide embedding (table "emb"), counts I1 and I2, a tower with a
 * 4-unit hidden layer and batch norm, a loss: one table and a few dense parameters, the
 * shapes of every real run. */
#ifndef RILL_FUZZ_GRAPH_H
#define RILL_FUZZ_GRAPH_H

#include "graph.h"
#include "store.h"
#include "graph_io.h"
#include "checkpoint.h"

#include "fuzz_common.h"

static inline rill_value fz_strs(const char *a, const char *b)
{
    rill_value l = {.type = RILL_V_LIST};
    if (rill_list_push(&l, rill_value_str(a)) || rill_list_push(&l, rill_value_str(b)))
        abort();
    return l;
}

static inline rill_node *fz_add(rill_graph *g, const char *kind, const char *name,
                                rill_node **in, int nin, rill_value *args)
{
    rill_err err = {0};
    rill_node *n;
    if (rill_graph_add(g, kind, name, "fuzz", in, nin, args, &n, &err)) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    return n;
}

/* The graph over schema (which must outlive it), not built yet. */
static inline rill_graph *fz_small_graph_unbuilt(const rill_schema *sc)
{
    rill_err err = {0};
    rill_graph *g;
    if (rill_graph_create(&g, sc, &err))
        abort();
    rill_value *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c),
               *d = malloc(sizeof *d);
    *a = rill_value_map();
    *b = rill_value_map();
    *c = rill_value_map();
    *d = rill_value_map();
    rill_value sizes = {.type = RILL_V_LIST};
    if (!a || !b || !c || !d || rill_map_set(a, "fields", fz_strs("C1", "C2")) ||
        rill_map_set(a, "buckets", rill_value_num(100)) ||
        rill_map_set(b, "dim", rill_value_num(3)) ||
        rill_map_set(c, "fields", fz_strs("I1", "I2")) ||
        rill_list_push(&sizes, rill_value_num(4)) || rill_map_set(d, "sizes", sizes) ||
        rill_map_set(d, "norm", rill_value_str("batch")))
        abort();
    rill_node *ids = fz_add(g, "encode_hash", "ids", NULL, 0, a);
    rill_node *emb = fz_add(g, "embed", "emb", &ids, 1, b);
    rill_node *in[2] = {emb, fz_add(g, "encode_log", "counts", NULL, 0, c)};
    rill_node *top = fz_add(g, "tower", "top", in, 2, d);
    fz_add(g, "loss_bce", "click", &top, 1, NULL);
    return g;
}

/* The graph built on store (taken over) or in RAM. */
static inline rill_graph *fz_small_graph(const rill_schema *sc, rill_store *store)
{
    rill_err err = {0};
    rill_graph *g = fz_small_graph_unbuilt(sc);
    int rc = store ? rill_graph_build_on(g, 1, store, &err) : rill_graph_build(g, 1, &err);
    if (rc) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    return g;
}

/* The same built on an existing store that may refuse it (a table of another shape): NULL
 * then, the store closed (rill_graph_build_on takes it over also on failure). */
static inline rill_graph *fz_small_graph_on(const rill_schema *sc, rill_store *store)
{
    rill_err err = {0};
    rill_graph *g = fz_small_graph_unbuilt(sc);
    if (rill_graph_build_on(g, 1, store, &err)) {
        if (!err.msg[0])
            fz_broken("building on a store failed (%d) without a message", err.code);
        rill_graph_free(g);
        return NULL;
    }
    return g;
}

/* DIR/store.mdb: a real store of the small graph after one checkpoint, rows 0..9 of its
 * table written, compacted (LMDB's copy) to a few pages. */
static inline void fz_make_store(const char *dir)
{
    char work[400];
    snprintf(work, sizeof work, "%s.work", dir);
    rill_schema sc;
    rill_err err = {0};
    rill_store *s;
    rill_store_cfg cfg = {.mode = RILL_STORE_CREATE, .map_bytes = 1 << 24};
    if (rill_schema_criteo(&sc, &err) || rill_store_open(&s, work, &cfg, &err)) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    rill_graph *g = fz_small_graph(&sc, s);
    rill_table *t = g->tables[0];
    for (uint64_t id = 0; id < 10; id++) {
        float v[3] = {(float)id, -0.5f, 0.25f};
        if (rill_table_write_row(t, id, v, 3, &err))
            abort();
    }
    if (rill_store_set_meta(g->store, "pipeline", "return 1", 8, &err) ||
        rill_checkpoint_write(g->store, g, "state", 5, &err) ||
        rill_store_copy(g->store, dir, &err)) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    rill_graph_free(g);
    rill_schema_free(&sc);
    char p[500];
    const char *junk[] = {"store.mdb", "store.mdb-lock", "lock"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", work, junk[i]);
        unlink(p);
    }
    rmdir(work);
}

static inline int fz_count_entry(void *ud, const rill_store_entry *e)
{
    (void)e;
    ++*(int *)ud;
    return RILL_OK;
}

/* Opens DIR's store to read and runs every whole-store read a command makes (verify, digest,
 * list, meta); NULL when the open was refused (with a message, or the engine is broken). */
static inline rill_store *fz_open_and_read(const char *dir)
{
    rill_store *s;
    rill_err err = {0};
    rill_store_cfg cfg = {.mode = RILL_STORE_READ};
    if (rill_store_open(&s, dir, &cfg, &err)) {
        if (!err.msg[0])
            fz_broken("open failed (%d) without a message", err.code);
        return NULL;
    }
    (void)rill_store_has_checkpoint(s);
    (void)rill_store_verify(s, &err);
    uint64_t digest;
    (void)rill_store_digest(s, &digest, &err);
    int n = 0;
    (void)rill_store_list(s, fz_count_entry, &n, &err);
    void *val = NULL;
    size_t len = 0;
    if (rill_store_get_meta(s, "pipeline", &val, &len, &err) == RILL_OK)
        free(val);
    return s;
}

#endif
