/* The id map against a plain reference under random puts, removals and growth (removal by
 * backward shift must keep every other key findable), a map over caller memory refusing to
 * grow; the blob writer and reader: fields round-trip, absent fields take defaults, unknown
 * fields are skipped, and every truncation and damaged length is an error, never a read past
 * the end. */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "idmap.h"
#include "tap.h"
#include "util.h"

enum { KEYS = 5000 };

static void idmap_tests(void)
{
    rill_idmap m;
    ok(rill_idmap_init(&m, 4) == RILL_OK && m.cap == 8 && m.count == 0, "an owned map starts at 8 slots");
    static uint32_t ref[KEYS]; /* ref[k]: value of key k*7919+3, EMPTY when absent */
    for (int i = 0; i < KEYS; i++)
        ref[i] = RILL_IDMAP_EMPTY;
    rill_rng r;
    rill_rng_seed(&r, 11);
    int bad = 0;
    size_t want = 0;
    for (int step = 0; step < 60000; step++) {
        int k = (int)rill_rng_below(&r, KEYS);
        uint64_t key = (uint64_t)k * 7919u + 3u;
        if (rill_rng_below(&r, 3) == 0) {
            bool had = rill_idmap_remove(&m, key);
            bad += had != (ref[k] != RILL_IDMAP_EMPTY);
            want -= had;
            ref[k] = RILL_IDMAP_EMPTY;
        } else {
            uint32_t v = (uint32_t)rill_rng_below(&r, 1000000);
            want += ref[k] == RILL_IDMAP_EMPTY;
            bad += rill_idmap_put(&m, key, v) != RILL_OK;
            ref[k] = v;
        }
        if (step % 997 == 0)
            for (int j = 0; j < KEYS; j++)
                bad += rill_idmap_get(&m, (uint64_t)j * 7919u + 3u) != ref[j];
    }
    ok(bad == 0 && m.count == want, "60,000 random puts and removals agree with a reference (%zu keys, %zu slots)",
       m.count, m.cap);
    ok(4 * m.count <= 3 * m.cap, "the map stays at most 3/4 full");
    rill_idmap_clear(&m);
    ok(m.count == 0 && rill_idmap_get(&m, 3) == RILL_IDMAP_EMPTY, "clear empties it");
    bool added;
    ok(rill_idmap_reserve(&m, 3) == RILL_OK && rill_idmap_intern(&m, 42, &added) == 0 && added &&
           rill_idmap_intern(&m, 7, &added) == 1 && added && rill_idmap_intern(&m, 42, &added) == 0 &&
           !added && m.count == 2,
       "intern numbers keys in the order of first sight");
    rill_idmap_free(&m);
    ok(m.keys == NULL && m.cap == 0 && rill_idmap_get(&m, 1) == RILL_IDMAP_EMPTY, "free zeroes the map");

    uint64_t keys[16];
    uint32_t vals[16];
    rill_idmap f;
    rill_idmap_over(&f, keys, vals, 16);
    int rc = 0;
    for (uint64_t k = 0; k < 12; k++)
        rc |= rill_idmap_put(&f, k * 1000, (uint32_t)k);
    ok(rc == 0 && f.count == 12, "a map over caller memory takes up to 3/4 of its slots");
    ok(rill_idmap_put(&f, 99, 1) == RILL_EINVAL && f.count == 12 && f.keys == keys,
       "and refuses to grow (RILL_EINVAL)");
    ok(rill_idmap_get(&f, 7000) == 7 && rill_idmap_get(&f, 7001) == RILL_IDMAP_EMPTY, "gets what it holds");
    rill_idmap_free(&f);
    ok(rill_idmap_cap_for(0) == 8 && rill_idmap_cap_for(6) == 8 && rill_idmap_cap_for(7) == 16 &&
           rill_idmap_cap_for(12) == 16 && rill_idmap_cap_for(13) == 32,
       "capacities: at least 8, at most 3/4 full");
}

