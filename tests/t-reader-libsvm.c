/* The libsvm / libfm / libffm reader: labels (1, 0, -1), features into one multi-valued field,
 * into positional fields, and libffm's numbered fields; CRLF accepted; every kind of bad line
 * and its message; the Frappe sample (skipped when ../shared/data is absent; RILL_SHARED
 * overrides). Temporary files live in a mkdtemp directory removed at the end. */
#include "reader.h"
#include "reader_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tmpfiles.h"

/* Reads the whole file into one batch (at most 64 rows); rc as rill_reader_next's. */
static int read_one(const char *text, rill_schema *s, rill_reader **r, const rill_batch **b,
                    rill_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "f%d.txt", tmp_nmade);
    rill_reader_cfg cfg = {.path = tmp_write(name, text), .format = RILL_FMT_LIBSVM,
                           .schema = s, .part = RILL_PART_ALL, .batch = 64};
    int rc = rill_reader_open(r, &cfg, err);
    return rc ? rc : rill_reader_next(*r, b, err);
}

static void test_parse(void)
{
    rill_schema one, pos, ffm;
    rill_err err = {0};
    rill_reader *r = NULL;
    const rill_batch *b;
    if (rill_schema_libsvm(&one, 0, false, &err) || rill_schema_libsvm(&pos, 3, false, &err) ||
        rill_schema_libsvm(&ffm, 2, true, &err)) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    ok(one.ncat == 1 && strcmp(one.cat_names[0], "features") == 0 && one.cat_multi[0] &&
           pos.ncat == 3 && strcmp(pos.cat_names[2], "f3") == 0 && !pos.cat_multi[2] &&
           ffm.ncat == 2 && ffm.cat_multi[1],
       "schemas: one multi-valued field; f1..f3; libffm's fields multi-valued");

    int rc = read_one("1 3:1 17:1 5:1\n-1 4:1\n0\t9:1.0  2:1\r\n", &one, &r, &b, &err);
    const rill_catcol *c = &b->cat[0];
    ok(rc == 1 && b->B == 3 && b->labels[0] == 1 && b->labels[1] == 0 && b->labels[2] == 0 &&
           c->off[1] == 3 && c->val[0] == 3 && c->val[1] == 17 && c->val[2] == 5 &&
           c->off[2] == 4 && c->val[3] == 4 && c->off[3] == 6 && c->val[4] == 9 &&
           c->val[5] == 2,
       "libsvm: labels 1 / -1 / 0; every feature into 'features'; tabs, runs of spaces, 1.0 "
       "and a CRLF ending accepted (rc %d %s)", rc, rc < 0 ? err.msg : "");
    rill_reader_close(r);

    rc = read_one("1 7:1 70:1 700:1\n-1 8:1 80:1 800:1\n", &pos, &r, &b, &err);
    ok(rc == 1 && b->B == 2 && b->cat[0].val[b->cat[0].off[1]] == 8 &&
           b->cat[1].val[b->cat[1].off[0]] == 70 && b->cat[2].val[b->cat[2].off[1]] == 800,
       "libsvm with 3 fields: the i-th feature of a line is field fi (rc %d %s)", rc,
       rc < 0 ? err.msg : "");
    rill_reader_close(r);

    rc = read_one("1 1:5:1 0:6:1 1:7:1\n0 0:9:1\n", &ffm, &r, &b, &err);
    ok(rc == 1 && b->B == 2 && b->cat[0].off[1] == 1 && b->cat[0].val[0] == 6 &&
           b->cat[1].off[1] == 2 && b->cat[1].val[0] == 5 && b->cat[1].val[1] == 7 &&
           b->cat[1].off[2] == 2 && b->cat[0].val[1] == 9,
       "libffm: field f's features into f(f+1), several per field (rc %d %s)", rc,
       rc < 0 ? err.msg : "");
    rill_reader_close(r);

    struct {
        const char *what, *text, *want;
        rill_schema *s;
    } bad[] = {
        {"an empty line", "1 3:1\n\n", ":2:1: an empty line", &one},
        {"a label that is text", "yes 3:1\n", ":1:1: label 'yes' is not a number", &one},
        {"a token without a colon", "1 3\n", ":1:3: '3' is not feature:value", &one},
        {"a feature that is text", "1 x:1\n", ":1:3: feature 'x' is not a whole number", &one},
        {"a negative feature", "1 -3:1\n", ":1:3: feature '-3' is not a whole number", &one},
        {"a value that is not 1", "1 3:0.5\n", ":1:5: value '0.5' is not 1", &one},
        {"libffm in a libsvm file", "1 0:3:1\n", ":1:3: '0:3:1' is not feature:value", &one},
        {"too many features for the fields", "1 1:1 2:1 3:1 4:1\n",
         ":1:15: more than 3 features (one per field)", &pos},
        {"too few features for the fields", "1 1:1 2:1\n", ":1:10: 2 features, expected 3", &pos},
        {"libsvm in a libffm file", "1 3:1\n", ":1:3: '3:1' is not field:feature:value", &ffm},
        {"a field past the fields", "1 2:3:1\n", ":1:3: field 2 is past the 2 fields", &ffm},
        {"control characters, escaped", "1 3\x01\x1b[2J:1\n",
         ":1:3: feature '3\\x01\\x1b[2J' is not a whole number", &one},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = read_one(bad[i].text, bad[i].s, &r, &b, &err);
        if (!ok(rc < 0 && strstr(err.msg, bad[i].want), "%s: '%s'", bad[i].what, bad[i].want))
            diag("rc %d: %s", rc, err.msg);
        rill_reader_close(r);
        r = NULL;
    }
    rill_schema_free(&one);
    rill_schema_free(&pos);
    rill_schema_free(&ffm);
    ok(rill_schema_libsvm(&one, 0, true, &err) == RILL_EINVAL, "libffm without fields is refused: %s",
       err.msg);
}

