/* The delimited-text line parser (CSV, TSV) driven by the schema's column layout (a YAML
 * schema, or the built-in Avazu one). A column is split at the separator, except inside a
 * quoted column ("a,b" with "" for a quote inside); quoted columns cannot span lines (the
 * reader is line-based). Categorical values are their text hashed to 64 bits (a quoted value
 * hashes as its content); numbers are decimal or scientific, empty = missing. Buffering,
 * splits, the header line and error prefixes live in reader.c. */
#include "reader_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int check_schema(const rill_schema *s, rill_err *err)
{
    if (s->text.ncols < 1 || !s->text.cols)
        return rill_errf(err, RILL_EINVAL, "schema '%s' has no column layout: the csv format "
                         "needs a schema from a YAML file or a built-in text one (avazu)",
                         s->name ? s->name : "?");
    return RILL_OK;
}

__attribute__((format(printf, 5, 6))) static int col_fail(rill_line_fail *fail, const char *line,
                                                          const char *at, const rill_column *c,
                                                          const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fail->col = (size_t)(at - line) + 1;
    snprintf(fail->what, sizeof fail->what, "column %s %s", c->name, what);
    return -1;
}

/* A number: the whole text, finite. */
static bool parse_number(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    *out = strtod(buf, &end);
    return end == buf + n && isfinite(*out);
}

/* One row of values of the columns, in order. Each value is [start, start + len), its
 * quotes removed when unescaping needed no copy; a value with doubled quotes inside is
 * unescaped into scratch. */
typedef struct {
    const char *s;
    size_t n;
    const char *at; /* where the column starts in the line, for messages */
} value;

/* A sequence keeps its newest max_length ids (the last ones) and their times. */
static void trim_sequence(rill_catcol *cc, int row, int max_length)
{
    uint32_t a = cc->off[row], n = cc->off[row + 1] - a;
    if (max_length <= 0 || n <= (uint32_t)max_length)
        return;
    uint32_t drop = n - (uint32_t)max_length;
    memmove(cc->val + a, cc->val + a + drop, (size_t)max_length * sizeof *cc->val);
    if (cc->time)
        memmove(cc->time + a, cc->time + a + drop, (size_t)max_length * sizeof *cc->time);
    cc->off[row + 1] = a + (uint32_t)max_length;
}

static int store_label(rill_batch *b, int row, const rill_column *c, const value *v,
                       const char *line, rill_line_fail *fail)
{
    char q[200];
    double x;
    if (c->positive) {
        x = strlen(c->positive) == v->n && memcmp(c->positive, v->s, v->n) == 0;
    } else if (!parse_number(v->s, v->n, &x)) {
        rill_quote_field(q, sizeof q, v->s, v->n);
        return col_fail(fail, line, v->at, c, "= '%s' is not a number (expected a label%s)", q,
                        c->has_threshold ? " to compare with the threshold" : ", 0 or 1");
    }
    if (c->positive) {
        /* x is already 0 or 1 */
    } else if (c->has_threshold) {
        x = x >= c->threshold;
    } else if (x < 0 || x > 1) {
        rill_quote_field(q, sizeof q, v->s, v->n);
        return col_fail(fail, line, v->at, c, "= '%s' is outside [0, 1] (expected a label, "
                        "0 or 1; give the column a threshold to make one from a score)", q);
    }
    b->labels[(size_t)row * b->schema->nlabels + (size_t)c->index] = (float)x;
    return 0;
}

static int store_weight(rill_batch *b, int row, const rill_column *c, const value *v,
                        const char *line, rill_line_fail *fail)
{
    char q[200];
    double x;
    if (!parse_number(v->s, v->n, &x) || x < 0) {
        rill_quote_field(q, sizeof q, v->s, v->n);
        return col_fail(fail, line, v->at, c, "= '%s' is not a weight (expected a number >= 0)",
                        q);
    }
    b->weights[row] = (float)x;
    return 0;
}

static int store_num(rill_batch *b, int row, const rill_column *c, const value *v,
                     const char *line, rill_line_fail *fail)
{
    char q[200];
    double x;
    float *out = &b->num[(size_t)row * b->schema->nnum + (size_t)c->index];
    if (v->n == 0) {
        *out = NAN;
        return 0;
    }
    if (!parse_number(v->s, v->n, &x)) {
        rill_quote_field(q, sizeof q, v->s, v->n);
        return col_fail(fail, line, v->at, c, "= '%s' is not a number (expected a decimal such "
                        "as 3, -0.5 or 1e-3, or empty)", q);
    }
    *out = (float)x;
    return 0;
}

/* Where the piece of a list at p ends: at the next sep, or at end. */
static const char *piece_end(const char *p, const char *end, char sep)
{
    const char *e = memchr(p, sep, (size_t)(end - p));
    return e ? e : end;
}

