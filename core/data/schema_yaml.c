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

static int column(ctx *c, const yaml_node_t *n, int i, rill_column *col, char *fallback_sep)
{
    static const char *const roles[] = {"skip",    "label",  "weight",   "categorical", "multi",
                                        "numeric", "vector", "sequence", "times",       NULL};
    char where[48];
    snprintf(where, sizeof where, "column %d", i + 1);
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(c, n, "%s must be a mapping such as { name: click, role: label }, got %s",
                       where, kind_name(n));
    const yaml_node_t *role_node = NULL, *sep_node = NULL, *thr_node = NULL, *group_node = NULL,
                      *dim_node = NULL, *pos_node = NULL, *maxlen_node = NULL,
                      *times_node = NULL;
    int drc = distinct_keys(c, n, where);
    if (drc)
        return drc;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = "";
        int rc = scalar(c, k, "a key", &key);
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
        } else if (strcmp(key, "role") == 0) {
            role_node = v;
        } else if (strcmp(key, "separator") == 0) {
            sep_node = v;
        } else if (strcmp(key, "threshold") == 0) {
            thr_node = v;
        } else if (strcmp(key, "group") == 0) {
            group_node = v;
        } else if (strcmp(key, "dim") == 0) {
            dim_node = v;
        } else if (strcmp(key, "positive") == 0) {
            pos_node = v;
        } else if (strcmp(key, "max_length") == 0) {
            maxlen_node = v;
        } else if (strcmp(key, "times") == 0) {
            times_node = v;
        } else {
            return fail_at(c, k, "unknown key '%s' in a column (known: name, role, separator, "
                                 "threshold, positive, group, dim, max_length, times)",
                           key);
        }
    }
    if (!col->name)
        return fail_at(c, n, "%s has no 'name'", where);
    if (!role_node)
        return fail_at(c, n, "column '%s' has no 'role' (skip, label, weight, categorical, multi "
                             "or numeric)",
                       col->name);
    const char *role = "";
    int rc = scalar(c, role_node, "role", &role);
    if (rc)
        return rc;
    col->role = -1;
    for (int r = 0; roles[r]; r++)
        if (strcmp(role, roles[r]) == 0)
            col->role = r; /* the list follows RILL_COL_* */
    if (col->role < 0)
        return fail_at(c, role_node, "unknown role '%s' for column '%s' (known: skip, label, "
                                     "weight, categorical, multi, numeric, vector, sequence, times)",
                       role, col->name);
    bool listed = col->role == RILL_COL_MULTI || col->role == RILL_COL_SEQUENCE ||
                  col->role == RILL_COL_TIMES;
    if (sep_node) {
        if (!listed && col->role != RILL_COL_VECTOR)
            return fail_at(c, sep_node, "column '%s': 'separator' is for roles multi, sequence, "
                                        "times and vector, not %s",
                           col->name, role);
        if ((rc = one_char(c, sep_node, "separator", false, &col->sep)))
            return rc;
    } else if (listed) {
        col->sep = *fallback_sep;
    } else if (col->role == RILL_COL_VECTOR) {
        col->sep = ' ';
    }
    if (dim_node) {
        if ((rc = column_int(c, dim_node, col, role, RILL_COL_VECTOR, "dim", 4096, &col->dim)))
            return rc;
    } else if (col->role == RILL_COL_VECTOR) {
        return fail_at(c, n, "column '%s': a vector needs its 'dim' (how many numbers)",
                       col->name);
    }
    if (thr_node) {
        if (col->role != RILL_COL_LABEL)
            return fail_at(c, thr_node, "column '%s': 'threshold' is for role label, not %s",
                           col->name, role);
        if ((rc = number(c, thr_node, "threshold", &col->threshold)))
            return rc;
        col->has_threshold = true;
    }
    if (maxlen_node && (rc = column_int(c, maxlen_node, col, role, RILL_COL_SEQUENCE,
                                        "max_length", 1000000, &col->max_length)))
        return rc;
    if (times_node) {
        const char *text = "";
        if (col->role != RILL_COL_SEQUENCE)
            return fail_at(c, times_node, "column '%s': 'times' is for role sequence, not %s",
                           col->name, role);
        if ((rc = scalar(c, times_node, "times", &text)))
            return rc;
        if (!(col->times = strdup(text)))
            return rill_errf(c->err, RILL_ENOMEM, "out of memory");
    }
    if (pos_node) {
        const char *text = "";
        if (col->role != RILL_COL_LABEL)
            return fail_at(c, pos_node, "column '%s': 'positive' is for role label, not %s",
                           col->name, role);
        if (thr_node)
            return fail_at(c, pos_node, "column '%s': give 'threshold' or 'positive', not both",
                           col->name);
        if ((rc = scalar(c, pos_node, "positive", &text)))
            return rc;
        if (!(col->positive = strdup(text)))
            return rill_errf(c->err, RILL_ENOMEM, "out of memory");
    }
    if (group_node) {
        if ((rc = boolean(c, group_node, "group", &col->group)))
            return rc;
        if (col->group && col->role != RILL_COL_CAT)
            return fail_at(c, group_node, "column '%s': 'group' is for a categorical column "
                                          "(the examples' group, e.g. the user), not %s",
                           col->name, role);
    }
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
    const yaml_node_t *format = NULL, *sep = NULL, *quote = NULL, *header = NULL, *cols = NULL,
                      *trim = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = "";
        int rc = scalar(c, k, "a key", &key);
        if (rc)
            return rc;
        const yaml_node_t **slot = strcmp(key, "format") == 0      ? &format
                                   : strcmp(key, "separator") == 0 ? &sep
                                   : strcmp(key, "quote") == 0     ? &quote
                                   : strcmp(key, "header") == 0    ? &header
                                   : strcmp(key, "columns") == 0   ? &cols
                                   : strcmp(key, "trim") == 0      ? &trim
                                                                   : NULL;
        if (!slot)
            return fail_at(c, k, "unknown key '%s' (known: format, separator, quote, header, "
                                 "trim, columns)",
                           key);
        if (*slot)
            return fail_at(c, k, "key '%s' is given twice", key);
        *slot = v;
    }
    bool tsv = false;
    if (format) {
        const char *f = "";
        int rc = scalar(c, format, "format", &f);
        if (rc)
            return rc;
        if (strcmp(f, "csv") != 0 && strcmp(f, "tsv") != 0)
            return fail_at(c, format, "'format' must be csv or tsv, got \"%s\"", f);
        tsv = f[0] == 't';
    }
    rill_text_layout *t = &s->text;
    t->sep = tsv ? '\t' : ',';
    t->quote = tsv ? 0 : '"';
    t->header = !tsv;
    int rc;
    if (sep && (rc = one_char(c, sep, "separator", false, &t->sep)))
        return rc;
    if (quote && (rc = one_char(c, quote, "quote", true, &t->quote)))
        return rc;
    if (header && (rc = boolean(c, header, "header", &t->header)))
        return rc;
    if (trim && (rc = boolean(c, trim, "trim", &t->trim)))
        return rc;
    if (t->quote && t->quote == t->sep)
        return fail_at(c, quote ? quote : root, "the quote and the separator are the same "
                                                "character '%c'",
                       t->sep);
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
