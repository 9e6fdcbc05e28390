/* ref_dlrm.c: a plain, single-threaded reference DLRM trainer for Criteo-format TSV files,
 * written independently of Rill's engine (nothing from core/ or store/ is used; one file on
 * purpose, so that it stands alone and is read in one place, hence its length). It trains
 * the model of pipelines/dlrm.lua with rill.train's defaults, so that Rill's validation AUC
 * can be compared with what a straightforward implementation of the same model reaches.
 *
 *   gcc -O2 -march=native -std=c11 -Wall -Wextra -D_GNU_SOURCE tools/ref_dlrm.c \
 *       -o /tmp/ref_dlrm $(pkg-config --cflags --libs openblas) -lm
 *   /tmp/ref_dlrm --data data/bench-1000000.tsv [--seed 1] [--rows N] [--shuffle 100000]
 *   /tmp/ref_dlrm --check        (finite-difference gradient check on a tiny model)
 *
 * Add -DREF_DOUBLE to compute in double (for a tight --check; the training run uses float).
 *
 * The model (Naumov et al., 2019), with the sizes of pipelines/dlrm.lua:
 *   data     label, I1..I13 (integer counts), C1..C26 (hex values); an empty field is missing.
 *            The first 90% of the lines train, the last 10% validate (round(0.1 * lines)).
 *   counts   log(1 + max(x, 0)), missing = 0, through the bottom MLP 13-512-256-16, ReLU after
 *            every layer (the last one too).
 *   fields   each of the 26 fields hashed into its own table of 2^20 rows (splitmix64 of the
 *            value with a per-field salt, top 20 bits; a missing value hashes a per-field
 *            marker of its own), embedding dim 16, rows initialised uniform(+-0.05).
 *   interact z = [bottom output (16), dots of all pairs of the 27 vectors (bottom output,
 *            then the 26 embeddings), pairs (1,0) (2,0) (2,1) (3,0) ...] = 16 + 351 = 367.
 *   top      367-512-256-1, ReLU on the hidden layers, none on the logit.
 *   init     Linear weights Xavier-uniform (+-sqrt(6 / (in + out))), biases zero.
 *   loss     mean BCE with logits over the batch.
 *   optim    dense: Adam (torch.optim.Adam: lr 1e-3, betas 0.9/0.999, eps 1e-8);
 *            embeddings: row-wise Adagrad, lr 0.1, accumulator starting at 1e-6, per touched
 *            row: g = sum of its occurrences' gradients, acc += mean(g^2),
 *            w -= lr g / (sqrt(acc) + 1e-8). Rows not in the batch do not change.
 *   schedule one epoch, batch 2048; training rows shuffled within chunks of 100,000 rows
 *            (--shuffle 0: file order), the last batch partial.
 * Evaluation: exact AUC (tied scores count 1/2) and mean logloss on the validation rows,
 * reported twice: with embedding rows never touched in training at their initial values
 * (what a PyTorch nn.Embedding does) and read as zero (what Rill's evaluation does). */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef REF_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#define NUM 13         /* count fields */
#define CAT 26         /* categorical fields */
#define NVEC (CAT + 1) /* vectors that interact: the bottom output and the embeddings */
#define MAXL 4         /* most layers in an MLP here */

/* ------------------------------------------------------------------ small helpers */

