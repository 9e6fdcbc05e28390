/* The reader's producer (see reader.c for the data flow): buffered line reading with pread,
 * filling a chunk with the part's lines through the format's parser, permuting it, and
 * gathering batches from it; and the loader thread that runs the producer ahead of the
 * consumer, handing batches over through a ring of slots and parsing ahead into a second
 * chunk while the ring is full. */
#include "reader_loader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* How often a long chunk fill looks at the stop flag, and how many lines one prefetch step
 * parses before checking whether the consumer freed a slot. */
#define STOP_CHECK_LINES 1024
#define PREFETCH_LINES 4096

/* ---- buffered lines ---- */

/* Next line: *line points into the buffer (valid until the next call), *len excludes the
 * newline, and (*line)[*len] is '\n'. LB_LONG: a line over max_line bytes, skipped. */
int rill_lb_next(linebuf *lb, const char **line, size_t *len)
{
    for (;;) {
        char *s = lb->buf + lb->beg;
        size_t avail = lb->end - lb->beg;
        size_t look = avail < lb->max_line + 1 ? avail : lb->max_line + 1;
        char *nl = memchr(s, '\n', look);
        if (nl) {
            *line = s;
            *len = (size_t)(nl - s);
            lb->beg += *len + 1;
            return LB_LINE;
        }
        if (avail > lb->max_line) {
            /* Skip to the end of the overlong line, whatever its length. */
            for (;;) {
                nl = memchr(lb->buf + lb->beg, '\n', lb->end - lb->beg);
                if (nl) {
                    lb->beg = (size_t)(nl - lb->buf) + 1;
                    return LB_LONG;
                }
                lb->beg = lb->end = 0;
                if (lb->eof)
                    return LB_LONG;
                ssize_t n;
                while ((n = pread(lb->fd, lb->buf, lb->cap, (off_t)lb->pos)) < 0 && errno == EINTR)
                    ;
                if (n < 0) {
                    lb->err = errno;
                    return LB_ERR;
                }
                lb->eof = n == 0;
                lb->end = (size_t)n;
                lb->pos += (uint64_t)n;
            }
        }
        if (lb->eof) {
            if (avail == 0)
                return LB_EOF;
            /* An unterminated last line: give it the newline the parsers stop on. */
            s[avail] = '\n';
            *line = s;
            *len = avail;
            lb->beg = lb->end;
            return LB_LINE;
        }
        memmove(lb->buf, s, avail);
        lb->beg = 0;
        lb->end = avail;
        ssize_t n;
        while ((n = pread(lb->fd, lb->buf + avail, lb->cap - avail, (off_t)lb->pos)) < 0 &&
               errno == EINTR)
            ;
        if (n < 0) {
            lb->err = errno;
            return LB_ERR;
        }
        lb->eof = n == 0;
        lb->end += (size_t)n;
        lb->pos += (uint64_t)n;
    }
}

void rill_lb_seek(linebuf *lb, uint64_t offset)
{
    lb->beg = lb->end = 0;
    lb->pos = offset;
    lb->eof = false;
}

uint64_t rill_lb_tell(const linebuf *lb)
{
    return lb->pos - (lb->end - lb->beg);
}

int rill_reader_read_fail(const rill_reader *r, uint64_t at, int e, rill_err *err)
{
    return rill_errf(err, RILL_EIO, "%s: read failed near byte %" PRIu64 ": %s", r->path, at,
                     strerror(e));
}

bool rill_reader_in_part(const rill_reader *r, uint64_t line)
{
    const rill_reader_cfg *c = &r->cfg;
    if (line < r->data_line)
        return false; /* the header */
    if (c->part == RILL_PART_ALL || c->split == RILL_SPLIT_TAIL)
        return true; /* TAIL parts are line ranges: [first_line, end_line] */
    bool valid = rill_hash_unit(c->split_seed, line, 0) < c->valid_fraction;
    return valid == (c->part == RILL_PART_VALID);
}

/* ---- producer ---- */

static void chunk_start(rill_reader *r, chunk *c)
{
    rill_batch_clear(&c->b);
    c->state = CH_FILLING;
    c->index = r->next_chunk++;
    c->offset = r->cache ? rill_cache_offset(r->cache, r->line + 1) : rill_lb_tell(&r->lb);
    c->line = r->line + 1;
    c->bad_before = r->bad;
    c->nbatches = c->cursor = 0;
}

static void chunk_fail(chunk *c, const rill_err *e)
{
    c->state = CH_ERROR;
    c->err = *e;
}

