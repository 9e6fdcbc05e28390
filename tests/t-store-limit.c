/* A table larger than the memory the process may hold: a store table of 1,000,000 rows (about
 * 100 MB in the store, every row created up front), then the process moved into a memory
 * cgroup of 32 MiB (core/memlimit.h) and the file dropped from the page cache, so what the
 * steps read comes from the disk. 60 steps of skewed ids with a small row cache, the next
 * step's rows prefetched, checkpoints in the background every 4 steps: every row looked up
 * equals that of a RAM twin before its update, the disk was read, the rows were read ahead,
 * and after the last checkpoint the store reopened holds the twin's rows. Skipped, with the
 * reason, where no cgroup can be made (not root, no cgroup file system). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memlimit.h"
#include "storetest.h"
#include "tap.h"

#define ROWS 1000000
#define DIM 16
#define STEPS 60
#define PER 512
/* AddressSanitizer's shadow memory and quarantine do not fit in 32 MiB: under it (make check)
 * the limit is 1 GiB, the code paths run, and the disk need not be read */
#if defined(__SANITIZE_ADDRESS__)
#define LIMIT ((uint64_t)1 << 30)
#define UNDER_ASAN 1
#else
#define LIMIT ((uint64_t)32 << 20)
#define UNDER_ASAN 0
#endif

/* n ids of step `step`, skewed (rank r drawn as R * u^3, then scattered over the table),
 * distinct */
static size_t skewed_ids(uint64_t step, size_t n, uint64_t *ids)
{
    for (size_t k = 0; k < n; k++) {
        double u = (double)(mix(step * 7777 + k) >> 11) / 9007199254740992.0;
        uint64_t rank = (uint64_t)((double)ROWS * u * u * u);
        ids[k] = mix(rank) % ROWS;
    }
    qsort(ids, n, sizeof *ids, cmp_u64);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (m == 0 || ids[k] != ids[m - 1])
            ids[m++] = ids[k];
    return m;
}

int main(void)
{
    if (!make_tmpdir())
        return 1;
    rill_err err = {0};
    char dir[256];
    in_tmp(dir, sizeof dir, "limit");
    rill_store *s;
    rill_table *t, *ram;
    rill_table_opts o = {.prefill = true};
    int rc = open_store(&s, dir, RILL_STORE_CREATE, (size_t)2 << 20, 0, &err) ||
             rill_store_table(s, &t, "big", ROWS, DIM, &SGD, 3, 0.05, &o, &err) ||
             rill_table_create(&ram, "big", ROWS, DIM, &SGD, 3, 0.05, &err);
    if (!ok(rc == RILL_OK, "a store table of %d rows of %d floats, every row created", ROWS,
            DIM)) {
        diag("%s", err.msg);
        return done_testing();
    }
    char path[300];
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    rill_memlimit m;
    if (rill_drop_file_cache(path, &err) || rill_memlimit_enter(&m, LIMIT, &err)) {
        printf("# skipped: the process cannot be held to %llu MiB: %s\n",
               (unsigned long long)(LIMIT >> 20), err.msg);
        rill_store_close(s);
        rill_table_free(t);
        rill_table_free(ram);
        return done_testing();
    }
    ok(1, "the process is held to %llu MiB by a cgroup-v%d memory group (the table: about 100 MB)",
       (unsigned long long)(LIMIT >> 20), m.version);
    rill_proc_io io0, io1;
    rill_proc_io_get(&io0);
    static uint64_t ids[PER], next[PER];
    static float got[PER * DIM], want[PER * DIM];
    size_t differ = 0, n = skewed_ids(1, PER, ids);
    for (uint64_t step = 1; step <= STEPS && !rc; step++) {
        size_t nn = skewed_ids(step + 1, PER, next);
        rill_table_prefetch(t, next, nn); /* the next step's rows, read while this one runs */
        rill_store_prefetch(s);
        rill_store_set_step(s, step);
        rc = train_step(t, ids, n, step, got, &err) || train_step(ram, ids, n, step, want, &err) ||
             rill_store_end_step(s, step, &err);
        for (size_t i = 0; !rc && i < n; i++)
            differ += memcmp(got + i * DIM, want + i * DIM, DIM * sizeof(float)) != 0;
        if (!rc && step % 4 == 0)
            rc = rill_store_checkpoint(s, NULL, NULL, &step, sizeof step, &err);
        memcpy(ids, next, nn * sizeof *ids);
        n = nn;
    }
    if (!rc)
        rc = rill_store_checkpoint_wait(s, &err);
    rill_proc_io_get(&io1);
    uint64_t peak = rill_memlimit_peak(&m);
    if (!ok(rc == RILL_OK, "%d steps of %d skewed ids, a checkpoint every 4 in the background",
            STEPS, PER))
        diag("%s", err.msg);
    ok(differ == 0, "every row looked up equals the RAM twin's before its update (%zu differ)",
       differ);
    ok(UNDER_ASAN || io1.read_bytes > io0.read_bytes || io1.major_faults > io0.major_faults,
       "the rows came from the disk: %llu bytes read, %llu major faults",
       (unsigned long long)(io1.read_bytes - io0.read_bytes),
       (unsigned long long)(io1.major_faults - io0.major_faults));
    ok(rill_store_prefetched(s) > 0, "%llu rows were read ahead",
       (unsigned long long)rill_store_prefetched(s));
    ok(peak <= LIMIT, "the group's peak: %llu bytes", (unsigned long long)peak);
    rill_store_close(s);
    rill_table_free(t); /* a store's tables are their graph's to free */
    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(s, &t, "big", ROWS, DIM, &SGD, 3, 0.05, NULL, &err);
    size_t bad = 0;
    for (uint64_t step = 1; !rc && step <= STEPS; step++) {
        size_t k = skewed_ids(step, PER, ids);
        bad += count_differing(t, ram, ids, k);
    }
    ok(rc == RILL_OK && bad == 0,
       "reopened: every row the steps used is the twin's (%zu differ)%s%s", bad,
       rc ? ": " : "", rc ? err.msg : "");
    if (!rc) {
        rill_store_close(s);
        rill_table_free(t);
    }
    rill_table_free(ram);
    if (rill_memlimit_leave(&m, &err))
        diag("%s", err.msg);
    return done_testing();
}
