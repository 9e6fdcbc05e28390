/* The engine against ../shared/testvectors: forward outputs and gradients computed
 * independently in float64 (linear, dot, fm, cross, bce, optimizers, MLET, MNSE, TIM). Compared with
 * |got - want| <= atol + rtol |want|, rtol 1e-4, atol 1e-5 (float32 against float64). */
#include "blas.h"
#include "graphtest.h"
#include "kernels.h"
#include "optim.h"
#include "pool.h"
#include "testvec.h"

#define RTOL 1e-4
#define ATOL 1e-5

static void check(const char *what, const tv_case *c, const float *got, const char *name)
{
    const tv_tensor *want = tv_get(c, name);
    if (!want) {
        ok(0, "%s %s: tensor %s missing in the vector file", what, c->name, name);
        return;
    }
    double w = tv_worst(got, want, ATOL, RTOL);
    ok(w <= 1.0, "%s %s: %s within tolerance (worst %.3g of allowed)", what, c->name, name, w);
}

static void run_linear(const tv_case *c)
{
    int B = tv_int(c, "B"), In = tv_int(c, "In"), Out = tv_int(c, "Out");
    bool relu = tv_int(c, "relu");
    float *x = tv_floats(c, "x"), *W = tv_floats(c, "W"), *b = tv_floats(c, "b"),
          *dout = tv_floats(c, "dout");
    float *out = calloc((size_t)B * Out, 4), *dx = calloc((size_t)B * In, 4),
          *dW = calloc((size_t)Out * In, 4), *db = calloc((size_t)Out, 4),
          *dpre = calloc((size_t)B * Out, 4);
    linear_forward(RILL_FP32, out, x, W, b, B, In, Out, relu, NULL, NULL);
    check("linear", c, out, "out");
    linear_backward(RILL_FP32, dx, dW, db, dout, dpre, out, x, W, B, In, Out, relu, false, NULL,
                    NULL);
    check("linear", c, dx, "dx");
    check("linear", c, dW, "dW");
    check("linear", c, db, "db");
    free(x), free(W), free(b), free(dout), free(out), free(dx), free(dW), free(db), free(dpre);
}

static void run_fm(const tv_case *c)
{
    int B = tv_int(c, "B"), F = tv_int(c, "F"), D = tv_int(c, "D");
    float *emb = tv_floats(c, "emb"), *dout = tv_floats(c, "dout");
    float *out = calloc((size_t)B, 4), *demb = calloc((size_t)B * F * D, 4);
    fm_forward(out, emb, B, F, D);
    check("fm", c, out, "out");
    fm_backward(demb, dout, emb, B, F, D);
    check("fm", c, demb, "demb");
    free(emb), free(dout), free(out), free(demb);
}

static void run_bce(const tv_case *c)
{
    int B = tv_int(c, "B");
    float *z = tv_floats(c, "z"), *y = tv_floats(c, "y"), *w = tv_floats(c, "w");
    float *dz = calloc((size_t)B, 4);
    float loss = (float)bce_forward_backward(dz, NULL, z, y, w, B, 1.0);
    check("bce", c, &loss, "loss");
    check("bce", c, dz, "dz");
    free(z), free(y), free(w), free(dz);
}

/* BCE plus the combined-pair ranking loss, alpha * bce + (1 - alpha) * pair */
static void run_rank(const tv_case *c)
{
    int B = tv_int(c, "B");
    double a = tv_num(c, "alpha");
    float *z = tv_floats(c, "z"), *y = tv_floats(c, "y");
    float *dz = calloc((size_t)B, 4);
    float bce = (float)bce_forward_backward(dz, NULL, z, y, NULL, B, a);
    void *work = malloc(pair_work_bytes(B));
    float pair = (float)pair_forward_backward(dz, z, y, B, 1.0 - a, work);
    free(work);
    float loss = (float)(a * (double)bce + (1.0 - a) * (double)pair);
    check("rank", c, &bce, "bce");
    check("rank", c, &pair, "pair");
    check("rank", c, &loss, "loss");
    check("rank", c, dz, "dz");
    free(z), free(y), free(dz);
}

