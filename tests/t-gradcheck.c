/* Finite-difference gradient checks for every node kind with a backward: the node's output is
 * projected on a random vector r, central differences of sum(out * r) with respect to every
 * input value and every parameter are compared with what backward accumulates. float32 with
 * eps = 5e-4 (the actual step after rounding is used) and inputs of order 1: truncation and
 * rounding stay below 1e-3, so the tolerance is 1e-2 relative to max(1, |gradient|). A value
 * next to a ReLU kink (difference quotients at eps and eps/2 disagree) is skipped; at most a
 * tenth of the values (or one) may be skipped. */
#include "graphtest.h"
#include "kernels.h"
#include "pool.h"

#define EPS 5e-4
#define TOL 1e-2

typedef struct {
    const char *kind, *args;
    int nfeeds;
    int dims[3][2]; /* per feed: {F, D} or {D, 0} */
    const char *label;
} spec;

/* backward's gradients of the inputs (dfeed) and trainable parameters against finite
 * differences, a few ReLU kinks allowed. */
static void compare_grads(const spec *sp, gt_case *cp, const float *r, float **dfeed, int B)
{
    rill_graph *g = cp->g;
    rill_err err = {0};
    for (int i = 0; i < cp->nfeeds; i++) {
        size_t n = (size_t)B * cp->feeds[i]->cols;
        int skipped;
        double w = gt_fd_skip(cp, r, cp->feed_data[i], dfeed[i], n, EPS, &skipped, &err);
        ok(w < TOL && ((size_t)skipped * 10 <= n || skipped <= 1),
           "%s{%s}: d input %d matches finite differences (worst %.2e, %d kinks skipped)",
           sp->kind, sp->args ? sp->args : "", i + 1, w, skipped);
    }
    for (int p = 0; p < g->nparams; p++) {
        rill_param *pa = g->params[p];
        if (!pa->trainable)
            continue;
        float *an = malloc(pa->n * sizeof(float));
        memcpy(an, pa->grad, pa->n * sizeof(float));
        int skipped;
        double w = gt_fd_skip(cp, r, pa->data, an, pa->n, EPS, &skipped, &err);
        ok(w < TOL && ((size_t)skipped * 10 <= pa->n || skipped <= 1),
           "%s{%s}: d %s matches finite differences (worst %.2e, %d kinks skipped)",
           sp->kind, sp->args ? sp->args : "", pa->name, w, skipped);
        free(an);
    }
}

static void check_node(const spec *sp, rill_graph *g, const rill_batch *batch, int B,
                       rill_node **pre, int npre)
{
    rill_err err = {0};
    rill_rng rng;
    rill_rng_seed(&rng, 42);
    gt_case c = {.g = g, .batch = batch, .B = B};
    rill_arena_init(&c.arena, 0);
    rill_node *in[4];
    int nin = 0;
    for (int i = 0; i < sp->nfeeds; i++) {
        char a[64], name[16];
        if (sp->dims[i][1])
            snprintf(a, sizeof a, "dims={%d,%d}", sp->dims[i][0], sp->dims[i][1]);
        else
            snprintf(a, sizeof a, "dims={%d}", sp->dims[i][0]);
        snprintf(name, sizeof name, "x%d", i);
        c.feeds[i] = in[nin++] = gt_add(g, "feed", name, NULL, 0, a, &err);
    }
    c.nfeeds = sp->nfeeds;
    for (int i = 0; i < npre; i++)
        in[nin++] = pre[i];
    c.node = gt_add(g, sp->kind, "under_test", in, nin, sp->args, &err);
    if (!ok(c.node != NULL, "%s{%s}: made", sp->kind, sp->args ? sp->args : ""))
        diag("%s", err.msg);
    if (!c.node || rill_graph_build(g, 3, &err)) {
        rill_arena_free(&c.arena);
        return;
    }
    /* random parameters: a zero bias would put a ReLU kink exactly at the tested point for
     * examples whose hidden units are all off */
    for (int p = 0; p < g->nparams; p++)
        if (g->params[p]->trainable)
            gt_fill(g->params[p]->data, g->params[p]->n, &rng, 0.5);
    bool is_loss = c.node->out_kind == RILL_OUT_LOSS;
    float *dfeed[4];
    for (int i = 0; i < c.nfeeds; i++) {
        size_t n = (size_t)B * c.feeds[i]->cols;
        c.feed_data[i] = malloc(n * sizeof(float));
        gt_fill(c.feed_data[i], n, &rng, 1.0);
        dfeed[i] = malloc(n * sizeof(float));
    }
    float *r = NULL;
    if (!is_loss) {
        size_t n = (size_t)B * c.node->cols;
        r = malloc(n * sizeof(float));
        gt_fill(r, n, &rng, 1.0);
    }
    if (gt_backward(&c, r, dfeed, &err)) {
        ok(0, "%s: backward ran (%s)", sp->kind, err.msg);
    } else {
        compare_grads(sp, &c, r, dfeed, B);
    }
    for (int i = 0; i < c.nfeeds; i++) {
        free(c.feed_data[i]);
        free(dfeed[i]);
    }
    free(r);
    rill_arena_free(&c.arena);
}

