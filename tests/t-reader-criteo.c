/* The streaming reader on Criteo TSV: parsing, every kind of bad line and its message, skip
 * mode, a last line without a newline, and the configuration checks. Runs over a whole file
 * (splits, shuffling, threads, seek) are t-reader-stream.c. */
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "readertest.h"
#include "tap.h"
#include "util.h"

/* ---- tests ---- */

static void test_parse(void)
{
    const char *text =
        /* line 1: values of every kind */
        "0\t1\t-1\t\t42\t0\t\t7\t\t\t\t\t\t123456789\t"
        "68fd1e64\t\tDEADBEEF\t0\tffffffffffffffff\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n"
        /* line 2: all missing */
        "1\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n"
        /* line 3: int64 limits, leading zeros, a one-digit hex value last */
        "1\t9223372036854775807\t-9223372036854775808\t0000000000000000000000012"
        "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tA\n";
    rill_reader_cfg cfg = base_cfg(write_str("parse.tsv", text));
    rill_reader *r;
    rill_err err = {0};
    const rill_batch *b;
    if (!ok(rill_reader_open(&r, &cfg, &err) == RILL_OK, "parse: open")) {
        diag("%s", err.msg);
        return;
    }
    ok(rill_reader_rows(r) == 3, "parse: 3 rows");
    int rc = rill_reader_next(r, &b, &err);
    ok(rc == 1 && b->B == 3, "parse: one batch of 3 rows (rc %d: %s)", rc, rc < 0 ? err.msg : "");
    if (rc != 1)
        goto out;
    ok(b->labels[0] == 0.0f && b->labels[1] == 1.0f && b->labels[2] == 1.0f, "parse: labels");
    ok(b->line[0] == 1 && b->line[1] == 2 && b->line[2] == 3, "parse: line numbers");
    const float *n0 = b->num;
    ok(n0[0] == 1.0f && n0[1] == -1.0f && isnan(n0[2]) && n0[3] == 42.0f && n0[4] == 0.0f &&
           isnan(n0[5]) && n0[6] == 7.0f && isnan(n0[7]) && n0[12] == 123456789.0f,
       "parse: counts, negative I2, missing as NaN");
    bool allnan = true;
    for (int i = 0; i < 13; i++)
        allnan &= isnan(b->num[13 + i]) != 0;
    ok(allnan, "parse: an all-missing line has 13 NaN counts");
    const float *n2 = b->num + 26;
    ok(n2[0] == 9223372036854775807.0f && n2[1] == -9223372036854775808.0f && n2[2] == 12.0f,
       "parse: int64 limits and leading zeros");
    const rill_catcol *c = b->cat;
    ok(c[0].off[1] == 1 && c[0].val[0] == 0x68fd1e64u, "parse: C1 = 68fd1e64");
    ok(c[1].off[1] == 0, "parse: C2 missing has no value");
    ok(c[2].off[1] == 1 && c[2].val[0] == 0xdeadbeefu, "parse: upper-case hex");
    ok(c[3].off[1] == 1 && c[3].val[0] == 0, "parse: C4 = 0 is a value, not missing");
    ok(c[4].off[1] == 1 && c[4].val[0] == UINT64_MAX, "parse: 16 hex digits");
    bool empty = true;
    for (int f = 0; f < 26; f++)
        empty &= b->cat[f].off[2] == b->cat[f].off[1];
    ok(empty, "parse: an all-missing line has no categorical values");
    ok(c[25].off[3] - c[25].off[2] == 1 && c[25].val[c[25].off[2]] == 0xa,
       "parse: one-digit value in the last field");
    ok(rill_reader_next(r, &b, &err) == 0, "parse: then the end of the epoch");
    ok(rill_reader_next(r, &b, &err) == 0, "parse: the end repeats");
out:
    rill_reader_close(r);
}

/* Opens and reads `path`; expects an error whose message contains every string in want. */
static void expect_error(const char *what, const char *path, size_t max_line, bool threaded,
                         const char *const *want)
{
    rill_reader_cfg cfg = base_cfg(path);
    cfg.max_line = max_line;
    cfg.threaded = threaded;
    rill_reader *r = NULL;
    rill_err err = {0};
    const rill_batch *b;
    int rc = rill_reader_open(&r, &cfg, &err);
    if (rc == RILL_OK) {
        while ((rc = rill_reader_next(r, &b, &err)) > 0)
            ;
    }
    bool all = rc == RILL_EDATA;
    for (const char *const *w = want; *w; w++)
        all &= has(err.msg, *w);
    if (!ok(all, "%s%s: error names the place and the problem", what, threaded ? " (threaded)" : ""))
        diag("rc %d, message: %s", rc, err.msg);
    if (r && rc < 0) {
        rill_err again = {0};
        ok(rill_reader_next(r, &b, &again) == rc && strcmp(again.msg, err.msg) == 0,
           "%s: the error repeats", what);
    }
    rill_reader_close(r);
}

