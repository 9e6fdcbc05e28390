/* CEL's cluster optimisation on data with a planted answer: entities of two groups, one
 * clicking 95% of the time and one 5%. Splitting (GPCA) must separate the groups seen before
 * the split; reassignment must place the entities first seen after it, which join the larger
 * cluster (without reassignment about half of them stay in the wrong group's cluster).
 * Also: the checkpointed node state reads back (and so does the raw layout written before the
 * field-by-field one), a truncated or damaged one is refused naming the node, and two runs
 * with one seed agree. */
#include "blob.h"
#include "graphtest.h"
#include "pool.h"

#define BAIL_OUT(...) (printf("Bail out! "), printf(__VA_ARGS__), printf("\n"), exit(1))
#define NENT 200
#define EARLY 50 /* entities seen before the first split */
#define CEL_ARGS "dim=4,clusters=2,split_every=10,reassign_every=5,candidates=4," \
                 "optim={kind='adagrad',lr=0.2}"

/* node_embed_cel.c's saved state: its magic, the node's shape tags and, per table ti, the
 * tag of field f (these tests read the fields, and rewrite a state in the legacy layout) */
#define STATE_MAGIC 0x4c454352u
#define LEGACY_STATE_MAGIC 0x32454352u
#define TABLE_TAG(ti, f) (((uint32_t)(ti) + 1u) << 8 | (uint32_t)(f))
enum { F_USED = 1, F_MEMBERS, F_WID, F_WCLUSTER, F_WOCC, F_WGRAD, F_RID, F_RCUR, F_RNEX,
       F_RCAND, F_RLOSS, NFIELDS };

typedef struct {
    rill_schema sc;
    rill_graph *g;
    rill_node *cel;
    rill_table *assign;
} model;

static void make_schema(rill_schema *s)
{
    memset(s, 0, sizeof *s);
    s->name = strdup("planted");
    s->nlabels = 1;
    s->label_names = calloc(1, sizeof(char *));
    s->label_names[0] = strdup("click");
    s->ncat = 1;
    s->cat_names = calloc(1, sizeof(char *));
    s->cat_multi = calloc(1, sizeof(bool));
    s->cat_names[0] = strdup("user");
}

static int build(model *m, const char *cel_args, rill_err *err)
{
    memset(m, 0, sizeof *m);
    make_schema(&m->sc);
    if (rill_graph_create(&m->g, &m->sc, err))
        return -1;
    rill_node *ids = gt_add(m->g, "encode_hash", "ids", NULL, 0,
                            "fields={'user'},buckets=256,hash=false,missing='none'", err);
    m->cel = ids ? gt_add(m->g, "embed_cel", "emb", &ids, 1, cel_args, err) : NULL;
    rill_node *logit = m->cel ? gt_add(m->g, "tower", "top", &m->cel, 1, "sizes={}", err) : NULL;
    if (!logit || !gt_add(m->g, "loss_bce", "loss", &logit, 1, NULL, err) ||
        rill_graph_build(m->g, 11, err))
        return -1;
    for (int t = 0; t < m->g->ntables; t++)
        if (rill_table_optim(m->g->tables[t])->kind == RILL_OPT_NONE)
            m->assign = m->g->tables[t];
    return m->assign ? 0 : -1;
}

static void unbuild(model *m)
{
    rill_graph_free(m->g);
    rill_schema_free(&m->sc);
}

