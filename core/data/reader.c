/* The generic part of the streaming reader: buffered line reading with pread, the line
 * count and sparse line index made at open, train/valid splits, shuffle chunks, the loader
 * thread, and seek/resume. Line parsing is per format (reader_criteo.c).
 *
 * Data flow. A "producer" reads the part's lines in file order into a chunk (a big
 * rill_batch of chunk_rows rows), permutes the chunk once it is full, and gathers training
 * batches from it. Without a thread the consumer runs the producer itself; with one, the
 * loader thread runs it and hands batches over through a small ring of slots, and while the
 * ring is full it parses ahead into a second chunk. Either way the same code makes the same
 * batches in the same order, so threading cannot change results.
 *
 * Positions. A chunk remembers where its reading began (byte offset and 1-based number of
 * the line after the previous chunk's last line, and the bad lines skipped before it), so a
 * rill_data_pos {epoch, chunk, batch, offset, line, bad_lines} lets seek re-read just that
 * chunk, permute it the same way, and drop the `batch` batches already handed out.
 *
 * This file opens the reader (its checks, the line count and index, the header, the part's
 * line range) and serves next, start_epoch and seek; the buffered lines, the producer and the
 * loader thread are in reader_loader.c, and reader_loader.h holds the state they share. */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader_impl.h"
#include "reader_loader.h"
#include "util.h"

/* Each read() asks for this much (plus room for one partial line kept from the last). */
#define READ_SIZE ((size_t)4 << 20)
#define DEFAULT_MAX_LINE ((size_t)1 << 20)
/* A sanity bound: a longer line limit would only ever be a typo, and costs its size in RAM. */
#define MAX_MAX_LINE ((size_t)1 << 30)
/* Rows are indexed by uint32 permutations and int batch sizes. */
#define MAX_CHUNK_ROWS (1 << 30)

/* ---- open-time scan ---- */

/* One pass over the file: counts lines and records every INDEX_STRIDE-th line's offset. */
static int count_lines(rill_reader *r, rill_err *err)
{
    linebuf *lb = &r->lb;
    uint64_t pos = 0, lines = 0;
    size_t cap_index = 64;
    char last = '\n';
    r->index = malloc(cap_index * sizeof *r->index);
    if (!r->index)
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory for the line index", r->path);
    r->index[0] = 0;
    r->nindex = 1;
    for (;;) {
        ssize_t n;
        while ((n = pread(lb->fd, lb->buf, lb->cap, (off_t)pos)) < 0 && errno == EINTR)
            ;
        if (n < 0)
            return rill_reader_read_fail(r, pos, errno, err);
        if (n == 0)
            break;
        const char *p = lb->buf, *e = lb->buf + n;
        while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
            p++;
            if (++lines % INDEX_STRIDE == 0) {
                if (r->nindex == cap_index) {
                    uint64_t *t = realloc(r->index, 2 * cap_index * sizeof *t);
                    if (!t)
                        return rill_errf(err, RILL_ENOMEM, "%s: out of memory for the line index",
                                         r->path);
                    r->index = t;
                    cap_index *= 2;
                }
                r->index[r->nindex++] = pos + (uint64_t)(p - lb->buf);
            }
        }
        last = lb->buf[n - 1];
        pos += (uint64_t)n;
    }
    r->size = pos;
    if (pos == 0)
        return rill_errf(err, RILL_EDATA, "%s: empty file (no rows)", r->path);
    if (last != '\n') {
        lines++;
        fprintf(stderr, "rill: note: %s: the last line has no final newline; reading it as a "
                        "complete line\n", r->path);
    }
    r->nlines = lines;
    return RILL_OK;
}

/* Byte offset of line L (1 <= L <= nlines), from the index and a short scan. It reads
 * through its own buffer, so a running loader thread keeps its place. */
