/* The C functions behind rill.train, rill.evaluate, rill inspect and rill analyze, called as
 * the binding calls them (settings as rill_args): a small gated model trained into a run
 * directory, then read back by fresh graphs. Gates: one line per gate, experts named through
 * stop_gradient, means that sum to 1 (a softmax). Spectrum: IA within [1, dim], a table read
 * beside itself has sqrt(2) times its singular values. Inspect: the table, the state, a
 * stable digest. Attention (tim, din over embed_seq on rows with 3, 1, 0 and 5 behaviours):
 * weights by position and category pair, counted exactly. Misuse names what was wrong. */
#include <math.h>

#include "analysis.h"
#include "fs.h"
#include "gen_run.h"
#include "graphtest.h"
#include "inspect.h"
#include "pool.h"
#include "run.h"
#include "table_spectrum.h"
#include "tmpfiles.h"

static char data_path[256], run_dir[256];

/* settings written as gt_args' compact text, with %s filled in */
static rill_args args(const char *who, const char *fmt, const char *s)
{
    char text[1024];
    snprintf(text, sizeof text, fmt, s);
    rill_args a = {.map = gt_args(text)};
    snprintf(a.who, sizeof a.who, "%s", who);
    return a;
}

static void args_free(rill_args *a)
{
    rill_value_free(a->map);
    free(a->map);
}

/* counts -> e1 (mlp); ids -> emb -> e2 (mlp) -> sg (stop_gradient); gate{counts, e1, sg} ->
 * top -> loss. Not built. */
