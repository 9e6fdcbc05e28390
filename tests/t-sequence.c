/* Behaviour sequences through embed_seq and tim on rows read from a file: the target in slot
 * 0, the newest `length` behaviours in the last slots, oldest first, zeros and mask 0 in the
 * padding, a longer history cut to its newest; tim gives zeros for a row without behaviours
 * and weights that sum to 1 otherwise; misuse is refused with the node's name. */
#include "graphtest.h"
#include "pool.h"
#include "reader.h"
#include "seq.h"
#include "tmpfiles.h"

/* One batch of four rows (3 behaviours, 1, none, 5 cut to the newest 3) through embed_seq,
 * tim and din: the slots, the mask, the padding. */
static void test_slots(rill_schema *s, const rill_batch *b)
{
    rill_err err = {0};
    rill_graph *g = gt_sequence_model(s);
    rill_node *seq = rill_graph_find(g, "seq"), *tim = rill_graph_find(g, "tim"),
              *din = rill_graph_find(g, "din");
    if (!seq || !tim || !din) {
        ok(0, "the sequence model has its nodes");
        rill_graph_free(g);
        return;
    }
    rill_arena arena;
    rill_arena_init(&arena, 0);
    rill_step st = {.batch = b, .B = b->B, .training = true, .t = 1, .arena = &arena};
    if (!ok(rill_graph_forward(g, &st, NULL, &err) == RILL_OK, "forward"))
        diag("%s", err.msg);
    int L = 0;
    const float *mask = rill_embed_seq_mask(seq, &L);
    ok(L == 3 && seq->dims[0] == 4 && seq->dims[1] == 2, "embed_seq output (B, 1 + 3, 2)");
    ok(mask[0] == 1 && mask[1] == 1 && mask[2] == 1 && mask[3] == 0 && mask[4] == 0 &&
           mask[5] == 1 && mask[6] == 0 && mask[7] == 0 && mask[8] == 0 && mask[9] == 1 &&
           mask[10] == 1 && mask[11] == 1,
       "mask: 3 real; 1 real in the last slot; none; a history of 5 fills all 3");
    const float *o = seq->out;
    int W = 4 * 2;
    ok(o[1 * W + 2] == 0 && o[1 * W + 3] == 0 && o[1 * W + 4] == 0 && o[1 * W + 5] == 0 &&
           (o[1 * W + 6] != 0 || o[1 * W + 7] != 0),
       "row 1: two zero slots, its one behaviour in the last");
    /* row 3's slots hold behaviours 3, 4, 5; row 0's hold 1, 2, 3: row 0's last slot (3) is
     * row 3's first */
    ok(o[3 * W + 2] == o[0 * W + 6] && o[3 * W + 3] == o[0 * W + 7] &&
           (o[3 * W + 2] != o[0 * W + 2] || o[3 * W + 3] != o[0 * W + 3]),
       "a longer history keeps its newest 3, oldest first");
    ok(o[0] == o[3 * W] && o[1] == o[3 * W + 1], "the target in slot 0 (rows 0 and 3: item 7)");
    ok(tim->out[4] == 0 && tim->out[5] == 0 && (tim->out[0] != 0 || tim->out[1] != 0),
       "tim: zeros for the row without behaviours");
    ok(din->out[4] == 0 && din->out[5] == 0, "din: zeros for the row without behaviours");
    rill_arena_free(&arena);
    rill_graph_free(g);

}

/* embed_seq and tim refuse what they cannot take, naming the node. */
static void test_misuse(rill_schema *s)
{
    rill_err err = {0};
    rill_graph *g;
    rill_graph_create(&g, s, &err);
    rill_node *ids = gt_add(g, "encode_hash", "ids2", NULL, 0, "fields={'hist','item'},shared=true", &err);
    ok(!gt_add(g, "embed_seq", "bad1", &ids, 1, "dim=2,target='item',sequence='hist'", &err) &&
           strstr(err.msg, "'bad1'") && strstr(err.msg, "in that order"),
       "embed_seq with the fields in the other order: %s", err.msg);
    rill_node *ids3 = gt_add(g, "encode_hash", "ids3", NULL, 0, "fields={'hist','item'}", &err);
    ok(!gt_add(g, "embed_seq", "bad2", &ids3, 1, "dim=2,target='hist',sequence='item'", &err) &&
           strstr(err.msg, "not multi-valued"),
       "embed_seq of a single-valued sequence: %s", err.msg);
    rill_node *e = gt_add(g, "embed", "plain", &ids, 1, "dim=2", &err);
    ok(e && !gt_add(g, "tim", "bad3", &e, 1, NULL, &err) && strstr(err.msg, "takes one embed_seq"),
       "tim on a plain embedding: %s", err.msg);
    rill_graph_free(g);

}

/* The sequence role: ids with a parallel list of times, the newest max_length kept; times
 * that do not match their ids are refused with file:line:column. */
