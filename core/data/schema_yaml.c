/* Dataset schemas in YAML (libyaml's document API), for delimited text files:
 *
 *   format: csv            # csv (default) or tsv
 *   separator: ","         # one character; default "," for csv, "\t" for tsv
 *   quote: '"'             # one character, or "" for none; default '"' for csv, none for tsv
 *   header: true           # the first line names the columns; default true for csv, false for tsv
 *   trim: false            # true: spaces around unquoted values are not part of them
 *   columns:               # every column of the file, in order
 *     - { name: id, role: skip }
 *     - { name: click, role: label }
 *     - { name: rating, role: label, threshold: 4 }   # label = rating >= 4
 *     - { name: income, role: label, positive: "50000+." }  # label = (income == "50000+.")
 *     - { name: genres, role: multi, separator: "|" }
 *     - { name: age, role: numeric }
 *     - { name: city, role: categorical }
 *     - { name: user, role: categorical, group: true }  # grouped AUC per user
 *     - { name: w, role: weight }
 *     - { name: user_vec, role: vector, dim: 32 }       # 32 numbers split on " " (default)
 *     - { name: hist, role: sequence, max_length: 50, times: hist_t }  # ids, newest last
 *     - { name: hist_t, role: times }                   # their times (or positions)
 *
 * Everything is checked: unknown keys, wrong types, unknown roles, a separator on a role that
 * has none, duplicate names, no label. Each error names the file, line and column. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "batch.h"

typedef struct {
    const char *path;
    yaml_document_t *doc;
    rill_err *err;
} ctx;

__attribute__((format(printf, 3, 4))) static int fail_at(ctx *c, const yaml_node_t *n,
                                                          const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return rill_errf(c->err, RILL_EINVAL, "%s:%lu:%lu: %s", c->path,
                     (unsigned long)n->start_mark.line + 1, (unsigned long)n->start_mark.column + 1,
                     what);
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* The scalar's text, or an error naming key. */
static int scalar(ctx *c, const yaml_node_t *n, const char *key, const char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(c, n, "'%s' must be a single value, got %s", key, kind_name(n));
    *out = (const char *)n->data.scalar.value;
    return RILL_OK;
}

static int one_char(ctx *c, const yaml_node_t *n, const char *key, bool allow_empty, char *out)
{
    const char *v = "";
    int rc = scalar(c, n, key, &v);
    if (rc)
        return rc;
    size_t len = n->data.scalar.length;
    if (len == 0 && allow_empty) {
        *out = 0;
        return RILL_OK;
    }
    if (len == 1 && v[0] == 0)
        return fail_at(c, n, "'%s' is the NUL character \"\\0\", which cannot mark a column "
                             "(text files do not carry it)", key);
    if (len != 1 || v[0] == '\n' || v[0] == '\r')
        return fail_at(c, n,
                       allow_empty ? "'%s' must be one character or \"\" (none), got \"%s\""
                                   : "'%s' must be one character, got \"%s\"",
                       key, v);
    *out = v[0];
    return RILL_OK;
}

/* A mapping's pair p: its key node, its value node and the key's text. */
static int pair_at(ctx *c, const yaml_node_pair_t *p, yaml_node_t **k, yaml_node_t **v,
                   const char **key)
{
    *k = yaml_document_get_node(c->doc, p->key);
    *v = yaml_document_get_node(c->doc, p->value);
    *key = "";
    return scalar(c, *k, "a key", key);
}

/* A mapping's keys must be distinct scalars: YAML allows a repeated key and keeps one value, so
 * a second `role:` would silently win (or lose). what names the mapping for the message. */
static int distinct_keys(ctx *c, const yaml_node_t *m, const char *what)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *key = "";
        int rc = scalar(c, k, "a key", &key);
        if (rc)
            return rc;
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *e = yaml_document_get_node(c->doc, q->key);
            if (e->type == YAML_SCALAR_NODE && strcmp((const char *)e->data.scalar.value, key) == 0)
                return fail_at(c, k, "%s: key '%s' is given twice (first at line %lu)", what, key,
                               (unsigned long)e->start_mark.line + 1);
        }
    }
    return RILL_OK;
}