static int train(model *m, int steps, int B, uint64_t seed, rill_err *err)
{
    rill_batch b;
    rill_rng rng;
    rill_arena arena;
    rill_optim dense = {.kind = RILL_OPT_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999,
                        .eps = 1e-8};
    int rc = rill_batch_init(&b, &m->sc, B, err);
    if (rc)
        return rc;
    rill_rng_seed(&rng, seed);
    rill_arena_init(&arena, 0);
    for (int t = 1; t <= steps && !rc; t++) {
        rill_batch_clear(&b);
        for (int r = 0; r < B; r++) {
            uint64_t u = rill_rng_next(&rng) % (t <= 10 ? EARLY : NENT);
            double p = u % 2 ? 0.05 : 0.95;
            b.labels[r] = rill_rng_unit(&rng) < p ? 1.0f : 0.0f;
            rill_batch_reserve_cat(&b, 0, b.cat[0].off[r], 1);
            b.cat[0].val[b.cat[0].off[r]] = u;
            b.cat[0].off[r + 1] = b.cat[0].off[r] + 1;
            b.B = r + 1;
        }
        rill_arena_reset(&arena);
        rill_step s = {.batch = &b, .B = B, .training = true, .t = (uint64_t)t, .seed = seed,
                       .arena = &arena};
        (void)((rc = rill_graph_forward(m->g, &s, NULL, err)) ||
               (rc = rill_graph_backward(m->g, &s, err)) ||
               (rc = rill_graph_update(m->g, &dense, 1.0, 1.0, (uint64_t)t, err)) ||
               (rc = rill_graph_after_step(m->g, &s, err)));
    }
    rill_arena_free(&arena);
    rill_batch_free(&b);
    return rc;
}

static int cluster_of(model *m, uint64_t id)
{
    const float *row = rill_table_peek(m->assign, id);
    return row && row[0] >= 1.0f ? (int)row[0] - 1 : -1;
}

/* The share of entities in [from, to) whose cluster is where most early entities of their
 * group are. */
static double purity(model *m, int from, int to, int *nclusters)
{
    int votes[2][64] = {{0}};
    int seen = 0;
    *nclusters = 0;
    for (int u = 0; u < NENT; u++) { /* homes: where the groups' early entities went */
        int c = cluster_of(m, (uint64_t)u);
        if (c >= 0 && c < 64) {
            if (u < EARLY)
                votes[u % 2][c]++;
            if (c + 1 > *nclusters)
                *nclusters = c + 1;
        }
    }
    int home[2] = {0, 0};
    for (int grp = 0; grp < 2; grp++)
        for (int c = 1; c < 64; c++)
            if (votes[grp][c] > votes[grp][home[grp]])
                home[grp] = c;
    int right = 0;
    for (int u = from; u < to; u++) {
        right += cluster_of(m, (uint64_t)u) == home[u % 2];
        seen++;
    }
    return home[0] == home[1] ? 0.0 : (double)right / seen;
}

/* The state in the raw layout of store format 3 (tests/fixtures/format3/cel was written in
 * it): magic, tables, then per table used, wn, members, the window's arrays, rn and the
 * reassignment arrays, back to back. NULL when it cannot be made. */
static void *legacy_layout(const void *blob, size_t len, size_t *out_len)
{
    rill_blob_reader r;
    rill_err e = {0};
    const void *f[NFIELDS] = {0};
    size_t flen[NFIELDS] = {0};
    uint64_t used, wn = 0, rn = 0;
    if (rill_blob_open(&r, blob, len, STATE_MAGIC, 1, "state", &e) ||
        rill_blob_get_u64(&r, TABLE_TAG(0, F_USED), &used, 0, &e))
        return NULL;
    for (int k = F_MEMBERS; k < NFIELDS; k++)
        rill_blob_find(&r, TABLE_TAG(0, k), &f[k], &flen[k]);
    wn = flen[F_WID] / sizeof(uint64_t);
    rn = flen[F_RID] / sizeof(uint64_t);
    size_t n = 8 + 3 * sizeof(uint64_t);
    for (int k = F_MEMBERS; k < NFIELDS; k++)
        n += flen[k];
    unsigned char *out = malloc(n), *p = out;
    if (!out)
        return NULL;
    uint32_t head[2] = {LEGACY_STATE_MAGIC, 1};
#define PUT(src, size) ((size) ? (memcpy(p, (src), (size)), p += (size)) : p)
    PUT(head, sizeof head);
    PUT(&used, sizeof used);
    PUT(&wn, sizeof wn);
    for (int k = F_MEMBERS; k <= F_WGRAD; k++)
        PUT(f[k], flen[k]);
    PUT(&rn, sizeof rn);
    for (int k = F_RID; k < NFIELDS; k++)
        PUT(f[k], flen[k]);
#undef PUT
    *out_len = n;
    return out;
}

