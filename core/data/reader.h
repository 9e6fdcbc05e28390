/* Streaming readers. A reader turns one data file into batches for one part of a split
 * (all rows, the training part, or the validation part), in file order or shuffled within
 * chunks of `shuffle` rows, optionally on its own loader thread so parsing overlaps compute.
 *
 * Lines are checked strictly. A bad line (wrong number of columns, a non-integer count,
 * bad hex, a CR before the newline, a line over max_line bytes) stops the reader with
 * "FILE:LINE:COLUMN: what was wrong (what was expected)", or, with on_bad_line = SKIP, is
 * counted and skipped. An empty file is an error. A last line without a final newline is
 * read as a complete line (a notice is printed once); if it is truncated it fails the
 * column checks like any other line. */
#ifndef RILL_READER_H
#define RILL_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"

enum { RILL_FMT_CRITEO = 0, RILL_FMT_CSV = 1, RILL_FMT_LIBSVM = 2 }; /* CSV: by the schema's layout */
enum { RILL_PART_ALL = 0, RILL_PART_TRAIN = 1, RILL_PART_VALID = 2 };
/* TAIL: the last valid_fraction of the lines are the validation part (the file's time
 * order is kept: Criteo is chronological). HASH: a line is validation when a seeded hash of
 * its line number falls under valid_fraction. */
enum { RILL_SPLIT_TAIL = 0, RILL_SPLIT_HASH = 1 };
enum { RILL_BAD_ERROR = 0, RILL_BAD_SKIP = 1 };

typedef struct rill_reader_cfg {
    const char *path;
    int format;                /* RILL_FMT_* */
    const rill_schema *schema; /* must be the format's schema */
    int part;                  /* RILL_PART_* */
    double valid_fraction;     /* used when part is TRAIN or VALID */
    int split;                 /* RILL_SPLIT_* */
    uint64_t split_seed;
    int batch;                 /* rows per batch, >= 1 */
    int shuffle;               /* shuffle chunk in rows (rounded up to whole batches); 0 = file order */
    uint64_t seed;             /* shuffle seed; chunk c of epoch e is permuted by (seed, e, c) */
    int on_bad_line;           /* RILL_BAD_* */
    double max_bad;            /* SKIP: a pass whose skipped share of lines exceeds this is an
                                * error at its end (0: 0.1; 1: no limit); a pass with no good
                                * line is an error in any mode */
    size_t max_line;           /* 0 = 1 MiB */
    bool threaded;             /* parse on a loader thread */
    const char *cache_dir;     /* where the file's binary columnar cache lives (NULL: none;
                                * reader_cache.c) */
} rill_reader_cfg;

typedef struct rill_reader rill_reader;

/* Memory: a threaded shuffled reader keeps two chunks (2 x shuffle rows, about 370 bytes a
 * row for Criteo) and three batches; unthreaded, one chunk and one batch. cfg->schema must
 * outlive the reader. */

/* Opens the file, checks it is not empty, counts its lines (for TAIL splits and for the row
 * count) and starts epoch 0. */
int rill_reader_open(rill_reader **out, const rill_reader_cfg *cfg, rill_err *err);
/* The header check of rill_reader_open alone (RILL_OK for a schema without a header): a data
 * description checks its file when it is made, before a graph is built over its columns. */
int rill_reader_check_header(const char *path, const rill_schema *s, rill_err *err);
void rill_reader_close(rill_reader *r);
/* Done reading for now: the loader thread stopped and its chunks freed (up to two shuffle
 * chunks of rows), so that what follows (a run's last checkpoint) does not add to them.
 * rill_reader_next is then an error until rill_reader_start_epoch or rill_reader_seek. */
void rill_reader_release(rill_reader *r);

/* 1 and *batch set: the next batch (valid until the next call); 0: end of the epoch;
 * < 0: error in err ("file:line:col: ..."). Batches are full except the epoch's last. At the
 * end of a pass: RILL_EDATA when the part held no good line, or skipped more than max_bad. */
int rill_reader_next(rill_reader *r, const rill_batch **batch, rill_err *err);
/* The batch the (k+1)-th next rill_reader_next will return (k = 0: the next one; k < the
 * loader's slots less one, so 0 or 1), when the loader thread has it ready (NULL when not, at
 * the end of the epoch, or without a loader thread); valid until the call after that one.
 * *seq (when not NULL) is its number in the reader's sequence of batches, so a caller can
 * tell a batch it has seen. For looking ahead (the rows coming steps will read). Never
 * waits. */
const rill_batch *rill_reader_peek(rill_reader *r, int k, uint64_t *seq);
/* Rewinds to the start of the given epoch (a new shuffle order). */
int rill_reader_start_epoch(rill_reader *r, uint64_t epoch, rill_err *err);
/* Resumes after the batch whose pos is given: the next call to rill_reader_next returns
 * the batch that followed it in an uninterrupted run. The position must come from a reader
 * of the same file, batch, shuffle, part and split (offset and batch are checked). */
int rill_reader_seek(rill_reader *r, const rill_data_pos *pos, rill_err *err);

/* Lines of the file that belong to this part (bad lines included), known after open. */
uint64_t rill_reader_rows(const rill_reader *r);
/* Bad lines skipped so far in this epoch, and the message of the first one ("" if none). */
uint64_t rill_reader_bad_lines(const rill_reader *r);
const char *rill_reader_first_bad(const rill_reader *r);
/* The rows come from the data cache (cfg.cache_dir), not from parsing the text. */
bool rill_reader_cached(const rill_reader *r);
/* For the fuzz target and tests: stamps the data cache file at path with src's identity
 * (size, mtime, inode, device) and recomputes its checksums wherever its header and index
 * allow, so that altered contents reach the structural checks behind them. 0, or -1. */
struct stat;
int rill_cache_reseal(const char *path, const struct stat *src);

#endif
