/* Helpers for the streaming reader's tests on Criteo TSV (t-reader-criteo.c: lines and their
 * errors; t-reader-stream.c: splits, shuffling, threads, seek): temporary files in a mkdtemp
 * directory under /tmp that is removed at exit, growing strings, synthetic lines and files,
 * and batch snapshots for bit-for-bit comparisons of whole runs. */
#ifndef RILL_READERTEST_H
#define RILL_READERTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"
#include "tap.h"
#include "util.h"

static char tmpdir[64];
static char *made[64];
static int nmade;
static rill_schema schema;

static inline const char *write_file(const char *name, const char *text, size_t n)
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

static inline const char *write_str(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static inline void cleanup(void)
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

static inline void put(buf *b, const void *x, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
    b->p[b->n] = 0;
}

static inline void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* ---- synthetic lines ---- */

/* A valid line whose I1 is its number i, so rows can be traced back to lines. */
static inline void gen_line(buf *b, uint64_t i)
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
static inline const char *gen_file(const char *name, uint64_t n, const uint64_t *bad)
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
static inline void line_with(buf *b, int col, const char *val, size_t *colpos)
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

static inline rill_reader_cfg base_cfg(const char *path)
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

static inline void snapshot(buf *s, const rill_batch *b)
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
static inline run read_rest(rill_reader *r)
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

static inline void run_free(run *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->snap[i].p);
    free(x->snap);
    free(x->pos);
    memset(x, 0, sizeof *x);
}

/* a[from..] == b[0..] batch by batch, with the same end */
static inline bool same_batches(const run *a, int from, const run *b)
{
    if (a->n - from != b->n || a->rc != b->rc)
        return false;
    for (int i = 0; i < b->n; i++)
        if (a->snap[from + i].n != b->snap[i].n ||
            memcmp(a->snap[from + i].p, b->snap[i].p, b->snap[i].n) != 0)
            return false;
    return true;
}

static inline run read_cfg(const rill_reader_cfg *cfg, uint64_t epoch)
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
static inline uint64_t *lines_of(const rill_reader_cfg *cfg, size_t *n, int *rc)
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

static inline bool has(const char *msg, const char *want)
{
    return strstr(msg, want) != NULL;
}

/* The temporary directory (/tmp/rill-NAME-XXXXXX, removed at exit) and the Criteo schema. */
static inline void reader_test_start(const char *name)
{
    rill_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rill-%s-XXXXXX", name);
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! mkdtemp failed\n");
        exit(1);
    }
    atexit(cleanup);
    if (rill_schema_criteo(&schema, &err)) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
}

#endif
