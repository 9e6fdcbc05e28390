/* The streaming reader on Criteo TSV: parsing, every kind of bad line and its message, skip
 * mode, splits, shuffling, threaded == unthreaded, seek/resume, and the real sample files
 * (skipped when ../shared/data is absent; RILL_SHARED=/path/to/shared overrides). Temporary
 * files live in a mkdtemp directory under /tmp that is removed at the end. */
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static char tmpdir[64];
static char *made[64];
static int nmade;
static rill_schema schema;

static const char *write_file(const char *name, const char *text, size_t n)
{
    char *path = malloc(strlen(tmpdir) + strlen(name) + 2);
    sprintf(path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", path);
        exit(1);
    }
    if (nmade == (int)(sizeof made / sizeof made[0])) {
        printf("Bail out! too many temporary files\n");
        exit(1);
    }
    made[nmade++] = path;
    return path;
}

static const char *write_str(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static void cleanup(void)
{
    for (int i = 0; i < nmade; i++) {
        unlink(made[i]);
        free(made[i]);
    }
    rmdir(tmpdir);
}

/* ---- growing strings ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *x, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* ---- synthetic lines ---- */

/* A valid line whose I1 is its number i, so rows can be traced back to lines. */
static void gen_line(buf *b, uint64_t i)
{
    char t[64];
    snprintf(t, sizeof t, "%d\t%llu", (int)(rill_hash64(i, 1) % 4 == 0), (unsigned long long)i);
    puts_(b, t);
    for (int j = 2; j <= 13; j++) {
        if ((i + (uint64_t)j) % 5 == 0)
            snprintf(t, sizeof t, "\t");
        else if (j == 2)
            snprintf(t, sizeof t, "\t-%llu", (unsigned long long)(i % 9));
        else
            snprintf(t, sizeof t, "\t%llu", (unsigned long long)(rill_hash64(i, (uint64_t)j) % 1000));
        puts_(b, t);
    }
    for (int j = 1; j <= 26; j++) {
        if ((i + (uint64_t)j) % 6 == 0)
            snprintf(t, sizeof t, "\t");
        else
            snprintf(t, sizeof t, "\t%08llx",
                     (unsigned long long)(rill_hash64(i, 100 + (uint64_t)j) & 0xffffffffu));
        puts_(b, t);
    }
    puts_(b, "\n");
}

/* n lines; the lines listed in bad (0-terminated) get a bad hex value in C3. */
static const char *gen_file(const char *name, uint64_t n, const uint64_t *bad)
{
    buf b = {0};
    for (uint64_t i = 1; i <= n; i++) {
        bool isbad = false;
        for (const uint64_t *p = bad; p && *p; p++)
            isbad |= *p == i;
        if (isbad) {
            char t[64];
            snprintf(t, sizeof t, "0\t%llu\t\t\t\t\t\t\t\t\t\t\t\t\t\t\txyz", (unsigned long long)i);
            puts_(&b, t);
            for (int j = 4; j <= 26; j++)
                puts_(&b, "\t");
            puts_(&b, "\n");
        } else {
            gen_line(&b, i);
        }
    }
    const char *path = write_file(name, b.p, b.n);
    free(b.p);
    return path;
}

/* A valid line with column col (0 = label, 1..13 = I, 14..39 = C) replaced by val; *colpos
 * gets that field's 1-based byte column. */
static void line_with(buf *b, int col, const char *val, size_t *colpos)
{
    for (int c = 0; c < 40; c++) {
        if (c)
            puts_(b, "\t");
        if (c == col) {
            *colpos = b->n + 1;
            puts_(b, val);
        } else {
            puts_(b, c == 0 ? "1" : c <= 13 ? "17" : "0a1b2c3d");
        }
    }
}

static rill_reader_cfg base_cfg(const char *path)
{
    return (rill_reader_cfg){.path = path, .format = RILL_FMT_CRITEO, .schema = &schema,
                             .batch = 7, .seed = 42, .split_seed = 7};
}

/* ---- batch snapshots, for bit-for-bit comparisons ---- */

typedef struct run {
    buf *snap;      /* one per batch */
    rill_data_pos *pos;
    int n, rc;
    uint64_t bad;
    char first_bad[1024];
    rill_err err; /* when rc < 0 */
} run;

static void snapshot(buf *s, const rill_batch *b)
{
    put(s, &b->B, sizeof b->B);
    put(s, b->labels, (size_t)b->B * sizeof(float));
    put(s, b->num, (size_t)b->B * 13 * sizeof(float));
    put(s, b->line, (size_t)b->B * sizeof(uint64_t));
    for (int f = 0; f < 26; f++) {
        put(s, b->cat[f].off, (size_t)(b->B + 1) * sizeof(uint32_t));
        put(s, b->cat[f].val, b->cat[f].off[b->B] * sizeof(uint64_t));
    }
    put(s, &b->pos, sizeof b->pos);
}

/* Reads the rest of the current epoch. */
static run read_rest(rill_reader *r)
{
    run out = {0};
    const rill_batch *b;
    rill_err err = {0};
    while ((out.rc = rill_reader_next(r, &b, &err)) > 0) {
        out.snap = realloc(out.snap, (size_t)(out.n + 1) * sizeof *out.snap);
        out.pos = realloc(out.pos, (size_t)(out.n + 1) * sizeof *out.pos);
        out.snap[out.n] = (buf){0};
        snapshot(&out.snap[out.n], b);
        out.pos[out.n++] = b->pos;
    }
    out.err = err;
    out.bad = rill_reader_bad_lines(r);
    snprintf(out.first_bad, sizeof out.first_bad, "%s", rill_reader_first_bad(r));
    return out;
}

static void run_free(run *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->snap[i].p);
    free(x->snap);
    free(x->pos);
    memset(x, 0, sizeof *x);
}