static int line_offset(const rill_reader *r, uint64_t L, uint64_t *out, rill_err *err)
{
    enum { BUF = 1 << 20 };
    uint64_t k = (L - 1) / INDEX_STRIDE, skip = (L - 1) % INDEX_STRIDE;
    uint64_t pos = r->index[k];
    char *buf = skip ? malloc(BUF) : NULL;
    if (skip && !buf)
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory", r->path);
    int rc = RILL_OK;
    while (skip > 0) {
        ssize_t n;
        while ((n = pread(r->lb.fd, buf, BUF, (off_t)pos)) < 0 && errno == EINTR)
            ;
        if (n <= 0) {
            rc = n < 0 ? rill_reader_read_fail(r, pos, errno, err)
                       : rill_errf(err, RILL_EIO, "%s: the file shrank since it was opened",
                                   r->path);
            break;
        }
        const char *p = buf, *e = buf + n;
        while (skip > 0 && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
            p++;
            skip--;
        }
        pos += skip > 0 ? (uint64_t)n : (uint64_t)(p - buf);
    }
    free(buf);
    *out = pos;
    return rc;
}

bool rill_line_crlf(const char *line, size_t len, rill_line_fail *fail)
{
    if (len == 0 || line[len - 1] != '\r')
        return false;
    if (fail) {
        fail->col = len;
        snprintf(fail->what, sizeof fail->what,
                 "line ends with CR (CRLF line endings): convert the file with dos2unix");
    }
    return true;
}

void rill_quote_field(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 40) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = 0;
}

/* ---- the header ---- */

/* The first line (buf, NUL-terminated, without its newline) of a file with a header must
 * name the schema's columns, in order. */
static int compare_header(const char *path, const rill_text_layout *t, const char *buf,
                          rill_err *err)
{
    int rc = RILL_OK;
    const char *p = buf;
    for (int i = 0; i < t->ncols && !rc; i++) {
        const char *name = t->cols[i].name;
        const char *e = strchr(p, t->sep);
        size_t k = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        size_t qk = k;
        while (t->trim && qk && (q[0] == ' ' || q[0] == '\t')) {
            q++;
            qk--;
        }
        while (t->trim && qk && (q[qk - 1] == ' ' || q[qk - 1] == '\t'))
            qk--;
        if (t->quote && qk >= 2 && q[0] == t->quote && q[qk - 1] == t->quote) {
            q++;
            qk -= 2;
        }
        if (qk != strlen(name) || memcmp(q, name, qk) != 0) {
            char got[200];
            rill_quote_field(got, sizeof got, q, qk);
            rc = rill_errf(err, RILL_EDATA, "%s:1:%zu: header column %d is '%s', the schema's "
                           "column %d is '%s' (the schema lists the file's columns in order; "
                           "set header: false if the file has none)",
                           path, (size_t)(p - buf) + 1, i + 1, got, i + 1, name);
        } else if (!e && i + 1 < t->ncols) {
            rc = rill_errf(err, RILL_EDATA, "%s:1: the header has %d columns, the schema %d "
                           "(next: '%s')", path, i + 1, t->ncols, t->cols[i + 1].name);
        } else if (e && i + 1 == t->ncols) {
            rc = rill_errf(err, RILL_EDATA, "%s:1:%zu: the header has more columns than the "
                           "schema's %d", path, (size_t)(e - buf) + 1, t->ncols);
        }
        p = e ? e + 1 : p + k;
    }
    return rc;
}

