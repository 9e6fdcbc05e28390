/* bf16 GEMMs through oneDNN (rill_gemm with RILL_BF16): the operands rounded to bfloat16,
 * multiplied with f32 accumulation into the f32 C. oneDNN picks the kernel for the CPU it runs
 * on (AMX tiles, AVX512-BF16 dot products) when the first product is made; which one it took
 * is what rill_bf16_check reports.
 *
 * Threads: the product is split over the engine's pool as rill_sgemm splits it (blocks of
 * rows of C, or of columns when C is wider than tall), each block one single-threaded oneDNN
 * call, so the result depends on the thread count only. Debian's oneDNN runs on OpenMP; each
 * calling thread sets its own OpenMP team size to 1, so no OpenMP thread is ever started and
 * nothing spins beside the pool. Each worker has its own stream and scratchpad (user-managed
 * scratchpads: the library's shared one would be raced over by concurrent calls).
 *
 * Rounding: to nearest, ties to even, NaN kept a quiet NaN; done here in plain C rather than
 * with VCVTNEPS2BF16, which also flushes subnormals to zero, so the rounding is the same on
 * every CPU. */
#include "blas.h"

#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "pool.h"
#include "util.h"

/* The OpenMP runtime oneDNN runs on (libgomp), declared here rather than by <omp.h>, which
 * only gcc ships: the fuzz targets are built with clang. */
void omp_set_num_threads(int n);

uint16_t rill_bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rill_bf16_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- what the CPU has ---- */

static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

void rill_cpu_bf16(bool *amx, bool *avx512_bf16)
{
    unsigned a, b, c, d;
    *amx = *avx512_bf16 = false;
    if (getenv("RILL_HIDE_BF16") && *getenv("RILL_HIDE_BF16")) /* tests: a CPU without it */
        return;
    if (__get_cpuid_max(0, NULL) < 7 || !__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1))
        return; /* no cpuid leaf 7, or no OSXSAVE (then no xgetbv either) */
    uint64_t xcr = xcr0();
    bool zmm = (xcr & 0xe6) == 0xe6;              /* SSE, AVX, opmask and ZMM state on */
    bool tiles = (xcr & 0x60000) == 0x60000;      /* XTILECFG and XTILEDATA state on */
    __cpuid_count(7, 0, a, b, c, d);
    bool avx512f = b >> 16 & 1;
    *amx = tiles && (d >> 22 & 1) && (d >> 24 & 1); /* AMX-BF16 and AMX-TILE */
    __cpuid_count(7, 1, a, b, c, d);
    *avx512_bf16 = zmm && avx512f && (a >> 5 & 1);
}

/* ---- the primitives ---- */

/* One block's product: op(A) m x K times op(B) K x n into C (row stride ldc), A and B bf16
 * at the strides given (row, column), dense. */
typedef struct {
    int m, n, K, ldc;
    int64_t as[2], bs[2];
    float alpha, beta;
    dnnl_primitive_t prim;
    size_t scratch;
    dnnl_memory_desc_t amd, bmd, cmd, smd; /* the operands', made with the primitive */
} prim_entry;

#define MAX_PRIMS 256
#define MAX_WORKERS 65

static struct {
    bool init_tried, ok;
    char why[160];
    dnnl_engine_t engine;
    dnnl_stream_t stream[MAX_WORKERS];
    void *scratch[MAX_WORKERS];
    size_t scratch_len[MAX_WORKERS];
    prim_entry prim[MAX_PRIMS];
    int nprims;
    char kernel[64]; /* the implementation oneDNN chose for the first product */
    void *a16, *b16; /* the operands in bf16 (uint16_t) */
    size_t a16_cap, b16_cap;
} bf;

static int engine_init(rill_err *err)
{
    if (!bf.init_tried) {
        bf.init_tried = true;
        dnnl_status_t st = dnnl_engine_create(&bf.engine, dnnl_cpu, 0);
        if (st != dnnl_success)
            snprintf(bf.why, sizeof bf.why, "oneDNN could not make a CPU engine (status %d)",
                     (int)st);
        bf.ok = st == dnnl_success;
    }
    if (!bf.ok)
        return rill_errf(err, RILL_EINVAL, "precision = \"bf16\": %s", bf.why);
    return RILL_OK;
}