static void chunk_ready(rill_reader *r, chunk *c)
{
    int B = c->b.B, batch = r->cfg.batch;
    c->state = CH_READY;
    c->bad_end = r->bad;
    c->nbatches = B / batch + (B % batch != 0);
    c->cursor = 0;
    if (c->perm) {
        /* Fisher-Yates from a stream seeded by (seed, epoch, chunk): any chunk's order can
         * be rebuilt on its own, which is what makes seek cheap. */
        rill_rng rng;
        rill_rng_seed(&rng, rill_hash64(rill_hash64(c->index, r->epoch), r->cfg.seed));
        for (int i = 0; i < B; i++)
            c->perm[i] = (uint32_t)i;
        for (int i = B - 1; i > 0; i--) {
            uint32_t j = (uint32_t)rill_rng_below(&rng, (uint64_t)i + 1), t = c->perm[i];
            c->perm[i] = c->perm[j];
            c->perm[j] = t;
        }
    }
    if (r->skip) {
        if (r->skip > c->nbatches) {
            rill_err e;
            rill_errf(&e, RILL_EINVAL,
                      "%s: cannot resume at epoch %" PRIu64 " chunk %" PRIu64 " batch %d: that "
                      "chunk (from line %" PRIu64 ") has only %d batches; was the position "
                      "saved with another file or reader configuration?",
                      r->path, r->epoch, c->index, r->skip, c->line, c->nbatches);
            chunk_fail(c, &e);
        }
        c->cursor = r->skip;
        r->skip = 0;
    }
}

static int bad_line(rill_reader *r, chunk *c, uint64_t line, size_t col, const char *what)
{
    if (r->cfg.on_bad_line == RILL_BAD_SKIP) {
        if (r->bad++ == 0)
            snprintf(r->first_bad, sizeof r->first_bad, "%s:%" PRIu64 ":%zu: %s", r->path, line,
                     col, what);
        return 0;
    }
    rill_err e;
    rill_errf(&e, RILL_EDATA, "%s:%" PRIu64 ":%zu: %s", r->path, line, col, what);
    chunk_fail(c, &e);
    return -1;
}

static void cache_fail(rill_reader *r, chunk *c, uint64_t ln, int st)
{
    rill_err e;
    if (st == -2)
        rill_errf(&e, RILL_EIO, "%s:%" PRIu64 ": the data cache of this file was %s", r->path, ln,
                  rill_cache_damaged());
    else
        rill_errf(&e, RILL_ENOMEM, "%s:%" PRIu64 ": out of memory for its values", r->path, ln);
    chunk_fail(c, &e);
}

/* Reads lines into c until it is full, the part ends, an error, or max_lines lines have
 * been read (0 = no limit). Returns STOPPED if the loader was told to stop, else 0. */
static int chunk_fill(rill_reader *r, chunk *c, uint64_t max_lines)
{
    linebuf *lb = &r->lb;
    rill_line_fail fail;
    uint64_t n = 0, check = STOP_CHECK_LINES;
    /* parts that are line ranges let the cache copy runs of rows at once */
    bool ranges = r->cfg.part == RILL_PART_ALL || r->cfg.split == RILL_SPLIT_TAIL;
    while (c->b.B < r->chunk_rows) {
        if (r->line >= r->end_line) {
            chunk_ready(r, c);
            return 0;
        }
        if (max_lines && n == max_lines)
            return 0;
        if (++n >= check) {
            check += STOP_CHECK_LINES;
            if (atomic_load_explicit(&r->stop, memory_order_relaxed))
                return STOPPED;
        }
        if (r->cache && ranges && r->line + 1 >= r->data_line) {
            uint64_t room = r->end_line - r->line;
            if (max_lines && max_lines - n + 1 < room)
                room = max_lines - n + 1;
            if ((uint64_t)(r->chunk_rows - c->b.B) < room)
                room = (uint64_t)(r->chunk_rows - c->b.B);
            int64_t got = rill_cache_rows(r->cache, r->line + 1, room, &c->b);
            if (got > 0) {
                r->line += (uint64_t)got;
                n += (uint64_t)got - 1;
                continue;
            }
            if (got < 0) {
                cache_fail(r, c, r->line + 1, (int)got);
                return 0;
            }
        }
        if (r->cache) { /* the line as parsed when the cache was written */
            uint64_t ln = ++r->line;
            if (!rill_reader_in_part(r, ln))
                continue;
            size_t col;
            const char *what;
            int st = rill_cache_row(r->cache, ln, &c->b, &col, &what);
            if (st < 0) {
                cache_fail(r, c, ln, st);
                return 0;
            }
            if (st > 0 && bad_line(r, c, ln, col, what))
                return 0;
            continue;
        }
        const char *s;
        size_t len;
        int rc = rill_lb_next(lb, &s, &len);
        if (rc == LB_ERR || rc == LB_EOF) {
            rill_err e;
            if (rc == LB_ERR)
                rill_reader_read_fail(r, rill_lb_tell(lb), lb->err, &e);
            else
                rill_errf(&e, RILL_EIO, "%s: the file shrank since it was opened (%" PRIu64
                          " lines then, %" PRIu64 " now)", r->path, r->nlines, r->line);
            chunk_fail(c, &e);
            return 0;
        }
        uint64_t ln = ++r->line;
        if (!rill_reader_in_part(r, ln))
            continue;
        if (rc == LB_LONG) {
            char what[64];
            snprintf(what, sizeof what, "line longer than %zu bytes", lb->max_line);
            if (bad_line(r, c, ln, 1, what))
                return 0;
        } else if (r->fmt->parse(&c->b, s, len, ln, &fail)) {
            if (bad_line(r, c, ln, fail.col, fail.what))
                return 0;
        }
    }
    chunk_ready(r, c);
    return 0;
}