static int boolean(ctx *c, const yaml_node_t *n, const char *key, bool *out)
{
    const char *v = "";
    int rc = scalar(c, n, key, &v);
    if (rc)
        return rc;
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *out = v[0] == 't';
        return RILL_OK;
    }
    return fail_at(c, n, "'%s' must be true or false, got \"%s\"", key, v);
}

static int number(ctx *c, const yaml_node_t *n, const char *key, double *out)
{
    const char *v = "";
    int rc = scalar(c, n, key, &v);
    if (rc)
        return rc;
    char *end;
    *out = strtod(v, &end);
    if (end == v || *end != 0 || *out != *out)
        return fail_at(c, n, "'%s' must be a number, got \"%s\"", key, v);
    return RILL_OK;
}

/* A whole-number key of a column that only role `want` has, from 1 to hi. */
static int column_int(ctx *c, const yaml_node_t *v, const rill_column *col, const char *role,
                      int want, const char *key, int hi, int *out)
{
    static const char *const names[] = {[RILL_COL_VECTOR] = "vector",
                                        [RILL_COL_SEQUENCE] = "sequence"};
    double d;
    int rc;
    if (col->role != want)
        return fail_at(c, v, "column '%s': '%s' is for role %s, not %s", col->name, key,
                       names[want], role);
    if ((rc = number(c, v, key, &d)))
        return rc;
    if (!(d >= 1 && d <= hi) || d != floor(d)) /* the range first: (int)d must be defined */
        return fail_at(c, v, "column '%s': '%s' must be a whole number from 1 to %d, got %g",
                       col->name, key, hi, d);
    *out = (int)d;
    return RILL_OK;
}

/* A column's optional keys, by name (NULL when absent). */
typedef struct {
    const yaml_node_t *role, *sep, *thr, *group, *dim, *pos, *maxlen, *times;
} column_keys;

/* Reads the column mapping n's keys: its name into col, the others' nodes into keys. */
static int read_column_keys(ctx *c, const yaml_node_t *n, const char *where, rill_column *col,
                            column_keys *keys)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k, *v;
        const char *key;
        int rc = pair_at(c, p, &k, &v, &key);
        if (rc)
            return rc;
        if (strcmp(key, "name") == 0) {
            const char *name = "";
            if ((rc = scalar(c, v, "name", &name)))
                return rc;
            if (!name[0])
                return fail_at(c, v, "%s: 'name' is empty", where);
            free(col->name);
            if (!(col->name = strdup(name)))
                return rill_errf(c->err, RILL_ENOMEM, "out of memory");
            continue;
        }
        const yaml_node_t **slot = strcmp(key, "role") == 0         ? &keys->role
                                   : strcmp(key, "separator") == 0  ? &keys->sep
                                   : strcmp(key, "threshold") == 0  ? &keys->thr
                                   : strcmp(key, "group") == 0      ? &keys->group
                                   : strcmp(key, "dim") == 0        ? &keys->dim
                                   : strcmp(key, "positive") == 0   ? &keys->pos
                                   : strcmp(key, "max_length") == 0 ? &keys->maxlen
                                   : strcmp(key, "times") == 0      ? &keys->times
                                                                    : NULL;
        if (!slot)
            return fail_at(c, k, "unknown key '%s' in a column (known: name, role, separator, "
                                 "threshold, positive, group, dim, max_length, times)",
                           key);
        *slot = v;
    }
    return RILL_OK;
}

