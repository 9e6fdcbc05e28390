/* A run's store beyond its tables (store/store.h): the values a checkpoint's caller puts and
 * gets (the map growing under them); the run's named values; one writer at a time (from a
 * forked child, as flock locks belong to an open file description); truncated and damaged
 * files read in a child so that a crash is a failed test; stores of other runs refused.
 * Every store lives in a mkdtemp directory removed at the end. */
#include <sys/wait.h>

#include "storetest.h"

/* ---- the checkpoint's caller values (rill_ckpt_put / rill_ckpt_get), no graph ---- */

typedef struct {
    unsigned char *big; /* 3 MiB: more than the 1 MiB map holds, so the map grows */
    size_t big_len;
    int calls;          /* how often put_all ran */
} ckpt_values;

static int put_values(void *ud, rill_ckpt *c, rill_err *err)
{
    ckpt_values *v = ud;
    v->calls++;
    rill_ckpt_part two[2] = {{"head-", 5}, {"tail", 4}};
    rill_ckpt_part big = {v->big, v->big_len};
    int rc = rill_ckpt_put(c, RILL_CKPT_DENSE, "w", two, 2);
    if (!rc)
        rc = rill_ckpt_put(c, RILL_CKPT_STATE, "node:n", &big, 1);
    return rc; /* as it is: MDB_MAP_FULL makes the store grow and run this again */
}

typedef struct {
    const ckpt_values *want;
    bool w_ok, big_ok, absent_eof;
} ckpt_check;

static int get_values(void *ud, rill_ckpt *c, rill_err *err)
{
    ckpt_check *k = ud;
    const void *val;
    size_t len;
    int rc = rill_ckpt_get(c, RILL_CKPT_DENSE, "w", &val, &len, "w", err);
    k->w_ok = rc == RILL_OK && len == 9 && memcmp(val, "head-tail", 9) == 0;
    rc = rill_ckpt_get(c, RILL_CKPT_STATE, "node:n", &val, &len, "node", err);
    k->big_ok = rc == RILL_OK && len == k->want->big_len && memcmp(val, k->want->big, len) == 0;
    /* the spaces are apart: "w" is not in the state space */
    k->absent_eof = rill_ckpt_get(c, RILL_CKPT_STATE, "w", &val, &len, "w", err) == RILL_EOF &&
                    rill_ckpt_get(c, RILL_CKPT_DENSE, "nothing", &val, &len, "x", err) == RILL_EOF;
    return RILL_OK;
}

static void test_ckpt_values(void)
{
    rill_err err = {0};
    char dir[256];
    in_tmp(dir, sizeof dir, "values");
    ckpt_values v = {.big_len = (size_t)3 << 20};
    v.big = malloc(v.big_len);
    for (size_t i = 0; i < v.big_len; i++)
        v.big[i] = (unsigned char)mix(i);
    rill_store *s;
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, (size_t)1 << 20, &err);
    if (!rc)
        rc = rill_store_checkpoint(s, put_values, &v, "run", 3, &err);
    if (!rc)
        rc = rill_store_checkpoint_wait(s, &err);
    rill_store_info info = {0};
    if (!rc)
        rill_store_get_info(s, &info);
    ok(rc == RILL_OK && v.calls == 1 && info.map_size > ((size_t)4 << 20),
       "a checkpoint copies the caller's values (put_all called %d time) and writes them, the "
       "1 MiB map grown to %llu bytes%s%s", v.calls, (unsigned long long)info.map_size,
       rc ? ": " : "", rc ? err.msg : "");
    if (!rc)
        rill_store_close(s);
    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err);
    ckpt_check k = {.want = &v};
    void *state = NULL;
    size_t len = 0;
    if (!rc)
        rc = rill_store_restore(s, get_values, &k, &state, &len, &err);
    ok(rc == RILL_OK && len == 3 && memcmp(state, "run", 3) == 0,
       "restore reads the run state back%s%s", rc ? ": " : "", rc ? err.msg : "");
    ok(k.w_ok && k.big_ok, "and get_all reads each value as put, parts joined (%s, %s)",
       k.w_ok ? "2 parts" : "2 parts wrong", k.big_ok ? "3 MiB" : "3 MiB wrong");
    ok(k.absent_eof, "an absent key, or one of the other space, is RILL_EOF");
    free(state);
    if (!rc)
        rill_store_close(s);
    free(v.big);
}

/* ---- the run's named values ---- */

