/* The libsvm / libfm / libffm line parser: "label feature:value ..." (libsvm, libfm) or
 * "label field:feature:value ..." (libffm), separated by spaces or tabs. The label is
 * positive when > 0 (1, or 1 against 0 or -1). Features are binary: a value other than 1 is
 * an error, since an embedding row has no weight to scale it by. The schema says where
 * features go (rill_schema_libsvm):
 *   - one multi-valued field "features" holding every feature id of the line;
 *   - N fields f1..fN: libsvm's i-th feature of the line is field fi (one-hot data such as
 *     Frappe, whose lines list one feature per field in field order); libffm's field number
 *     f (0-based) is field f(f+1).
 * Trailing CR (CRLF files such as the Frappe sample) is accepted: the format has no quoting
 * and nothing else could be meant. Buffering, splits and error prefixes live in reader.c. */
#include "reader_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_schema(const rill_schema *s, rill_err *err)
{
    if (!s->svm.is_svm)
        return rill_errf(err, RILL_EINVAL, "schema '%s' is not a libsvm schema (use "
                         "rill_schema_libsvm)", s->name ? s->name : "?");
    return RILL_OK;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* An unsigned decimal integer spanning [s, e). */
static bool parse_u64(const char *s, const char *e, uint64_t *out)
{
    if (s == e || e - s > 19)
        return false;
    uint64_t v = 0;
    for (; s < e; s++) {
        if ((unsigned)(*s - '0') > 9)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static int fail_at(rill_line_fail *fail, const char *line, const char *at, const char *fmt,
                   const char *tok, size_t n)
{
    char q[200]; /* control and non-ASCII bytes escaped, as in the other readers' messages */
    rill_quote_field(q, sizeof q, tok, n);
    fail->col = (size_t)(at - line) + 1;
    snprintf(fail->what, sizeof fail->what, fmt, q);
    return -1;
}

/* The label that starts the line (after blanks), positive when > 0; *p moves past it. */
static int read_label(const char *line, const char **p, const char *end, float *label,
                      rill_line_fail *fail)
{
    while (*p < end && is_space(**p))
        (*p)++;
    const char *t = *p;
    while (*p < end && !is_space(**p))
        (*p)++;
    if (t == *p) {
        fail->col = 1;
        snprintf(fail->what, sizeof fail->what, "an empty line (expected a label and features)");
        return -1;
    }
    char buf[32];
    size_t n = (size_t)(*p - t);
    char *e = buf;
    double x = 0;
    if (n < sizeof buf) {
        memcpy(buf, t, n);
        buf[n] = 0;
        x = strtod(buf, &e);
    }
    if (n >= sizeof buf || e != buf + n || x != x)
        return fail_at(fail, line, t, "label '%s' is not a number (expected 1, 0 or -1)", t, n);
    *label = x > 0 ? 1.0f : 0.0f;
    return 0;
}

/* The token [t, p), [field:]feature:value with value 1: its feature id and (libffm) its field
 * number, whose text starts at *fs (NULL for libsvm). */
static int read_feature(const rill_schema *s, const char *line, const char *t, const char *p,
                        uint64_t *id, uint64_t *field, const char **fs, rill_line_fail *fail)
{
    const char *c1 = memchr(t, ':', (size_t)(p - t));
    const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(p - c1 - 1)) : NULL;
    const char *fe = NULL, *is, *ie, *vs;
    *fs = NULL;
    if (s->svm.ffm) {
        if (!c2)
            return fail_at(fail, line, t, "'%s' is not field:feature:value", t, (size_t)(p - t));
        *fs = t;
        fe = c1;
        is = c1 + 1;
        ie = c2;
        vs = c2 + 1;
    } else {
        if (!c1 || c2)
            return fail_at(fail, line, t, "'%s' is not feature:value", t, (size_t)(p - t));
        is = t;
        ie = c1;
        vs = c1 + 1;
    }
    *field = 0;
    if (!parse_u64(is, ie, id))
        return fail_at(fail, line, is, "feature '%s' is not a whole number", is,
                       (size_t)(ie - is));
    if (*fs && !parse_u64(*fs, fe, field))
        return fail_at(fail, line, *fs, "field '%s' is not a whole number", *fs,
                       (size_t)(fe - *fs));
    if (!((p - vs == 1 && vs[0] == '1') ||
          (p - vs > 1 && strncmp(vs, "1.0", 3) == 0 && strspn(vs + 3, "0") == (size_t)(p - vs - 3))))
        return fail_at(fail, line, vs, "value '%s' is not 1 (the reader takes binary "
                                       "features)",
                       vs, (size_t)(p - vs));
    return 0;
}

/* The schema field of the line's k-th feature (token at t; libffm's field number `field`,
 * written at fs): the one "features" field, libffm's field, or the k-th field. */
static int field_of(const rill_schema *s, const char *line, const char *t, const char *fs,
                    uint64_t field, int k, int *f, rill_line_fail *fail)
{
    int nf = s->svm.fields;
    char what[80];
    if (nf == 0) {
        *f = 0;
    } else if (s->svm.ffm) {
        if (field >= (uint64_t)nf) {
            snprintf(what, sizeof what, "field %llu is past the %d fields",
                     (unsigned long long)field, nf);
            return fail_at(fail, line, fs, "%s", what, strlen(what));
        }
        *f = (int)field;
    } else {
        if (k >= nf) {
            snprintf(what, sizeof what, "more than %d features (one per field)", nf);
            return fail_at(fail, line, t, "%s", what, strlen(what));
        }
        *f = k;
    }
    return 0;
}

static int parse(rill_batch *b, const char *line, size_t len, uint64_t lineno,
                 rill_line_fail *fail)
{
    const rill_schema *s = b->schema;
    int row = b->B, nf = s->svm.fields;
    const char *p = line, *end = line + len;
    if (rill_line_crlf(line, len, NULL))
        end--;
    for (int f = 0; f < s->ncat; f++)
        b->cat[f].off[row + 1] = b->cat[f].off[row];
    if (read_label(line, &p, end, &b->labels[(size_t)row * s->nlabels], fail))
        return -1;
    int k = 0; /* features so far */
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        const char *t = p, *fs;
        while (p < end && !is_space(*p))
            p++;
        uint64_t id, field;
        int f;
        if (read_feature(s, line, t, p, &id, &field, &fs, fail) ||
            field_of(s, line, t, fs, field, k, &f, fail))
            return -1;
        if (rill_batch_reserve_cat(b, f, b->cat[f].off[row + 1], 1)) {
            fail->col = (size_t)(t - line) + 1;
            snprintf(fail->what, sizeof fail->what, "out of memory");
            return -1;
        }
        rill_catcol *cc = &b->cat[f];
        cc->val[cc->off[row + 1]++] = id;
        k++;
    }
    if (nf > 0 && !s->svm.ffm && k != nf) {
        fail->col = (size_t)(end - line) + 1;
        snprintf(fail->what, sizeof fail->what, "%d features, expected %d (one per field)", k, nf);
        return -1;
    }
    b->line[row] = lineno;
    b->B = row + 1;
    return 0;
}

const rill_format rill_format_libsvm = {
    .name = "libsvm",
    .check_schema = check_schema,
    .parse = parse,
};
