#include "args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rill_vtype_name(rill_vtype t)
{
    switch (t) {
    case RILL_V_NIL: return "nil";
    case RILL_V_BOOL: return "boolean";
    case RILL_V_NUM: return "number";
    case RILL_V_STR: return "string";
    case RILL_V_LIST: return "list";
    case RILL_V_MAP: return "table";
    case RILL_V_NODE: return "node";
    }
    return "?";
}

void rill_value_free(rill_value *v)
{
    switch (v->type) {
    case RILL_V_STR: free(v->u.str); break;
    case RILL_V_LIST:
        for (int i = 0; i < v->u.list.n; i++)
            rill_value_free(&v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case RILL_V_MAP:
        for (int i = 0; i < v->u.map.n; i++) {
            free(v->u.map.keys[i]);
            rill_value_free(&v->u.map.vals[i]);
        }
        free(v->u.map.keys);
        free(v->u.map.vals);
        break;
    default: break;
    }
    v->type = RILL_V_NIL;
}

int rill_value_copy(rill_value *dst, const rill_value *src)
{
    *dst = *src;
    switch (src->type) {
    case RILL_V_STR:
        dst->u.str = strdup(src->u.str);
        if (!dst->u.str) {
            dst->type = RILL_V_NIL;
            return RILL_ENOMEM;
        }
        return RILL_OK;
    case RILL_V_LIST:
        dst->u.list.items = NULL;
        dst->u.list.n = 0;
        for (int i = 0; i < src->u.list.n; i++) {
            rill_value c;
            if (rill_value_copy(&c, &src->u.list.items[i]) || rill_list_push(dst, c)) {
                rill_value_free(dst);
                return RILL_ENOMEM;
            }
        }
        return RILL_OK;
    case RILL_V_MAP:
        dst->u.map.keys = NULL;
        dst->u.map.vals = NULL;
        dst->u.map.n = 0;
        for (int i = 0; i < src->u.map.n; i++) {
            rill_value c;
            if (rill_value_copy(&c, &src->u.map.vals[i]) ||
                rill_map_set(dst, src->u.map.keys[i], c)) {
                rill_value_free(dst);
                return RILL_ENOMEM;
            }
        }
        return RILL_OK;
    default: return RILL_OK;
    }
}

rill_value rill_value_map(void)
{
    rill_value v = {.type = RILL_V_MAP};
    return v;
}

rill_value rill_value_num(double x)
{
    rill_value v = {.type = RILL_V_NUM, .u.num = x};
    return v;
}

rill_value rill_value_bool(bool b)
{
    rill_value v = {.type = RILL_V_BOOL, .u.b = b};
    return v;
}

rill_value rill_value_str(const char *s)
{
    rill_value v = {.type = RILL_V_STR, .u.str = strdup(s)};
    if (!v.u.str)
        v.type = RILL_V_NIL;
    return v;
}

int rill_map_set(rill_value *map, const char *key, rill_value v)
{
    for (int i = 0; i < map->u.map.n; i++)
        if (strcmp(map->u.map.keys[i], key) == 0) {
            rill_value_free(&map->u.map.vals[i]);
            map->u.map.vals[i] = v;
            return RILL_OK;
        }
    int n = map->u.map.n;
    char **keys = realloc(map->u.map.keys, (size_t)(n + 1) * sizeof *keys);
    if (keys)
        map->u.map.keys = keys;
    rill_value *vals = realloc(map->u.map.vals, (size_t)(n + 1) * sizeof *vals);
    if (vals)
        map->u.map.vals = vals;
    char *k = keys && vals ? strdup(key) : NULL;
    if (!k) {
        rill_value_free(&v);
        return RILL_ENOMEM;
    }
    map->u.map.keys[n] = k;
    map->u.map.vals[n] = v;
    map->u.map.n = n + 1;
    return RILL_OK;
}

int rill_list_push(rill_value *list, rill_value v)
{
    int n = list->u.list.n;
    rill_value *items = realloc(list->u.list.items, (size_t)(n + 1) * sizeof *items);
    if (!items) {
        rill_value_free(&v);
        return RILL_ENOMEM;
    }
    items[n] = v;
    list->u.list.items = items;
    list->u.list.n = n + 1;
    return RILL_OK;
}

static int cmp_keyidx(const void *a, const void *b, void *keys)
{
    char **k = keys;
    return strcmp(k[*(const int *)a], k[*(const int *)b]);
}

typedef struct {
    char *buf;
    size_t cap, len;
} sbuf;

static void sb_put(sbuf *s, const char *fmt, ...) RILL_PRINTF(2, 3);
#include <stdarg.h>
static void sb_put(sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    int n = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->len += (size_t)n;
}

static void format_value(sbuf *s, const rill_value *v)
{
    switch (v->type) {
    case RILL_V_NIL: sb_put(s, "nil"); break;
    case RILL_V_BOOL: sb_put(s, v->u.b ? "true" : "false"); break;
    case RILL_V_NUM: sb_put(s, "%.17g", v->u.num); break;
    case RILL_V_STR: sb_put(s, "\"%s\"", v->u.str); break;
    case RILL_V_NODE: sb_put(s, "<node>"); break;
    case RILL_V_LIST:
        sb_put(s, "{");
        for (int i = 0; i < v->u.list.n; i++) {
            if (i)
                sb_put(s, ",");
            format_value(s, &v->u.list.items[i]);
        }
        sb_put(s, "}");
        break;
    case RILL_V_MAP: {
        int n = v->u.map.n, idx[256];
        if (n > 256)
            n = 256;
        for (int i = 0; i < n; i++)
            idx[i] = i;
        qsort_r(idx, (size_t)n, sizeof idx[0], cmp_keyidx, v->u.map.keys);
        sb_put(s, "{");
        for (int i = 0; i < n; i++) {
            if (i)
                sb_put(s, ",");
            sb_put(s, "%s=", v->u.map.keys[idx[i]]);
            format_value(s, &v->u.map.vals[idx[i]]);
        }
        sb_put(s, "}");
        break;
    }
    }
}

size_t rill_value_format(const rill_value *v, char *buf, size_t cap)
{
    sbuf s = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    format_value(&s, v);
    return s.len + 1;
}

static void note_asked(rill_args *a, const char *key)
{
    for (int i = 0; i < a->nasked; i++)
        if (strcmp(a->asked[i], key) == 0)
            return;
    if (a->nasked < (int)(sizeof a->asked / sizeof a->asked[0]))
        a->asked[a->nasked++] = key;
}

static rill_value *lookup(rill_args *a, const char *key)
{
    note_asked(a, key);
    if (!a->map || a->map->type != RILL_V_MAP)
        return NULL;
    for (int i = 0; i < a->map->u.map.n; i++)
        if (strcmp(a->map->u.map.keys[i], key) == 0) {
            rill_value *v = &a->map->u.map.vals[i];
            v->used = true;
            return v->type == RILL_V_NIL ? NULL : v;
        }
    return NULL;
}

const rill_value *rill_args_get(rill_args *a, const char *key)
{
    return lookup(a, key);
}

bool rill_args_has(rill_args *a, const char *key)
{
    return lookup(a, key) != NULL;
}

static int type_error(rill_args *a, const char *key, const char *want, const rill_value *v,
                      rill_err *err)
{
    char shown[96];
    rill_value_format(v, shown, sizeof shown);
    return rill_errf(err, RILL_EINVAL, "%s: argument '%s' must be %s, got %s %s", a->who, key,
                     want, rill_vtype_name(v->type), shown);
}

int rill_args_num(rill_args *a, const char *key, double def, double min, double max,
                  double *out, rill_err *err)
{
    const rill_value *v = lookup(a, key);
    if (!v) {
        *out = def;
        return RILL_OK;
    }
    if (v->type != RILL_V_NUM || !isfinite(v->u.num))
        return type_error(a, key, "a number", v, err);
    if (v->u.num < min || v->u.num > max)
        return rill_errf(err, RILL_EINVAL, "%s: argument '%s' = %g is out of range [%g, %g]",
                         a->who, key, v->u.num, min, max);
    *out = v->u.num;
    return RILL_OK;
}

int rill_args_int(rill_args *a, const char *key, long def, long min, long max, long *out,
                  rill_err *err)
{
    const rill_value *v = lookup(a, key);
    if (!v) {
        *out = def;
        return RILL_OK;
    }
    if (v->type != RILL_V_NUM || v->u.num != floor(v->u.num) || fabs(v->u.num) > 9e15)
        return type_error(a, key, "an integer", v, err);
    if (v->u.num < (double)min || v->u.num > (double)max)
        return rill_errf(err, RILL_EINVAL, "%s: argument '%s' = %.0f is out of range [%ld, %ld]",
                         a->who, key, v->u.num, min, max);
    *out = (long)v->u.num;
    return RILL_OK;
}

int rill_args_bool(rill_args *a, const char *key, bool def, bool *out, rill_err *err)
{
    const rill_value *v = lookup(a, key);
    if (!v) {
        *out = def;
        return RILL_OK;
    }
    if (v->type != RILL_V_BOOL)
        return type_error(a, key, "true or false", v, err);
    *out = v->u.b;
    return RILL_OK;
}

int rill_args_str(rill_args *a, const char *key, const char *def, const char **out,
                  rill_err *err)
{
    const rill_value *v = lookup(a, key);
    if (!v) {
        *out = def;
        return RILL_OK;
    }
    if (v->type != RILL_V_STR)
        return type_error(a, key, "a string", v, err);
    *out = v->u.str;
    return RILL_OK;
}

int rill_args_enum(rill_args *a, const char *key, const char *const *choices, int def, int *out,
                   rill_err *err)
{
    const rill_value *v = lookup(a, key);
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; choices[i]; i++)
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s\"%s\"",
                                i ? ", " : "", choices[i]);
    if (!v) {
        if (def < 0)
            return rill_errf(err, RILL_EINVAL, "%s: argument '%s' is required (one of %s)",
                             a->who, key, list);
        *out = def;
        return RILL_OK;
    }
    if (v->type == RILL_V_STR)
        for (int i = 0; choices[i]; i++)
            if (strcmp(v->u.str, choices[i]) == 0) {
                *out = i;
                return RILL_OK;
            }
    char want[300];
    snprintf(want, sizeof want, "one of %s", list);
    return type_error(a, key, want, v, err);
}