/* A state in the raw layout loads to the same state: saved again, it is the same bytes. */
static void check_legacy(model *m, const void *blob, size_t len)
{
    rill_err e = {0};
    size_t llen = 0, len2 = 0;
    void *legacy = legacy_layout(blob, len, &llen), *again = NULL;
    if (!legacy)
        BAIL_OUT("writing the legacy layout");
    ok(m->cel->ops->load(m->cel, legacy, llen, &e) == RILL_OK &&
           m->cel->ops->save(m->cel, &again, &len2, &e) == RILL_OK && len2 == len &&
           memcmp(blob, again, len) == 0,
       "a state in the legacy raw layout (%zu bytes) loads to the same state %s", llen, e.msg);
    rill_err e2 = {0};
    ok(m->cel->ops->load(m->cel, legacy, llen - 5, &e2) == RILL_ESTORE &&
           strstr(e2.msg, "node 'emb'") && strstr(e2.msg, "truncated"),
       "a truncated legacy state is refused, naming the node: %s", e2.msg);
    free(legacy);
    free(again);
}

/* Every cut of the state and a damaged field length are refused, naming the node. */
static void check_damage(model *m, void *blob, size_t len)
{
    rill_err e = {0};
    int refused = 0, cuts = 0;
    for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : 97, cuts++) {
        memset(&e, 0, sizeof e);
        refused += m->cel->ops->load(m->cel, blob, cut, &e) == RILL_ESTORE &&
                   strstr(e.msg, "node 'emb' (embed_cel)") != NULL;
    }
    ok(refused == cuts, "every truncation is refused, naming the node (%d of %d): %s", refused,
       cuts, e.msg);
    unsigned char *b = blob;
    uint64_t n;
    memcpy(&n, b + 16, sizeof n); /* the first field's length, after magic, version, its tag */
    uint64_t huge = (uint64_t)len; /* past the end of the blob */
    memcpy(b + 16, &huge, sizeof huge);
    memset(&e, 0, sizeof e);
    ok(m->cel->ops->load(m->cel, blob, len, &e) == RILL_ESTORE && strstr(e.msg, "node 'emb'") &&
           strstr(e.msg, "damaged"),
       "a damaged field length is refused: %s", e.msg);
    memcpy(b + 16, &n, sizeof n);
    b[0] ^= 0xff;
    memset(&e, 0, sizeof e);
    ok(m->cel->ops->load(m->cel, blob, len, &e) == RILL_ESTORE && strstr(e.msg, "node 'emb'"),
       "a foreign state is refused: %s", e.msg);
    b[0] ^= 0xff;
}

/* A state of another shape (other candidates) is refused as another graph's. */
static void check_misfit(model *m)
{
    model other;
    rill_err e = {0};
    void *blob = NULL;
    size_t len = 0;
    if (build(&other, "dim=4,clusters=2,split_every=10,reassign_every=5,candidates=3,"
                      "optim={kind='adagrad',lr=0.2}", &e) ||
        m->cel->ops->save(m->cel, &blob, &len, &e))
        BAIL_OUT("a graph of another shape: %s", e.msg);
    ok(other.cel->ops->load(other.cel, blob, len, &e) == RILL_ESTORE &&
           strstr(e.msg, "another graph") && strstr(e.msg, "node 'emb'") &&
           strstr(e.msg, "4 candidates"),
       "a state of another shape is refused: %s", e.msg);
    free(blob);
    unbuild(&other);
}