/* The column's role from its 'role' key, into col->role (and its text into *role). */
static int read_column_role(ctx *c, const yaml_node_t *n, const column_keys *keys,
                            rill_column *col, const char **role)
{
    static const char *const roles[] = {"skip",    "label",  "weight",   "categorical", "multi",
                                        "numeric", "vector", "sequence", "times",       NULL};
    if (!keys->role)
        return fail_at(c, n, "column '%s' has no 'role' (skip, label, weight, categorical, multi "
                             "or numeric)",
                       col->name);
    int rc = scalar(c, keys->role, "role", role);
    if (rc)
        return rc;
    col->role = -1;
    for (int r = 0; roles[r]; r++)
        if (strcmp(*role, roles[r]) == 0)
            col->role = r; /* the list follows RILL_COL_* */
    if (col->role < 0)
        return fail_at(c, keys->role, "unknown role '%s' for column '%s' (known: skip, label, "
                                      "weight, categorical, multi, numeric, vector, sequence, "
                                      "times)",
                       *role, col->name);
    return RILL_OK;
}

/* 'separator' and 'dim': the lists' and vectors' keys. */
static int read_column_shape(ctx *c, const yaml_node_t *n, const column_keys *keys,
                             rill_column *col, const char *role, const char *fallback_sep)
{
    int rc;
    bool listed = col->role == RILL_COL_MULTI || col->role == RILL_COL_SEQUENCE ||
                  col->role == RILL_COL_TIMES;
    if (keys->sep) {
        if (!listed && col->role != RILL_COL_VECTOR)
            return fail_at(c, keys->sep, "column '%s': 'separator' is for roles multi, sequence, "
                                         "times and vector, not %s",
                           col->name, role);
        if ((rc = one_char(c, keys->sep, "separator", false, &col->sep)))
            return rc;
    } else if (listed) {
        col->sep = *fallback_sep;
    } else if (col->role == RILL_COL_VECTOR) {
        col->sep = ' ';
    }
    if (keys->dim)
        return column_int(c, keys->dim, col, role, RILL_COL_VECTOR, "dim", 4096, &col->dim);
    if (col->role == RILL_COL_VECTOR)
        return fail_at(c, n, "column '%s': a vector needs its 'dim' (how many numbers)",
                       col->name);
    return RILL_OK;
}

/* A copy of the scalar of key, which only role `want` has. */
static int column_text(ctx *c, const yaml_node_t *v, const rill_column *col, const char *role,
                       int want, const char *key, char **out)
{
    static const char *const names[] = {[RILL_COL_LABEL] = "label",
                                        [RILL_COL_SEQUENCE] = "sequence"};
    const char *text = "";
    int rc;
    if (col->role != want)
        return fail_at(c, v, "column '%s': '%s' is for role %s, not %s", col->name, key,
                       names[want], role);
    if ((rc = scalar(c, v, key, &text)))
        return rc;
    if (!(*out = strdup(text)))
        return rill_errf(c->err, RILL_ENOMEM, "out of memory");
    return RILL_OK;
}

/* 'threshold', 'max_length', 'times', 'positive', 'group', in that order of checking. */
static int read_column_options(ctx *c, const column_keys *keys, rill_column *col,
                               const char *role)
{
    int rc;
    if (keys->thr) {
        if (col->role != RILL_COL_LABEL)
            return fail_at(c, keys->thr, "column '%s': 'threshold' is for role label, not %s",
                           col->name, role);
        if ((rc = number(c, keys->thr, "threshold", &col->threshold)))
            return rc;
        col->has_threshold = true;
    }
    if (keys->maxlen && (rc = column_int(c, keys->maxlen, col, role, RILL_COL_SEQUENCE,
                                         "max_length", 1000000, &col->max_length)))
        return rc;
    if (keys->times &&
        (rc = column_text(c, keys->times, col, role, RILL_COL_SEQUENCE, "times", &col->times)))
        return rc;
    if (keys->pos) {
        if (col->role == RILL_COL_LABEL && keys->thr)
            return fail_at(c, keys->pos, "column '%s': give 'threshold' or 'positive', not both",
                           col->name);
        if ((rc = column_text(c, keys->pos, col, role, RILL_COL_LABEL, "positive",
                              &col->positive)))
            return rc;
    }
    if (keys->group) {
        if ((rc = boolean(c, keys->group, "group", &col->group)))
            return rc;
        if (col->group && col->role != RILL_COL_CAT)
            return fail_at(c, keys->group, "column '%s': 'group' is for a categorical column "
                                           "(the examples' group, e.g. the user), not %s",
                           col->name, role);
    }
    return RILL_OK;
}

