/* YAML dataset schemas and the CSV/TSV reader: a schema with every role read back; every
 * kind of schema mistake, each named by file:line:column; a file parsed value by value
 * (quoting, empty values, multi-valued columns, thresholds, weights); the header checked
 * against the schema; every kind of bad line and its message, and skip mode; splits after a
 * header; the built-in Avazu layout on the real sample (skipped when ../shared/data is absent;
 * RILL_SHARED overrides). Temporary files live in a mkdtemp directory removed at the end. */
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tmpfiles.h"
#include "util.h"

static bool has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

/* ---- schemas ---- */

static const char *const good_yaml =
    "# every role\n"
    "format: csv\n"
    "header: true\n"
    "columns:\n"
    "  - { name: id, role: skip }\n"
    "  - { name: y, role: label }\n"
    "  - { name: w, role: weight }\n"
    "  - { name: n, role: numeric }\n"
    "  - { name: c, role: categorical }\n"
    "  - name: m\n"
    "    role: multi\n"
    "    separator: \"|\"\n"
    "  - { name: r, role: label, threshold: 4 }\n";

static void test_schema_good(void)
{
    rill_schema s;
    rill_err err = {0};
    const char *path = tmp_write("good.yaml", good_yaml);
    if (!ok(rill_schema_load_yaml(&s, path, &err) == RILL_OK, "schema: a YAML schema with every "
                                                               "role loads")) {
        diag("%s", err.msg);
        return;
    }
    ok(s.nlabels == 2 && s.has_weight && s.nnum == 1 && s.ncat == 2 && !s.has_group,
       "schema: 2 labels, a "
       "weight, 1 numeric, 2 categorical (%d, %d, %d, %d)", s.nlabels, s.has_weight, s.nnum,
       s.ncat);
    ok(strcmp(s.label_names[0], "y") == 0 && strcmp(s.label_names[1], "r") == 0 &&
           strcmp(s.num_names[0], "n") == 0 && strcmp(s.cat_names[0], "c") == 0 &&
           strcmp(s.cat_names[1], "m") == 0 && !s.cat_multi[0] && s.cat_multi[1],
       "schema: names by role, m multi-valued");
    ok(s.text.sep == ',' && s.text.quote == '"' && s.text.header && s.text.ncols == 7 &&
           s.text.cols[5].sep == '|' && s.text.cols[6].has_threshold &&
           s.text.cols[6].threshold == 4,
       "schema: the layout (comma, quote, header, 7 columns, m split on |, r >= 4)");
    rill_schema_free(&s);

    path = tmp_write("tsv.yaml", "format: tsv\ncolumns:\n  - { name: y, role: label }\n"
                                 "  - { name: t, role: multi }\n"
                                 "  - { name: u, role: categorical, group: true }\n");
    ok(rill_schema_load_yaml(&s, path, &err) == RILL_OK && s.text.sep == '\t' &&
           s.text.quote == 0 && !s.text.header && s.text.cols[1].sep == '|' && s.has_group &&
           s.group_field == 1,
       "schema: tsv defaults (tab, no quote, no header, multi split on |); u groups examples");
    rill_schema_free(&s);
}

static void schema_fails(const char *what, const char *text, const char *where,
                         const char *needle)
{
    char name[64];
    snprintf(name, sizeof name, "bad%d.yaml", tmp_nmade);
    const char *path = tmp_write(name, text);
    rill_schema s;
    rill_err err = {0};
    int rc = rill_schema_load_yaml(&s, path, &err);
    char want_where[160];
    snprintf(want_where, sizeof want_where, "%s%s", path, where);
    if (!ok(rc != RILL_OK && has(err.msg, want_where) && has(err.msg, needle),
            "schema %s: '%s' at %s", what, needle, where))
        diag("rc %d: %s", rc, err.msg);
    if (rc == RILL_OK)
        rill_schema_free(&s);
}