/* Regression: a row whose features cross the field's value capacity (a batch sized for 2
 * rows holds 2 values per field until it grows) must grow it; the capacity check once counted
 * only the rows before the current one and wrote past the buffer. */
static void test_long_rows(void)
{
    rill_schema one, ffm;
    rill_err err = {0};
    rill_batch b;
    if (rill_schema_libsvm(&one, 0, false, &err) || rill_schema_libsvm(&ffm, 2, true, &err) ||
        rill_batch_init(&b, &one, 2, &err)) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    char line[4096];
    int n = 0;
    n += snprintf(line + n, sizeof line - (size_t)n, "1");
    for (int i = 0; i < 300; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %d:1", 1000 + i);
    line[n] = '\n';
    rill_line_fail fail;
    int rc1 = rill_format_libsvm.parse(&b, line, (size_t)n, 1, &fail);
    int rc2 = rill_format_libsvm.parse(&b, line, (size_t)n, 2, &fail);
    const rill_catcol *c = &b.cat[0];
    bool vals = rc1 == 0 && rc2 == 0 && b.B == 2 && c->off[1] == 300 && c->off[2] == 600;
    for (uint32_t k = 0; vals && k < 600; k++)
        vals = c->val[k] == 1000 + k % 300;
    ok(vals && c->val_cap >= c->off[2],
       "libsvm: two rows of 300 features in a batch sized for 2 rows: the values grow their "
       "buffer (capacity %zu for %u values) and read back", c->val_cap, c->off[b.B]);
    rill_batch_free(&b);

    if (rill_batch_init(&b, &ffm, 2, &err)) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    n = snprintf(line, sizeof line, "0");
    for (int i = 0; i < 200; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %d:%d:1", i % 2, i);
    line[n] = '\n';
    rc1 = rill_format_libsvm.parse(&b, line, (size_t)n, 1, &fail);
    vals = rc1 == 0 && b.cat[0].off[1] == 100 && b.cat[1].off[1] == 100;
    for (uint32_t k = 0; vals && k < 100; k++)
        vals = b.cat[0].val[k] == 2 * k && b.cat[1].val[k] == 2 * k + 1;
    ok(vals && b.cat[0].val_cap >= 100 && b.cat[1].val_cap >= 100,
       "libffm: 100 features in each of two fields of a 2-row batch grow the buffers");
    rill_batch_free(&b);
    rill_schema_free(&one);
    rill_schema_free(&ffm);
}

static void test_frappe(void)
{
    const char *shared = getenv("RILL_SHARED") ? getenv("RILL_SHARED") : "../shared";
    char path[512];
    snprintf(path, sizeof path, "%s/data/frappe/frappe.validation.libfm", shared);
    if (access(path, R_OK) != 0) {
        tap_run++;
        printf("ok %d # SKIP %s is absent\n", tap_run, path);
        return;
    }
    rill_schema s;
    rill_err err = {0};
    rill_schema_libsvm(&s, 10, false, &err);
    rill_reader_cfg cfg = {.path = path, .format = RILL_FMT_LIBSVM, .schema = &s,
                           .part = RILL_PART_ALL, .batch = 4096, .threaded = true};
    rill_reader *r;
    const rill_batch *b;
    long rows = 0, pos = 0;
    uint64_t maxid = 0;
    int rc = rill_reader_open(&r, &cfg, &err);
    while (rc == RILL_OK && (rc = rill_reader_next(r, &b, &err)) > 0) {
        for (int i = 0; i < b->B; i++)
            pos += b->labels[i] > 0.5f;
        for (int f = 0; f < 10; f++)
            for (uint32_t k = 0; k < b->cat[f].off[b->B]; k++)
                maxid = b->cat[f].val[k] > maxid ? b->cat[f].val[k] : maxid;
        rows += b->B;
        rc = RILL_OK;
    }
    ok(rc == 0 && rows == 57722 && pos == 19063 && maxid == 5381,
       "frappe: 57,722 rows (CRLF), 19,063 positives, feature ids up to 5381 (%ld, %ld, %llu%s%s)",
       rows, pos, (unsigned long long)maxid, rc < 0 ? ": " : "", rc < 0 ? err.msg : "");
    rill_reader_close(r);
    rill_schema_free(&s);
}

int main(void)
{
    tmp_start("svm");
    test_parse();
    test_long_rows();
    test_frappe();
    return done_testing();
}
