/* The engine's spine below the nodes: rill_sgemm against the plain loop (all transposes, odd
 * sizes, padded leading dimensions, one and two threads); rill_parallel_for (every index
 * once, static contiguous ranges, nesting); the step arena (alignment, reuse after reset,
 * large blocks); the argument getters and their messages, and node arguments;
 * rill_optim_parse; and rill_mkdir_p. The parameter file is t-params-file.c. Files go to a
 * mkdtemp directory that is removed at the end. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "graphtest.h"
#include "optim.h"
#include "pool.h"

static char tmpdir[64];

static bool has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

/* ---- rill_sgemm ---- */

static void fill(float *x, size_t n, rill_rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * rill_rng_unit(r) - 1.0);
}

#define SENTINEL 12345.0f

/* rill_sgemm and rill_sgemm_ref on the same operands; returns the worst |diff| / (1 + |ref|),
 * or INFINITY when rill_sgemm wrote into the padding columns of C. */
static double gemm_case(bool ta, bool tb, int M, int N, int K, float alpha, float beta, int pad,
                        rill_rng *rng)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
    float *C = malloc(nc * sizeof(float)), *R = malloc(nc * sizeof(float));
    fill(A, na, rng);
    fill(B, nb, rng);
    fill(C, nc, rng);
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            C[(size_t)i * ldc + j] = SENTINEL;
    memcpy(R, C, nc * sizeof(float));
    rill_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    rill_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    double worst = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double d = fabs((double)C[(size_t)i * ldc + j] - (double)R[(size_t)i * ldc + j]) /
                       (1.0 + fabs((double)R[(size_t)i * ldc + j]));
            if (!(d <= worst))
                worst = d;
        }
        for (int j = N; j < ldc; j++)
            if (C[(size_t)i * ldc + j] != SENTINEL)
                worst = INFINITY;
    }
    free(A), free(B), free(C), free(R);
    return worst;
}

static void test_sgemm(void)
{
    static const int sizes[] = {1, 3, 17, 33, 129};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    rill_rng rng;
    rill_rng_seed(&rng, 11);
    rill_err err;
    for (int threads = 1; threads <= 2; threads++) {
        rill_pool_start(threads, &err);
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            for (int v = 0; v < 2; v++) {
                /* plain C = A B, then C = 0.5 A B + 2 C over padded rows */
                float alpha = v ? 0.5f : 1.0f, beta = v ? 2.0f : 0.0f;
                int pad = v ? 3 : 0;
                double worst = 0;
                int wm = 0, wn = 0, wk = 0;
                for (int a = 0; a < ns; a++)
                    for (int b = 0; b < ns; b++)
                        for (int c = 0; c < ns; c++) {
                            double w = gemm_case(ta, tb, sizes[a], sizes[b], sizes[c], alpha, beta,
                                                 pad, &rng);
                            if (!(w <= worst)) {
                                worst = w;
                                wm = sizes[a], wn = sizes[b], wk = sizes[c];
                            }
                        }
                ok(worst < 1e-4,
                   "sgemm %s%s, %d thread%s, alpha %g beta %g, ld pad %d: matches the plain loop "
                   "for M, N, K in {1, 3, 17, 33, 129} (worst %.1e at %dx%dx%d)",
                   ta ? "A'" : "A", tb ? "B'" : "B", threads, threads > 1 ? "s" : "", (double)alpha,
                   (double)beta, pad, worst, wm, wn, wk);
            }
        }
    }
    /* sizes that split across threads by rows (M >= N) and by columns, off the 16 grid */
    rill_pool_start(2, &err);
    double w1 = gemm_case(false, false, 300, 37, 200, 1.0f, 0.0f, 1, &rng);
    double w2 = gemm_case(true, true, 37, 300, 200, 1.0f, 1.0f, 2, &rng);
    ok(w1 < 1e-4 && w2 < 1e-4, "sgemm 300x37x200 and 37x300x200 on two threads (worst %.1e, %.1e)",
       w1, w2);
}

