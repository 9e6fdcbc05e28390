/* The streaming reader over whole Criteo TSV files: train/valid splits, shuffling, threaded ==
 * unthreaded, seek/resume, and the real sample files (skipped when ../shared/data is absent;
 * RILL_SHARED=/path/to/shared overrides). Line parsing and bad lines are t-reader-criteo.c. */
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "readertest.h"
#include "tap.h"
#include "util.h"

static void test_splits(const char *path, uint64_t N)
{
    for (int split = 0; split < 2; split++) {
        for (int shuffle = 0; shuffle <= 30; shuffle += 30) {
            const char *sn = split == RILL_SPLIT_TAIL ? "TAIL" : "HASH";
            rill_reader_cfg cfg = base_cfg(path);
            cfg.split = split;
            cfg.valid_fraction = 0.2;
            cfg.shuffle = shuffle;
            size_t nt, nv;
            int rct, rcv;
            uint64_t rows_t = 0, rows_v = 0;
            rill_reader *r;
            rill_err err = {0};
            cfg.part = RILL_PART_TRAIN;
            if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
                rows_t = rill_reader_rows(r);
                rill_reader_close(r);
            }
            uint64_t *lt = lines_of(&cfg, &nt, &rct);
            cfg.part = RILL_PART_VALID;
            if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
                rows_v = rill_reader_rows(r);
                rill_reader_close(r);
            }
            uint64_t *lv = lines_of(&cfg, &nv, &rcv);
            char *seen = calloc(N + 1, 1);
            bool once = rct == 0 && rcv == 0;
            for (size_t i = 0; i < nt; i++)
                once &= lt[i] >= 1 && lt[i] <= N && seen[lt[i]]++ == 0;
            for (size_t i = 0; i < nv; i++)
                once &= lv[i] >= 1 && lv[i] <= N && seen[lv[i]]++ == 0;
            ok(once && nt + nv == N, "%s split (shuffle %d): train %zu + valid %zu = %llu lines, "
               "no overlap", sn, shuffle, nt, nv, (unsigned long long)N);
            ok(rows_t == nt && rows_v == nv, "%s split: rows() = %llu + %llu", sn,
               (unsigned long long)rows_t, (unsigned long long)rows_v);
            if (split == RILL_SPLIT_TAIL) {
                bool tail = nv == (size_t)(0.2 * (double)N + 0.5);
                for (size_t i = 0; i < nv; i++)
                    tail &= lv[i] > N - nv;
                ok(tail, "TAIL split: validation is the last 20%% of the lines");
            } else {
                ok(nv > N / 10 && nv < N * 3 / 10, "HASH split: about 20%% validation (%zu)", nv);
            }
            free(seen);
            free(lt);
            free(lv);
        }
    }
}

static void test_shuffle(const char *path, uint64_t N)
{
    rill_reader_cfg cfg = base_cfg(path);
    cfg.shuffle = 50; /* rounded up to 56 = 8 batches of 7 */
    run a = read_cfg(&cfg, 0), a2 = read_cfg(&cfg, 0), e1 = read_cfg(&cfg, 1);
    char *seen = calloc(N + 1, 1);
    bool perm = a.rc == 0, inchunk = true, full = true, moved = false;
    uint64_t k = 0;
    for (int i = 0; i < a.n; i++) {
        int B;
        memcpy(&B, a.snap[i].p, sizeof B);
        full &= B == 7 || i == a.n - 1;
        const char *line = a.snap[i].p + sizeof(int) + (size_t)B * 14 * sizeof(float);
        for (int j = 0; j < B; j++, k++) {
            uint64_t l;
            memcpy(&l, line + (size_t)j * sizeof l, sizeof l);
            perm &= l >= 1 && l <= N && seen[l]++ == 0;
            moved |= l != k + 1;
            inchunk &= (l - 1) / 56 == k / 56;
        }
        full &= a.pos[i].chunk == (uint64_t)i / 8 && a.pos[i].batch == (uint64_t)i % 8 + 1 &&
                a.pos[i].epoch == 0;
    }
    ok(perm && k == N, "shuffle: every line exactly once (%llu rows)", (unsigned long long)k);
    ok(moved, "shuffle: not in file order");
    ok(inchunk, "shuffle: rows stay within their 56-row chunk");
    ok(full, "shuffle: batches are full except the last; pos counts chunks and batches");
    ok(same_batches(&a, 0, &a2), "shuffle: same configuration, same batches");
    ok(!same_batches(&a, 0, &e1), "shuffle: epoch 1 has another order");

    rill_reader *r;
    rill_err err = {0};
    if (rill_reader_open(&r, &cfg, &err) == RILL_OK) {
        run x = read_rest(r);
        rill_reader_start_epoch(r, 1, &err);
        run y = read_rest(r);
        rill_reader_start_epoch(r, 0, &err);
        run z = read_rest(r);
        ok(same_batches(&x, 0, &a) && same_batches(&y, 0, &e1) && same_batches(&z, 0, &a),
           "shuffle: start_epoch replays an epoch's order");
        run_free(&x);
        run_free(&y);
        run_free(&z);
        rill_reader_close(r);
    }
    free(seen);
    run_free(&a);
    run_free(&a2);
    run_free(&e1);
}