/* One line per bad schema (a table of cases written as calls: long, and meant to be). */
static void test_schema_bad(void)
{
    const char *cols = "columns:\n  - { name: y, role: label }\n";
    schema_fails("YAML syntax", "columns: [ { name: y, role: label }\n", ":2:1:",
                 "YAML syntax error");
    schema_fails("unknown key", "formt: csv\ncolumns:\n  - { name: y, role: label }\n", ":1:1:",
                 "unknown key 'formt' (known: format");
    schema_fails("format", "format: xml\ncolumns:\n  - { name: y, role: label }\n", ":1:9:",
                 "'format' must be csv or tsv, got \"xml\"");
    schema_fails("header", "header: maybe\ncolumns:\n  - { name: y, role: label }\n", ":1:9:",
                 "'header' must be true or false");
    schema_fails("separator", "separator: \";;\"\ncolumns:\n  - { name: y, role: label }\n",
                 ":1:12:", "'separator' must be one character");
    schema_fails("quote = separator", "separator: \";\"\nquote: \";\"\ncolumns:\n"
                                      "  - { name: y, role: label }\n",
                 ":2:8:", "the quote and the separator are the same character");
    schema_fails("a key twice", "format: csv\nformat: tsv\ncolumns:\n  - { name: y, role: label }\n",
                 ":2:1:", "key 'format' is given twice");
    schema_fails("a key twice in a column", "columns:\n  - { name: y, role: label, role: skip }\n",
                 ":2:29:", "column 1: key 'role' is given twice (first at line 2)");
    schema_fails("a second document", "columns:\n  - { name: y, role: label }\n---\ncolumns: []\n",
                 ":3:", "a second YAML document");
    schema_fails("a NUL separator", "separator: \"\\0\"\ncolumns:\n  - { name: y, role: label }\n",
                 ":1:12:", "'separator' is the NUL character");
    schema_fails("no columns", "format: csv\n", ":1:1:", "the schema has no 'columns'");
    schema_fails("columns not a list", "columns: { name: y }\n", ":1:10:",
                 "'columns' must be a non-empty list, got a mapping");
    schema_fails("empty columns", "columns: []\n", ":1:10:", "got an empty one");
    schema_fails("column not a mapping", "columns:\n  - y\n", ":2:5:",
                 "column 1 must be a mapping");
    schema_fails("column without a role", "columns:\n  - { name: y }\n", ":2:5:",
                 "column 'y' has no 'role'");
    schema_fails("column without a name", "columns:\n  - { role: label }\n", ":2:5:",
                 "column 1 has no 'name'");
    schema_fails("unknown role", "columns:\n  - { name: y, role: lable }\n", ":2:22:",
                 "unknown role 'lable' for column 'y' (known: skip, label");
    schema_fails("unknown column key", "columns:\n  - { nam: y, role: label }\n", ":2:7:",
                 "unknown key 'nam' in a column");
    schema_fails("separator off multi", "columns:\n  - { name: y, role: label }\n"
                                        "  - { name: c, role: categorical, separator: \"|\" }\n",
                 ":3:46:", "column 'c': 'separator' is for roles multi, sequence, times and vector, not categorical");
    schema_fails("threshold off label", "columns:\n  - { name: y, role: label }\n"
                                        "  - { name: n, role: numeric, threshold: 2 }\n",
                 ":3:42:", "column 'n': 'threshold' is for role label, not numeric");
    schema_fails("threshold not a number", "columns:\n  - { name: y, role: label, threshold: "
                                           "high }\n",
                 ":2:40:", "'threshold' must be a number, got \"high\"");
    schema_fails("multi on the file's separator", "columns:\n  - { name: y, role: label }\n"
                                                  "  - { name: m, role: multi, separator: \",\" }\n",
                 ":3:5:", "its values' separator is the file's column separator ','");
    schema_fails("two columns of one name", "columns:\n  - { name: y, role: label }\n"
                                            "  - { name: y, role: numeric }\n",
                 ":3:5:", "two columns are named 'y' (columns 1 and 2)");
    schema_fails("no label", "columns:\n  - { name: n, role: numeric }\n", ":2:3:",
                 "no column has role label");
    schema_fails("two weights", "columns:\n  - { name: y, role: label }\n"
                                "  - { name: a, role: weight }\n  - { name: b, role: weight }\n",
                 ":4:5:", "2 columns have role weight (at most one)");
    schema_fails("empty file", "", ":", "the schema is empty");
    schema_fails("group off categorical", "columns:\n  - { name: y, role: label, group: true }\n",
                 ":2:36:", "column 'y': 'group' is for a categorical column");
    schema_fails("group not a boolean", "columns:\n  - { name: y, role: label }\n"
                                        "  - { name: u, role: categorical, group: yes }\n",
                 ":3:42:", "'group' must be true or false, got \"yes\"");
    schema_fails("two groups", "columns:\n  - { name: y, role: label }\n"
                               "  - { name: u, role: categorical, group: true }\n"
                               "  - { name: v, role: categorical, group: true }\n",
                 ":4:5:", "two columns group the examples ('u' and 'v'; at most one)");
    schema_fails("positive off label", "columns:\n  - { name: y, role: label }\n"
                                       "  - { name: c, role: categorical, positive: a }\n",
                 ":3:45:", "column 'c': 'positive' is for role label, not categorical");
    schema_fails("positive and threshold", "columns:\n  - { name: y, role: label, threshold: 1, "
                                           "positive: a }\n",
                 ":2:53:", "column 'y': give 'threshold' or 'positive', not both");
    schema_fails("trim not a boolean", "trim: 1\ncolumns:\n  - { name: y, role: label }\n",
                 ":1:7:", "'trim' must be true or false");
    schema_fails("a list at the top", "- a\n- b\n", ":1:1:", "the schema must be a mapping");
    (void)cols;
    rill_schema s;
    rill_err err = {0};
    ok(rill_schema_load_yaml(&s, "/nonexistent/s.yaml", &err) == RILL_EIO &&
           has(err.msg, "/nonexistent/s.yaml: cannot open the schema"),
       "schema: a missing file: %s", err.msg);
}