/* a[from..] == b[0..] batch by batch, with the same end */
static bool same_batches(const run *a, int from, const run *b)
{
    if (a->n - from != b->n || a->rc != b->rc)
        return false;
    for (int i = 0; i < b->n; i++)
        if (a->snap[from + i].n != b->snap[i].n ||
            memcmp(a->snap[from + i].p, b->snap[i].p, b->snap[i].n) != 0)
            return false;
    return true;
}

static run read_cfg(const rill_reader_cfg *cfg, uint64_t epoch)
{
    rill_reader *r;
    rill_err err = {0};
    run out = {.rc = -100};
    if (rill_reader_open(&r, cfg, &err)) {
        diag("open: %s", err.msg);
        return out;
    }
    if (epoch && rill_reader_start_epoch(r, epoch, &err))
        diag("start_epoch: %s", err.msg);
    out = read_rest(r);
    rill_reader_close(r);
    return out;
}

/* All line numbers delivered, in order. */
static uint64_t *lines_of(const rill_reader_cfg *cfg, size_t *n, int *rc)
{
    rill_reader *r;
    rill_err err = {0};
    const rill_batch *b;
    uint64_t *out = NULL;
    *n = 0;
    *rc = -100;
    if (rill_reader_open(&r, cfg, &err)) {
        diag("open: %s", err.msg);
        return NULL;
    }
    while ((*rc = rill_reader_next(r, &b, &err)) > 0) {
        out = realloc(out, (*n + (size_t)b->B) * sizeof *out);
        memcpy(out + *n, b->line, (size_t)b->B * sizeof *out);
        *n += (size_t)b->B;
    }
    rill_reader_close(r);
    return out;
}

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