/* dot and cross run through their nodes, with feed inputs */
static void run_dot(const tv_case *c)
{
    int B = tv_int(c, "B"), F = tv_int(c, "F"), D = tv_int(c, "D");
    rill_err err = {0};
    rill_schema sc;
    rill_schema_criteo(&sc, &err);
    gt_case t = {.B = B};
    rill_graph_create(&t.g, &sc, &err);
    rill_arena_init(&t.arena, 0);
    char a1[64], a2[64];
    snprintf(a1, sizeof a1, "dims={%d}", D);
    snprintf(a2, sizeof a2, "dims={%d,%d}", F, D);
    t.feeds[0] = gt_add(t.g, "feed", "dense", NULL, 0, a1, &err);
    t.feeds[1] = gt_add(t.g, "feed", "emb", NULL, 0, a2, &err);
    t.nfeeds = 2;
    t.node = gt_add(t.g, "interact_dot", "dot", t.feeds, 2, NULL, &err);
    ok(t.node != NULL, "dot %s: node made (%s)", c->name, err.msg);
    if (!t.node || rill_graph_build(t.g, 1, &err))
        goto out;
    t.feed_data[0] = tv_floats(c, "dense");
    t.feed_data[1] = tv_floats(c, "emb");
    float *dout = tv_floats(c, "dout");
    float *dd = calloc((size_t)B * D, 4), *de = calloc((size_t)B * F * D, 4), *grads[2] = {dd, de};
    if (gt_backward(&t, dout, grads, &err) == 0) {
        gt_objective(&t, dout, &err);
        check("dot", c, t.node->out, "out");
        check("dot", c, dd, "ddense");
        check("dot", c, de, "demb");
    } else {
        ok(0, "dot %s: %s", c->name, err.msg);
    }
    free(dout), free(dd), free(de), free(t.feed_data[0]), free(t.feed_data[1]);
out:
    rill_graph_free(t.g);
    rill_arena_free(&t.arena);
    rill_schema_free(&sc);
}

static rill_param *param_of(rill_graph *g, const char *name)
{
    for (int i = 0; i < g->nparams; i++)
        if (!strcmp(g->params[i]->name, name))
            return g->params[i];
    return NULL;
}

static void run_cross(const tv_case *c)
{
    int B = tv_int(c, "B"), n = tv_int(c, "n"), L = tv_int(c, "layers"), r = tv_int(c, "r");
    rill_err err = {0};
    rill_schema sc;
    rill_schema_criteo(&sc, &err);
    gt_case t = {.B = B};
    rill_graph_create(&t.g, &sc, &err);
    rill_arena_init(&t.arena, 0);
    char a[64];
    snprintf(a, sizeof a, "dims={%d}", n);
    t.feeds[0] = gt_add(t.g, "feed", "x0", NULL, 0, a, &err);
    t.nfeeds = 1;
    snprintf(a, sizeof a, "layers=%d,rank=%d", L, r);
    t.node = gt_add(t.g, "interact_cross", "cross", t.feeds, 1, a, &err);
    ok(t.node != NULL, "cross %s: node made (%s)", c->name, err.msg);
    if (!t.node || rill_graph_build(t.g, 1, &err))
        goto out;
    /* load the vectors' parameters into the node's */
    const char *names[] = {"W", "U", "V", "b"};
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 4; k++) {
            char pn[32], vn[16];
            snprintf(pn, sizeof pn, "cross.%s%d", names[k], l + 1);
            snprintf(vn, sizeof vn, "%s%d", names[k], l);
            rill_param *p = param_of(t.g, pn);
            const tv_tensor *v = tv_get(c, vn);
            if (!p || !v)
                continue;
            for (long i = 0; i < v->n; i++)
                p->data[i] = (float)v->v[i];
        }
    t.feed_data[0] = tv_floats(c, "x0");
    float *dout = tv_floats(c, "dout");
    float *dx0 = calloc((size_t)B * n, 4), *grads[1] = {dx0};
    if (gt_backward(&t, dout, grads, &err) == 0) {
        check("cross", c, dx0, "dx0");
        for (int l = 0; l < L; l++)
            for (int k = 0; k < 4; k++) {
                char pn[32], vn[16];
                snprintf(pn, sizeof pn, "cross.%s%d", names[k], l + 1);
                snprintf(vn, sizeof vn, "d%s%d", names[k], l);
                rill_param *p = param_of(t.g, pn);
                if (p && tv_get(c, vn))
                    check("cross", c, p->grad, vn);
            }
        gt_objective(&t, dout, &err);
        check("cross", c, t.node->out, "out");
    } else {
        ok(0, "cross %s: %s", c->name, err.msg);
    }
    free(dout), free(dx0), free(t.feed_data[0]);
out:
    rill_graph_free(t.g);
    rill_arena_free(&t.arena);
    rill_schema_free(&sc);
}

