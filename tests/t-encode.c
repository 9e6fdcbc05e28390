/* The encode nodes through a graph on hand-made batches: encode_hash (the same value gives
 * the same row, run after run; equal values of different fields part in a shared table;
 * one bucket count per field; a missing value gets its own row or none; multi-valued
 * fields keep every value in order), encode_log (log1p; negatives zero or signed; missing
 * 0) and encode_bucket (the rule in core/nodes/node_encode_bucket.c: missing, negative, small
 * counts, log-squared buckets, the cap), and the arguments each refuses. */
#include "graphtest.h"
#include "pool.h"

#define NROWS 8
#define MISSING (-1)

/* user and item single-valued, tags multi-valued; three counts */
static void make_schema(rill_schema *s)
{
    memset(s, 0, sizeof *s);
    s->name = strdup("enc");
    s->nlabels = 1;
    s->label_names = calloc(1, sizeof(char *));
    s->label_names[0] = strdup("click");
    s->nnum = 3;
    s->num_names = calloc(3, sizeof(char *));
    s->num_names[0] = strdup("n1");
    s->num_names[1] = strdup("n2");
    s->num_names[2] = strdup("n3");
    s->ncat = 3;
    s->cat_names = calloc(3, sizeof(char *));
    s->cat_multi = calloc(3, sizeof(bool));
    s->cat_names[0] = strdup("user");
    s->cat_names[1] = strdup("tags");
    s->cat_names[2] = strdup("item");
    s->cat_multi[1] = true;
}

/* Appends a row: user and item are one value or MISSING, tags ntags values. */
static void add_row(rill_batch *b, long user, int ntags, const uint64_t *tags, long item,
                    const float num[3])
{
    int r = b->B;
    long single[3] = {user, 0, item};
    b->labels[r] = (float)(r & 1);
    for (int f = 0; f < 3; f++) {
        rill_catcol *c = &b->cat[f];
        int n = f == 1 ? ntags : single[f] == MISSING ? 0 : 1;
        rill_batch_reserve_cat(b, f, c->off[r], (size_t)n);
        for (int k = 0; k < n; k++)
            c->val[c->off[r] + k] = f == 1 ? tags[k] : (uint64_t)single[f];
        c->off[r + 1] = c->off[r] + (uint32_t)n;
    }
    for (int j = 0; j < 3; j++)
        b->num[(size_t)r * 3 + j] = num[j];
    b->B = r + 1;
}

/* The rows the hash tests use; see the comments at each check. */
static void make_hash_batch(rill_batch *b, const rill_schema *s)
{
    rill_err err;
    static const float z[3] = {0, 0, 0};
    static const uint64_t t3[] = {3}, t357[] = {3, 5, 7}, t5[] = {5}, t73[] = {7, 3};
    rill_batch_init(b, s, NROWS, &err);
    add_row(b, 11, 0, NULL, 11, z);         /* 0: no tags; user and item both 11 */
    add_row(b, 12, 1, t3, 12, z);           /* 1 */
    add_row(b, MISSING, 3, t357, 13, z);    /* 2: no user; three tags */
    add_row(b, 11, 1, t5, MISSING, z);      /* 3: user 11 again; no item */
    add_row(b, 14, 2, t73, 11, z);          /* 4: tags 7, 3 */
    add_row(b, 15, 0, NULL, 15, z);         /* 5: no tags */
    add_row(b, MISSING, 1, t3, MISSING, z); /* 6 */
    add_row(b, 17, 1, t5, 17, z);           /* 7 */
}

typedef struct {
    rill_graph *g;
    rill_node *n;
    rill_arena arena;
    rill_err err;
} one_node;

/* A graph holding one node of `kind`; NULL node (and err set) when the add fails. */
static void make_node(one_node *o, const rill_schema *s, const char *kind, const char *args)
{
    memset(o, 0, sizeof *o);
    rill_graph_create(&o->g, s, &o->err);
    rill_arena_init(&o->arena, 0);
    o->n = gt_add(o->g, kind, "enc", NULL, 0, args, &o->err);
    if (o->n && rill_graph_build(o->g, 1, &o->err))
        o->n = NULL;
}

static int run(one_node *o, const rill_batch *b)
{
    rill_arena_reset(&o->arena);
    rill_step st = {
        .batch = b, .B = b->B, .training = false, .t = 1, .seed = 1, .arena = &o->arena};
    return rill_graph_forward(o->g, &st, NULL, &o->err);
}

