/* The binary columnar cache of a text data file (rill.data.*{ cache = }). Parsing text costs
 * a core every epoch; the cache holds every line of the file as the format's parser left it
 * (labels, weight, numbers, the categorical values' 64-bit hashes and times, the failures of
 * bad lines with their messages), so later epochs and later runs copy rows from it instead. It is written in one pass over the file the first time a reader opens it, into a
 * temporary name renamed into place (a crash leaves no half cache), and is keyed by the file's
 * size, mtime and inode and by a signature of the schema, the format, max_line and this
 * layout: when any of them differs, or the cache is damaged, it is written again.
 *
 * Lines keep their numbers and byte offsets, so the reader's parts, shuffle chunks, bad-line
 * accounting and resume positions are the same as reading the text: a run gives the same bits
 * with or without it.
 *
 * Layout (native byte order and sizes: a cache belongs to the machine that made it, and the
 * header's magic, version and sizes tell another layout apart): a header and the file's
 * absolute path (a cache whose file is gone is removed when another is written, so caches of
 * deleted files do not pile up), then blocks of up to BLOCK_LINES lines, then an index of the
 * blocks. A block's sections, each 8-byte aligned:
 * each line's byte offset (u64), its row (i32: >= 0 a row of the block, -1 a bad line, -2 not
 * data, a header), the rows' labels, weights, numbers (f32), per categorical field the rows'
 * offsets (u32, rows + 1) then values (u64) and, for a sequence with times, times (f64), then
 * the bad lines (line in the block, column, message offset and length) and their messages. */
#include "reader_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "fs.h"
#include "util.h"

#define CACHE_MAGIC "RILLDC1\n"
#define CACHE_VERSION 2u
#define BLOCK_LINES 16384

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t src_size, src_mtime_sec, src_mtime_nsec, src_ino, src_dev;
    uint64_t signature;
    uint64_t nlines;
    uint32_t nlabels, nnum, ncat, has_weight;
    uint32_t block_lines, nblocks;
    uint64_t index_offset, file_bytes;
    uint64_t path_bytes; /* the file's absolute path follows the header, NUL-terminated */
    uint32_t header_crc; /* CRC32C of the header (this field 0) and the path */
    uint32_t index_crc;  /* of the index */
} cache_header;

_Static_assert(sizeof(cache_header) % 8 == 0, "the sections after the header stay aligned");

typedef struct {
    uint64_t off, bytes;
    uint32_t n, nrows, nbad;
    uint32_t crc; /* CRC32C of the block's bytes, padding included */
} block_entry;

typedef struct {
    uint32_t line, col, msg_off, msg_len;
} bad_entry;

typedef struct {
    uint32_t n, nrows, nbad;
    const uint64_t *line_off;
    const int32_t *row;
    const float *labels, *weights, *num;
    const uint32_t **off; /* per categorical field */
    const uint64_t **val;
    const double **time;  /* NULL for a field without times */
    const bad_entry *bad;
    const char *msgs;
    uint32_t msgs_len;
} block;

/* A cache is read a block at a time into a buffer of its own (pread, not a mapping): the
 * reader walks the lines in order, so one block is in use at a time, and the process's
 * memory holds one block per reader instead of the whole file. */
struct rill_data_cache {
    int fd;
    const rill_schema *schema;
    uint64_t nlines, src_size, file_bytes;
    uint32_t nblocks;
    block_entry *idx;
    char *buf;            /* the block in use, 8-byte aligned */
    size_t buf_cap;
    int64_t cur;          /* its number, -1 for none */
    block b;
    const void **ptrs;    /* its per-field section pointers */
};

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static bool field_timed(const rill_schema *s, int f)
{
    return s->cat_timed && s->cat_timed[f];
}

/* ---- the key ---- */

static void mix(uint64_t *h, uint64_t v)
{
    *h = rill_hash64(*h ^ v, 0x9e3779b97f4a7c15ULL);
}

static void mix_str(uint64_t *h, const char *s)
{
    mix(h, s ? rill_hash_text(s, strlen(s)) ^ 1 : 0);
}

static void mix_double(uint64_t *h, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    mix(h, u);
}