/* The primitive of one block's shape; made in the calling thread before the blocks run. */
static prim_entry *prim_get(const prim_entry *want, rill_err *err)
{
    for (int i = 0; i < bf.nprims; i++) {
        prim_entry *p = &bf.prim[i];
        if (p->m == want->m && p->n == want->n && p->K == want->K && p->ldc == want->ldc &&
            p->as[0] == want->as[0] && p->as[1] == want->as[1] && p->bs[0] == want->bs[0] &&
            p->bs[1] == want->bs[1] && p->alpha == want->alpha && p->beta == want->beta)
            return p;
    }
    if (bf.nprims == MAX_PRIMS) { /* shapes come from a graph: this many means churn */
        for (int i = 0; i < bf.nprims; i++)
            dnnl_primitive_destroy(bf.prim[i].prim);
        bf.nprims = 0;
    }
    dnnl_dims_t ad = {want->m, want->K}, bd = {want->K, want->n}, cd = {want->m, want->n};
    dnnl_dims_t as = {want->as[0], want->as[1]}, bs = {want->bs[0], want->bs[1]};
    dnnl_dims_t cs = {want->ldc, 1};
    dnnl_memory_desc_t amd, bmd, cmd, scratch_md;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    const dnnl_memory_desc_t *smd;
    const char *impl = NULL;
    dnnl_status_t st;
    if ((st = dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_bf16, as)) ||
        (st = dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_bf16, bs)) ||
        (st = dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs)) ||
        (st = dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd)) ||
        (st = dnnl_primitive_attr_create(&attr)) ||
        (st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)))
        goto fail;
    if (want->alpha != 1.0f &&
        (st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &want->alpha)))
        goto fail;
    if (want->beta != 0.0f &&
        ((st = dnnl_post_ops_create(&po)) || (st = dnnl_post_ops_append_sum(po, want->beta)) ||
         (st = dnnl_primitive_attr_set_post_ops(attr, po))))
        goto fail;
    if ((st = dnnl_primitive_desc_create(&pd, &md, attr, bf.engine, NULL)) ||
        (st = dnnl_primitive_create(&prim, pd)))
        goto fail;
    smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        impl = NULL;
    if (!bf.kernel[0] && impl)
        snprintf(bf.kernel, sizeof bf.kernel, "%s", impl);
    if (getenv("RILL_GEMM_DETAIL"))
        fprintf(stderr, "bf16 block %d x %d x %d, strides A %ld,%ld B %ld,%ld: %s\n", want->m,
                want->n, want->K, (long)as[0], (long)as[1], (long)bs[0], (long)bs[1],
                impl ? impl : "?");
    size_t scratch = smd ? dnnl_memory_desc_get_size(smd) : 0;
    dnnl_dims_t sd = {(dnnl_dim_t)(scratch ? scratch : 1)};
    if ((st = dnnl_memory_desc_init_by_tag(&scratch_md, 1, sd, dnnl_u8, dnnl_a))) {
        dnnl_primitive_destroy(prim);
        goto fail;
    }
    prim_entry *p = &bf.prim[bf.nprims++];
    *p = *want;
    p->prim = prim;
    p->scratch = scratch;
    p->amd = amd, p->bmd = bmd, p->cmd = cmd, p->smd = scratch_md;
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return p;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    rill_errf(err, RILL_EINVAL,
              "precision = \"bf16\": oneDNN has no bf16 matmul for %d x %d x %d (status %d)",
              want->m, want->n, want->K, (int)st);
    return NULL;
}

/* ---- the operands ---- */

/* A rows x cols f32 matrix (row stride ld) into dense bf16: as it is (dst rows x cols), or
 * transposed (dst cols x rows), in tasks of TILE rows (as is) or TILE source columns
 * (transposed: tiles of TILE x TILE, so both sides are read and written a cache line at a
 * time). */
#define TILE 32

typedef struct {
    const float *src;
    int rows, cols, ld;
    bool transpose;
    uint16_t *dst;
} convert_part;

/* n floats into bf16, rounded as rill_bf16_round does. The AVX-512 form is what runs on every
 * CPU bf16 is allowed on (those with AMX or AVX512-BF16 all have AVX-512BW); it computes the
 * same rounding in integer lanes, so both give the same bits. */
__attribute__((target("avx512f,avx512bw"))) static void round_row_avx512(uint16_t *d,
                                                                        const float *s, int n)
{
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    int c = 0;
    for (; c + 16 <= n; c += 16) {
        __m512i u = _mm512_loadu_si512((const void *)(s + c));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, lsb)), 16);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), quiet);
        _mm256_storeu_si256((void *)(d + c), _mm512_cvtepi32_epi16(r));
    }
    for (; c < n; c++)
        d[c] = rill_bf16_round(s[c]);
}