static void die(const char *msg)
{
    fprintf(stderr, "ref_dlrm: %s\n", msg);
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory");
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64: the hash and the random number generator */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [0, n) (n small: the modulo bias is negligible) */
static uint64_t rng_below(rng_t *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* the table row of a categorical value: field salt, value, top log2_rows bits */
static uint32_t cat_row(int field, int present, uint64_t value, int log2_rows)
{
    uint64_t salt = mix64(0x5eed0000ULL + 2 * (uint64_t)field + (present ? 0 : 1));
    uint64_t h = mix64(value ^ salt);
    return (uint32_t)(h >> (64 - log2_rows));
}

/* C = A' B' (+ beta C), row-major, ' = optional transpose */
static void gemm(int ta, int tb, int M, int N, int K, const real *A, int lda, const real *B,
                 int ldb, real beta, real *C, int ldc)
{
#ifdef REF_DOUBLE
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* ------------------------------------------------------------------ configuration */

typedef struct {
    int dim;                 /* embedding width = bottom MLP output width */
    int log2_rows;           /* rows per table = 2^log2_rows */
    int nbottom, bottom[MAXL];
    int ntop, top[MAXL];     /* the last is 1 (the logit) */
    double emb_lr, emb_acc0, emb_eps, emb_init;
    double lr, beta1, beta2, eps;
    int batch;
} config;

static config dlrm_config(void)
{
    config c = {.dim = 16, .log2_rows = 20, .nbottom = 3, .bottom = {512, 256, 16}, .ntop = 3,
                .top = {512, 256, 1}, .emb_lr = 0.1, .emb_acc0 = 1e-6, .emb_eps = 1e-8,
                .emb_init = 0.05, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                .batch = 2048};
    return c;
}

/* ------------------------------------------------------------------ data */

typedef struct {
    size_t n;
    float *label;     /* n */
    float *dense;     /* n x NUM, already log(1 + max(x, 0)), missing 0 */
    uint32_t *ids;    /* n x CAT, table rows */
} dataset;

static void data_alloc(dataset *d, size_t cap)
{
    d->label = realloc(d->label, cap * sizeof *d->label);
    d->dense = realloc(d->dense, cap * NUM * sizeof *d->dense);
    d->ids = realloc(d->ids, cap * CAT * sizeof *d->ids);
    if (!d->label || !d->dense || !d->ids)
        die("out of memory reading the data");
}

/* Reads up to max_rows lines (0: all). Every line must have 40 tab-separated fields. */
static void data_load(dataset *d, const char *path, size_t max_rows, int log2_rows)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ref_dlrm: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t cap = 1 << 16, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    memset(d, 0, sizeof *d);
    data_alloc(d, cap);
    while ((max_rows == 0 || d->n < max_rows) && (len = getline(&line, &linecap, f)) > 0) {
        lineno++;
        if (line[len - 1] == '\n')
            line[--len] = 0;
        if (d->n == cap) {
            cap *= 2;
            data_alloc(d, cap);
        }
        size_t r = d->n;
        char *p = line;
        for (int col = 0; col < 1 + NUM + CAT; col++) {
            char *end = strchr(p, '\t');
            if (!end && col < NUM + CAT) {
                fprintf(stderr, "ref_dlrm: %s:%zu: only %d fields\n", path, lineno, col + 1);
                exit(1);
            }
            if (end)
                *end = 0;
            if (col == 0) {
                if (strcmp(p, "0") && strcmp(p, "1")) {
                    fprintf(stderr, "ref_dlrm: %s:%zu: label '%s'\n", path, lineno, p);
                    exit(1);
                }
                d->label[r] = p[0] == '1' ? 1.0f : 0.0f;
            } else if (col <= NUM) {
                double v = 0;
                if (*p) {
                    char *e;
                    long long x = strtoll(p, &e, 10);
                    if (*e) {
                        fprintf(stderr, "ref_dlrm: %s:%zu: count '%s'\n", path, lineno, p);
                        exit(1);
                    }
                    v = x > 0 ? log1p((double)x) : 0.0;
                }
                d->dense[r * NUM + (col - 1)] = (float)v;
            } else {
                int field = col - 1 - NUM, present = *p != 0;
                uint64_t v = 0;
                if (present) {
                    char *e;
                    errno = 0;
                    v = strtoull(p, &e, 16);
                    if (*e || errno) {
                        fprintf(stderr, "ref_dlrm: %s:%zu: value '%s'\n", path, lineno, p);
                        exit(1);
                    }
                }
                d->ids[r * CAT + field] = cat_row(field, present, v, log2_rows);
            }
            if (end)
                p = end + 1;
            else if (col < NUM + CAT)
                die("unreachable");
        }
        d->n++;
    }
    free(line);
    fclose(f);
    if (d->n == 0)
        die("no rows");
}

/* ------------------------------------------------------------------ layers */

typedef struct {
    int in, out;
    real *W, *b;     /* W: out x in (as torch.nn.Linear), b: out */
    real *gW, *gb;   /* gradients */
    real *mW, *vW, *mb, *vb; /* Adam moments */
} linear;

typedef struct {
    int n, relu_last;
    linear L[MAXL];
    real *y[MAXL];   /* layer outputs (after ReLU), maxB x out */
    real *g[2];      /* gradient buffers, maxB x widest */
} mlp;

static void linear_init(linear *l, int in, int out, rng_t *rng)
{
    l->in = in;
    l->out = out;
    size_t nw = (size_t)in * out;
    l->W = xcalloc(nw, sizeof(real));
    l->gW = xcalloc(nw, sizeof(real));
    l->mW = xcalloc(nw, sizeof(real));
    l->vW = xcalloc(nw, sizeof(real));
    l->b = xcalloc((size_t)out, sizeof(real));
    l->gb = xcalloc((size_t)out, sizeof(real));
    l->mb = xcalloc((size_t)out, sizeof(real));
    l->vb = xcalloc((size_t)out, sizeof(real));
    double bound = sqrt(6.0 / (double)(in + out));
    for (size_t i = 0; i < nw; i++)
        l->W[i] = (real)(bound * (2.0 * rng_unit(rng) - 1.0));
}

static void mlp_init(mlp *m, int in, int n, const int *sizes, int relu_last, int maxB, rng_t *rng)
{
    int widest = in;
    m->n = n;
    m->relu_last = relu_last;
    for (int i = 0; i < n; i++) {
        linear_init(&m->L[i], i ? sizes[i - 1] : in, sizes[i], rng);
        m->y[i] = xcalloc((size_t)maxB * sizes[i], sizeof(real));
        if (sizes[i] > widest)
            widest = sizes[i];
    }
    m->g[0] = xcalloc((size_t)maxB * widest, sizeof(real));
    m->g[1] = xcalloc((size_t)maxB * widest, sizeof(real));
}

static int mlp_relu(const mlp *m, int i)
{
    return i < m->n - 1 || m->relu_last;
}

/* x: B x in; the output is m->y[n - 1] */
static void mlp_forward(mlp *m, const real *x, int B)
{
    const real *in = x;
    for (int i = 0; i < m->n; i++) {
        linear *l = &m->L[i];
        real *y = m->y[i];
        gemm(0, 1, B, l->out, l->in, in, l->in, l->W, l->in, 0, y, l->out);
        for (int r = 0; r < B; r++)
            for (int o = 0; o < l->out; o++) {
                real v = y[(size_t)r * l->out + o] + l->b[o];
                if (mlp_relu(m, i) && v < 0)
                    v = 0;
                y[(size_t)r * l->out + o] = v;
            }
        in = y;
    }
}

/* dy: B x out (gradient of the loss at the output); sets every layer's gW, gb and, if dx is
 * not NULL, writes the gradient at the input x (B x in) to dx */
static void mlp_backward(mlp *m, const real *x, const real *dy, int B, real *dx)
{
    int last = m->n - 1;
    real *g = m->g[0], *g2 = m->g[1];
    memcpy(g, dy, (size_t)B * m->L[last].out * sizeof(real));
    for (int i = last; i >= 0; i--) {
        linear *l = &m->L[i];
        const real *xin = i ? m->y[i - 1] : x;
        size_t nout = (size_t)B * l->out;
        if (mlp_relu(m, i))
            for (size_t k = 0; k < nout; k++)
                if (!(m->y[i][k] > 0))
                    g[k] = 0;
        gemm(1, 0, l->out, l->in, B, g, l->out, xin, l->in, 0, l->gW, l->in);
        for (int o = 0; o < l->out; o++) {
            real s = 0;
            for (int r = 0; r < B; r++)
                s += g[(size_t)r * l->out + o];
            l->gb[o] = s;
        }
        if (i > 0)
            gemm(0, 0, B, l->in, l->out, g, l->out, l->W, l->in, 0, g2, l->in);
        else if (dx)
            gemm(0, 0, B, l->in, l->out, g, l->out, l->W, l->in, 0, dx, l->in);
        real *t = g;
        g = g2;
        g2 = t;
    }
}

/* torch.optim.Adam, step t >= 1 */
static void adam(real *w, const real *g, real *m, real *v, size_t n, const config *c, long t)
{
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    real b1 = (real)c->beta1, b2 = (real)c->beta2, step = (real)(c->lr / bc1);
    real sbc2 = (real)sqrt(bc2), eps = (real)c->eps;
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (sqrt(v[i]) / sbc2 + eps);
    }
}

static void mlp_adam(mlp *m, const config *c, long t)
{
    for (int i = 0; i < m->n; i++) {
        linear *l = &m->L[i];
        adam(l->W, l->gW, l->mW, l->vW, (size_t)l->in * l->out, c, t);
        adam(l->b, l->gb, l->mb, l->vb, (size_t)l->out, c, t);
    }
}

/* ------------------------------------------------------------------ the model */

typedef struct {
    uint32_t id, b;
} occ;

typedef struct {
    config c;
    int D, nz, maxB;
    size_t rows;
    real *emb[CAT];          /* rows x D */
    real *acc[CAT];          /* rows: row-wise Adagrad accumulators */
    unsigned char *touched[CAT];
    mlp bottom, top;
    /* step buffers */
    real *x;      /* B x NUM */
    float *y;     /* B labels */
    uint32_t *id; /* B x CAT */
    real *Z;      /* B x NVEC x D: bottom output, then the embeddings */
    real *dZ;     /* B x NVEC x D */
    real *z;      /* B x nz: the interaction output, the top MLP's input */
    real *dz;     /* B x nz */
    real *dlogit; /* B */
    real *dh;     /* B x D: gradient at the bottom output */
    occ *occs;    /* B */
    uint32_t *uniq; /* B: distinct rows of one field */
    real *ugrad;  /* B x D: their summed gradients */
} model;

static void model_init(model *M, const config *c, uint64_t seed)
{
    memset(M, 0, sizeof *M);
    M->c = *c;
    M->D = c->dim;
    M->nz = c->dim + NVEC * (NVEC - 1) / 2;
    M->maxB = c->batch;
    M->rows = (size_t)1 << c->log2_rows;
    if (c->bottom[c->nbottom - 1] != c->dim || c->top[c->ntop - 1] != 1)
        die("bad config");
    rng_t rng = {mix64(seed)};
    int D = M->D, B = M->maxB;
    /* the embedding tables, every row initialised (only touched rows will change) */
    for (int f = 0; f < CAT; f++) {
        M->emb[f] = xcalloc(M->rows * D, sizeof(real));
        M->acc[f] = xcalloc(M->rows, sizeof(real));
        M->touched[f] = xcalloc(M->rows, 1);
        for (size_t i = 0; i < M->rows * D; i++)
            M->emb[f][i] = (real)(c->emb_init * (2.0 * rng_unit(&rng) - 1.0));
        for (size_t i = 0; i < M->rows; i++)
            M->acc[f][i] = (real)c->emb_acc0;
    }
    mlp_init(&M->bottom, NUM, c->nbottom, c->bottom, 1, B, &rng);
    mlp_init(&M->top, M->nz, c->ntop, c->top, 0, B, &rng);
    M->x = xcalloc((size_t)B * NUM, sizeof(real));
    M->y = xcalloc((size_t)B, sizeof(float));
    M->id = xcalloc((size_t)B * CAT, sizeof(uint32_t));
    M->Z = xcalloc((size_t)B * NVEC * D, sizeof(real));
    M->dZ = xcalloc((size_t)B * NVEC * D, sizeof(real));
    M->z = xcalloc((size_t)B * M->nz, sizeof(real));
    M->dz = xcalloc((size_t)B * M->nz, sizeof(real));
    M->dlogit = xcalloc((size_t)B, sizeof(real));
    M->dh = xcalloc((size_t)B * D, sizeof(real));
    M->occs = xcalloc((size_t)B, sizeof(occ));
    M->uniq = xcalloc((size_t)B, sizeof(uint32_t));
    M->ugrad = xcalloc((size_t)B * D, sizeof(real));
}

/* copies the batch's rows in: idx[0..B) are row numbers of d */
static void model_gather(model *M, const dataset *d, const size_t *idx, int B)
{
    for (int b = 0; b < B; b++) {
        size_t r = idx[b];
        M->y[b] = d->label[r];
        for (int k = 0; k < NUM; k++)
            M->x[b * NUM + k] = (real)d->dense[r * NUM + k];
        for (int f = 0; f < CAT; f++)
            M->id[b * CAT + f] = d->ids[r * CAT + f];
    }
}

/* forward to the logits (the top MLP's output, B x 1). zero_unseen: rows never touched in
 * training read as zero. */
static const real *model_forward(model *M, int B, int zero_unseen)
{
    int D = M->D, nz = M->nz;
    mlp_forward(&M->bottom, M->x, B);
    const real *h = M->bottom.y[M->bottom.n - 1];
    for (int b = 0; b < B; b++) {
        real *Zb = M->Z + (size_t)b * NVEC * D;
        memcpy(Zb, h + (size_t)b * D, D * sizeof(real));
        for (int f = 0; f < CAT; f++) {
            uint32_t id = M->id[b * CAT + f];
            if (zero_unseen && !M->touched[f][id])
                memset(Zb + (1 + f) * D, 0, D * sizeof(real));
            else
                memcpy(Zb + (1 + f) * D, M->emb[f] + (size_t)id * D, D * sizeof(real));
        }
        real *zb = M->z + (size_t)b * nz;
        memcpy(zb, Zb, D * sizeof(real));
        int c = D;
        for (int i = 1; i < NVEC; i++)
            for (int j = 0; j < i; j++) {
                real s = 0;
                for (int k = 0; k < D; k++)
                    s += Zb[i * D + k] * Zb[j * D + k];
                zb[c++] = s;
            }
    }
    mlp_forward(&M->top, M->z, B);
    return M->top.y[M->top.n - 1];
}

/* mean BCE with logits over the batch; sets dlogit = d(loss)/d(logit) */
static double model_loss(model *M, const real *logit, int B)
{
    double sum = 0;
    for (int b = 0; b < B; b++) {
        double z = logit[b], y = M->y[b];
        sum += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
        double p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        M->dlogit[b] = (real)((p - y) / B);
    }
    return sum / B;
}

static int occ_cmp(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->b > y->b) - (x->b < y->b);
}