/* Splitting and reassignment on the planted groups; m stays trained for what follows. */
static void check_clustering(model *m)
{
    rill_err err = {0};
    int nc;
    if (build(m, CEL_ARGS, &err) || train(m, 300, 512, 5, &err))
        BAIL_OUT("training with CEL: %s", err.msg);
    double early = purity(m, 0, EARLY, &nc), late = purity(m, EARLY, NENT, &nc);
    ok(nc == 2, "the budget of two clusters is used (%d)", nc);
    ok(early >= 0.9, "the split separates the groups seen before it: %.2f of them in their "
                     "group's cluster", early);
    ok(late >= 0.85, "reassignment places the entities first seen after the split: %.2f", late);
}

/* m's checkpointed state reads back into a fresh graph, whole; the legacy layout too; damaged
 * and misfit states are refused. */
static void check_state(model *m)
{
    rill_err err = {0};
    void *blob = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    model m2;
    if (train(m, 3, 64, 6, &err)) /* three steps more: a window of gradients to carry */
        BAIL_OUT("training on: %s", err.msg);
    int saved = m->cel->ops->save(m->cel, &blob, &len, &err);
    ok(saved == RILL_OK && len > 1000, "state saved with its gradient window (%zu bytes)", len);
    if (build(&m2, CEL_ARGS, &err))
        BAIL_OUT("second graph: %s", err.msg);
    ok(m2.cel->ops->load(m2.cel, blob, len, &err) == RILL_OK &&
           m2.cel->ops->save(m2.cel, &again, &len2, &err) == RILL_OK && len2 == len &&
           memcmp(blob, again, len) == 0,
       "state loaded and saved again is the same bytes");
    free(again);
    check_legacy(&m2, blob, len);
    check_damage(&m2, blob, len);
    free(blob);
    unbuild(&m2);
    check_misfit(m);
}

/* A second run with the seed of m's first 300 steps assigns every entity alike. */
static void check_same_seed(model *m)
{
    rill_err err = {0};
    model m3;
    if (build(&m3, CEL_ARGS, &err) || train(&m3, 300, 512, 5, &err))
        BAIL_OUT("training again: %s", err.msg);
    int same = 0;
    for (int u = 0; u < NENT; u++)
        same += cluster_of(m, (uint64_t)u) == cluster_of(&m3, (uint64_t)u);
    ok(same == NENT, "a second run with the seed assigns every entity alike (%d of %d)", same,
       NENT);
    unbuild(&m3);
}

/* min_examples above what one probing window gives an entity (about 13 examples in 5 steps of
 * 512 over 200 entities): the sums carry over reassignments until an entity has enough, so
 * the late entities still find their group */
static void check_min_examples(void)
{
    rill_err err = {0};
    model m;
    int nc;
    if (build(&m, "dim=4,clusters=2,split_every=10,reassign_every=5,candidates=4,min_examples=30,"
                  "optim={kind='adagrad',lr=0.2}", &err) ||
        train(&m, 300, 512, 5, &err))
        BAIL_OUT("training with CEL, min_examples 30: %s", err.msg);
    double late = purity(&m, EARLY, NENT, &nc);
    ok(late >= 0.85, "with min_examples past one window's examples, reassignment still places the "
                     "late entities: %.2f", late);
    unbuild(&m);
}

/* Splits and reassignments on the same steps: the per-cluster member counts in the saved
 * state stay equal to what the assignment table says. */