static bool has(const char *msg, const char *want)
{
    return strstr(msg, want) != NULL;
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

static void test_splits(const char *path, uint64_t N)
{
    for (int split = 0; split < 2; split++) {
        for (int shuffle = 0; shuffle <= 30; shuffle += 30) {
            const char *sn = split == RILL_SPLIT_TAIL ? "TAIL" : "HASH";
            rill_reader_cfg cfg = base_cfg(path);
            cfg.split = split;
            cfg.valid_fraction = 0.2;
            cfg.shuffle = shuffle;
            size_t nt, nv;
            int rct, rcv;
            uint64_t rows_t = 0, rows_v = 0;
            rill_reader *r;
            rill_err err = {0};
            cfg.part = RILL_PART_TRAIN;
            if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
                rows_t = rill_reader_rows(r);
                rill_reader_close(r);
            }
            uint64_t *lt = lines_of(&cfg, &nt, &rct);
            cfg.part = RILL_PART_VALID;
            if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
                rows_v = rill_reader_rows(r);
                rill_reader_close(r);
            }
            uint64_t *lv = lines_of(&cfg, &nv, &rcv);
            char *seen = calloc(N + 1, 1);
            bool once = rct == 0 && rcv == 0;
            for (size_t i = 0; i < nt; i++)
                once &= lt[i] >= 1 && lt[i] <= N && seen[lt[i]]++ == 0;
            for (size_t i = 0; i < nv; i++)
                once &= lv[i] >= 1 && lv[i] <= N && seen[lv[i]]++ == 0;
            ok(once && nt + nv == N, "%s split (shuffle %d): train %zu + valid %zu = %llu lines, "
               "no overlap", sn, shuffle, nt, nv, (unsigned long long)N);
            ok(rows_t == nt && rows_v == nv, "%s split: rows() = %llu + %llu", sn,
               (unsigned long long)rows_t, (unsigned long long)rows_v);
            if (split == RILL_SPLIT_TAIL) {
                bool tail = nv == (size_t)(0.2 * (double)N + 0.5);
                for (size_t i = 0; i < nv; i++)
                    tail &= lv[i] > N - nv;
                ok(tail, "TAIL split: validation is the last 20%% of the lines");
            } else {
                ok(nv > N / 10 && nv < N * 3 / 10, "HASH split: about 20%% validation (%zu)", nv);
            }
            free(seen);
            free(lt);
            free(lv);
        }
    }
}

static void test_shuffle(const char *path, uint64_t N)
{
    rill_reader_cfg cfg = base_cfg(path);
    cfg.shuffle = 50; /* rounded up to 56 = 8 batches of 7 */
    run a = read_cfg(&cfg, 0), a2 = read_cfg(&cfg, 0), e1 = read_cfg(&cfg, 1);
    char *seen = calloc(N + 1, 1);
    bool perm = a.rc == 0, inchunk = true, full = true, moved = false;
    uint64_t k = 0;
    for (int i = 0; i < a.n; i++) {
        int B;
        memcpy(&B, a.snap[i].p, sizeof B);
        full &= B == 7 || i == a.n - 1;
        const char *line = a.snap[i].p + sizeof(int) + (size_t)B * 14 * sizeof(float);
        for (int j = 0; j < B; j++, k++) {
            uint64_t l;
            memcpy(&l, line + (size_t)j * sizeof l, sizeof l);
            perm &= l >= 1 && l <= N && seen[l]++ == 0;
            moved |= l != k + 1;
            inchunk &= (l - 1) / 56 == k / 56;
        }
        full &= a.pos[i].chunk == (uint64_t)i / 8 && a.pos[i].batch == (uint64_t)i % 8 + 1 &&
                a.pos[i].epoch == 0;
    }
    ok(perm && k == N, "shuffle: every line exactly once (%llu rows)", (unsigned long long)k);
    ok(moved, "shuffle: not in file order");
    ok(inchunk, "shuffle: rows stay within their 56-row chunk");
    ok(full, "shuffle: batches are full except the last; pos counts chunks and batches");
    ok(same_batches(&a, 0, &a2), "shuffle: same configuration, same batches");
    ok(!same_batches(&a, 0, &e1), "shuffle: epoch 1 has another order");

    rill_reader *r;
    rill_err err = {0};
    if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
        run x = read_rest(r);
        rill_reader_start_epoch(r, 1, &err);
        run y = read_rest(r);
        rill_reader_start_epoch(r, 0, &err);
        run z = read_rest(r);
        ok(same_batches(&x, 0, &a) && same_batches(&y, 0, &e1) && same_batches(&z, 0, &a),
           "shuffle: start_epoch replays an epoch's order");
        run_free(&x);
        run_free(&y);
        run_free(&z);
        rill_reader_close(r);
    }
    free(seen);
    run_free(&a);
    run_free(&a2);
    run_free(&e1);
}