/* Bad values, field by field: the message names the file, line, column and field. */
static void test_bad_fields(void)
{
    buf good = {0};
    gen_line(&good, 1);
    struct {
        const char *name;
        int col;            /* -1: the whole line is given in val */
        const char *val;
        const char *words[3];
    } cases[] = {
        {"label2", 0, "2", {"label = '2' is not 0 or 1"}},
        {"labelsp", 0, "0 ", {"label = '0 ' is not 0 or 1"}},
        {"float", 3, "3.5", {"field I3 = '3.5' is not an integer", "expected"}},
        {"trailx", 5, "12x", {"field I5 = '12x' is not an integer"}},
        {"minus", 2, "-", {"field I2 = '-' is not an integer"}},
        {"plus", 4, "+4", {"field I4 = '+4' is not an integer"}},
        {"overflow", 1, "9223372036854775808", {"field I1 = '9223372036854775808'", "64 bits",
                                                "9223372036854775807"}},
        {"underflow", 2, "-9223372036854775809", {"field I2", "64 bits"}},
        {"hex", 16, "xyz", {"field C3 = 'xyz' is not hexadecimal",
                            "(expected 1 to 16 hex digits or empty)"}},
        {"hex0x", 14, "0x1f", {"field C1 = '0x1f' is not hexadecimal"}},
        {"hex17", 39, "0123456789abcdef0", {"field C26", "has 17 hex digits",
                                            "expected 1 to 16 hex digits"}},
        {"ctrl", 20, "ab\001", {"field C7 = 'ab\\x01' is not hexadecimal"}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        buf t = {0};
        size_t col = 0;
        puts_(&t, good.p);
        line_with(&t, cases[k].col, cases[k].val, &col);
        col -= good.n;
        puts_(&t, "\n");
        char name[64], where[128];
        snprintf(name, sizeof name, "%s.tsv", cases[k].name);
        const char *path = write_str(name, t.p);
        snprintf(where, sizeof where, "%s:2:%zu: ", path, col);
        const char *want[] = {where, cases[k].words[0], cases[k].words[1], cases[k].words[2],
                              NULL};
        expect_error(cases[k].name, path, 0, k % 2 == 1, want);
        free(t.p);
    }

    free(good.p);
}

/* Lines of the wrong shape: a column missing or too many, blank, CRLF, overlong; an empty
 * file. */
static void test_bad_shapes(void)
{
    buf good = {0};
    gen_line(&good, 1);
    /* Column counts: a field missing (39) and one too many (41). */
    buf t = {0};
    size_t col;
    puts_(&t, good.p);
    line_with(&t, 39, "", &col);
    t.n = col - 2; /* drop the tab before the empty last field too */
    puts_(&t, "\n");
    const char *p39 = write_str("cols39.tsv", t.p);
    char where[128];
    snprintf(where, sizeof where, "%s:2:1: 39 columns, expected 40 (label, I1..I13, C1..C26)", p39);
    expect_error("39 columns", p39, 0, false, (const char *[]){where, NULL});
    t.n = 0;
    puts_(&t, good.p);
    line_with(&t, 39, "0a1b2c3d\t0", &col);
    puts_(&t, "\n");
    const char *p41 = write_str("cols41.tsv", t.p);
    snprintf(where, sizeof where, "%s:2:1: 41 columns, expected 40", p41);
    expect_error("41 columns", p41, 0, true, (const char *[]){where, NULL});
    t.n = 0;
    puts_(&t, good.p);
    puts_(&t, "\n");
    const char *pblank = write_str("blank.tsv", t.p);
    snprintf(where, sizeof where, "%s:2:1: 1 column, expected 40", pblank);
    expect_error("blank line", pblank, 0, false, (const char *[]){where, NULL});

    /* CRLF: the column is the CR's. */
    t.n = 0;
    for (int i = 0; i < 3; i++) {
        puts_(&t, good.p);
        t.p[t.n - 1] = '\r';
        puts_(&t, "\n");
    }
    const char *pcr = write_str("crlf.tsv", t.p);
    snprintf(where, sizeof where, "%s:1:%zu: line ends with CR (CRLF line endings): convert the "
             "file with dos2unix", pcr, good.n);
    expect_error("CRLF", pcr, 0, false, (const char *[]){where, NULL});

    /* Overlong line, with a small max_line: the good line fits, the second does not. */
    t.n = 0;
    puts_(&t, good.p);
    for (int i = 0; i < 3; i++)
        puts_(&t, good.p);
    t.p[good.n * 2 - 1] = '\t'; /* line 2 = lines 2 and 3 joined, too long */
    const char *plong = write_str("long.tsv", t.p);
    snprintf(where, sizeof where, "%s:2:1: line longer than %zu bytes", plong, good.n + 10);
    expect_error("overlong line", plong, good.n + 10, false, (const char *[]){where, NULL});
    expect_error("overlong line", plong, good.n + 10, true, (const char *[]){where, NULL});

    /* Empty file: open fails. */
    const char *pempty = write_str("empty.tsv", "");
    snprintf(where, sizeof where, "%s: empty file (no rows)", pempty);
    expect_error("empty file", pempty, 0, false, (const char *[]){where, NULL});

    free(t.p);
    free(good.p);
}

/* Errors surface at the batch that holds the bad line, threaded or not. */
static void test_error_batch(void)
{
    const char *perr = gen_file("err11.tsv", 20, (const uint64_t[]){11, 0});
    for (int th = 0; th < 2; th++) {
        rill_reader_cfg cfg = base_cfg(perr);
        cfg.batch = 4;
        cfg.threaded = th;
        rill_reader *r;
        rill_err err = {0};
        const rill_batch *b;
        int rc1 = -100, rc2 = -100, rc3 = -100;
        if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
            rc1 = rill_reader_next(r, &b, &err);
            rc2 = rill_reader_next(r, &b, &err);
            rc3 = rill_reader_next(r, &b, &err);
            rill_reader_close(r);
        }
        ok(rc1 == 1 && rc2 == 1 && rc3 == RILL_EDATA && has(err.msg, "err11.tsv:11:"),
           "error at line 11 comes with the third batch of 4%s (%d %d %d: %s)",
           th ? " (threaded)" : "", rc1, rc2, rc3, err.msg);
    }
}

