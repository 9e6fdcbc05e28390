/* Behaviour sequences through embed_seq and tim on rows read from a file: the target in slot
 * 0, the newest `length` behaviours in the last slots, oldest first, zeros and mask 0 in the
 * padding, a longer history cut to its newest; tim gives zeros for a row without behaviours
 * and weights that sum to 1 otherwise; misuse is refused with the node's name. */
#include "graphtest.h"
#include "pool.h"
#include "reader.h"
#include "seq.h"
#include "tmpfiles.h"

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
    /* the categorical values are text hashes: give each its own small id instead */
    rill_graph *g;
    rill_graph_create(&g, &s, &err);
    rill_node *ids = gt_add(g, "encode_hash", "ids", NULL, 0,
                            "fields={'item','hist'},buckets=1000003,shared=true,missing='none'", &err);
    rill_node *seq = ids ? gt_add(g, "embed_seq", "seq", &ids, 1,
                                  "dim=2,target='item',sequence='hist',length=3", &err)
                         : NULL;
    rill_node *tim = seq ? gt_add(g, "tim", "tim", &seq, 1, NULL, &err) : NULL;
    rill_node *din = seq ? gt_add(g, "din", "din", &seq, 1, "sizes={4}", &err) : NULL;
    if (!ok(tim && din && !rill_graph_build(g, 1, &err), "graph: encode_hash, embed_seq, tim, din"))
        diag("%s", err.msg);
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

    /* misuse */
    rill_graph_create(&g, &s, &err);
    ids = gt_add(g, "encode_hash", "ids2", NULL, 0, "fields={'hist','item'},shared=true", &err);
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
    rill_reader_close(r);
    rill_schema_free(&s);
    rill_pool_stop();
    return done_testing();
}
