/* Between the reader's two files: reader.c (open, the line count and index, the header
 * check, next, start_epoch, seek) and reader_loader.c (buffered lines, the producer that fills
 * chunks and gathers batches, the loader thread and its handoff). The reader's state and the
 * producer's entry points, and the data cache's (reader_cache.c). Not a public header: only
 * those files include it. */
#ifndef RILL_READER_LOADER_H
#define RILL_READER_LOADER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"
#include "reader.h"
#include "reader_impl.h"

/* The open-time index keeps the offset of every INDEX_STRIDE-th line, so finding any line's
 * offset (TAIL validation start, checking a seek position) reads at most that many lines. */
#define INDEX_STRIDE 16384
/* Batches ready or held: the consumer holds one, the loader may be two ahead. */
#define NSLOTS 3

enum { LB_LINE, LB_LONG, LB_EOF, LB_ERR };
/* Returned by producer functions when the loader thread was asked to stop mid-way. */
enum { STOPPED = 1 };

typedef struct linebuf {
    int fd;
    char *buf;        /* cap bytes + 1 for the newline sentinel after an unterminated last line */
    size_t cap;
    size_t beg, end;  /* unread bytes are buf[beg..end) */
    uint64_t pos;     /* file offset of buf[end] */
    bool eof;
    size_t max_line;
    int err;          /* errno of a failed read */
} linebuf;

enum { CH_EMPTY, CH_FILLING, CH_READY, CH_ERROR };

typedef struct chunk {
    int state;
    rill_batch b;
    uint32_t *perm;       /* NULL when not shuffling */
    uint64_t index;       /* chunk number within the epoch */
    uint64_t offset, line, bad_before; /* where reading began, for rill_data_pos */
    uint64_t bad_end;     /* bad lines skipped in this epoch up to the chunk's end */
    int nbatches, cursor; /* batches in the chunk, and handed out */
    rill_err err;         /* CH_ERROR */
} chunk;

typedef struct slot {
    rill_batch b;
    int rc;               /* 1 batch, 0 end of epoch, < 0 error */
    rill_err err;
    uint64_t bad_end;
} slot;

struct rill_reader {
    /* Set at open, read-only afterwards. */
    rill_reader_cfg cfg;
    char *path;
    const rill_format *fmt;
    int chunk_rows;
    uint64_t size, nlines;
    uint64_t first_line, first_offset, end_line; /* the part's line range */
    uint64_t ntrain_tail;  /* TAIL: lines 1..ntrain_tail are the training part */
    uint64_t data_line;    /* the first data line: 2 after a header, else 1 */
    uint64_t rows;
    uint64_t *index;       /* index[k] = offset of line k * INDEX_STRIDE + 1 */
    size_t nindex;

    /* Producer state: the loader thread's while it runs, else the caller's. */
    linebuf lb;
    uint64_t line;         /* lines consumed so far (the last one's number) */
    uint64_t bad;
    char first_bad[sizeof(((rill_err *)0)->msg)]; /* written once per epoch */
    chunk ch[2];
    int nch, act;
    struct rill_data_cache *cache; /* the file's rows parsed once (reader_cache.c), or NULL */
    uint64_t epoch, next_chunk;
    int skip;              /* batches to drop from the first chunk after a seek */

    /* Handoff between loader and consumer, under mu. */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t can_produce, can_consume;
    atomic_bool stop;
    slot slots[NSLOTS];
    uint64_t produced, taken, released;
    bool holding, finished;

    /* Consumer's view. */
    bool term;             /* end of epoch or error reached: next() repeats it */
    int term_rc;
    rill_err term_err;
    uint64_t bad_seen;
    const char *first_bad_seen;
};

/* reader_loader.c; each definition says more */
int rill_lb_next(linebuf *lb, const char **line, size_t *len); /* LB_*: the next line */
void rill_lb_seek(linebuf *lb, uint64_t offset);
uint64_t rill_lb_tell(const linebuf *lb);                       /* the next line's offset */
int rill_reader_read_fail(const rill_reader *r, uint64_t at, int e, rill_err *err);
bool rill_reader_in_part(const rill_reader *r, uint64_t line); /* line in the reader's part */
int rill_reader_produce(rill_reader *r, slot *s);               /* the next batch into s */
/* the loader thread stopped: the producer at a chunk's start, the first skip batches dropped */
void rill_reader_producer_reset(rill_reader *r, uint64_t epoch, uint64_t chunk_index,
                                uint64_t offset, uint64_t line, uint64_t bad, int skip);
int rill_reader_thread_start(rill_reader *r, rill_err *err); /* also resets the consumer's view */
void rill_reader_thread_stop(rill_reader *r);

/* reader_cache.c: the binary columnar cache of a text file's parsed rows */
typedef struct rill_data_cache rill_data_cache;
/* Maps r's cache (cfg.cache_dir), writing it first when it is missing, stale (the file's size,
 * mtime or inode, or the schema, format or max_line changed) or damaged. Never fails the
 * reader: a cache that cannot be made leaves r->cache NULL, with a line on stderr saying why. */
void rill_cache_attach(rill_reader *r);
void rill_cache_detach(rill_reader *r);
/* Line ln (1-based) into row b->B of b, as the format's parser would have put it: 0; a line
 * that failed to parse: 1 with *col and *what as the parser gave them; -1 out of memory; -2
 * the cache's block no longer checks (rill_cache_damaged says what to do). */
int rill_cache_row(rill_data_cache *c, uint64_t ln, rill_batch *b, size_t *col,
                   const char **what);
/* Lines ln, ln + 1, ... that are rows (not bad lines, not a header), at most max and within
 * ln's block, appended to b as rill_cache_row would one by one: how many (0 when line ln is
 * not a row); -1 out of memory, -2 as rill_cache_row. */
int64_t rill_cache_rows(rill_data_cache *c, uint64_t ln, uint64_t max, rill_batch *b);
const char *rill_cache_damaged(void);

/* The byte offset where line ln starts (the file's size past the last line). */
uint64_t rill_cache_offset(rill_data_cache *c, uint64_t ln);

#endif