static void test_skip(void)
{
    buf t = {0}, good = {0};
    size_t col;
    gen_line(&good, 1);
    puts_(&t, good.p);                   /* 1 good */
    line_with(&t, 39, "", &col);         /* 2: 39 columns */
    t.n = col - 2;
    puts_(&t, "\n");
    puts_(&t, good.p);                   /* 3 good */
    line_with(&t, 16, "xyz", &col);      /* 4: bad hex */
    puts_(&t, "\n");
    puts_(&t, good.p);                   /* 5 good */
    const char *path = write_str("skip.tsv", t.p);
    for (int th = 0; th < 2; th++) {
        rill_reader_cfg cfg = base_cfg(path);
        cfg.on_bad_line = RILL_BAD_SKIP;
        cfg.max_bad = 1; /* 2 of 5 bad: past the default share */
        cfg.threaded = th;
        rill_reader *r;
        rill_err err = {0};
        if (!ok(rill_reader_open(&r, &cfg, &err) == RILL_OK, "skip: open")) {
            diag("%s", err.msg);
            continue;
        }
        ok(rill_reader_bad_lines(r) == 0 && !*rill_reader_first_bad(r), "skip: none bad yet");
        run x = read_rest(r);
        char want[128];
        snprintf(want, sizeof want, "%s:2:1: 39 columns", path);
        ok(x.rc == 0 && x.n == 1 && x.snap[0].n > 0, "skip%s: reads to the end", th ? " (threaded)" : "");
        uint64_t l0 = 0, l1 = 0, l2 = 0;
        const rill_batch *b;
        rill_reader_start_epoch(r, 0, &err);
        if (rill_reader_next(r, &b, &err) == 1 && b->B == 3) {
            l0 = b->line[0];
            l1 = b->line[1];
            l2 = b->line[2];
        }
        ok(l0 == 1 && l1 == 3 && l2 == 5, "skip: the good lines 1, 3, 5 are kept");
        ok(x.bad == 2, "skip: 2 bad lines counted (got %llu)", (unsigned long long)x.bad);
        ok(has(x.first_bad, want), "skip: the first bad line's message: %s", x.first_bad);
        ok(rill_reader_rows(r) == 5, "skip: rows() counts bad lines too");
        /* released (a run's end): reading is an error naming the file until an epoch starts,
         * which reads the same rows again */
        rill_reader_release(r);
        rill_err rerr = {0};
        ok(rill_reader_next(r, &b, &rerr) < 0 && has(rerr.msg, path) && has(rerr.msg, "released"),
           "release%s: reading is an error: %s", th ? " (threaded)" : "", rerr.msg);
        l0 = 0;
        if (rill_reader_start_epoch(r, 0, &err) == RILL_OK && rill_reader_next(r, &b, &err) == 1 &&
            b->B == 3)
            l0 = b->line[0] + b->line[1] + b->line[2];
        ok(l0 == 9, "release%s: a new epoch reads lines 1, 3, 5 again", th ? " (threaded)" : "");
        run_free(&x);
        rill_reader_close(r);

        /* with the default limit (10%) the pass ends in an error naming the file, the share
         * and the first bad line; one good line in ten passes */
        cfg.max_bad = 0;
        x = (run){0};
        if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
            x = read_rest(r);
            rill_reader_close(r);
        }
        snprintf(want, sizeof want, "%s: 2 of 5 lines (40.0%%) were bad and skipped, more than "
                 "the 10%% allowed", path);
        ok(x.rc == RILL_EDATA && has(x.err.msg, want) && has(x.err.msg, ":2:1: 39 columns"),
           "skip%s: 40%% bad is an error at the end of the pass: %s", th ? " (threaded)" : "",
           x.err.msg);
        run_free(&x);
    }
    free(t.p);
    free(good.p);
}