/* the distinct rows of field f in the batch and their summed gradients (from dZ) */
static int field_row_grads(model *M, int f, int B)
{
    int D = M->D, nu = 0;
    for (int b = 0; b < B; b++) {
        M->occs[b].id = M->id[b * CAT + f];
        M->occs[b].b = (uint32_t)b;
    }
    qsort(M->occs, (size_t)B, sizeof(occ), occ_cmp);
    for (int k = 0; k < B; k++) {
        if (k == 0 || M->occs[k].id != M->occs[k - 1].id) {
            M->uniq[nu] = M->occs[k].id;
            memset(M->ugrad + (size_t)nu * D, 0, D * sizeof(real));
            nu++;
        }
        real *g = M->ugrad + (size_t)(nu - 1) * D;
        const real *src = M->dZ + ((size_t)M->occs[k].b * NVEC + 1 + f) * D;
        for (int i = 0; i < D; i++)
            g[i] += src[i];
    }
    return nu;
}

/* backward from dlogit: dense gradients into the layers, embedding gradients into dZ */
static void model_backward(model *M, int B)
{
    int D = M->D, nz = M->nz;
    mlp_backward(&M->top, M->z, M->dlogit, B, M->dz);
    memset(M->dZ, 0, (size_t)B * NVEC * D * sizeof(real));
    for (int b = 0; b < B; b++) {
        const real *Zb = M->Z + (size_t)b * NVEC * D, *dzb = M->dz + (size_t)b * nz;
        real *dZb = M->dZ + (size_t)b * NVEC * D;
        for (int k = 0; k < D; k++)
            dZb[k] += dzb[k]; /* the bottom output passed through */
        int c = D;
        for (int i = 1; i < NVEC; i++)
            for (int j = 0; j < i; j++) {
                real g = dzb[c++];
                for (int k = 0; k < D; k++) {
                    dZb[i * D + k] += g * Zb[j * D + k];
                    dZb[j * D + k] += g * Zb[i * D + k];
                }
            }
        memcpy(M->dh + (size_t)b * D, dZb, D * sizeof(real));
    }
    mlp_backward(&M->bottom, M->x, M->dh, B, NULL);
}

