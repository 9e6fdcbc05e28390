/* Arguments as a small value tree (what a Lua table holds): the binding converts a script's
 * table into it, and node kinds, optimizers and the trainer read their settings from it
 * through typed getters. Every getter marks its key used, so rill_args_check_unused can
 * name a misspelt argument. Errors start with the owner's description ("node 'emb'
 * (embed) at dlrm.lua:12"), then say what was expected and what was given. */
#ifndef RILL_ARGS_H
#define RILL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct rill_node;

typedef enum {
    RILL_V_NIL,
    RILL_V_BOOL,
    RILL_V_NUM,
    RILL_V_STR,
    RILL_V_LIST,
    RILL_V_MAP,
    RILL_V_NODE,
} rill_vtype;

typedef struct rill_value {
    rill_vtype type;
    bool used; /* set by the getters when this is a map entry */
    union {
        bool b;
        double num;
        char *str;
        struct rill_node *node;
        struct {
            struct rill_value *items;
            int n;
        } list;
        struct {
            char **keys;
            struct rill_value *vals;
            int n;
        } map;
    } u;
} rill_value;

const char *rill_vtype_name(rill_vtype t);
void rill_value_free(rill_value *v); /* frees what v holds, not v itself */
int rill_value_copy(rill_value *dst, const rill_value *src);
/* Builders used by the binding and by C callers; they return RILL_OK or RILL_ENOMEM. */
rill_value rill_value_map(void);
int rill_map_set(rill_value *map, const char *key, rill_value v); /* takes ownership of v */
int rill_list_push(rill_value *list, rill_value v);
rill_value rill_value_num(double x);
rill_value rill_value_str(const char *s); /* copies; type NIL on allocation failure */
rill_value rill_value_bool(bool b);
/* Appends a compact, key-sorted text form (for signatures and logs); returns bytes needed. */
size_t rill_value_format(const rill_value *v, char *buf, size_t cap);

typedef struct rill_args {
    rill_value *map; /* a RILL_V_MAP, or NULL for "no arguments" */
    char who[512];
    const char *asked[48]; /* keys the reader asked for, listed when a key is unknown */
    int nasked;
} rill_args;

/* Lookups return NULL when the key is absent or nil. */
const rill_value *rill_args_get(rill_args *a, const char *key);
bool rill_args_has(rill_args *a, const char *key);
int rill_args_int(rill_args *a, const char *key, long def, long min, long max, long *out,
                  rill_err *err);
int rill_args_num(rill_args *a, const char *key, double def, double min, double max,
                  double *out, rill_err *err);
int rill_args_bool(rill_args *a, const char *key, bool def, bool *out, rill_err *err);
/* *out points into the tree (or at def). */
int rill_args_str(rill_args *a, const char *key, const char *def, const char **out,
                  rill_err *err);
/* choices is NULL-terminated; *out is the index; def -1 makes the key required. */
int rill_args_enum(rill_args *a, const char *key, const char *const *choices, int def,
                   int *out, rill_err *err);
/* A number or a list of numbers; *out is malloc'd (caller frees); a single number gives n=1. */
int rill_args_int_list(rill_args *a, const char *key, long min, long max, long **out,
                       int *n, rill_err *err);
int rill_args_str_list(rill_args *a, const char *key, const char ***out, int *n,
                       rill_err *err);
/* A nested map (an optimizer, a schedule) as its own rill_args with a derived owner text. */
int rill_args_sub(rill_args *a, const char *key, rill_args *sub, bool *present,
                  rill_err *err);
/* Errors if any key was never read: "unknown argument 'dimm' ...; known: ...". */
int rill_args_check_unused(rill_args *a, rill_err *err);

/* The name in the NULL-terminated list closest to s by edit distance, when it is close enough
 * to be a likely misspelling (at most a third of its letters off); else NULL. */
const char *rill_closest_name(const char *s, const char *const *names);

#endif