static bool have_avx512bw(void)
{
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx512bw") ? 1 : 0;
    return have == 1;
}

void rill_bf16_round_row(uint16_t *d, const float *s, int n)
{
    if (have_avx512bw()) {
        round_row_avx512(d, s, n);
        return;
    }
    for (int c = 0; c < n; c++)
        d[c] = rill_bf16_round(s[c]);
}

static size_t part_tasks(const convert_part *p)
{
    return (size_t)((p->transpose ? p->cols : p->rows) + TILE - 1) / TILE;
}

static void convert_task(const convert_part *p, size_t t)
{
    if (!p->transpose) {
        int r1 = (int)(t + 1) * TILE < p->rows ? (int)(t + 1) * TILE : p->rows;
        for (int r = (int)t * TILE; r < r1; r++) {
            rill_bf16_round_row(p->dst + (size_t)r * p->cols, p->src + (size_t)r * p->ld, p->cols);
        }
        return;
    }
    /* a column strip: each TILE x TILE tile rounded row by row into tmp, then written out
     * transposed from there (L1-resident) */
    int c0 = (int)t * TILE, c1 = c0 + TILE < p->cols ? c0 + TILE : p->cols, w = c1 - c0;
    uint16_t tmp[TILE][TILE];
    for (int r0 = 0; r0 < p->rows; r0 += TILE) {
        int h = r0 + TILE < p->rows ? TILE : p->rows - r0;
        for (int r = 0; r < h; r++)
            rill_bf16_round_row(tmp[r], p->src + (size_t)(r0 + r) * p->ld + c0, w);
        for (int c = 0; c < w; c++) {
            uint16_t *d = p->dst + (size_t)(c0 + c) * p->rows + r0;
            for (int r = 0; r < h; r++)
                d[r] = tmp[r][c];
        }
    }
}

typedef struct {
    convert_part part[2];
    size_t tasks0;
} convert_job;

static void convert_tasks(void *ctx, size_t t0, size_t t1, int worker)
{
    const convert_job *j = ctx;
    (void)worker;
    for (size_t t = t0; t < t1; t++)
        if (t < j->tasks0)
            convert_task(&j->part[0], t);
        else
            convert_task(&j->part[1], t - j->tasks0);
}

void rill_bf16_round_rows(uint16_t *dst, const float *src, int rows, int cols, int ld)
{
    convert_job cj = {{{src, rows, cols, ld, false, dst}}, 0};
    cj.tasks0 = part_tasks(&cj.part[0]);
    rill_parallel_for(cj.tasks0, 1, convert_tasks, &cj);
}

/* *buf grown to at least n bytes (*cap: its size); NULL when memory runs out (*buf kept) */
static void *grow(void **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        void *p = realloc(*buf, n);
        if (!p)
            return NULL;
        *buf = p;
        *cap = n;
    }
    return *buf;
}

/* ---- the product ---- */

/* How a product is split over the pool's threads: by rows of C, by columns of C, or by K
 * (each thread multiplies a slice of the inner dimension into a C of its own, summed into C
 * after, in block order). */
enum { SPLIT_ROWS, SPLIT_COLS, SPLIT_K };

typedef struct {
    int split, nblocks;
    int lo[MAX_WORKERS + 1]; /* block b covers [lo[b], lo[b+1]) of M, N or K */
    prim_entry *prim[MAX_WORKERS];
    bool a_rowmajor, b_nk;   /* the layouts A and B were converted into */
    int M, N, ldc;
    const uint16_t *A, *B;   /* the bf16 operands: the caller's copies or the converted ones */
    float *C, *partial;      /* SPLIT_K: blocks 1.. write M x N partials here */
    int status; /* the first failing dnnl status, else 0 (written only on failure) */
} block_job;