static void test_threaded(const char *path, const char *bigpath)
{
    struct {
        const char *what;
        const char *path;
        int batch, shuffle, part, split;
        bool skip;
    } cfgs[] = {
        {"file order", path, 7, 0, RILL_PART_ALL, 0, true},
        {"shuffled", path, 7, 50, RILL_PART_ALL, 0, true},
        {"HASH train, shuffled", path, 5, 33, RILL_PART_TRAIN, RILL_SPLIT_HASH, true},
        {"TAIL valid", path, 16, 64, RILL_PART_VALID, RILL_SPLIT_TAIL, true},
        {"big, shuffled", bigpath, 64, 1000, RILL_PART_ALL, 0, false},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        rill_reader_cfg cfg = base_cfg(cfgs[k].path);
        cfg.batch = cfgs[k].batch;
        cfg.shuffle = cfgs[k].shuffle;
        cfg.part = cfgs[k].part;
        cfg.split = cfgs[k].split;
        cfg.valid_fraction = 0.3;
        cfg.on_bad_line = cfgs[k].skip ? RILL_BAD_SKIP : RILL_BAD_ERROR;
        run u[2], t[2];
        for (int e = 0; e < 2; e++) {
            cfg.threaded = false;
            u[e] = read_cfg(&cfg, (uint64_t)e);
            cfg.threaded = true;
            t[e] = read_cfg(&cfg, (uint64_t)e);
        }
        ok(u[0].n > 0 && u[0].rc == 0 && same_batches(&u[0], 0, &t[0]) &&
               same_batches(&u[1], 0, &t[1]) && u[0].bad == t[0].bad &&
               strcmp(u[0].first_bad, t[0].first_bad) == 0,
           "threaded == unthreaded, bit for bit, 2 epochs: %s (%d batches, %llu bad)",
           cfgs[k].what, u[0].n, (unsigned long long)u[0].bad);
        for (int e = 0; e < 2; e++) {
            run_free(&u[e]);
            run_free(&t[e]);
        }
    }

    /* Closing mid-file stops the loader, wherever it is. */
    rill_reader_cfg cfg = base_cfg(bigpath);
    cfg.threaded = true;
    cfg.batch = 16;
    cfg.shuffle = 4000;
    const rill_batch *b;
    rill_err err = {0};
    bool fine = true;
    for (int i = 0; i < 4; i++) {
        rill_reader *r;
        if (rill_reader_open(&r, &cfg, &err) != RILL_OK) {
            fine = false;
            break;
        }
        for (int j = 0; j < i; j++)
            fine &= rill_reader_next(r, &b, &err) == 1;
        rill_reader_close(r);
    }
    ok(fine, "threaded: close mid-file joins the loader");
}

static void test_seek(const char *path)
{
    for (int th = 0; th < 2; th++) {
        rill_reader_cfg cfg = base_cfg(path);
        cfg.shuffle = 50; /* chunks of 8 batches of 7 */
        cfg.on_bad_line = RILL_BAD_SKIP;
        rill_reader *r, *s;
        rill_err err = {0};
        if (rill_reader_open(&r, &cfg, &err) != RILL_OK) {
            ok(0, "seek: open: %s", err.msg);
            return;
        }
        run e0 = read_rest(r);
        rill_reader_start_epoch(r, 1, &err);
        run e1 = read_rest(r);
        rill_reader_close(r);

        cfg.threaded = th;
        rill_reader_open(&s, &cfg, &err);
        /* last of chunk 0, first of chunk 1, mid-chunk, the last two of the epoch */
        int ks[] = {0, 7, 8, 20, e0.n - 2, e0.n - 1};
        bool all = true;
        for (int e = 0; e < 2; e++) {
            run *ref = e ? &e1 : &e0;
            for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
                int k = ks[i];
                if (rill_reader_seek(s, &ref->pos[k], &err)) {
                    diag("seek: %s", err.msg);
                    all = false;
                    continue;
                }
                run x = read_rest(s);
                bool same = same_batches(ref, k + 1, &x) && x.bad == ref->bad;
                if (!same)
                    diag("seek to epoch %d batch %d: %d batches after, expected %d", e, k, x.n,
                         ref->n - k - 1);
                all &= same;
                run_free(&x);
            }
        }
        ok(all, "seek%s: after seek(pos of batch k), the rest of the epoch is the uninterrupted "
           "run's, across chunk ends", th ? " (threaded)" : "");

        /* At the epoch's last batch: the end of the epoch, then epoch 1 as before. */
        rill_reader_seek(s, &e0.pos[e0.n - 1], &err);
        const rill_batch *b;
        int rc = rill_reader_next(s, &b, &err);
        rill_reader_start_epoch(s, 1, &err);
        run y = read_rest(s);
        ok(rc == 0 && same_batches(&e1, 0, &y), "seek%s: across the epoch end", th ? " (threaded)" : "");
        run_free(&y);

        /* Seek mid-run, with the loader ahead. */
        rill_reader_start_epoch(s, 0, &err);
        for (int i = 0; i < 5; i++)
            rill_reader_next(s, &b, &err);
        rill_reader_seek(s, &e0.pos[12], &err);
        y = read_rest(s);
        ok(same_batches(&e0, 13, &y), "seek%s: in the middle of a run", th ? " (threaded)" : "");
        run_free(&y);

        /* A position from another file or configuration is refused, and the reader stays. */
        rill_data_pos bad = e0.pos[9];
        bad.offset += 1;
        rc = rill_reader_seek(s, &bad, &err);
        ok(rc == RILL_EINVAL && has(err.msg, "cannot resume"), "seek: a wrong offset is refused: %s",
           err.msg);
        bad = e0.pos[9];
        bad.batch = 9;
        rc = rill_reader_seek(s, &bad, &err);
        ok(rc == RILL_EINVAL && has(err.msg, "cannot resume"), "seek: a batch beyond the chunk is "
           "refused: %s", err.msg);
        rill_reader_close(s);
        run_free(&e0);
        run_free(&e1);
    }
}