/* ---- reading ---- */

static rill_schema schema; /* good_yaml */

static rill_reader_cfg cfg_for(const char *path)
{
    return (rill_reader_cfg){.path = path, .format = RILL_FMT_CSV, .schema = &schema,
                             .part = RILL_PART_ALL, .batch = 64, .on_bad_line = RILL_BAD_ERROR};
}

static uint64_t h(const char *s)
{
    return rill_hash_text(s, strlen(s));
}

static void test_parse(void)
{
    const char *path = tmp_write(
        "parse.csv",
        "id,y,w,n,c,m,r\n"
        "1,1,0.5,3.25,abc,a|b|c,5\n"
        "2,0,2,,\"x,y\",,3\n"
        "3,0.25,1,-1e-3,\"say \"\"hi\"\"\",|a||b|,4\n"
        "4,0,1,7,,\"p|q\",0\n");
    rill_reader_cfg cfg = cfg_for(path);
    rill_reader *r;
    rill_err err = {0};
    const rill_batch *b;
    if (!ok(rill_reader_open(&r, &cfg, &err) == RILL_OK, "parse: open")) {
        diag("%s", err.msg);
        return;
    }
    ok(rill_reader_rows(r) == 4, "parse: 4 rows after the header (%llu)",
       (unsigned long long)rill_reader_rows(r));
    int rc = rill_reader_next(r, &b, &err);
    if (!ok(rc == 1 && b->B == 4, "parse: one batch of 4 rows (rc %d: %s)", rc,
            rc < 0 ? err.msg : ""))
        goto out;
    ok(b->line[0] == 2 && b->line[3] == 5, "parse: rows keep their file lines (2..5)");
    ok(b->labels[0] == 1 && b->labels[2] == 0 && b->labels[4] == 0.25f && b->labels[6] == 0,
       "parse: the label y, a number in [0, 1]");
    ok(b->labels[1] == 1 && b->labels[3] == 0 && b->labels[5] == 1 && b->labels[7] == 0,
       "parse: the label r, r >= 4");
    ok(b->weights[0] == 0.5f && b->weights[1] == 2 && b->weights[2] == 1, "parse: weights");
    ok(b->num[0] == 3.25f && isnan(b->num[1]) && b->num[2] == -1e-3f && b->num[3] == 7,
       "parse: numbers, empty = missing");
    const rill_catcol *c = &b->cat[0], *m = &b->cat[1];
    ok(c->off[1] - c->off[0] == 1 && c->val[c->off[0]] == h("abc") &&
           c->val[c->off[1]] == h("x,y") && c->val[c->off[2]] == h("say \"hi\"") &&
           c->off[4] == c->off[3],
       "parse: categorical values are their text hashed; quotes removed, \"\" is one quote; "
       "empty is missing");
    ok(m->off[1] - m->off[0] == 3 && m->val[0] == h("a") && m->val[1] == h("b") &&
           m->val[2] == h("c"),
       "parse: a multi-valued column split on |");
    ok(m->off[2] == m->off[1], "parse: an empty multi-valued column has no values");
    ok(m->off[3] - m->off[2] == 2 && m->val[m->off[2]] == h("a") &&
           m->val[m->off[2] + 1] == h("b"),
       "parse: empty pieces (|a||b|) are no values");
    ok(m->off[4] - m->off[3] == 2 && m->val[m->off[3]] == h("p") && m->val[m->off[3] + 1] == h("q"),
       "parse: a quoted multi-valued column");
out:
    rill_reader_close(r);
}