static void drop(one_node *o)
{
    rill_graph_free(o->g);
    rill_arena_free(&o->arena);
}

/* ids of example r, field f */
static int ids_at(const rill_node *n, int r, int f, const uint64_t **ids)
{
    int F = n->layout.F;
    uint32_t a = n->ids.off[(size_t)r * F + f], e = n->ids.off[(size_t)r * F + f + 1];
    *ids = n->ids.id + a;
    return (int)(e - a);
}

static uint64_t id1(const rill_node *n, int r, int f)
{
    const uint64_t *ids;
    return ids_at(n, r, f, &ids) >= 1 ? ids[0] : UINT64_MAX;
}

/* the add fails and the message names the node and holds every needle */
static void refused(const rill_schema *s, const char *kind, const char *args, const char *n1,
                    const char *n2)
{
    one_node o;
    make_node(&o, s, kind, args);
    bool pass = !o.n && strstr(o.err.msg, "node 'enc'") && strstr(o.err.msg, n1) &&
                (!n2 || strstr(o.err.msg, n2));
    if (!ok(pass, "%s{%s} is refused, naming the node, '%s'%s%s", kind, args, n1, n2 ? " and " : "",
            n2 ? n2 : ""))
        diag("message: %s", o.n ? "(none: the node was made)" : o.err.msg);
    drop(&o);
}

/* Long on purpose: one list of cases over encode_hash's arguments and outputs, each a few
 * lines that read top to bottom; split, they would pass the same graph and batch around. */