/* Everything the parsed rows depend on besides the file's bytes. */
static uint64_t signature(const rill_reader *r)
{
    const rill_schema *s = r->cfg.schema;
    uint64_t h = CACHE_VERSION;
    mix_str(&h, r->fmt->name);
    mix(&h, r->cfg.max_line);
    mix_str(&h, s->name);
    const rill_text_layout *t = &s->text;
    mix(&h, (uint64_t)(unsigned char)t->sep << 24 | (uint64_t)(unsigned char)t->quote << 16 |
                (uint64_t)t->header << 8 | (uint64_t)t->trim);
    mix(&h, (uint64_t)t->ncols);
    for (int i = 0; i < t->ncols; i++) {
        const rill_column *c = &t->cols[i];
        mix_str(&h, c->name);
        mix(&h, (uint64_t)c->role << 32 | (uint32_t)c->index);
        mix(&h, (uint64_t)(unsigned char)c->sep << 48 | (uint64_t)(uint32_t)c->dim << 16 |
                    (uint64_t)c->has_threshold << 1 | (uint64_t)c->group);
        mix(&h, (uint64_t)(uint32_t)c->max_length);
        mix_str(&h, c->times);
        mix_double(&h, c->threshold);
        mix_str(&h, c->positive);
    }
    mix(&h, (uint64_t)s->nlabels << 32 | (uint64_t)s->has_weight);
    for (int i = 0; i < s->nlabels; i++)
        mix_str(&h, s->label_names[i]);
    mix(&h, (uint64_t)s->nnum);
    for (int i = 0; i < s->nnum; i++)
        mix_str(&h, s->num_names[i]);
    mix(&h, (uint64_t)s->ncat);
    for (int i = 0; i < s->ncat; i++) {
        mix_str(&h, s->cat_names[i]);
        mix(&h, (uint64_t)s->cat_multi[i] << 1 | (uint64_t)field_timed(s, i));
    }
    mix(&h, (uint64_t)s->has_group << 32 | (uint32_t)s->group_field);
    mix(&h, (uint64_t)s->svm.is_svm << 33 | (uint64_t)s->svm.ffm << 32 | (uint32_t)s->svm.fields);
    return h;
}

/* <dir>/<file name>.<hash of its absolute path>.rillcache; abs gets that path */
static int cache_path(const rill_reader *r, char *out, size_t cap, char abs[PATH_MAX])
{
    if (!realpath(r->path, abs))
        return -1;
    const char *base = strrchr(abs, '/');
    base = base ? base + 1 : abs;
    int n = snprintf(out, cap, "%s/%s.%016" PRIx64 ".rillcache", r->cfg.cache_dir, base,
                     rill_hash_text(abs, strlen(abs)));
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* ---- reading ---- */

/* Section pointers for the block at [off, off + bytes) of the mapping, each checked to lie
 * inside it; the offsets arrays checked to be increasing and within their values. */
static bool map_block(const rill_data_cache *c, const char *base, const block_entry *e, block *b,
                      const void **ptrs)
{
    const rill_schema *s = c->schema;
    size_t at = 0, end = e->bytes;
    uint32_t n = e->n, nr = e->nrows;
#define TAKE(dst, type, count)                                                                  \
    do {                                                                                        \
        size_t want_ = (size_t)(count) * sizeof(type);                                          \
        if (want_ / sizeof(type) != (size_t)(count) || want_ > end - at)                        \
            return false;                                                                       \
        (dst) = (const type *)(const void *)(base + at);                                        \
        at += pad8(want_);                                                                      \
        if (at > end)                                                                           \
            at = end;                                                                           \
    } while (0)
    if (n == 0 || n > BLOCK_LINES || nr > n || e->nbad > n)
        return false;
    b->n = n, b->nrows = nr, b->nbad = e->nbad;
    TAKE(b->line_off, uint64_t, n);
    TAKE(b->row, int32_t, n);
    TAKE(b->labels, float, (size_t)nr * s->nlabels);
    b->weights = NULL;
    if (s->has_weight)
        TAKE(b->weights, float, nr);
    TAKE(b->num, float, (size_t)nr * s->nnum);
    b->off = (const uint32_t **)ptrs;
    b->val = (const uint64_t **)(ptrs + s->ncat);
    b->time = (const double **)(ptrs + 2 * s->ncat);
    for (int f = 0; f < s->ncat; f++) {
        TAKE(b->off[f], uint32_t, nr + 1);
        const uint32_t *o = b->off[f];
        if (o[0] != 0)
            return false;
        for (uint32_t i = 0; i < nr; i++)
            if (o[i + 1] < o[i])
                return false;
        TAKE(b->val[f], uint64_t, o[nr]);
        b->time[f] = NULL;
        if (field_timed(s, f))
            TAKE(b->time[f], double, o[nr]);
    }
    TAKE(b->bad, bad_entry, e->nbad);
    b->msgs = base + at;
    b->msgs_len = (uint32_t)(end - at);
    int32_t next = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t row = b->row[i];
        if (row >= 0 && row != next++)
            return false; /* rows in line order, each once */
        if (row < -2)
            return false;
    }
    if ((uint32_t)next != nr)
        return false;
    for (uint32_t k = 0; k < e->nbad; k++) {
        const bad_entry *x = &b->bad[k];
        if (x->line >= n || b->row[x->line] != -1 || x->msg_off > b->msgs_len ||
            x->msg_len > b->msgs_len - x->msg_off || (k > 0 && x->line <= b->bad[k - 1].line))
            return false;
    }
    return true;
#undef TAKE
}

