/* Analyses of a trained run over its validation data: see analysis.h. */
#include "analysis.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "run.h"
#include "seq.h"

/* Called after each batch's forward, with the batch. */
typedef int (*batch_fn)(void *ud, const rill_batch *b, rill_err *err);

/* Opens the run (unless g is built already) and reads its data options: what every analysis
 * does first, before it looks for its nodes. */
static int open_analysis(rill_graph *g, rill_args *data, const rill_args *opts,
                         const char *run, rill_data_spec *d, rill_err *err)
{
    int rc = rill_data_spec_read(data, g->schema, 1024, 1, d, err);
    if (rc || g->built)
        return rc;
    if (!run)
        return rill_errf(err, RILL_EINVAL, "%s: which run? (run = its directory)", opts->who);
    return rill_run_open_for_reading(g, run, 1, err);
}

/* Runs g forward over the validation part of d, in file order, calling fn after each batch. */
static int over_validation(rill_graph *g, rill_data_spec *d, batch_fn fn, void *ud,
                           rill_err *err)
{
    rill_reader *valid = NULL;
    rill_arena arena;
    rill_arena_init(&arena, 0);
    int rc = rill_run_open_validation(d, NULL, &valid, err), got;
    const rill_batch *b;
    while (!rc && (got = rill_reader_next(valid, &b, err)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        rill_arena_reset(&arena);
        rill_step s = {.batch = b, .B = b->B, .training = false, .seed = g->seed, .arena = &arena};
        if (!(rc = rill_graph_forward(g, &s, NULL, err)))
            rc = fn(ud, b, err);
    }
    rill_reader_close(valid);
    rill_arena_free(&arena);
    return rc;
}

/* ---- gates ---- */

typedef struct {
    rill_gates_result *res;
    rill_node **nodes; /* the gates */
    double **sum;      /* per gate, per expert */
} gates_ctx;

static int gates_batch(void *ud, const rill_batch *b, rill_err *err)
{
    gates_ctx *c = ud;
    (void)err;
    for (int k = 0; k < c->res->ngates; k++) {
        int E;
        const float *w = c->nodes[k]->ops->mixture_weights(c->nodes[k], &E);
        for (int r = 0; r < b->B; r++)
            for (int e = 0; e < E; e++)
                c->sum[k][e] += (double)w[(size_t)r * E + e];
    }
    c->res->rows += (uint64_t)b->B;
    return RILL_OK;
}

/* res->gate and c's arrays for the gates of g, their sums zeroed */
static int find_gates(rill_graph *g, rill_gates_result *res, gates_ctx *c, rill_err *err)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        n += g->nodes[i]->ops->mixture_weights != NULL;
    if (n == 0)
        return rill_errf(err, RILL_EINVAL, "rill analyze gates: the run's graph has no gate node");
    res->gate = calloc((size_t)n, sizeof *res->gate);
    c->nodes = calloc((size_t)n, sizeof *c->nodes);
    c->sum = calloc((size_t)n, sizeof *c->sum);
    if (!res->gate || !c->nodes || !c->sum)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *gate = g->nodes[i];
        if (!gate->ops->mixture_weights)
            continue;
        rill_gate_means *m = &res->gate[res->ngates];
        c->nodes[res->ngates] = gate;
        c->sum[res->ngates++] = m->mean = calloc((size_t)gate->nin, sizeof *m->mean);
        m->expert = calloc((size_t)gate->nin, sizeof *m->expert);
        if (!m->mean || !m->expert)
            return rill_errf(err, RILL_ENOMEM, "out of memory");
        m->gate = gate->name;
        m->nexperts = gate->nin - 1; /* input 0 is what the gate reads */
        for (int e = 0; e < m->nexperts; e++) {
            const rill_node *x = gate->in[1 + e];
            while (x->ops->forwards_input) /* through stop_gradient: the expert behind it */
                x = x->in[0];
            m->expert[e] = x->name;
        }
    }
    return RILL_OK;
}

int rill_analyze_gates(rill_graph *g, rill_args *data, rill_args *opts, rill_gates_result *res,
                       rill_err *err)
{
    rill_data_spec d;
    gates_ctx c = {.res = res};
    const char *run;
    memset(res, 0, sizeof *res);
    int rc;
    if ((rc = rill_args_str(opts, "run", NULL, &run, err)) ||
        (rc = rill_args_check_unused(opts, err)) ||
        (rc = open_analysis(g, data, opts, run, &d, err)) ||
        (rc = find_gates(g, res, &c, err)) ||
        (rc = over_validation(g, &d, gates_batch, &c, err)))
        goto done;
    for (int k = 0; k < res->ngates; k++)
        for (int e = 0; e < res->gate[k].nexperts; e++)
            res->gate[k].mean[e] = res->rows ? c.sum[k][e] / (double)res->rows : (double)NAN;
done:
    free(c.nodes);
    free(c.sum); /* the sums themselves are res's means */
    if (rc)
        rill_gates_result_free(res);
    return rc;
}