static void test_threaded(const char *path, const char *bigpath)
{
    struct {
        const char *what;
        const char *path;
        int batch, shuffle, part, split;
        bool skip;
    } cfgs[] = {
        {"file order", path, 7, 0, RILL_PART_ALL, 0, true},
        {"shuffled", path, 7, 50, RILL_PART_ALL, 0, true},
        {"HASH train, shuffled", path, 5, 33, RILL_PART_TRAIN, RILL_SPLIT_HASH, true},
        {"TAIL valid", path, 16, 64, RILL_PART_VALID, RILL_SPLIT_TAIL, true},
        {"big, shuffled", bigpath, 64, 1000, RILL_PART_ALL, 0, false},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        rill_reader_cfg cfg = base_cfg(cfgs[k].path);
        cfg.batch = cfgs[k].batch;
        cfg.shuffle = cfgs[k].shuffle;
        cfg.part = cfgs[k].part;
        cfg.split = cfgs[k].split;
        cfg.valid_fraction = 0.3;
        cfg.on_bad_line = cfgs[k].skip ? RILL_BAD_SKIP : RILL_BAD_ERROR;
        run u[2], t[2];
        for (int e = 0; e < 2; e++) {
            cfg.threaded = false;
            u[e] = read_cfg(&cfg, (uint64_t)e);
            cfg.threaded = true;
            t[e] = read_cfg(&cfg, (uint64_t)e);
        }
        ok(u[0].n > 0 && u[0].rc == 0 && same_batches(&u[0], 0, &t[0]) &&
               same_batches(&u[1], 0, &t[1]) && u[0].bad == t[0].bad &&
               strcmp(u[0].first_bad, t[0].first_bad) == 0,
           "threaded == unthreaded, bit for bit, 2 epochs: %s (%d batches, %llu bad)",
           cfgs[k].what, u[0].n, (unsigned long long)u[0].bad);
        for (int e = 0; e < 2; e++) {
            run_free(&u[e]);
            run_free(&t[e]);
        }
    }

    /* Closing mid-file stops the loader, wherever it is. */
    rill_reader_cfg cfg = base_cfg(bigpath);
    cfg.threaded = true;
    cfg.batch = 16;
    cfg.shuffle = 4000;
    const rill_batch *b;
    rill_err err = {0};
    bool fine = true;
    for (int i = 0; i < 4; i++) {
        rill_reader *r;
        if (rill_reader_open(&r, &cfg, &err) != RILL_OK) {
            fine = false;
            break;
        }
        for (int j = 0; j < i; j++)
            fine &= rill_reader_next(r, &b, &err) == 1;
        rill_reader_close(r);
    }
    ok(fine, "threaded: close mid-file joins the loader");
}