static void run_blocks(void *ctx, size_t b0, size_t b1, int worker)
{
    block_job *j = ctx;
    omp_set_num_threads(1);
    for (size_t b = b0; b < b1; b++) {
        const prim_entry *p = j->prim[b];
        size_t lo = (size_t)j->lo[b], K = (size_t)p->K;
        const uint16_t *A = j->A, *B = j->B;
        float *C = j->C;
        /* each block's operands are dense: row blocks of a row-major A, column blocks of a
         * B stored N x K, K slices of A stored K x M and B stored K x N */
        if (j->split == SPLIT_ROWS) {
            A += lo * K;
            C += lo * (size_t)j->ldc;
        } else if (j->split == SPLIT_COLS) {
            B += lo * K;
            C += lo;
        } else {
            A += lo * (size_t)j->M;
            B += lo * (size_t)j->N;
            if (b > 0)
                C = j->partial + (b - 1) * (size_t)j->M * j->N;
        }
        dnnl_memory_t am = NULL, bm = NULL, cm = NULL, sm = NULL;
        void *scratch = grow(&bf.scratch[worker], &bf.scratch_len[worker],
                             p->scratch ? p->scratch : 1);
        dnnl_status_t st = scratch ? dnnl_success : dnnl_out_of_memory;
        if (!st)
            st = dnnl_memory_create(&am, &p->amd, bf.engine, (void *)A);
        if (!st)
            st = dnnl_memory_create(&bm, &p->bmd, bf.engine, (void *)B);
        if (!st)
            st = dnnl_memory_create(&cm, &p->cmd, bf.engine, C);
        if (!st)
            st = dnnl_memory_create(&sm, &p->smd, bf.engine, scratch);
        if (!st && !bf.stream[worker])
            st = dnnl_stream_create(&bf.stream[worker], bf.engine, dnnl_stream_default_flags);
        if (!st) {
            dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, am},
                                      {DNNL_ARG_WEIGHTS, bm},
                                      {DNNL_ARG_DST, cm},
                                      {DNNL_ARG_SCRATCHPAD, sm}};
            st = dnnl_primitive_execute(p->prim, bf.stream[worker], 4, args);
            if (!st)
                st = dnnl_stream_wait(bf.stream[worker]);
        }
        if (am)
            dnnl_memory_destroy(am);
        if (bm)
            dnnl_memory_destroy(bm);
        if (cm)
            dnnl_memory_destroy(cm);
        if (sm)
            dnnl_memory_destroy(sm);
        if (st)
            j->status = (int)st;
    }
}

/* SPLIT_K: C += the partials, row by row, in block order (so the sum depends on the thread
 * count only) */
static void add_partials(void *ctx, size_t r0, size_t r1, int worker)
{
    const block_job *j = ctx;
    (void)worker;
    size_t mn = (size_t)j->M * j->N;
    for (size_t r = r0; r < r1; r++) {
        float *c = j->C + r * (size_t)j->ldc;
        for (int b = 1; b < j->nblocks; b++) {
            const float *p = j->partial + (size_t)(b - 1) * mn + r * (size_t)j->N;
            for (int k = 0; k < j->N; k++)
                c[k] += p[k];
        }
    }
}

/* The split, and the layouts the operands are converted into. oneDNN's AMX kernels (brgemm)
 * take only dense operands, and A row-major or, whole, stored K x M: a block's view into a
 * wider matrix sends the product to a kernel half as fast. So row blocks take a row-major A
 * (transposed while converted when A is stored K x M), column blocks a B stored N x K; the
 * weight gradient's form (A stored K x M times B stored K x N, K the batch) is split by K,
 * which needs neither transposed. */
static void plan_blocks(block_job *j, bool ta, bool tb, int M, int N, int K)
{
    int threads = rill_pool_threads();
    if (threads > MAX_WORKERS)
        threads = MAX_WORKERS;
    if (2.0 * M * N * K < 2e5) /* not worth waking a thread for (as in rill_sgemm) */
        threads = 1;
    int span;
    if (threads == 1) {
        j->split = SPLIT_ROWS;
        span = M;
    } else if (ta && !tb && K >= 64 * threads) {
        j->split = SPLIT_K;
        span = K;
    } else if (M >= 32 * threads && (M >= N || N < 32 * threads || !ta)) {
        j->split = SPLIT_ROWS;
        span = M;
    } else if (N >= 32 * threads) {
        j->split = SPLIT_COLS;
        span = N;
    } else {
        threads = 1;
        j->split = SPLIT_ROWS;
        span = M;
    }
    int per = (span + threads - 1) / threads;
    per = (per + 31) / 32 * 32; /* whole 32-row (column, pair) panels */
    j->nblocks = 0;
    for (int lo = 0; lo < span; lo += per)
        j->lo[j->nblocks++] = lo;
    j->lo[j->nblocks] = span;
    bool one = j->nblocks == 1;
    j->a_rowmajor = !ta || (!one && j->split == SPLIT_ROWS);
    j->b_nk = one || j->split != SPLIT_COLS ? tb : true;
}

