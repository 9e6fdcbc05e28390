/* The data cache (core/data/reader_cache.c): a reader with a cache directory hands out the
 * same batches, bit for bit, as one reading the text (parts, shuffling, threads, bad lines and
 * their messages, an overlong line, seek), over several blocks; the first open writes the
 * cache, later ones map it unchanged; a changed file (mtime), a changed setting (max_line), a
 * damaged or truncated cache are each written again, a cache directory that cannot be made
 * leaves the text read; a cache whose data file is gone is removed when another is written.
 * A CSV file with a header, a weight, a multi-valued column and a sequence with times goes
 * through it the same. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "readertest.h"

static char cache_dir[128];

/* Every value of every batch, for any schema. */
static void snapshot_any(buf *s, const rill_batch *b)
{
    const rill_schema *sc = b->schema;
    put(s, &b->B, sizeof b->B);
    put(s, b->labels, (size_t)b->B * sc->nlabels * sizeof(float));
    put(s, b->num, (size_t)b->B * sc->nnum * sizeof(float));
    if (sc->has_weight)
        put(s, b->weights, (size_t)b->B * sizeof(float));
    put(s, b->line, (size_t)b->B * sizeof(uint64_t));
    for (int f = 0; f < sc->ncat; f++) {
        put(s, b->cat[f].off, (size_t)(b->B + 1) * sizeof(uint32_t));
        put(s, b->cat[f].val, b->cat[f].off[b->B] * sizeof(uint64_t));
        if (b->cat[f].time)
            put(s, b->cat[f].time, b->cat[f].off[b->B] * sizeof(double));
    }
    put(s, &b->pos, sizeof b->pos);
}

/* The whole part as one string, the end code and the bad-line account after it. */
typedef struct {
    buf all;
    int rc, batches;
    uint64_t bad;
    char first_bad[1024], err[1024];
} pass;

static pass read_pass(const rill_reader_cfg *cfg, uint64_t epoch)
{
    pass p = {.rc = -100};
    rill_reader *r;
    rill_err err = {0};
    const rill_batch *b;
    if (rill_reader_open(&r, cfg, &err)) {
        snprintf(p.err, sizeof p.err, "open: %.1000s", err.msg);
        return p;
    }
    if (epoch && rill_reader_start_epoch(r, epoch, &err))
        diag("start_epoch: %s", err.msg);
    while ((p.rc = rill_reader_next(r, &b, &err)) > 0) {
        snapshot_any(&p.all, b);
        p.batches++;
    }
    if (p.rc < 0)
        snprintf(p.err, sizeof p.err, "%s", err.msg);
    p.bad = rill_reader_bad_lines(r);
    snprintf(p.first_bad, sizeof p.first_bad, "%s", rill_reader_first_bad(r));
    rill_reader_close(r);
    return p;
}

static bool same_pass(const pass *a, const pass *b)
{
    return a->rc == b->rc && a->batches == b->batches && a->bad == b->bad &&
           a->all.n == b->all.n && (a->all.n == 0 || memcmp(a->all.p, b->all.p, a->all.n) == 0) &&
           strcmp(a->first_bad, b->first_bad) == 0 && strcmp(a->err, b->err) == 0;
}

/* The one cache file in cache_dir (its name into out), or false. */
static bool cache_file(char *out, size_t cap)
{
    char **names;
    int n;
    rill_err err;
    bool found = false;
    if (rill_fs_dir_entries(cache_dir, &names, &n, &err))
        return false;
    for (int i = 0; i < n; i++)
        if (strstr(names[i], ".rillcache") && !strstr(names[i], ".tmp")) {
            snprintf(out, cap, "%s/%s", cache_dir, names[i]);
            found = true;
        }
    rill_fs_names_free(names, n);
    return found;
}