static void blob_tests(void)
{
    rill_blob b;
    rill_blob_init(&b, 0x41424344u, 2);
    rill_blob_put_u64(&b, 1, 123456789012345ull);
    rill_blob_put_f64(&b, 2, -0.125);
    rill_blob_put_i64(&b, 9, -5);
    int32_t arr[5] = {1, -2, 3, -4, 5};
    rill_blob_put(&b, 3, arr, sizeof arr);
    rill_blob_put(&b, 77, "future", 6); /* a field this reader does not know */
    rill_blob_put(&b, 4, NULL, 0);
    void *p;
    size_t len;
    rill_err e = {0};
    ok(rill_blob_finish(&b, &p, &len, "test state", &e) == RILL_OK && len == 8 + 6 * 16 + 8 + 8 + 8 + 20 + 6,
       "a blob of five fields and an empty one: %zu bytes", len);
    rill_blob_reader r;
    ok(rill_blob_open(&r, p, len, 0x41424344u, 2, "test state", &e) == RILL_OK && r.version == 2,
       "opens, version 2");
    uint64_t u = 0;
    double d = 0;
    int64_t i = 0;
    uint32_t absent = 0;
    ok(!rill_blob_get_u64(&r, 1, &u, 0, &e) && u == 123456789012345ull && !rill_blob_get_f64(&r, 2, &d, 0, &e) &&
           d == -0.125 && !rill_blob_get_i64(&r, 9, &i, 0, &e) && i == -5,
       "fixed fields round-trip");
    ok(!rill_blob_get_u32(&r, 50, &absent, 17, &e) && absent == 17, "an absent field takes its default");
    const void *ad;
    size_t an;
    int32_t back[5];
    ok(!rill_blob_get_array(&r, 3, sizeof(int32_t), &ad, &an, &e) && an == 5 && (memcpy(back, ad, sizeof back), 1) &&
           memcmp(back, arr, sizeof arr) == 0,
       "an array field gives its element count and bytes");
    ok(!rill_blob_get_array(&r, 4, 4, &ad, &an, &e) && an == 0, "an empty field is an empty array");
    ok(rill_blob_get_array(&r, 3, 8, &ad, &an, &e) == RILL_ESTORE && strstr(e.msg, "not a whole number"),
       "an array of the wrong element size is refused: %s", e.msg);
    ok(rill_blob_get_u32(&r, 1, &absent, 0, &e) == RILL_ESTORE && strstr(e.msg, "test state: field 1 holds 8 bytes, expected 4"),
       "a fixed field of the wrong size is refused: %s", e.msg);
    ok(rill_blob_get_bytes(&r, 51, back, 4, &e) == RILL_ESTORE && strstr(e.msg, "has no field 51"),
       "a required field that is absent is refused: %s", e.msg);

    ok(rill_blob_open(&r, p, len, 0x41424344u, 1, "test state", &e) == RILL_ESTORE && strstr(e.msg, "version 2, newer"),
       "a newer version is refused: %s", e.msg);
    ok(rill_blob_open(&r, p, len, 0x51424344u, 2, "test state", &e) == RILL_ESTORE && strstr(e.msg, "magic"),
       "another magic is refused: %s", e.msg);
    int cut_bad = 0;
    for (size_t n = 0; n < len; n++) {
        /* every prefix that does not end at a field boundary must be refused */
        rill_err ce = {0};
        int rc = rill_blob_open(&r, p, n, 0x41424344u, 2, "cut", &ce);
        size_t at = 8;
        bool boundary = n == 8;
        while (at < n) {
            uint64_t fl;
            if (n - at < 16)
                break;
            memcpy(&fl, (unsigned char *)p + at + 8, 8);
            at += 16 + (size_t)fl;
            boundary |= at == n;
        }
        cut_bad += boundary ? rc != RILL_OK : rc != RILL_ESTORE;
    }
    ok(cut_bad == 0, "every truncation inside a field is refused, at every one of %zu bytes", len);
    unsigned char *q = malloc(len);
    memcpy(q, p, len);
    uint64_t huge = UINT64_MAX - 3;
    memcpy(q + 8 + 8, &huge, 8);
    ok(rill_blob_open(&r, q, len, 0x41424344u, 2, "damaged", &e) == RILL_ESTORE && strstr(e.msg, "past the end"),
       "a field length past the end is refused: %s", e.msg);
    free(q);
    free(p);

    rill_blob_init(&b, 1, 1);
    rill_blob_put_u32(&b, 1, 5);
    rill_blob_free(&b);
    ok(b.buf == NULL && b.len == 0, "an unfinished blob is dropped");
}

int main(void)
{
    idmap_tests();
    blob_tests();
    return done_testing();
}