/* A list argument's items (a single value counts as a list of one) and an array of elem-byte
 * slots for them; NULL when v is absent, or with RILL_ENOMEM in err. */
static void *list_items(rill_args *a, const char *key, const rill_value *v, size_t elem,
                        const rill_value **items, int *count, rill_err *err)
{
    *items = v;
    *count = 1;
    if (!v)
        return NULL;
    if (v->type == RILL_V_LIST) {
        *items = v->u.list.items;
        *count = v->u.list.n;
    }
    void *r = malloc((size_t)(*count ? *count : 1) * elem);
    if (!r)
        rill_errf(err, RILL_ENOMEM, "%s: out of memory reading '%s'", a->who, key);
    return r;
}

int rill_args_int_list(rill_args *a, const char *key, long min, long max, long **out, int *n,
                       rill_err *err)
{
    const rill_value *v = lookup(a, key), *items;
    int count;
    long *r = list_items(a, key, v, sizeof *r, &items, &count, err);
    *out = NULL;
    *n = 0;
    if (!v)
        return RILL_OK;
    if (!r)
        return RILL_ENOMEM;
    for (int i = 0; i < count; i++) {
        const rill_value *x = &items[i];
        if (x->type != RILL_V_NUM || x->u.num != floor(x->u.num) || x->u.num < (double)min ||
            x->u.num > (double)max) {
            free(r);
            char want[128];
            snprintf(want, sizeof want, "an integer in [%ld, %ld] or a list of them", min, max);
            return type_error(a, key, want, v, err);
        }
        r[i] = (long)x->u.num;
    }
    *out = r;
    *n = count;
    return RILL_OK;
}

