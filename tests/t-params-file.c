/* The parameter file: a round trip, loading into another graph of the same pipeline,
 * refusals of another pipeline's file, truncated and foreign files. Files go to a mkdtemp
 * directory that is removed at the end. */
#include <sys/stat.h>
#include <unistd.h>

#include "graphtest.h"
#include "pool.h"

static char tmpdir[64];

static bool has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

/* ids (C1, C2) -> embed -> tower over the embeddings and two counts -> loss. tower is the
 * tower's arguments, embed the embed node's. */
static rill_graph *model_ids(const rill_schema *s, const char *hash, const char *embed,
                             const char *tower, uint64_t seed)
{
    rill_graph *g;
    rill_err err;
    rill_graph_create(&g, s, &err);
    rill_node *ids = gt_add(g, "encode_hash", "ids", NULL, 0, hash, &err);
    rill_node *emb = ids ? gt_add(g, "embed", "emb", &ids, 1, embed, &err) : NULL;
    rill_node *counts = gt_add(g, "encode_log", "counts", NULL, 0, "fields={'I1','I2'}", &err);
    rill_node *in[2] = {emb, counts};
    rill_node *top = emb && counts ? gt_add(g, "tower", "top", in, 2, tower, &err) : NULL;
    rill_node *loss = top ? gt_add(g, "loss_bce", "click", &top, 1, NULL, &err) : NULL;
    if (!loss || rill_graph_build(g, seed, &err)) {
        diag("model{%s}{%s}: %s", embed, tower, err.msg);
        rill_graph_free(g);
        return NULL;
    }
    return g;
}

static rill_graph *model(const rill_schema *s, const char *embed, const char *tower, uint64_t seed)
{
    return model_ids(s, "fields={'C1','C2'},buckets=100", embed, tower, seed);
}

/* gives every parameter and a few rows of each table values of their own */
static void stamp(rill_graph *g, float base)
{
    rill_err err;
    for (int p = 0; p < g->nparams; p++)
        for (size_t i = 0; i < g->params[p]->n; i++)
            g->params[p]->data[i] = base + (float)p + 0.001f * (float)i;
    static const uint64_t ids[] = {1, 5, 42, 99};
    for (int t = 0; t < g->ntables; t++) {
        float *rows[4];
        rill_table_lookup(g->tables[t], ids, 4, rows, &err);
        int stride =
            rill_table_dim(g->tables[t]) +
            rill_optim_row_state(rill_table_optim(g->tables[t]), rill_table_dim(g->tables[t]));
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < stride; k++)
                rows[r][k] = base + 10.0f * (float)t + (float)ids[r] + 0.01f * (float)k;
    }
}

typedef struct {
    rill_table *other;
    int stride;
    int rows, differ;
} cmp_ctx;

static int cmp_row(void *ud, uint64_t id, const float *row)
{
    cmp_ctx *c = ud;
    const float *o = rill_table_peek(c->other, id);
    c->rows++;
    if (!o || memcmp(o, row, (size_t)c->stride * sizeof(float)))
        c->differ++;
    return 0;
}

/* a and b hold the same parameters and the same rows */
static bool same_params(rill_graph *a, rill_graph *b)
{
    if (a->nparams != b->nparams || a->ntables != b->ntables)
        return false;
    for (int p = 0; p < a->nparams; p++)
        if (a->params[p]->n != b->params[p]->n ||
            memcmp(a->params[p]->data, b->params[p]->data, a->params[p]->n * sizeof(float)))
            return false;
    for (int t = 0; t < a->ntables; t++) {
        int dim = rill_table_dim(a->tables[t]);
        cmp_ctx c = {b->tables[t], dim + rill_optim_row_state(rill_table_optim(a->tables[t]), dim),
                     0, 0};
        rill_table_each(a->tables[t], cmp_row, &c, NULL);
        if (c.differ || c.rows == 0 ||
            rill_table_touched(a->tables[t]) != rill_table_touched(b->tables[t]))
            return false;
    }
    return true;
}