static void test_hash(const rill_schema *s)
{
    rill_batch b;
    make_hash_batch(&b, s);
    one_node o;
    make_node(&o, s, "encode_hash", "fields={'user','tags','item'},buckets=1048576");
    if (!ok(o.n && !run(&o, &b), "encode_hash over user, tags, item: made and run"))
        diag("%s", o.err.msg);
    if (!o.n)
        return;
    rill_node *n = o.n;
    const rill_ids_layout *l = &n->layout;
    ok(n->out_kind == RILL_OUT_IDS && l->F == 3 && l->ntables == 3 && l->field_table[0] == 0 &&
           l->field_table[1] == 1 && l->field_table[2] == 2,
       "layout: ids, 3 fields, one table per field");
    ok(l->table_rows[0] == 1048576 && l->table_rows[1] == 1048576 && l->table_rows[2] == 1048576,
       "layout: every table has the 2^20 buckets asked for");
    ok(!strcmp(l->field_names[0], "user") && !strcmp(l->field_names[1], "tags") &&
           !strcmp(l->field_names[2], "item"),
       "layout: field names in the order given");

    /* counts: one id per value, and one for a missing value (missing = 'own', the default) */
    static const int want_counts[NROWS][3] = {{1, 1, 1}, {1, 1, 1}, {1, 3, 1}, {1, 1, 1},
                                              {1, 2, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
    int bad = 0;
    bool below = true;
    const uint64_t *ids;
    for (int r = 0; r < NROWS; r++)
        for (int f = 0; f < 3; f++) {
            int c = ids_at(n, r, f, &ids);
            bad += c != want_counts[r][f];
            for (int k = 0; k < c; k++)
                below &= ids[k] < 1048576;
        }
    ok(bad == 0, "one id per value and one per missing value (%d cells wrong)", bad);
    ok(n->ids.off[0] == 0 && n->ids.off[NROWS * 3] == 3 * NROWS + 2 + 1,
       "offsets run from 0 to the total id count (%u)", n->ids.off[NROWS * 3]);
    ok(below, "every id is below the field's bucket count");

    /* the same value in the same field: the same row */
    ok(id1(n, 0, 0) == id1(n, 3, 0), "user 11 in rows 0 and 3: the same id");
    ok(id1(n, 0, 2) == id1(n, 4, 2), "item 11 in rows 0 and 4: the same id");
    ok(id1(n, 0, 0) != id1(n, 1, 0), "users 11 and 12: different ids");
    /* multi-valued: every value, in order, each with the id it has alone */
    uint64_t tag3 = id1(n, 1, 1), tag5 = id1(n, 3, 1);
    int c2 = ids_at(n, 2, 1, &ids);
    uint64_t tag7 = c2 == 3 ? ids[2] : 0;
    ok(c2 == 3 && ids[0] == tag3 && ids[1] == tag5 && tag7 != tag3 && tag7 != tag5,
       "tags {3, 5, 7}: three ids, 3 and 5 as they are alone");
    int c4 = ids_at(n, 4, 1, &ids);
    ok(c4 == 2 && ids[0] == tag7 && ids[1] == tag3,
       "tags {7, 3}: the ids of 7 and 3, in that order");
    ok(id1(n, 6, 1) == tag3 && id1(n, 7, 1) == tag5, "tags {3} and {5} again: the same ids");
    /* missing = 'own': one row per field for every missing value */
    uint64_t miss_user = id1(n, 2, 0), miss_tags = id1(n, 0, 1), miss_item = id1(n, 3, 2);
    ok(id1(n, 6, 0) == miss_user && id1(n, 5, 1) == miss_tags && id1(n, 6, 2) == miss_item,
       "a missing value: the same row of its field each time");
    ok(miss_user != id1(n, 0, 0) && miss_user != id1(n, 1, 0) && miss_tags != tag3 &&
           miss_tags != tag5 && miss_tags != tag7,
       "the missing row is not a present value's row");

    /* determinism: a second graph with the same arguments gives the same ids */
    one_node o2;
    make_node(&o2, s, "encode_hash", "fields={'user','tags','item'},buckets=1048576");
    bool same = o2.n && !run(&o2, &b) &&
                !memcmp(o2.n->ids.off, n->ids.off, (NROWS * 3 + 1) * sizeof(uint32_t)) &&
                !memcmp(o2.n->ids.id, n->ids.id, n->ids.off[NROWS * 3] * sizeof(uint64_t));
    ok(same, "a second graph with the same arguments: the same ids");
    drop(&o2);
    /* the seed salts the hash */
    make_node(&o2, s, "encode_hash", "fields={'user','tags','item'},buckets=1048576,seed=1");
    int equal = 0, total = 0;
    if (o2.n && !run(&o2, &b) && o2.n->ids.off[NROWS * 3] == n->ids.off[NROWS * 3])
        for (total = 0; total < (int)n->ids.off[NROWS * 3]; total++)
            equal += o2.n->ids.id[total] == n->ids.id[total];
    ok(total == 27 && equal == 0, "seed = 1: other ids (%d of %d equal)", equal, total);
    drop(&o2);

    /* missing = 'none': no id for a missing value; present values keep their ids */
    make_node(&o2, s, "encode_hash",
              "fields={'user','tags','item'},buckets=1048576,missing='none'");
    if (!ok(o2.n && !run(&o2, &b), "missing = 'none': made and run"))
        diag("%s", o2.err.msg);
    else {
        const uint64_t *x;
        int c_user2 = ids_at(o2.n, 2, 0, &x), c_tags0 = ids_at(o2.n, 0, 1, &x),
            c_item3 = ids_at(o2.n, 3, 2, &x), c_tags2 = ids_at(o2.n, 2, 1, &x);
        ok(c_user2 == 0 && c_tags0 == 0 && c_item3 == 0 && ids_at(o2.n, 5, 1, &x) == 0,
           "missing = 'none': a missing value has no id");
        c_tags2 = ids_at(o2.n, 2, 1, &x);
        ok(c_tags2 == 3 && x[0] == tag3 && x[1] == tag5 && x[2] == tag7,
           "missing = 'none': present values keep their ids");
        ok(o2.n->ids.off[NROWS * 3] == 3 * NROWS + 2 + 1 - 6,
           "missing = 'none': six ids fewer in all (%u)", o2.n->ids.off[NROWS * 3]);
    }
    drop(&o2);

    /* shared: one table, and equal values of different fields on different rows */
    make_node(&o2, s, "encode_hash", "fields={'user','item'},buckets=1048576,shared=true");
    if (!ok(o2.n && !run(&o2, &b), "shared = true: made and run"))
        diag("%s", o2.err.msg);
    else {
        const rill_ids_layout *sl = &o2.n->layout;
        ok(sl->ntables == 1 && sl->table_rows[0] == 1048576 && sl->field_table[0] == 0 &&
               sl->field_table[1] == 0,
           "shared: one table of 2^20 rows for both fields");
        int pairs = 0, apart = 0;
        for (int r = 0; r < NROWS; r++) {
            const uint64_t *u, *it;
            int cu = ids_at(o2.n, r, 0, &u), ci = ids_at(o2.n, r, 1, &it);
            bool same_value = cu == 1 && ci == 1 && b.cat[0].off[r + 1] > b.cat[0].off[r] &&
                              b.cat[2].off[r + 1] > b.cat[2].off[r] &&
                              b.cat[0].val[b.cat[0].off[r]] == b.cat[2].val[b.cat[2].off[r]];
            if (same_value) {
                pairs++;
                apart += u[0] != it[0];
            }
        }
        ok(pairs == 4 && apart == 4,
           "shared: user and item of equal value get different rows (%d of %d)", apart, pairs);
        ok(id1(o2.n, 2, 0) != id1(o2.n, 3, 1), "shared: the fields' missing rows differ");
    }
    drop(&o2);
    drop(&o);
    rill_batch_free(&b);
}

/* One bucket count per field: each field's ids are reduced by its own count. */
static void test_hash_buckets(const rill_schema *s)
{
    rill_batch b;
    rill_err err;
    static const float z[3] = {0, 0, 0};
    rill_batch_init(&b, s, 400, &err);
    for (int r = 0; r < 400; r++)
        add_row(&b, 1000 + r, 0, NULL, 5000 + 7 * r, z);
    one_node o;
    make_node(&o, s, "encode_hash", "fields={'user','item'},buckets={7,13}");
    if (!ok(o.n && !run(&o, &b), "buckets = {7, 13}: made and run"))
        diag("%s", o.err.msg);
    else {
        ok(o.n->layout.ntables == 2 && o.n->layout.table_rows[0] == 7 &&
               o.n->layout.table_rows[1] == 13,
           "buckets = {7, 13}: tables of 7 and 13 rows");
        bool seen[2][13] = {{false}};
        bool below = true;
        for (int r = 0; r < 400; r++)
            for (int f = 0; f < 2; f++) {
                uint64_t id = id1(o.n, r, f);
                uint64_t cap = f == 0 ? 7 : 13;
                below &= id < cap;
                if (id < cap)
                    seen[f][id] = true;
            }
        int used0 = 0, used1 = 0;
        for (int k = 0; k < 13; k++) {
            used0 += seen[0][k];
            used1 += seen[1][k];
        }
        ok(below, "buckets = {7, 13}: user ids below 7, item ids below 13");
        ok(used0 == 7 && used1 == 13,
           "400 values fill every bucket of each field (%d of 7, %d of 13)", used0, used1);
    }
    drop(&o);
    /* a single number is every field's count */
    make_node(&o, s, "encode_hash", "fields={'user','item'},buckets=5");
    ok(o.n && o.n->layout.table_rows[0] == 5 && o.n->layout.table_rows[1] == 5,
       "buckets = 5: both tables have 5 rows");
    drop(&o);
    /* the default */
    make_node(&o, s, "encode_hash", "fields={'user'}");
    ok(o.n && o.n->layout.table_rows[0] == 1048576, "buckets defaults to 2^20");
    drop(&o);
    rill_batch_free(&b);

    refused(s, "encode_hash", "fields={'user','item'},buckets={7,13,5}", "3 entries for 2 fields",
            NULL);
    refused(s, "encode_hash", "fields={'user','item'},buckets={7,13},shared=true", "shared", NULL);
    refused(s, "encode_hash", "fields={'user'},buckets=0", "'buckets'", "integer in [1, ");
    refused(s, "encode_hash", "fields={'user'},missing='maybe'", "'missing'", "\"none\"");
    refused(s, "encode_hash", "fields={'n1'}", "'n1'", "numeric");
    refused(s, "encode_hash", "fields={'user','user'}", "'user' is listed twice", NULL);
    refused(s, "encode_hash", "buckets=10", "'fields' is required", NULL);
    refused(s, "encode_hash", "fields={'user'},bukets=10", "unknown argument 'bukets'", "buckets");
}

static void test_log(const rill_schema *s)
{
    rill_batch b;
    rill_err err;
    const float rows[][3] = {
        {0.0f, 1.0f, NAN},
        {-5.0f, 1e6f, 2.5f},
        {NAN, -0.5f, 1e-3f},
        {7.0f, 3e9f, -1e9f},
    };
    int B = 4;
    rill_batch_init(&b, s, B, &err);
    for (int r = 0; r < B; r++)
        add_row(&b, 1, 0, NULL, 1, rows[r]);
    for (int sign = 0; sign < 2; sign++) {
        one_node o;
        make_node(&o, s, "encode_log",
                  sign ? "fields={'n3','n1','n2'},negative='sign'" : "fields={'n3','n1','n2'}");
        if (!ok(o.n && !run(&o, &b), "encode_log%s: made and run",
                sign ? " (negative = 'sign')" : ""))
            diag("%s", o.err.msg);
        if (!o.n) {
            drop(&o);
            continue;
        }
        ok(o.n->out_kind == RILL_OUT_DENSE && o.n->nd == 1 && o.n->dims[0] == 3,
           "encode_log: output (B, 3)");
        static const int col[3] = {2, 0, 1}; /* n3, n1, n2 */
        double worst = 0;
        int wrong_missing = 0, wrong_negative = 0;
        for (int r = 0; r < B; r++)
            for (int f = 0; f < 3; f++) {
                double x = rows[r][col[f]], got = o.n->out[r * 3 + f];
                double want = isnan(x) ? 0.0 : x >= 0 ? log1p(x) : sign ? -log1p(-x) : 0.0;
                if (isnan(x))
                    wrong_missing += got != 0.0;
                else if (x < 0)
                    wrong_negative += fabs(got - want) > 1e-6 * fmax(1.0, fabs(want));
                worst = fmax(worst, fabs(got - want) / fmax(1.0, fabs(want)));
            }
        ok(worst < 1e-6,
           "encode_log%s: log1p of each count, fields in the order given (worst rel err %.1e)",
           sign ? " sign" : "", worst);
        ok(wrong_missing == 0, "encode_log: a missing count is 0");
        ok(wrong_negative == 0, "encode_log: a negative count is %s", sign ? "-log1p(-x)" : "0");
        float neg = o.n->out[1 * 3 + 1]; /* -5 */
        if (sign)
            is_near(neg, -log1p(5.0), 1e-6, "encode_log sign: -5 gives -log(6)");
        else
            is_near(neg, 0.0, 0.0, "encode_log: -5 gives 0");
        drop(&o);
    }
    rill_batch_free(&b);
    refused(s, "encode_log", "fields={'n1'},negative='clip'", "'negative'", "\"sign\"");
    refused(s, "encode_log", "fields={'user'}", "'user'", "categorical");
    refused(s, "encode_log", "fields={}", "'fields' is required", NULL);
}

/* The documented rule, written out again: 0 missing, 1 negative, 2 + x for x in [0, 3),
 * 4 + floor(ln(x)^2) from 3 on, capped at buckets - 1. */
static uint64_t rule(double x, long buckets)
{
    if (isnan(x))
        return 0;
    if (x < 0)
        return 1;
    if (x < 3)
        return 2 + (uint64_t)floor(x);
    double l = log(x);
    double id = 4 + floor(l * l);
    return id > (double)(buckets - 1) ? (uint64_t)(buckets - 1) : (uint64_t)id;
}

/* Long on purpose, as test_hash: one list of cases over encode_bucket. */
static void test_bucket(const rill_schema *s)
{
    rill_batch b;
    rill_err err;
    /* n1 values; n2 gets a second set; n3 unused */
    const float v1[] = {NAN,  -1.0f, -0.5f, 0.0f,    0.5f, 1.0f,  2.0f,  2.99f,
                        3.0f, 10.0f, 20.0f, 1000.0f, 1e6f, 1e30f, -1e9f, 7.0f};
    const float v2[] = {1000.0f, 3.0f,  NAN,  10.0f, 0.0f, -2.0f, 1e12f, 2.0f,
                        54.0f,   55.0f, 1.0f, 4.0f,  5.0f, 6.0f,  8.0f,  9.0f};
    int B = (int)(sizeof v1 / sizeof v1[0]);
    rill_batch_init(&b, s, B, &err);
    for (int r = 0; r < B; r++) {
        float num[3] = {v1[r], v2[r], 0};
        add_row(&b, 1, 0, NULL, 1, num);
    }
    one_node o;
    make_node(&o, s, "encode_bucket", "fields={'n1','n2'}");
    if (!ok(o.n && !run(&o, &b), "encode_bucket (64 buckets): made and run"))
        diag("%s", o.err.msg);
    if (o.n) {
        const rill_ids_layout *l = &o.n->layout;
        ok(o.n->out_kind == RILL_OUT_IDS && l->F == 2 && l->ntables == 2 &&
               l->table_rows[0] == 64 && l->table_rows[1] == 64,
           "encode_bucket: ids of two fields, tables of 64 rows");
        int wrong = 0, offs = 0;
        for (int r = 0; r < B; r++)
            for (int f = 0; f < 2; f++) {
                const uint64_t *ids;
                int c = ids_at(o.n, r, f, &ids);
                offs += c != 1;
                uint64_t want = rule(f ? v2[r] : v1[r], 64);
                if (c == 1 && ids[0] != want) {
                    wrong++;
                    diag("%s = %g: got %llu, want %llu", f ? "n2" : "n1",
                         (double)(f ? v2[r] : v1[r]), (unsigned long long)ids[0],
                         (unsigned long long)want);
                }
            }
        ok(offs == 0, "encode_bucket: one id per field and example, missing included");
        ok(wrong == 0, "encode_bucket: every value in its documented bucket (%d wrong)", wrong);
        /* the examples the rule's comment gives, and the edges */
        ok(id1(o.n, 0, 0) == 0 && id1(o.n, 1, 0) == 1 && id1(o.n, 14, 0) == 1,
           "missing -> 0, negative -> 1");
        ok(id1(o.n, 3, 0) == 2 && id1(o.n, 5, 0) == 3 && id1(o.n, 6, 0) == 4 && id1(o.n, 7, 0) == 4,
           "0 -> 2, 1 -> 3, 2 -> 4, 2.99 -> 4");
        ok(id1(o.n, 8, 0) == 5 && id1(o.n, 9, 0) == 9 && id1(o.n, 11, 0) == 51,
           "3 -> 5, 10 -> 9, 1000 -> 51 (the comment's examples)");
        ok(id1(o.n, 8, 1) == 19 && id1(o.n, 9, 1) == 20,
           "54 -> 19 and 55 -> 20, either side of a bucket edge (ln(54.6)^2 = 16)");
        ok(id1(o.n, 13, 0) == 63 && id1(o.n, 6, 1) == 63, "1e30 and 1e12 are capped at 63");
    }
    drop(&o);

    /* a small table caps early */
    make_node(&o, s, "encode_bucket", "fields={'n1'},buckets=8");
    if (o.n && !run(&o, &b))
        ok(id1(o.n, 8, 0) == 5 && id1(o.n, 9, 0) == 7 && id1(o.n, 11, 0) == 7 &&
               id1(o.n, 4, 0) == 2,
           "buckets = 8: 3 -> 5, 10 and 1000 capped at 7, 0.5 -> 2");
    else
        ok(0, "buckets = 8: made and run (%s)", o.err.msg);
    drop(&o);

    /* shared: one table of buckets x fields rows, field f at offset f * buckets */
    make_node(&o, s, "encode_bucket", "fields={'n1','n2'},buckets=16,shared=true");
    if (o.n && !run(&o, &b)) {
        const rill_ids_layout *l = &o.n->layout;
        ok(l->ntables == 1 && l->table_rows[0] == 32 && l->field_table[1] == 0,
           "shared: one table of 32 rows");
        int wrong = 0;
        for (int r = 0; r < B; r++)
            wrong += id1(o.n, r, 0) != rule(v1[r], 16) || id1(o.n, r, 1) != 16 + rule(v2[r], 16);
        ok(wrong == 0, "shared: n1 in rows 0-15, n2 in rows 16-31 (%d wrong)", wrong);
    } else {
        ok(0, "shared: made and run (%s)", o.err.msg);
    }
    drop(&o);
    rill_batch_free(&b);

    refused(s, "encode_bucket", "fields={'n1'},buckets=7", "'buckets'", "out of range");
    refused(s, "encode_bucket", "fields={'tags'}", "'tags'", "categorical");
    refused(s, "encode_bucket", "fields={'n1'},shared=1", "'shared'", "true or false");
}

int main(void)
{
    rill_err err;
    rill_pool_start(2, &err);
    rill_schema s;
    make_schema(&s);
    test_hash(&s);
    test_hash_buckets(&s);
    test_log(&s);
    test_bucket(&s);
    rill_schema_free(&s);
    rill_pool_stop();
    return done_testing();
}