static void reading_fails(const char *what, const char *text, const char *where,
                          const char *needle)
{
    char name[64];
    snprintf(name, sizeof name, "bad%d.csv", tmp_nmade);
    const char *path = tmp_write(name, text);
    rill_reader_cfg cfg = cfg_for(path);
    rill_reader *r = NULL;
    rill_err err = {0};
    const rill_batch *b;
    int rc = rill_reader_open(&r, &cfg, &err);
    if (rc == RILL_OK)
        while ((rc = rill_reader_next(r, &b, &err)) > 0)
            ;
    char want[200];
    snprintf(want, sizeof want, "%s%s", path, where);
    if (!ok(rc < 0 && has(err.msg, want) && has(err.msg, needle), "%s: '%s' at %s", what, needle,
            where))
        diag("rc %d: %s", rc, err.msg);
    rill_reader_close(r);
}

static void test_bad(void)
{
    const char *H = "id,y,w,n,c,m,r\n";
    char t[512];
#define BAD(what, line, where, needle)                                                         \
    (snprintf(t, sizeof t, "%s1,1,1,1,a,b,1\n%s\n", H, line), reading_fails(what, t, where, needle))
    BAD("too few columns", "1,1,1", ":3:5:", "3 columns, expected 7 (id ... r)");
    BAD("too many columns", "1,1,1,1,a,b,1,9", ":3:14:", "more than 7 columns");
    BAD("a trailing separator", "1,1,1,1,a,b,1,", ":3:14:", "more than 7 columns");
    BAD("a label of 2", "1,2,1,1,a,b,1", ":3:3:", "column y = '2' is outside [0, 1]");
    BAD("a label that is text", "1,yes,1,1,a,b,1", ":3:3:", "column y = 'yes' is not a number");
    BAD("an empty label", "1,,1,1,a,b,1", ":3:3:", "column y = '' is not a number");
    BAD("a negative weight", "1,1,-1,1,a,b,1", ":3:5:", "column w = '-1' is not a weight");
    BAD("a bad number", "1,1,1,1.2.3,a,b,1", ":3:7:", "column n = '1.2.3' is not a number");
    BAD("an infinite number", "1,1,1,inf,a,b,1", ":3:7:", "column n = 'inf' is not a number");
    BAD("a thresholded label that is text", "1,1,1,1,a,b,x", ":3:13:",
        "column r = 'x' is not a number (expected a label to compare with the threshold)");
    BAD("an unclosed quote", "1,1,1,1,\"a,b,1", ":3:9:", "a quote opens here and is not closed");
    BAD("text after a quote", "1,1,1,1,\"a\"b,b,1", ":3:12:", "text after the closing quote");
    BAD("CRLF", "1,1,1,1,a,b,1\r", ":3:14:", "CRLF line endings");
    reading_fails("a wrong header", "id,yy,w,n,c,m,r\n1,1,1,1,a,b,1\n", ":1:4:",
                  "header column 2 is 'yy', the schema's column 2 is 'y'");
    reading_fails("a short header", "id,y,w\n1,1,1,1,a,b,1\n", ":1:",
                  "the header has 3 columns, the schema 7");
    reading_fails("a long header", "id,y,w,n,c,m,r,s\n1,1,1,1,a,b,1\n", ":1:15:",
                  "the header has more columns than the schema's 7");
    reading_fails("only a header", "id,y,w,n,c,m,r\n", ":", "only a header, no rows");
#undef BAD

    /* skip mode counts the bad lines and reads the rest */
    const char *path = tmp_write("skip.csv", "id,y,w,n,c,m,r\n1,1,1,1,a,b,1\n1,2,1,1,a,b,1\n"
                                             "1,1,1\n1,0,1,1,a,b,1\n");
    rill_reader_cfg cfg = cfg_for(path);
    cfg.on_bad_line = RILL_BAD_SKIP;
    cfg.max_bad = 1; /* 2 of 4 bad: past the default share */
    rill_reader *r;
    rill_err err = {0};
    const rill_batch *b;
    int rows = 0, rc = rill_reader_open(&r, &cfg, &err);
    while (rc == RILL_OK && (rc = rill_reader_next(r, &b, &err)) > 0)
        rows += b->B, rc = RILL_OK;
    ok(rc == 0 && rows == 2 && rill_reader_bad_lines(r) == 2 &&
           has(rill_reader_first_bad(r), ":3:3:"),
       "skip mode: 2 rows read, 2 bad lines counted, the first named (%s)",
       rill_reader_first_bad(r));
    rill_reader_close(r);
}