/* one training step on the gathered batch; returns the batch loss */
static double model_step(model *M, int B, long t)
{
    const config *c = &M->c;
    const real *logit = model_forward(M, B, 0);
    double loss = model_loss(M, logit, B);
    model_backward(M, B);
    mlp_adam(&M->top, c, t);
    mlp_adam(&M->bottom, c, t);
    int D = M->D;
    for (int f = 0; f < CAT; f++) {
        int nu = field_row_grads(M, f, B);
        for (int u = 0; u < nu; u++) {
            uint32_t id = M->uniq[u];
            const real *g = M->ugrad + (size_t)u * D;
            real *w = M->emb[f] + (size_t)id * D;
            double sq = 0;
            for (int k = 0; k < D; k++)
                sq += (double)g[k] * g[k];
            M->acc[f][id] += (real)(sq / D);
            real s = (real)(c->emb_lr / (sqrt((double)M->acc[f][id]) + c->emb_eps));
            for (int k = 0; k < D; k++)
                w[k] -= s * g[k];
            M->touched[f][id] = 1;
        }
    }
    return loss;
}

/* ------------------------------------------------------------------ metrics */

typedef struct {
    double s;
    float y;
} scored;

static int scored_cmp(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* exact AUC, ties count 1/2 (average ranks) */
static double auc(scored *v, size_t n)
{
    qsort(v, n, sizeof *v, scored_cmp);
    double pos = 0, rank_sum = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        double p = 0;
        while (j < n && v[j].s == v[i].s) {
            p += v[j].y;
            j++;
        }
        double avg_rank = 0.5 * ((double)(i + 1) + (double)j); /* ranks i+1 .. j */
        rank_sum += p * avg_rank;
        pos += p;
        i = j;
    }
    double neg = (double)n - pos;
    if (pos == 0 || neg == 0)
        return NAN;
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

static void evaluate(model *M, const dataset *d, size_t first, size_t n, int zero_unseen,
                     double *out_auc, double *out_logloss)
{
    scored *v = xcalloc(n, sizeof *v);
    size_t *idx = xcalloc((size_t)M->maxB, sizeof *idx);
    double ll = 0;
    for (size_t s = 0; s < n; s += (size_t)M->maxB) {
        int B = (int)(n - s < (size_t)M->maxB ? n - s : (size_t)M->maxB);
        for (int b = 0; b < B; b++)
            idx[b] = first + s + (size_t)b;
        model_gather(M, d, idx, B);
        const real *logit = model_forward(M, B, zero_unseen);
        for (int b = 0; b < B; b++) {
            double z = logit[b], y = M->y[b];
            ll += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
            v[s + (size_t)b].s = z;
            v[s + (size_t)b].y = M->y[b];
        }
    }
    *out_logloss = ll / (double)n;
    *out_auc = auc(v, n);
    free(v);
    free(idx);
}

/* ------------------------------------------------------------------ gradient check */

static double check_loss(model *M, int B)
{
    const real *logit = model_forward(M, B, 0);
    return model_loss(M, logit, B);
}

/* |a - n| / (|a| + |n|), with the denominator at least `floor` so that gradients near 0
 * (where the finite difference is all rounding) do not count as failures */
static double check_floor;

static double rel_err(double a, double n)
{
    double s = fabs(a) + fabs(n);
    return fabs(a - n) / (s > check_floor ? s : check_floor);
}

/* compares one parameter's analytic gradient with a central difference; returns the
 * relative error and counts the comparison */
static double fd_one(model *M, int B, real *w, double analytic, double h)
{
    real keep = *w;
    *w = (real)(keep + h);
    double lp = check_loss(M, B);
    *w = (real)(keep - h);
    double lm = check_loss(M, B);
    *w = keep;
    double numeric = (lp - lm) / (2 * h);
    return rel_err(analytic, numeric);
}

/* Long on purpose: the finite-difference check of every parameter kind of the reference,
 * one after another. */
static int run_check(void)
{
    config c = dlrm_config();
    c.dim = 4;
    c.log2_rows = 2; /* 4 rows per field: rows repeat within the batch */
    c.nbottom = 3;
    c.bottom[0] = 9, c.bottom[1] = 7, c.bottom[2] = 4;
    c.ntop = 3;
    c.top[0] = 10, c.top[1] = 6, c.top[2] = 1;
    c.emb_init = 0.7; /* large enough for the dot products to matter */
    c.batch = 12;
    int B = c.batch;
    model M;
    model_init(&M, &c, 7);
    /* the bottom MLP's last ReLU kills many units at this size; bias them positive */
    for (int o = 0; o < c.dim; o++)
        M.bottom.L[2].b[o] = (real)0.3;
    rng_t rng = {99};
    for (int b = 0; b < B; b++) {
        M.y[b] = (float)(rng_next(&rng) & 1);
        for (int k = 0; k < NUM; k++) {
            long long x = (long long)rng_below(&rng, 300) - 20;
            M.x[b * NUM + k] = (real)(x > 0 ? log1p((double)x) : 0.0);
        }
        for (int f = 0; f < CAT; f++)
            M.id[b * CAT + f] = (uint32_t)rng_below(&rng, M.rows);
    }
    /* analytic gradients */
    const real *logit = model_forward(&M, B, 0);
    double loss = model_loss(&M, logit, B);
    model_backward(&M, B);
    double h = sizeof(real) == 8 ? 1e-6 : 1e-3;
    double tol = sizeof(real) == 8 ? 1e-5 : 2e-2;
    check_floor = sizeof(real) == 8 ? 1e-4 : 1e-2;
    printf("check: %s, batch %d, loss %.6f, step %g, tolerance %g relative (denominator at "
           "least %g)\n", sizeof(real) == 8 ? "double" : "float", B, loss, h, tol, check_floor);
    int bad = 0;
    /* dense parameters: every weight and bias (fd_one reruns only the forward pass, which
     * leaves the gradients from model_backward and dZ as they are) */
    mlp *nets[2] = {&M.bottom, &M.top};
    const char *names[2] = {"bottom", "top"};
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < nets[m]->n; i++) {
            linear *l = &nets[m]->L[i];
            size_t nw = (size_t)l->in * l->out;
            double worst = 0;
            int nbig = 0;
            for (size_t k = 0; k < nw + (size_t)l->out; k++) {
                real *w = k < nw ? &l->W[k] : &l->b[k - nw];
                double a = k < nw ? l->gW[k] : l->gb[k - nw];
                double e = fd_one(&M, B, w, a, h);
                if (e > worst)
                    worst = e;
                nbig += e > tol;
            }
            printf("  %-6s layer %d (%3d x %3d): max rel err %.2e, %d over tolerance\n", names[m],
                   i + 1, l->out, l->in, worst, nbig);
            bad += nbig;
        }
    /* embedding rows: the summed gradient of each distinct row of each field */
    double worst = 0;
    int nbig = 0, nrows = 0, nrep = 0;
    for (int f = 0; f < CAT; f++) {
        /* field_row_grads uses M.occs/uniq/ugrad and dZ, which fd_one's forward does not touch */
        int nu = field_row_grads(&M, f, B);
        nrows += nu;
        nrep += B - nu;
        for (int u = 0; u < nu; u++)
            for (int k = 0; k < c.dim; k++) {
                real *w = M.emb[f] + (size_t)M.uniq[u] * c.dim + k;
                double e = fd_one(&M, B, w, M.ugrad[(size_t)u * c.dim + k], h);
                if (e > worst)
                    worst = e;
                nbig += e > tol;
            }
    }
    printf("  embeddings: %d distinct rows (%d repeated occurrences summed): max rel err %.2e, "
           "%d over tolerance\n", nrows, nrep, worst, nbig);
    bad += nbig;
    /* the bottom MLP's input gradient is not needed in training: skip */
    printf("check: %s\n", bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: ref_dlrm --data FILE [--rows N] [--seed S] [--shuffle-seed S] [--shuffle ROWS]\n"
            "                [--batch N] [--valid FRAC] [--threads N] [--log-every STEPS]\n"
            "       ref_dlrm --check\n");
    exit(2);
}