static char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, 128, "%s/%s", tmpdir, name);
    return buf;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static bool same_file(const char *x, const char *y)
{
    FILE *a = fopen(x, "rb"), *b = fopen(y, "rb");
    bool same = a && b;
    while (same) {
        int ca = fgetc(a), cb = fgetc(b);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return same;
}

static void test_params(void)
{
    rill_err err;
    rill_schema s;
    rill_schema_criteo(&s, &err);
    const char *tower = "sizes={4},norm='batch'";
    rill_graph *a = model(&s, "dim=3", tower, 1), *b = model(&s, "dim=3", tower, 2);
    if (!ok(a && b, "two graphs of the same pipeline, seeds 1 and 2")) {
        rill_graph_free(a);
        rill_graph_free(b);
        rill_schema_free(&s);
        return;
    }
    stamp(a, 1.0f);
    ok(!same_params(a, b), "before loading they differ");
    char f1[128], f2[128], cut[128], other_path[128];
    tmp_path(f1, "a.bin");
    tmp_path(f2, "b.bin");
    tmp_path(cut, "cut.bin");
    ok(!rill_params_save(a, f1, &err), "save: %s", f1);
    ok(access(tmp_path(other_path, "a.bin.tmp"), F_OK) != 0, "save: no temporary file left");
    int rc = rill_params_load(b, f1, &err);
    if (!ok(rc == RILL_OK, "load into the other graph"))
        diag("%s", err.msg);
    ok(same_params(a, b),
       "load: every dense parameter (running statistics too) and every row equal");
    ok(!rill_params_save(b, f2, &err) && same_file(f1, f2),
       "saving the loaded graph gives the same bytes");

    /* a graph that made rows of its own before loading */
    rill_graph *c = model(&s, "dim=3", tower, 3);
    float *row;
    static const uint64_t stray = 7;
    rill_table_lookup(c->tables[0], &stray, 1, &row, &err);
    ok(!rill_params_load(c, f1, &err), "load into a graph that made a row of its own first");
    ok(rill_table_peek(c->tables[0], stray) == NULL && same_params(a, c),
       "after loading, the table holds the file's rows only");
    rill_graph_free(c);

    /* another pipeline's parameters */
    static const struct {
        const char *hash, *embed, *tower, *needle, *needle2;
    } other[] = {
        {"fields={'C1','C2'},buckets=100", "dim=3", "sizes={5},norm='batch'",
         "parameter 1 is 'top.W1' (32 values), the graph's is 'top.W1' (40)",
         "was the pipeline changed since training?"},
        {"fields={'C1','C2'},buckets=100", "dim=3", "sizes={}",
         "holds 8 dense parameters, the graph has 2", "was the pipeline changed"},
        {"fields={'C1','C2'},buckets=50", "dim=3", "sizes={4},norm='batch'",
         "table 'emb.C1' (100 x 3, rowwise_adagrad) does not match the graph's 'emb.C1' (50 x 3, "
         "rowwise_adagrad)",
         "was the pipeline changed"},
        {"fields={'C1','C2'},buckets=100", "dim=3,optim={kind='sgd'}", "sizes={4},norm='batch'",
         "does not match the graph's 'emb.C1' (100 x 3, sgd)", NULL},
        /* one field of dim 6: the tower's input is 8 wide again, but there is one table */
        {"fields={'C1'},buckets=100", "dim=6", "sizes={4},norm='batch'",
         "holds 2 embedding tables, the graph has 1", NULL},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        rill_graph *g = model_ids(&s, other[i].hash, other[i].embed, other[i].tower, 1);
        rc = g ? rill_params_load(g, f1, &err) : RILL_OK;
        if (!ok(g && rc != RILL_OK && has(err.msg, f1) && has(err.msg, other[i].needle) &&
                    (!other[i].needle2 || has(err.msg, other[i].needle2)),
                "load into encode_hash{%s} embed{%s} tower{%s}: refused, saying '%s'",
                other[i].hash, other[i].embed, other[i].tower, other[i].needle))
            diag("got: %s", rc ? err.msg : "(loaded)");
        rill_graph_free(g);
    }

    /* truncated files: every cut fails, names the file and says what is wrong */
    long size = file_size(f1);
    if (size < 0 || size > (1L << 24))
        size = 0;
    FILE *in = fopen(f1, "rb");
    unsigned char *bytes = malloc((size_t)size + 1);
    bool read_all = in && size > 0 && fread(bytes, 1, (size_t)size, in) == (size_t)size;
    if (in)
        fclose(in);
    ok(read_all && size > 100, "the parameter file has %ld bytes", size);
    int loaded = 0, unnamed = 0, unclear = 0, cuts = 0;
    char first_unclear[1100] = "";
    long step = size > 3000 ? 7 : 1;
    for (long len = 0; read_all && len < size; len += len < 64 || len > size - 64 ? 1 : step) {
        FILE *o = fopen(cut, "wb");
        fwrite(bytes, 1, (size_t)len, o);
        fclose(o);
        rill_graph *g = model(&s, "dim=3", tower, 1);
        rc = rill_params_load(g, cut, &err);
        cuts++;
        if (rc == RILL_OK)
            loaded++;
        else if (!has(err.msg, cut))
            unnamed++;
        else if (!has(err.msg, "truncated") && !has(err.msg, "not a Rill parameter file")) {
            if (unclear++ == 0)
                snprintf(first_unclear, sizeof first_unclear, "cut at %ld bytes: %s", len, err.msg);
            if (getenv("SHOWCUT")) /* every such message, not just the first */
                diag("cut at %ld bytes: %s", len, err.msg);
        }
        rill_graph_free(g);
    }
    ok(loaded == 0, "a file cut short never loads (%d cuts)", cuts);
    ok(unnamed == 0, "the error names the file (%d without)", unnamed);
    char name[160];
    snprintf(name, sizeof name, "the error says the file is cut short (%d of %d say otherwise)",
             unclear, cuts);
    ok(unclear == 0, "%s", name);
    if (unclear)
        diag("first: %s (SHOWCUT=1 lists all)", first_unclear);
    free(bytes);

    FILE *o = fopen(cut, "wb");
    fputs("hello, world\n", o);
    fclose(o);
    rill_graph *g = model(&s, "dim=3", tower, 1);
    rc = rill_params_load(g, cut, &err);
    ok(rc && has(err.msg, "not a Rill parameter file"), "a text file: %s", err.msg);
    rc = rill_params_load(g, tmp_path(other_path, "missing.bin"), &err);
    ok(rc && has(err.msg, "missing.bin: cannot read: No such file or directory"),
       "a missing file: %s", err.msg);
    rc = rill_params_save(g, tmp_path(other_path, "no/dir/p.bin"), &err);
    ok(rc && has(err.msg, "no/dir/p.bin.tmp: cannot write"), "saving into a missing directory: %s",
       err.msg);
    rill_graph_free(g);

    remove(f1);
    remove(f2);
    remove(cut);
    rill_graph_free(a);
    rill_graph_free(b);
    rill_schema_free(&s);
}

int main(void)
{
    rill_err err;
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/rill-params-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    rill_pool_start(2, &err);
    test_params();
    rill_pool_stop();
    if (rmdir(tmpdir) != 0)
        ok(0, "%s is left empty and removed", tmpdir);
    return done_testing();
}