/* The first line of fd, up to cap bytes, into a malloc'd NUL-terminated *out (CR dropped). */
static int first_line(const char *path, int fd, size_t cap, char **out, rill_err *err)
{
    char *buf = malloc(cap + 1);
    if (!buf)
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory", path);
    ssize_t n;
    while ((n = pread(fd, buf, cap, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0) {
        int e = errno;
        free(buf);
        return rill_errf(err, RILL_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    char *nl = memchr(buf, '\n', (size_t)n);
    size_t len = nl ? (size_t)(nl - buf) : (size_t)n;
    if (rill_line_crlf(buf, len, NULL))
        len--;
    buf[len] = 0;
    *out = buf;
    return RILL_OK;
}

static int check_header(rill_reader *r, rill_err *err)
{
    char *buf;
    int rc = first_line(r->path, r->lb.fd, r->cfg.max_line + 1, &buf, err);
    if (rc)
        return rc;
    rc = compare_header(r->path, &r->cfg.schema->text, buf, err);
    if (!rc && r->nlines < 2)
        rc = rill_errf(err, RILL_EDATA, "%s: only a header, no rows", r->path);
    free(buf);
    return rc;
}

int rill_reader_check_header(const char *path, const rill_schema *s, rill_err *err)
{
    if (!s->text.header)
        return RILL_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf;
    int rc = first_line(path, fd, (size_t)1 << 20, &buf, err);
    close(fd);
    if (rc)
        return rc;
    rc = compare_header(path, &s->text, buf, err);
    free(buf);
    return rc;
}

/* ---- public ---- */

static int check_cfg(const rill_reader_cfg *c, rill_err *err)
{
    const char *p = c->path ? c->path : "(null)";
    if (!c->path || !*c->path)
        return rill_errf(err, RILL_EINVAL, "reader: no data file path given");
    if (c->format != RILL_FMT_CRITEO && c->format != RILL_FMT_CSV && c->format != RILL_FMT_LIBSVM)
        return rill_errf(err, RILL_EINVAL, "reader %s: unknown format %d (expected RILL_FMT_CRITEO, "
                         "RILL_FMT_CSV or RILL_FMT_LIBSVM)", p, c->format);
    if (!c->schema)
        return rill_errf(err, RILL_EINVAL, "reader %s: no schema given (use rill_schema_criteo)", p);
    if (c->part < RILL_PART_ALL || c->part > RILL_PART_VALID)
        return rill_errf(err, RILL_EINVAL, "reader %s: part = %d (expected RILL_PART_ALL, "
                         "RILL_PART_TRAIN or RILL_PART_VALID)", p, c->part);
    if (c->part != RILL_PART_ALL) {
        if (c->split != RILL_SPLIT_TAIL && c->split != RILL_SPLIT_HASH)
            return rill_errf(err, RILL_EINVAL, "reader %s: split = %d (expected RILL_SPLIT_TAIL "
                             "or RILL_SPLIT_HASH)", p, c->split);
        if (!(c->valid_fraction >= 0 && c->valid_fraction <= 1))
            return rill_errf(err, RILL_EINVAL, "reader %s: valid_fraction = %g (expected a "
                             "number from 0 to 1)", p, c->valid_fraction);
    }
    if (c->batch < 1 || c->batch > MAX_CHUNK_ROWS)
        return rill_errf(err, RILL_EINVAL, "reader %s: batch = %d (expected 1 to %d rows)", p,
                         c->batch, MAX_CHUNK_ROWS);
    if (c->shuffle < 0 || c->shuffle > MAX_CHUNK_ROWS - c->batch)
        return rill_errf(err, RILL_EINVAL, "reader %s: shuffle = %d (expected 0 for file order, "
                         "or a chunk of up to %d rows)", p, c->shuffle, MAX_CHUNK_ROWS - c->batch);
    if (c->on_bad_line != RILL_BAD_ERROR && c->on_bad_line != RILL_BAD_SKIP)
        return rill_errf(err, RILL_EINVAL, "reader %s: on_bad_line = %d (expected RILL_BAD_ERROR "
                         "or RILL_BAD_SKIP)", p, c->on_bad_line);
    if (c->max_line > MAX_MAX_LINE)
        return rill_errf(err, RILL_EINVAL, "reader %s: max_line = %zu bytes (expected at most %zu, "
                         "or 0 for 1 MiB)", p, c->max_line, MAX_MAX_LINE);
    return RILL_OK;
}

/* Opens r's file (a regular one: the reader counts lines and seeks) and its read buffer. */
static int open_file(rill_reader *r, rill_err *err)
{
    struct stat st;
    r->lb.fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (r->lb.fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", r->path, strerror(errno));
    if (fstat(r->lb.fd, &st) == 0 && !S_ISREG(st.st_mode))
        return rill_errf(err, RILL_EIO, "%s: not a regular file (the reader counts lines first "
                         "and seeks, so it cannot read a pipe)", r->path);
    r->lb.max_line = r->cfg.max_line;
    r->lb.cap = READ_SIZE + r->cfg.max_line + 1;
    if (!(r->lb.buf = rill_alloc(r->lb.cap + 1)))
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory for a %zu-byte read buffer",
                         r->path, r->lb.cap);
    return RILL_OK;
}

/* The part's line range and row count (lines counted, header checked); a HASH part spans the
 * file and filters line by line. */
static int plan_part(rill_reader *r, rill_err *err)
{
    const rill_reader_cfg *cfg = &r->cfg;
    uint64_t ndata = r->nlines - (r->data_line - 1);
    int rc;
    r->first_line = r->data_line;
    r->first_offset = 0;
    if (r->data_line > 1 && (rc = line_offset(r, r->data_line, &r->first_offset, err)))
        return rc;
    r->end_line = r->nlines;
    r->rows = ndata;
    if (cfg->part != RILL_PART_ALL && cfg->split == RILL_SPLIT_TAIL) {
        uint64_t nvalid = (uint64_t)(cfg->valid_fraction * (double)ndata + 0.5);
        if (nvalid > ndata)
            nvalid = ndata;
        r->ntrain_tail = r->nlines - nvalid;
        if (cfg->part == RILL_PART_TRAIN) {
            r->end_line = r->ntrain_tail;
            r->rows = ndata - nvalid;
        } else {
            r->first_line = r->ntrain_tail + 1;
            r->rows = nvalid;
            if (nvalid && (rc = line_offset(r, r->first_line, &r->first_offset, err)))
                return rc;
            if (!nvalid)
                r->first_offset = r->size;
        }
    } else if (cfg->part != RILL_PART_ALL) {
        r->rows = 0;
        for (uint64_t l = r->data_line; l <= r->nlines; l++)
            r->rows += rill_reader_in_part(r, l);
    }
    return RILL_OK;
}

/* The chunks the loader fills (two when threaded: up to two shuffle chunks of rows). */
static int alloc_chunks(rill_reader *r, rill_err *err)
{
    const rill_reader_cfg *cfg = &r->cfg;
    int rc;
    r->nch = cfg->threaded ? 2 : 1;
    for (int i = 0; i < r->nch; i++) {
        chunk *c = &r->ch[i];
        if ((rc = rill_batch_init(&c->b, cfg->schema, r->chunk_rows, err)))
            return rc;
        if (cfg->shuffle && !(c->perm = rill_alloc((size_t)r->chunk_rows * sizeof *c->perm)))
            return rill_errf(err, RILL_ENOMEM, "%s: out of memory for a shuffle chunk of %d rows",
                             r->path, r->chunk_rows);
    }
    return RILL_OK;
}

static void free_chunks(rill_reader *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->ch[i].b.schema)
            rill_batch_free(&r->ch[i].b);
        rill_free(r->ch[i].perm);
        memset(&r->ch[i], 0, sizeof r->ch[i]);
    }
}

/* The chunks, and the batches handed out. */
static int alloc_batches(rill_reader *r, rill_err *err)
{
    const rill_reader_cfg *cfg = &r->cfg;
    int rc = alloc_chunks(r, err);
    if (rc)
        return rc;
    for (int i = 0; i < (cfg->threaded ? NSLOTS : 1); i++)
        if ((rc = rill_batch_init(&r->slots[i].b, cfg->schema, cfg->batch, err)))
            return rc;
    return RILL_OK;
}

int rill_reader_open(rill_reader **out, const rill_reader_cfg *cfg, rill_err *err)
{
    *out = NULL;
    int rc = check_cfg(cfg, err);
    if (rc)
        return rc;
    const rill_format *fmt = cfg->format == RILL_FMT_CSV      ? &rill_format_csv
                             : cfg->format == RILL_FMT_LIBSVM ? &rill_format_libsvm
                                                              : &rill_format_criteo;
    if ((rc = fmt->check_schema(cfg->schema, err)))
        return err ? rill_err_prefix(err, "reader %s: ", cfg->path) : rc;

    rill_reader *r = calloc(1, sizeof *r);
    if (!r)
        return rill_errf(err, RILL_ENOMEM, "reader %s: out of memory", cfg->path);
    /* From here on every failure goes through rill_reader_close, which copes with a
     * half-built reader. */
    r->lb.fd = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->can_produce, NULL);
    pthread_cond_init(&r->can_consume, NULL);
    atomic_init(&r->stop, false);
    r->first_bad_seen = "";
    r->cfg = *cfg;
    r->fmt = fmt;
    if (!(r->path = strdup(cfg->path))) {
        rc = rill_errf(err, RILL_ENOMEM, "reader %s: out of memory", cfg->path);
        goto fail;
    }
    r->cfg.path = r->path;
    if (!r->cfg.max_line)
        r->cfg.max_line = DEFAULT_MAX_LINE;
    int b = cfg->batch;
    r->chunk_rows = cfg->shuffle ? (cfg->shuffle + b - 1) / b * b : b;
    if ((rc = open_file(r, err)) || (rc = count_lines(r, err)))
        goto fail;
    /* A header is checked against the schema's column names and belongs to no part. */
    r->data_line = 1;
    if (cfg->schema->text.header) {
        if ((rc = check_header(r, err)))
            goto fail;
        r->data_line = 2;
    }
    if ((rc = plan_part(r, err)) || (rc = alloc_batches(r, err)))
        goto fail;
    rill_cache_attach(r);
    rill_reader_producer_reset(r, 0, 0, r->first_offset, r->first_line, 0, 0);
    if ((rc = rill_reader_thread_start(r, err)))
        goto fail;
    *out = r;
    return RILL_OK;
fail:
    rill_reader_close(r);
    return rc;
}

void rill_reader_close(rill_reader *r)
{
    if (!r)
        return;
    rill_reader_thread_stop(r);
    free_chunks(r);
    for (int i = 0; i < NSLOTS; i++)
        if (r->slots[i].b.schema)
            rill_batch_free(&r->slots[i].b);
    rill_cache_detach(r);
    if (r->lb.fd >= 0)
        close(r->lb.fd);
    rill_free(r->lb.buf);
    free(r->index);
    free(r->path);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->can_produce);
    pthread_cond_destroy(&r->can_consume);
    free(r);
}

