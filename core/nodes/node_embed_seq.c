/* embed_seq: a target and its behaviour sequence, embedded for target attention (the
 * Temporal Interest Module, DIN). Input: one ids node of exactly two fields, the target
 * (e.g. the candidate item) and the sequence (the user's earlier items, oldest first), best
 * encoded into one shared table (encode_hash{ fields = { "item", "hist_items" }, shared =
 * true }) so that behaviours and targets live in one space. Output (B, 1 + L, dim): slot 0
 * the target's embedding, slots 1 .. L the newest L behaviours, one each, oldest first and
 * left-padded with zeros (a row with k < L behaviours fills the last k slots); the mask of
 * real slots is for the attention node (seq.h). Arguments: dim (required), target and
 * sequence (the two fields' names, required), length (L, default 50), and embed's optim,
 * init, admit, prefill, evict_after. */
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "nodes.h"
#include "seq.h"

typedef struct {
    rill_lookup lk;
    int L, seq_field; /* the sequence's field index in the input */
    float *mask;      /* this step: B x L */
} seq_state;

static int seq_create(rill_node *n, rill_err *err)
{
    seq_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    rill_lookup_args a;
    long dim, L;
    const char *target, *sequence;
    int rc;
    if ((rc = rill_lookup_read_args(n, &a, err)) ||
        (rc = rill_args_int(&n->args, "dim", 0, 1, 1 << 16, &dim, err)) ||
        (rc = rill_args_int(&n->args, "length", 50, 2, 1 << 16, &L, err)) ||
        (rc = rill_args_str(&n->args, "target", NULL, &target, err)) ||
        (rc = rill_args_str(&n->args, "sequence", NULL, &sequence, err)))
        return rc;
    if (dim == 0 || !target || !sequence)
        return rill_node_errf(n, RILL_EINVAL, err, "arguments 'dim', 'target' and 'sequence' are "
                              "required, e.g. dim = 16, target = \"item\", sequence = "
                              "\"hist_items\"");
    if (a.mean)
        return rill_node_errf(n, RILL_EINVAL, err, "a sequence is not pooled: leave out "
                              "'pooling'");
    const rill_ids_layout *l = n->nin == 1 ? &n->in[0]->layout : NULL;
    if (!l || l->F != 2 || strcmp(l->field_names[0], target) != 0 ||
        strcmp(l->field_names[1], sequence) != 0)
        return rill_node_errf(n, RILL_EINVAL, err, "takes one ids input of exactly the fields "
                              "{ \"%s\", \"%s\" } in that order (target, then sequence)%s%s",
                              target, sequence, l ? ", got one of " : "",
                              l ? (l->F == 2 ? "two other fields or another order"
                                             : "another number of fields")
                                : "");
    if (!n->g->schema->cat_multi[rill_schema_cat(n->g->schema, sequence)])
        return rill_node_errf(n, RILL_EINVAL, err, "the sequence field '%s' is not multi-valued "
                              "(role multi in the schema)", sequence);
    if ((rc = rill_lookup_create(n, &st->lk, (int)dim, &a, NULL, err)))
        return rc;
    st->L = (int)L;
    st->seq_field = 1;
    rill_lookup_set_slots(&st->lk, 1, st->L);
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 2;
    n->dims[0] = 1 + st->L;
    n->dims[1] = (int)dim;
    return RILL_OK;
}

static int seq_forward(rill_node *n, rill_step *s, rill_err *err)
{
    seq_state *st = n->st;
    int rc = rill_lookup_forward(n, s, &st->lk, n->out, err);
    if (rc)
        return rc;
    st->mask = rill_node_alloc(n, s, (size_t)s->B * st->L * sizeof(float), true, err);
    if (!st->mask)
        return err->code;
    const rill_ids *ids = &n->in[0]->ids;
    int F = n->in[0]->layout.F;
    for (int b = 0; b < s->B; b++) {
        size_t slot = (size_t)b * F + (size_t)st->seq_field;
        int k = (int)(ids->off[slot + 1] - ids->off[slot]);
        if (k > st->L)
            k = st->L;
        for (int j = st->L - k; j < st->L; j++)
            st->mask[(size_t)b * st->L + j] = 1.0f;
    }
    return RILL_OK;
}

static int seq_backward(rill_node *n, rill_step *s, rill_err *err)
{
    seq_state *st = n->st;
    return rill_lookup_backward(n, s, &st->lk, n->dout, err);
}

static const float *seq_sequence(const rill_node *n, int *L)
{
    const seq_state *st = n->st;
    *L = st->L;
    return st->mask;
}

const float *rill_embed_seq_mask(const rill_node *n, int *L)
{
    return n->ops->sequence ? n->ops->sequence(n, L) : NULL;
}

int rill_seq_input(rill_node *n, int *L, rill_err *err)
{
    if (n->nin == 1 && n->in[0]->ops->sequence) {
        n->in[0]->ops->sequence(n->in[0], L);
        return RILL_OK;
    }
    if (n->nin == 2 && n->in[0]->out_kind == RILL_OUT_DENSE && n->in[0]->nd == 2 &&
        n->in[0]->dims[0] >= 2 && n->in[1]->out_kind == RILL_OUT_DENSE && n->in[1]->nd == 1 &&
        n->in[1]->dims[0] == n->in[0]->dims[0] - 1) {
        *L = n->in[0]->dims[0] - 1;
        return RILL_OK;
    }
    return rill_node_errf(n, RILL_ESHAPE, err, "takes one embed_seq input (a target and its "
                          "behaviour sequence), or a dense (B, 1 + L, D) input and its (B, L) "
                          "mask; got %d input(s)%s%s",
                          n->nin, n->nin ? ", the first " : "", n->nin ? n->in[0]->ops->name : "");
}

const float *rill_seq_mask_of(const rill_node *n)
{
    int L;
    return n->nin == 2 ? n->in[1]->out : rill_embed_seq_mask(n->in[0], &L);
}

int rill_seq_weights(const rill_node *n, int B, float *out)
{
    return n->ops->behaviour_weights ? n->ops->behaviour_weights(n, B, out) : RILL_EINVAL;
}

static rill_table *seq_field_table(rill_node *n, int f)
{
    return rill_lookup_table_of_field(&((seq_state *)n->st)->lk, f);
}

static void seq_destroy(rill_node *n)
{
    seq_state *st = n->st;
    if (st)
        rill_lookup_free(&st->lk);
    free(st);
}

static void seq_prefetch(rill_node *n, int B)
{
    rill_lookup_prefetch(&((seq_state *)n->st)->lk, B);
}

const rill_node_ops rill_node_embed_seq = {.name = "embed_seq",
    .args = (const char *const[]){"dim", "length", "sequence", "target", "admit", "evict_after", "init", "optim", "pooling", "prefill", NULL},
                                           .create = seq_create,
                                           .forward = seq_forward,
                                           .backward = seq_backward,
                                           .destroy = seq_destroy,
                                           .field_table = seq_field_table,
                                           .sequence = seq_sequence,
                                           .prefetch = seq_prefetch};
