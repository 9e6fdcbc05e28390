/* Field-by-field saved state (blob.h). */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

#define HEAD_BYTES 8u
#define FIELD_HEAD_BYTES 16u

static void put_raw(rill_blob *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (len > SIZE_MAX - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap = cap > SIZE_MAX / 2 ? b->len + len : 2 * cap;
        unsigned char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    if (len)
        memcpy(b->buf + b->len, data, len);
    b->len += len;
}

void rill_blob_init(rill_blob *b, uint32_t magic, uint32_t version)
{
    memset(b, 0, sizeof *b);
    put_raw(b, &magic, 4);
    put_raw(b, &version, 4);
}

void rill_blob_put(rill_blob *b, uint32_t tag, const void *data, size_t len)
{
    uint32_t head[2] = {tag, 0};
    uint64_t n = len;
    put_raw(b, head, sizeof head);
    put_raw(b, &n, sizeof n);
    put_raw(b, data, len);
}

void rill_blob_put_u32(rill_blob *b, uint32_t tag, uint32_t v) { rill_blob_put(b, tag, &v, sizeof v); }
void rill_blob_put_u64(rill_blob *b, uint32_t tag, uint64_t v) { rill_blob_put(b, tag, &v, sizeof v); }
void rill_blob_put_i64(rill_blob *b, uint32_t tag, int64_t v) { rill_blob_put(b, tag, &v, sizeof v); }
void rill_blob_put_f64(rill_blob *b, uint32_t tag, double v) { rill_blob_put(b, tag, &v, sizeof v); }

int rill_blob_finish(rill_blob *b, void **out, size_t *len, const char *what, rill_err *err)
{
    if (b->failed) {
        size_t want = b->len;
        rill_blob_free(b);
        return rill_errf(err, RILL_ENOMEM, "%s: out of memory saving its state (%zu bytes so far)",
                         what, want);
    }
    *out = b->buf;
    *len = b->len;
    memset(b, 0, sizeof *b);
    return RILL_OK;
}

void rill_blob_free(rill_blob *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

int rill_blob_open(rill_blob_reader *r, const void *p, size_t len, uint32_t magic,
                   uint32_t max_version, const char *what, rill_err *err)
{
    memset(r, 0, sizeof *r);
    const unsigned char *b = p;
    uint32_t head[2];
    if (len < HEAD_BYTES)
        return rill_errf(err, RILL_ESTORE, "%s: %zu bytes, too short for its header (8)", what, len);
    memcpy(head, b, sizeof head);
    if (head[0] != magic)
        return rill_errf(err, RILL_ESTORE, "%s: not this kind of state (magic %08x, expected %08x)",
                         what, head[0], magic);
    if (head[1] > max_version)
        return rill_errf(err, RILL_ESTORE,
                         "%s: version %u, newer than this build reads (%u): use a newer Rill",
                         what, head[1], max_version);
    for (size_t at = HEAD_BYTES; at < len;) {
        uint32_t fh[2];
        uint64_t n;
        if (len - at < FIELD_HEAD_BYTES)
            return rill_errf(err, RILL_ESTORE, "%s: damaged: a field header at byte %zu runs past "
                             "the end (%zu bytes)", what, at, len);
        memcpy(fh, b + at, sizeof fh);
        memcpy(&n, b + at + 8, sizeof n);
        if (n > len - at - FIELD_HEAD_BYTES)
            return rill_errf(err, RILL_ESTORE, "%s: damaged: field %u at byte %zu holds %llu bytes, "
                             "past the end (%zu bytes)", what, fh[0], at, (unsigned long long)n, len);
        at += FIELD_HEAD_BYTES + (size_t)n;
    }
    r->p = b;
    r->len = len;
    r->version = head[1];
    r->what = what;
    return RILL_OK;
}

int rill_blob_find(const rill_blob_reader *r, uint32_t tag, const void **data, size_t *len)
{
    for (size_t at = HEAD_BYTES; at < r->len;) {
        uint32_t t;
        uint64_t n;
        memcpy(&t, r->p + at, sizeof t);
        memcpy(&n, r->p + at + 8, sizeof n);
        if (t == tag) {
            *data = r->p + at + FIELD_HEAD_BYTES;
            *len = (size_t)n;
            return 1;
        }
        at += FIELD_HEAD_BYTES + (size_t)n;
    }
    *data = NULL;
    *len = 0;
    return 0;
}

static int get_fixed(const rill_blob_reader *r, uint32_t tag, void *v, const void *dflt,
                     size_t size, rill_err *err)
{
    const void *d;
    size_t n;
    if (!rill_blob_find(r, tag, &d, &n)) {
        memcpy(v, dflt, size);
        return RILL_OK;
    }
    if (n != size)
        return rill_errf(err, RILL_ESTORE, "%s: field %u holds %zu bytes, expected %zu", r->what, tag,
                         n, size);
    memcpy(v, d, size);
    return RILL_OK;
}

int rill_blob_get_u32(const rill_blob_reader *r, uint32_t tag, uint32_t *v, uint32_t dflt, rill_err *err)
{
    return get_fixed(r, tag, v, &dflt, sizeof *v, err);
}

int rill_blob_get_u64(const rill_blob_reader *r, uint32_t tag, uint64_t *v, uint64_t dflt, rill_err *err)
{
    return get_fixed(r, tag, v, &dflt, sizeof *v, err);
}

int rill_blob_get_i64(const rill_blob_reader *r, uint32_t tag, int64_t *v, int64_t dflt, rill_err *err)
{
    return get_fixed(r, tag, v, &dflt, sizeof *v, err);
}

int rill_blob_get_f64(const rill_blob_reader *r, uint32_t tag, double *v, double dflt, rill_err *err)
{
    return get_fixed(r, tag, v, &dflt, sizeof *v, err);
}

int rill_blob_get_bytes(const rill_blob_reader *r, uint32_t tag, void *dst, size_t len, rill_err *err)
{
    const void *d;
    size_t n;
    if (!rill_blob_find(r, tag, &d, &n))
        return rill_errf(err, RILL_ESTORE, "%s: damaged: it has no field %u", r->what, tag);
    if (n != len)
        return rill_errf(err, RILL_ESTORE, "%s: field %u holds %zu bytes, expected %zu", r->what, tag,
                         n, len);
    if (len)
        memcpy(dst, d, len);
    return RILL_OK;
}

int rill_blob_get_array(const rill_blob_reader *r, uint32_t tag, size_t elem, const void **data,
                        size_t *n, rill_err *err)
{
    size_t len;
    if (!rill_blob_find(r, tag, data, &len)) {
        *n = 0;
        return RILL_OK;
    }
    if (elem == 0 || len % elem)
        return rill_errf(err, RILL_ESTORE, "%s: field %u holds %zu bytes, not a whole number of "
                         "%zu-byte elements", r->what, tag, len, elem);
    *n = len / elem;
    return RILL_OK;
}