static void test_shared(void)
{
    const char *shared = getenv("RILL_SHARED") ? getenv("RILL_SHARED") : "../shared";
    struct {
        const char *file;
        uint64_t rows, pos;
    } files[] = {
        {"criteo_merged.tsv", 14549, 3305},
        {"kaggle_train_head10000.txt", 10000, 2182},
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data/criteo/%s", shared, files[k].file);
        if (access(path, R_OK) != 0) {
            printf("ok %d # SKIP %s not found (set RILL_SHARED)\n", ++tap_run, path);
            continue;
        }
        for (int th = 0; th < 2; th++) {
            rill_reader_cfg cfg = base_cfg(path);
            cfg.batch = 256;
            cfg.shuffle = th ? 4096 : 0;
            cfg.threaded = th;
            rill_reader *r;
            rill_err err = {0};
            const rill_batch *b;
            if (!ok(rill_reader_open(&r, &cfg, &err) == RILL_OK, "%s: open", files[k].file)) {
                diag("%s", err.msg);
                continue;
            }
            double t0 = rill_now();
            uint64_t rows = 0, pos = 0;
            int rc;
            while ((rc = rill_reader_next(r, &b, &err)) > 0) {
                rows += (uint64_t)b->B;
                for (int i = 0; i < b->B; i++)
                    pos += b->labels[i] == 1.0f;
            }
            double dt = rill_now() - t0;
            ok(rc == 0 && rows == files[k].rows && pos == files[k].pos &&
                   rill_reader_bad_lines(r) == 0 && rill_reader_rows(r) == files[k].rows,
               "%s%s: %llu rows, %llu positives, 0 bad lines", files[k].file,
               th ? " (threaded, shuffled)" : "", (unsigned long long)rows,
               (unsigned long long)pos);
            if (rc < 0)
                diag("%s", err.msg);
            diag("%s: %.0f rows/s (%.2f us/row)", files[k].file, (double)rows / dt,
                 dt * 1e6 / (double)rows);
            rill_reader_close(r);
        }
    }
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
    rill_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rill-reader-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    atexit(cleanup);
    if (rill_schema_criteo(&schema, &err)) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_cfg();
    test_parse();
    test_bad_fields();
    test_bad_shapes();
    test_error_batch();
    test_skip();
    test_skip_all_bad();
    test_final_newline();
    const uint64_t N = 1000;
    const char *clean = gen_file("gen1000.tsv", N, NULL);
    const char *dirty = gen_file("dirty1000.tsv", N, (const uint64_t[]){3, 57, 58, 400, 999, 0});
    const char *big = gen_file("gen20000.tsv", 20000, NULL);
    test_splits(clean, N);
    test_shuffle(clean, N);
    test_threaded(dirty, big);
    test_seek(dirty);
    test_shared();
    rill_schema_free(&schema);
    return done_testing();
}