static uint32_t header_crc(const cache_header *h, const char *path, size_t path_bytes)
{
    cache_header z = *h;
    z.header_crc = 0;
    return rill_crc32c(rill_crc32c(0, &z, sizeof z), path, path_bytes);
}

static void cache_free(rill_data_cache *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->idx);
    free(c->buf);
    free(c->ptrs);
    free(c);
}

static bool read_at(int fd, void *p, size_t n, uint64_t off)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = pread(fd, (char *)p + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        done += (size_t)k;
    }
    return true;
}

/* Block k into c->buf and c->b, its checksum and sections checked; false when they fail. */
static bool load_block(rill_data_cache *c, uint32_t k)
{
    if (c->cur == (int64_t)k)
        return true;
    const block_entry *e = &c->idx[k];
    c->cur = -1;
    if (e->bytes > c->buf_cap) {
        free(c->buf);
        c->buf_cap = 0;
        if (!(c->buf = malloc(e->bytes ? e->bytes : 8)))
            return false;
        c->buf_cap = e->bytes;
    }
    if (!read_at(c->fd, c->buf, e->bytes, e->off) || rill_crc32c(0, c->buf, e->bytes) != e->crc ||
        !map_block(c, c->buf, e, &c->b, c->ptrs))
        return false;
    c->cur = k;
    return true;
}

/* The cache at path when it is this file's, else NULL with *why saying what was wrong (an
 * empty string: there was none). The blocks of the lines the reader's part covers are read
 * and checked now (once per open, streamed through one block's buffer), so a damaged cache
 * is written again before training starts rather than noticed halfway. */