static int store_vector(rill_batch *b, int row, const rill_column *c, const value *v,
                        const char *line, rill_line_fail *fail)
{
    char q[200];
    double x;
    float *out = b->num + (size_t)row * b->schema->nnum + (size_t)c->index;
    if (v->n == 0) {
        for (int k = 0; k < c->dim; k++)
            out[k] = NAN;
        return 0;
    }
    const char *p = v->s, *end = v->s + v->n;
    int k = 0;
    while (p <= end) {
        const char *e = piece_end(p, end, c->sep);
        if (k == c->dim || !parse_number(p, (size_t)(e - p), &x)) {
            rill_quote_field(q, sizeof q, p, (size_t)(e - p));
            if (k == c->dim)
                return col_fail(fail, line, v->at, c, "has more than %d numbers (its dim)",
                                c->dim);
            return col_fail(fail, line, v->at, c, "number %d = '%s' is not a number (expected "
                            "%d numbers split on '%c')", k + 1, q, c->dim, c->sep);
        }
        out[k++] = (float)x;
        p = e + 1;
    }
    if (k != c->dim)
        return col_fail(fail, line, v->at, c, "has %d numbers, expected %d (its dim)", k, c->dim);
    return 0;
}

/* A sequence's times: its ids (an earlier column) are in the row already. */
static int store_times(rill_batch *b, int row, const rill_column *c, const value *v,
                       const char *line, rill_line_fail *fail)
{
    char q[200];
    double x;
    const rill_column *sq = &b->schema->text.cols[c->times_col];
    rill_catcol *cc = &b->cat[sq->index];
    uint32_t a = cc->off[row], n = cc->off[row + 1] - a, k = 0;
    const char *p = v->s, *end = v->s + v->n;
    while (v->n && p <= end) {
        const char *e = piece_end(p, end, c->sep);
        if (k == n || !parse_number(p, (size_t)(e - p), &x)) {
            rill_quote_field(q, sizeof q, p, (size_t)(e - p));
            if (k == n)
                return col_fail(fail, line, v->at, c, "has more times than its sequence %s has "
                                "ids (%u)", sq->name, n);
            return col_fail(fail, line, v->at, c, "time %u = '%s' is not a number", k + 1, q);
        }
        cc->time[a + k++] = x;
        p = e + 1;
    }
    if (k != n)
        return col_fail(fail, line, v->at, c, "has %u times, its sequence %s %u ids", k, sq->name,
                        n);
    trim_sequence(cc, row, sq->max_length);
    return 0;
}

/* A categorical column's value, or a multi-valued one's or a sequence's ids, hashed. */
static int store_ids(rill_batch *b, int row, const rill_column *c, const value *v,
                     const char *line, rill_line_fail *fail)
{
    rill_catcol *cc = &b->cat[c->index];
    uint32_t o = cc->off[row];
    if (c->role == RILL_COL_CAT) {
        if (v->n)
            cc->val[o++] = rill_hash_text(v->s, v->n);
    } else {
        size_t k = 0;
        for (size_t i = 0; i <= v->n && v->n; i++)
            k += i == v->n || v->s[i] == c->sep;
        if (rill_batch_reserve_cat(b, c->index, o, k)) {
            fail->col = (size_t)(v->at - line) + 1;
            snprintf(fail->what, sizeof fail->what, "out of memory for column %s", c->name);
            return -1;
        }
        const char *p = v->s, *end = v->s + v->n;
        while (v->n && p <= end) {
            const char *e = piece_end(p, end, c->sep);
            /* a sequence's pieces are all ids (its times line up with them one for one); a
             * multi-valued column's empty pieces (a|b||c, a trailing |) are no value */
            if (e == p && c->role == RILL_COL_SEQUENCE)
                return col_fail(fail, line, v->at, c, "has an empty id at position %u (expected "
                                "ids split on '%c')", o - cc->off[row] + 1, c->sep);
            if (e > p)
                cc->val[o++] = rill_hash_text(p, (size_t)(e - p));
            p = e + 1;
        }
    }
    cc->off[row + 1] = o;
    if (c->role == RILL_COL_SEQUENCE && c->times_col < 0) /* else after its times */
        trim_sequence(cc, row, c->max_length);
    return 0;
}

static int store(rill_batch *b, int row, const rill_column *c, const value *v, const char *line,
                 rill_line_fail *fail)
{
    switch (c->role) {
    case RILL_COL_SKIP:
        return 0;
    case RILL_COL_LABEL:
        return store_label(b, row, c, v, line, fail);
    case RILL_COL_WEIGHT:
        return store_weight(b, row, c, v, line, fail);
    case RILL_COL_NUM:
        return store_num(b, row, c, v, line, fail);
    case RILL_COL_VECTOR:
        return store_vector(b, row, c, v, line, fail);
    case RILL_COL_TIMES:
        return store_times(b, row, c, v, line, fail);
    case RILL_COL_CAT:
    case RILL_COL_MULTI:
    case RILL_COL_SEQUENCE:
        return store_ids(b, row, c, v, line, fail);
    }
    return 0;
}