static bool meta_is(rill_store *s, const char *key, const char *want)
{
    rill_err err;
    void *v = NULL;
    size_t len = 0;
    int rc = rill_store_get_meta(s, key, &v, &len, &err);
    bool same = rc == RILL_OK && len == strlen(want) && memcmp(v, want, len) == 0 &&
                ((char *)v)[len] == 0;
    if (!same)
        diag("meta '%s': rc %d, '%.*s' (wanted '%s')", key, rc, v ? (int)len : 0,
             v ? (char *)v : "", want);
    free(v);
    return same;
}

static bool meta_absent(rill_store *s, const char *key)
{
    rill_err err;
    void *v = NULL;
    size_t len = 0;
    int rc = rill_store_get_meta(s, key, &v, &len, &err);
    free(v);
    return rc == RILL_EOF && v == NULL;
}

static void test_meta(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "meta");
    rill_store *s;
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err);
    if (!ok(rc == RILL_OK, "a store for named values")) {
        diag("%s", err.msg);
        return;
    }
    rc = rill_store_set_meta(s, "pipeline", "old", 3, &err) ||
         rill_store_set_meta(s, "pipeline", "print(1)", 8, &err) ||
         rill_store_set_meta(s, "settings", "return {}", 9, &err);
    ok(rc == RILL_OK && meta_is(s, "pipeline", "print(1)") && meta_absent(s, "nothing"),
       "set, set again, get back before any commit; an absent key is RILL_EOF");
    ok(rill_store_commit_meta(s, &err) == RILL_OK, "commit");
    rill_store_set_meta(s, "unsaved", "x", 1, &err);
    rill_store_close(s);

    rc = open_store(&s, dir, RILL_STORE_WRITE, 0, 0, &err);
    if (!ok(rc == RILL_OK, "reopened for writing")) {
        diag("%s", err.msg);
        return;
    }
    ok(meta_is(s, "pipeline", "print(1)") && meta_is(s, "settings", "return {}"),
       "the committed values are there, 0-terminated");
    ok(meta_absent(s, "unsaved"), "a value set but neither committed nor checkpointed is not");
    rc = rill_store_set_meta(s, "signature", "sig", 3, &err) ||
         rill_store_checkpoint(s, NULL, NULL, "st", 2, &err);
    ok(rc == RILL_OK, "a value set, then a checkpoint");
    rill_store_close(s);

    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err);
    if (!ok(rc == RILL_OK, "reopened read-only")) {
        diag("%s", err.msg);
        return;
    }
    ok(meta_is(s, "signature", "sig") && meta_is(s, "pipeline", "print(1)"),
       "the checkpoint wrote the value set before it");
    rc = rill_store_set_meta(s, "x", "y", 1, &err) == RILL_OK
             ? rill_store_commit_meta(s, &err)
             : RILL_OK;
    ok(rc != RILL_OK && has(err.msg, "read-only"), "commit to a read-only store: %s", err.msg);
    rill_store_close(s);
}

/* ---- one writer ---- */

/* In a child: opens dir in mode and reports through the pipe "OK" or the error message; exits
 * at once (no atexit handlers: the sanitizers' leak check belongs to the parent). */
static int child_open(const char *dir, int mode, char *msg, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        rill_err err = {0};
        rill_store *s;
        int rc = open_store(&s, dir, mode, 0, 0, &err);
        char out[1100];
        int len = snprintf(out, sizeof out, "%s", rc ? err.msg : "OK");
        if (!rc)
            rill_store_close(s);
        ssize_t w = write(fds[1], out, (size_t)len);
        _exit(w == len ? (rc ? 1 : 0) : 3);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fds[0], msg + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = 0;
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_one_writer(void)
{
    rill_err err;
    char dir[256], msg[1200], pid[64];
    in_tmp(dir, sizeof dir, "locked");
    rill_store *s;
    rill_table *t;
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err) ||
             rill_store_table(s, &t, "emb", 100, 2, &SGD, 1, 0.05, NULL, &err);
    uint64_t id = 3;
    rc = rc || train_step(t, &id, 1, 1, NULL, &err) ||
         rill_store_checkpoint(s, NULL, NULL, "st", 2, &err);
    if (!ok(rc == RILL_OK, "a store open for writing, with a checkpoint")) {
        diag("%s", err.msg);
        return;
    }
    uint64_t dg = 0, dg2 = 1;
    rill_store_digest(s, &dg, &err);
    snprintf(pid, sizeof pid, "(pid %ld", (long)getpid());
    int st = child_open(dir, RILL_STORE_WRITE, msg, sizeof msg);
    ok(st == 1 && has(msg, "being written by another process") && has(msg, pid),
       "another process opening it for writing is refused, naming the writer: %s", msg);
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    ok(has(msg, pid), "the message's parentheses close after the pid");
    st = child_open(dir, RILL_STORE_CREATE, msg, sizeof msg);
    ok(st == 1 && has(msg, "being written by another process"),
       "another process creating a store there is refused: %s", msg);
    rill_store_digest(s, &dg2, &err);
    ok(dg2 == dg && rill_table_peek(t, 3) != NULL,
       "the refused creation left the store as it was");
    st = child_open(dir, RILL_STORE_READ, msg, sizeof msg);
    ok(st == 0, "another process may open it read-only (%s)", msg);
    rill_store_close(s);
    rill_table_free(t);
    st = child_open(dir, RILL_STORE_WRITE, msg, sizeof msg);
    ok(st == 0, "once the writer has closed it, another process may write (%s)", msg);
    rc = open_store(&s, dir, RILL_STORE_WRITE, 0, 0, &err);
    ok(rc == RILL_OK, "and so may this one again");
    if (!rc)
        rill_store_close(s);
}