/* At the end of a pass: a part without one good line, or with more lines skipped than allowed,
 * is an error, not an epoch of nothing (or of a few survivors) reported as a success. */
static int check_pass(const rill_reader *r, rill_err *err)
{
    const char *part = r->cfg.part == RILL_PART_VALID   ? " (the validation part)"
                       : r->cfg.part == RILL_PART_TRAIN ? " (the training part)"
                                                        : "";
    uint64_t lines = r->rows, bad = r->bad_seen;
    if (lines == 0)
        return rill_errf(err, RILL_EDATA, "%s%s: no examples: the part holds no lines (a smaller "
                         "validation fraction, or more data?)", r->path, part);
    if (bad >= lines)
        return rill_errf(err, RILL_EDATA, "%s%s: no examples: all %" PRIu64 " lines were bad and "
                         "skipped (the first: %s)", r->path, part, lines, r->first_bad);
    double max = r->cfg.max_bad > 0 ? r->cfg.max_bad : 0.1;
    if (bad && max < 1 && (double)bad > max * (double)lines)
        return rill_errf(err, RILL_EDATA, "%s%s: %" PRIu64 " of %" PRIu64 " lines (%.1f%%) were bad "
                         "and skipped, more than the %g%% allowed (the data's max_bad); the "
                         "first: %s", r->path, part, bad, lines, 100.0 * (double)bad / (double)lines,
                         100 * max, r->first_bad);
    return RILL_OK;
}

