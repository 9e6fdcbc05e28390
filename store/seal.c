/* Seals: a CRC32C after every value, over its key and its bytes, so a row, a dense parameter or
 * the run state changed on disk (a flipped bit, a zeroed page, a row moved under another key)
 * is refused when it is read instead of being trained on or evaluated. Stores of format 2
 * (before seals) are read and written without them. */
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "store_impl.h"
#include "util.h"

static uint32_t seal_of(const MDB_val *k, const void *v, size_t n)
{
    return rill_crc32c(rill_crc32c(0, k->mv_data, k->mv_size), v, n);
}

void rill_seal(const rill_store *s, const MDB_val *k, void *v, size_t n)
{
    if (!s->sealed)
        return;
    uint32_t c = seal_of(k, v, n);
    memcpy((char *)v + n, &c, sizeof c);
}

bool rill_seal_ok(const rill_store *s, const MDB_val *k, const MDB_val *v)
{
    if (!s->sealed)
        return true;
    if (v->mv_size < RILL_SEAL_BYTES)
        return false;
    size_t n = v->mv_size - RILL_SEAL_BYTES;
    uint32_t want;
    memcpy(&want, (const char *)v->mv_data + n, sizeof want);
    return seal_of(k, v->mv_data, n) == want;
}

int rill_unseal(const rill_store *s, const MDB_val *k, MDB_val *v, const char *what,
                bool key_is_text, rill_err *err)
{
    if (!s->sealed)
        return RILL_OK;
    char key[96];
    if (key_is_text)
        snprintf(key, sizeof key, "'%.*s'", k->mv_size > 80 ? 80 : (int)k->mv_size,
                 (const char *)k->mv_data);
    else if (k->mv_size == sizeof(uint64_t)) {
        uint64_t id;
        memcpy(&id, k->mv_data, sizeof id);
        if (id >> 56) /* a generation's key (table_gens.c): generation << 56 | id */
            snprintf(key, sizeof key, "row %llu (generation %u)",
                     (unsigned long long)(id & ((UINT64_C(1) << 56) - 1)), (unsigned)(id >> 56));
        else
            snprintf(key, sizeof key, "row %llu", (unsigned long long)id);
    } else
        snprintf(key, sizeof key, "a %zu-byte key", k->mv_size);
    if (v->mv_size < RILL_SEAL_BYTES)
        return rill_errf(err, RILL_ESTORE,
                         "%s: %s, %s: %zu bytes, too short to be sealed: the store is damaged",
                         s->path, what, key, v->mv_size);
    size_t n = v->mv_size - RILL_SEAL_BYTES;
    uint32_t want;
    memcpy(&want, (const char *)v->mv_data + n, sizeof want);
    if (seal_of(k, v->mv_data, n) != want)
        return rill_errf(err, RILL_ESTORE,
                         "%s: %s, %s fails its checksum: the store is damaged (its bytes changed "
                         "on disk); the run cannot be used as it is (restore it from a copy or "
                         "train it again)",
                         s->path, what, key);
    v->mv_size = n;
    return RILL_OK;
}

double rill_store_seal_ns(size_t bytes)
{
    unsigned char buf[4096];
    if (bytes > sizeof buf)
        bytes = sizeof buf;
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    volatile uint32_t sink = 0;
    int n = 1 << 18;
    double t0 = rill_now();
    for (int i = 0; i < n; i++) {
        buf[i % bytes] ^= 1; /* a different row each time, as the compiler must assume */
        sink = sink + rill_crc32c(0, buf, bytes);
    }
    return (rill_now() - t0) * 1e9 / n;
}

int rill_put_sealed(rill_store *s, MDB_txn *txn, MDB_dbi db, MDB_val *k, const void *data,
                    size_t n)
{
    MDB_val v = {rill_sealed_len(s, n), NULL};
    int rc = mdb_put(txn, db, k, &v, MDB_RESERVE);
    if (rc)
        return rc;
    if (n)
        memcpy(v.mv_data, data, n);
    rill_seal(s, k, v.mv_data, n);
    return 0;
}

int rill_get_sealed(rill_store *s, MDB_txn *txn, MDB_dbi db, MDB_val *k, MDB_val *v,
                    const char *what, rill_err *err)
{
    int rc = mdb_get(txn, db, k, v);
    if (rc)
        return rc;
    return rill_unseal(s, k, v, what, true, err);
}