/* stop_gradient has no gradient to check: its output is its input and nothing flows back */
static void stop_gradient_case(const rill_schema *sc)
{
    rill_graph *g;
    rill_err err = {0};
    rill_rng rng;
    rill_rng_seed(&rng, 7);
    rill_graph_create(&g, sc, &err);
    gt_case c = {.g = g, .B = 5};
    rill_arena_init(&c.arena, 0);
    c.feeds[0] = gt_add(g, "feed", "x", NULL, 0, "dims={2,3}", &err);
    c.nfeeds = 1;
    c.node = gt_add(g, "stop_gradient", "stop", c.feeds, 1, NULL, &err);
    if (!ok(c.node && !rill_graph_build(g, 1, &err), "stop_gradient: made (%s)", err.msg)) {
        rill_arena_free(&c.arena);
        rill_graph_free(g);
        return;
    }
    float x[30], r[30], dx[30];
    gt_fill(x, 30, &rng, 1.0);
    gt_fill(r, 30, &rng, 1.0);
    c.feed_data[0] = x;
    float *grads[1] = {dx};
    int rc = gt_backward(&c, r, grads, &err);
    bool same = rc == 0, zero = rc == 0;
    for (int i = 0; i < 30 && rc == 0; i++) {
        same &= c.node->out[i] == x[i];
        zero &= dx[i] == 0.0f;
    }
    ok(same && zero && c.node->dims[0] == 2 && c.node->dims[1] == 3,
       "stop_gradient: output = input (2 x 3), and no gradient reaches the input");
    rill_arena_free(&c.arena);
    rill_graph_free(g);
}

/* ---- the gradient-check table: every node kind with a backward has an entry here, which
 * every_kind_checked() makes sure of ---- */

/* dense kinds, on feed inputs */
static const spec dense_specs[] = {
    {"mlp", "sizes={5,3}", 1, {{4, 0}}, NULL},
    {"mlp", "sizes={5,3},last_activation=false", 2, {{4, 0}, {2, 3}}, NULL},
    {"mlp", "sizes={6,4},norm='layer'", 1, {{5, 0}}, NULL},
    {"mlp", "sizes={6,4},norm='batch'", 1, {{5, 0}}, NULL},
    {"mlp", "sizes={6,4},dropout=0.3", 1, {{5, 0}}, NULL},
    {"tower", "sizes={6}", 2, {{3, 0}, {2, 2}}, NULL},
    {"tower", "sizes={}", 1, {{4, 0}}, NULL},
    {"add", NULL, 3, {{4, 0}, {4, 0}, {4, 0}}, NULL},
    {"add", "scale=0.25", 2, {{2, 3}, {2, 3}}, NULL},
    {"relu", NULL, 1, {{3, 4}}, NULL},
    {"interact_concat", NULL, 2, {{3, 0}, {2, 3}}, NULL},
    {"interact_dot", NULL, 2, {{3, 0}, {4, 3}}, NULL},
    {"interact_dot", "passthrough=false", 2, {{3, 4}, {2, 4}}, NULL},
    /* the vector paths: width 16, fields past 16 and past 32 */
    {"interact_dot", NULL, 2, {{16, 0}, {19, 16}}, NULL},
    {"interact_dot", "passthrough=false", 1, {{40, 16}}, NULL},
    {"interact_fm", NULL, 1, {{4, 3}}, NULL},
    {"interact_fm", NULL, 2, {{3, 0}, {2, 3}}, NULL},
    {"interact_fm", "output='vector'", 1, {{4, 3}}, NULL},
    {"interact_fm", "output='vector'", 2, {{3, 0}, {2, 3}}, NULL},
    {"interact_cross", "layers=3", 1, {{5, 0}}, NULL},
    {"interact_cross", "layers=2,rank=2", 2, {{3, 0}, {2, 2}}, NULL},
    /* digits of the inputs: gradients reach the tables, none the (discrete) input */
    {"encode_mnse", "dim=2,bases={2,3},max_value=60,scale=20", 1, {{3, 0}}, NULL},
    /* a (B, 1 + L, D) input and its mask (values above 0.5 are real behaviours) */
    {"tim", NULL, 2, {{5, 3}, {4, 0}}, NULL},
    {"tim", "init=0.3", 2, {{3, 2}, {2, 0}}, NULL},
    {"tim", "with_target=true", 2, {{4, 3}, {3, 0}}, NULL},
    {"din", "sizes={6,4}", 2, {{5, 3}, {4, 0}}, NULL},
    {"din", "sizes={5},with_target=true", 2, {{4, 2}, {3, 0}}, NULL},
    /* the gate's input, then the experts */
    {"gate", NULL, 3, {{4, 0}, {3, 0}, {3, 0}}, NULL},
    {"gate", NULL, 3, {{2, 3}, {5, 0}, {5, 0}}, NULL},
    {"encode_mnse", "dim=3,transform='log',scale=10,max_value=100", 1, {{2, 0}}, NULL},
};