int rill_reader_next(rill_reader *r, const rill_batch **batch, rill_err *err)
{
    *batch = NULL;
    if (r->term) {
        if (r->term_rc < 0 && err)
            *err = r->term_err;
        return r->term_rc;
    }
    slot *s;
    if (r->running) {
        pthread_mutex_lock(&r->mu);
        if (r->holding) {
            r->released++;
            r->holding = false;
            pthread_cond_signal(&r->can_produce);
        }
        while (r->produced == r->taken)
            pthread_cond_wait(&r->can_consume, &r->mu);
        s = &r->slots[r->taken++ % NSLOTS];
        r->holding = true;
        pthread_mutex_unlock(&r->mu);
    } else {
        s = &r->slots[0];
        rill_reader_produce(r, s); /* STOPPED cannot happen without a thread */
    }
    r->bad_seen = s->bad_end;
    /* first_bad is written once per epoch, before the slot that counts it was published. */
    if (s->bad_end && !*r->first_bad_seen)
        r->first_bad_seen = r->first_bad;
    if (s->rc == 0 && (s->rc = check_pass(r, &s->err)) != 0)
        s->err.code = s->rc;
    if (s->rc <= 0) {
        r->term = true;
        r->term_rc = s->rc;
        r->term_err = s->err;
        if (s->rc < 0 && err)
            *err = s->err;
        return s->rc;
    }
    *batch = &s->b;
    return 1;
}

