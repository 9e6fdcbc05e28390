/* What opening checks before it trusts an existing store (store.c opens it): the run's
 * identity against DIR/run.id, and the file itself: its meta pages before LMDB maps it, then
 * its pages walked (pages.c) inside a guarded read. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_impl.h"
#include "util.h"

/* ---- the run's identity ---- */

/* A new run's identity: 128 random bits as hex. */
int rill_new_run_id(char *out, size_t cap, rill_err *err)
{
    unsigned char b[16];
    if (getentropy(b, sizeof b) != 0)
        return rill_errf(err, RILL_EIO, "cannot draw a run identity: %s", strerror(errno));
    for (size_t i = 0; i < sizeof b && 2 * i + 2 < cap; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return RILL_OK;
}

/* DIR/run.id's identity into out ("" when the file is absent); errors for an unreadable or
 * malformed file. */
static int read_run_id_file(rill_store *s, char *out, size_t cap, rill_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/run.id", s->dir);
    out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? RILL_OK
                               : rill_errf(err, RILL_EIO, "%s: cannot read: %s", path, strerror(errno));
    char buf[64] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return rill_errf(err, RILL_EIO, "%s: cannot read: %s", path, strerror(errno));
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    if (n != 32 || strspn(buf, "0123456789abcdef") != 32)
        return rill_errf(err, RILL_ESTORE,
                         "%s: not a run identity (expected 32 hex digits): the run directory is "
                         "damaged",
                         path);
    if (cap > 32) /* 32 digits and the terminating 0 */
        memcpy(out, buf, 33);
    return RILL_OK;
}

int rill_write_run_id(const char *dir, const char *id, rill_err *err)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/run.id", dir);
    snprintf(tmp, sizeof tmp, "%s/run.id.tmp", dir);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    int bad = fprintf(f, "%s\n", id) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        if (!e)
            e = errno;
        unlink(tmp);
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return rill_errf(err, RILL_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(e));
    }
    return RILL_OK;
}

/* The store's identity against DIR/run.id's. A store of an earlier build has none: a writer
 * gives it one (store and file), a reader takes it as it is. */
int rill_store_check_run_id(rill_store *s, rill_err *err)
{
    char file_id[40];
    int rc = read_run_id_file(s, file_id, sizeof file_id, err);
    if (rc)
        return rc;
    if (s->stored_id[0] && file_id[0] && strcmp(s->stored_id, file_id) != 0)
        return rill_errf(err, RILL_ESTORE,
                         "%s belongs to run %s, but %s/run.id says this directory is run %s: the "
                         "store was copied in from another run; its metrics.jsonl and pipeline "
                         "would not describe it (put back this run's store, or use the other "
                         "run's whole directory)",
                         s->path, s->stored_id, s->dir, file_id);
    if (!s->stored_id[0] && file_id[0])
        return rill_errf(err, RILL_ESTORE,
                         "%s has no run identity, but %s/run.id says this directory is run %s: "
                         "the store was copied in from another (older) run",
                         s->path, s->dir, file_id);
    snprintf(s->run_id, sizeof s->run_id, "%s", s->stored_id);
    if (s->mode == RILL_STORE_READ)
        return RILL_OK; /* a reader writes nothing into the run */
    if (!s->stored_id[0]) {
        if ((rc = rill_new_run_id(s->run_id, sizeof s->run_id, err)) ||
            (rc = rill_store_set_meta(s, "run_id", s->run_id, strlen(s->run_id), err)) ||
            (rc = rill_store_commit_meta(s, err)))
            return rc;
        snprintf(s->stored_id, sizeof s->stored_id, "%s", s->run_id);
    }
    return file_id[0] ? RILL_OK : rill_write_run_id(s->dir, s->run_id, err);
}

const char *rill_store_run_id(const rill_store *s)
{
    return s->run_id;
}

/* LMDB's meta pages as they lie in the file (liblmdb 0.9, 64-bit): a 16-byte page header, then
 * magic, version, address, map size, the free and main databases' records (48 bytes each;
 * the free one's first word is the page size), the last page used and the transaction id. */
enum {
    META_MAGIC = 16, META_VERSION = 20, META_PSIZE = 40, META_FREE_ROOT = 40 + 40,
    META_MAIN_DEPTH = 88 + 6, META_MAIN_ROOT = 88 + 40, META_LAST_PG = 136, META_TXNID = 144,
    META_END = 152,
};

/* Stores up to this size have every page checked when opened (pages.c: about a millisecond a
 * MiB); larger ones all but the tables' rows, which rill_store_verify walks too. */
#define FULL_WALK_BYTES ((uint64_t)256 << 20)

static uint64_t get64(const unsigned char *p, int at)
{
    uint64_t v;
    memcpy(&v, p + at, sizeof v);
    return v;
}

static uint32_t get32(const unsigned char *p, int at)
{
    uint32_t v;
    memcpy(&v, p + at, sizeof v);
    return v;
}

/* Before LMDB maps the file, its meta pages are checked against what LMDB trusts blindly: the
 * page size (0 divides by zero in mdb_env_open, a wrong one maps garbage), the newest meta's
 * last page against the file's length (touching a page past the end raises SIGBUS), and its
 * main database's root and depth. A file that is not LMDB at all is left to mdb_env_open. */
