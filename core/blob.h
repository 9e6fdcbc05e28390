/* Saved state, field by field: a blob is a header (magic, version) and a list of fields, each
 * a tag, a length and its bytes. A reader finds fields by tag, so a build that adds a field
 * still reads blobs written before it (the field is absent: its default applies), and a build
 * that meets a field it does not know skips it. Every read is bounds-checked; a damaged blob
 * is an error that names what it held and the byte at fault, never a read past its end.
 *
 * Layout (little-endian, as the machines Rill runs on): u32 magic, u32 version, then per field
 * u32 tag, u32 0, u64 length, length bytes. Values are copied out (fields are not aligned).
 *
 * Writing never fails midway: a failed allocation is remembered and reported by finish, so
 * a save is a straight list of puts. */
#ifndef RILL_BLOB_H
#define RILL_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct rill_blob {
    unsigned char *buf;
    size_t len, cap;
    int failed; /* an allocation failed: finish reports it */
} rill_blob;

void rill_blob_init(rill_blob *b, uint32_t magic, uint32_t version);
void rill_blob_put(rill_blob *b, uint32_t tag, const void *data, size_t len);
void rill_blob_put_u32(rill_blob *b, uint32_t tag, uint32_t v);
void rill_blob_put_u64(rill_blob *b, uint32_t tag, uint64_t v);
void rill_blob_put_i64(rill_blob *b, uint32_t tag, int64_t v);
void rill_blob_put_f64(rill_blob *b, uint32_t tag, double v);
/* Hands the bytes to the caller (*out, freed with free) and resets b; RILL_ENOMEM (naming
 * what) when any put could not grow the buffer. */
int rill_blob_finish(rill_blob *b, void **out, size_t *len, const char *what, rill_err *err);
void rill_blob_free(rill_blob *b); /* drops an unfinished blob */

typedef struct rill_blob_reader {
    const unsigned char *p;
    size_t len;
    uint32_t version;
    const char *what; /* names the blob in errors, e.g. "node 'emb' state" */
} rill_blob_reader;

/* Checks the header and walks every field's bounds once. RILL_ESTORE when the magic is not
 * the expected one, the version is newer than max_version, or a field runs past the end. */
int rill_blob_open(rill_blob_reader *r, const void *p, size_t len, uint32_t magic,
                   uint32_t max_version, const char *what, rill_err *err);
/* The field with this tag: 1 and its bytes when present, 0 when absent. */
int rill_blob_find(const rill_blob_reader *r, uint32_t tag, const void **data, size_t *len);
/* Fixed-size reads: an absent field leaves *v at dflt and returns RILL_OK; a field of the
 * wrong length is RILL_ESTORE naming the tag, its length and the one expected. */
int rill_blob_get_u32(const rill_blob_reader *r, uint32_t tag, uint32_t *v, uint32_t dflt, rill_err *err);
int rill_blob_get_u64(const rill_blob_reader *r, uint32_t tag, uint64_t *v, uint64_t dflt, rill_err *err);
int rill_blob_get_i64(const rill_blob_reader *r, uint32_t tag, int64_t *v, int64_t dflt, rill_err *err);
int rill_blob_get_f64(const rill_blob_reader *r, uint32_t tag, double *v, double dflt, rill_err *err);
/* Copies a field of exactly len bytes into dst. A required field that is absent is
 * RILL_ESTORE ("... has no field T"), as is one of another length. */
int rill_blob_get_bytes(const rill_blob_reader *r, uint32_t tag, void *dst, size_t len, rill_err *err);
/* An array field of n elements of elem bytes: *n from its length (RILL_ESTORE when the
 * length is not a multiple of elem); *data points into the blob (unaligned: memcpy out).
 * Absent: *n = 0, *data = NULL, RILL_OK. */
int rill_blob_get_array(const rill_blob_reader *r, uint32_t tag, size_t elem, const void **data,
                        size_t *n, rill_err *err);

#endif