static rill_data_cache *cache_load(const rill_reader *r, const char *path, const struct stat *src,
                                   uint64_t sig, const char **why)
{
    *why = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            *why = "it cannot be opened";
        return NULL;
    }
    struct stat st;
    cache_header hb, *h = &hb;
    rill_data_cache *c = calloc(1, sizeof *c);
    if (!c) {
        *why = "out of memory";
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->cur = -1;
    const rill_schema *s = r->cfg.schema;
    c->schema = s;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof hb || !read_at(fd, &hb, sizeof hb, 0)) {
        *why = "it is shorter than its header";
        cache_free(c);
        return NULL;
    }
    char pathbuf[PATH_MAX];
    if (memcmp(h->magic, CACHE_MAGIC, 8) != 0 || h->version != CACHE_VERSION ||
        h->header_bytes != sizeof *h) {
        *why = "it is not a rill data cache of this version";
    } else if (h->signature != sig || h->nlabels != (uint32_t)s->nlabels ||
               h->nnum != (uint32_t)s->nnum || h->ncat != (uint32_t)s->ncat ||
               h->has_weight != (uint32_t)s->has_weight) {
        *why = "the schema, the format or max_line changed";
    } else if (h->src_size != (uint64_t)src->st_size ||
               h->src_mtime_sec != (uint64_t)src->st_mtim.tv_sec ||
               h->src_mtime_nsec != (uint64_t)src->st_mtim.tv_nsec ||
               h->src_ino != (uint64_t)src->st_ino || h->src_dev != (uint64_t)src->st_dev ||
               h->nlines != r->nlines) {
        *why = "the file changed";
    } else if (h->file_bytes != (uint64_t)st.st_size || h->block_lines != BLOCK_LINES ||
               h->index_offset > h->file_bytes ||
               (h->file_bytes - h->index_offset) / sizeof(block_entry) != h->nblocks ||
               (h->file_bytes - h->index_offset) % sizeof(block_entry) != 0 ||
               (uint64_t)h->nblocks != (h->nlines + BLOCK_LINES - 1) / BLOCK_LINES ||
               h->path_bytes == 0 || h->path_bytes > sizeof pathbuf ||
               !read_at(fd, pathbuf, h->path_bytes, sizeof *h) ||
               pathbuf[h->path_bytes - 1] != 0 ||
               header_crc(h, pathbuf, h->path_bytes) != h->header_crc) {
        *why = "it is damaged (its header, size or index)";
    } else {
        c->nlines = h->nlines;
        c->src_size = h->src_size;
        c->file_bytes = h->file_bytes;
        c->nblocks = h->nblocks;
        c->idx = calloc(c->nblocks ? c->nblocks : 1, sizeof *c->idx);
        c->ptrs = calloc((size_t)3 * (s->ncat ? s->ncat : 1), sizeof *c->ptrs);
        if (!c->idx || !c->ptrs) {
            *why = "out of memory";
        } else if (!read_at(fd, c->idx, (size_t)c->nblocks * sizeof *c->idx, h->index_offset) ||
                   rill_crc32c(0, c->idx, (size_t)c->nblocks * sizeof *c->idx) != h->index_crc) {
            *why = "it is damaged (its index)";
        } else {
            uint64_t at = pad8(sizeof *h + h->path_bytes);
            bool good = at <= h->index_offset;
            for (uint32_t k = 0; k < c->nblocks && good; k++) {
                const block_entry *e = &c->idx[k];
                uint64_t lines = k + 1 < c->nblocks ? BLOCK_LINES
                                                    : h->nlines - (uint64_t)k * BLOCK_LINES;
                good = e->off == at && e->bytes <= h->index_offset - at && e->n == lines;
                at += e->bytes;
            }
            good = good && at == h->index_offset;
            /* the blocks of [first_line, end_line], read and checked */
            if (good && r->end_line >= r->first_line && r->first_line >= 1) {
                uint64_t k0 = (r->first_line - 1) / BLOCK_LINES,
                         k1 = (r->end_line - 1) / BLOCK_LINES;
                for (uint64_t k = k0; k <= k1 && k < c->nblocks && good; k++)
                    good = load_block(c, (uint32_t)k);
            }
            if (good)
                return c;
            *why = "it is damaged (a block does not check)";
        }
    }
    cache_free(c);
    return NULL;
}

/* The block of line ln, loaded; NULL when it no longer checks (the cache was changed on disk
 * after it was opened). */
static const block *block_of(rill_data_cache *c, uint64_t ln)
{
    return load_block(c, (uint32_t)((ln - 1) / BLOCK_LINES)) ? &c->b : NULL;
}

int rill_cache_row(rill_data_cache *c, uint64_t ln, rill_batch *b, size_t *col,
                   const char **what)
{
    const block *k = block_of(c, ln);
    if (!k)
        return -2;
    uint32_t i = (uint32_t)((ln - 1) % BLOCK_LINES);
    int32_t row = k->row[i];
    if (row < 0) {
        /* the bad lines are few and in line order */
        uint32_t lo = 0, hi = k->nbad;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (k->bad[mid].line < i)
                lo = mid + 1;
            else
                hi = mid;
        }
        static const char none[] = "not a data line";
        if (row == -2 || lo == k->nbad || k->bad[lo].line != i) {
            *col = 1;
            *what = none;
        } else {
            *col = k->bad[lo].col;
            *what = k->msgs + k->bad[lo].msg_off; /* NUL-terminated when written */
        }
        return 1;
    }
    const rill_schema *s = c->schema;
    int dst = b->B, nl = s->nlabels, nn = s->nnum;
    memcpy(b->labels + (size_t)dst * nl, k->labels + (size_t)row * nl, (size_t)nl * sizeof(float));
    memcpy(b->num + (size_t)dst * nn, k->num + (size_t)row * nn, (size_t)nn * sizeof(float));
    if (s->has_weight)
        b->weights[dst] = k->weights[row];
    for (int f = 0; f < s->ncat; f++) {
        rill_catcol *cc = &b->cat[f];
        uint32_t a = k->off[f][row], n = k->off[f][row + 1] - a, o = cc->off[dst];
        if ((size_t)o + n > cc->val_cap && rill_batch_reserve_cat(b, f, o, n))
            return -1;
        if (n == 1)
            cc->val[o] = k->val[f][a];
        else
            memcpy(cc->val + o, k->val[f] + a, (size_t)n * sizeof(uint64_t));
        if (k->time[f] && cc->time)
            memcpy(cc->time + o, k->time[f] + a, (size_t)n * sizeof(double));
        cc->off[dst + 1] = o + n;
    }
    b->line[dst] = ln;
    b->B = dst + 1;
    return 0;
}

