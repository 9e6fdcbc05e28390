#include "batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static char *dupf(const char *fmt, int i)
{
    char buf[32];
    snprintf(buf, sizeof buf, fmt, i);
    return strdup(buf);
}

int rill_schema_criteo(rill_schema *s, rill_err *err)
{
    memset(s, 0, sizeof *s);
    s->name = strdup("criteo");
    s->nlabels = 1;
    s->label_names = calloc(1, sizeof(char *));
    s->nnum = 13;
    s->num_names = calloc(13, sizeof(char *));
    s->ncat = 26;
    s->cat_names = calloc(26, sizeof(char *));
    s->cat_multi = calloc(26, sizeof(bool));
    if (!s->name || !s->label_names || !s->num_names || !s->cat_names || !s->cat_multi)
        goto nomem;
    if (!(s->label_names[0] = strdup("label")))
        goto nomem;
    for (int i = 0; i < 13; i++)
        if (!(s->num_names[i] = dupf("I%d", i + 1)))
            goto nomem;
    for (int i = 0; i < 26; i++)
        if (!(s->cat_names[i] = dupf("C%d", i + 1)))
            goto nomem;
    return RILL_OK;
nomem:
    rill_schema_free(s);
    return rill_errf(err, RILL_ENOMEM, "out of memory building the criteo schema");
}

void rill_schema_free(rill_schema *s)
{
    if (s->label_names)
        for (int i = 0; i < s->nlabels; i++)
            free(s->label_names[i]);
    if (s->num_names)
        for (int i = 0; i < s->nnum; i++)
            free(s->num_names[i]);
    if (s->cat_names)
        for (int i = 0; i < s->ncat; i++)
            free(s->cat_names[i]);
    free(s->label_names);
    free(s->num_names);
    free(s->cat_names);
    free(s->cat_multi);
    free(s->name);
    for (int i = 0; s->text.cols && i < s->text.ncols; i++) {
        free(s->text.cols[i].name);
        free(s->text.cols[i].positive);
        free(s->text.cols[i].times);
    }
    free(s->cat_timed);
    free(s->text.cols);
    memset(s, 0, sizeof *s);
}

/* "where" or "where:LINE:COL" of column c, for messages */
static const char *at(char *buf, size_t cap, const char *where, const rill_column *c)
{
    if (c && c->line > 0)
        snprintf(buf, cap, "%s:%d:%d", where, c->line, c->col);
    else
        snprintf(buf, cap, "%s", where);
    return buf;
}

/* How many values of each kind a row has. */
typedef struct {
    int labels, weights, nums, cats;
} value_counts;

/* Each column's index among its role's values (labels, weights, numbers, ids), the names
 * distinct. */
static int index_columns(rill_schema *s, const char *where, value_counts *n, rill_err *err)
{
    char pos[600];
    int nl = 0, nn = 0, nc = 0, nw = 0;
    for (int i = 0; i < s->text.ncols; i++) {
        rill_column *c = &s->text.cols[i];
        for (int j = 0; j < i; j++)
            if (strcmp(s->text.cols[j].name, c->name) == 0)
                return rill_errf(err, RILL_EINVAL, "%s: two columns are named '%s' (columns %d "
                                 "and %d)", at(pos, sizeof pos, where, c), c->name, j + 1, i + 1);
        switch (c->role) {
        case RILL_COL_LABEL:
            c->index = nl++;
            break;
        case RILL_COL_WEIGHT:
            c->index = nw++;
            break;
        case RILL_COL_NUM:
            c->index = nn++;
            break;
        case RILL_COL_VECTOR:
            c->index = nn;
            nn += c->dim;
            break;
        case RILL_COL_CAT:
        case RILL_COL_MULTI:
        case RILL_COL_SEQUENCE:
            c->index = nc++;
            break;
        default:
            c->index = -1;
        }
    }
    *n = (value_counts){.labels = nl, .weights = nw, .nums = nn, .cats = nc};
    return RILL_OK;
}

/* A sequence's times: an existing column of role times, after it, for it alone; every times
 * column belongs to a sequence. */