static int check_meta(rill_store *s, int fd, uint64_t size, rill_err *err)
{
    unsigned char m[2][META_END];
    bool ok[2] = {false, false};
    uint32_t psize0 = 0;
    for (int i = 0; i < 2; i++) {
        off_t at = i == 0 ? 0 : (off_t)psize0;
        if (pread(fd, m[i], sizeof m[i], at) != (ssize_t)sizeof m[i])
            break;
        if (get32(m[i], META_MAGIC) != 0xBEEFC0DEu)
            break;
        uint32_t ps = get32(m[i], META_PSIZE);
        if (ps < 512 || ps > 65536 || (ps & (ps - 1)) || (i == 1 && ps != psize0))
            return rill_errf(err, RILL_ESTORE, "%s: meta page %d gives a page size of %u: the "
                             "store is damaged; the run cannot be read", s->path, i, ps);
        if (i == 0)
            psize0 = ps;
        ok[i] = get32(m[i], META_VERSION) == 1;
    }
    if (!ok[0] || !ok[1])
        return RILL_OK; /* not LMDB, or another version: mdb_env_open says which */
    /* LMDB writes transaction T's meta into page T % 2, and a reader of T reads that page
     * (both pages start at transaction 0) */
    for (int i = 0; i < 2; i++)
        if (get64(m[i], META_TXNID) % 2 != (uint64_t)i && get64(m[i], META_TXNID) != 0)
            return rill_errf(err, RILL_ESTORE, "%s: meta page %d holds transaction %llu, which "
                             "belongs in page %d: the store is damaged; the run cannot be read",
                             s->path, i, (unsigned long long)get64(m[i], META_TXNID),
                             (int)(get64(m[i], META_TXNID) % 2));
    int k = get64(m[1], META_TXNID) > get64(m[0], META_TXNID); /* the meta LMDB will use */
    uint64_t last = get64(m[k], META_LAST_PG), root = get64(m[k], META_MAIN_ROOT);
    unsigned depth = (unsigned)m[k][META_MAIN_DEPTH] | (unsigned)m[k][META_MAIN_DEPTH + 1] << 8;
    if (last >= size || (last + 1) * psize0 > size)
        return rill_errf(err, RILL_ESTORE,
                         "%s: truncated: %llu bytes, expected at least %llu (%llu pages of %u "
                         "bytes): the file was cut short (an unfinished copy, or a full disk); "
                         "the run cannot be read",
                         s->path, (unsigned long long)size,
                         (unsigned long long)((last + 1) * (uint64_t)psize0),
                         (unsigned long long)last + 1, psize0);
    if (depth > 16 || (root != UINT64_MAX && (root < 2 || root > last)))
        return rill_errf(err, RILL_ESTORE, "%s: meta page %d points its main database at page "
                         "%llu (depth %u) of %llu: the store is damaged; the run cannot be read",
                         s->path, k, (unsigned long long)root, depth,
                         (unsigned long long)last + 1);
    return RILL_OK;
}

/* The pages of the snapshot a read transaction pins (so that a writer in another process
 * cannot reuse them under the walk), through a map of our own: all of them, or with a large
 * store all but the tables' rows. */
static int walk_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    bool all = *(bool *)ctx;
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", s->path, strerror(errno));
    unsigned char m[META_END];
    size_t id = mdb_txn_id(txn);
    int rc = RILL_OK;
    /* the meta page the transaction reads (its id's parity), whose page size page 0 gives */
    bool got = pread(fd, m, sizeof m, 0) == (ssize_t)sizeof m;
    uint32_t psize = got ? get32(m, META_PSIZE) : 0;
    if (got && id % 2)
        got = pread(fd, m, sizeof m, (off_t)psize) == (ssize_t)sizeof m;
    struct stat sb;
    uint64_t last = get64(m, META_LAST_PG), used = (last + 1) * psize;
    if (!got || get64(m, META_TXNID) != id || fstat(fd, &sb) != 0 ||
        (uint64_t)sb.st_size < used) {
        close(fd); /* the meta moved on under us, or cannot be read: LMDB's reads will say */
        return RILL_OK;
    }
    void *map = mmap(NULL, (size_t)used, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return rill_errf(err, RILL_EIO, "%s: cannot map it to check its pages: %s", s->path,
                         strerror(errno));
    if (!all && used > FULL_WALK_BYTES)
        madvise(map, (size_t)used, MADV_RANDOM); /* a few pages of a large file */
    rc = rill_pages_check(s->path, map, psize, last + 1, get64(m, META_FREE_ROOT),
                          get64(m, META_MAIN_ROOT), !all && used > FULL_WALK_BYTES, err);
    munmap(map, (size_t)used);
    return rc;
}

int rill_store_walk_pages(rill_store *s, bool all, rill_err *err)
{
    return rill_store_read(s, walk_fn, &all, "checking its pages", err);
}

int rill_store_check_file(rill_store *s, rill_err *err)
{
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", s->path, strerror(errno));
    struct stat sb;
    int rc = fstat(fd, &sb) != 0 ? rill_errf(err, RILL_EIO, "%s: %s", s->path, strerror(errno))
                                 : check_meta(s, fd, (uint64_t)sb.st_size, err);
    close(fd);
    return rc;
}
