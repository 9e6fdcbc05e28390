/* A walk over the pages of an LMDB file, checking what LMDB takes on trust. LMDB has no page
 * checksums and no bounds checks on a page's own fields: a page whose header says it holds
 * more keys than fit (mp_lower below the header) sends its binary search past the page, for
 * ever on some inputs; a node offset past the page reads other memory; a child pointer past
 * the last page reads past the file. Rill's seals catch damaged values, the guards (guard.c)
 * catch faults; this catches the damage LMDB would loop on, before LMDB reads the tree.
 *
 * Layout (liblmdb 0.9, 64-bit; mdb.c): a page is a 16-byte header (pgno u64, pad u16,
 * flags u16, lower u16, upper u16; an overflow page has a u32 page count where lower and
 * upper are), then lower-16 bytes of u16 node offsets. A node is lo u16, hi u16, flags u16,
 * ksize u16, then the key, then (leaf) the data: lo|hi<<16 bytes, or with F_BIGDATA an 8-byte
 * overflow page number; with F_SUBDATA the data is a 48-byte database record (a named
 * database, whose tree is walked too). A branch node's child page is lo | hi<<16 | flags<<32.
 * A database record: pad u32, flags u16, depth u16, four u64 counts, root u64. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

enum { P_BRANCH = 0x01, P_LEAF = 0x02, P_OVERFLOW = 0x04, P_LEAF2 = 0x20 };
enum { F_BIGDATA = 0x01, F_SUBDATA = 0x02, F_DUPDATA = 0x04 };
enum { HDR = 16, NODE = 8, DBREC = 48, MAX_DEPTH = 32 };
#define NO_PAGE UINT64_MAX

typedef struct {
    const unsigned char *map;
    uint64_t psize, npages;
    unsigned char *seen; /* a bit per page: each page belongs to one tree, once */
    bool skip_rows;      /* leave out the tables' row databases (t:NAME, s:NAME) */
    const char *path;
    rill_err *err;
} walk;

static uint16_t u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int bad(walk *w, uint64_t pg, const char *what)
{
    return rill_errf(w->err, RILL_ESTORE, "%s: page %llu %s: the store is damaged; the run "
                     "cannot be read",
                     w->path, (unsigned long long)pg, what);
}

static bool take(walk *w, uint64_t pg)
{
    if (w->seen[pg >> 3] & (1u << (pg & 7)))
        return false;
    w->seen[pg >> 3] |= (unsigned char)(1u << (pg & 7));
    return true;
}

static int tree(walk *w, uint64_t root, int depth);

static int overflow(walk *w, uint64_t pg, uint64_t bytes)
{
    if (pg < 2 || pg >= w->npages)
        return bad(w, pg, "is an overflow page past the end of the file");
    const unsigned char *p = w->map + pg * w->psize;
    uint32_t count;
    memcpy(&count, p + 12, sizeof count);
    if (!(u16(p + 10) & P_OVERFLOW) || u64(p) != pg)
        return bad(w, pg, "should be an overflow page and is not");
    if (count == 0 || pg + count > w->npages || (uint64_t)count * w->psize < bytes + HDR)
        return bad(w, pg, "has an overflow page count that does not fit its data or the file");
    for (uint64_t k = 0; k < count; k++)
        if (!take(w, pg + k))
            return bad(w, pg + k, "belongs to two places in the tree");
    return RILL_OK;
}

static int page(walk *w, uint64_t pg, int depth)
{
    if (pg < 2 || pg >= w->npages)
        return bad(w, pg, "is pointed at but lies past the end of the file");
    if (depth > MAX_DEPTH)
        return bad(w, pg, "lies deeper than any tree LMDB makes");
    if (!take(w, pg))
        return bad(w, pg, "belongs to two places in the tree (a cycle, or shared)");
    const unsigned char *p = w->map + pg * w->psize;
    uint16_t flags = u16(p + 10), lower = u16(p + 12), upper = u16(p + 14);
    if (u64(p) != pg)
        return bad(w, pg, "does not carry its own number");
    bool branch = flags & P_BRANCH, leaf = flags & P_LEAF;
    if (branch == leaf || (flags & (P_OVERFLOW | P_LEAF2)))
        return bad(w, pg, "is neither a branch nor a leaf page");
    if (lower < HDR || (lower - HDR) % 2 || upper < lower || upper > w->psize)
        return bad(w, pg, "has a header whose bounds do not fit the page");
    unsigned n = (unsigned)(lower - HDR) / 2;
    if (branch && n == 0)
        return bad(w, pg, "is an empty branch page");
    for (unsigned i = 0; i < n; i++) {
        uint16_t off = u16(p + HDR + 2 * i);
        if (off < upper || off > w->psize - NODE)
            return bad(w, pg, "has a node outside its free space");
        const unsigned char *nd = p + off;
        uint32_t lo = u16(nd), hi = u16(nd + 2);
        uint16_t nflags = u16(nd + 4), ksize = u16(nd + 6);
        if ((uint64_t)off + NODE + ksize > w->psize)
            return bad(w, pg, "has a key past its end");
        if (branch) {
            uint64_t child = (uint64_t)lo | (uint64_t)hi << 16 | (uint64_t)nflags << 32;
            int rc = page(w, child, depth + 1);
            if (rc)
                return rc;
            continue;
        }
        uint64_t dsize = (uint64_t)lo | (uint64_t)hi << 16;
        const unsigned char *data = nd + NODE + ksize;
        uint64_t room = w->psize - ((uint64_t)off + NODE + ksize);
        if (nflags & F_DUPDATA)
            return bad(w, pg, "holds duplicate-key data, which Rill never writes");
        if (nflags & F_BIGDATA) {
            int rc = room < 8 ? bad(w, pg, "has an overflow pointer past its end")
                              : overflow(w, u64(data), dsize);
            if (rc)
                return rc;
        } else if (dsize > room) {
            return bad(w, pg, "has a value past its end");
        } else if (nflags & F_SUBDATA) {
            if (dsize != DBREC)
                return bad(w, pg, "has a named database record of the wrong size");
            const unsigned char *key = nd + NODE;
            if (w->skip_rows && ksize > 2 && (key[0] == 't' || key[0] == 's') && key[1] == ':')
                continue;
            int rc = tree(w, u64(data + 40), 0);
            if (rc)
                return rc;
        }
    }
    return RILL_OK;
}

static int tree(walk *w, uint64_t root, int depth)
{
    return root == NO_PAGE ? RILL_OK : page(w, root, depth);
}

int rill_pages_check(const char *path, const unsigned char *map, uint64_t psize, uint64_t npages,
                     uint64_t free_root, uint64_t main_root, bool skip_rows, rill_err *err)
{
    walk w = {map, psize, npages, calloc((size_t)(npages / 8 + 1), 1), skip_rows, path, err};
    if (!w.seen)
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory checking its pages", path);
    int rc = tree(&w, free_root, 0);
    if (!rc)
        rc = tree(&w, main_root, 0);
    free(w.seen);
    return rc;
}