/* ---- truncated and damaged files, stores of other runs (the hardening issue) ---- */

/* A closed store of `rows` prefilled rows of dim 16 and one checkpoint, in dir. */
static int make_filled(const char *dir, int64_t rows, rill_err *err)
{
    rill_store *s;
    rill_table *t = NULL;
    rill_table_opts o = {.prefill = true};
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, err);
    if (rc)
        return rc;
    rc = rill_store_table(s, &t, "emb", rows, 16, &SGD, 7, 0.05, &o, err);
    if (!rc)
        rc = rill_store_checkpoint(s, NULL, NULL, "state", 5, err);
    rill_store_close(s);
    if (t)
        rill_table_free(t); /* a store's tables are the graph's to free; here, the test's */
    return rc;
}

/* Runs every read a command makes of a store (open, verify, digest, every row, the checkpoint)
 * in a child, so that a crash is a failed test, not a dead test program. Returns the child's
 * status: 0 if every call returned (and *errors gets how many returned an error), else -1;
 * first holds the first error. */
static int read_everything(const char *dir, int *errors, char *first, size_t cap)
{
    int fds[2];
    if (pipe(fds))
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        rill_err err = {0}, e1 = {0};
        int n = 0;
        rill_store *s;
        rill_table *t = NULL;
        if (open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) == RILL_OK) {
            uint64_t d;
            if (rill_store_verify(s, &err) && ++n == 1)
                e1 = err;
            if (rill_store_digest(s, &d, &err) && ++n == 1)
                e1 = err;
            void *st;
            size_t len;
            if (rill_store_restore(s, NULL, NULL, &st, &len, &err) < 0 && ++n == 1)
                e1 = err;
            if (rill_store_table(s, &t, "emb", 30000, 16, &SGD, 7, 0.05, NULL, &err) && ++n == 1)
                e1 = err;
            for (uint64_t id = 0; t && id < 30000; id++) {
                const float *row;
                if (rill_table_read(t, id, &row, &err)) {
                    if (++n == 1)
                        e1 = err;
                    break;
                }
            }
            rill_store_close(s);
            rill_table_free(t);
        } else {
            n = 1;
            e1 = err;
        }
        dprintf(fds[1], "%d\n%s", n, e1.msg);
        _exit(0);
    }
    close(fds[1]);
    char buf[1200] = "";
    ssize_t got = 0, r;
    while ((r = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += r;
    buf[got > 0 ? got : 0] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(first, cap, "the child died: %s %d", WIFSIGNALED(status) ? "signal" : "exit",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return -1;
    }
    char *nl = strchr(buf, '\n');
    *errors = atoi(buf);
    snprintf(first, cap, "%s", nl ? nl + 1 : "");
    return 0;
}

static void test_truncated_and_damaged(void)
{
    rill_err err = {0};
    char good[256], dir[256], path[300], gpath[300], first[1100];
    in_tmp(good, sizeof good, "filled");
    if (!ok(make_filled(good, 30000, &err) == RILL_OK, "a store of 30,000 rows")) {
        diag("%s", err.msg);
        return;
    }
    snprintf(gpath, sizeof gpath, "%s/store.mdb", good);
    struct stat sb;
    stat(gpath, &sb);
    int errors = 0;

    /* cut to 2/3: every command once died of SIGBUS */
    in_tmp(dir, sizeof dir, "truncated");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    copy_file(gpath, path);
    ok(truncate(path, sb.st_size * 2 / 3) == 0, "the copy cut to 2/3 (%lld of %lld bytes)",
       (long long)(sb.st_size * 2 / 3), (long long)sb.st_size);
    char want[120];
    snprintf(want, sizeof want, "truncated: %lld bytes, expected at least %lld",
             (long long)(sb.st_size * 2 / 3), (long long)sb.st_size);
    refused(dir, "a truncated store", want, path);

    /* 40 pages zeroed in the middle: LMDB's assertions once aborted the process */
    in_tmp(dir, sizeof dir, "zeroed");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    copy_file(gpath, path);
    FILE *f = fopen(path, "r+b");
    static char zero[40 * 4096];
    bool wrote = f && fseek(f, (sb.st_size / 2) & ~4095L, SEEK_SET) == 0 &&
                 fwrite(zero, 1, sizeof zero, f) == sizeof zero;
    if (f)
        fclose(f);
    int rc = wrote ? read_everything(dir, &errors, first, sizeof first) : -1;
    ok(rc == 0 && errors > 0 && has(first, path) && has(first, "damaged"),
       "40 zeroed pages: every read returns, %d of them an error naming the file: %s", errors,
       first);

    /* 200 bits flipped at random (past the two meta pages) */
    in_tmp(dir, sizeof dir, "flipped");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    copy_file(gpath, path);
    f = fopen(path, "r+b");
    uint64_t x = 99;
    for (int i = 0; f && i < 200; i++) {
        x = mix(x);
        long at = 8192 + (long)(x % (uint64_t)(sb.st_size - 8192));
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ (1 << (x >> 61)), f);
    }
    if (f)
        fclose(f);
    rc = read_everything(dir, &errors, first, sizeof first);
    ok(rc == 0 && errors > 0 && has(first, path),
       "200 flipped bits: every read returns, %d of them an error naming the file: %s", errors,
       first);
    rc = read_everything(good, &errors, first, sizeof first);
    ok(rc == 0 && errors == 0, "the undamaged store reads back without an error (%s)", first);
}