/* ---- rill_parallel_for ---- */

typedef struct {
    atomic_int *count;
    size_t begin[64], end[64];
    int calls[64];
    pthread_t thread[64];
    atomic_int ncalls;
    bool nested_ok;
} pf_ctx;

static void pf_fn(void *ctx, size_t b, size_t e, int worker)
{
    pf_ctx *c = ctx;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->count[i], 1);
    if (worker >= 0 && worker < 64) {
        c->begin[worker] = b;
        c->end[worker] = e;
        c->calls[worker]++;
        c->thread[worker] = pthread_self();
    }
    atomic_fetch_add(&c->ncalls, 1);
}

typedef struct {
    pthread_t outer;
    int calls;
    bool right;
} inner_ctx;

static void inner_fn(void *ctx, size_t b, size_t e, int worker)
{
    inner_ctx *c = ctx;
    c->calls++;
    c->right = b == 0 && e == 100 && worker == 0 && pthread_equal(c->outer, pthread_self());
}

static void nested_fn(void *ctx, size_t b, size_t e, int worker)
{
    pf_ctx *c = ctx;
    inner_ctx in = {.outer = pthread_self()};
    rill_parallel_for(100, 1, inner_fn, &in);
    if (in.calls != 1 || !in.right)
        c->nested_ok = false;
    pf_fn(ctx, b, e, worker);
}

static void test_parallel_for(void)
{
    static const size_t ns[] = {0, 1, 2, 3, 5, 16, 17, 100, 1000, 4097};
    static const size_t chunks[] = {0, 1, 2, 7, 64, 5000};
    rill_err err;
    for (int threads = 1; threads <= 4; threads++) {
        if (!ok(rill_pool_start(threads, &err) == RILL_OK && rill_pool_threads() == threads,
                "pool of %d thread%s started", threads, threads > 1 ? "s" : ""))
            continue;
        int bad = 0;
        char first[200] = "";
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
                size_t n = ns[a], mc = chunks[k];
                for (int rep = 0; rep < 2; rep++) {
                    pf_ctx c;
                    memset(&c, 0, sizeof c);
                    c.count = calloc(n + 1, sizeof *c.count);
                    rill_parallel_for(n, mc, pf_fn, &c);
                    /* the documented split: min(threads, n / min_chunk) contiguous ranges,
                     * the w-th with worker index w (whichever thread ran it) */
                    size_t m = mc ? mc : 1;
                    int parts = n == 0 ? 0
                                       : (int)(n / m < (size_t)threads ? (n / m ? n / m : 1)
                                                                       : (size_t)threads);
                    bool right = atomic_load(&c.ncalls) == parts;
                    for (size_t i = 0; i < n; i++)
                        right &= atomic_load(&c.count[i]) == 1;
                    size_t at = 0;
                    for (int w = 0; w < parts; w++) {
                        right &= c.calls[w] == 1 && c.begin[w] == at && c.end[w] > at;
                        right &= parts == 1 || c.end[w] - c.begin[w] >= m;
                        at = c.end[w];
                    }
                    right &= at == n;
                    if (!right && bad++ == 0)
                        snprintf(first, sizeof first, "n %zu, min_chunk %zu: %d calls for %d parts",
                                 n, mc, atomic_load(&c.ncalls), parts);
                    free(c.count);
                }
            }
        if (!ok(bad == 0,
                "%d thread%s: every index exactly once, in min(threads, n / min_chunk) "
                "contiguous ranges, each with its place as its worker index",
                threads, threads > 1 ? "s" : ""))
            diag("%d cases wrong; first: %s", bad, first);

        /* a parallel_for inside a job runs serially, on the calling thread */
        pf_ctx c;
        memset(&c, 0, sizeof c);
        c.count = calloc(1000, sizeof *c.count);
        c.nested_ok = true;
        rill_parallel_for(1000, 1, nested_fn, &c);
        bool all = true;
        for (int i = 0; i < 1000; i++)
            all &= atomic_load(&c.count[i]) == 1;
        ok(c.nested_ok && all,
           "%d thread%s: a nested parallel_for runs whole on its caller's thread", threads,
           threads > 1 ? "s" : "");
        free(c.count);
    }
    ok(rill_pool_start(65, &err) != RILL_OK && has(err.msg, "at most 64"),
       "a pool of 65 threads is refused: %s", err.msg);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ok(rill_pool_start(0, &err) == RILL_OK && rill_pool_threads() == (cores > 64 ? 64 : cores),
       "threads = 0: one per core (%d)", rill_pool_threads());
    rill_pool_start(1, &err);
    ok(rill_pool_threads() == 1, "back to one thread");
}