/* losses, on a feed of logits and the batch's labels (loss_case) */
static const char *const loss_args[] = {"sample_weight=false", "sample_weight=true,weight=0.7",
                                        "sample_weight=false,alpha=0.3",
                                        "sample_weight=true,alpha=0.6,weight=2"};

/* embedding kinds, on an encode_hash of the test schema's fields (embed_case) */
typedef struct {
    const char *kind, *hash_args, *embed_args;
} embed_spec;

static const embed_spec embed_specs[] = {
    {"embed", "fields={'user','tags','item'},buckets=7", "dim=3,optim={kind='sgd',lr=1}"},
    {"embed", "fields={'user','tags','item'},buckets=11,shared=true",
     "dim=4,pooling='mean',optim={kind='sgd',lr=1}"},
    {"embed", "fields={'tags'},buckets=5,missing='none'",
     "dim=2,pooling='mean',optim={kind='sgd',lr=1}"},
    {"embed_mlet", "fields={'user','tags','item'},buckets=7",
     "dim=3,inner=5,optim={kind='sgd',lr=1}"},
    {"embed_mlet", "fields={'user','tags','item'},buckets=11,shared=true",
     "dim=2,inner=6,pooling='mean',optim={kind='sgd',lr=1}"},
    {"embed_cel", "fields={'user','tags','item'},buckets=7",
     "dim=3,clusters=4,grad='sum',optim={kind='sgd',lr=1}"},
    {"embed_cel", "fields={'user','tags','item'},buckets=11,shared=true",
     "dim=2,clusters=3,grad='sum',pooling='mean',optim={kind='sgd',lr=1}"},
    /* tags hold 0 to 3 values: with length 2, rows are padded and cut */
    {"embed_seq", "fields={'item','tags'},buckets=11,shared=true,missing='none'",
     "dim=3,target='item',sequence='tags',length=2,optim={kind='sgd',lr=1}"},
};

