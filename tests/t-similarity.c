/* Pre-trained vectors and their similarity: a YAML schema with two vector columns, a CSV file
 * read through it (numbers split on spaces, an empty column missing, every kind of bad vector
 * named by line and column), the similarity node (cosine and dot against hand-computed values,
 * NaN for a missing or zero vector) and encode_mnse over it (a missing similarity encodes as
 * zeros; a similarity equal to another's gives the same encoding). */
#include "graphtest.h"
#include "pool.h"
#include "reader.h"
#include "tmpfiles.h"

static const char *const yaml = "columns:\n"
                                "  - { name: y, role: label }\n"
                                "  - { name: u, role: vector, dim: 3 }\n"
                                "  - { name: i, role: vector, dim: 3, separator: \";\" }\n";

static int read_file(const rill_schema *s, const char *text, rill_reader **r,
                     const rill_batch **b, rill_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "v%d.csv", tmp_nmade);
    rill_reader_cfg cfg = {.path = tmp_write(name, text), .format = RILL_FMT_CSV, .schema = s,
                           .part = RILL_PART_ALL, .batch = 16};
    int rc = rill_reader_open(r, &cfg, err);
    return rc ? rc : rill_reader_next(*r, b, err);
}

/* Long on purpose: one file of vector rows read once, then a list of checks on it (the
 * schema, the reader, similarity through MNSE, misuse), each a few lines. */