/* ---- the arena ---- */

static int count_chunks(const rill_arena *a)
{
    int n = 0;
    for (const rill_arena_chunk *c = a->first; c; c = c->next)
        n++;
    return n;
}

static void test_arena(void)
{
    static const size_t sizes[] = {1, 63, 64, 65, 100, 3000, 5000, 100000, 10, 4000, 1};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    rill_arena a;
    rill_arena_init(&a, 4096);
    unsigned char *p[NS], *q[NS];
    bool aligned = true;
    size_t sum = 0;
    for (int i = 0; i < NS; i++) {
        p[i] = rill_arena_alloc(&a, sizes[i]);
        aligned &= p[i] != NULL && (uintptr_t)p[i] % 64 == 0;
        if (p[i])
            memset(p[i], i + 1, sizes[i]);
        sum += RILL_ALIGN(sizes[i], 64);
    }
    ok(aligned, "arena: every block is 64-byte aligned, sizes 1 to 100000 with 4096-byte chunks");
    bool intact = true;
    for (int i = 0; i < NS; i++)
        for (size_t k = 0; p[i] && k < sizes[i]; k++)
            intact &= p[i][k] == (unsigned char)(i + 1);
    ok(intact, "arena: blocks do not overlap (each keeps its own pattern)");
    ok(a.used == sum && a.peak == sum,
       "arena: used and peak count the aligned bytes (%zu, %zu; %zu)", a.used, a.peak, sum);
    int chunks = count_chunks(&a);
    rill_arena_reset(&a);
    ok(a.used == 0 && a.peak == sum, "reset: used back to 0, peak kept");
    bool same = true;
    for (int i = 0; i < NS; i++) {
        q[i] = rill_arena_alloc(&a, sizes[i]);
        same &= q[i] == p[i];
    }
    ok(same && count_chunks(&a) == chunks,
       "reset: the same requests get the same blocks, and no new chunk (%d chunks)", chunks);
    rill_arena_reset(&a);
    unsigned char *z = rill_arena_zalloc(&a, 5000);
    bool zero = z != NULL;
    for (size_t k = 0; z && k < 5000; k++)
        zero &= z[k] == 0;
    ok(zero, "zalloc after reuse: zeroed");
    unsigned char *big = rill_arena_alloc(&a, (size_t)1 << 22);
    bool big_ok = big && (uintptr_t)big % 64 == 0;
    if (big) {
        memset(big, 7, (size_t)1 << 22);
        big_ok &= big[0] == 7 && big[((size_t)1 << 22) - 1] == 7;
    }
    ok(big_ok && z[4999] == 0, "a 4 MiB block, a thousand chunks big: aligned and writable");
    ok(rill_arena_alloc(&a, SIZE_MAX / 2 + 1) == NULL, "an impossible size gives NULL");
    unsigned char *after = rill_arena_alloc(&a, 100);
    ok(after && (uintptr_t)after % 64 == 0 && after != big, "and the arena goes on");
    unsigned char *zero_size = rill_arena_alloc(&a, 0);
    unsigned char *next = rill_arena_alloc(&a, 1);
    ok(zero_size && next && zero_size != next, "a zero-byte request gets a block of its own");
    rill_arena_free(&a);
    ok(a.first == NULL && a.used == 0, "free: nothing left");
}