static int line_fail(rill_line_fail *fail, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int line_fail(rill_line_fail *fail, size_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail->what, sizeof fail->what, fmt, ap);
    va_end(ap);
    fail->col = col;
    return -1;
}

/* A quoted value starting at p (its opening quote): up to the closing quote, "" inside is one
 * quote (unescaped into scratch, of cap bytes). *next: just past the closing quote and any
 * trimmed blanks, which must be the separator or the end of the line. */
static int read_quoted(const rill_text_layout *t, const rill_column *c, const char *line,
                       const char *p, const char *end, char *scratch, size_t cap, value *v,
                       const char **next, rill_line_fail *fail)
{
    const char *q = p + 1;
    size_t n = 0;
    bool copied = false;
    for (;;) {
        const char *e = memchr(q, t->quote, (size_t)(end - q));
        if (!e)
            return line_fail(fail, (size_t)(p - line) + 1, "column %s: a quote opens here and is "
                             "not closed on this line (quoted values cannot span lines)", c->name);
        bool doubled = e + 1 < end && e[1] == t->quote;
        if (doubled || copied) {
            /* unescaping: the piece up to here (with one quote if doubled) copied */
            size_t piece = (size_t)(e - q) + doubled;
            if (n + piece > cap)
                return line_fail(fail, (size_t)(p - line) + 1, "column %s: a quoted value with "
                                 "quotes inside longer than %zu bytes", c->name, cap);
            memcpy(scratch + n, q, piece);
            n += piece;
            copied = true;
        }
        if (doubled) {
            q = e + 2;
            continue;
        }
        v->s = copied ? scratch : q;
        v->n = copied ? n : (size_t)(e - q);
        *next = e + 1;
        break;
    }
    while (t->trim && *next < end && **next != t->sep && (**next == ' ' || **next == '\t'))
        (*next)++;
    if (*next < end && **next != t->sep)
        return line_fail(fail, (size_t)(*next - line) + 1, "column %s: text after the closing "
                         "quote (expected the separator or the end of the line)", c->name);
    return 0;
}

/* An unquoted value from p to the separator (or the end), trimmed when the layout says so. */
static void read_plain(const rill_text_layout *t, const char *p, const char *end, value *v,
                       const char **next)
{
    const char *e = memchr(p, t->sep, (size_t)(end - p));
    *next = e ? e : end;
    v->s = p;
    v->n = (size_t)(*next - p);
    while (t->trim && v->n && (v->s[0] == ' ' || v->s[0] == '\t')) {
        v->s++;
        v->n--;
    }
    while (t->trim && v->n && (v->s[v->n - 1] == ' ' || v->s[v->n - 1] == '\t'))
        v->n--;
}

static int parse(rill_batch *b, const char *line, size_t len, uint64_t lineno,
                 rill_line_fail *fail)
{
    const rill_text_layout *t = &b->schema->text;
    int row = b->B;
    if (rill_line_crlf(line, len, fail))
        return -1;
    /* categorical columns with no value keep their offsets: start them all empty */
    for (int f = 0; f < b->schema->ncat; f++)
        b->cat[f].off[row + 1] = b->cat[f].off[row];
    char scratch[4096];
    const char *p = line, *end = line + len;
    int col = 0;
    for (;;) {
        if (col == t->ncols)
            return line_fail(fail, (size_t)(p - line), "more than %d columns (the schema lists "
                             "%d)", t->ncols, t->ncols);
        const rill_column *c = &t->cols[col];
        if (t->trim && t->sep != ' ' && t->sep != '\t') /* spaces before a quote too */
            while (p < end && (*p == ' ' || *p == '\t') && p + 1 < end && p[1] != t->sep &&
                   (p[1] == ' ' || p[1] == '\t' || p[1] == t->quote))
                p++;
        value v = {.at = p};
        const char *next = end;
        if (t->quote && p < end && *p == t->quote) {
            if (read_quoted(t, c, line, p, end, scratch, sizeof scratch, &v, &next, fail))
                return -1;
        } else {
            read_plain(t, p, end, &v, &next);
        }
        if (store(b, row, c, &v, line, fail))
            return -1;
        col++;
        if (next >= end)
            break;
        p = next + 1; /* past the separator; a separator at the very end opens an empty column */
        if (p == end) {
            if (col == t->ncols)
                return line_fail(fail, len, "more than %d columns (a separator ends the line)",
                                 t->ncols);
            value empty = {.s = p, .n = 0, .at = p};
            if (store(b, row, &t->cols[col], &empty, line, fail))
                return -1;
            col++;
            break;
        }
    }
    if (col != t->ncols)
        return line_fail(fail, len ? len : 1, "%d column%s, expected %d (%s ... %s)", col,
                         col == 1 ? "" : "s", t->ncols, t->cols[0].name,
                         t->cols[t->ncols - 1].name);
    b->line[row] = lineno;
    b->B = row + 1;
    return 0;
}

const rill_format rill_format_csv = {
    .name = "csv",
    .check_schema = check_schema,
    .parse = parse,
};
