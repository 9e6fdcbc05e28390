/* encode_hash: categorical values to table rows by 64-bit hashing, row = hash(value, field
 * salt) mod buckets. Arguments: fields (names, required), buckets (rows per field's table: a
 * number, or a list with one per field; default 2^20), shared (one table of `buckets` rows
 * for all fields, the field salt keeping equal values of different fields apart; default
 * false), missing ("own": a missing value gets its own row per field, default; "none": no
 * row, so its embedding is zero), seed (salt; default 0). */
#include <stdlib.h>
#include <string.h>

#include "encode_common.h"
#include "nodes.h"
#include "util.h"

typedef struct {
    int F;
    int *cols;
    uint64_t *salt, *buckets;
    bool missing_own;
} hash_state;

/* a value no hex field can hold is not needed: the missing row hashes a marker with the salt */
#define MISSING_MARK 0x6d697373696e6721ULL

static int hash_create(rill_node *n, rill_err *err)
{
    hash_state *st = calloc(1, sizeof *st);
    long *buckets = NULL;
    int nb = 0, rc, missing;
    bool shared;
    long seed;
    static const char *const missing_modes[] = {"own", "none", NULL};
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if ((rc = rill_encode_fields(n, RILL_FIELD_CAT, &st->cols, &st->F, err)) ||
        (rc = rill_args_int_list(&n->args, "buckets", 1, 1L << 40, &buckets, &nb, err)) ||
        (rc = rill_args_bool(&n->args, "shared", false, &shared, err)) ||
        (rc = rill_args_enum(&n->args, "missing", missing_modes, 0, &missing, err)) ||
        (rc = rill_args_int(&n->args, "seed", 0, 0, 1L << 53, &seed, err)))
        goto done;
    st->missing_own = missing == 0;
    if (nb > 1 && (shared || nb != st->F)) {
        rc = rill_node_errf(n, RILL_EINVAL, err,
                            "buckets has %d entries for %d fields%s: give one number, or one per "
                            "field",
                            nb, st->F, shared ? " in a shared table" : "");
        goto done;
    }
    st->salt = calloc((size_t)st->F, sizeof *st->salt);
    st->buckets = calloc((size_t)st->F, sizeof *st->buckets);
    int64_t *rows = calloc((size_t)st->F, sizeof *rows);
    if (!st->salt || !st->buckets || !rows) {
        free(rows);
        rc = rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        goto done;
    }
    for (int f = 0; f < st->F; f++) {
        const char *name = n->g->schema->cat_names[st->cols[f]];
        uint64_t h = (uint64_t)seed;
        for (const char *c = name; *c; c++)
            h = rill_hash64((uint64_t)(unsigned char)*c, h);
        st->salt[f] = h;
        st->buckets[f] = (uint64_t)(nb == 0 ? 1L << 20 : nb == 1 ? buckets[0] : buckets[f]);
        rows[f] = (int64_t)st->buckets[f];
    }
    rc = rill_encode_layout(n, RILL_FIELD_CAT, st->cols, st->F, rows, shared, err);
    free(rows);
done:
    free(buckets);
    return rc;
}

static int hash_forward(rill_node *n, rill_step *s, rill_err *err)
{
    hash_state *st = n->st;
    const rill_batch *b = s->batch;
    int F = st->F, B = s->B;
    size_t cap = 0;
    for (int f = 0; f < F; f++)
        cap += b->cat[st->cols[f]].off[B] + (size_t)B;
    n->ids.off = rill_node_alloc(n, s, ((size_t)B * F + 1) * sizeof(uint32_t), false, err);
    n->ids.id = rill_node_alloc(n, s, cap * sizeof(uint64_t), false, err);
    if (!n->ids.off || !n->ids.id)
        return err->code;
    uint32_t k = 0;
    for (int r = 0; r < B; r++)
        for (int f = 0; f < F; f++) {
            const rill_catcol *c = &b->cat[st->cols[f]];
            uint32_t a = c->off[r], e = c->off[r + 1];
            n->ids.off[(size_t)r * F + f] = k;
            if (a == e && st->missing_own)
                n->ids.id[k++] = rill_hash64(MISSING_MARK, st->salt[f]) % st->buckets[f];
            for (uint32_t i = a; i < e; i++)
                n->ids.id[k++] = rill_hash64(c->val[i], st->salt[f]) % st->buckets[f];
        }
    n->ids.off[(size_t)B * F] = k;
    return RILL_OK;
}

static void hash_destroy(rill_node *n)
{
    hash_state *st = n->st;
    if (st) {
        free(st->cols);
        free(st->salt);
        free(st->buckets);
    }
    free(st);
}

const rill_node_ops rill_node_encode_hash = {"encode_hash", hash_create, hash_forward, NULL,
                                             hash_destroy};