static void run_optim(const tv_case *c)
{
    const char *kind = tv_param(c, "kind");
    int R = tv_int(c, "R"), C = tv_int(c, "C"), steps = tv_int(c, "steps");
    rill_optim o = {.lr = tv_num(c, "lr"), .beta1 = tv_num(c, "beta1"), .beta2 = tv_num(c, "beta2"),
                    .eps = tv_num(c, "eps"), .weight_decay = tv_num(c, "weight_decay"),
                    .initial_acc = tv_num(c, "initial_accumulator")};
    bool sparse = false;
    if (!strcmp(kind, "sgd")) o.kind = RILL_OPT_SGD;
    else if (!strcmp(kind, "adam")) o.kind = RILL_OPT_ADAM;
    else if (!strcmp(kind, "adamw")) o.kind = RILL_OPT_ADAMW;
    else if (!strcmp(kind, "adagrad")) o.kind = RILL_OPT_ADAGRAD, sparse = true;
    else if (!strcmp(kind, "rowwise_adagrad")) o.kind = RILL_OPT_ROWWISE_ADAGRAD, sparse = true;
    else if (!strcmp(kind, "sparse_adam")) o.kind = RILL_OPT_LAZY_ADAM, sparse = true;
    else {
        ok(0, "optim %s: unknown kind %s", c->name, kind);
        return;
    }
    float *w = tv_floats(c, "w0");
    float *m = calloc((size_t)R * C, 4), *v = calloc((size_t)R * C, 4);
    int S = rill_optim_row_state(&o, C);
    float *rows = calloc((size_t)R * (C + S), 4);
    for (int i = 0; i < R; i++) {
        memcpy(rows + (size_t)i * (C + S), w + (size_t)i * C, (size_t)C * 4);
        for (int k = 0; k < S; k++)
            rows[(size_t)i * (C + S) + C + k] = (float)o.initial_acc;
    }
    for (int t = 1; t <= steps; t++) {
        char gn[16], wn[16], tn[24];
        snprintf(gn, sizeof gn, "g%d", t);
        snprintf(wn, sizeof wn, "w%d", t);
        snprintf(tn, sizeof tn, "touched%d", t);
        float *g = tv_floats(c, gn), *touched = tv_floats(c, tn);
        if (!sparse) {
            rill_optim_dense_step(&o, w, g, m, v, (size_t)R * C, o.lr, (uint64_t)t);
            check("optim", c, w, wn);
        } else {
            float *got = calloc((size_t)R * C, 4);
            for (int i = 0; i < R; i++) {
                float *row = rows + (size_t)i * (C + S);
                if (!touched || touched[i] != 0.0f)
                    rill_optim_row_step(&o, row, g + (size_t)i * C, C, o.lr, (uint64_t)t);
                memcpy(got + (size_t)i * C, row, (size_t)C * 4);
            }
            check("optim", c, got, wn);
            char an[16];
            snprintf(an, sizeof an, "acc%d", t);
            const tv_tensor *acc = tv_get(c, an);
            if (acc) {
                float *ga = calloc((size_t)acc->n, 4);
                for (long i = 0; i < acc->n; i++)
                    ga[i] = o.kind == RILL_OPT_ROWWISE_ADAGRAD
                                ? rows[(size_t)i * (C + S) + C]
                                : rows[(size_t)(i / C) * (C + S) + C + i % C];
                check("optim", c, ga, an);
                free(ga);
            }
            free(got);
        }
        free(g), free(touched);
    }
    free(w), free(m), free(v), free(rows);
}

/* MLET through its node: ids as C1 values (encode_hash with hash = false keeps them as row
 * numbers), W1 written into the table's rows, W2 into the node's parameter; dW1 read back
 * through an SGD step with lr 1 */