/* ---- argument getters ---- */

static rill_args args_of(const char *text)
{
    rill_args a;
    memset(&a, 0, sizeof a);
    a.map = gt_args(text);
    snprintf(a.who, sizeof a.who, "node 'emb' (embed) at p.lua:3");
    return a;
}

static void free_args(rill_args *a)
{
    rill_value_free(a->map);
    free(a->map);
}

static void test_args(void)
{
    rill_err err = {0};
    rill_args a = args_of("dim=16,name='x',flag=true,ratio=0.5,sizes={4,3},names={'a','b'},"
                          "mixed={4,'a'},opt={kind='adam',lr=0.1}");
    long l;
    double d;
    bool b;
    const char *s;
    int e, rc;

    ok(!rill_args_int(&a, "dim", 8, 1, 64, &l, &err) && l == 16, "int: dim = 16");
    ok(!rill_args_int(&a, "absent", 8, 1, 64, &l, &err) && l == 8,
       "int: an absent key gives the default");
    rc = rill_args_int(&a, "name", 8, 1, 64, &l, &err);
    ok(rc == RILL_EINVAL &&
           has(err.msg, "node 'emb' (embed) at p.lua:3: argument 'name' must be an "
                        "integer, got string \"x\""),
       "int of a string: %s", err.msg);
    rc = rill_args_int(&a, "ratio", 8, 1, 64, &l, &err);
    ok(rc && has(err.msg, "'ratio' must be an integer, got number 0.5"), "int of 0.5: %s", err.msg);
    rc = rill_args_int(&a, "dim", 8, 1, 8, &l, &err);
    ok(rc && has(err.msg, "p.lua:3: argument 'dim' = 16 is out of range [1, 8]"),
       "int out of range: %s", err.msg);
    ok(!rill_args_num(&a, "ratio", 0, 0, 1, &d, &err) && d == 0.5, "num: ratio = 0.5");
    rc = rill_args_num(&a, "flag", 0, 0, 1, &d, &err);
    ok(rc && has(err.msg, "'flag' must be a number, got boolean true"), "num of a boolean: %s",
       err.msg);
    rc = rill_args_num(&a, "ratio", 0, 0.75, 1, &d, &err);
    ok(rc && has(err.msg, "'ratio' = 0.5 is out of range [0.75, 1]"), "num out of range: %s",
       err.msg);
    ok(!rill_args_bool(&a, "flag", false, &b, &err) && b, "bool: flag = true");
    rc = rill_args_bool(&a, "dim", false, &b, &err);
    ok(rc && has(err.msg, "'dim' must be true or false, got number 16"), "bool of a number: %s",
       err.msg);
    ok(!rill_args_str(&a, "name", NULL, &s, &err) && !strcmp(s, "x"), "str: name = 'x'");
    rc = rill_args_str(&a, "sizes", NULL, &s, &err);
    ok(rc && has(err.msg, "'sizes' must be a string, got list {4,3}"), "str of a list: %s",
       err.msg);
    static const char *const xy[] = {"y", "x", NULL};
    ok(!rill_args_enum(&a, "name", xy, 0, &e, &err) && e == 1, "enum: 'x' is choice 1");
    rc = rill_args_enum(&a, "flag", xy, 0, &e, &err);
    ok(rc && has(err.msg, "'flag' must be one of \"y\", \"x\", got boolean true"),
       "enum of a boolean: %s", err.msg);
    rc = rill_args_enum(&a, "mode", xy, -1, &e, &err);
    ok(rc && has(err.msg, "argument 'mode' is required (one of \"y\", \"x\")"),
       "a required enum: %s", err.msg);

    long *li;
    int n;
    ok(!rill_args_int_list(&a, "sizes", 1, 100, &li, &n, &err) && n == 2 && li[0] == 4 &&
           li[1] == 3,
       "int list: {4, 3}");
    free(li);
    ok(!rill_args_int_list(&a, "dim", 1, 100, &li, &n, &err) && n == 1 && li[0] == 16,
       "int list: a single number is a list of one");
    free(li);
    ok(!rill_args_int_list(&a, "absent", 1, 100, &li, &n, &err) && n == 0 && li == NULL,
       "int list: absent gives none");
    rc = rill_args_int_list(&a, "mixed", 1, 100, &li, &n, &err);
    ok(rc && li == NULL &&
           has(err.msg, "'mixed' must be an integer in [1, 100] or a list of them, got list"),
       "int list with a string: %s", err.msg);
    rc = rill_args_int_list(&a, "sizes", 1, 3, &li, &n, &err);
    ok(rc && has(err.msg, "'sizes' must be an integer in [1, 3]"), "int list out of range: %s",
       err.msg);
    const char **sl;
    ok(!rill_args_str_list(&a, "names", &sl, &n, &err) && n == 2 && !strcmp(sl[1], "b"),
       "str list: {'a', 'b'}");
    free(sl);
    ok(!rill_args_str_list(&a, "name", &sl, &n, &err) && n == 1 && !strcmp(sl[0], "x"),
       "str list: a single string is a list of one");
    free(sl);
    rc = rill_args_str_list(&a, "mixed", &sl, &n, &err);
    ok(rc && has(err.msg, "'mixed' must be a string or a list of strings"),
       "str list with a number: %s", err.msg);

    rill_args sub;
    bool present;
    ok(!rill_args_sub(&a, "opt", &sub, &present, &err) && present &&
           has(sub.who, "node 'emb' (embed) at p.lua:3, argument 'opt'") &&
           !rill_args_str(&sub, "kind", NULL, &s, &err) && !strcmp(s, "adam"),
       "sub: a nested table, its owner named after the key (%s)", sub.who);
    rc = rill_args_sub(&a, "dim", &sub, &present, &err);
    ok(rc && has(err.msg, "'dim' must be a table of settings"), "sub of a number: %s", err.msg);
    ok(!rill_args_sub(&a, "absent", &sub, &present, &err) && !present, "sub: absent");
    free_args(&a);

    /* unknown keys: named, with the keys the reader asked for */
    a = args_of("dim=4,dimm=16");
    rill_args_int(&a, "dim", 0, 0, 100, &l, &err);
    rill_args_str(&a, "pooling", "sum", &s, &err);
    rc = rill_args_check_unused(&a, &err);
    ok(rc == RILL_EINVAL && has(err.msg, "node 'emb' (embed) at p.lua:3: unknown argument 'dimm' "
                                         "(known: dim, pooling)"),
       "check_unused: %s", err.msg);
    free_args(&a);
    a = args_of("dim=4");
    ok(!rill_args_int(&a, "dim", 0, 0, 100, &l, &err) && !rill_args_check_unused(&a, &err),
       "check_unused: every key read, no error");
    free_args(&a);
    a = args_of("x=1");
    rc = rill_args_check_unused(&a, &err);
    ok(rc && has(err.msg, "unknown argument 'x' (known: none)"), "check_unused, nothing asked: %s",
       err.msg);
    free_args(&a);
    rill_args none = {.map = NULL};
    ok(!rill_args_int(&none, "dim", 5, 0, 9, &l, &err) && l == 5 &&
           !rill_args_check_unused(&none, &err),
       "no map: defaults, nothing unknown");

    char buf[128];
    a = args_of("zeta=1,alpha='s',mid={2,true}");
    rill_value_format(a.map, buf, sizeof buf);
    ok(!strcmp(buf, "{alpha=\"s\",mid={2,true},zeta=1}"), "format: keys sorted (%s)", buf);
    ok(rill_value_format(a.map, buf, 4) == strlen("{alpha=\"s\",mid={2,true},zeta=1}") + 1 &&
           strlen(buf) == 3,
       "format: a short buffer holds a cut, the size needed comes back");
    free_args(&a);
}