int main(void)
{
    tmp_start("sim");
    rill_pool_start(2, NULL);
    rill_schema s;
    rill_err err = {0};
    if (rill_schema_load_yaml(&s, tmp_write("s.yaml", yaml), &err)) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    int dim = 0;
    ok(s.nnum == 6 && strcmp(s.num_names[0], "u[1]") == 0 && strcmp(s.num_names[5], "i[3]") == 0 &&
           rill_schema_vector(&s, "i", &dim) == 3 && dim == 3 && rill_schema_vector(&s, "y", &dim) < 0,
       "schema: two vectors of dim 3 as numeric fields u[1]..i[3]");

    rill_reader *r = NULL;
    const rill_batch *b;
    int rc = read_file(&s, "y,u,i\n1,1 2 2,2;0;1\n0,1 0 0,-3;0;0\n1,,1;1;1\n0,0 0 0,1;2;3\n",
                       &r, &b, &err);
    if (!ok(rc == 1 && b->B == 4, "read 4 rows with vectors (rc %d %s)", rc, rc < 0 ? err.msg : ""))
        return done_testing();
    ok(b->num[0] == 1 && b->num[1] == 2 && b->num[2] == 2 && b->num[3] == 2 && b->num[4] == 0 &&
           b->num[5] == 1 && isnan(b->num[12]) && isnan(b->num[14]),
       "vectors: numbers split on their separators, an empty column missing");

    rill_graph *g;
    rill_graph_create(&g, &s, &err);
    rill_node *cos = gt_add(g, "similarity", "cos", NULL, 0, "a='u',b='i'", &err);
    rill_node *dot = gt_add(g, "similarity", "dot", NULL, 0, "a='u',b='i',measure='dot'", &err);
    rill_node *enc = cos ? gt_add(g, "encode_mnse", "sim_mnse", &cos, 1,
                                  "dim=2,offset=1,scale=100,max_value=200", &err)
                         : NULL;
    if (!ok(cos && dot && enc && !rill_graph_build(g, 1, &err), "graph: similarity and MNSE built"))
        diag("%s", err.msg);
    rill_arena arena;
    rill_arena_init(&arena, 0);
    rill_step st = {.batch = b, .B = b->B, .training = false, .arena = &arena};
    if (!ok(rill_graph_forward(g, &st, NULL, &err) == RILL_OK, "forward"))
        diag("%s", err.msg);
    /* row 0: u = (1,2,2), i = (2,0,1): dot 4, |u| 3, |i| sqrt 5; row 1: dot -3, cos -1 */
    is_near(cos->out[0], 4 / (3 * sqrt(5.0)), 1e-6, "cosine of (1,2,2) and (2,0,1)");
    is_near(cos->out[1], -1.0, 1e-6, "cosine of opposite vectors is -1");
    ok(isnan(cos->out[2]) && isnan(cos->out[3]), "cosine: NaN for a missing and for a zero vector");
    is_near(dot->out[0], 4.0, 1e-6, "dot of (1,2,2) and (2,0,1)");
    is_near(dot->out[3], 0.0, 1e-6, "dot with a zero vector is 0");
    int W = 4 * 2;
    bool zeros = true, nonzero = false;
    for (int k = 0; k < W; k++) {
        zeros &= enc->out[2 * W + k] == 0 && enc->out[3 * W + k] == 0;
        nonzero |= enc->out[k] != 0;
    }
    ok(zeros && nonzero, "encode_mnse of the similarity: zeros where it is missing");
    rill_arena_free(&arena);
    rill_graph_free(g);
    rill_reader_close(r);

    /* bad vectors: each named by file:line:column */
    const struct {
        const char *what, *line, *want;
    } bad[] = {
        {"too few numbers", "1,1 2,1;1;1", ":2:3: column u has 2 numbers, expected 3"},
        {"too many numbers", "1,1 2 3 4,1;1;1", ":2:3: column u has more than 3 numbers"},
        {"a bad number", "1,1 x 3,1;1;1", ":2:3: column u number 2 = 'x' is not a number"},
        {"the wrong separator", "1,1 2 3,1 1 1", ":2:9: column i number 1 = '1 1 1' is not a number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char text[128];
        snprintf(text, sizeof text, "y,u,i\n%s\n", bad[k].line);
        r = NULL;
        rc = read_file(&s, text, &r, &b, &err);
        if (!ok(rc < 0 && strstr(err.msg, bad[k].want), "%s: '%s'", bad[k].what, bad[k].want))
            diag("rc %d: %s", rc, err.msg);
        rill_reader_close(r);
    }
    rill_graph_create(&g, &s, &err);
    ok(!gt_add(g, "similarity", "s1", NULL, 0, "a='u',b='y'", &err) &&
           strstr(err.msg, "no vector column 'y'"),
       "similarity of a column that is not a vector: %s", err.msg);
    ok(!gt_add(g, "similarity", "s2", NULL, 0, "a='u'", &err) && strstr(err.msg, "'a' and 'b' are required"),
       "similarity without b: %s", err.msg);
    rill_graph_free(g);

    const char *bad_yaml[][2] = {
        {"columns:\n  - { name: y, role: label }\n  - { name: v, role: vector }\n",
         "column 'v': a vector needs its 'dim'"},
        {"columns:\n  - { name: y, role: label }\n  - { name: v, role: numeric, dim: 3 }\n",
         "column 'v': 'dim' is for role vector, not numeric"},
        {"columns:\n  - { name: y, role: label }\n  - { name: v, role: vector, dim: 0 }\n",
         "'dim' must be a whole number from 1 to 4096, got 0"},
        {"columns:\n  - { name: y, role: label }\n  - { name: v, role: vector, dim: 2, separator: \",\" }\n",
         "its values' separator is the file's column separator"},
    };
    for (size_t k = 0; k < sizeof bad_yaml / sizeof bad_yaml[0]; k++) {
        rill_schema t;
        char name[32];
        snprintf(name, sizeof name, "bad%zu.yaml", k);
        rc = rill_schema_load_yaml(&t, tmp_write(name, bad_yaml[k][0]), &err);
        if (!ok(rc != RILL_OK && strstr(err.msg, bad_yaml[k][1]), "schema: '%s'", bad_yaml[k][1]))
            diag("%s", err.msg);
        if (rc == RILL_OK)
            rill_schema_free(&t);
    }
    rill_schema_free(&s);
    rill_pool_stop();
    return done_testing();
}