static void check_member_counts(void)
{
    rill_err err = {0};
    model m;
    if (build(&m, "dim=4,clusters=6,split_every=10,reassign_every=5,candidates=4,min_examples=2,"
                  "optim={kind='adagrad',lr=0.2}", &err) ||
        train(&m, 120, 256, 9, &err))
        BAIL_OUT("training with splits and reassignment together: %s", err.msg);
    void *sblob = NULL;
    size_t slen = 0;
    int64_t counted[6] = {0}, saved_m[6] = {0};
    uint64_t used = 0;
    int negative = 0;
    for (int u = 0; u < NENT; u++) {
        int c = cluster_of(&m, (uint64_t)u);
        if (c >= 0 && c < 6)
            counted[c]++;
    }
    rill_blob_reader r;
    if (m.cel->ops->save(m.cel, &sblob, &slen, &err) ||
        rill_blob_open(&r, sblob, slen, STATE_MAGIC, 1, "state", &err) ||
        rill_blob_get_u64(&r, TABLE_TAG(0, F_USED), &used, 0, &err))
        BAIL_OUT("saving the node state: %s", err.msg);
    if (used > 6 || rill_blob_get_bytes(&r, TABLE_TAG(0, F_MEMBERS), saved_m,
                                        used * sizeof(int64_t), &err))
        BAIL_OUT("the state says %llu clusters of 6: %s", (unsigned long long)used, err.msg);
    int agree = 1;
    for (int c = 0; c < 6; c++) {
        agree &= saved_m[c] == counted[c];
        negative += saved_m[c] < 0;
    }
    ok(agree && !negative && used >= 4,
       "member counts agree with the assignments after splits and reassignments on the same "
       "steps (%llu clusters: %lld %lld %lld %lld %lld %lld)",
       (unsigned long long)used, (long long)counted[0], (long long)counted[1],
       (long long)counted[2], (long long)counted[3], (long long)counted[4], (long long)counted[5]);
    free(sblob);
    unbuild(&m);
}

/* Without reassignment the late entities stay where new entities start. */
static void check_no_reassignment(void)
{
    rill_err err = {0};
    model m;
    int nc;
    if (build(&m, "dim=4,clusters=2,split_every=10,reassign_every=0,"
                  "optim={kind='adagrad',lr=0.2}", &err) ||
        train(&m, 300, 512, 5, &err))
        BAIL_OUT("training without reassignment: %s", err.msg);
    double late = purity(&m, EARLY, NENT, &nc);
    int in[2] = {0, 0};
    for (int u = EARLY; u < NENT; u++)
        in[cluster_of(&m, (uint64_t)u) == 1]++;
    ok((in[0] == NENT - EARLY || in[1] == NENT - EARLY) && late >= 0.3 && late <= 0.7,
       "without reassignment the late entities stay in the cluster they joined, the larger "
       "(%d and %d of %d), where about half belong (%.2f)", in[0], in[1], NENT - EARLY, late);
    unbuild(&m);
}

/* Bad arguments name the node and the argument. */
static void check_bad_args(void)
{
    rill_err err = {0};
    model bad;
    memset(&bad, 0, sizeof bad);
    make_schema(&bad.sc);
    rill_graph_create(&bad.g, &bad.sc, &err);
    rill_node *ids = gt_add(bad.g, "encode_hash", "ids", NULL, 0, "fields={'user'},buckets=8", &err);
    rill_err e3 = {0};
    ok(!gt_add(bad.g, "embed_cel", "emb", &ids, 1, "dim=4", &e3) && strstr(e3.msg, "clusters") &&
           strstr(e3.msg, "emb") && strstr(e3.msg, "test.lua:1"),
       "a missing cluster budget: %s", e3.msg);
    ok(!gt_add(bad.g, "embed_cel", "emb2", &ids, 1, "dim=4,clusters=4,grad='median'", &e3) &&
           strstr(e3.msg, "grad"),
       "an unknown gradient mode: %s", e3.msg);
    rill_graph_free(bad.g);
    rill_schema_free(&bad.sc);
}

int main(void)
{
    rill_err err = {0};
    rill_pool_start(2, &err);
    model m;
    check_clustering(&m);
    check_state(&m);
    check_same_seed(&m);
    unbuild(&m);
    check_min_examples();
    check_member_counts();
    check_no_reassignment();
    check_bad_args();
    rill_pool_stop();
    return done_testing();
}