void rill_gates_result_free(rill_gates_result *res)
{
    for (int k = 0; res->gate && k < res->ngates; k++) {
        free(res->gate[k].expert);
        free(res->gate[k].mean);
    }
    free(res->gate);
    memset(res, 0, sizeof *res);
}

/* ---- attention ---- */

/* Sums and counts keyed by a pair of 64-bit values. Both halves are full 64-bit hashes, so a
 * pair does not fit one u64 key as it is: each half is first interned to a u32 (its rank of
 * first sight), and the two u32s make the pair's u64 key. Exact (no hash collisions merge
 * pairs), and entries are in the order pairs were first seen. */
typedef struct {
    rill_idmap firsts, targets, pairs; /* u64 -> u32 rank; (rank, rank) -> entry */
    rill_pair_mean *e;                 /* mean holds the sum until pairs_finish */
    size_t n, cap;
} pair_stats;

static int pairs_init(pair_stats *p)
{
    memset(p, 0, sizeof *p);
    return rill_idmap_init(&p->firsts, 64) || rill_idmap_init(&p->targets, 64) ||
                   rill_idmap_init(&p->pairs, 64)
               ? RILL_ENOMEM
               : RILL_OK;
}

static void pairs_free(pair_stats *p)
{
    rill_idmap_free(&p->firsts);
    rill_idmap_free(&p->targets);
    rill_idmap_free(&p->pairs);
    free(p->e);
}

static int rank_of(rill_idmap *m, uint64_t key, uint32_t *rank)
{
    if (rill_idmap_reserve(m, 1))
        return RILL_ENOMEM;
    *rank = rill_idmap_intern(m, key, NULL);
    return RILL_OK;
}

static int pair_add(pair_stats *p, uint64_t first, uint64_t target, double w)
{
    uint32_t a, b;
    if (rank_of(&p->firsts, first, &a) || rank_of(&p->targets, target, &b) ||
        rill_idmap_reserve(&p->pairs, 1))
        return RILL_ENOMEM;
    uint64_t key = (uint64_t)a << 32 | b;
    size_t h = rill_idmap_slot(&p->pairs, key);
    if (p->pairs.vals[h] == RILL_IDMAP_EMPTY) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 256;
            rill_pair_mean *more = realloc(p->e, cap * sizeof *more);
            if (!more)
                return RILL_ENOMEM;
            p->e = more, p->cap = cap;
        }
        p->e[p->n] = (rill_pair_mean){.first = first, .target = target};
        rill_idmap_fill(&p->pairs, h, key, (uint32_t)p->n++);
    }
    rill_pair_mean *e = &p->e[p->pairs.vals[h]];
    e->mean += w;
    e->count++;
    return RILL_OK;
}

/* The entries of p, their sums made means, handed over to *out. */
static void pairs_finish(pair_stats *p, rill_pair_mean **out, size_t *n)
{
    for (size_t i = 0; i < p->n; i++)
        p->e[i].mean /= (double)p->e[i].count;
    *out = p->e, *n = p->n;
    p->e = NULL, p->n = p->cap = 0;
}

typedef struct {
    rill_attention_result *res;
    const rill_node *att, *seq;
    int sf, tcf, scf; /* the sequence's field; the target's and sequence's category fields */
    float *w;         /* a batch's weights, 1024 x L */
    pair_stats ps, pt; /* pt: (position, target category), weight x behaviours */
} attention_ctx;

/* One row's behaviours: their weights by position and, with categories, by pair. */
static int attention_row(attention_ctx *c, const rill_batch *b, const float *mask, int r)
{
    int L = c->res->L, sf = c->sf, tcf = c->tcf, scf = c->scf;
    uint32_t a = b->cat[sf].off[r], e = b->cat[sf].off[r + 1];
    uint32_t n = e - a, kept = n < (uint32_t)L ? n : (uint32_t)L;
    int pad = L - (int)kept;
    bool cats = tcf >= 0 && scf >= 0 && b->cat[scf].off[r + 1] - b->cat[scf].off[r] == n &&
                b->cat[tcf].off[r + 1] > b->cat[tcf].off[r];
    for (int j = pad; j < L; j++) {
        if (!(mask[(size_t)r * L + j] > 0.5f))
            continue;
        double wt = c->w[(size_t)r * L + j];
        c->res->mean[L - j] += wt;
        c->res->lift[L - j] += wt * (double)kept; /* against a uniform 1 / kept */
        c->res->count[L - j]++;
        if (cats) {
            uint64_t bc = b->cat[scf].val[b->cat[scf].off[r] + (n - kept) + (uint32_t)(j - pad)];
            uint64_t tc = b->cat[tcf].val[b->cat[tcf].off[r]];
            if (pair_add(&c->ps, bc, tc, wt) ||
                pair_add(&c->pt, (uint64_t)(L - j), tc, wt * (double)kept))
                return RILL_ENOMEM;
        }
    }
    return RILL_OK;
}