static int count_caches(void)
{
    char **names;
    int n, count = 0;
    rill_err err;
    if (rill_fs_dir_entries(cache_dir, &names, &n, &err))
        return 0;
    for (int i = 0; i < n; i++)
        count += strstr(names[i], ".rillcache") != NULL;
    rill_fs_names_free(names, n);
    return count;
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* ---- Criteo over several blocks ---- */

static void test_criteo(void)
{
    enum { LINES = 40000 };
    static const uint64_t bad[] = {3, 16384, 16385, 20001, 39999, 0};
    buf b = {0};
    for (uint64_t i = 1; i <= LINES; i++) {
        bool isbad = false;
        for (const uint64_t *p = bad; *p; p++)
            isbad |= *p == i;
        if (i == 777) { /* longer than max_line */
            for (int k = 0; k < 3000; k++)
                puts_(&b, "x");
            puts_(&b, "\n");
        } else if (isbad) {
            char t[64];
            snprintf(t, sizeof t, "0\t%llu\tzz", (unsigned long long)i);
            puts_(&b, t);
            puts_(&b, "\n");
        } else {
            gen_line(&b, i);
        }
    }
    const char *path = write_file("c.tsv", b.p, b.n);
    free(b.p);

    struct {
        const char *what;
        int part, split, shuffle;
        bool threaded;
        uint64_t epoch;
    } cfgs[] = {
        {"the whole file in order", RILL_PART_ALL, RILL_SPLIT_TAIL, 0, false, 0},
        {"the training part (tail), shuffled, threaded", RILL_PART_TRAIN, RILL_SPLIT_TAIL, 5000,
         true, 0},
        {"the same in epoch 2", RILL_PART_TRAIN, RILL_SPLIT_TAIL, 5000, true, 2},
        {"the validation part (tail)", RILL_PART_VALID, RILL_SPLIT_TAIL, 0, false, 0},
        {"a hashed validation part", RILL_PART_VALID, RILL_SPLIT_HASH, 0, false, 0},
        {"a hashed training part, shuffled", RILL_PART_TRAIN, RILL_SPLIT_HASH, 3000, true, 0},
    };
    char cpath[512];
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        rill_reader_cfg cfg = base_cfg(path);
        cfg.batch = 256;
        cfg.part = cfgs[i].part;
        cfg.valid_fraction = 0.1;
        cfg.split = cfgs[i].split;
        cfg.shuffle = cfgs[i].shuffle;
        cfg.threaded = cfgs[i].threaded;
        cfg.on_bad_line = RILL_BAD_SKIP;
        cfg.max_bad = 1.0;
        cfg.max_line = 2048;
        pass text = read_pass(&cfg, cfgs[i].epoch);
        cfg.cache_dir = cache_dir;
        pass first = read_pass(&cfg, cfgs[i].epoch);
        bool have = cache_file(cpath, sizeof cpath);
        ino_t ino = inode_of(cpath);
        pass again = read_pass(&cfg, cfgs[i].epoch);
        ok(text.rc == 0 && text.batches > 0 && same_pass(&text, &first) &&
               same_pass(&text, &again) && have && inode_of(cpath) == ino,
           "%s: the same batches, bad lines (%llu) and first message from the text, the cache "
           "being written and the cache mapped (unchanged)",
           cfgs[i].what, (unsigned long long)text.bad);
        if (i == 0)
            diag("first bad line: %s", text.first_bad);
        free(text.all.p), free(first.all.p), free(again.all.p);
    }

    /* a bad line is an error in error mode, with the same message */
    rill_reader_cfg cfg = base_cfg(path);
    cfg.batch = 256;
    cfg.max_line = 2048;
    pass text = read_pass(&cfg, 0);
    cfg.cache_dir = cache_dir;
    pass cached = read_pass(&cfg, 0);
    ok(text.rc < 0 && same_pass(&text, &cached) && has(cached.err, "c.tsv:3:"),
       "on_bad_line = error: the same error from the cache: %s", cached.err);
    free(text.all.p), free(cached.all.p);

    /* seek: from a saved position, the rest of the pass */
    cfg.on_bad_line = RILL_BAD_SKIP;
    cfg.max_bad = 1.0;
    cfg.shuffle = 4000;
    run whole = read_cfg(&cfg, 0);
    rill_reader *r;
    rill_err err = {0};
    bool seeked = false;
    if (whole.n > 60 && rill_reader_open(&r, &cfg, &err) == RILL_OK) {
        if (rill_reader_seek(r, &whole.pos[50], &err) == RILL_OK) {
            run rest = read_rest(r);
            seeked = same_batches(&whole, 51, &rest);
            run_free(&rest);
        }
        rill_reader_close(r);
    }
    ok(seeked, "seek to batch 51's position, with the cache: the rest of the pass (%s)", err.msg);
    run_free(&whole);

    /* what makes it stale */
    cfg = base_cfg(path);
    cfg.batch = 256;
    cfg.on_bad_line = RILL_BAD_SKIP;
    cfg.max_bad = 1.0;
    cfg.max_line = 2048;
    pass ref = read_pass(&cfg, 0);
    cfg.cache_dir = cache_dir;
    ino_t ino = inode_of(cpath);
    struct timespec ts[2] = {{.tv_sec = 1700000000, .tv_nsec = 0}, {.tv_sec = 1700000000, .tv_nsec = 0}};
    utimensat(AT_FDCWD, path, ts, 0);
    pass p = read_pass(&cfg, 0);
    ok(same_pass(&ref, &p) && inode_of(cpath) != ino && inode_of(cpath) != 0,
       "the file's mtime changed: the cache written again, the same batches");
    free(p.all.p);

    cfg.max_line = 4096; /* the long line is then too long still, but the setting differs */
    rill_reader_cfg tcfg = cfg;
    tcfg.cache_dir = NULL;
    pass ref2 = read_pass(&tcfg, 0);
    ino = inode_of(cpath);
    p = read_pass(&cfg, 0);
    ok(same_pass(&ref2, &p) && inode_of(cpath) != ino, "max_line changed: written again");
    free(p.all.p), free(ref2.all.p);
    cfg.max_line = 2048;
    p = read_pass(&cfg, 0);
    free(p.all.p);

    /* damage: bytes in a block, then a truncated file */
    struct {
        const char *what;
        off_t at;
        bool truncate;
    } damage[] = {
        {"a block's rows overwritten", 200000, false},
        {"the header overwritten", 16, false},
        {"the index cut off (truncated)", 0, true},
    };
    for (size_t i = 0; i < sizeof damage / sizeof *damage; i++) {
        int fd = open(cpath, O_RDWR);
        struct stat st;
        bool done = fd >= 0 && fstat(fd, &st) == 0;
        if (done && damage[i].truncate) {
            done = ftruncate(fd, st.st_size - 8) == 0;
        } else if (done) {
            static const char junk[64] = {(char)0xff, (char)0x7f, 0x11, (char)0xff, 0x55};
            done = pwrite(fd, junk, sizeof junk, damage[i].at) == (ssize_t)sizeof junk;
        }
        if (fd >= 0)
            close(fd);
        ino = inode_of(cpath);
        p = read_pass(&cfg, 0);
        ok(done && same_pass(&ref, &p) && inode_of(cpath) != ino,
           "%s: noticed, written again, the same batches", damage[i].what);
        free(p.all.p);
    }
    free(ref.all.p);

    /* damaged after it was opened: an error naming the line and what to do */
    {
        rill_reader *rd;
        rill_err e2 = {0};
        const rill_batch *bt;
        int rc = -100, nb = 0;
        bool opened = rill_reader_open(&rd, &cfg, &e2) == RILL_OK;
        if (opened) {
            rc = rill_reader_next(rd, &bt, &e2); /* block 0 in use */
            struct stat st;
            int fd = open(cpath, O_RDWR);
            static const char junk[64] = {0x5a, 0x5a, 0x5a};
            if (fd >= 0 && fstat(fd, &st) == 0)
                rc = pwrite(fd, junk, sizeof junk, st.st_size - 4096) == (ssize_t)sizeof junk
                         ? rc : -100;
            if (fd >= 0)
                close(fd);
            while (rc > 0 && (rc = rill_reader_next(rd, &bt, &e2)) > 0)
                nb++;
            rill_reader_close(rd);
        }
        ok(opened && rc < 0 && nb > 100 && has(e2.msg, "c.tsv:3") &&
               has(e2.msg, "changed on disk or damaged since it was opened"),
           "a block changed on disk after the reader opened: an error when it is reached: %s",
           e2.msg);
        pass p3 = read_pass(&cfg, 0); /* and the next open writes it again */
        free(p3.all.p);
    }

    /* rill_cache_reseal (the fuzz target's): a cache stamped with the file's new identity is
     * taken as it is */
    {
        rill_reader_cfg rc2 = cfg;
        rc2.cache_dir = NULL;
        pass t0 = read_pass(&rc2, 0);
        struct timespec ts2[2] = {{.tv_sec = 1600000000}, {.tv_sec = 1600000000}};
        struct stat src;
        bool stamped = utimensat(AT_FDCWD, path, ts2, 0) == 0 && stat(path, &src) == 0 &&
                       rill_cache_reseal(cpath, &src) == 0;
        ino = inode_of(cpath);
        pass t1 = read_pass(&cfg, 0);
        ok(stamped && same_pass(&t0, &t1) && inode_of(cpath) == ino,
           "a cache resealed with the file's new mtime: taken as it is, the same batches");
        free(t0.all.p), free(t1.all.p);
    }

    /* a cache directory that cannot be made: the text is read */
    char blocked[256];
    snprintf(blocked, sizeof blocked, "%s/c.tsv/cache", tmpdir);
    cfg.cache_dir = blocked;
    tcfg = cfg;
    tcfg.cache_dir = NULL;
    pass t1 = read_pass(&tcfg, 0), t2 = read_pass(&cfg, 0);
    ok(same_pass(&t1, &t2), "a cache directory under a regular file: the text read instead");
    free(t1.all.p), free(t2.all.p);
}