static int column(ctx *c, const yaml_node_t *n, int i, rill_column *col, char *fallback_sep)
{
    char where[48];
    snprintf(where, sizeof where, "column %d", i + 1);
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(c, n, "%s must be a mapping such as { name: click, role: label }, got %s",
                       where, kind_name(n));
    column_keys keys = {0};
    const char *role = "";
    int rc;
    if ((rc = distinct_keys(c, n, where)) || (rc = read_column_keys(c, n, where, col, &keys)))
        return rc;
    if (!col->name)
        return fail_at(c, n, "%s has no 'name'", where);
    if ((rc = read_column_role(c, n, &keys, col, &role)) ||
        (rc = read_column_shape(c, n, &keys, col, role, fallback_sep)))
        return rc;
    return read_column_options(c, &keys, col, role);
}

/* The schema's top-level keys (NULL when absent). */
typedef struct {
    const yaml_node_t *format, *sep, *quote, *header, *cols, *trim;
} schema_keys;

static int read_schema_keys(ctx *c, const yaml_node_t *root, schema_keys *keys)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k, *v;
        const char *key;
        int rc = pair_at(c, p, &k, &v, &key);
        if (rc)
            return rc;
        const yaml_node_t **slot = strcmp(key, "format") == 0      ? &keys->format
                                   : strcmp(key, "separator") == 0 ? &keys->sep
                                   : strcmp(key, "quote") == 0     ? &keys->quote
                                   : strcmp(key, "header") == 0    ? &keys->header
                                   : strcmp(key, "columns") == 0   ? &keys->cols
                                   : strcmp(key, "trim") == 0      ? &keys->trim
                                                                   : NULL;
        if (!slot)
            return fail_at(c, k, "unknown key '%s' (known: format, separator, quote, header, "
                                 "trim, columns)",
                           key);
        if (*slot)
            return fail_at(c, k, "key '%s' is given twice", key);
        *slot = v;
    }
    return RILL_OK;
}

/* format, separator, quote, header, trim: the file's layout, with the format's defaults. */
static int read_layout(ctx *c, const yaml_node_t *root, const schema_keys *keys,
                       rill_text_layout *t)
{
    bool tsv = false;
    int rc;
    if (keys->format) {
        const char *f = "";
        if ((rc = scalar(c, keys->format, "format", &f)))
            return rc;
        if (strcmp(f, "csv") != 0 && strcmp(f, "tsv") != 0)
            return fail_at(c, keys->format, "'format' must be csv or tsv, got \"%s\"", f);
        tsv = f[0] == 't';
    }
    t->sep = tsv ? '\t' : ',';
    t->quote = tsv ? 0 : '"';
    t->header = !tsv;
    if (keys->sep && (rc = one_char(c, keys->sep, "separator", false, &t->sep)))
        return rc;
    if (keys->quote && (rc = one_char(c, keys->quote, "quote", true, &t->quote)))
        return rc;
    if (keys->header && (rc = boolean(c, keys->header, "header", &t->header)))
        return rc;
    if (keys->trim && (rc = boolean(c, keys->trim, "trim", &t->trim)))
        return rc;
    if (t->quote && t->quote == t->sep)
        return fail_at(c, keys->quote ? keys->quote : root, "the quote and the separator are the "
                                                            "same character '%c'",
                       t->sep);
    return RILL_OK;
}