static void test_seek(const char *path)
{
    for (int th = 0; th < 2; th++) {
        rill_reader_cfg cfg = base_cfg(path);
        cfg.shuffle = 50; /* chunks of 8 batches of 7 */
        cfg.on_bad_line = RILL_BAD_SKIP;
        rill_reader *r, *s;
        rill_err err = {0};
        if (rill_reader_open(&r, &cfg, &err) != RILL_OK) {
            ok(0, "seek: open: %s", err.msg);
            return;
        }
        run e0 = read_rest(r);
        rill_reader_start_epoch(r, 1, &err);
        run e1 = read_rest(r);
        rill_reader_close(r);

        cfg.threaded = th;
        rill_reader_open(&s, &cfg, &err);
        /* last of chunk 0, first of chunk 1, mid-chunk, the last two of the epoch */
        int ks[] = {0, 7, 8, 20, e0.n - 2, e0.n - 1};
        bool all = true;
        for (int e = 0; e < 2; e++) {
            run *ref = e ? &e1 : &e0;
            for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
                int k = ks[i];
                if (rill_reader_seek(s, &ref->pos[k], &err)) {
                    diag("seek: %s", err.msg);
                    all = false;
                    continue;
                }
                run x = read_rest(s);
                bool same = same_batches(ref, k + 1, &x) && x.bad == ref->bad;
                if (!same)
                    diag("seek to epoch %d batch %d: %d batches after, expected %d", e, k, x.n,
                         ref->n - k - 1);
                all &= same;
                run_free(&x);
            }
        }
        ok(all, "seek%s: after seek(pos of batch k), the rest of the epoch is the uninterrupted "
           "run's, across chunk ends", th ? " (threaded)" : "");

        /* At the epoch's last batch: the end of the epoch, then epoch 1 as before. */
        rill_reader_seek(s, &e0.pos[e0.n - 1], &err);
        const rill_batch *b;
        int rc = rill_reader_next(s, &b, &err);
        rill_reader_start_epoch(s, 1, &err);
        run y = read_rest(s);
        ok(rc == 0 && same_batches(&e1, 0, &y), "seek%s: across the epoch end", th ? " (threaded)" : "");
        run_free(&y);

        /* Seek mid-run, with the loader ahead. */
        rill_reader_start_epoch(s, 0, &err);
        for (int i = 0; i < 5; i++)
            rill_reader_next(s, &b, &err);
        rill_reader_seek(s, &e0.pos[12], &err);
        y = read_rest(s);
        ok(same_batches(&e0, 13, &y), "seek%s: in the middle of a run", th ? " (threaded)" : "");
        run_free(&y);

        /* A position from another file or configuration is refused, and the reader stays. */
        rill_data_pos bad = e0.pos[9];
        bad.offset += 1;
        rc = rill_reader_seek(s, &bad, &err);
        ok(rc == RILL_EINVAL && has(err.msg, "cannot resume"), "seek: a wrong offset is refused: %s",
           err.msg);
        bad = e0.pos[9];
        bad.batch = 9;
        rc = rill_reader_seek(s, &bad, &err);
        ok(rc == RILL_EINVAL && has(err.msg, "cannot resume"), "seek: a batch beyond the chunk is "
           "refused: %s", err.msg);
        rill_reader_close(s);
        run_free(&e0);
        run_free(&e1);
    }
}