int rill_args_str_list(rill_args *a, const char *key, const char ***out, int *n, rill_err *err)
{
    const rill_value *v = lookup(a, key), *items;
    int count;
    const char **r = list_items(a, key, v, sizeof *r, &items, &count, err);
    *out = NULL;
    *n = 0;
    if (!v)
        return RILL_OK;
    if (!r)
        return RILL_ENOMEM;
    for (int i = 0; i < count; i++) {
        if (items[i].type != RILL_V_STR) {
            free(r);
            return type_error(a, key, "a string or a list of strings", v, err);
        }
        r[i] = items[i].u.str;
    }
    *out = r;
    *n = count;
    return RILL_OK;
}

int rill_args_sub(rill_args *a, const char *key, rill_args *sub, bool *present, rill_err *err)
{
    rill_value *v = lookup(a, key);
    memset(sub, 0, sizeof *sub);
    snprintf(sub->who, sizeof sub->who, "%.400s, argument '%.64s'", a->who, key);
    *present = v != NULL;
    if (!v)
        return RILL_OK;
    if (v->type != RILL_V_MAP)
        return type_error(a, key, "a table of settings", v, err);
    sub->map = v;
    return RILL_OK;
}

int rill_args_check_unused(rill_args *a, rill_err *err)
{
    if (!a->map || a->map->type != RILL_V_MAP)
        return RILL_OK;
    for (int i = 0; i < a->map->u.map.n; i++) {
        if (a->map->u.map.vals[i].used)
            continue;
        char known[400] = "";
        size_t len = 0;
        for (int k = 0; k < a->nasked; k++)
            len += (size_t)snprintf(known + len, len < sizeof known ? sizeof known - len : 0,
                                    "%s%s", k ? ", " : "", a->asked[k]);
        return rill_errf(err, RILL_EINVAL, "%s: unknown argument '%s' (known: %s)", a->who,
                         a->map->u.map.keys[i], a->nasked ? known : "none");
    }
    return RILL_OK;
}

const char *rill_closest_name(const char *s, const char *const *names)
{
    size_t ls = strlen(s);
    if (ls > 63)
        return NULL;
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (int k = 0; names[k]; k++) {
        const char *t = names[k];
        size_t lt = strlen(t);
        if (lt > 63)
            continue;
        size_t row[64];
        for (size_t j = 0; j <= lt; j++)
            row[j] = j;
        for (size_t i = 1; i <= ls; i++) {
            size_t diag = row[0];
            row[0] = i;
            for (size_t j = 1; j <= lt; j++) {
                size_t up = row[j];
                size_t sub = diag + (s[i - 1] != t[j - 1]);
                size_t v = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
                row[j] = v < sub ? v : sub;
                diag = up;
            }
        }
        if (row[lt] < best_d) {
            best_d = row[lt];
            best = t;
        }
    }
    size_t longer = ls > (best ? strlen(best) : 0) ? ls : strlen(best ? best : "");
    return best && best_d * 3 <= longer ? best : NULL;
}
