/* Reader for ../shared/testvectors (format in that folder's README.md): cases of params and
 * tensors, compared against the engine with |got - want| <= atol + rtol |want|. */
#ifndef RILL_TESTVEC_H
#define RILL_TESTVEC_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TV_MAX_PARAMS 32
#define TV_MAX_TENSORS 40

typedef struct {
    char name[64];
    int nd, dims[4];
    long n;
    double *v;
} tv_tensor;

typedef struct {
    char name[64];
    int nparams, ntensors;
    char pkey[TV_MAX_PARAMS][64], pval[TV_MAX_PARAMS][64];
    tv_tensor t[TV_MAX_TENSORS];
} tv_case;

/* Where the vectors live: $RILL_TESTVECTORS, else ../shared/testvectors. NULL when absent. */
static inline FILE *tv_open(const char *file)
{
    const char *dir = getenv("RILL_TESTVECTORS");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "../shared/testvectors", file);
    return fopen(path, "r");
}

static inline void tv_free(tv_case *c)
{
    for (int i = 0; i < c->ntensors; i++)
        free(c->t[i].v);
    memset(c, 0, sizeof *c);
}

/* 1 = a case was read, 0 = end of file, -1 = malformed file. */
static inline int tv_next(FILE *f, tv_case *c)
{
    char tok[256];
    memset(c, 0, sizeof *c);
    while (fscanf(f, "%255s", tok) == 1) {
        if (tok[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != '\n' && ch != EOF) {
            }
        } else if (!strcmp(tok, "case")) {
            if (fscanf(f, "%63s", c->name) != 1)
                return -1;
        } else if (!strcmp(tok, "param")) {
            if (c->nparams >= TV_MAX_PARAMS ||
                fscanf(f, "%63s %63s", c->pkey[c->nparams], c->pval[c->nparams]) != 2)
                return -1;
            c->nparams++;
        } else if (!strcmp(tok, "tensor")) {
            if (c->ntensors >= TV_MAX_TENSORS)
                return -1;
            tv_tensor *t = &c->t[c->ntensors++];
            if (fscanf(f, "%63s %d", t->name, &t->nd) != 2 || t->nd < 1 || t->nd > 4)
                return -1;
            t->n = 1;
            for (int i = 0; i < t->nd; i++) {
                if (fscanf(f, "%d", &t->dims[i]) != 1 || t->dims[i] < 1)
                    return -1;
                t->n *= t->dims[i];
            }
            t->v = malloc((size_t)t->n * sizeof(double));
            if (!t->v)
                return -1;
            for (long i = 0; i < t->n; i++)
                if (fscanf(f, "%lf", &t->v[i]) != 1)
                    return -1;
        } else if (!strcmp(tok, "end")) {
            return 1;
        } else {
            return -1;
        }
    }
    return 0;
}

static inline const char *tv_param(const tv_case *c, const char *key)
{
    for (int i = 0; i < c->nparams; i++)
        if (!strcmp(c->pkey[i], key))
            return c->pval[i];
    return NULL;
}

static inline int tv_int(const tv_case *c, const char *key)
{
    const char *v = tv_param(c, key);
    return v ? atoi(v) : 0;
}

static inline double tv_num(const tv_case *c, const char *key)
{
    const char *v = tv_param(c, key);
    return v ? atof(v) : 0.0;
}

static inline const tv_tensor *tv_get(const tv_case *c, const char *name)
{
    for (int i = 0; i < c->ntensors; i++)
        if (!strcmp(c->t[i].name, name))
            return &c->t[i];
    return NULL;
}

/* A float copy of a tensor (malloc'd), or NULL when absent. */
static inline float *tv_floats(const tv_case *c, const char *name)
{
    const tv_tensor *t = tv_get(c, name);
    if (!t)
        return NULL;
    float *f = malloc((size_t)t->n * sizeof(float));
    for (long i = 0; f && i < t->n; i++)
        f[i] = (float)t->v[i];
    return f;
}

/* Worst |got - want| / (atol + rtol |want|) over n values: <= 1 passes. */
static inline double tv_worst(const float *got, const tv_tensor *want, double atol, double rtol)
{
    double worst = 0;
    for (long i = 0; i < want->n; i++) {
        double r = fabs((double)got[i] - want->v[i]) / (atol + rtol * fabs(want->v[i]));
        if (isnan(r))
            return (double)INFINITY;
        if (r > worst)
            worst = r;
    }
    return worst;
}

#endif