/* Long on purpose: the reference is one straight program (options, data, model, the epoch,
 * the validation) so that it can be checked against the DLRM paper line by line. */
int main(int argc, char **argv)
{
    const char *path = NULL;
    size_t max_rows = 0;
    uint64_t seed = 1, shuffle_seed = 0;
    int have_shuffle_seed = 0, shuffle = 100000, threads = 1, log_every = 50, check = 0;
    double valid = 0.1;
    config c = dlrm_config();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check")) {
            check = 1;
            continue;
        }
        if (!v)
            usage();
        if (!strcmp(a, "--data"))
            path = v;
        else if (!strcmp(a, "--rows"))
            max_rows = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--shuffle-seed"))
            shuffle_seed = strtoull(v, NULL, 10), have_shuffle_seed = 1;
        else if (!strcmp(a, "--shuffle"))
            shuffle = atoi(v);
        else if (!strcmp(a, "--batch"))
            c.batch = atoi(v);
        else if (!strcmp(a, "--valid"))
            valid = atof(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--log-every"))
            log_every = atoi(v);
        else
            usage();
        i++;
    }
    openblas_set_num_threads(threads < 1 ? 1 : threads);
    if (check)
        return run_check();
    if (!path || c.batch < 1 || shuffle < 0 || valid <= 0 || valid >= 1)
        usage();
    if (!have_shuffle_seed)
        shuffle_seed = seed;

    double t0 = now();
    dataset d;
    data_load(&d, path, max_rows, c.log2_rows);
    size_t nvalid = (size_t)(valid * (double)d.n + 0.5), ntrain = d.n - nvalid;
    double t_load = now() - t0;
    printf("data: %s, %zu rows: %zu train (lines 1-%zu), %zu validation; loaded in %.1f s\n",
           path, d.n, ntrain, ntrain, nvalid, t_load);

    t0 = now();
    model M;
    model_init(&M, &c, seed);
    printf("model: init seed %llu, shuffle seed %llu (chunks of %d rows%s), OpenBLAS threads %d;"
           " set up in %.1f s\n", (unsigned long long)seed, (unsigned long long)shuffle_seed,
           shuffle, shuffle ? "" : ": file order", threads < 1 ? 1 : threads, now() - t0);

    /* the epoch's order: file order, permuted within chunks of `shuffle` rows */
    size_t *order = xcalloc(ntrain, sizeof *order);
    for (size_t i = 0; i < ntrain; i++)
        order[i] = i;
    if (shuffle > 0) {
        rng_t rng = {mix64(shuffle_seed ^ 0x5417f1e5ULL)};
        for (size_t c0 = 0; c0 < ntrain; c0 += (size_t)shuffle) {
            size_t n = ntrain - c0 < (size_t)shuffle ? ntrain - c0 : (size_t)shuffle;
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = (size_t)rng_below(&rng, i + 1);
                size_t t = order[c0 + i];
                order[c0 + i] = order[c0 + j];
                order[c0 + j] = t;
            }
        }
    }

    t0 = now();
    long step = 0;
    double run_loss = 0, epoch_loss = 0;
    int run_n = 0;
    for (size_t s = 0; s < ntrain; s += (size_t)c.batch) {
        int B = (int)(ntrain - s < (size_t)c.batch ? ntrain - s : (size_t)c.batch);
        model_gather(&M, &d, order + s, B);
        double l = model_step(&M, B, ++step);
        run_loss += l;
        epoch_loss += l * B;
        run_n++;
        if (log_every > 0 && step % log_every == 0) {
            fprintf(stderr, "  step %ld: mean batch loss over the last %d steps %.4f (%.0f s)\n",
                    step, run_n, run_loss / run_n, now() - t0);
            run_loss = 0;
            run_n = 0;
        }
    }
    double t_train = now() - t0;
    printf("train: %ld steps, mean training loss %.4f, %.1f s (%.0f examples/s)\n", step,
           epoch_loss / (double)ntrain, t_train, (double)ntrain / t_train);

    t0 = now();
    double a1, l1, a0, l0;
    evaluate(&M, &d, ntrain, nvalid, 0, &a1, &l1);
    evaluate(&M, &d, ntrain, nvalid, 1, &a0, &l0);
    double t_eval = now() - t0;
    printf("valid: auc %.4f logloss %.4f (%zu rows; untouched embedding rows at their initial "
           "values)\n", a1, l1, nvalid);
    printf("valid: auc %.4f logloss %.4f (%zu rows; untouched embedding rows read as zero, as "
           "Rill evaluates)\n", a0, l0, nvalid);
    printf("time: load %.1f s, train %.1f s, eval (both) %.1f s\n", t_load, t_train, t_eval);
    return 0;
}