int rill_gemm_bf16(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                   const uint16_t *A16, int lda, const float *B, const uint16_t *B16, int ldb,
                   float beta, float *C, int ldc, rill_err *err)
{
    static void *partial;
    static size_t partial_cap;
    int rc = engine_init(err);
    if (rc)
        return rc;
    block_job j = {.M = M, .N = N, .ldc = ldc, .C = C};
    plan_blocks(&j, ta, tb, M, N, K);
    convert_job cj = {{{A, ta ? K : M, ta ? M : K, lda, j.a_rowmajor == ta, bf.a16},
                       {B, tb ? N : K, tb ? K : N, ldb, j.b_nk != tb, bf.b16}},
                      0};
    /* the caller's bf16 copy serves where the split reads a matrix as it is stored, dense */
    bool a_given = A16 && !cj.part[0].transpose && lda == cj.part[0].cols;
    bool b_given = B16 && !cj.part[1].transpose && ldb == cj.part[1].cols;
    if ((!a_given && !grow(&bf.a16, &bf.a16_cap, (size_t)M * K * sizeof(uint16_t))) ||
        (!b_given && !grow(&bf.b16, &bf.b16_cap, (size_t)K * N * sizeof(uint16_t))) ||
        (j.split == SPLIT_K &&
         !(j.partial = grow(&partial, &partial_cap,
                            (size_t)(j.nblocks - 1) * M * N * sizeof(float)))))
        return rill_errf(err, RILL_ENOMEM, "out of memory for a bf16 product's operands");
    cj.part[0].dst = bf.a16;
    cj.part[1].dst = bf.b16;
    j.A = a_given ? A16 : bf.a16;
    j.B = b_given ? B16 : bf.b16;
    size_t tasks0 = a_given ? 0 : part_tasks(&cj.part[0]);
    size_t tasks = tasks0 + (b_given ? 0 : part_tasks(&cj.part[1]));
    cj.tasks0 = tasks0;
    if (tasks)
        rill_parallel_for(tasks, 1, convert_tasks, &cj);

    for (int b = 0; b < j.nblocks; b++) {
        int len = j.lo[b + 1] - j.lo[b];
        prim_entry want = {.m = M, .n = N, .K = K, .ldc = ldc, .alpha = alpha, .beta = beta};
        if (j.split == SPLIT_ROWS)
            want.m = len;
        else if (j.split == SPLIT_COLS)
            want.n = len;
        else {
            want.K = len;
            if (b > 0)
                want.ldc = N, want.beta = 0.0f;
        }
        want.as[0] = j.a_rowmajor ? want.K : 1;
        want.as[1] = j.a_rowmajor ? 1 : M;
        want.bs[0] = j.b_nk ? 1 : N;
        want.bs[1] = j.b_nk ? want.K : 1;
        if (!(j.prim[b] = prim_get(&want, err)))
            return err->code;
    }
    if (j.nblocks == 1)
        run_blocks(&j, 0, 1, 0);
    else
        rill_parallel_for((size_t)j.nblocks, 1, run_blocks, &j);
    if (!j.status && j.split == SPLIT_K && j.nblocks > 1)
        rill_parallel_for((size_t)M, 16, add_partials, &j);
    if (j.status)
        return rill_errf(err, j.status == dnnl_out_of_memory ? RILL_ENOMEM : RILL_EINVAL,
                         "precision = \"bf16\": a oneDNN matmul of %d x %d x %d failed "
                         "(status %d)",
                         M, N, K, j.status);
    return RILL_OK;
}

int rill_bf16_check(const char **kernel, rill_err *err)
{
    bool amx, avx512_bf16;
    rill_cpu_bf16(&amx, &avx512_bf16);
    if (!amx && !avx512_bf16) {
        char model[128];
        rill_cpu_model(model, sizeof model);
        return rill_errf(err, RILL_EINVAL,
                         "precision = \"bf16\" needs a CPU with AMX-BF16 or AVX512-BF16; this "
                         "one (%s) has neither: use precision = \"fp32\"",
                         model);
    }
    /* one small product, to have oneDNN choose its kernel (and fail here if it cannot) */
    float a[32 * 32], c[32 * 32];
    for (int i = 0; i < 32 * 32; i++)
        a[i] = (float)(i % 7) * 0.25f;
    int rc = rill_gemm_bf16(false, false, 32, 32, 32, 1.0f, a, NULL, 32, a, NULL, 32, 0.0f,
                            c, 32, err);
    if (rc)
        return rc;
    if (kernel)
        *kernel = bf.kernel;
    return RILL_OK;
}