static void test_shared(void)
{
    const char *shared = getenv("RILL_SHARED") ? getenv("RILL_SHARED") : "../shared";
    struct {
        const char *file;
        uint64_t rows, pos;
    } files[] = {
        {"criteo_merged.tsv", 14549, 3305},
        {"kaggle_train_head10000.txt", 10000, 2182},
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data/criteo/%s", shared, files[k].file);
        if (access(path, R_OK) != 0) {
            printf("ok %d # SKIP %s not found (set RILL_SHARED)\n", ++tap_run, path);
            continue;
        }
        for (int th = 0; th < 2; th++) {
            rill_reader_cfg cfg = base_cfg(path);
            cfg.batch = 256;
            cfg.shuffle = th ? 4096 : 0;
            cfg.threaded = th;
            rill_reader *r;
            rill_err err = {0};
            const rill_batch *b;
            if (!ok(rill_reader_open(&r, &cfg, &err) == RILL_OK, "%s: open", files[k].file)) {
                diag("%s", err.msg);
                continue;
            }
            double t0 = rill_now();
            uint64_t rows = 0, pos = 0;
            int rc;
            while ((rc = rill_reader_next(r, &b, &err)) > 0) {
                rows += (uint64_t)b->B;
                for (int i = 0; i < b->B; i++)
                    pos += b->labels[i] == 1.0f;
            }
            double dt = rill_now() - t0;
            ok(rc == 0 && rows == files[k].rows && pos == files[k].pos &&
                   rill_reader_bad_lines(r) == 0 && rill_reader_rows(r) == files[k].rows,
               "%s%s: %llu rows, %llu positives, 0 bad lines", files[k].file,
               th ? " (threaded, shuffled)" : "", (unsigned long long)rows,
               (unsigned long long)pos);
            if (rc < 0)
                diag("%s", err.msg);
            diag("%s: %.0f rows/s (%.2f us/row)", files[k].file, (double)rows / dt,
                 dt * 1e6 / (double)rows);
            rill_reader_close(r);
        }
    }
}

/* Looking ahead: the threaded loader's next two batches, peeked before they are taken, are
 * the batches rill_reader_next returns, numbered in sequence; nothing further is offered. */
static void test_peek(const char *bigpath)
{
    rill_reader_cfg cfg = base_cfg(bigpath);
    cfg.threaded = true;
    cfg.batch = 64;
    cfg.shuffle = 1000;
    rill_reader *r;
    rill_err err = {0};
    if (!ok(rill_reader_open(&r, &cfg, &err) == RILL_OK, "peek: open")) {
        diag("%s", err.msg);
        return;
    }
    const rill_batch *b;
    uint64_t want_line = 0, seq = 0, seq1 = 0;
    int steps = 0, both = 0, wrong = 0, got;
    bool have_next = false, beyond = false;
    for (;;) {
        /* the loader fills its slots soon; at the epoch's end there is no batch after next */
        const rill_batch *p0 = NULL, *p1 = NULL;
        for (int w = 0; w < 2000 && !p1; w++) {
            p0 = rill_reader_peek(r, 0, &seq);
            p1 = rill_reader_peek(r, 1, &seq1);
            if (!p1)
                usleep(1000);
        }
        beyond |= rill_reader_peek(r, 2, NULL) != NULL || rill_reader_peek(r, -1, NULL) != NULL;
        uint64_t line0 = p0 ? p0->line[0] : 0, line1 = p1 ? p1->line[0] : 0;
        if (have_next && (!p0 || line0 != want_line))
            wrong++; /* the batch peeked as the one after next is now the next */
        if (p0 && p1 && seq1 != seq + 1)
            wrong++;
        both += p1 != NULL;
        if ((got = rill_reader_next(r, &b, &err)) != 1)
            break;
        if (p0 && b->line[0] != line0)
            wrong++;
        have_next = p1 != NULL;
        want_line = line1;
        steps++;
    }
    ok(got == 0 && steps == 20000 / 64 + 1 && wrong == 0 && both >= steps - 2 && !beyond,
       "peek: the next two batches peeked are those taken, in sequence, over %d batches (%d "
       "with two ahead, %d wrong; rc %d %s)",
       steps, both, wrong, got, got < 0 ? err.msg : "");
    rill_reader_close(r);
}

int main(void)
{
    reader_test_start("reader-stream");
    const uint64_t N = 1000;
    const char *clean = gen_file("gen1000.tsv", N, NULL);
    const char *dirty = gen_file("dirty1000.tsv", N, (const uint64_t[]){3, 57, 58, 400, 999, 0});
    const char *big = gen_file("gen20000.tsv", 20000, NULL);
    test_splits(clean, N);
    test_shuffle(clean, N);
    test_threaded(dirty, big);
    test_peek(big);
    test_seek(dirty);
    test_shared();
    rill_schema_free(&schema);
    return done_testing();
}
