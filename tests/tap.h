/* A tiny TAP producer for the C tests: plan, ok, is_near, skip_all, done_testing.
 * Failures print the file and line, and for numbers the value got and expected. */
#ifndef RILL_TAP_H
#define RILL_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_run, tap_failed;

static inline void tap_plan(int n) { printf("1..%d\n", n); }

static inline int tap_ok_at(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_run++;
    if (!pass)
        tap_failed++;
    printf("%sok %d - ", pass ? "" : "not ", tap_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass)
        printf("#   Failed test at %s line %d.\n", file, line);
    fflush(stdout);
    return pass;
}

#define ok(cond, ...) tap_ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* |got - want| <= tol */
#define is_near(got, want, tol, ...)                                                          \
    do {                                                                                       \
        double g_ = (got), w_ = (want);                                                        \
        if (!tap_ok_at(fabs(g_ - w_) <= (tol), __FILE__, __LINE__, __VA_ARGS__))              \
            printf("#          got: %.9g\n#     expected: %.9g (tolerance %.3g)\n", g_, w_,     \
                   (double)(tol));                                                            \
    } while (0)

static inline void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static inline void skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

static inline int done_testing(void)
{
    printf("1..%d\n", tap_run);
    if (tap_failed)
        printf("# Looks like you failed %d test%s of %d.\n", tap_failed,
               tap_failed == 1 ? "" : "s", tap_run);
    return tap_failed ? 1 : 0;
}

#endif