/* The 'columns' list, into t->cols; at least one label. */
static int read_columns(ctx *c, const yaml_node_t *root, const yaml_node_t *cols,
                        rill_text_layout *t)
{
    int rc;
    if (!cols)
        return fail_at(c, root, "the schema has no 'columns' (the file's columns in order, each "
                                "{ name: ..., role: ... })");
    if (cols->type != YAML_SEQUENCE_NODE || cols->data.sequence.items.start ==
                                                cols->data.sequence.items.top)
        return fail_at(c, cols, "'columns' must be a non-empty list, got %s",
                       cols->type == YAML_SEQUENCE_NODE ? "an empty one" : kind_name(cols));
    int n = (int)(cols->data.sequence.items.top - cols->data.sequence.items.start);
    t->cols = calloc((size_t)n, sizeof *t->cols);
    if (!t->cols)
        return rill_errf(c->err, RILL_ENOMEM, "out of memory");
    t->ncols = n;
    /* a multi column's default separator: one that is not the file's */
    char multi_sep = t->sep == '|' ? ';' : '|';
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, cols->data.sequence.items.start[i]);
        if ((rc = column(c, item, i, &t->cols[i], &multi_sep)))
            return rc;
        t->cols[i].line = (int)item->start_mark.line + 1;
        t->cols[i].col = (int)item->start_mark.column + 1;
        int r = t->cols[i].role;
        if ((r == RILL_COL_MULTI || r == RILL_COL_VECTOR || r == RILL_COL_SEQUENCE ||
             r == RILL_COL_TIMES) &&
            t->cols[i].sep == t->sep)
            return fail_at(c, item, "column '%s': its values' separator is the file's column "
                                    "separator '%c'",
                           t->cols[i].name, t->sep);
    }
    int labels = 0;
    for (int i = 0; i < n; i++)
        labels += t->cols[i].role == RILL_COL_LABEL;
    if (!labels) /* checked here too, to name the columns' place in the file */
        return fail_at(c, cols, "no column has role label (a model needs one per task)");
    return RILL_OK;
}

static int load(ctx *c, rill_schema *s)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root)
        return rill_errf(c->err, RILL_EINVAL, "%s: the schema is empty (expected format, "
                         "header and columns)", c->path);
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(c, root, "the schema must be a mapping of format, separator, quote, "
                                "header and columns, got %s",
                       kind_name(root));
    schema_keys keys = {0};
    int rc;
    if ((rc = read_schema_keys(c, root, &keys)) || (rc = read_layout(c, root, &keys, &s->text)) ||
        (rc = read_columns(c, root, keys.cols, &s->text)))
        return rc;
    return rill_schema_from_columns(s, c->path, c->err);
}

int rill_schema_load_yaml(rill_schema *s, const char *path, rill_err *err)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f)
        return rill_errf(err, RILL_EIO, "%s: cannot open the schema: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = RILL_OK;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory for the YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = rill_errf(err, RILL_EINVAL, "%s:%lu:%lu: YAML syntax error: %s%s%s", path,
                       (unsigned long)parser.problem_mark.line + 1,
                       (unsigned long)parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "unreadable",
                       parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(f);
        return rc;
    }
    ctx c = {.path = path, .doc = &doc, .err = err};
    s->name = strdup(path);
    rc = s->name ? load(&c, s) : rill_errf(err, RILL_ENOMEM, "out of memory");
    yaml_document_delete(&doc);
    if (!rc) {
        /* a schema is one document: a second one (after ---) would be ignored */
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more))
            rc = rill_errf(err, RILL_EINVAL, "%s:%lu:%lu: YAML syntax error: %s", path,
                           (unsigned long)parser.problem_mark.line + 1,
                           (unsigned long)parser.problem_mark.column + 1,
                           parser.problem ? parser.problem : "unreadable");
        else {
            yaml_node_t *root = yaml_document_get_root_node(&more);
            if (root)
                rc = rill_errf(err, RILL_EINVAL, "%s:%lu: a second YAML document: a schema is "
                               "one document (remove the '---' and what follows, or merge them)",
                               path, (unsigned long)more.start_mark.line + 1);
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc)
        rill_schema_free(s);
    return rc;
}