static void test_sequence_role(rill_reader_cfg cfg)
{
    rill_schema s;
    rill_err err = {0};
    rill_reader *r;
    const rill_batch *b;
    int rc;
    const char *yseq = tmp_write("q.yaml", "format: tsv\ncolumns:\n"
                                          "  - { name: y, role: label }\n"
                                          "  - { name: hist, role: sequence, max_length: 2, times: t }\n"
                                          "  - { name: t, role: times }\n");
    if (!ok(rill_schema_load_yaml(&s, yseq, &err) == RILL_OK && s.cat_multi[0] && s.cat_timed[0],
            "schema: a sequence with times"))
        diag("%s", err.msg);
    const char *dq = tmp_write("q.tsv", "1\ta|b|c\t10|20|30\n0\tz\t5\n1\t\t\n");
    cfg.path = dq;
    cfg.schema = &s;
    rc = rill_reader_open(&r, &cfg, &err);
    if (rc == RILL_OK)
        rc = rill_reader_next(r, &b, &err);
    const rill_catcol *c = rc == 1 ? &b->cat[0] : NULL;
    ok(c && b->B == 3 && c->off[1] == 2 && c->val[0] == rill_hash_text("b", 1) &&
           c->val[1] == rill_hash_text("c", 1) && c->time[0] == 20 && c->time[1] == 30 &&
           c->off[2] == 3 && c->time[2] == 5 && c->off[3] == 3,
       "sequence: the newest 2 ids kept with their times; an empty history (rc %d %s)", rc,
       rc < 0 ? err.msg : "");
    rill_reader_close(r);
    const struct {
        const char *what, *text, *want;
    } badq[] = {
        {"fewer times than ids", "1\ta|b\t10\n", ":1:7: column t has 1 times, its sequence hist 2 ids"},
        {"more times than ids", "1\ta\t10|20\n", ":1:5: column t has more times than its sequence hist has ids (1)"},
        {"a time that is text", "1\ta|b\t10|x\n", ":1:7: column t time 2 = 'x' is not a number"},
        {"an empty id", "1\ta||b\t1|2|3\n", ":1:3: column hist has an empty id at position 2"},
    };
    for (size_t k = 0; k < sizeof badq / sizeof badq[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "badq%zu.tsv", k);
        cfg.path = tmp_write(name, badq[k].text);
        r = NULL;
        rc = rill_reader_open(&r, &cfg, &err);
        if (rc == RILL_OK)
            rc = rill_reader_next(r, &b, &err);
        if (!ok(rc < 0 && strstr(err.msg, badq[k].want), "sequence: %s: '%s'", badq[k].what, badq[k].want))
            diag("rc %d: %s", rc, err.msg);
        rill_reader_close(r);
    }
    rill_schema_free(&s);
}

/* Schemas whose times columns or max_length are misplaced are refused. */
static void test_bad_schemas(void)
{
    rill_err err = {0};
    int rc;
    const char *bady[][2] = {
        {"columns:\n  - { name: y, role: label }\n  - { name: t, role: times }\n"
         "  - { name: h, role: sequence, times: t }\n", "times column 't' must come after its sequence 'h'"},
        {"columns:\n  - { name: y, role: label }\n  - { name: t, role: times }\n",
         "times column 't' belongs to no sequence"},
        {"columns:\n  - { name: y, role: label }\n  - { name: h, role: sequence, times: u }\n",
         "sequence 'h' names times column 'u', which the schema does not have"},
        {"columns:\n  - { name: y, role: label }\n  - { name: c, role: categorical, max_length: 3 }\n",
         "'max_length' is for role sequence, not categorical"},
    };
    for (size_t k = 0; k < sizeof bady / sizeof bady[0]; k++) {
        rill_schema t;
        char name[32];
        snprintf(name, sizeof name, "bady%zu.yaml", k);
        rc = rill_schema_load_yaml(&t, tmp_write(name, bady[k][0]), &err);
        if (!ok(rc != RILL_OK && strstr(err.msg, bady[k][1]), "schema: '%s'", bady[k][1]))
            diag("%s", err.msg);
        if (rc == RILL_OK)
            rill_schema_free(&t);
    }
}

int main(void)
{
    tmp_start("seq");
    rill_pool_start(2, NULL);
    rill_schema s;
    rill_err err = {0};
    const char *yaml = tmp_write("s.yaml", "format: tsv\nheader: false\ncolumns:\n"
                                           "  - { name: y, role: label }\n"
                                           "  - { name: item, role: categorical }\n"
                                           "  - { name: hist, role: multi }\n");
    if (rill_schema_load_yaml(&s, yaml, &err)) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    /* row 0: 3 behaviours, row 1: 1, row 2: none, row 3: 5 (cut to the newest 3) */
    const char *data = tmp_write("d.tsv", "1\t7\t1|2|3\n0\t8\t4\n1\t9\t\n0\t7\t1|2|3|4|5\n");
    rill_reader_cfg cfg = {.path = data, .format = RILL_FMT_CSV, .schema = &s,
                           .part = RILL_PART_ALL, .batch = 8};
    rill_reader *r;
    const rill_batch *b;
    int rc = rill_reader_open(&r, &cfg, &err);
    if (rc || rill_reader_next(r, &b, &err) != 1) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_slots(&s, b);
    test_misuse(&s);
    rill_reader_close(r);
    rill_schema_free(&s);
    test_sequence_role(cfg);
    test_bad_schemas();
    rill_pool_stop();
    return done_testing();
}