int64_t rill_cache_rows(rill_data_cache *c, uint64_t ln, uint64_t max, rill_batch *b)
{
    const block *k = block_of(c, ln);
    if (!k)
        return -2;
    uint32_t i0 = (uint32_t)((ln - 1) % BLOCK_LINES), m = 0;
    if (max > k->n - i0)
        max = k->n - i0;
    if (max > (uint64_t)(b->cap - b->B))
        max = (uint64_t)(b->cap - b->B);
    /* the rows of a block are numbered in line order, so a run of rows is a run of lines */
    int32_t row0 = k->row[i0];
    while (m < max && k->row[i0 + m] == row0 + (int32_t)m)
        m++;
    if (row0 < 0 || m == 0)
        return 0;
    const rill_schema *s = c->schema;
    int dst = b->B, nl = s->nlabels, nn = s->nnum;
    memcpy(b->labels + (size_t)dst * nl, k->labels + (size_t)row0 * nl,
           (size_t)m * nl * sizeof(float));
    memcpy(b->num + (size_t)dst * nn, k->num + (size_t)row0 * nn, (size_t)m * nn * sizeof(float));
    if (s->has_weight)
        memcpy(b->weights + dst, k->weights + row0, (size_t)m * sizeof(float));
    for (int f = 0; f < s->ncat; f++) {
        rill_catcol *cc = &b->cat[f];
        const uint32_t *off = k->off[f] + row0;
        uint32_t a = off[0], n = off[m] - a, o = cc->off[dst];
        if ((size_t)o + n > cc->val_cap && rill_batch_reserve_cat(b, f, o, n))
            return -1;
        memcpy(cc->val + o, k->val[f] + a, (size_t)n * sizeof(uint64_t));
        if (k->time[f] && cc->time)
            memcpy(cc->time + o, k->time[f] + a, (size_t)n * sizeof(double));
        uint32_t shift = o - a; /* unsigned: wraps back where o < a */
        for (uint32_t j = 1; j <= m; j++)
            cc->off[dst + j] = off[j] + shift;
    }
    for (uint32_t j = 0; j < m; j++)
        b->line[dst + j] = ln + j;
    b->B = dst + (int)m;
    return m;
}

uint64_t rill_cache_offset(rill_data_cache *c, uint64_t ln)
{
    const block *k = ln == 0 || ln > c->nlines ? NULL : block_of(c, ln);
    /* a block that no longer checks fails the next row read, with the message */
    return k ? k->line_off[(ln - 1) % BLOCK_LINES] : c->src_size;
}

const char *rill_cache_damaged(void)
{
    return "changed on disk or damaged since it was opened (delete it, or set cache = false)";
}

/* ---- writing ---- */

typedef struct {
    FILE *f;
    uint64_t at;
    uint32_t crc; /* of what was put since it was last set to 0 */
    int err;
} out_file;

static void put(out_file *o, const void *p, size_t n)
{
    static const char zeros[8];
    if (o->err)
        return;
    size_t padded = pad8(n);
    if ((n && fwrite(p, 1, n, o->f) != n) ||
        (padded > n && fwrite(zeros, 1, padded - n, o->f) != padded - n))
        o->err = errno ? errno : EIO;
    if (n)
        o->crc = rill_crc32c(o->crc, p, n);
    o->crc = rill_crc32c(o->crc, zeros, padded - n);
    o->at += padded;
}

typedef struct {
    uint64_t line_off[BLOCK_LINES];
    int32_t row[BLOCK_LINES];
    bad_entry *bad;
    char *msgs;
    size_t nbad, bad_cap, msgs_len, msgs_cap;
    uint32_t n;
    rill_batch rows;
} block_build;