/* ---- CSV: header, weight, multi-valued, a sequence with times ---- */

static void test_csv(void)
{
    rill_schema s;
    rill_err err = {0};
    const char *ypath = write_str("s.yaml", "format: csv\nheader: true\ncolumns:\n"
                                            "  - { name: y, role: label }\n"
                                            "  - { name: w, role: weight }\n"
                                            "  - { name: n, role: numeric }\n"
                                            "  - { name: c, role: categorical }\n"
                                            "  - { name: m, role: multi, separator: \"|\" }\n"
                                            "  - { name: h, role: sequence, max_length: 3, times: t }\n"
                                            "  - { name: t, role: times }\n");
    if (!ok(rill_schema_load_yaml(&s, ypath, &err) == RILL_OK, "csv: the schema loads")) {
        diag("%s", err.msg);
        return;
    }
    buf b = {0};
    puts_(&b, "y,w,n,c,m,h,t\n");
    for (int i = 1; i <= 3000; i++) {
        char line[256];
        if (i % 401 == 0)
            snprintf(line, sizeof line, "1,x,%d,a,b,c,1\n", i); /* a weight that is text */
        else
            snprintf(line, sizeof line, "%d,%g,%s,c%d,%s,%s,%s\n", i % 3 == 0, 0.5 + i % 4,
                     i % 7 ? "3.25" : "", i % 50, i % 5 ? "p|q|r" : "",
                     i % 3 ? "a|b|c|d" : "e", i % 3 ? "1|2|3|4" : "9");
        puts_(&b, line);
    }
    const char *path = write_file("d.csv", b.p, b.n);
    free(b.p);
    rill_reader_cfg cfg = {.path = path, .format = RILL_FMT_CSV, .schema = &s, .batch = 64,
                           .part = RILL_PART_TRAIN, .valid_fraction = 0.2, .shuffle = 500,
                           .seed = 3, .on_bad_line = RILL_BAD_SKIP, .max_bad = 1.0};
    pass text = read_pass(&cfg, 0);
    cfg.cache_dir = cache_dir;
    pass first = read_pass(&cfg, 0), again = read_pass(&cfg, 0);
    ok(text.rc == 0 && text.bad > 0 && same_pass(&text, &first) && same_pass(&text, &again),
       "csv with a header, weights, a multi-valued column and a sequence with times: the same "
       "batches with the cache (%llu bad lines: %s)",
       (unsigned long long)text.bad, text.first_bad);
    free(text.all.p), free(first.all.p), free(again.all.p);
    rill_schema_free(&s);
}

/* ---- caches of files that are gone ---- */

static void test_prune(void)
{
    const char *a = gen_file("gone.tsv", 100, NULL);
    rill_reader_cfg cfg = base_cfg(a);
    cfg.cache_dir = cache_dir;
    pass p = read_pass(&cfg, 0);
    free(p.all.p);
    int before = count_caches();
    unlink(a);
    const char *other = gen_file("other.tsv", 100, NULL);
    cfg.path = other;
    p = read_pass(&cfg, 0);
    free(p.all.p);
    ok(before >= 2 && count_caches() == before, "a cache whose data file was deleted is removed "
                                                "when another is written (%d caches before, %d "
                                                "after)", before, count_caches());
}

int main(void)
{
    reader_test_start("cache");
    snprintf(cache_dir, sizeof cache_dir, "%s/cache/sub", tmpdir);
    test_criteo();
    test_csv();
    test_prune();
    char top[160];
    snprintf(top, sizeof top, "%s/cache", tmpdir);
    rill_err err;
    bool removed;
    rill_fs_remove_tree(top, &removed, &err);
    rill_schema_free(&schema);
    return done_testing();
}