static void test_run_identity(void)
{
    rill_err err = {0};
    char a[256], b[256], pa[300], pb[300], ida[300];
    in_tmp(a, sizeof a, "run-a");
    in_tmp(b, sizeof b, "run-b");
    if (make_filled(a, 100, &err) || make_filled(b, 100, &err)) {
        ok(0, "two runs: %s", err.msg);
        return;
    }
    rill_store *s;
    char id_a[40] = "", id_b[40] = "";
    if (open_store(&s, a, RILL_STORE_READ, 0, 0, &err) == RILL_OK) {
        snprintf(id_a, sizeof id_a, "%s", rill_store_run_id(s));
        rill_store_close(s);
    }
    if (open_store(&s, b, RILL_STORE_READ, 0, 0, &err) == RILL_OK) {
        snprintf(id_b, sizeof id_b, "%s", rill_store_run_id(s));
        rill_store_close(s);
    }
    snprintf(ida, sizeof ida, "%s/run.id", a);
    FILE *f = fopen(ida, "r");
    char line[64] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = 0;
        fclose(f);
    }
    ok(strlen(id_a) == 32 && strlen(id_b) == 32 && strcmp(id_a, id_b) != 0 &&
           strncmp(line, id_a, 32) == 0,
       "each run has its own identity, in the store and in run.id (%s, %s)", id_a, id_b);
    snprintf(pa, sizeof pa, "%s/store.mdb", a);
    snprintf(pb, sizeof pb, "%s/store.mdb", b);
    copy_file(pa, pb);
    char want[400];
    snprintf(want, sizeof want, "belongs to run %s, but %s/run.id says this directory is run %s",
             id_a, b, id_b);
    refused(b, "run a's store copied into run b", want, "copied in from another run");
    /* a store of an earlier build has no identity: read as it is, given one when resumed */
    unlink(ida);
    ok(open_store(&s, a, RILL_STORE_READ, 0, 0, &err) == RILL_OK && access(ida, F_OK) != 0,
       "without run.id the store opens to read, and nothing is written into the run");
    rill_store_close(s);
    ok(open_store(&s, a, RILL_STORE_WRITE, 0, 0, &err) == RILL_OK && access(ida, F_OK) == 0,
       "opened to write, run.id is written again");
    rill_store_close(s);
}

int main(void)
{
    if (!make_tmpdir())
        return 1;
    test_ckpt_values();
    test_meta();
    test_one_writer();
    test_truncated_and_damaged();
    test_run_identity();
    rm_tree(tmpdir);
    return done_testing();
}