static int note_bad(block_build *w, uint32_t line, size_t col, const char *what)
{
    size_t len = strlen(what) + 1;
    if (w->nbad == w->bad_cap) {
        size_t cap = w->bad_cap ? 2 * w->bad_cap : 64;
        bad_entry *nb = realloc(w->bad, cap * sizeof *nb);
        if (!nb)
            return -1;
        w->bad = nb;
        w->bad_cap = cap;
    }
    if (w->msgs_len + len > w->msgs_cap) {
        size_t cap = w->msgs_cap ? 2 * w->msgs_cap : 4096;
        while (cap < w->msgs_len + len)
            cap *= 2;
        char *nm = realloc(w->msgs, cap);
        if (!nm)
            return -1;
        w->msgs = nm;
        w->msgs_cap = cap;
    }
    memcpy(w->msgs + w->msgs_len, what, len);
    w->bad[w->nbad++] = (bad_entry){line, (uint32_t)(col > UINT32_MAX ? UINT32_MAX : col),
                                    (uint32_t)w->msgs_len, (uint32_t)(len - 1)};
    w->msgs_len += len;
    return 0;
}

static void flush_block(out_file *o, block_build *w, const rill_schema *s, block_entry *e)
{
    const rill_batch *b = &w->rows;
    uint32_t nr = (uint32_t)b->B;
    e->off = o->at;
    e->n = w->n;
    e->nrows = nr;
    e->nbad = (uint32_t)w->nbad;
    o->crc = 0;
    put(o, w->line_off, (size_t)w->n * sizeof(uint64_t));
    put(o, w->row, (size_t)w->n * sizeof(int32_t));
    put(o, b->labels, (size_t)nr * s->nlabels * sizeof(float));
    if (s->has_weight)
        put(o, b->weights, (size_t)nr * sizeof(float));
    put(o, b->num, (size_t)nr * s->nnum * sizeof(float));
    for (int f = 0; f < s->ncat; f++) {
        const rill_catcol *cc = &b->cat[f];
        put(o, cc->off, ((size_t)nr + 1) * sizeof(uint32_t));
        put(o, cc->val, (size_t)cc->off[nr] * sizeof(uint64_t));
        if (field_timed(s, f)) {
            if (cc->time) {
                put(o, cc->time, (size_t)cc->off[nr] * sizeof(double));
            } else { /* not kept by the batch: zeros, so the layout stays fixed */
                static const double zero[64];
                for (size_t left = cc->off[nr]; left > 0;) {
                    size_t k = left < 64 ? left : 64;
                    put(o, zero, k * sizeof(double));
                    left -= k;
                }
            }
        }
    }
    put(o, w->bad, w->nbad * sizeof(bad_entry));
    put(o, w->msgs, w->msgs_len);
    e->bytes = o->at - e->off;
    e->crc = o->crc;
    rill_batch_clear(&w->rows);
    w->n = 0;
    w->nbad = w->msgs_len = 0;
}