static int link_times(rill_schema *s, const char *where, rill_err *err)
{
    char pos[600];
    for (int i = 0; i < s->text.ncols; i++)
        if (s->text.cols[i].role == RILL_COL_TIMES)
            s->text.cols[i].times_col = -1;
    for (int i = 0; i < s->text.ncols; i++) {
        rill_column *c = &s->text.cols[i];
        c->times_col = c->role == RILL_COL_TIMES ? c->times_col : -1;
        if (c->role != RILL_COL_SEQUENCE || !c->times)
            continue;
        int t = -1;
        for (int j = 0; j < s->text.ncols; j++)
            if (strcmp(s->text.cols[j].name, c->times) == 0)
                t = j;
        if (t < 0 || s->text.cols[t].role != RILL_COL_TIMES)
            return rill_errf(err, RILL_EINVAL, "%s: sequence '%s' names times column '%s', %s",
                             at(pos, sizeof pos, where, c), c->name, c->times,
                             t < 0 ? "which the schema does not have"
                                   : "which is not of role times");
        if (s->text.cols[t].times_col >= 0)
            return rill_errf(err, RILL_EINVAL, "%s: times column '%s' is named by two sequences",
                             at(pos, sizeof pos, where, c), c->times);
        if (t < i)
            return rill_errf(err, RILL_EINVAL, "%s: times column '%s' must come after its "
                             "sequence '%s'", at(pos, sizeof pos, where, c), c->times, c->name);
        s->text.cols[t].times_col = i;
        c->times_col = t;
        s->cat_timed[c->index] = true;
    }
    for (int i = 0; i < s->text.ncols; i++)
        if (s->text.cols[i].role == RILL_COL_TIMES && s->text.cols[i].times_col < 0)
            return rill_errf(err, RILL_EINVAL, "%s: times column '%s' belongs to no sequence (name "
                             "it in a sequence's 'times')", at(pos, sizeof pos, where, &s->text.cols[i]),
                             s->text.cols[i].name);
    return RILL_OK;
}

/* The names of labels, numbers (a vector's as name[k]) and id fields; which fields are
 * multi-valued; the grouping field (at most one). */
static int name_fields(rill_schema *s, const char *where, rill_err *err)
{
    char pos[600];
    for (int i = 0; i < s->text.ncols; i++) {
        const rill_column *c = &s->text.cols[i];
        if (c->role == RILL_COL_VECTOR) {
            for (int k = 0; k < c->dim; k++)
                if (!(s->num_names[c->index + k] = malloc(strlen(c->name) + 16)))
                    return rill_errf(err, RILL_ENOMEM, "out of memory");
                else
                    sprintf(s->num_names[c->index + k], "%s[%d]", c->name, k + 1);
            continue;
        }
        char **slot = c->role == RILL_COL_LABEL ? &s->label_names[c->index]
                      : c->role == RILL_COL_NUM ? &s->num_names[c->index]
                      : c->role == RILL_COL_CAT || c->role == RILL_COL_MULTI ||
                              c->role == RILL_COL_SEQUENCE
                          ? &s->cat_names[c->index]
                          : NULL;
        if (!slot)
            continue;
        if (!(*slot = strdup(c->name)))
            return rill_errf(err, RILL_ENOMEM, "out of memory");
        if (c->role == RILL_COL_MULTI || c->role == RILL_COL_SEQUENCE)
            s->cat_multi[c->index] = true;
        if (c->group) {
            if (s->has_group)
                return rill_errf(err, RILL_EINVAL, "%s: two columns group the examples ('%s' "
                                 "and '%s'; at most one)", at(pos, sizeof pos, where, c),
                                 s->cat_names[s->group_field], c->name);
            s->has_group = true;
            s->group_field = c->index;
        }
    }
    return RILL_OK;
}

int rill_schema_from_columns(rill_schema *s, const char *where, rill_err *err)
{
    char pos[600];
    value_counts n = {0};
    int rc;
    if ((rc = index_columns(s, where, &n, err)))
        return rc;
    int nl = n.labels, nw = n.weights, nn = n.nums, nc = n.cats;
    if (nl == 0)
        return rill_errf(err, RILL_EINVAL, "%s: no column has role label (a model needs one per "
                         "task)", where);
    if (nw > 1) {
        const rill_column *second = NULL;
        for (int i = 0, k = 0; i < s->text.ncols && !second; i++)
            if (s->text.cols[i].role == RILL_COL_WEIGHT && ++k == 2)
                second = &s->text.cols[i];
        return rill_errf(err, RILL_EINVAL, "%s: %d columns have role weight (at most one)",
                         at(pos, sizeof pos, where, second), nw);
    }
    s->nlabels = nl;
    s->nnum = nn;
    s->ncat = nc;
    s->has_weight = nw == 1;
    s->label_names = calloc((size_t)(nl ? nl : 1), sizeof(char *));
    s->num_names = calloc((size_t)(nn ? nn : 1), sizeof(char *));
    s->cat_names = calloc((size_t)(nc ? nc : 1), sizeof(char *));
    s->cat_multi = calloc((size_t)(nc ? nc : 1), sizeof(bool));
    s->cat_timed = calloc((size_t)(nc ? nc : 1), sizeof(bool));
    if (!s->label_names || !s->num_names || !s->cat_names || !s->cat_multi || !s->cat_timed)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    if ((rc = link_times(s, where, err)))
        return rc;
    return name_fields(s, where, err);
}