/* trim: spaces around unquoted values dropped (census-style ", " separators); a label that
 * is one text against the others */
static void test_trim(void)
{
    rill_schema ts;
    rill_err err = {0};
    const char *sp = tmp_write("trim.yaml", "header: false\ntrim: true\ncolumns:\n"
                                            "  - { name: c, role: categorical }\n"
                                            "  - { name: n, role: numeric }\n"
                                            "  - { name: y, role: label, positive: \"50000+.\" }\n");
    if (!ok(rill_schema_load_yaml(&ts, sp, &err) == RILL_OK && ts.text.trim,
            "trim: the schema loads"))
        return;
    const char *path = tmp_write("trim.csv", " Private, 12 , 50000+.\n Self employed,3, - 50000.\n"
                                             " \"a, b\" ,4,50000+.\n");
    rill_reader_cfg cfg = {.path = path, .format = RILL_FMT_CSV, .schema = &ts,
                           .part = RILL_PART_ALL, .batch = 8};
    rill_reader *r;
    const rill_batch *b;
    int rc = rill_reader_open(&r, &cfg, &err);
    if (rc == RILL_OK)
        rc = rill_reader_next(r, &b, &err);
    ok(rc == 1 && b->B == 3 && b->cat[0].val[0] == h("Private") &&
           b->cat[0].val[1] == h("Self employed") && b->cat[0].val[2] == h("a, b") &&
           b->num[0] == 12 && b->num[1] == 3 && b->labels[0] == 1 && b->labels[1] == 0 &&
           b->labels[2] == 1,
       "trim: values without their spaces (quoted ones too); the label is value == \"50000+.\" "
       "(rc %d %s)", rc, rc < 0 ? err.msg : "");
    if (rc >= 0)
        rill_reader_close(r);
    rill_schema_free(&ts);
}