/* Parses the whole file into tmp; 0, or an errno (EAGAIN: the file changed meanwhile). */
static int cache_write(rill_reader *r, const char *tmp, const char *abs, const struct stat *src,
                       uint64_t sig)
{
    const rill_schema *s = r->cfg.schema;
    out_file o = {.f = fopen(tmp, "wbx")};
    if (!o.f)
        return errno;
    block_build *w = calloc(1, sizeof *w);
    uint32_t nblocks = (uint32_t)((r->nlines + BLOCK_LINES - 1) / BLOCK_LINES);
    block_entry *idx = calloc(nblocks ? nblocks : 1, sizeof *idx);
    rill_err e;
    int rc = 0;
    if (!w || !idx || rill_batch_init(&w->rows, s, BLOCK_LINES, &e)) {
        rc = ENOMEM;
        goto done;
    }
    cache_header h = {.version = CACHE_VERSION, .header_bytes = sizeof h};
    size_t path_bytes = strlen(abs) + 1;
    /* the header written again at the end, complete; the path padded with it to 8 bytes */
    if (fwrite(&h, sizeof h, 1, o.f) != 1)
        o.err = errno ? errno : EIO;
    o.at = sizeof h;
    put(&o, abs, path_bytes);
    rill_lb_seek(&r->lb, 0);
    uint32_t k = 0;
    for (uint64_t ln = 1; ln <= r->nlines && !o.err && !rc; ln++) {
        const char *line;
        size_t len;
        w->line_off[w->n] = rill_lb_tell(&r->lb);
        int st = rill_lb_next(&r->lb, &line, &len);
        if (st == LB_ERR || st == LB_EOF) {
            rc = st == LB_ERR ? r->lb.err : EAGAIN;
            break;
        }
        rill_line_fail fail;
        if (ln < r->data_line) {
            w->row[w->n] = -2;
        } else if (st == LB_LONG) {
            char what[64];
            snprintf(what, sizeof what, "line longer than %zu bytes", r->lb.max_line);
            w->row[w->n] = -1;
            if (note_bad(w, w->n, 1, what))
                rc = ENOMEM;
        } else {
            int row = w->rows.B;
            if (r->fmt->parse(&w->rows, line, len, ln, &fail) == 0) {
                w->row[w->n] = row;
            } else {
                w->row[w->n] = -1;
                if (note_bad(w, w->n, fail.col, fail.what))
                    rc = ENOMEM;
            }
        }
        if (++w->n == BLOCK_LINES || ln == r->nlines)
            flush_block(&o, w, s, &idx[k++]);
    }
    if (!rc && !o.err && rill_lb_tell(&r->lb) != (uint64_t)src->st_size)
        rc = EAGAIN; /* the file grew */
    if (!rc && !o.err) {
        h = (cache_header){.version = CACHE_VERSION, .header_bytes = sizeof h,
                           .src_size = (uint64_t)src->st_size,
                           .src_mtime_sec = (uint64_t)src->st_mtim.tv_sec,
                           .src_mtime_nsec = (uint64_t)src->st_mtim.tv_nsec,
                           .src_ino = (uint64_t)src->st_ino, .src_dev = (uint64_t)src->st_dev,
                           .signature = sig, .nlines = r->nlines,
                           .nlabels = (uint32_t)s->nlabels, .nnum = (uint32_t)s->nnum,
                           .ncat = (uint32_t)s->ncat, .has_weight = s->has_weight,
                           .block_lines = BLOCK_LINES, .nblocks = nblocks,
                           .index_offset = o.at, .path_bytes = path_bytes};
        memcpy(h.magic, CACHE_MAGIC, 8);
        h.file_bytes = o.at + (uint64_t)nblocks * sizeof *idx;
        h.index_crc = rill_crc32c(0, idx, (size_t)nblocks * sizeof *idx);
        h.header_crc = header_crc(&h, abs, path_bytes);
        put(&o, idx, (size_t)nblocks * sizeof *idx);
        if (!o.err && (fflush(o.f) != 0 || fseek(o.f, 0, SEEK_SET) != 0))
            o.err = errno ? errno : EIO;
        if (!o.err && fwrite(&h, sizeof h, 1, o.f) != 1)
            o.err = errno ? errno : EIO;
        if (!o.err && (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0))
            o.err = errno ? errno : EIO;
    }
done:
    {
        int ce = rill_fs_close_checked(o.f);
        if (!rc)
            rc = o.err ? o.err : ce;
    }
    if (w) {
        if (w->rows.schema)
            rill_batch_free(&w->rows);
        free(w->bad);
        free(w->msgs);
    }
    free(w);
    free(idx);
    return rc;
}

/* Removes the caches in dir whose data file is gone (their header names it), and the
 * temporary files of writers no longer running. */
static void prune(const char *dir)
{
    char **names;
    int n;
    rill_err e;
    if (rill_fs_dir_entries(dir, &names, &n, &e))
        return;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        char p[PATH_MAX + 256];
        const char *t = strstr(names[i], ".rillcache.tmp");
        if (t && (size_t)snprintf(p, sizeof p, "%s/%s", dir, names[i]) < sizeof p) {
            long pid = strtol(t + 14, NULL, 10);
            if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                unlink(p);
            continue;
        }
        if (len < 10 || strcmp(names[i] + len - 10, ".rillcache") != 0 ||
            (size_t)snprintf(p, sizeof p, "%s/%s", dir, names[i]) >= sizeof p)
            continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        cache_header h;
        char src[PATH_MAX];
        bool gone = false;
        if (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
            memcmp(h.magic, CACHE_MAGIC, 8) == 0 && h.path_bytes > 1 &&
            h.path_bytes <= sizeof src &&
            pread(fd, src, h.path_bytes, sizeof h) == (ssize_t)h.path_bytes &&
            src[h.path_bytes - 1] == 0) {
            struct stat st;
            gone = stat(src, &st) != 0 && errno == ENOENT;
        }
        close(fd);
        if (gone)
            unlink(p);
    }
    rill_fs_names_free(names, n);
}