/* Makes the next batch of the run into s (rc 1), or the end of the epoch (rc 0), or the
 * error that stopped it (rc < 0); the last two repeat. Returns STOPPED or 0. */
int rill_reader_produce(rill_reader *r, slot *s)
{
    for (;;) {
        chunk *c = &r->ch[r->act];
        switch (c->state) {
        case CH_EMPTY:
            chunk_start(r, c);
            break;
        case CH_FILLING:
            if (chunk_fill(r, c, 0) == STOPPED)
                return STOPPED;
            break;
        case CH_ERROR:
            s->rc = c->err.code;
            s->err = c->err;
            s->bad_end = r->bad;
            return 0;
        case CH_READY:
            if (c->b.B == 0) {
                s->rc = 0;
                s->bad_end = c->bad_end;
                return 0;
            }
            if (c->cursor < c->nbatches) {
                int from = c->cursor * r->cfg.batch, n = c->b.B - from;
                if (n > r->cfg.batch)
                    n = r->cfg.batch;
                int rc = rill_batch_gather(&s->b, &c->b, c->perm, from, n, &s->err);
                if (rc) {
                    chunk_fail(c, &s->err);
                    break;
                }
                c->cursor++;
                s->b.pos = (rill_data_pos){
                    .epoch = r->epoch, .chunk = c->index, .batch = (uint64_t)c->cursor,
                    .offset = c->offset, .line = c->line, .bad_lines = c->bad_before,
                };
                s->rc = 1;
                s->bad_end = c->bad_end;
                return 0;
            }
            c->state = CH_EMPTY;
            r->act = (r->act + 1) % r->nch;
            break;
        }
    }
}

/* Loader only: parse ahead into the other chunk while the consumer has enough batches. */
static bool can_prefetch(const rill_reader *r)
{
    const chunk *a = &r->ch[r->act], *o = &r->ch[(r->act + 1) % r->nch];
    return r->nch == 2 && a->state == CH_READY && a->b.B > 0 &&
           (o->state == CH_EMPTY || o->state == CH_FILLING);
}

static int prefetch(rill_reader *r)
{
    chunk *o = &r->ch[(r->act + 1) % r->nch];
    if (o->state == CH_EMPTY)
        chunk_start(r, o);
    return chunk_fill(r, o, PREFETCH_LINES);
}

/* Puts the producer at the start of chunk `chunk` of `epoch`, whose reading begins at
 * offset/line with `bad` lines skipped before it; the first `skip` batches are dropped. */
void rill_reader_producer_reset(rill_reader *r, uint64_t epoch, uint64_t chunk_index,
                                uint64_t offset, uint64_t line, uint64_t bad, int skip)
{
    rill_lb_seek(&r->lb, offset);
    r->line = line - 1;
    r->bad = bad;
    r->first_bad[0] = 0;
    if (bad > 0)
        snprintf(r->first_bad, sizeof r->first_bad,
                 "%s: %" PRIu64 " bad lines were skipped before line %" PRIu64 ", before this "
                 "reader resumed there; their messages are not kept", r->path, bad, line);
    r->epoch = epoch;
    r->next_chunk = chunk_index;
    r->skip = skip;
    r->act = 0;
    for (int i = 0; i < r->nch; i++)
        r->ch[i].state = CH_EMPTY;
}

/* ---- loader thread and handoff ---- */

static void *loader_main(void *arg)
{
    rill_reader *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (!r->finished && r->produced - r->released < NSLOTS) {
            slot *s = &r->slots[r->produced % NSLOTS];
            pthread_mutex_unlock(&r->mu);
            int st = rill_reader_produce(r, s);
            pthread_mutex_lock(&r->mu);
            if (st == STOPPED)
                break;
            r->produced++;
            r->finished = s->rc <= 0;
            pthread_cond_signal(&r->can_consume);
        } else if (!r->finished && can_prefetch(r)) {
            pthread_mutex_unlock(&r->mu);
            int st = prefetch(r);
            pthread_mutex_lock(&r->mu);
            if (st == STOPPED)
                break;
        } else {
            pthread_cond_wait(&r->can_produce, &r->mu);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void consumer_reset(rill_reader *r)
{
    r->produced = r->taken = r->released = 0;
    r->holding = r->finished = false;
    r->term = false;
    r->bad_seen = 0;
    r->first_bad_seen = "";
}

int rill_reader_thread_start(rill_reader *r, rill_err *err)
{
    consumer_reset(r);
    if (!r->cfg.threaded)
        return RILL_OK;
    atomic_store(&r->stop, false);
    int e = pthread_create(&r->thread, NULL, loader_main, r);
    if (e)
        return rill_errf(err, RILL_ENOMEM, "%s: cannot start the loader thread: %s", r->path,
                         strerror(e));
    r->running = true;
    return RILL_OK;
}

void rill_reader_thread_stop(rill_reader *r)
{
    if (!r->running)
        return;
    pthread_mutex_lock(&r->mu);
    atomic_store(&r->stop, true);
    pthread_cond_broadcast(&r->can_produce);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->running = false;
}