static void test_split(void)
{
    /* a header and 10 rows; the last 30% are the validation part */
    char text[1024] = "id,y,w,n,c,m,r\n";
    for (int i = 0; i < 10; i++)
        sprintf(text + strlen(text), "%d,%d,1,%d,a,b,1\n", i, i % 2, i);
    const char *path = tmp_write("split.csv", text);
    int rows[2] = {0, 0};
    float first[2] = {-1, -1};
    for (int part = 0; part < 2; part++) {
        rill_reader_cfg cfg = cfg_for(path);
        cfg.part = part ? RILL_PART_VALID : RILL_PART_TRAIN;
        cfg.valid_fraction = 0.3;
        rill_reader *r;
        rill_err err = {0};
        const rill_batch *b;
        int rc = rill_reader_open(&r, &cfg, &err);
        while (rc == RILL_OK && (rc = rill_reader_next(r, &b, &err)) > 0) {
            if (first[part] < 0)
                first[part] = b->num[0];
            rows[part] += b->B;
            rc = RILL_OK;
        }
        if (rc < 0)
            diag("%s", err.msg);
        rill_reader_close(r);
    }
    ok(rows[0] == 7 && rows[1] == 3 && first[0] == 0 && first[1] == 7,
       "split after a header: 7 training rows from n = 0, 3 validation rows from n = 7 (%d, %d)",
       rows[0], rows[1]);
}

static void test_avazu(void)
{
    const char *shared = getenv("RILL_SHARED") ? getenv("RILL_SHARED") : "../shared";
    char path[512];
    snprintf(path, sizeof path, "%s/data/avazu/avazu_train_head9999.csv", shared);
    if (access(path, R_OK) != 0) {
        tap_run++;
        printf("ok %d # SKIP %s is absent\n", tap_run, path);
        return;
    }
    rill_schema av;
    rill_err err = {0};
    if (!ok(rill_schema_avazu(&av, &err) == RILL_OK && av.nlabels == 1 && av.ncat == 22,
            "avazu: the built-in schema (1 label, 22 categorical)"))
        return;
    rill_reader_cfg cfg = {.path = path, .format = RILL_FMT_CSV, .schema = &av,
                           .part = RILL_PART_ALL, .batch = 1000, .threaded = true};
    rill_reader *r;
    const rill_batch *b;
    int rows = 0, pos = 0, rc = rill_reader_open(&r, &cfg, &err);
    while (rc == RILL_OK && (rc = rill_reader_next(r, &b, &err)) > 0) {
        for (int i = 0; i < b->B; i++)
            pos += b->labels[i] > 0.5f;
        rows += b->B;
        rc = RILL_OK;
    }
    ok(rc == 0 && rows == 9999 && pos == 1706, "avazu: the sample's 9,999 rows, 1,706 clicks "
       "(%d, %d%s%s)", rows, pos, rc < 0 ? ": " : "", rc < 0 ? err.msg : "");
    rill_reader_close(r);
    rill_schema_free(&av);
}

int main(void)
{
    tmp_start("csv");
    test_schema_good();
    test_schema_bad();
    rill_err err = {0};
    if (rill_schema_load_yaml(&schema, tmp_write("s.yaml", good_yaml), &err)) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_parse();
    test_bad();
    test_trim();
    test_split();
    test_avazu();
    rill_schema_free(&schema);
    return done_testing();
}