static rill_graph *gated_model(const rill_schema *s)
{
    rill_graph *g;
    rill_err err = {0};
    if (rill_graph_create(&g, s, &err))
        return NULL;
    rill_node *counts = gt_add(g, "encode_log", "counts", NULL, 0, "fields={'I1','I2'}", &err);
    rill_node *ids = gt_add(g, "encode_hash", "ids", NULL, 0, "fields={'C1'},buckets=64", &err);
    rill_node *emb = ids ? gt_add(g, "embed", "emb", &ids, 1, "dim=4", &err) : NULL;
    rill_node *e1 = counts ? gt_add(g, "mlp", "e1", &counts, 1, "sizes={3}", &err) : NULL;
    rill_node *e2 = emb ? gt_add(g, "mlp", "e2", &emb, 1, "sizes={3}", &err) : NULL;
    rill_node *sg = e2 ? gt_add(g, "stop_gradient", "sg", &e2, 1, NULL, &err) : NULL;
    rill_node *in[3] = {counts, e1, sg};
    rill_node *gate = e1 && sg ? gt_add(g, "gate", "gate", in, 3, NULL, &err) : NULL;
    rill_node *top = gate ? gt_add(g, "tower", "top", &gate, 1, "sizes={}", &err) : NULL;
    if (!top || !gt_add(g, "loss_bce", "click", &top, 1, NULL, &err)) {
        diag("gated model: %s", err.msg);
        rill_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_train_and_evaluate(const rill_schema *s)
{
    rill_err err = {0};
    rill_graph *g = gated_model(s);
    rill_args data = args("data", "path='%s',valid=0.2", data_path);
    rill_args opts = args("rill.train at t.lua:1",
                          "epochs=2,batch=64,threads=1,progress=false,run='%s'", run_dir);
    rill_run_result res;
    int rc = g ? rill_run_train(g, &data, &opts, NULL, &res, &err) : -1;
    if (!ok(rc == RILL_OK && res.train.steps > 0 && res.has_store && res.store.checkpoints > 0 &&
                res.train.last.ntasks == 1,
            "rill_run_train: steps, a checkpoint, a validation result (%llu steps)",
            (unsigned long long)res.train.steps))
        diag("%s", err.msg);
    rill_eval_result trained = res.train.last; /* res is reused below */
    args_free(&opts);
    opts = args("rill.train at t.lua:2", "threads=1,progress=false%s", "");
    ok(g && rill_run_train(g, &data, &opts, NULL, &res, &err) == RILL_EINVAL &&
           strstr(err.msg, "rill.train at t.lua:2: this graph has been trained"),
       "rill_run_train again on the same graph: refused, named by the call (%s)", err.msg);
    rill_graph_free(g);
    args_free(&opts);

    rill_args nopath = args("rill.train at t.lua:3: data", "valid=0.2%s", "");
    opts = args("rill.train at t.lua:3", "threads=1%s", "");
    g = gated_model(s);
    ok(g && rill_run_train(g, &nopath, &opts, NULL, &res, &err) == RILL_EINVAL &&
           strstr(err.msg, "t.lua:3: data: 'path' is required"),
       "rill_run_train without a data path: '%s'", err.msg);
    rill_graph_free(g);
    args_free(&nopath);
    args_free(&opts);

    g = gated_model(s);
    opts = args("evaluate at t.lua:4", "threads=1,run='%s'", run_dir);
    rill_eval_result ev;
    rc = g ? rill_run_evaluate(g, &data, &opts, &ev, &err) : -1;
    if (!ok(rc == RILL_OK && ev.rows == trained.rows && ev.rows > 0 &&
                fabs(ev.task[0].auc - trained.task[0].auc) < 1e-9,
            "rill_run_evaluate of the run: its validation rows and AUC again (%llu rows)",
            (unsigned long long)ev.rows))
        diag("%s", err.msg);
    rill_graph_free(g);
    args_free(&opts);
    args_free(&data);
}

static void test_gates(const rill_schema *s)
{
    rill_err err = {0};
    rill_graph *g = gated_model(s);
    rill_args data = args("data", "path='%s',valid=0.2", data_path);
    rill_args opts = args("rill analyze gates", "run='%s'", run_dir);
    rill_gates_result res;
    int rc = g ? rill_analyze_gates(g, &data, &opts, &res, &err) : -1;
    if (!ok(rc == RILL_OK && res.ngates == 1 && res.rows > 0, "gates: one gate, %llu rows",
            rc ? 0ULL : (unsigned long long)res.rows))
        diag("%s", err.msg);
    if (rc == RILL_OK && res.ngates == 1) {
        const rill_gate_means *m = &res.gate[0];
        ok(strcmp(m->gate, "gate") == 0 && m->nexperts == 2 && strcmp(m->expert[0], "e1") == 0 &&
               strcmp(m->expert[1], "e2") == 0,
           "gates: experts e1 and e2 (named through stop_gradient 'sg')");
        is_near(m->mean[0] + m->mean[1], 1.0, 1e-6, "gates: the mean weights sum to 1");
        rill_gates_result_free(&res);
    }
    rill_graph_free(g);
    args_free(&opts);
    g = gated_model(s);
    opts = args("rill analyze gates", "%s", "");
    ok(g && rill_analyze_gates(g, &data, &opts, &res, &err) == RILL_EINVAL &&
           strstr(err.msg, "rill analyze gates: which run?"),
       "gates of a fresh graph without a run: '%s'", err.msg);
    rill_graph_free(g);
    args_free(&opts);
    args_free(&data);
}

static void test_spectrum(const rill_schema *s)
{
    rill_err err = {0};
    rill_graph *g = gated_model(s);
    rill_args a = args("core.spectrum", "run='%s'", run_dir);
    rill_spectrum_result *r = NULL, *j = NULL;
    int n = 0, nj = 0;
    int rc = g ? rill_analyze_spectrum(g, &a, &r, &n, &err) : -1;
    if (!ok(rc == RILL_OK && n == 1 && r[0].dim == 4 && r[0].rows > 0 && r[0].ia >= 1 - 1e-9 &&
                r[0].ia <= 4 + 1e-9,
            "spectrum: the one table, dim 4, IA in [1, 4] (%s: %.3f over %llu rows)",
            n ? r[0].name : "-", n ? r[0].ia : 0, n ? (unsigned long long)r[0].rows : 0ULL))
        diag("%s", err.msg);
    args_free(&a);
    char text[600];
    snprintf(text, sizeof text, "tables=false,joint={{name='j',tables={'%s','%s'}}}",
             n ? r[0].name : "?", n ? r[0].name : "?");
    a = args("core.spectrum", "run='x',%s", text);
    rc = rc ? rc : rill_analyze_spectrum(g, &a, &j, &nj, &err);
    bool scaled = rc == RILL_OK && nj == 1 && j[0].dim == 8 && j[0].rows == r[0].rows;
    for (int k = 0; scaled && k < 4; k++)
        scaled = fabs(j[0].sv[k] - sqrt(2) * r[0].sv[k]) <= 1e-6 * (1 + r[0].sv[k]);
    ok(scaled && fabs(j[0].ia - r[0].ia) < 1e-6,
       "spectrum: the table beside itself: dim 8, singular values times sqrt(2), the same IA");
    args_free(&a);
    rill_spectrum_results_free(j, nj);
    a = args("core.spectrum", "run='x',tables=false,joint={{name='j',tables={'%s','nope'}}}",
             n ? r[0].name : "?");
    ok(rill_analyze_spectrum(g, &a, &j, &nj, &err) == RILL_EINVAL &&
           strstr(err.msg, "no table 'nope'") && !j,
       "spectrum: a joint group with an unknown table: '%s'", err.msg);
    args_free(&a);
    a = args("core.spectrum", "run='x',min_count=-1%s", "");
    ok(rill_analyze_spectrum(g, &a, &j, &nj, &err) == RILL_EINVAL &&
           strstr(err.msg, "--min-count must be 0 or more"),
       "spectrum: a negative min_count: '%s'", err.msg);
    args_free(&a);
    rill_spectrum_results_free(r, n);
    rill_graph_free(g);
}

static void test_inspect(void)
{
    rill_err err = {0};
    rill_inspect_result res;
    int rc = rill_inspect_run(run_dir, true, &res, &err);
    int tables = 0;
    for (int i = 0; rc == RILL_OK && i < res.nentries; i++)
        tables += res.entry[i].is_table && res.entry[i].dim == 4;
    if (!ok(rc == RILL_OK && tables == 1 && res.nentries > 1 && res.has_state &&
                res.state.step > 0 && res.state.finished,
            "inspect --check: the table, the dense parameters, a finished state"))
        diag("%s", err.msg);
    rill_inspect_result_free(&res);
    uint64_t d1 = 0, d2 = 1;
    rc = rill_inspect_digest(run_dir, &d1, &err);
    rc = rc ? rc : rill_inspect_digest(run_dir, &d2, &err);
    ok(rc == RILL_OK && d1 == d2 && d1 != 0,
       "digest: the same twice (%016llx)", (unsigned long long)d1);
    void *val;
    size_t len;
    ok(rill_inspect_meta(run_dir, "signature", &val, &len, &err) == RILL_OK && len > 0,
       "meta: the run records its graph's signature");
    free(val);
    ok(rill_inspect_meta(run_dir, "no such key", &val, &len, &err) == RILL_EOF && !val,
       "meta: RILL_EOF for a key that is not there");
    ok(rill_inspect_run("/nonexistent/run", false, &res, &err) != RILL_OK,
       "inspect of no run: an error ('%s')", err.msg);
}

static void test_attention(void)
{
    rill_schema s;
    rill_err err = {0};
    const char *yaml = tmp_write("s.yaml", "format: tsv\nheader: false\ncolumns:\n"
                                           "  - { name: y, role: label }\n"
                                           "  - { name: item, role: categorical }\n"
                                           "  - { name: hist, role: multi }\n");
    /* row 0: 3 behaviours, row 1: 1, row 2: none, row 3: 5 (cut to the newest 3) */
    const char *data = tmp_write("seq.tsv", "1\t7\t1|2|3\n0\t8\t4\n1\t9\t\n0\t7\t1|2|3|4|5\n");
    if (rill_schema_load_yaml(&s, yaml, &err)) {
        ok(0, "schema: %s", err.msg);
        return;
    }
    rill_graph *g = gt_sequence_model(&s);
    rill_args d = args("data", "path='%s',format='csv'", data);
    rill_args o = args("rill analyze correlation",
                       "node='tim',target_cat='item',sequence_cat='%s'", "hist");
    rill_attention_result r;
    int rc = rill_analyze_attention(g, &d, &o, &r, &err);
    if (!ok(rc == RILL_OK && r.L == 3, "attention of tim: L = 3"))
        diag("%s", err.msg);
    if (rc == RILL_OK) {
        double total = 0;
        uint64_t n = 0;
        for (int p = 1; p <= r.L; p++)
            total += r.count[p] ? r.mean[p] * (double)r.count[p] : 0, n += r.count[p];
        ok(n == 7 && r.count[1] == 3 && r.count[3] == 2,
           "attention: 7 behaviours, 3 at the newest position, 2 at the oldest");
        is_near(total, 3.0, 1e-5, "attention: tim's weights sum to 1 in each of the 3 rows");
        uint64_t h3 = rill_hash_text("3", 1), h7 = rill_hash_text("7", 1);
        double sum = 0;
        uint64_t count37 = 0, all = 0;
        for (size_t i = 0; i < r.npairs; i++) {
            sum += r.pairs[i].mean * (double)r.pairs[i].count;
            all += r.pairs[i].count;
            if (r.pairs[i].first == h3 && r.pairs[i].target == h7)
                count37 = r.pairs[i].count;
        }
        ok(r.npairs == 6 && all == 7 && count37 == 2,
           "attention: 6 (behaviour, target) pairs, (3, 7) seen twice");
        is_near(sum, 3.0, 1e-5, "attention: the pairs' weights add up to the rows' too");
        ok(r.nposition_targets > 0 && r.position_targets[0].first >= 1 &&
               r.position_targets[0].first <= 3,
           "attention: (position, target) lifts keyed by positions 1..3");
        rill_attention_result_free(&r);
    }
    args_free(&o);
    o = args("rill analyze correlation", "node='din',target_cat='item',sequence_cat='%s'", "hist");
    rc = rill_analyze_attention(g, &d, &o, &r, &err);
    ok(rc == RILL_OK && r.L == 3 && r.count[1] == 3, "attention of din: by capability, not kind");
    if (rc == RILL_OK)
        rill_attention_result_free(&r);
    args_free(&o);
    o = args("rill analyze correlation", "node='%s'", "seq");
    ok(rill_analyze_attention(g, &d, &o, &r, &err) == RILL_EINVAL &&
           strstr(err.msg, "'seq' is not a tim or din node") && !r.mean,
       "attention of embed_seq itself: refused ('%s')", err.msg);
    args_free(&o);
    o = args("rill analyze correlation", "node='tim',target_cat='%s'", "nope");
    ok(rill_analyze_attention(g, &d, &o, &r, &err) == RILL_EINVAL &&
           strstr(err.msg, "no categorical field 'nope'"),
       "attention with an unknown field: '%s'", err.msg);
    args_free(&o);
    o = args("rill analyze gates", "%s", "");
    rill_gates_result gr;
    ok(rill_analyze_gates(g, &d, &o, &gr, &err) == RILL_EINVAL &&
           strstr(err.msg, "has no gate node") && gr.ngates == 0,
       "gates of a graph without one: '%s'", err.msg);
    args_free(&o);
    args_free(&d);
    rill_graph_free(g);
    rill_schema_free(&s);
}

static void test_generators(void)
{
    rill_err err = {0};
    rill_args a = args("rill.gen_criteo", "rows=0,out='%s'", data_path);
    ok(rill_gen_criteo_run(&a, &err) == RILL_EINVAL && strstr(err.msg, "rows must be at least 1"),
       "gen_criteo rows = 0: '%s'", err.msg);
    args_free(&a);
    a = args("rill.gen_criteo", "rows=10,sede=1,out='%s'", data_path);
    ok(rill_gen_criteo_run(&a, &err) == RILL_EINVAL && strstr(err.msg, "unknown argument 'sede'"),
       "gen_criteo with a misspelt setting: '%s'", err.msg);
    args_free(&a);
    a = args("rill.gen_criteo", "rows=10,out='%s/no/such/dir/x.tsv'", tmp_dir);
    ok(rill_gen_criteo_run(&a, &err) == RILL_EIO && strstr(err.msg, "cannot write"),
       "gen_criteo into a missing directory: '%s'", err.msg);
    args_free(&a);
    double auc, auc1;
    a = args("rill.gen_criteo_truth", "rows=2000,seed=3,from=%s", "1000");
    int rc = rill_gen_criteo_truth_run(&a, &auc, &auc1, &err);
    ok(rc == RILL_OK && auc > 0.55 && auc <= 1 && auc1 > 0 && auc1 < 1,
       "gen_criteo_truth: the planted model's AUC %.3f, first-order %.3f", auc, auc1);
    args_free(&a);
    a = args("rill.gen_criteo_truth", "rows=10,from=%s", "10");
    ok(rill_gen_criteo_truth_run(&a, &auc, &auc1, &err) == RILL_EINVAL &&
           strstr(err.msg, "from must be below rows") && isnan(auc),
       "gen_criteo_truth from = rows: '%s'", err.msg);
    args_free(&a);
}

int main(void)
{
    tmp_start("analysis");
    rill_err err = {0};
    snprintf(data_path, sizeof data_path, "%s/d.tsv", tmp_dir);
    snprintf(run_dir, sizeof run_dir, "%s/run", tmp_dir);
    rill_args gen = args("rill.gen_criteo", "rows=400,seed=5,out='%s'", data_path);
    rill_schema s;
    if (rill_gen_criteo_run(&gen, &err) || rill_schema_criteo(&s, &err) ||
        rill_pool_start(1, &err)) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    args_free(&gen);
    test_generators();
    test_train_and_evaluate(&s);
    test_gates(&s);
    test_spectrum(&s);
    test_inspect();
    test_attention();
    bool removed;
    rill_fs_remove_tree(run_dir, &removed, &err);
    remove(data_path);
    rill_schema_free(&s);
    return done_testing();
}