static void run_mlet(const tv_case *c)
{
    int B = tv_int(c, "B"), n = tv_int(c, "n"), k = tv_int(c, "k"), d = tv_int(c, "d");
    rill_err err = {0};
    rill_schema sc;
    rill_schema_criteo(&sc, &err);
    rill_batch batch;
    rill_batch_init(&batch, &sc, B, &err);
    const tv_tensor *ids = tv_get(c, "ids");
    for (int b = 0; b < B; b++) {
        for (int f = 0; f < sc.ncat; f++)
            batch.cat[f].off[b + 1] = batch.cat[f].off[b] + (f == 0);
        batch.cat[0].val[b] = (uint64_t)ids->v[b];
        batch.labels[b] = 0;
    }
    batch.B = B;
    rill_graph *g;
    rill_graph_create(&g, &sc, &err);
    gt_case t = {.g = g, .batch = &batch, .B = B};
    rill_arena_init(&t.arena, 0);
    char a[128];
    snprintf(a, sizeof a, "fields={'C1'},buckets=%d,hash=false,missing='none'", n);
    rill_node *idn = gt_add(g, "encode_hash", "ids", NULL, 0, a, &err);
    snprintf(a, sizeof a, "dim=%d,inner=%d,optim={kind='sgd',lr=1}", d, k);
    t.node = idn ? gt_add(g, "embed_mlet", "mlet", &idn, 1, a, &err) : NULL;
    if (!ok(t.node && !rill_graph_build(g, 1, &err), "mlet %s: built", c->name)) {
        diag("%s", err.msg);
        goto out;
    }
    rill_table *tab = g->tables[0];
    rill_param *W2 = param_of(g, "mlet.W2.C1");
    float *W1 = tv_floats(c, "W1"), *w2 = tv_floats(c, "W2"), *dout = tv_floats(c, "dout");
    for (uint64_t i = 0; i < (uint64_t)n; i++) {
        float *row;
        rill_table_lookup(tab, &i, 1, &row, &err);
        memcpy(row, W1 + i * k, (size_t)k * sizeof(float));
    }
    memcpy(W2->data, w2, (size_t)k * d * sizeof(float));
    if (gt_backward(&t, dout, NULL, &err) == 0) {
        gt_objective(&t, dout, &err);
        check("mlet", c, t.node->out, "out");
        check("mlet", c, W2->grad, "dW2");
        rill_table_apply(tab, 1.0, 1.0, 1);
        float *dW1 = calloc((size_t)n * k, sizeof(float));
        for (uint64_t i = 0; i < (uint64_t)n; i++) {
            const float *row = rill_table_peek(tab, i);
            for (int j = 0; j < k; j++)
                dW1[i * k + j] = W1[i * k + j] - row[j];
        }
        check("mlet", c, dW1, "dW1");
        free(dW1);
    } else {
        ok(0, "mlet %s: %s", c->name, err.msg);
    }
    free(W1), free(w2), free(dout);
out:
    rill_graph_free(g);
    rill_arena_free(&t.arena);
    rill_batch_free(&batch);
    rill_schema_free(&sc);
}

/* MNSE: the values fed as one field (B = num_values), the tables T_0..T_3 stacked into the
 * node's parameter, the gradient read back per base */
static void run_mnse(const tv_case *c)
{
    int B = tv_int(c, "num_values"), d = tv_int(c, "d"), nb = tv_int(c, "num_bases");
    rill_err err = {0};
    rill_schema sc;
    rill_schema_criteo(&sc, &err);
    gt_case t = {.B = B};
    rill_graph_create(&t.g, &sc, &err);
    rill_arena_init(&t.arena, 0);
    t.feeds[0] = gt_add(t.g, "feed", "x", NULL, 0, "dims={1}", &err);
    t.nfeeds = 1;
    char a[160], bases[64] = "";
    for (int k = 0; k < nb; k++) {
        char key[24];
        snprintf(key, sizeof key, "base_%d", k);
        snprintf(bases + strlen(bases), sizeof bases - strlen(bases), "%s%d", k ? "," : "",
                 tv_int(c, key));
    }
    snprintf(a, sizeof a, "dim=%d,bases={%s},max_value=%d", d, bases, tv_int(c, "max_value"));
    t.node = gt_add(t.g, "encode_mnse", "mnse", t.feeds, 1, a, &err);
    if (!ok(t.node && !rill_graph_build(t.g, 1, &err), "mnse %s: built (%s)", c->name, a)) {
        diag("%s", err.msg);
        goto out;
    }
    rill_param *T = param_of(t.g, "mnse.1");
    size_t off[8];
    size_t rows = 0;
    for (int k = 0; k < nb; k++) {
        char tn[24];
        snprintf(tn, sizeof tn, "T_%d", k);
        const tv_tensor *v = tv_get(c, tn);
        off[k] = rows;
        for (long i = 0; v && i < v->n; i++)
            T->data[rows * d + (size_t)i] = (float)v->v[i];
        rows += v ? (size_t)(v->n / d) : 0;
    }
    ok(T && rows == (size_t)T->rows, "mnse %s: the node's table has the vectors' %zu rows",
       c->name, rows);
    t.feed_data[0] = tv_floats(c, "values");
    float *dout = tv_floats(c, "dout"), *dx = calloc((size_t)B, sizeof(float)), *grads[1] = {dx};
    if (gt_backward(&t, dout, grads, &err) == 0) {
        gt_objective(&t, dout, &err);
        check("mnse", c, t.node->out, "out");
        for (int k = 0; k < nb; k++) {
            char tn[24];
            snprintf(tn, sizeof tn, "dT_%d", k);
            check("mnse", c, T->grad + off[k] * d, tn);
        }
    } else {
        ok(0, "mnse %s: %s", c->name, err.msg);
    }
    free(dout), free(dx), free(t.feed_data[0]);
out:
    rill_graph_free(t.g);
    rill_arena_free(&t.arena);
    rill_schema_free(&sc);
}