int rill_cache_reseal(const char *path, const struct stat *src)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    cache_header h;
    char pathbuf[PATH_MAX];
    int rc = -1;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof h || !read_at(fd, &h, sizeof h, 0))
        goto done;
    uint64_t size = (uint64_t)st.st_size;
    h.src_size = (uint64_t)src->st_size;
    h.src_mtime_sec = (uint64_t)src->st_mtim.tv_sec;
    h.src_mtime_nsec = (uint64_t)src->st_mtim.tv_nsec;
    h.src_ino = (uint64_t)src->st_ino;
    h.src_dev = (uint64_t)src->st_dev;
    /* the index's and the blocks' checksums, where the index lies inside the file */
    if (h.index_offset <= size && h.nblocks <= (size - h.index_offset) / sizeof(block_entry)) {
        size_t nb = h.nblocks;
        block_entry *idx = calloc(nb ? nb : 1, sizeof *idx);
        if (!idx || !read_at(fd, idx, nb * sizeof *idx, h.index_offset)) {
            free(idx);
            goto done;
        }
        for (size_t k = 0; k < nb; k++) {
            const block_entry *e = &idx[k];
            if (e->off > size || e->bytes > size - e->off || e->bytes > (1u << 30))
                continue;
            char *b = malloc(e->bytes ? e->bytes : 1);
            if (b && read_at(fd, b, e->bytes, e->off))
                idx[k].crc = rill_crc32c(0, b, e->bytes);
            free(b);
        }
        h.index_crc = rill_crc32c(0, idx, nb * sizeof *idx);
        bool wrote = pwrite(fd, idx, nb * sizeof *idx, (off_t)h.index_offset) ==
                     (ssize_t)(nb * sizeof *idx);
        free(idx);
        if (!wrote)
            goto done;
    }
    if (h.path_bytes > 0 && h.path_bytes <= sizeof pathbuf && sizeof h + h.path_bytes <= size &&
        read_at(fd, pathbuf, h.path_bytes, sizeof h))
        h.header_crc = header_crc(&h, pathbuf, h.path_bytes);
    rc = pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h ? 0 : -1;
done:
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

void rill_cache_attach(rill_reader *r)
{
    r->cache = NULL;
    if (!r->cfg.cache_dir || !*r->cfg.cache_dir)
        return;
    char path[PATH_MAX + 64], tmp[PATH_MAX + 96], abs[PATH_MAX];
    struct stat src;
    if (fstat(r->lb.fd, &src) != 0 || cache_path(r, path, sizeof path, abs) != 0)
        return;
    uint64_t sig = signature(r);
    const char *why;
    if ((r->cache = cache_load(r, path, &src, sig, &why)))
        return;
    if (*why)
        fprintf(stderr, "rill: data cache %s: %s; writing it again\n", path, why);
    rill_err me;
    if (rill_mkdir_p(r->cfg.cache_dir, &me)) {
        fprintf(stderr, "rill: %s: no data cache (%s); reading the text\n", r->path, me.msg);
        return;
    }
    double t0 = rill_now();
    prune(r->cfg.cache_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    int e = cache_write(r, tmp, abs, &src, sig);
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    rill_lb_seek(&r->lb, 0);
    if (e) {
        fprintf(stderr, "rill: %s: no data cache (%s: %s%s); reading the text\n", r->path, path,
                e == EAGAIN ? "the file changed while it was read" : strerror(e),
                rill_fs_disk_full(e));
        return;
    }
    if (!(r->cache = cache_load(r, path, &src, sig, &why))) {
        fprintf(stderr, "rill: %s: the data cache just written does not load (%s); reading "
                        "the text\n", path, *why ? why : "gone");
        return;
    }
    fprintf(stderr, "rill: %s: data cache written in %.2f s (%s, %.0f MB)\n", r->path,
            rill_now() - t0, path, (double)r->cache->file_bytes / 1e6);
}

void rill_cache_detach(rill_reader *r)
{
    cache_free(r->cache);
    r->cache = NULL;
}