const rill_batch *rill_reader_peek(rill_reader *r, int k, uint64_t *seq)
{
    if (r->term || !r->running || k < 0 || k >= NSLOTS - 1)
        return NULL;
    const rill_batch *b = NULL;
    pthread_mutex_lock(&r->mu);
    /* a slot produced but not yet taken is not written again until it is taken and released */
    if (r->produced > r->taken + (uint64_t)k) {
        slot *s = &r->slots[(r->taken + (uint64_t)k) % NSLOTS];
        if (s->rc > 0)
            b = &s->b;
        if (b && seq)
            *seq = r->taken + (uint64_t)k;
    }
    pthread_mutex_unlock(&r->mu);
    return b;
}

void rill_reader_release(rill_reader *r)
{
    if (!r)
        return;
    rill_reader_thread_stop(r);
    free_chunks(r);
    r->term = true;
    r->term_rc = rill_errf(&r->term_err, RILL_EINVAL, "%s: this reader's buffers were released "
                           "(its training ended): start an epoch or seek before reading",
                           r->path);
}

/* After rill_reader_release: the chunks again. */
static int ensure_chunks(rill_reader *r, rill_err *err)
{
    return r->ch[0].b.schema ? RILL_OK : alloc_chunks(r, err);
}

int rill_reader_start_epoch(rill_reader *r, uint64_t epoch, rill_err *err)
{
    rill_reader_thread_stop(r);
    int rc = ensure_chunks(r, err);
    if (rc)
        return rc;
    rill_reader_producer_reset(r, epoch, 0, r->first_offset, r->first_line, 0, 0);
    return rill_reader_thread_start(r, err);
}

int rill_reader_seek(rill_reader *r, const rill_data_pos *pos, rill_err *err)
{
    uint64_t off = 0;
    int rc;
    if (pos->batch < 1 || pos->batch > (uint64_t)r->chunk_rows / (uint64_t)r->cfg.batch)
        return rill_errf(err, RILL_EINVAL, "%s: cannot resume at batch %" PRIu64 " of a chunk: "
                         "a chunk here has 1 to %d batches (was the position saved with another "
                         "batch or shuffle size?)", r->path, pos->batch,
                         r->chunk_rows / r->cfg.batch);
    if (pos->line < r->first_line || pos->line > r->end_line)
        return rill_errf(err, RILL_EINVAL, "%s: cannot resume at line %" PRIu64 ": this part of "
                         "the file is lines %" PRIu64 " to %" PRIu64, r->path, pos->line,
                         r->first_line, r->end_line);
    if ((rc = line_offset(r, pos->line, &off, err)))
        return rc;
    if (off != pos->offset)
        return rill_errf(err, RILL_EINVAL, "%s: cannot resume at line %" PRIu64 " offset %"
                         PRIu64 ": that line starts at byte %" PRIu64 " (was the position "
                         "saved with another file, or has the file changed?)", r->path,
                         pos->line, pos->offset, off);
    rill_reader_thread_stop(r);
    if ((rc = ensure_chunks(r, err)))
        return rc;
    rill_reader_producer_reset(r, pos->epoch, pos->chunk, pos->offset, pos->line, pos->bad_lines,
                   (int)pos->batch);
    return rill_reader_thread_start(r, err);
}

uint64_t rill_reader_rows(const rill_reader *r)
{
    return r->rows;
}

uint64_t rill_reader_bad_lines(const rill_reader *r)
{
    return r->bad_seen;
}

bool rill_reader_cached(const rill_reader *r)
{
    return r->cache != NULL;
}

const char *rill_reader_first_bad(const rill_reader *r)
{
    return r->first_bad_seen;
}