/* Nothing but bad lines: an error in skip mode too, not an empty epoch. */
static void test_skip_all_bad(void)
{
    const char *junk = write_str("junk.tsv", "x\nx\nx\n");
    for (int skip = 0; skip < 2; skip++) {
        rill_reader_cfg cfg = base_cfg(junk);
        cfg.on_bad_line = skip ? RILL_BAD_SKIP : RILL_BAD_ERROR;
        cfg.max_bad = 1;
        rill_reader *r;
        rill_err err = {0};
        run x = {0};
        if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
            x = read_rest(r);
            rill_reader_close(r);
        } else {
            x.rc = -1;
            x.err = err;
        }
        ok(x.rc == RILL_EDATA && has(x.err.msg, skip ? "no examples: all 3 lines were bad" : ":1:1:"),
           "3 bad lines of 3, %s: %s", skip ? "skipped" : "an error", x.err.msg);
        run_free(&x);
    }
}

static void test_final_newline(void)
{
    buf t = {0};
    gen_line(&t, 1);
    gen_line(&t, 2);
    t.n--; /* no final newline */
    rill_reader_cfg cfg = base_cfg(write_file("nonl.tsv", t.p, t.n));
    size_t n;
    int rc;
    uint64_t *lines = lines_of(&cfg, &n, &rc);
    ok(rc == 0 && n == 2 && lines && lines[1] == 2, "no final newline: the last line is read");
    free(lines);

    /* The last line's values are intact (the sentinel newline is not part of C26). */
    rill_reader *r;
    rill_err err = {0};
    const rill_batch *b;
    if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
        rc = rill_reader_next(r, &b, &err);
        ok(rc == 1 && b->B == 2 && b->num[13] == 2.0f &&
               b->cat[25].off[2] - b->cat[25].off[1] == 1 &&
               b->cat[25].val[b->cat[25].off[1]] == (rill_hash64(2, 126) & 0xffffffffu),
           "no final newline: the last line's values");
        rill_reader_close(r);
    }

    /* A truncated last line fails the column check. */
    t.n -= 100;
    const char *ptr = write_file("trunc.tsv", t.p, t.n);
    char where[128];
    snprintf(where, sizeof where, "%s:2:1: ", ptr);
    expect_error("truncated last line", ptr, 0, false,
                 (const char *[]){where, "columns, expected 40", NULL});
    free(t.p);
}

static void test_cfg(void)
{
    buf t = {0};
    gen_line(&t, 1);
    const char *path = write_str("cfg.tsv", t.p);
    free(t.p);
    rill_reader *r = NULL;
    rill_err err = {0};
    rill_reader_cfg cfg = base_cfg(path);
    cfg.batch = 0;
    ok(rill_reader_open(&r, &cfg, &err) == RILL_EINVAL && !r && has(err.msg, "batch = 0"),
       "cfg: batch 0 is refused: %s", err.msg);
    cfg = base_cfg(path);
    cfg.part = RILL_PART_VALID;
    cfg.valid_fraction = 1.5;
    ok(rill_reader_open(&r, &cfg, &err) == RILL_EINVAL && has(err.msg, "valid_fraction"),
       "cfg: valid_fraction 1.5 is refused: %s", err.msg);
    rill_schema other = schema;
    other.nnum = 12;
    cfg = base_cfg(path);
    cfg.schema = &other;
    ok(rill_reader_open(&r, &cfg, &err) == RILL_EINVAL && has(err.msg, "criteo schema"),
       "cfg: a schema that is not criteo's is refused: %s", err.msg);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-file.tsv", tmpdir);
    cfg = base_cfg(missing);
    ok(rill_reader_open(&r, &cfg, &err) == RILL_EIO && has(err.msg, missing) &&
           has(err.msg, "No such file"),
       "cfg: a missing file is named: %s", err.msg);
}

int main(void)
{
    reader_test_start("reader");
    test_cfg();
    test_parse();
    test_bad_fields();
    test_bad_shapes();
    test_error_batch();
    test_skip();
    test_skip_all_bad();
    test_final_newline();
    rill_schema_free(&schema);
    return done_testing();
}