int rill_schema_avazu(rill_schema *s, rill_err *err)
{
    static const char *const names[] = {
        "id",         "click",          "hour",          "C1",          "banner_pos",
        "site_id",    "site_domain",    "site_category", "app_id",      "app_domain",
        "app_category", "device_id",    "device_ip",     "device_model", "device_type",
        "device_conn_type", "C14",      "C15",           "C16",         "C17",
        "C18",        "C19",            "C20",           "C21"};
    enum { N = sizeof names / sizeof names[0] };
    memset(s, 0, sizeof *s);
    s->text = (rill_text_layout){.sep = ',', .quote = '"', .header = true, .ncols = N};
    s->name = strdup("avazu");
    s->text.cols = calloc(N, sizeof *s->text.cols);
    if (!s->name || !s->text.cols)
        goto nomem;
    for (int i = 0; i < N; i++) {
        if (!(s->text.cols[i].name = strdup(names[i])))
            goto nomem;
        s->text.cols[i].role = i == 0 ? RILL_COL_SKIP : i == 1 ? RILL_COL_LABEL : RILL_COL_CAT;
    }
    int rc = rill_schema_from_columns(s, "the avazu schema", err);
    if (rc)
        rill_schema_free(s);
    return rc;
nomem:
    rill_schema_free(s);
    return rill_errf(err, RILL_ENOMEM, "out of memory building the avazu schema");
}