static int attention_batch(void *ud, const rill_batch *b, rill_err *err)
{
    attention_ctx *c = ud;
    int L;
    rill_seq_weights(c->att, b->B, c->w);
    const float *mask = c->seq->ops->sequence(c->seq, &L);
    for (int r = 0; r < b->B; r++)
        if (attention_row(c, b, mask, r))
            return rill_errf(err, RILL_ENOMEM, "out of memory");
    return RILL_OK;
}

/* The attention node named name, its sequence input and the category fields, into c. */
static int find_attention(rill_graph *g, const char *name, const char *tcat, const char *scat,
                          attention_ctx *c, rill_err *err)
{
    rill_node *att = name ? rill_graph_find(g, name) : NULL;
    if (!att || !att->ops->behaviour_weights || att->nin != 1 || !att->in[0]->ops->sequence)
        return rill_errf(err, RILL_EINVAL, "rill analyze correlation: '%s' is not a tim or din "
                         "node over an embed_seq", name ? name : "(none)");
    const rill_node *seq = att->in[0], *ids = seq->in[0];
    c->att = att, c->seq = seq;
    seq->ops->sequence(seq, &c->res->L);
    c->sf = rill_schema_cat(g->schema, ids->layout.field_names[1]);
    c->tcf = tcat ? rill_schema_cat(g->schema, tcat) : -1;
    c->scf = scat ? rill_schema_cat(g->schema, scat) : -1;
    if ((tcat && c->tcf < 0) || (scat && c->scf < 0))
        return rill_errf(err, RILL_EINVAL, "rill analyze correlation: no categorical field '%s'",
                         tcat && c->tcf < 0 ? tcat : scat);
    return RILL_OK;
}

int rill_analyze_attention(rill_graph *g, rill_args *data, rill_args *opts,
                           rill_attention_result *res, rill_err *err)
{
    const char *run, *node_name, *tcat, *scat;
    rill_data_spec d;
    attention_ctx c = {.res = res};
    memset(res, 0, sizeof *res);
    int rc;
    if ((rc = rill_args_str(opts, "run", NULL, &run, err)) ||
        (rc = rill_args_str(opts, "node", NULL, &node_name, err)) ||
        (rc = rill_args_str(opts, "target_cat", NULL, &tcat, err)) ||
        (rc = rill_args_str(opts, "sequence_cat", NULL, &scat, err)) ||
        (rc = rill_args_check_unused(opts, err)) ||
        (rc = open_analysis(g, data, opts, run, &d, err)) ||
        (rc = find_attention(g, node_name, tcat, scat, &c, err)))
        goto done;
    size_t L = (size_t)res->L;
    c.w = malloc(1024 * L * sizeof *c.w);
    res->mean = calloc(L + 1, sizeof *res->mean);
    res->lift = calloc(L + 1, sizeof *res->lift);
    res->count = calloc(L + 1, sizeof *res->count);
    if (!c.w || !res->mean || !res->lift || !res->count || pairs_init(&c.ps) ||
        pairs_init(&c.pt)) {
        rc = rill_errf(err, RILL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = over_validation(g, &d, attention_batch, &c, err)))
        goto done;
    for (size_t p = 1; p <= L; p++) {
        double n = (double)res->count[p];
        res->mean[p] = res->count[p] ? res->mean[p] / n : (double)NAN;
        res->lift[p] = res->count[p] ? res->lift[p] / n : (double)NAN;
    }
    pairs_finish(&c.ps, &res->pairs, &res->npairs);
    pairs_finish(&c.pt, &res->position_targets, &res->nposition_targets);
done:
    free(c.w);
    pairs_free(&c.ps);
    pairs_free(&c.pt);
    if (rc)
        rill_attention_result_free(res);
    return rc;
}

void rill_attention_result_free(rill_attention_result *res)
{
    free(res->mean);
    free(res->lift);
    free(res->count);
    free(res->pairs);
    free(res->position_targets);
    memset(res, 0, sizeof *res);
}