/* ---- rill_optim_parse ---- */

static int parse_optim(const char *text, bool sparse, rill_optim *o, rill_err *err)
{
    rill_args a = args_of(text);
    snprintf(a.who, sizeof a.who, "rill.train at p.lua:9, argument 'optim'");
    int rc = rill_optim_parse(&a, sparse, o, err);
    free_args(&a);
    return rc;
}

static void test_optim(void)
{
    rill_optim o;
    rill_err err = {0};
    ok(!parse_optim("kind='adam'", false, &o, &err) && o.kind == RILL_OPT_ADAM && o.lr == 1e-3 &&
           o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8,
       "adam: lr 1e-3, betas 0.9 and 0.999, eps 1e-8 by default");
    ok(!parse_optim("kind='adamw',lr=0.01", false, &o, &err) && o.kind == RILL_OPT_ADAMW &&
           o.lr == 0.01 && o.weight_decay == 0.01,
       "adamw: weight decay 0.01 by default, lr as given");
    ok(!parse_optim("kind='sgd',lr=0.5", false, &o, &err) && o.kind == RILL_OPT_SGD && o.lr == 0.5,
       "sgd, lr 0.5");
    ok(!parse_optim("kind='rowwise_adagrad',initial_accumulator=0.1,l2=1e-4", true, &o, &err) &&
           o.kind == RILL_OPT_ROWWISE_ADAGRAD && o.initial_acc == 0.1 && o.l2 == 1e-4,
       "rows: row-wise Adagrad with an initial accumulator and L2");
    ok(!parse_optim("kind='adagrad'", true, &o, &err) && o.kind == RILL_OPT_ADAGRAD &&
           o.eps == 1e-10,
       "rows: Adagrad, eps 1e-10 by default");
    ok(!parse_optim("kind='lazy_adam',beta1=0.8", true, &o, &err) && o.kind == RILL_OPT_LAZY_ADAM &&
           o.beta1 == 0.8,
       "rows: lazy Adam, beta1 as given");

    static const struct {
        const char *text;
        bool sparse;
        const char *needle;
    } bad[] = {
        {"lr=0.1", false, "argument 'kind' is required (one of \"sgd\", \"adam\", \"adamw\")"},
        {"kind='adagrad'", false,
         "'kind' must be one of \"sgd\", \"adam\", \"adamw\", got string \"adagrad\""},
        {"kind='adam'", true,
         "one of \"sgd\", \"adagrad\", \"rowwise_adagrad\", \"lazy_adam\", got string \"adam\""},
        {"kind=3", false, "'kind' must be one of"},
        {"kind='sgd',beta1=0.9", false, "unknown argument 'beta1' (known: kind, lr, eps)"},
        {"kind='adam',weight_decay=0.1", false, "unknown argument 'weight_decay'"},
        {"kind='sgd',l2=0.1", false, "unknown argument 'l2'"},
        {"kind='adam',lr=-1", false, "'lr' = -1 is out of range"},
        {"kind='adam',beta1=1", false, "'beta1' = 1 is out of range"},
        {"kind='adam',lr='fast'", false, "'lr' must be a number, got string \"fast\""},
        {"kind='rowwise_adagrad',initial_accumulator=-1", true,
         "'initial_accumulator' = -1 is out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse_optim(bad[i].text, bad[i].sparse, &o, &err);
        if (!ok(rc == RILL_EINVAL && has(err.msg, "rill.train at p.lua:9, argument 'optim': ") &&
                    has(err.msg, bad[i].needle),
                "%s optimizer {%s} is refused, naming the owner and '%s'",
                bad[i].sparse ? "row" : "dense", bad[i].text, bad[i].needle))
            diag("got: %s", rc ? err.msg : "(accepted)");
    }
    rill_optim k = {.kind = RILL_OPT_ADAGRAD};
    int s1 = rill_optim_row_state(&k, 8);
    k.kind = RILL_OPT_ROWWISE_ADAGRAD;
    int s2 = rill_optim_row_state(&k, 8);
    k.kind = RILL_OPT_LAZY_ADAM;
    int s3 = rill_optim_row_state(&k, 8);
    k.kind = RILL_OPT_SGD;
    int s4 = rill_optim_row_state(&k, 8);
    ok(s1 == 8 && s2 == 1 && s3 == 16 && s4 == 0,
       "row state of dim 8: Adagrad 8, row-wise 1, lazy Adam 16, SGD 0 (%d %d %d %d)", s1, s2, s3,
       s4);
}

/* Node arguments: an unknown one is named with the kind's list and the closest name, before
 * create runs; an argument refused for its value is the error, and the valid ones beside it
 * are never called unknown (they once were: "also unknown argument 'norm' (known: sizes)"). */
static void test_node_args(void)
{
    rill_err err;
    rill_schema s;
    rill_schema_criteo(&s, &err);
    rill_graph *g;
    rill_graph_create(&g, &s, &err);
    rill_node *c = gt_add(g, "encode_log", "counts", NULL, 0, "fields={'I1','I2'}", &err);
    struct {
        const char *kind, *args, *want, *not_want;
    } cases[] = {
        {"mlp", "sizes={0},dropout=0.1,norm='batch'", "argument 'sizes' must be", "unknown"},
        {"mlp", "sizes={4},norm='bach'", "argument 'norm' must be one of", "unknown"},
        {"mlp", "sizes={4},last_activaton=false",
         "unknown argument 'last_activaton' (mlp: sizes, last_activation, norm, dropout); did "
         "you mean 'last_activation'?", NULL},
        {"tower", "sizes={0},dropout=0.1", "argument 'sizes' must be", "unknown"},
        {"tower", "sizes={4},colour='red'", "unknown argument 'colour' (tower: sizes, norm, dropout)",
         "did you mean"},
        {"encode_mnse", "bases={0},dim=4", "argument 'bases'", "unknown"},
        {"relu", "scale=2", "unknown argument 'scale' (relu: it takes none)", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err.msg[0] = 0;
        rill_node *n = c ? gt_add(g, cases[i].kind, NULL, &c, 1, cases[i].args, &err) : NULL;
        ok(!n && strstr(err.msg, cases[i].want) &&
               !(cases[i].not_want && strstr(err.msg, cases[i].not_want)),
           "%s{%s}: %s", cases[i].kind, cases[i].args, err.msg);
    }
    rill_graph_free(g);
    rill_schema_free(&s);
}

/* rill_mkdir_p: makes every missing level, accepts directories already there, and refuses a
 * file standing where a directory should be (naming it) */
static void test_mkdir_p(void)
{
    char a[600], deep[700], file[700], below[800];
    rill_err err = {0};
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(deep, sizeof deep, "%s/b/c", a);
    snprintf(file, sizeof file, "%s/f", a);
    snprintf(below, sizeof below, "%s/g", file);
    struct stat st;
    ok(rill_mkdir_p(deep, &err) == RILL_OK && stat(deep, &st) == 0 && S_ISDIR(st.st_mode) &&
           rill_mkdir_p(deep, &err) == RILL_OK,
       "mkdir_p makes a/b/c, and again is no error");
    FILE *f = fopen(file, "w");
    ok(f && fclose(f) == 0, "a plain file a/f");
    ok(rill_mkdir_p(file, &err) == RILL_EIO && strstr(err.msg, "a file of that name is in the way"),
       "mkdir_p on a file is refused: %s", err.msg);
    ok(rill_mkdir_p(below, &err) == RILL_EIO && strstr(err.msg, "/a/f: a file of that name"),
       "and so is a directory below it: %s", err.msg);
    unlink(file);
    rmdir(deep);
    snprintf(deep, sizeof deep, "%s/b", a);
    rmdir(deep);
    rmdir(a);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/rill-core-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    test_sgemm();
    test_parallel_for();
    test_arena();
    test_args();
    test_node_args();
    test_optim();
    test_mkdir_p();
    if (rmdir(tmpdir) != 0)
        ok(0, "%s is left empty and removed", tmpdir);
    return done_testing();
}