static int find(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int rill_schema_label(const rill_schema *s, const char *name)
{
    return find(s->label_names, s->nlabels, name);
}

int rill_schema_num(const rill_schema *s, const char *name)
{
    return find(s->num_names, s->nnum, name);
}

int rill_schema_cat(const rill_schema *s, const char *name)
{
    return find(s->cat_names, s->ncat, name);
}

int rill_batch_init(rill_batch *b, const rill_schema *s, int cap, rill_err *err)
{
    memset(b, 0, sizeof *b);
    b->schema = s;
    b->cap = cap;
    size_t n = (size_t)cap;
    b->labels = rill_alloc(n * (size_t)(s->nlabels ? s->nlabels : 1) * sizeof(float));
    b->weights = s->has_weight ? rill_alloc(n * sizeof(float)) : NULL;
    b->num = rill_alloc(n * (size_t)(s->nnum ? s->nnum : 1) * sizeof(float));
    b->line = rill_alloc(n * sizeof(uint64_t));
    b->cat = calloc((size_t)(s->ncat ? s->ncat : 1), sizeof *b->cat);
    if (!b->labels || (s->has_weight && !b->weights) || !b->num || !b->line || !b->cat)
        goto nomem;
    for (int f = 0; f < s->ncat; f++) {
        rill_catcol *c = &b->cat[f];
        c->off = rill_alloc((n + 1) * sizeof(uint32_t));
        c->val_cap = n;
        c->val = rill_alloc(n * sizeof(uint64_t));
        if (s->cat_timed && s->cat_timed[f] && !(c->time = rill_alloc(n * sizeof(double))))
            goto nomem;
        if (!c->off || !c->val)
            goto nomem;
        c->off[0] = 0;
    }
    return RILL_OK;
nomem:
    rill_batch_free(b);
    return rill_errf(err, RILL_ENOMEM, "out of memory for a batch of %d rows", cap);
}

void rill_batch_free(rill_batch *b)
{
    if (b->cat && b->schema)
        for (int f = 0; f < b->schema->ncat; f++) {
            rill_free(b->cat[f].off);
            rill_free(b->cat[f].val);
            rill_free(b->cat[f].time);
        }
    free(b->cat);
    rill_free(b->labels);
    rill_free(b->weights);
    rill_free(b->num);
    rill_free(b->line);
    memset(b, 0, sizeof *b);
}

void rill_batch_clear(rill_batch *b)
{
    b->B = 0;
    for (int f = 0; f < b->schema->ncat; f++)
        b->cat[f].off[0] = 0;
}

int rill_batch_reserve_cat(rill_batch *b, int f, size_t used, size_t more)
{
    rill_catcol *c = &b->cat[f];
    if (used + more <= c->val_cap)
        return RILL_OK;
    size_t cap = c->val_cap * 2;
    if (cap < used + more)
        cap = used + more;
    if (cap > UINT32_MAX)
        return RILL_ENOMEM;
    uint64_t *v = rill_alloc(cap * sizeof *v);
    double *t = c->time ? rill_alloc(cap * sizeof *t) : NULL;
    if (!v || (c->time && !t)) {
        rill_free(v);
        rill_free(t);
        return RILL_ENOMEM;
    }
    memcpy(v, c->val, used * sizeof *v);
    rill_free(c->val);
    c->val = v;
    if (t) {
        memcpy(t, c->time, used * sizeof *t);
        rill_free(c->time);
        c->time = t;
    }
    c->val_cap = cap;
    return RILL_OK;
}

int rill_batch_gather(rill_batch *dst, const rill_batch *src, const uint32_t *perm, int from,
                      int count, rill_err *err)
{
    const rill_schema *s = src->schema;
    if (count > dst->cap)
        return rill_errf(err, RILL_EINVAL, "batch gather: %d rows do not fit in %d", count,
                         dst->cap);
    rill_batch_clear(dst);
    int nl = s->nlabels, nn = s->nnum;
    for (int i = 0; i < count; i++) {
        uint32_t r = perm ? perm[from + i] : (uint32_t)(from + i);
        memcpy(dst->labels + (size_t)i * nl, src->labels + (size_t)r * nl, (size_t)nl * sizeof(float));
        memcpy(dst->num + (size_t)i * nn, src->num + (size_t)r * nn, (size_t)nn * sizeof(float));
        if (s->has_weight)
            dst->weights[i] = src->weights[r];
        dst->line[i] = src->line[r];
    }
    /* Field by field, so one field's offsets and values stay in cache. The rows are picked at
     * random from a shuffle chunk far larger than the caches: each row's offset is prefetched
     * AHEAD rows before it is needed and its values AHEAD / 2 rows before (their offset has
     * arrived by then), which keeps many misses in flight instead of one at a time. */
    enum { AHEAD = 16 };
    for (int f = 0; f < s->ncat; f++) {
        const rill_catcol *sc = &src->cat[f];
        rill_catcol *dc = &dst->cat[f];
        uint32_t o = 0;
        for (int i = 0; i < count; i++) {
            if (perm && i + AHEAD < count)
                __builtin_prefetch(sc->off + perm[from + i + AHEAD]);
            if (perm && i + AHEAD / 2 < count)
                __builtin_prefetch(sc->val + sc->off[perm[from + i + AHEAD / 2]]);
            uint32_t r = perm ? perm[from + i] : (uint32_t)(from + i);
            uint32_t a = sc->off[r], n = sc->off[r + 1] - a;
            if ((size_t)o + n > dc->val_cap && rill_batch_reserve_cat(dst, f, o, n))
                return rill_errf(err, RILL_ENOMEM, "out of memory gathering field %s",
                                 s->cat_names[f]);
            if (n == 1)
                dc->val[o] = sc->val[a];
            else
                memcpy(dc->val + o, sc->val + a, n * sizeof(uint64_t));
            if (sc->time && dc->time)
                memcpy(dc->time + o, sc->time + a, n * sizeof(double));
            o += n;
            dc->off[i + 1] = o;
        }
    }
    dst->B = count;
    return RILL_OK;
}

int rill_schema_libsvm(rill_schema *s, int fields, bool ffm, rill_err *err)
{
    memset(s, 0, sizeof *s);
    if (fields < 0 || fields > 4096 || (ffm && fields == 0))
        return rill_errf(err, RILL_EINVAL, "a libsvm schema of %d fields (expected %s to 4096)",
                         fields, ffm ? "1 (libffm names fields)" : "0 (one field) or 1");
    int nc = fields ? fields : 1;
    s->name = strdup(ffm ? "libffm" : "libsvm");
    s->nlabels = 1;
    s->label_names = calloc(1, sizeof(char *));
    s->num_names = calloc(1, sizeof(char *));
    s->ncat = nc;
    s->cat_names = calloc((size_t)nc, sizeof(char *));
    s->cat_multi = calloc((size_t)nc, sizeof(bool));
    s->svm.is_svm = true;
    s->svm.ffm = ffm;
    s->svm.fields = fields;
    if (!s->name || !s->label_names || !s->num_names || !s->cat_names || !s->cat_multi ||
        !(s->label_names[0] = strdup("label")))
        goto nomem;
    for (int f = 0; f < nc; f++) {
        s->cat_multi[f] = fields == 0 || ffm;
        if (!(s->cat_names[f] = fields ? dupf("f%d", f + 1) : strdup("features")))
            goto nomem;
    }
    return RILL_OK;
nomem:
    rill_schema_free(s);
    return rill_errf(err, RILL_ENOMEM, "out of memory building a libsvm schema");
}

int rill_schema_vector(const rill_schema *s, const char *name, int *dim)
{
    for (int i = 0; i < s->text.ncols; i++)
        if (s->text.cols[i].role == RILL_COL_VECTOR && strcmp(s->text.cols[i].name, name) == 0) {
            *dim = s->text.cols[i].dim;
            return s->text.cols[i].index;
        }
    return -1;
}