/* kinds with a check of their own, below: loss_case, stop_gradient_case */
static const char *const other_checked[] = {"loss_bce", "stop_gradient"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool has_check(const char *kind)
{
    for (size_t i = 0; i < COUNT(dense_specs); i++)
        if (strcmp(dense_specs[i].kind, kind) == 0)
            return true;
    for (size_t i = 0; i < COUNT(embed_specs); i++)
        if (strcmp(embed_specs[i].kind, kind) == 0)
            return true;
    for (size_t i = 0; i < COUNT(other_checked); i++)
        if (strcmp(other_checked[i], kind) == 0)
            return true;
    return false;
}

/* Appends " name" to list (of cap bytes) when cond holds. */
static void list_if(bool cond, char *list, size_t cap, const char *name)
{
    size_t n = strlen(list);
    if (cond)
        snprintf(list + n, cap - n, " %s", name);
}

/* Fails, naming them, when a registered kind with a backward has no entry above, or an entry
 * names no registered kind (a renamed kind would otherwise go unchecked). */
static void every_kind_checked(void)
{
    char missing[512] = "", unknown[512] = "";
    int nback = 0;
    for (int i = 0; rill_node_kind_at(i); i++) {
        const rill_node_ops *k = rill_node_kind_at(i);
        nback += k->backward != NULL;
        list_if(k->backward && !has_check(k->name), missing, sizeof missing, k->name);
    }
    for (size_t i = 0; i < COUNT(dense_specs); i++)
        list_if(!rill_node_kind(dense_specs[i].kind), unknown, sizeof unknown, dense_specs[i].kind);
    for (size_t i = 0; i < COUNT(embed_specs); i++)
        list_if(!rill_node_kind(embed_specs[i].kind), unknown, sizeof unknown, embed_specs[i].kind);
    for (size_t i = 0; i < COUNT(other_checked); i++)
        list_if(!rill_node_kind(other_checked[i]), unknown, sizeof unknown, other_checked[i]);
    ok(!missing[0], "every one of the %d kinds with a backward has a gradient check%s%s", nback,
       missing[0] ? "; none for:" : "", missing);
    ok(!unknown[0], "every gradient-check entry names a registered kind%s%s",
       unknown[0] ? "; not registered:" : "", unknown);
}

static void dense_cases(const rill_schema *sc)
{
    for (size_t i = 0; i < COUNT(dense_specs); i++) {
        rill_graph *g;
        rill_err err;
        rill_graph_create(&g, sc, &err);
        check_node(&dense_specs[i], g, NULL, 7, NULL, 0);
        rill_graph_free(g);
    }
}

/* A small schema with a label, a weight, and single- and multi-valued fields. */
static void make_schema(rill_schema *s)
{
    memset(s, 0, sizeof *s);
    s->name = strdup("test");
    s->nlabels = 1;
    s->label_names = calloc(1, sizeof(char *));
    s->label_names[0] = strdup("click");
    s->has_weight = true;
    s->ncat = 3;
    s->cat_names = calloc(3, sizeof(char *));
    s->cat_multi = calloc(3, sizeof(bool));
    s->cat_names[0] = strdup("user");
    s->cat_names[1] = strdup("tags");
    s->cat_names[2] = strdup("item");
    s->cat_multi[1] = true;
}

static void make_batch(rill_batch *b, const rill_schema *s, int B, rill_rng *rng)
{
    rill_err err;
    rill_batch_init(b, s, B, &err);
    for (int r = 0; r < B; r++) {
        b->labels[r] = (float)(rill_rng_next(rng) & 1);
        b->weights[r] = r == B - 1 ? 0.0f : (float)(0.5 + rill_rng_unit(rng));
        for (int f = 0; f < 3; f++) {
            rill_catcol *c = &b->cat[f];
            int n = f == 1 ? (int)(rill_rng_next(rng) % 4) : 1; /* tags: 0..3 values */
            if (f == 0 && r == 2)
                n = 0; /* a missing user */
            rill_batch_reserve_cat(b, f, c->off[r], (size_t)n);
            for (int k = 0; k < n; k++)
                c->val[c->off[r] + k] = rill_rng_next(rng) % 5; /* repeats across rows */
            c->off[r + 1] = c->off[r] + (uint32_t)n;
        }
        b->B = r + 1;
    }
}

static void loss_case(const rill_schema *sc, const rill_batch *batch, int B)
{
    for (size_t i = 0; i < COUNT(loss_args); i++) {
        rill_graph *g;
        rill_err err;
        rill_graph_create(&g, sc, &err);
        spec sp = {"loss_bce", loss_args[i], 1, {{1, 0}}, NULL};
        check_node(&sp, g, batch, B, NULL, 0);
        rill_graph_free(g);
    }
}

typedef struct {
    uint64_t ids[256];
    int n;
} id_list;

static int collect(void *ud, uint64_t id, const float *row)
{
    id_list *l = ud;
    (void)row;
    if (l->n < 256)
        l->ids[l->n++] = id;
    return 0;
}

/* CEL: spread the entities over three clusters (an assignment is its cluster plus one), and
 * give the node the matching state: per table 3 clusters in use, no window, no reassignment
 * entries (in the raw layout of store format 3, which node_embed_cel.c still reads; its own
 * saves are field by field). */
static void cel_three_clusters(rill_graph *g, rill_node *node, const char *kind)
{
    rill_err err = {0};
    unsigned char blob[512], *p = blob;
    uint32_t head[2] = {0x32454352u, 0};
    for (int t = 0; t < g->ntables; t++)
        head[1] += rill_table_optim(g->tables[t])->kind == RILL_OPT_NONE;
    memcpy(p, head, sizeof head);
    p += sizeof head;
    for (uint32_t t = 0; t < head[1]; t++) {
        uint64_t used = 3, wn = 0, rn = 0;
        int64_t members[3] = {3, 3, 3};
        memcpy(p, &used, 8);
        memcpy(p + 8, &wn, 8);
        memcpy(p + 16, members, sizeof members);
        memcpy(p + 16 + sizeof members, &rn, 8);
        p += 24 + sizeof members;
    }
    ok(node->ops->load(node, blob, (size_t)(p - blob), &err) == RILL_OK,
       "%s: three clusters set up", kind);
    for (int t = 0; t < g->ntables; t++)
        if (rill_table_optim(g->tables[t])->kind == RILL_OPT_NONE)
            for (int64_t id = 0; id < rill_table_rows(g->tables[t]); id++) {
                float v = (float)(id % 3 + 1);
                rill_table_write_row(g->tables[t], (uint64_t)id, &v, 1, &err);
            }
}

/* The trained tables' staged row gradients, read back through an SGD step with lr 1 (new =
 * old - g, the rows then restored), against finite differences of the objective c, r on the
 * rows: the worst relative error, and *rows checked. */
static double table_rows_check(gt_case *c, const float *r, int *rows)
{
    rill_err err = {0};
    rill_graph *g = c->g;
    double worst = 0;
    for (int t = 0; t < g->ntables; t++) {
        rill_table *tab = g->tables[t];
        int D = rill_table_dim(tab);
        if (rill_table_optim(tab)->kind == RILL_OPT_NONE)
            continue; /* CEL's assignment: integers, not trained */
        id_list l = {.n = 0};
        rill_table_each(tab, collect, &l, NULL);
        float *old = malloc((size_t)l.n * D * sizeof(float)), *an = malloc((size_t)l.n * D * sizeof(float));
        for (int i = 0; i < l.n; i++)
            memcpy(old + (size_t)i * D, rill_table_peek(tab, l.ids[i]), (size_t)D * sizeof(float));
        rill_table_apply(tab, 1.0, 1.0, 1);
        for (int i = 0; i < l.n; i++) {
            float *row = (float *)rill_table_peek(tab, l.ids[i]);
            for (int d = 0; d < D; d++) {
                an[(size_t)i * D + d] = old[(size_t)i * D + d] - row[d];
                row[d] = old[(size_t)i * D + d];
            }
        }
        for (int i = 0; i < l.n; i++) {
            double w = gt_fd(c, r, (float *)rill_table_peek(tab, l.ids[i]), an + (size_t)i * D,
                             (size_t)D, EPS, &err);
            worst = w > worst ? w : worst;
            (*rows)++;
        }
        free(old);
        free(an);
    }
    return worst;
}

/* embed: the staged row gradients are read back through an SGD step with lr 1
 * (new = old - g), then compared with finite differences on the rows. */
static void embed_case(const rill_schema *sc, const rill_batch *batch, int B, const char *kind,
                       const char *hash_args, const char *embed_args)
{
    rill_err err = {0};
    rill_graph *g;
    rill_rng rng;
    rill_rng_seed(&rng, 9);
    rill_graph_create(&g, sc, &err);
    gt_case c = {.g = g, .batch = batch, .B = B};
    rill_arena_init(&c.arena, 0);
    rill_node *ids = gt_add(g, "encode_hash", "ids", NULL, 0, hash_args, &err);
    c.node = ids ? gt_add(g, kind, "emb", &ids, 1, embed_args, &err) : NULL;
    if (!ok(c.node && !rill_graph_build(g, 5, &err), "%s{%s} on encode_hash{%s}: built", kind,
            embed_args, hash_args)) {
        diag("%s", err.msg);
        goto out;
    }
    if (c.node->ops->load)
        cel_three_clusters(g, c.node, kind);
    size_t n = (size_t)B * c.node->cols;
    float *r = malloc(n * sizeof(float));
    gt_fill(r, n, &rng, 1.0);
    if (gt_backward(&c, r, NULL, &err)) {
        ok(0, "embed backward: %s", err.msg);
        free(r);
        goto out;
    }
    int rows = 0;
    double worst = table_rows_check(&c, r, &rows);
    ok(rows > 0 && worst < TOL, "%s{%s}: d rows (%d rows) match finite differences (worst %.2e)",
       kind, embed_args, rows, worst);
    for (int p = 0; p < g->nparams; p++) { /* dense parameters (MLET's W2) */
        rill_param *pa = g->params[p];
        float *an = malloc(pa->n * sizeof(float));
        memcpy(an, pa->grad, pa->n * sizeof(float));
        double w = gt_fd(&c, r, pa->data, an, pa->n, EPS, &err);
        ok(w < TOL, "%s{%s}: d %s matches finite differences (worst %.2e)", kind, embed_args,
           pa->name, w);
        free(an);
    }
    free(r);
out:
    rill_graph_free(g);
    rill_arena_free(&c.arena);
}

/* interact_fm's vector output sums to its scalar output (the FM term) */
static void fm_vector_check(const rill_schema *sc)
{
    rill_graph *g;
    rill_err err = {0};
    rill_rng rng;
    rill_rng_seed(&rng, 11);
    rill_graph_create(&g, sc, &err);
    gt_case c = {.g = g, .B = 5, .nfeeds = 1};
    rill_arena_init(&c.arena, 0);
    c.feeds[0] = gt_add(g, "feed", "x", NULL, 0, "dims={4,3}", &err);
    rill_node *sum = gt_add(g, "interact_fm", "sum", c.feeds, 1, NULL, &err);
    c.node = gt_add(g, "interact_fm", "vec", c.feeds, 1, "output='vector'", &err);
    float x[5 * 12], ones[5 * 3];
    gt_fill(x, 60, &rng, 1.0);
    for (int i = 0; i < 15; i++)
        ones[i] = 1.0f;
    c.feed_data[0] = x;
    double worst = 1;
    if (sum && c.node && !rill_graph_build(g, 1, &err) && !isnan(gt_objective(&c, ones, &err))) {
        worst = 0;
        for (int b = 0; b < 5; b++) {
            double v = 0;
            for (int d = 0; d < 3; d++)
                v += (double)c.node->out[b * 3 + d];
            worst = fmax(worst, fabs(v - (double)sum->out[b]));
        }
    }
    ok(worst < 1e-5, "interact_fm output='vector' sums to the FM term (worst %.2e)", worst);
    rill_graph_free(g);
    rill_arena_free(&c.arena);
}

/* the vector forward of the dot pairs against the plain definition */
static void dot_forward_plain_check(int F, int D)
{
    int B = 5, P = F * (F - 1) / 2;
    rill_rng rng;
    rill_rng_seed(&rng, (uint64_t)(F * 100 + D));
    float *Z = malloc(sizeof(float) * (size_t)(B * F * D)), *out = malloc(sizeof(float) * (size_t)(B * P));
    gt_fill(Z, (size_t)(B * F * D), &rng, 1.0);
    dot_pairs_forward(out, P, Z, B, F, D);
    double worst = 0;
    for (int b = 0; b < B; b++) {
        int c = 0;
        for (int i = 1; i < F; i++)
            for (int k = 0; k < i; k++, c++) {
                double s = 0;
                for (int d = 0; d < D; d++)
                    s += (double)Z[(b * F + i) * D + d] * (double)Z[(b * F + k) * D + d];
                worst = fmax(worst, fabs(s - (double)out[b * P + c]));
            }
    }
    ok(worst < 1e-4, "dot pairs forward F=%d D=%d equals the definition (worst %.2e)", F, D, worst);
    free(Z);
    free(out);
}

int main(void)
{
    rill_err err;
    rill_pool_start(2, &err);
    rill_schema criteo;
    rill_schema_criteo(&criteo, &err);
    every_kind_checked();
    dense_cases(&criteo);
    dot_forward_plain_check(40, 16);
    dot_forward_plain_check(27, 48);
    dot_forward_plain_check(7, 5);

    stop_gradient_case(&criteo);
    fm_vector_check(&criteo);
    rill_schema sc;
    make_schema(&sc);
    rill_batch batch;
    rill_rng rng;
    rill_rng_seed(&rng, 1);
    make_batch(&batch, &sc, 9, &rng);
    loss_case(&sc, &batch, 9);
    for (size_t i = 0; i < COUNT(embed_specs); i++)
        embed_case(&sc, &batch, 9, embed_specs[i].kind, embed_specs[i].hash_args,
                   embed_specs[i].embed_args);
    rill_batch_free(&batch);
    rill_schema_free(&sc);
    rill_schema_free(&criteo);
    rill_pool_stop();
    return done_testing();
}
