/* The Criteo TSV line parser: label, I1..I13, C1..C26, tab-separated, one row per line.
 * The fast path parses the common, valid line in one pass with no library calls; anything
 * unusual (a wrong character, too many digits, a short or long line) falls to a slow path
 * that re-reads the line field by field and either accepts it or says exactly what is wrong.
 * Buffering, splits and error prefixes live in reader.c. */
#include "reader_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { NNUM = 13, NCAT = 26, NCOL = 1 + NNUM + NCAT };

#define COLUMNS_EXPECTED "expected 40 (label, I1..I13, C1..C26)"
#define INT_EXPECTED "expected a decimal integer such as 42 or -1, or empty"
#define HEX_EXPECTED "expected 1 to 16 hex digits or empty"

/* Hex digit value + 1, so that 0 means "not a hex digit" and the table needs no fill. */
static const uint8_t hexv[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16,
};

static int check_schema(const rill_schema *s, rill_err *err)
{
    bool multi = false;
    for (int f = 0; s->cat_multi && f < s->ncat; f++)
        multi |= s->cat_multi[f];
    if (s->nlabels != 1 || s->has_weight || s->nnum != NNUM || s->ncat != NCAT || multi)
        return rill_errf(err, RILL_EINVAL,
                         "the criteo format fills the criteo schema (1 label, %d counts, %d "
                         "single-valued categorical fields, no weight), but schema '%s' has "
                         "%d label(s), %d numeric and %d categorical fields%s%s: use "
                         "rill_schema_criteo",
                         NNUM, NCAT, s->name ? s->name : "?", s->nlabels, s->nnum, s->ncat,
                         s->has_weight ? ", a weight" : "", multi ? ", multi-valued fields" : "");
    return RILL_OK;
}

static const char *field_name(const rill_schema *s, int col, char *buf, size_t cap)
{
    if (col == 0)
        return "label";
    if (col <= NNUM) {
        if (s->num_names && s->num_names[col - 1])
            return s->num_names[col - 1];
        snprintf(buf, cap, "I%d", col);
    } else {
        if (s->cat_names && s->cat_names[col - 1 - NNUM])
            return s->cat_names[col - 1 - NNUM];
        snprintf(buf, cap, "C%d", col - NNUM);
    }
    return buf;
}

static int field_fail(rill_line_fail *fail, const rill_schema *s, int col, const char *line,
                      const char *f, size_t n, const char *problem, const char *expected)
{
    char name[16], q[200];
    rill_quote_field(q, sizeof q, f, n);
    fail->col = (size_t)(f - line) + 1;
    snprintf(fail->what, sizeof fail->what, "field %s = '%s' %s (%s)",
             field_name(s, col, name, sizeof name), q, problem, expected);
    return -1;
}

/* Decimal integer with optional '-', exact, with overflow detection. 0 ok, -1 not an
 * integer, -2 out of int64 range. */