/* TIM: E and v fed as one (B, 1 + L, D) input (the target in slot 0), M as the mask, P into
 * the node's parameter */
static void run_tim(const tv_case *c)
{
    int B = tv_int(c, "B"), L = tv_int(c, "L"), D = tv_int(c, "D");
    rill_err err = {0};
    rill_schema sc;
    rill_schema_criteo(&sc, &err);
    gt_case t = {.B = B};
    rill_graph_create(&t.g, &sc, &err);
    rill_arena_init(&t.arena, 0);
    char a[64];
    snprintf(a, sizeof a, "dims={%d,%d}", L + 1, D);
    t.feeds[0] = gt_add(t.g, "feed", "x", NULL, 0, a, &err);
    snprintf(a, sizeof a, "dims={%d}", L);
    t.feeds[1] = gt_add(t.g, "feed", "m", NULL, 0, a, &err);
    t.nfeeds = 2;
    t.node = gt_add(t.g, "tim", "tim", t.feeds, 2, NULL, &err);
    if (!ok(t.node && !rill_graph_build(t.g, 1, &err), "tim %s: built", c->name)) {
        diag("%s", err.msg);
        goto out;
    }
    float *E = tv_floats(c, "E"), *v = tv_floats(c, "v"), *P = tv_floats(c, "P"),
          *dout = tv_floats(c, "dout");
    float *x = malloc((size_t)B * (L + 1) * D * sizeof *x);
    for (int b = 0; b < B; b++) {
        memcpy(x + (size_t)b * (L + 1) * D, v + (size_t)b * D, (size_t)D * sizeof *x);
        memcpy(x + ((size_t)b * (L + 1) + 1) * D, E + (size_t)b * L * D, (size_t)L * D * sizeof *x);
    }
    rill_param *Pp = param_of(t.g, "tim.P");
    memcpy(Pp->data, P, (size_t)(L + 1) * D * sizeof *P);
    t.feed_data[0] = x;
    t.feed_data[1] = tv_floats(c, "M");
    float *dx = calloc((size_t)B * (L + 1) * D, sizeof *dx), *dm = calloc((size_t)B * L, sizeof *dm);
    float *grads[2] = {dx, dm};
    if (gt_backward(&t, dout, grads, &err) == 0) {
        gt_objective(&t, dout, &err);
        check("tim", c, t.node->out, "out");
        float *dE = malloc((size_t)B * L * D * sizeof *dE), *dv = malloc((size_t)B * D * sizeof *dv);
        for (int b = 0; b < B; b++) {
            memcpy(dv + (size_t)b * D, dx + (size_t)b * (L + 1) * D, (size_t)D * sizeof *dv);
            memcpy(dE + (size_t)b * L * D, dx + ((size_t)b * (L + 1) + 1) * D,
                   (size_t)L * D * sizeof *dE);
        }
        check("tim", c, dE, "dE");
        check("tim", c, dv, "dv");
        check("tim", c, Pp->grad, "dP");
        free(dE), free(dv);
    } else {
        ok(0, "tim %s: %s", c->name, err.msg);
    }
    free(E), free(v), free(P), free(dout), free(x), free(dx), free(dm), free(t.feed_data[1]);
out:
    rill_graph_free(t.g);
    rill_arena_free(&t.arena);
    rill_schema_free(&sc);
}

static void run_file(const char *file, void (*fn)(const tv_case *))
{
    FILE *f = tv_open(file);
    if (!f) {
        ok(1, "# SKIP %s: ../shared/testvectors is absent", file);
        return;
    }
    tv_case c;
    int rc, n = 0;
    while ((rc = tv_next(f, &c)) == 1) {
        fn(&c);
        tv_free(&c);
        n++;
    }
    ok(rc == 0 && n > 0, "%s: %d cases read", file, n);
    tv_free(&c);
    fclose(f);
}

int main(void)
{
    rill_pool_start(2, NULL);
    run_file("linear.txt", run_linear);
    run_file("fm.txt", run_fm);
    run_file("bce.txt", run_bce);
    run_file("rank_combined_pair.txt", run_rank);
    run_file("dot_interaction.txt", run_dot);
    run_file("cross_v2.txt", run_cross);
    run_file("optim.txt", run_optim);
    run_file("mlet.txt", run_mlet);
    run_file("mnse.txt", run_mnse);
    run_file("tim.txt", run_tim);
    rill_pool_stop();
    return done_testing();
}