static int parse_int_exact(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    if (i == n)
        return -1;
    for (; i < n; i++)
        if ((unsigned)(s[i] - '0') > 9)
            return -1;
    for (i = neg; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    /* Two's complement wrap is what we want for -2^63; GCC defines the conversion. */
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Field by field, authoritative: stores the row and returns 0, or fills fail. Used when the
 * fast path meets anything it does not handle; real data rarely gets here. */
static int parse_slow(rill_batch *b, const char *line, size_t len, uint64_t lineno,
                      rill_line_fail *fail)
{
    const rill_schema *s = b->schema;
    int row = b->B;
    if (rill_line_crlf(line, len, fail))
        return -1;
    int ncol = 1;
    for (const char *t = line; (t = memchr(t, '\t', (size_t)(line + len - t))) != NULL; t++)
        ncol++;
    if (ncol != NCOL) {
        fail->col = 1;
        snprintf(fail->what, sizeof fail->what, "%d column%s, " COLUMNS_EXPECTED, ncol,
                 ncol == 1 ? "" : "s");
        return -1;
    }
    const char *f = line;
    for (int col = 0; col < NCOL; col++) {
        const char *e = memchr(f, '\t', (size_t)(line + len - f));
        if (!e)
            e = line + len;
        size_t n = (size_t)(e - f);
        if (col == 0) {
            if (n != 1 || (f[0] != '0' && f[0] != '1')) {
                char q[200];
                rill_quote_field(q, sizeof q, f, n);
                fail->col = 1;
                snprintf(fail->what, sizeof fail->what, "label = '%s' is not 0 or 1", q);
                return -1;
            }
            b->labels[row] = (float)(f[0] - '0');
        } else if (col <= NNUM) {
            int64_t v = 0;
            int rc = n ? parse_int_exact(f, n, &v) : 0;
            if (rc == -1)
                return field_fail(fail, s, col, line, f, n, "is not an integer", INT_EXPECTED);
            if (rc == -2)
                return field_fail(fail, s, col, line, f, n, "does not fit in 64 bits",
                                  "expected an integer from -9223372036854775808 to "
                                  "9223372036854775807");
            b->num[(size_t)row * NNUM + (size_t)(col - 1)] = n ? (float)v : NAN;
        } else {
            rill_catcol *c = &b->cat[col - 1 - NNUM];
            uint32_t o = c->off[row];
            uint64_t v = 0;
            for (size_t i = 0; i < n; i++) {
                unsigned h = hexv[(unsigned char)f[i]];
                if (!h)
                    return field_fail(fail, s, col, line, f, n, "is not hexadecimal",
                                      HEX_EXPECTED);
                v = v << 4 | (h - 1);
            }
            if (n > 16) {
                char what[40];
                snprintf(what, sizeof what, "has %zu hex digits", n);
                return field_fail(fail, s, col, line, f, n, what, HEX_EXPECTED);
            }
            if (n)
                c->val[o++] = v;
            c->off[row + 1] = o;
        }
        f = e + 1;
    }
    b->line[row] = lineno;
    b->B = row + 1;
    return 0;
}

static int parse(rill_batch *b, const char *line, size_t len, uint64_t lineno,
                 rill_line_fail *fail)
{
    int row = b->B;
    const unsigned char *p = (const unsigned char *)line;
    float *num = b->num + (size_t)row * NNUM;

    if ((p[0] != '0' && p[0] != '1') || p[1] != '\t')
        goto slow;
    b->labels[row] = (float)(p[0] - '0');
    p += 2;

    for (int i = 0; i < NNUM; i++) {
        if (*p == '\t') {
            num[i] = NAN;
            p++;
            continue;
        }
        bool neg = *p == '-';
        p += neg;
        const unsigned char *d = p;
        uint64_t v = 0;
        unsigned c;
        while ((c = (unsigned)*p - '0') < 10) {
            v = v * 10 + c;
            p++;
        }
        /* 18 digits cannot overflow; longer numbers (or none) go to the exact parser. */
        if (*p != '\t' || p == d || p - d > 18)
            goto slow;
        num[i] = (float)(neg ? -(int64_t)v : (int64_t)v);
        p++;
    }

    for (int f = 0; f < NCAT; f++) {
        rill_catcol *c = &b->cat[f];
        uint32_t o = c->off[row];
        const unsigned char *d = p;
        uint64_t v = 0;
        unsigned h;
        while ((h = hexv[*p]) != 0) {
            v = v << 4 | (h - 1);
            p++;
        }
        /* The last field ends at the newline sentinel, the others at a tab. */
        if (*p != (f == NCAT - 1 ? '\n' : '\t') || p - d > 16)
            goto slow;
        if (p != d)
            c->val[o++] = v;
        c->off[row + 1] = o;
        p++;
    }
    b->line[row] = lineno;
    b->B = row + 1;
    return 0;
slow:
    return parse_slow(b, line, len, lineno, fail);
}

const rill_format rill_format_criteo = {
    .name = "criteo",
    .check_schema = check_schema,
    .parse = parse,
};
