/* The C side of the Lua module: require "rill" loads lua/rill/init.lua, which loads this as
 * "rill.core". Metatables rill.Schema, rill.Graph and rill.Node wrap the engine; core/ and
 * store/ never touch the Lua API. Errors from the engine already name the node and script
 * line; they are raised only after every C resource is released. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "blas.h"
#include "checkpoint.h"
#include "crc32c.h"
#include "gen.h"
#include "graph.h"
#include "metrics.h"
#include "nodes.h"
#include "seq.h"
#include "pool.h"
#include "reader.h"
#include "spectrum.h"
#include "store.h"
#include "train.h"
#include "util.h"

#include "rill_lua.h"

volatile sig_atomic_t rill_interrupted;

#define SCHEMA_MT "rill.Schema"
#define GRAPH_MT "rill.Graph"
#define NODE_MT "rill.Node"

typedef struct {
    rill_schema s;
    bool live;
} schema_box;

typedef struct {
    rill_graph *g;
} graph_box;

typedef struct {
    rill_node *n;
} node_box;

/* " (the disk is full)" after the OS error of a write that found no space, else "" */
static const char *disk_full(int e)
{
    return e == ENOSPC || e == EDQUOT ? " (the disk is full)" : "";
}

/* Closes f: 0, or the errno of the failed close (which flushes the buffer: on a full disk
 * usually where the error shows), or EIO when only the stream's error flag tells of an
 * earlier failed write */
static int close_checked(FILE *f)
{
    int bad = ferror(f);
    errno = 0;
    if (fclose(f) != 0)
        return errno ? errno : EIO;
    return bad ? EIO : 0;
}

/* Puts "path: " in front of err's message: the core says that a write failed, not which file
 * the command line named */
static void prefix_path(rill_err *err, const char *path)
{
    char msg[sizeof err->msg];
    size_t cap = sizeof err->msg, p = strnlen(path, 200), m = strnlen(err->msg, cap - 1);
    memcpy(msg, err->msg, m);
    memcpy(err->msg, path, p);
    memcpy(err->msg + p, ": ", 2);
    if (m > cap - 1 - (p + 2)) /* the end of the core's message goes, not the path */
        m = cap - 1 - (p + 2);
    memcpy(err->msg + p + 2, msg, m);
    err->msg[p + 2 + m] = 0;
}

/* ---- Lua values to rill_value ---- */

static int to_value(lua_State *L, int idx, rill_value *out, char *msg, size_t cap,
                    const char *path, int depth);

static int table_to_value(lua_State *L, int idx, rill_value *out, char *msg, size_t cap,
                          const char *path, int depth)
{
    idx = lua_absindex(L, idx);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    bool has_keys = false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!(lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n))
            has_keys = true;
    }
    if (!has_keys) {
        *out = (rill_value){.type = RILL_V_LIST};
        for (lua_Integer i = 1; i <= n; i++) {
            rill_value v;
            char sub[160];
            snprintf(sub, sizeof sub, "%s[%lld]", path, (long long)i);
            lua_rawgeti(L, idx, i);
            int rc = to_value(L, -1, &v, msg, cap, sub, depth + 1);
            lua_pop(L, 1);
            if (rc || rill_list_push(out, v)) {
                rill_value_free(out);
                return rc ? rc : -1;
            }
        }
        return 0;
    }
    *out = rill_value_map();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(msg, cap, "%s: keys must be names, got a %s key (do not mix a list with "
                               "named settings)", path, luaL_typename(L, -2));
            lua_pop(L, 2);
            rill_value_free(out);
            return -1;
        }
        const char *key = lua_tostring(L, -2);
        char sub[160];
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        rill_value v;
        int rc = to_value(L, -1, &v, msg, cap, sub, depth + 1);
        lua_pop(L, 1);
        if (rc || rill_map_set(out, key, v)) {
            lua_pop(L, 1);
            rill_value_free(out);
            return rc ? rc : -1;
        }
    }
    return 0;
}

static int to_value(lua_State *L, int idx, rill_value *out, char *msg, size_t cap,
                    const char *path, int depth)
{
    if (depth > 16) {
        snprintf(msg, cap, "%s: tables nested too deeply (a cycle?)", path);
        return -1;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: *out = (rill_value){.type = RILL_V_NIL}; return 0;
    case LUA_TBOOLEAN: *out = rill_value_bool(lua_toboolean(L, idx)); return 0;
    case LUA_TNUMBER: *out = rill_value_num(lua_tonumber(L, idx)); return 0;
    case LUA_TSTRING:
        *out = rill_value_str(lua_tostring(L, idx));
        return out->type == RILL_V_STR ? 0 : -1;
    case LUA_TTABLE: return table_to_value(L, idx, out, msg, cap, path, depth);
    case LUA_TUSERDATA: {
        node_box *nb = luaL_testudata(L, idx, NODE_MT);
        if (nb) {
            *out = (rill_value){.type = RILL_V_NODE, .u.node = nb->n};
            return 0;
        }
    } /* fall through */
    default:
        snprintf(msg, cap, "%s: a %s cannot be an argument (numbers, strings, booleans and "
                           "tables of them can)", path, luaL_typename(L, idx));
        return -1;
    }
}

/* The settings table at idx as a heap rill_value map (caller frees), or NULL after
 * raising an error. */
static rill_value *args_from(lua_State *L, int idx, const char *who)
{
    char msg[512] = "";
    rill_value *v = malloc(sizeof *v);
    if (!v)
        luaL_error(L, "out of memory");
    if (lua_isnoneornil(L, idx)) {
        *v = rill_value_map();
        return v;
    }
    int rc = lua_type(L, idx) == LUA_TTABLE ? to_value(L, idx, v, msg, sizeof msg, who, 0) : -1;
    if (rc == 0 && v->type == RILL_V_LIST && v->u.list.n == 0) {
        rill_value_free(v);
        *v = rill_value_map();
    }
    if (rc == 0 && v->type != RILL_V_MAP) {
        rill_value_free(v);
        rc = -1;
        snprintf(msg, sizeof msg, "%s: expected a table of named settings", who);
    }
    if (rc) {
        free(v);
        if (!msg[0])
            snprintf(msg, sizeof msg, "%s: expected a table of settings", who);
        luaL_error(L, "%s", msg);
    }
    return v;
}

static void free_value(rill_value *v)
{
    if (v) {
        rill_value_free(v);
        free(v);
    }
}

/* ---- rill.Schema ---- */

static schema_box *check_schema(lua_State *L, int i)
{
    schema_box *b = luaL_checkudata(L, i, SCHEMA_MT);
    if (!b->live)
        luaL_error(L, "attempt to use a freed schema");
    return b;
}

static int l_schema_gc(lua_State *L)
{
    schema_box *b = luaL_checkudata(L, 1, SCHEMA_MT);
    if (b->live)
        rill_schema_free(&b->s);
    b->live = false;
    return 0;
}

static void push_names(lua_State *L, char **names, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* schema:check_header(path): raises when the file's header does not name the schema's columns;
 * a file that cannot be opened is left to the reader (an export's data is read elsewhere). */
static int l_schema_check_header(lua_State *L)
{
    schema_box *b = check_schema(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (b->s.text.ncols == 0 || !b->s.text.header || access(path, R_OK) != 0)
        return 0;
    rill_err err = {0};
    if (rill_reader_check_header(path, &b->s, &err))
        return luaL_error(L, "%s", err.msg);
    return 0;
}

static int l_schema_columns(lua_State *L)
{
    schema_box *b = check_schema(L, 1);
    lua_createtable(L, 0, 5);
    push_names(L, b->s.label_names, b->s.nlabels);
    lua_setfield(L, -2, "labels");
    push_names(L, b->s.num_names, b->s.nnum);
    lua_setfield(L, -2, "numeric");
    push_names(L, b->s.cat_names, b->s.ncat);
    lua_setfield(L, -2, "categorical");
    lua_pushboolean(L, b->s.has_weight);
    lua_setfield(L, -2, "weight");
    if (b->s.text.ncols > 0) { /* a delimited text file's column separator */
        char sep[2] = {b->s.text.sep, 0};
        lua_pushstring(L, sep);
        lua_setfield(L, -2, "sep");
    }
    lua_pushstring(L, b->s.name);
    lua_setfield(L, -2, "name");
    return 1;
}

/* core.schema("criteo" | "avazu"), core.schema{ yaml = PATH } or
 * core.schema{ libsvm = FIELDS, ffm = BOOL } */
static int l_schema(lua_State *L)
{
    const char *kind = NULL, *yaml = NULL;
    bool svm = false, ffm = false;
    lua_Integer fields = 0;
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "libsvm");
        svm = !lua_isnil(L, -1);
        fields = lua_tointeger(L, -1);
        lua_getfield(L, 1, "ffm");
        ffm = lua_toboolean(L, -1);
        lua_getfield(L, 1, "yaml");
        yaml = lua_tostring(L, -1);
        if (!yaml && !svm)
            return luaL_error(L, "rill.core.schema{ yaml = PATH }: the schema file's name");
    } else {
        kind = luaL_checkstring(L, 1);
        if (strcmp(kind, "criteo") != 0 && strcmp(kind, "avazu") != 0)
            return luaL_error(L, "rill.core.schema: unknown built-in schema '%s' (known: criteo, "
                                 "avazu)",
                              kind);
    }
    schema_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->live = false;
    luaL_setmetatable(L, SCHEMA_MT);
    rill_err err = {0};
    int rc = svm                           ? rill_schema_libsvm(&b->s, (int)fields, ffm, &err)
             : yaml                        ? rill_schema_load_yaml(&b->s, yaml, &err)
             : strcmp(kind, "criteo") == 0 ? rill_schema_criteo(&b->s, &err)
                                           : rill_schema_avazu(&b->s, &err);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    b->live = true;
    return 1;
}

/* ---- rill.Graph and rill.Node ---- */

static rill_graph *check_graph(lua_State *L, int i)
{
    graph_box *b = luaL_checkudata(L, i, GRAPH_MT);
    if (!b->g)
        luaL_error(L, "attempt to use a closed graph");
    return b->g;
}

static int l_graph_gc(lua_State *L)
{
    graph_box *b = luaL_checkudata(L, 1, GRAPH_MT);
    rill_graph_free(b->g);
    b->g = NULL;
    return 0;
}

static int l_graph_new(lua_State *L)
{
    schema_box *s = check_schema(L, 1);
    graph_box *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->g = NULL; /* made closed first, so a failure below leaves a consistent object */
    luaL_setmetatable(L, GRAPH_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the graph keeps its schema alive */
    rill_err err = {0};
    if (rill_graph_create(&b->g, &s->s, &err))
        return luaL_error(L, "%s", err.msg);
    b->g->collapsed = lua_toboolean(L, 2); /* the inference form: see node_embed_mlet.c */
    return 1;
}

static void push_node(lua_State *L, int graph_idx, rill_node *n)
{
    node_box *nb = lua_newuserdatauv(L, sizeof *nb, 1);
    nb->n = n;
    luaL_setmetatable(L, NODE_MT);
    lua_pushvalue(L, graph_idx);
    lua_setiuservalue(L, -2, 1); /* the node keeps its graph alive */
}

/* g:add(kind, name, where, inputs, args) -> node */
static int l_graph_add(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    const char *kind = luaL_checkstring(L, 2);
    const char *name = luaL_optstring(L, 3, NULL);
    const char *where = luaL_optstring(L, 4, "?");
    luaL_checktype(L, 5, LUA_TTABLE);
    int nin = (int)lua_rawlen(L, 5);
    rill_node *inputs[64];
    if (nin > 64)
        return luaL_error(L, "%s: node '%s' (%s): at most 64 inputs", where, name ? name : kind, kind);
    for (int i = 0; i < nin; i++) {
        lua_rawgeti(L, 5, i + 1);
        node_box *nb = luaL_testudata(L, -1, NODE_MT);
        if (!nb) {
            const char *tn = luaL_typename(L, -1);
            return luaL_error(L, "%s: node '%s' (%s): input %d is a %s, expected a node (the "
                                 "result of another g:... call)",
                              where, name ? name : kind, kind, i + 1, tn);
        }
        inputs[i] = nb->n;
        lua_pop(L, 1);
    }
    char who[256];
    snprintf(who, sizeof who, "%s: node '%s' (%s)", where, name ? name : kind, kind);
    rill_value *args = args_from(L, 6, who);
    rill_err err = {0};
    rill_node *n;
    if (rill_graph_add(g, kind, name, where, inputs, nin, args, &n, &err))
        return luaL_error(L, "%s", err.msg); /* args were taken over and freed */
    push_node(L, 1, n);
    return 1;
}

static int l_graph_node(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    rill_node *n = rill_graph_find(g, luaL_checkstring(L, 2));
    if (!n)
        return 0;
    push_node(L, 1, n);
    return 1;
}

static int l_graph_nodes(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    lua_createtable(L, g->nnodes, 0);
    for (int i = 0; i < g->nnodes; i++) {
        push_node(L, 1, g->nodes[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_graph_param_count(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    lua_pushinteger(L, (lua_Integer)rill_graph_dense_count(g));
    return 1;
}

static rill_node *check_node(lua_State *L, int i)
{
    node_box *b = luaL_checkudata(L, i, NODE_MT);
    return b->n;
}

static int l_node_name(lua_State *L)
{
    lua_pushstring(L, check_node(L, 1)->name);
    return 1;
}

static int l_node_kind(lua_State *L)
{
    lua_pushstring(L, check_node(L, 1)->ops->name);
    return 1;
}

static int l_node_where(lua_State *L)
{
    lua_pushstring(L, check_node(L, 1)->where);
    return 1;
}

/* per-example shape: {F, D} or {D} for vectors, "ids" with field names, "loss" */
static int l_node_shape(lua_State *L)
{
    rill_node *n = check_node(L, 1);
    if (n->out_kind == RILL_OUT_DENSE) {
        lua_createtable(L, n->nd, 0);
        for (int i = 0; i < n->nd; i++) {
            lua_pushinteger(L, n->dims[i]);
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    lua_pushstring(L, n->out_kind == RILL_OUT_IDS ? "ids" : "loss");
    return 1;
}

static int l_node_tostring(lua_State *L)
{
    rill_node *n = check_node(L, 1);
    lua_pushfstring(L, "rill.Node '%s' (%s) made at %s", n->name, n->ops->name, n->where);
    return 1;
}

/* ---- data specs, training, evaluation ---- */

typedef struct {
    rill_reader_cfg cfg;
    const char *valid_path;
    double valid;
} data_spec;

static int read_data_spec(rill_args *a, const rill_schema *schema, int batch, uint64_t seed,
                          data_spec *d, rill_err *err)
{
    static const char *const splits[] = {"tail", "hash", NULL};
    static const char *const bad[] = {"error", "skip", NULL};
    static const char *const formats[] = {"criteo", "csv", "libsvm", NULL};
    const char *path;
    long shuffle, max_line;
    double max_bad;
    int split, on_bad, format;
    bool threaded;
    int rc;
    memset(d, 0, sizeof *d);
    if ((rc = rill_args_str(a, "path", NULL, &path, err)) ||
        (rc = rill_args_enum(a, "format", formats, 0, &format, err)) ||
        (rc = rill_args_num(a, "valid", 0.0, 0.0, 0.99, &d->valid, err)) ||
        (rc = rill_args_str(a, "valid_path", NULL, &d->valid_path, err)) ||
        (rc = rill_args_enum(a, "split", splits, 0, &split, err)) ||
        (rc = rill_args_int(a, "shuffle", 100000, 0, 1L << 26, &shuffle, err)) ||
        (rc = rill_args_enum(a, "on_bad_line", bad, 0, &on_bad, err)) ||
        (rc = rill_args_num(a, "max_bad", 0.1, 1e-9, 1.0, &max_bad, err)) ||
        (rc = rill_args_int(a, "max_line", 1 << 20, 64, 1L << 30, &max_line, err)) ||
        (rc = rill_args_bool(a, "threaded", true, &threaded, err)))
        return rc;
    if (!path)
        return rill_errf(err, RILL_EINVAL, "%s: 'path' is required (the data file)", a->who);
    if (d->valid > 0 && d->valid_path)
        return rill_errf(err, RILL_EINVAL, "%s: give 'valid' (a fraction) or 'valid_path' (a file), "
                                           "not both", a->who);
    d->cfg = (rill_reader_cfg){.path = path, .format = format == 1   ? RILL_FMT_CSV
                                         : format == 2 ? RILL_FMT_LIBSVM
                                                       : RILL_FMT_CRITEO,
                               .schema = schema,
                               .part = d->valid > 0 ? RILL_PART_TRAIN : RILL_PART_ALL,
                               .valid_fraction = d->valid, .split = split, .split_seed = seed,
                               .batch = batch, .shuffle = (int)shuffle, .seed = seed,
                               .on_bad_line = on_bad, .max_bad = max_bad,
                               .max_line = (size_t)max_line,
                               .threaded = threaded};
    return rill_args_check_unused(a, err);
}

static void push_eval(lua_State *L, const rill_eval_result *e)
{
    lua_createtable(L, 0, 6);
    if (e->ntasks > 0) {
        lua_pushnumber(L, e->task[0].auc);
        lua_setfield(L, -2, "auc");
        lua_pushnumber(L, e->task[0].logloss);
        lua_setfield(L, -2, "logloss");
        if (!isnan(e->task[0].gauc)) {
            lua_pushnumber(L, e->task[0].gauc);
            lua_setfield(L, -2, "gauc");
        }
    }
    lua_pushinteger(L, (lua_Integer)e->rows);
    lua_setfield(L, -2, "rows");
    lua_pushnumber(L, e->seconds);
    lua_setfield(L, -2, "seconds");
    lua_createtable(L, e->ntasks, 0);
    for (int k = 0; k < e->ntasks; k++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, e->task[k].task);
        lua_setfield(L, -2, "task");
        lua_pushstring(L, e->task[k].label);
        lua_setfield(L, -2, "label");
        lua_pushnumber(L, e->task[k].auc);
        lua_setfield(L, -2, "auc");
        lua_pushnumber(L, e->task[k].logloss);
        lua_setfield(L, -2, "logloss");
        lua_pushnumber(L, e->task[k].pos_rate);
        lua_setfield(L, -2, "pos_rate");
        lua_pushnumber(L, e->task[k].mean_pred);
        lua_setfield(L, -2, "mean_pred");
        if (!isnan(e->task[k].gauc)) {
            lua_pushnumber(L, e->task[k].gauc);
            lua_setfield(L, -2, "gauc");
            lua_pushinteger(L, (lua_Integer)e->task[k].groups);
            lua_setfield(L, -2, "groups");
        }
        lua_pushinteger(L, (lua_Integer)e->task[k].n);
        lua_setfield(L, -2, "rows");
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "tasks");
    if (e->nfreq) {
        lua_createtable(L, e->nfreq, 1);
        for (int k = 0; k < e->nfreq; k++) {
            const rill_freq_bucket *b = &e->freq[k];
            lua_createtable(L, 0, 5);
            lua_pushinteger(L, (lua_Integer)b->lo);
            lua_setfield(L, -2, "lo");
            if (b->hi != UINT64_MAX) {
                lua_pushinteger(L, (lua_Integer)b->hi);
                lua_setfield(L, -2, "hi");
            }
            lua_pushnumber(L, b->auc);
            lua_setfield(L, -2, "auc");
            lua_pushnumber(L, b->logloss);
            lua_setfield(L, -2, "logloss");
            lua_pushinteger(L, (lua_Integer)b->n);
            lua_setfield(L, -2, "rows");
            lua_rawseti(L, -2, k + 1);
        }
        lua_pushstring(L, e->freq_field);
        lua_setfield(L, -2, "field");
        lua_setfield(L, -2, "frequency");
    }
}

typedef struct {
    rill_value *data_v, *opts_v;
    rill_reader *train, *valid;
    FILE *pred;
    char msg[1024];
} call_res;

static void call_release(call_res *c)
{
    rill_reader_close(c->train);
    rill_reader_close(c->valid);
    if (c->pred && c->pred != stdout)
        fclose(c->pred);
    free_value(c->data_v);
    free_value(c->opts_v);
}

typedef struct {
    size_t cache;
    bool resume;
    rill_value *meta; /* {pipeline =, settings =}: text kept in the store */
    const char *init_from; /* an export whose parameters start the run */
} store_opts;

static int read_cache(rill_args *o, size_t *bytes, rill_err *err)
{
    const rill_value *v = rill_args_get(o, "cache");
    *bytes = 0;
    if (!v)
        return RILL_OK;
    if (v->type == RILL_V_NUM && v->u.num >= 0) {
        *bytes = (size_t)v->u.num;
        return RILL_OK;
    }
    if (v->type == RILL_V_STR && rill_parse_bytes(v->u.str, bytes) == 0)
        return RILL_OK;
    return rill_errf(err, RILL_EINVAL,
                     "%s: argument 'cache' must be a size such as \"2GiB\", \"512MiB\" or a "
                     "number of bytes",
                     o->who);
}

static int read_train_cfg(rill_args *o, rill_train_cfg *t, long *batch, long *threads,
                          store_opts *so, rill_err *err)
{
    static const char *const decays[] = {"none", "linear", "cosine", "exp", NULL};
    long epochs, seed, patience;
    bool has_optim, progress;
    rill_args sub;
    const char *run;
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = rill_args_int(o, "epochs", 1, 1, 1000000, &epochs, err)) ||
        (rc = rill_args_int(o, "batch", 2048, 1, 1 << 22, batch, err)) ||
        (rc = rill_args_int(o, "max_steps", 0, 0, 1L << 50, &t->max_steps, err)) ||
        (rc = rill_args_int(o, "warmup", 0, 0, 1L << 40, &t->schedule.warmup, err)) ||
        (rc = rill_args_enum(o, "decay", decays, 0, &t->schedule.decay, err)) ||
        (rc = rill_args_int(o, "decay_start", 0, 0, 1L << 40, &t->schedule.decay_start, err)) ||
        (rc = rill_args_int(o, "decay_steps", 10000, 1, 1L << 40, &t->schedule.decay_steps, err)) ||
        (rc = rill_args_num(o, "min_lr_scale", 0.0, 0.0, 1.0, &t->schedule.min_scale, err)) ||
        (rc = rill_args_num(o, "clip_norm", 0.0, 0.0, 1e12, &t->clip_norm, err)) ||
        (rc = rill_args_num(o, "diverge", 100.0, 0.0, 1e30, &t->diverge, err)) ||
        (rc = rill_args_int(o, "eval_every", 0, 0, 1L << 40, &t->eval_every, err)) ||
        (rc = rill_args_int(o, "early_stop", 0, 0, 1000000, &patience, err)) ||
        (rc = rill_args_num(o, "min_delta", 0.0, 0.0, 1.0, &t->min_delta, err)) ||
        (rc = rill_args_int(o, "seed", 1, 0, 1L << 53, &seed, err)) ||
        (rc = rill_args_int(o, "threads", 0, 0, 64, threads, err)) ||
        (rc = rill_args_str(o, "run", NULL, &run, err)) ||
        (rc = rill_args_bool(o, "progress", true, &progress, err)) ||
        (rc = rill_args_sub(o, "optim", &sub, &has_optim, err)) ||
        (rc = rill_args_int(o, "checkpoint_every", 1000, 0, 1L << 40, &t->checkpoint_every, err)) ||
        (rc = rill_args_int(o, "entanglement", 100, 0, 1L << 40, &t->entanglement_every, err)) ||
        (rc = rill_args_bool(o, "resume", false, &so->resume, err)) ||
        (rc = read_cache(o, &so->cache, err)))
        return rc;
    so->meta = (rill_value *)rill_args_get(o, "meta");
    if ((rc = rill_args_str(o, "init_from", NULL, &so->init_from, err)))
        return rc;
    if (t->diverge == 0)
        t->diverge = -1; /* diverge = 0: never on a finite loss */
    t->patience = (int)patience;
    t->epochs = (int)epochs;
    t->seed = (uint64_t)seed;
    t->run_dir = run;
    t->progress = progress;
    if (has_optim) {
        if ((rc = rill_optim_parse(&sub, false, &t->dense, err)))
            return rc;
    } else {
        t->dense = (rill_optim){.kind = RILL_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
                                .eps = 1e-8};
    }
    return RILL_OK;
}

/* Opens (resume) or creates the run's store, builds g on it and records or checks what the
 * run is: the graph's signature, the pipeline and its settings. */
static int open_run_store(rill_graph *g, const char *dir, const store_opts *so, uint64_t seed,
                          rill_err *err)
{
    rill_store_cfg sc = {.mode = so->resume ? RILL_STORE_WRITE : RILL_STORE_CREATE,
                         .cache_bytes = so->cache};
    rill_store *store;
    int rc = rill_store_open(&store, dir, &sc, err);
    if (rc)
        return rc;
    char *sig = rill_graph_signature(g);
    if (!sig) {
        rill_store_close(store);
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    }
    if (so->resume) {
        void *old = NULL;
        size_t len = 0;
        rc = rill_store_get_meta(store, "signature", &old, &len, err);
        if (rc == RILL_OK && (len != strlen(sig) || memcmp(old, sig, len) != 0))
            rc = rill_errf(err, RILL_ESTORE,
                           "%s was trained by another graph than this pipeline builds (the "
                           "nodes, their arguments or the data's columns differ): resume it with "
                           "the pipeline and settings it was made with",
                           dir);
        else if (rc == RILL_EOF)
            rc = rill_errf(err, RILL_ESTORE, "%s: the store records no graph: it was never "
                                             "checkpointed by rill train",
                           dir);
        free(old);
    } else {
        rc = rill_store_set_meta(store, "signature", sig, strlen(sig), err);
        for (int i = 0; !rc && so->meta && so->meta->type == RILL_V_MAP && i < so->meta->u.map.n; i++) {
            const rill_value *v = &so->meta->u.map.vals[i];
            if (v->type == RILL_V_STR)
                rc = rill_store_set_meta(store, so->meta->u.map.keys[i], v->u.str,
                                         strlen(v->u.str), err);
        }
        /* at once, so that a run killed before its first checkpoint can still be resumed */
        if (!rc)
            rc = rill_store_commit_meta(store, err);
    }
    free(sig);
    if (rc) {
        rill_store_close(store);
        return rc;
    }
    return rill_graph_build_on(g, seed, store, err); /* the graph now owns the store */
}

/* A finished run for evaluation: its store read-only (the copy at the best evaluation when
 * early stopping kept one), the graph built on it, the dense parameters restored. */
/* What evaluation and the analyses read: the run's validation part (its own file, or its
 * share of the data file), or the whole file at path when one is given, in file order. */
static int open_validation(data_spec *d, const char *path, rill_reader **r, rill_err *err)
{
    d->cfg.shuffle = 0;
    d->cfg.threaded = false;
    if (path) {
        d->cfg.path = path;
        d->cfg.part = RILL_PART_ALL;
    } else if (d->valid_path) {
        d->cfg.path = d->valid_path;
        d->cfg.part = RILL_PART_ALL;
    } else if (d->valid > 0) {
        d->cfg.part = RILL_PART_VALID;
    }
    return rill_reader_open(r, &d->cfg, err);
}

static int open_run_for_reading(rill_graph *g, const char *run, uint64_t seed, rill_err *err)
{
    char dir[4200], probe[4300];
    snprintf(dir, sizeof dir, "%s/best", run);
    snprintf(probe, sizeof probe, "%s/store.mdb", dir);
    if (access(probe, R_OK) != 0)
        snprintf(dir, sizeof dir, "%s", run);
    rill_store_cfg sc = {.mode = RILL_STORE_READ};
    rill_store *store;
    int rc = rill_store_open(&store, dir, &sc, err);
    if (rc)
        return rc;
    char *sig = rill_graph_signature(g);
    void *old = NULL;
    size_t len = 0;
    rc = sig ? rill_store_get_meta(store, "signature", &old, &len, err)
             : rill_errf(err, RILL_ENOMEM, "out of memory");
    if (rc == RILL_OK && (len != strlen(sig) || memcmp(old, sig, len) != 0))
        rc = rill_errf(err, RILL_ESTORE,
                       "%s was trained by another graph than this pipeline builds: evaluate it "
                       "with the pipeline and settings it was made with",
                       run);
    else if (rc == RILL_EOF)
        rc = rill_errf(err, RILL_ESTORE, "%s: the store records no graph", run);
    free(sig);
    free(old);
    if (rc) {
        rill_store_close(store);
        return rc;
    }
    if ((rc = rill_graph_build_on(g, seed, store, err)))
        return rc;
    void *state = NULL;
    size_t slen;
    rc = rill_checkpoint_read(g->store, g, &state, &slen, err);
    free(state);
    if (rc == RILL_EOF)
        return rill_errf(err, RILL_ESTORE, "%s has no checkpoint yet: nothing to evaluate", run);
    return rc;
}

/* core.train(graph, data, opts, where) -> result table */
static int l_train(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    const char *where = luaL_optstring(L, 4, "rill.train");
    call_res c = {0};
    rill_err err = {0};
    rill_train_cfg tc;
    rill_train_result res;
    data_spec d;
    long batch, threads;
    char who[300];
    snprintf(who, sizeof who, "rill.train at %s", where);
    c.opts_v = args_from(L, 3, who);
    snprintf(who, sizeof who, "rill.train at %s: data", where);
    c.data_v = args_from(L, 2, who);
    rill_args oa = {.map = c.opts_v}, da = {.map = c.data_v};
    snprintf(oa.who, sizeof oa.who, "rill.train at %s", where);
    snprintf(da.who, sizeof da.who, "rill.train at %s: data", where);
    rill_args_get(&oa, "graph");
    rill_args_get(&oa, "data");
    store_opts so = {0};
    int rc = read_train_cfg(&oa, &tc, &batch, &threads, &so, &err);
    if (!rc)
        rc = rill_args_check_unused(&oa, &err);
    if (!rc)
        rc = read_data_spec(&da, g->schema, (int)batch, tc.seed, &d, &err);
    if (!rc)
        rc = rill_pool_start((int)threads, &err);
    if (!rc && g->built)
        rc = rill_errf(&err, RILL_EINVAL,
                       "rill.train at %s: this graph has been trained or evaluated already; build "
                       "a new graph for a new run (or continue this one with rill resume)",
                       where);
    if (!rc)
        rc = rill_reader_open(&c.train, &d.cfg, &err);
    if (!rc && (d.valid > 0 || d.valid_path)) {
        rill_reader_cfg vc = d.cfg;
        vc.shuffle = 0;
        vc.threaded = false;
        if (d.valid_path) {
            vc.path = d.valid_path;
            vc.part = RILL_PART_ALL;
        } else {
            vc.part = RILL_PART_VALID;
        }
        rc = rill_reader_open(&c.valid, &vc, &err);
    }
    /* the store last: a start that fails on its settings or data leaves an old run as it was */
    if (!rc && tc.run_dir)
        rc = open_run_store(g, tc.run_dir, &so, tc.seed, &err);
    else if (!rc)
        rc = rill_graph_build(g, tc.seed, &err);
    tc.store = g->store;
    tc.resume = so.resume;
    /* a fine-tune starts from an export's parameters (not when resuming: the store has them) */
    if (!rc && so.init_from && !so.resume && (rc = rill_import(g, so.init_from, &err)))
        rill_err_prefix(&err, "rill.train at %s: init_from: ", where);
    if (!rc) {
        tc.stop = &rill_interrupted;
        rc = rill_train(g, &tc, c.train, c.valid, &res, &err);
        if (rc == RILL_EINTR)
            rc = RILL_OK; /* reported in the result */
    }
    call_release(&c);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    lua_createtable(L, 0, 12);
    lua_pushinteger(L, (lua_Integer)res.steps);
    lua_setfield(L, -2, "steps");
    lua_pushinteger(L, (lua_Integer)res.examples);
    lua_setfield(L, -2, "examples");
    lua_pushnumber(L, res.seconds);
    lua_setfield(L, -2, "seconds");
    lua_pushnumber(L, res.eval_seconds);
    lua_setfield(L, -2, "eval_seconds");
    lua_pushnumber(L, res.examples_per_s);
    lua_setfield(L, -2, "examples_per_s");
    lua_pushnumber(L, res.last_loss);
    lua_setfield(L, -2, "loss");
    lua_pushinteger(L, (lua_Integer)res.best_step);
    lua_setfield(L, -2, "best_step");
    lua_pushboolean(L, res.early_stopped);
    lua_setfield(L, -2, "early_stopped");
    lua_pushboolean(L, res.interrupted);
    lua_setfield(L, -2, "interrupted");
    lua_pushinteger(L, (lua_Integer)res.bad_lines);
    lua_setfield(L, -2, "bad_lines");
    if (g->store) {
        rill_store_info si;
        rill_store_get_info(g->store, &si);
        lua_pushinteger(L, (lua_Integer)si.last_checkpoint_bytes);
        lua_setfield(L, -2, "checkpoint_bytes");
        lua_pushnumber(L, si.last_checkpoint_seconds);
        lua_setfield(L, -2, "checkpoint_seconds");
        lua_pushinteger(L, (lua_Integer)si.checkpoints);
        lua_setfield(L, -2, "checkpoints");
        lua_pushinteger(L, (lua_Integer)si.checkpoint_bytes);
        lua_setfield(L, -2, "checkpoint_bytes_total");
        lua_pushinteger(L, (lua_Integer)si.checkpoint_rows);
        lua_setfield(L, -2, "checkpoint_rows_total");
        lua_pushnumber(L, si.checkpoint_seconds);
        lua_setfield(L, -2, "checkpoint_seconds_total");
    }
    if (res.last.ntasks) {
        push_eval(L, &res.last);
        lua_setfield(L, -2, "valid");
        push_eval(L, &res.best);
        lua_setfield(L, -2, "best");
    }
    return 1;
}

/* core.evaluate(graph, data, opts, where): opts.path (file to evaluate), opts.predict (a
 * file for probabilities, "-" for stdout), opts.batch, opts.threads -> result table */
static int l_evaluate(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    const char *where = luaL_optstring(L, 4, "rill.evaluate");
    call_res c = {0};
    rill_err err = {0};
    data_spec d;
    rill_eval_result res;
    char who[300];
    snprintf(who, sizeof who, "evaluate at %s", where);
    c.opts_v = args_from(L, 3, who);
    c.data_v = args_from(L, 2, who);
    rill_args oa = {.map = c.opts_v}, da = {.map = c.data_v};
    snprintf(oa.who, sizeof oa.who, "evaluate at %s", where);
    snprintf(da.who, sizeof da.who, "evaluate at %s: data", where);
    const char *path, *predict, *run, *exported;
    long batch, threads, seed;
    int rc;
    bool has_freq;
    rill_args fa;
    if ((rc = rill_args_str(&oa, "run", NULL, &run, &err)) ||
        (rc = rill_args_sub(&oa, "frequency", &fa, &has_freq, &err)) ||
        (rc = rill_args_str(&oa, "export", NULL, &exported, &err)) ||
        (rc = rill_args_str(&oa, "path", NULL, &path, &err)) ||
        (rc = rill_args_str(&oa, "predict", NULL, &predict, &err)) ||
        (rc = rill_args_int(&oa, "batch", 4096, 1, 1 << 22, &batch, &err)) ||
        (rc = rill_args_int(&oa, "threads", 0, 0, 64, &threads, &err)) ||
        (rc = rill_args_int(&oa, "seed", 1, 0, 1L << 53, &seed, &err)))
        goto done;
    if ((rc = rill_args_check_unused(&oa, &err)) ||
        (rc = read_data_spec(&da, g->schema, (int)batch, (uint64_t)seed, &d, &err)) ||
        (rc = rill_pool_start((int)threads, &err)))
        goto done;
    if (run && !g->built && (rc = open_run_for_reading(g, run, (uint64_t)seed, &err)))
        goto done;
    if (exported && !g->built &&
        ((rc = rill_graph_build(g, (uint64_t)seed, &err)) || (rc = rill_import(g, exported, &err))))
        goto done;
    if (!g->built && (rc = rill_graph_build(g, (uint64_t)seed, &err)))
        goto done;
    d.cfg.shuffle = 0;
    d.cfg.threaded = false;
    rill_reader_cfg train_cfg = d.cfg; /* the training part, where frequencies may be counted */
    if (d.valid_path)
        train_cfg.part = RILL_PART_ALL;
    else if (d.valid > 0)
        train_cfg.part = RILL_PART_TRAIN;
    if ((rc = open_validation(&d, path, &c.valid, &err)))
        goto done;
    if (predict) {
        c.pred = strcmp(predict, "-") == 0 ? stdout : fopen(predict, "w");
        if (!c.pred) {
            rc = rill_errf(&err, RILL_EIO, "%s: cannot write predictions: %s", predict,
                           strerror(errno));
            goto done;
        }
    }
    rill_freq_cfg fc = {0}, *fcp = NULL;
    if (has_freq) {
        const char *field, *from;
        long *bounds = NULL;
        int nb = 0;
        if ((rc = rill_args_str(&fa, "field", "", &field, &err)) ||
            (rc = rill_args_int_list(&fa, "bounds", 1, 1L << 50, &bounds, &nb, &err)) ||
            (rc = rill_args_str(&fa, "from", "table", &from, &err)) ||
            (rc = rill_args_check_unused(&fa, &err)))
            goto done;
        if (strcmp(from, "table") != 0 && strcmp(from, "data") != 0) {
            free(bounds);
            rc = rill_errf(&err, RILL_EINVAL,
                           "%s: 'from' must be \"table\" (the rows' use counts) or \"data\" "
                           "(the field's values counted in the training data), got \"%s\"",
                           fa.who, from);
            goto done;
        }
        if (strcmp(from, "data") == 0) {
            if (!field[0]) {
                free(bounds);
                rc = rill_errf(&err, RILL_EINVAL,
                               "%s: counting in the data needs a field, e.g. field = \"C3\"",
                               fa.who);
                goto done;
            }
            if ((rc = rill_reader_open(&c.train, &train_cfg, &err))) {
                free(bounds);
                goto done;
            }
            fc.count_from = c.train;
        }
        if (nb > RILL_MAX_FREQ - 1) {
            free(bounds);
            rc = rill_errf(&err, RILL_EINVAL, "%s: at most %d bounds", fa.who, RILL_MAX_FREQ - 1);
            goto done;
        }
        snprintf(fc.field, sizeof fc.field, "%s", field);
        for (int i = 0; i < nb; i++) {
            fc.bounds[i] = (uint64_t)bounds[i];
            if (i && fc.bounds[i] <= fc.bounds[i - 1])
                rc = rill_errf(&err, RILL_EINVAL, "%s: bounds must increase", fa.who);
        }
        fc.nbounds = nb;
        free(bounds);
        if (rc)
            goto done;
        fcp = &fc;
    }
    rc = rill_evaluate(g, c.valid, c.pred, fcp, &res, &err);
    if (rc && c.pred && c.pred != stdout && ferror(c.pred))
        prefix_path(&err, predict);
    if (!rc && c.pred && c.pred != stdout) {
        int e = close_checked(c.pred); /* a full disk shows here, not in the writes */
        c.pred = NULL;
        if (e)
            rc = rill_errf(&err, RILL_EIO, "%s: cannot write predictions: %s%s", predict,
                           strerror(e), disk_full(e));
    }
    if (!rc && c.pred == stdout)
        fflush(stdout); /* a failure stays in stdout's error flag: bin/rill reports it at exit */
done:
    call_release(&c);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    push_eval(L, &res);
    return 1;
}

/* g:save(path) and g:load(path); the graph is built first if it has not been */
static int params_file(lua_State *L, int (*fn)(rill_graph *, const char *, rill_err *))
{
    rill_graph *g = check_graph(L, 1);
    rill_err err = {0};
    if (!g->built && rill_graph_build(g, 1, &err))
        return luaL_error(L, "%s", err.msg);
    if (fn(g, luaL_checkstring(L, 2), &err))
        return luaL_error(L, "%s", err.msg);
    return 0;
}

static int l_save_params(lua_State *L)
{
    return params_file(L, rill_params_save);
}

static int l_load_params(lua_State *L)
{
    return params_file(L, rill_params_load);
}

/* Runs a generator into out ("-": stdout), written under a temporary name and renamed when
 * complete, so a refused setting or a failed write leaves no partial file. An out that exists
 * and is not a regular file (a pipe, /dev/stdout, a link to a device) is written directly:
 * renaming over it would replace it with a file. */
typedef int (*generator_fn)(const void *cfg, FILE *out, rill_err *err);

static int write_generated(const char *out, generator_fn gen, const void *cfg, rill_err *err)
{
    char tmp[4096];
    struct stat st;
    bool to_stdout = strcmp(out, "-") == 0;
    bool direct = to_stdout || (stat(out, &st) == 0 && !S_ISREG(st.st_mode));
    if (snprintf(tmp, sizeof tmp, "%s.tmp", out) >= (int)sizeof tmp)
        return rill_errf(err, RILL_EINVAL, "%.100s...: the name is too long", out);
    FILE *f = to_stdout ? stdout : fopen(direct ? out : tmp, "w");
    if (!f)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", out, strerror(errno));
    int rc = gen(cfg, f, err);
    if (rc && !to_stdout && ferror(f))
        prefix_path(err, out);
    if (!to_stdout) {
        int e = close_checked(f);
        if (e && !rc)
            rc = rill_errf(err, RILL_EIO, "%s: write failed: %s%s", out, strerror(e), disk_full(e));
        if (!rc && !direct && rename(tmp, out) != 0)
            rc = rill_errf(err, RILL_EIO, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
        if (rc && !direct)
            remove(tmp);
    }
    return rc;
}

static int gen_criteo(const void *cfg, FILE *out, rill_err *err)
{
    return rill_gen_criteo(cfg, out, err);
}

static int gen_multitask(const void *cfg, FILE *out, rill_err *err)
{
    return rill_gen_multitask(cfg, out, err);
}

/* core.gen_criteo{rows =, seed =, out =, max_cardinality =, interaction =, entity_clusters =} */
static int l_gen_criteo(lua_State *L)
{
    rill_value *v = args_from(L, 1, "rill.gen_criteo");
    rill_args a = {.map = v};
    snprintf(a.who, sizeof a.who, "rill.gen_criteo");
    rill_err err = {0};
    long rows, seed;
    double maxc, inter;
    long ecl;
    const char *out;
    int rc;
    if ((rc = rill_args_int(&a, "rows", 0, 0, 1L << 40, &rows, &err)) ||
        (rc = rill_args_int(&a, "seed", 1, 0, 1L << 53, &seed, &err)) ||
        (rc = rill_args_num(&a, "max_cardinality", 0, 0, 4294967296.0, &maxc, &err)) ||
        (rc = rill_args_num(&a, "interaction", -1, -1, 100, &inter, &err)) ||
        (rc = rill_args_int(&a, "entity_clusters", 0, 0, 1L << 32, &ecl, &err)) ||
        (rc = rill_args_str(&a, "out", NULL, &out, &err)) ||
        (rc = rill_args_check_unused(&a, &err)))
        goto done;
    if (rows < 1) {
        rc = rill_errf(&err, RILL_EINVAL, "rill.gen_criteo: rows must be at least 1");
        goto done;
    }
    if (!out) {
        rc = rill_errf(&err, RILL_EINVAL, "rill.gen_criteo: out (the file to write) is required");
        goto done;
    }
    rill_gen_cfg cfg = {.rows = (uint64_t)rows, .seed = (uint64_t)seed, .max_cardinality = maxc,
                        .interaction = inter, .entity_clusters = (uint64_t)ecl};
    rc = write_generated(out, gen_criteo, &cfg, &err);
done:
    free_value(v);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    return 0;
}

/* core.gen_multitask{rows =, seed =, sample =, out =, correlation =, rate1 =, rate2 =,
 * repeat_rate =, repeat_lift =}: absent settings take rill_gen_multitask_defaults'; their
 * ranges are checked by the generator, whose messages name them */
static int l_gen_multitask(lua_State *L)
{
    rill_value *v = args_from(L, 1, "rill.gen_multitask");
    rill_args a = {.map = v};
    snprintf(a.who, sizeof a.who, "rill.gen_multitask");
    rill_err err = {0};
    rill_gen_multitask_cfg cfg;
    rill_gen_multitask_defaults(&cfg);
    long rows, seed, sample;
    const char *out;
    int rc;
    if ((rc = rill_args_int(&a, "rows", 0, 0, 1L << 40, &rows, &err)) ||
        (rc = rill_args_int(&a, "seed", (long)cfg.seed, 0, 1L << 53, &seed, &err)) ||
        (rc = rill_args_int(&a, "sample", (long)cfg.sample, 0, 1L << 53, &sample, &err)) ||
        (rc = rill_args_num(&a, "correlation", cfg.correlation, -HUGE_VAL, HUGE_VAL,
                            &cfg.correlation, &err)) ||
        (rc = rill_args_num(&a, "rate1", cfg.rate1, -HUGE_VAL, HUGE_VAL, &cfg.rate1, &err)) ||
        (rc = rill_args_num(&a, "rate2", cfg.rate2, -HUGE_VAL, HUGE_VAL, &cfg.rate2, &err)) ||
        (rc = rill_args_num(&a, "repeat_rate", cfg.repeat_rate, -HUGE_VAL, HUGE_VAL,
                            &cfg.repeat_rate, &err)) ||
        (rc = rill_args_num(&a, "repeat_lift", cfg.repeat_lift, -HUGE_VAL, HUGE_VAL,
                            &cfg.repeat_lift, &err)) ||
        (rc = rill_args_str(&a, "out", NULL, &out, &err)) ||
        (rc = rill_args_check_unused(&a, &err)))
        goto done;
    if (rows < 1) {
        rc = rill_errf(&err, RILL_EINVAL, "rill.gen_multitask: rows must be at least 1");
        goto done;
    }
    if (!out) {
        rc = rill_errf(&err, RILL_EINVAL,
                       "rill.gen_multitask: out (the file to write) is required");
        goto done;
    }
    cfg.rows = (uint64_t)rows;
    cfg.seed = (uint64_t)seed;
    cfg.sample = (uint64_t)sample;
    rc = write_generated(out, gen_multitask, &cfg, &err);
done:
    free_value(v);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    return 0;
}

/* benchmark support */
static int l_gemm_record(lua_State *L)
{
    bool on = lua_toboolean(L, 1);
    if (on)
        rill_sgemm_record_reset();
    rill_sgemm_record(on);
    return 0;
}

static int l_gemm_replay(lua_State *L)
{
    double sec, flops;
    if (rill_sgemm_replay((int)luaL_optinteger(L, 1, 20), lua_toboolean(L, 2), &sec, &flops))
        return luaL_error(L, "gemm replay: out of memory");
    lua_pushnumber(L, sec);
    lua_pushnumber(L, flops);
    lua_pushnumber(L, rill_sgemm_recorded_seconds());
    return 3;
}

static int l_bench_gather(lua_State *L)
{
    rill_err err = {0};
    double rate;
    if (rill_table_bench_gather((int64_t)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2),
                                (uint64_t)luaL_checkinteger(L, 3), &rate, &err))
        return luaL_error(L, "%s", err.msg);
    lua_pushnumber(L, rate);
    return 1;
}

/* g:table_stats() -> { {name=, rows=, dim=, touched=, visits=}, ... } */
static int l_graph_table_stats(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    lua_createtable(L, g->ntables, 0);
    for (int i = 0; i < g->ntables; i++) {
        rill_table *t = g->tables[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, rill_table_name(t));
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, (lua_Integer)rill_table_rows(t));
        lua_setfield(L, -2, "rows");
        lua_pushinteger(L, rill_table_dim(t));
        lua_setfield(L, -2, "dim");
        lua_pushinteger(L, rill_table_stride(t));
        lua_setfield(L, -2, "stride");
        /* what an export writes per row: MLET's collapsed width */
        lua_pushinteger(L, g->table_proj && g->table_proj[i] ? g->table_proj[i]->cols
                                                             : rill_table_dim(t));
        lua_setfield(L, -2, "export_dim");
        lua_pushinteger(L, (lua_Integer)rill_table_touched(t));
        lua_setfield(L, -2, "touched");
        lua_pushinteger(L, (lua_Integer)rill_table_row_visits(t));
        lua_setfield(L, -2, "visits");
        rill_table_stats ts;
        rill_table_get_stats(t, &ts);
        lua_pushinteger(L, (lua_Integer)ts.hits);
        lua_setfield(L, -2, "hits");
        lua_pushinteger(L, (lua_Integer)ts.misses);
        lua_setfield(L, -2, "misses");
        lua_pushinteger(L, (lua_Integer)ts.evicted);
        lua_setfield(L, -2, "evicted");
        lua_pushinteger(L, (lua_Integer)ts.spilled);
        lua_setfield(L, -2, "spilled");
        lua_pushinteger(L, (lua_Integer)ts.cached);
        lua_setfield(L, -2, "cached");
        lua_pushinteger(L, (lua_Integer)ts.cache_capacity);
        lua_setfield(L, -2, "cache_capacity");
        lua_pushinteger(L, (lua_Integer)ts.sealed_reads);
        lua_setfield(L, -2, "sealed_reads");
        lua_pushinteger(L, (lua_Integer)ts.sealed_bytes);
        lua_setfield(L, -2, "sealed_bytes");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_seal_ns(lua_State *L)
{
    lua_pushnumber(L, rill_store_seal_ns((size_t)luaL_checkinteger(L, 1)));
    return 1;
}

static int l_crc32c_impl(lua_State *L)
{
    lua_pushstring(L, rill_crc32c_impl());
    return 1;
}

static int l_plain_tables(lua_State *L)
{
    rill_table_use_plain(lua_toboolean(L, 1));
    return 0;
}

static int l_peak_rss(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rill_peak_rss());
    return 1;
}

/* core.export(graph, {run =, out =, pipeline =, settings =}): the run's last checkpoint (or
 * its best copy) as .npy files and a manifest */
static int l_export(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    rill_value *v = args_from(L, 2, "rill export");
    rill_args a = {.map = v};
    snprintf(a.who, sizeof a.who, "rill export");
    rill_err err = {0};
    const char *run, *out, *pipeline, *settings;
    int rc;
    if (!(rc = rill_args_str(&a, "run", NULL, &run, &err)) &&
        !(rc = rill_args_str(&a, "out", NULL, &out, &err)) &&
        !(rc = rill_args_str(&a, "pipeline", NULL, &pipeline, &err)) &&
        !(rc = rill_args_str(&a, "settings", NULL, &settings, &err)) &&
        !(rc = rill_args_check_unused(&a, &err))) {
        if (!run || !out)
            rc = rill_errf(&err, RILL_EINVAL, "rill export: a run and --out DIR are needed");
        else if (g->built)
            rc = rill_errf(&err, RILL_EINVAL, "rill export: the graph must be fresh");
        else if (!(rc = open_run_for_reading(g, run, 1, &err)))
            rc = rill_export(g, out, pipeline, settings, &err);
    }
    free_value(v);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    return 0;
}

typedef struct {
    rill_spectrum sp;
    const rill_param *proj;
    float *buf;
    rill_table *t;
    uint64_t min_count; /* rows trained in fewer steps are left out */
} spectrum_ctx;

static int spectrum_row(void *ud, uint64_t id, const float *row)
{
    spectrum_ctx *c = ud;
    if (c->min_count && rill_table_count(c->t, id) < c->min_count)
        return 0;
    if (c->proj) { /* MLET: the collapsed row W1[i] W2 */
        int k = c->proj->rows, d = c->proj->cols;
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int i = 0; i < k; i++)
                acc += (double)row[i] * (double)c->proj->data[(size_t)i * d + j];
            c->buf[j] = (float)acc;
        }
        row = c->buf;
    }
    rill_spectrum_add(&c->sp, row);
    return 0;
}

/* core.hash_text(s) -> the 64-bit hash a categorical text value has in a batch */
static int l_hash_text(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushinteger(L, (lua_Integer)rill_hash_text(s, n));
    return 1;
}

/* Averages of attention weights over a data file: by the behaviour's position relative to
 * the target (1 = newest) and by (behaviour category, target category). */
typedef struct {
    uint64_t *key_b, *key_t;
    double *sum;
    uint64_t *count;
    size_t cap, n;
} pair_stats;

static void pair_free(pair_stats *p)
{
    free(p->key_b), free(p->key_t), free(p->sum), free(p->count);
}

static int pair_add(pair_stats *p, uint64_t b, uint64_t t, double w)
{
    if ((p->n + 1) * 2 > p->cap) {
        pair_stats g = {.cap = p->cap ? p->cap * 2 : 4096};
        g.key_b = malloc(g.cap * sizeof *g.key_b);
        g.key_t = malloc(g.cap * sizeof *g.key_t);
        g.sum = malloc(g.cap * sizeof *g.sum);
        g.count = calloc(g.cap, sizeof *g.count);
        if (!g.key_b || !g.key_t || !g.sum || !g.count) {
            pair_free(&g);
            return RILL_ENOMEM;
        }
        for (size_t i = 0; i < p->cap; i++)
            if (p->count[i]) {
                size_t h = (size_t)rill_mix64(p->key_b[i] ^ rill_mix64(p->key_t[i])) & (g.cap - 1);
                while (g.count[h])
                    h = (h + 1) & (g.cap - 1);
                g.key_b[h] = p->key_b[i], g.key_t[h] = p->key_t[i];
                g.sum[h] = p->sum[i], g.count[h] = p->count[i];
            }
        g.n = p->n;
        pair_free(p);
        *p = g;
    }
    size_t h = (size_t)rill_mix64(b ^ rill_mix64(t)) & (p->cap - 1);
    while (p->count[h] && (p->key_b[h] != b || p->key_t[h] != t))
        h = (h + 1) & (p->cap - 1);
    if (!p->count[h]) {
        p->key_b[h] = b, p->key_t[h] = t, p->sum[h] = 0;
        p->n++;
    }
    p->sum[h] += w;
    p->count[h]++;
    return RILL_OK;
}

/* Pushes the entries of p as a list of {first =, target =, value = mean, count =}. */
static void push_pairs(lua_State *L, const pair_stats *p, const char *first, const char *value)
{
    lua_createtable(L, (int)p->n, 0);
    int k = 0;
    for (size_t i = 0; i < p->cap; i++)
        if (p->count[i]) {
            lua_createtable(L, 0, 4);
            lua_pushinteger(L, (lua_Integer)p->key_b[i]);
            lua_setfield(L, -2, first);
            lua_pushinteger(L, (lua_Integer)p->key_t[i]);
            lua_setfield(L, -2, "target");
            lua_pushnumber(L, p->sum[i] / (double)p->count[i]);
            lua_setfield(L, -2, value);
            lua_pushinteger(L, (lua_Integer)p->count[i]);
            lua_setfield(L, -2, "count");
            lua_rawseti(L, -2, ++k);
        }
}

/* core.gates(graph, data, { run = }) -> { { gate =, experts = { {expert =, mean =}, ... },
 *   rows = }, ... }: every gate node's mean mixture weight of each of its experts over the
 *   validation part (AME: which sets a task leans on) */
static int l_gates(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    call_res c = {0};
    rill_err err = {0};
    data_spec d;
    c.opts_v = args_from(L, 3, "rill analyze gates");
    c.data_v = args_from(L, 2, "rill analyze gates");
    rill_args oa = {.map = c.opts_v}, da = {.map = c.data_v};
    snprintf(oa.who, sizeof oa.who, "rill analyze gates");
    snprintf(da.who, sizeof da.who, "rill analyze gates: data");
    const char *run;
    int rc, ngates = 0;
    rill_node **gates = NULL;
    double *sum = NULL;
    size_t *first = NULL, total = 0;
    uint64_t rows = 0;
    rill_arena arena;
    rill_arena_init(&arena, 0);
    if ((rc = rill_args_str(&oa, "run", NULL, &run, &err)) ||
        (rc = rill_args_check_unused(&oa, &err)) ||
        (rc = read_data_spec(&da, g->schema, 1024, 1, &d, &err)))
        goto done;
    if (!g->built && (rc = open_run_for_reading(g, run, 1, &err)))
        goto done;
    gates = calloc((size_t)g->nnodes, sizeof *gates);
    first = calloc((size_t)g->nnodes + 1, sizeof *first);
    if (!gates || !first) {
        rc = rill_errf(&err, RILL_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->ops == &rill_node_gate) {
            first[ngates] = total;
            gates[ngates++] = g->nodes[i];
            total += (size_t)g->nodes[i]->nin - 1; /* its experts */
        }
    if (ngates == 0) {
        rc = rill_errf(&err, RILL_EINVAL, "rill analyze gates: the run's graph has no gate node");
        goto done;
    }
    if (!(sum = calloc(total, sizeof *sum))) {
        rc = rill_errf(&err, RILL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = open_validation(&d, NULL, &c.valid, &err)))
        goto done;
    const rill_batch *b;
    int got;
    while (!rc && (got = rill_reader_next(c.valid, &b, &err)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        rill_arena_reset(&arena);
        rill_step s = {.batch = b, .B = b->B, .training = false, .seed = g->seed, .arena = &arena};
        if ((rc = rill_graph_forward(g, &s, NULL, &err)))
            break;
        for (int k = 0; k < ngates; k++) {
            int E;
            const float *w = rill_gate_weights(gates[k], &E);
            for (int r = 0; r < b->B; r++)
                for (int e = 0; e < E; e++)
                    sum[first[k] + (size_t)e] += (double)w[(size_t)r * E + e];
        }
        rows += (uint64_t)b->B;
    }
done:
    rill_arena_free(&arena);
    call_release(&c);
    if (rc) {
        free(gates), free(first), free(sum);
        return luaL_error(L, "%s", err.msg);
    }
    lua_createtable(L, ngates, 0);
    for (int k = 0; k < ngates; k++) {
        const rill_node *n = gates[k];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, n->name);
        lua_setfield(L, -2, "gate");
        lua_pushinteger(L, (lua_Integer)rows);
        lua_setfield(L, -2, "rows");
        lua_createtable(L, n->nin - 1, 0);
        for (int e = 0; e + 1 < n->nin; e++) {
            lua_createtable(L, 0, 2);
            /* through stop_gradient: name the expert behind it */
            const rill_node *x = n->in[1 + e];
            if (x->ops == &rill_node_stop_gradient)
                x = x->in[0];
            lua_pushstring(L, x->name);
            lua_setfield(L, -2, "expert");
            lua_pushnumber(L, rows ? sum[first[k] + (size_t)e] / (double)rows : (double)NAN);
            lua_setfield(L, -2, "mean");
            lua_rawseti(L, -2, e + 1);
        }
        lua_setfield(L, -2, "experts");
        lua_rawseti(L, -2, k + 1);
    }
    free(gates), free(first), free(sum);
    return 1;
}

/* core.attention(graph, data, { run =, node =, target_cat =, sequence_cat = })
 *   -> { positions = { {position =, mean =, lift = mean of weight x the row's behaviours,
 *                       count =}, ... },
 *        pairs = { {behaviour =, target =, mean =, count =}, ... },
 *        position_targets = { {position =, target =, lift =, count =}, ... } }
 *   over the validation part */
static int l_attention(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    call_res c = {0};
    rill_err err = {0};
    data_spec d;
    c.opts_v = args_from(L, 3, "rill analyze correlation");
    c.data_v = args_from(L, 2, "rill analyze correlation");
    rill_args oa = {.map = c.opts_v}, da = {.map = c.data_v};
    snprintf(oa.who, sizeof oa.who, "rill analyze correlation");
    snprintf(da.who, sizeof da.who, "rill analyze correlation: data");
    const char *run, *node_name, *tcat, *scat;
    int rc;
    float *w = NULL;
    double *psum = NULL, *plift = NULL;
    uint64_t *pcount = NULL;
    pair_stats ps = {0}, pt = {0}; /* pt: (position, target category), weight x behaviours */
    rill_arena arena;
    rill_arena_init(&arena, 0);
    if ((rc = rill_args_str(&oa, "run", NULL, &run, &err)) ||
        (rc = rill_args_str(&oa, "node", NULL, &node_name, &err)) ||
        (rc = rill_args_str(&oa, "target_cat", NULL, &tcat, &err)) ||
        (rc = rill_args_str(&oa, "sequence_cat", NULL, &scat, &err)) ||
        (rc = rill_args_check_unused(&oa, &err)) ||
        (rc = read_data_spec(&da, g->schema, 1024, 1, &d, &err)))
        goto done;
    if (!g->built && (rc = open_run_for_reading(g, run, 1, &err)))
        goto done;
    rill_node *att = node_name ? rill_graph_find(g, node_name) : NULL;
    if (!att || (att->ops != &rill_node_tim && att->ops != &rill_node_din) ||
        att->nin != 1 || att->in[0]->ops != &rill_node_embed_seq) {
        rc = rill_errf(&err, RILL_EINVAL, "rill analyze correlation: '%s' is not a tim or din node "
                       "over an embed_seq", node_name ? node_name : "(none)");
        goto done;
    }
    const rill_node *seq = att->in[0], *ids = seq->in[0];
    int Lseq = 0;
    rill_embed_seq_mask(seq, &Lseq);
    int sf = rill_schema_cat(g->schema, ids->layout.field_names[1]);
    int tcf = tcat ? rill_schema_cat(g->schema, tcat) : -1, scf = scat ? rill_schema_cat(g->schema, scat) : -1;
    if ((tcat && tcf < 0) || (scat && scf < 0)) {
        rc = rill_errf(&err, RILL_EINVAL, "rill analyze correlation: no categorical field '%s'",
                       tcat && tcf < 0 ? tcat : scat);
        goto done;
    }
    if ((rc = open_validation(&d, NULL, &c.valid, &err)))
        goto done;
    w = malloc(1024 * (size_t)Lseq * sizeof *w);
    psum = calloc((size_t)Lseq + 1, sizeof *psum);
    plift = calloc((size_t)Lseq + 1, sizeof *plift);
    pcount = calloc((size_t)Lseq + 1, sizeof *pcount);
    if (!w || !psum || !plift || !pcount) {
        rc = rill_errf(&err, RILL_ENOMEM, "out of memory");
        goto done;
    }
    const rill_batch *b;
    int got;
    while (!rc && (got = rill_reader_next(c.valid, &b, &err)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        rill_arena_reset(&arena);
        rill_step s = {.batch = b, .B = b->B, .training = false, .seed = g->seed, .arena = &arena};
        if ((rc = rill_graph_forward(g, &s, NULL, &err)))
            break;
        rill_seq_weights(att, b->B, w);
        const float *mask = rill_embed_seq_mask(seq, &Lseq);
        for (int r = 0; r < b->B && !rc; r++) {
            uint32_t a = b->cat[sf].off[r], e = b->cat[sf].off[r + 1];
            uint32_t n = e - a, kept = n < (uint32_t)Lseq ? n : (uint32_t)Lseq;
            int pad = Lseq - (int)kept;
            bool cats = tcf >= 0 && scf >= 0 &&
                        b->cat[scf].off[r + 1] - b->cat[scf].off[r] == n &&
                        b->cat[tcf].off[r + 1] > b->cat[tcf].off[r];
            for (int j = pad; j < Lseq; j++) {
                if (!(mask[(size_t)r * Lseq + j] > 0.5f))
                    continue;
                double wt = w[(size_t)r * Lseq + j];
                psum[Lseq - j] += wt;
                plift[Lseq - j] += wt * (double)kept; /* against a uniform 1 / kept */
                pcount[Lseq - j]++;
                if (cats) {
                    uint64_t bc = b->cat[scf].val[b->cat[scf].off[r] + (n - kept) + (uint32_t)(j - pad)];
                    uint64_t tc = b->cat[tcf].val[b->cat[tcf].off[r]];
                    if (pair_add(&ps, bc, tc, wt) ||
                        pair_add(&pt, (uint64_t)(Lseq - j), tc, wt * (double)kept))
                        rc = rill_errf(&err, RILL_ENOMEM, "out of memory");
                }
            }
        }
    }
done:
    rill_arena_free(&arena);
    call_release(&c);
    if (rc) {
        free(w), free(psum), free(plift), free(pcount);
        pair_free(&ps);
        pair_free(&pt);
        return luaL_error(L, "%s", err.msg);
    }
    lua_createtable(L, 0, 2);
    lua_createtable(L, Lseq, 0);
    for (int p = 1; p <= Lseq; p++) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, p);
        lua_setfield(L, -2, "position");
        lua_pushnumber(L, pcount[p] ? psum[p] / (double)pcount[p] : (double)NAN);
        lua_setfield(L, -2, "mean");
        lua_pushnumber(L, pcount[p] ? plift[p] / (double)pcount[p] : (double)NAN);
        lua_setfield(L, -2, "lift");
        lua_pushinteger(L, (lua_Integer)pcount[p]);
        lua_setfield(L, -2, "count");
        lua_rawseti(L, -2, p);
    }
    lua_setfield(L, -2, "positions");
    push_pairs(L, &ps, "behaviour", "mean");
    lua_setfield(L, -2, "pairs");
    push_pairs(L, &pt, "position", "lift");
    lua_setfield(L, -2, "position_targets");
    free(w), free(psum), free(plift), free(pcount);
    pair_free(&ps);
    pair_free(&pt);
    return 1;
}

/* Pushes one spectrum result {name =, rows =, dim =, ia =, sv =} onto the Lua stack. */
static void push_spectrum(lua_State *L, const char *name, uint64_t rows, int d, double ia,
                          const double *sv)
{
    lua_createtable(L, 0, 5);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)rows);
    lua_setfield(L, -2, "rows");
    lua_pushinteger(L, d);
    lua_setfield(L, -2, "dim");
    lua_pushnumber(L, ia);
    lua_setfield(L, -2, "ia");
    lua_createtable(L, d, 0);
    for (int k = 0; rows > 0 && k < d; k++) {
        lua_pushnumber(L, sv[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "sv");
}

/* The row of table i for id as the spectrum sees it (MLET: collapsed), into out (its dim
 * floats); zeros where the table has no such row. */
static void spectrum_row_of(rill_graph *g, int i, uint64_t id, float *out)
{
    const rill_param *proj = g->table_proj ? g->table_proj[i] : NULL;
    int d = proj ? proj->cols : rill_table_dim(g->tables[i]);
    const float *row = rill_table_peek(g->tables[i], id);
    if (!row) {
        memset(out, 0, (size_t)d * sizeof *out);
    } else if (proj) {
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < proj->rows; k++)
                acc += (double)row[k] * (double)proj->data[(size_t)k * d + j];
            out[j] = (float)acc;
        }
    } else {
        memcpy(out, row, (size_t)d * sizeof *out);
    }
}

typedef struct {
    rill_graph *g;
    const int *members;
    int nm;
    rill_spectrum sp;
    float *buf;
    uint64_t min_count;
} joint_ctx;

static int joint_row(void *ud, uint64_t id, const float *row)
{
    joint_ctx *c = ud;
    (void)row;
    if (c->min_count && rill_table_count(c->g->tables[c->members[0]], id) < c->min_count)
        return 0;
    float *p = c->buf;
    for (int m = 0; m < c->nm; m++) {
        int i = c->members[m];
        const rill_param *proj = c->g->table_proj ? c->g->table_proj[i] : NULL;
        spectrum_row_of(c->g, i, id, p);
        p += proj ? proj->cols : rill_table_dim(c->g->tables[i]);
    }
    rill_spectrum_add(&c->sp, c->buf);
    return 0;
}

/* The joint spectrum of tables read side by side: each id of the first table's rows, its
 * rows in all of them concatenated (multi-embedding: the field's M sets as one embedding). */
static int joint_spectrum(lua_State *L, rill_graph *g, const char *name, const int *members,
                          int nm, uint64_t min_count, rill_err *err)
{
    joint_ctx c = {.g = g, .members = members, .nm = nm, .min_count = min_count};
    int d = 0;
    for (int m = 0; m < nm; m++) {
        const rill_param *proj = g->table_proj ? g->table_proj[members[m]] : NULL;
        d += proj ? proj->cols : rill_table_dim(g->tables[members[m]]);
    }
    double *sv = malloc((size_t)d * sizeof *sv), ia = 0;
    c.buf = malloc((size_t)d * sizeof *c.buf);
    int rc = !sv || !c.buf ? rill_errf(err, RILL_ENOMEM, "out of memory")
                           : rill_spectrum_init(&c.sp, d, err);
    if (!rc)
        rc = rill_table_each(g->tables[members[0]], joint_row, &c, err);
    if (!rc && c.sp.n > 0)
        rc = rill_spectrum_finish(&c.sp, sv, &ia, err);
    if (!rc)
        push_spectrum(L, name, c.sp.n, d, ia, sv);
    rill_spectrum_free(&c.sp);
    free(sv);
    free(c.buf);
    return rc;
}

static int table_index(rill_graph *g, const char *name)
{
    for (int i = 0; i < g->ntables; i++)
        if (strcmp(rill_table_name(g->tables[i]), name) == 0)
            return i;
    return -1;
}

/* core.spectrum(graph, {run =, joint = {{name =, tables = {...}}, ...}, tables = true,
 *                        min_count = 0 (rows trained in fewer steps are left out)})
 *   -> { {name =, rows =, dim =, ia =, sv = {...}}, ... }: every table (unless tables =
 *   false), then each joint group */
static int l_spectrum(lua_State *L)
{
    rill_graph *g = check_graph(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "run");
    const char *run = lua_tostring(L, -1);
    rill_err err = {0};
    int rc = RILL_OK;
    if (!run)
        return luaL_error(L, "rill analyze spectrum: which run?");
    if (!g->built && (rc = open_run_for_reading(g, run, 1, &err)))
        return luaL_error(L, "%s", err.msg);
    lua_getfield(L, 2, "tables");
    bool each_table = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "min_count");
    lua_Integer min_count = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (min_count < 0)
        return luaL_error(L, "rill analyze spectrum: --min-count must be 0 or more");
    lua_createtable(L, g->ntables, 0);
    int out = lua_gettop(L), nout = 0;
    for (int i = 0; i < g->ntables && !rc && each_table; i++) {
        rill_table *t = g->tables[i];
        const rill_param *proj = g->table_proj ? g->table_proj[i] : NULL;
        int d = proj ? proj->cols : rill_table_dim(t);
        spectrum_ctx c = {.proj = proj, .t = t, .min_count = (uint64_t)min_count};
        double *sv = malloc((size_t)d * sizeof *sv), ia = 0;
        c.buf = malloc((size_t)d * sizeof(float));
        if (!sv || !c.buf || (rc = rill_spectrum_init(&c.sp, d, &err))) {
            free(sv);
            free(c.buf);
            if (!rc)
                rc = rill_errf(&err, RILL_ENOMEM, "out of memory");
            break;
        }
        rc = rill_table_each(t, spectrum_row, &c, &err);
        if (!rc && c.sp.n > 0)
            rc = rill_spectrum_finish(&c.sp, sv, &ia, &err);
        if (!rc) {
            push_spectrum(L, rill_table_name(t), c.sp.n, d, ia, sv);
            lua_rawseti(L, out, ++nout);
        }
        rill_spectrum_free(&c.sp);
        free(sv);
        free(c.buf);
    }
    if (!rc && lua_getfield(L, 2, "joint") == LUA_TTABLE) {
        int joint = lua_gettop(L);
        lua_Integer ng = luaL_len(L, joint);
        for (lua_Integer k = 1; k <= ng && !rc; k++) {
            lua_geti(L, joint, k);
            lua_getfield(L, -1, "name");
            const char *name = lua_tostring(L, -1);
            lua_getfield(L, -2, "tables");
            int nm = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 0;
            int *members = calloc((size_t)(nm > 0 ? nm : 1), sizeof *members);
            if (!name || nm < 1 || !members)
                rc = rill_errf(&err, RILL_EINVAL,
                               "core.spectrum: joint[%lld] needs a name and a list of tables",
                               (long long)k);
            for (int m = 0; m < nm && !rc; m++) {
                lua_geti(L, -1, m + 1);
                const char *tn = lua_tostring(L, -1);
                members[m] = tn ? table_index(g, tn) : -1;
                if (members[m] < 0)
                    rc = rill_errf(&err, RILL_EINVAL, "core.spectrum: no table '%s'",
                                   tn ? tn : "(not a string)");
                lua_pop(L, 1);
            }
            lua_pop(L, 3);
            if (!rc && (rc = joint_spectrum(L, g, name, members, nm, (uint64_t)min_count,
                                            &err)) == RILL_OK)
                lua_rawseti(L, out, ++nout);
            free(members);
        }
        lua_settop(L, out);
    } else {
        lua_settop(L, out);
    }
    if (rc)
        return luaL_error(L, "%s", err.msg);
    return 1;
}

/* core.store_digest(run) -> hex digest of the last checkpoint's parameters */
static int l_store_digest(lua_State *L)
{
    rill_store_cfg sc = {.mode = RILL_STORE_READ};
    rill_store *s;
    rill_err err = {0};
    uint64_t d = 0;
    if (rill_store_open(&s, luaL_checkstring(L, 1), &sc, &err))
        return luaL_error(L, "%s", err.msg);
    int rc = rill_store_digest(s, &d, &err);
    rill_store_close(s);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)d);
    lua_pushstring(L, hex);
    return 1;
}

typedef struct {
    lua_State *L;
    int tables, dense, nt, nd;
} inspect_ctx;

static int inspect_entry(void *ud, const rill_store_entry *e)
{
    inspect_ctx *c = ud;
    lua_State *L = c->L;
    lua_createtable(L, 0, 6);
    lua_pushstring(L, e->name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)e->rows);
    lua_setfield(L, -2, e->is_table ? "rows" : "values");
    lua_pushinteger(L, (lua_Integer)e->bytes);
    lua_setfield(L, -2, "bytes");
    if (e->is_table) {
        lua_pushinteger(L, e->dim);
        lua_setfield(L, -2, "dim");
        lua_pushinteger(L, e->stride);
        lua_setfield(L, -2, "stride");
        lua_pushstring(L, e->optim);
        lua_setfield(L, -2, "optim");
        lua_rawseti(L, c->tables, ++c->nt);
    } else {
        lua_rawseti(L, c->dense, ++c->nd);
    }
    return 0;
}

/* core.inspect(run, check) -> {tables =, dense =, step =, ...} */
static int l_inspect(lua_State *L)
{
    const char *run = luaL_checkstring(L, 1);
    bool check = lua_toboolean(L, 2);
    rill_store_cfg sc = {.mode = RILL_STORE_READ};
    rill_store *s;
    rill_err err = {0};
    if (rill_store_open(&s, run, &sc, &err))
        return luaL_error(L, "%s", err.msg);
    lua_createtable(L, 0, 12);
    lua_newtable(L);
    int tables = lua_gettop(L);
    lua_newtable(L);
    int dense = lua_gettop(L);
    inspect_ctx c = {L, tables, dense, 0, 0};
    int rc = rill_store_list(s, inspect_entry, &c, &err);
    lua_setfield(L, -3, "dense");
    lua_setfield(L, -2, "tables");
    rill_store_info info;
    rill_store_get_info(s, &info);
    lua_pushinteger(L, (lua_Integer)info.map_size);
    lua_setfield(L, -2, "map_size");
    lua_pushinteger(L, (lua_Integer)info.used_bytes);
    lua_setfield(L, -2, "used_bytes");
    void *blob = NULL;
    size_t len = 0;
    if (!rc) {
        int r2 = rill_checkpoint_read(s, NULL, &blob, &len, &err);
        rill_train_state ts;
        if (r2 == RILL_OK && rill_train_state_info(blob, len, &ts) == RILL_OK) {
            lua_pushinteger(L, (lua_Integer)ts.step);
            lua_setfield(L, -2, "step");
            lua_pushinteger(L, (lua_Integer)ts.examples);
            lua_setfield(L, -2, "examples");
            lua_pushinteger(L, ts.epoch + 1);
            lua_setfield(L, -2, "epoch");
            lua_pushboolean(L, ts.finished);
            lua_setfield(L, -2, "finished");
            lua_pushboolean(L, ts.early_stopped);
            lua_setfield(L, -2, "early_stopped");
            if (ts.last.ntasks) {
                push_eval(L, &ts.last);
                lua_setfield(L, -2, "valid");
            }
        } else if (r2 != RILL_EOF && r2 != RILL_OK) {
            rc = r2;
        }
        free(blob);
    }
    if (!rc && check)
        rc = rill_store_verify(s, &err);
    rill_store_close(s);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    return 1;
}

/* core.store_meta(run, key) -> the text kept under key in the run's store, or nil */
static int l_store_meta(lua_State *L)
{
    const char *run = luaL_checkstring(L, 1), *key = luaL_checkstring(L, 2);
    rill_store_cfg sc = {.mode = RILL_STORE_READ};
    rill_store *s;
    rill_err err = {0};
    if (rill_store_open(&s, run, &sc, &err))
        return luaL_error(L, "%s", err.msg);
    void *val = NULL;
    size_t len = 0;
    int rc = rill_store_get_meta(s, key, &val, &len, &err);
    rill_store_close(s);
    if (rc == RILL_EOF)
        return 0;
    if (rc)
        return luaL_error(L, "%s", err.msg);
    lua_pushlstring(L, val, len);
    free(val);
    return 1;
}

static int l_is_node(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, NODE_MT) != NULL);
    return 1;
}

/* ---- Files and processes for the Lua side, without a shell ----
 * The commands' paths come from the user and may hold any byte (spaces, quotes, ';', '$(...)',
 * newlines, a leading '-'), so they go to system calls as they are, never through sh. These
 * raise an error naming the path and the OS error instead of returning nil, msg: a result the
 * caller forgets to look at is how a full disk went unnoticed. The messages carry no Lua
 * position (lua_error, not luaL_error): a line of lua/rill/ says nothing to a user. */

static int raise_errno(lua_State *L, int e, const char *fmt, ...)
{
    char msg[8400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = (int)sizeof msg - 1;
    snprintf(msg + n, sizeof msg - (size_t)n, ": %s%s", strerror(e), disk_full(e));
    lua_pushstring(L, msg);
    return lua_error(L);
}

/* core.write_file(path, text): the file holds text, or an error names path and the OS error
 * (a write or the close that flushes it: on a full disk it is usually the close) */
static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    FILE *f = fopen(path, "wb");
    if (!f)
        return raise_errno(L, errno, "cannot write %s", path);
    errno = 0;
    int e = len && fwrite(text, 1, len, f) != len ? (errno ? errno : EIO) : 0;
    int ec = close_checked(f);
    if (!e)
        e = ec;
    if (e)
        return raise_errno(L, e, "cannot write %s", path);
    return 0;
}

/* core.mkdir(path): mkdir -p: each component in turn, an existing directory is fine (a
 * symbolic link to one too), anything else that exists is an error */
static int l_mkdir(lua_State *L)
{
    size_t n;
    const char *dir = luaL_checklstring(L, 1, &n);
    char buf[4096];
    if (n == 0)
        return luaL_error(L, "cannot create a directory with an empty name");
    if (n >= sizeof buf) {
        lua_pushfstring(L, "cannot create directory %s: the name is too long", dir);
        return lua_error(L);
    }
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        if (p[-1] != '/') { /* "a//b" and "a/" have empty components */
            *p = 0;
            if (mkdir(buf, 0777) != 0) {
                int e = errno;
                struct stat st;
                /* EEXIST, or EROFS/EACCES for a directory that is there already */
                if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
                    if (e == EEXIST) {
                        lua_pushfstring(L, "cannot create directory %s: it exists and is not a "
                                           "directory", buf);
                        return lua_error(L);
                    }
                    return raise_errno(L, e, "cannot create directory %s", buf);
                }
            }
            *p = c;
        }
        if (!c)
            break;
    }
    lua_pushboolean(L, 1);
    return 1;
}

#define TREE_MAX_DEPTH 256

/* Removes name (relative to the directory at) and, for a directory, everything in it. Symbolic links are
 * removed, never followed: fstatat and openat with AT_SYMLINK_NOFOLLOW/O_NOFOLLOW, so a link
 * put in place between the two cannot lead out of the tree either. path (len bytes used, room
 * for cap) is the entry's name for messages; on failure it names the entry that failed and
 * errno says why. */
static int remove_at(int at, const char *name, char *path, size_t len, size_t cap, int depth)
{
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(at, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    if (depth >= TREE_MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int rc = 0, e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                rc = -1;
                e = errno;
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t n = strlen(de->d_name);
        if (len + 1 + n >= cap) {
            rc = -1;
            e = ENAMETOOLONG;
            break;
        }
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, n + 1);
        if (remove_at(dirfd(d), de->d_name, path, len + 1 + n, cap, depth + 1)) {
            rc = -1;
            e = errno;
            break; /* path names the entry that failed */
        }
        path[len] = 0;
    }
    closedir(d);
    if (rc) {
        errno = e;
        return -1;
    }
    return unlinkat(at, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

/* core.remove_tree(path): rm -rf path without a shell; true if something was removed, false
 * if nothing was there. A symbolic link is removed, not what it points to. Refuses "/", ".",
 * ".." and names ending in them. */
static int l_remove_tree(lua_State *L)
{
    size_t n;
    const char *given = luaL_checklstring(L, 1, &n);
    char path[8192];
    if (n == 0 || n >= sizeof path) {
        lua_pushfstring(L, "cannot remove '%s': %s", given, n ? "the name is too long" : "an empty name");
        return lua_error(L);
    }
    memcpy(path, given, n + 1);
    while (n > 1 && path[n - 1] == '/') /* "dir/" would follow a link named dir */
        path[--n] = 0;
    const char *last = strrchr(path, '/');
    last = last ? last + 1 : path;
    if (strcmp(path, "/") == 0 || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
        lua_pushfstring(L, "refusing to remove '%s'", given);
        return lua_error(L);
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            lua_pushboolean(L, 0);
            return 1;
        }
        return raise_errno(L, errno, "cannot remove %s", path);
    }
    char name[8192];
    memcpy(name, path, n + 1);
    if (remove_at(AT_FDCWD, name, path, n, sizeof path, 0))
        return raise_errno(L, errno, "cannot remove %s", path);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.dir_entries(path) -> the names in directory path (no "." and ".."), unsorted, or nil
 * when nothing is there; other failures (not a directory, no permission) raise */
static int l_dir_entries(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return raise_errno(L, errno, "cannot read directory %s", path);
    }
    lua_newtable(L);
    int i = 0, e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            e = errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        lua_pushstring(L, de->d_name); /* a memory error here leaks d: only on out of memory */
        lua_rawseti(L, -2, ++i);
    }
    closedir(d);
    if (e)
        return raise_errno(L, e, "cannot read directory %s", path);
    return 1;
}

/* core.file_type(path) -> "file", "directory", "link", "other", or nil when nothing is there
 * (lstat: a symbolic link is "link", whatever it points to) */
static int l_file_type(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return raise_errno(L, errno, "cannot look at %s", path);
    }
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory"
                      : S_ISLNK(st.st_mode) ? "link" : "other");
    return 1;
}

/* core.mkdtemp(prefix) -> a new directory prefix .. "XXXXXX" with the X's replaced */
static int l_mkdtemp(lua_State *L)
{
    const char *prefix = luaL_checkstring(L, 1);
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%sXXXXXX", prefix) >= (int)sizeof buf)
        return luaL_error(L, "core.mkdtemp: the prefix is too long");
    if (!mkdtemp(buf))
        return raise_errno(L, errno, "cannot create a directory %sXXXXXX", prefix);
    lua_pushstring(L, buf);
    return 1;
}

/* core.spawn({ program, arg, ... } [, { stdout = FILE, stderr = FILE, append = false }]) -> pid
 * Starts program (a path: no PATH search, no shell) with exactly these arguments; stdout and
 * stderr go to the files when given (truncated, or appended to with append = true; the same
 * name for both makes one file, as 2>&1 does). The child inherits the environment and the
 * process group, so a Ctrl-C reaches it too. core.wait collects it. */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2); /* the options at 2 (maybe nil), whatever is pushed after */
    int argc = (int)lua_rawlen(L, 1);
    if (argc < 1 || argc > 4096)
        return luaL_error(L, "core.spawn: argv must be a list of 1 to 4096 strings, got %d", argc);
    luaL_checkstack(L, argc + 8, "core.spawn: too many arguments");
    /* userdata: collected by the GC whatever error is raised below */
    char **argv = lua_newuserdatauv(L, (size_t)(argc + 1) * sizeof *argv, 0);
    for (int i = 0; i < argc; i++) {
        lua_rawgeti(L, 1, i + 1); /* stays on the stack: keeps a converted number's string */
        if (!lua_isstring(L, -1))
            return luaL_error(L, "core.spawn: argv[%d] is a %s, expected a string", i + 1,
                              luaL_typename(L, -1));
        argv[i] = (char *)lua_tostring(L, -1);
    }
    argv[argc] = NULL;
    const char *out = NULL, *err = NULL;
    bool append = false;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "stdout");
        out = lua_tostring(L, -1);
        lua_getfield(L, 2, "stderr");
        err = lua_tostring(L, -1);
        lua_getfield(L, 2, "append");
        append = lua_toboolean(L, -1);
    }
    int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return raise_errno(L, rc, "cannot start %s", argv[0]);
    if (out)
        rc = posix_spawn_file_actions_addopen(&fa, 1, out, flags, 0666);
    if (!rc && err && out && strcmp(err, out) == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    else if (!rc && err)
        rc = posix_spawn_file_actions_addopen(&fa, 2, err, flags, 0666);
    pid_t pid = 0;
    if (!rc)
        rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        if (out || err)
            return raise_errno(L, rc, "cannot start %s (output to %s)", argv[0], out ? out : err);
        return raise_errno(L, rc, "cannot start %s", argv[0]);
    }
    lua_pushinteger(L, pid);
    return 1;
}

/* core.wait([pid]) -> pid, "exit", status | pid, "signal", number: waits for that child, or
 * for any when pid is absent; nil when there is no child to wait for */
static int l_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_optinteger(L, 1, -1);
    int status;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (got < 0) {
        if (errno == ECHILD)
            return 0;
        return raise_errno(L, errno, "waiting for process %d", (int)pid);
    }
    lua_pushinteger(L, got);
    if (WIFSIGNALED(status)) {
        lua_pushstring(L, "signal");
        lua_pushinteger(L, WTERMSIG(status));
    } else {
        lua_pushstring(L, "exit");
        lua_pushinteger(L, WEXITSTATUS(status));
    }
    return 3;
}

/* core.gen_criteo_truth{rows =, seed =, from =}: AUC of the planted model's true logit and of
 * its first-order part on rows [from, rows) of that generated file (the ceiling a model can
 * reach there, and what one without interactions can at most) */
static int l_gen_criteo_truth(lua_State *L)
{
    rill_value *v = args_from(L, 1, "rill.gen_criteo_truth");
    rill_args a = {.map = v};
    snprintf(a.who, sizeof a.who, "rill.gen_criteo_truth");
    rill_err err = {0};
    long rows, seed, from;
    double maxc, inter;
    long ecl;
    float *z = NULL, *z1 = NULL, *y = NULL;
    double auc = NAN, auc1 = NAN;
    int rc;
    if ((rc = rill_args_int(&a, "rows", 0, 1, 1L << 32, &rows, &err)) ||
        (rc = rill_args_int(&a, "seed", 1, 0, 1L << 53, &seed, &err)) ||
        (rc = rill_args_int(&a, "from", 0, 0, 1L << 32, &from, &err)) ||
        (rc = rill_args_num(&a, "max_cardinality", 0, 0, 4294967296.0, &maxc, &err)) ||
        (rc = rill_args_num(&a, "interaction", -1, -1, 100, &inter, &err)) ||
        (rc = rill_args_int(&a, "entity_clusters", 0, 0, 1L << 32, &ecl, &err)) ||
        (rc = rill_args_check_unused(&a, &err)))
        goto done;
    if (from >= rows) {
        rc = rill_errf(&err, RILL_EINVAL, "rill.gen_criteo_truth: from must be below rows");
        goto done;
    }
    z = malloc((size_t)rows * sizeof *z);
    z1 = malloc((size_t)rows * sizeof *z1);
    y = malloc((size_t)rows * sizeof *y);
    if (!z || !z1 || !y) {
        rc = rill_errf(&err, RILL_ENOMEM, "rill.gen_criteo_truth: out of memory");
        goto done;
    }
    /* the labels come from the rows themselves: generate them into memory and read column 0 */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    rill_gen_cfg cfg = {.rows = (uint64_t)rows, .seed = (uint64_t)seed, .max_cardinality = maxc,
                        .interaction = inter, .entity_clusters = (uint64_t)ecl};
    rc = mem ? rill_gen_criteo_truth(&cfg, mem, z, z1, &err)
             : rill_errf(&err, RILL_ENOMEM, "rill.gen_criteo_truth: out of memory");
    if (mem && fclose(mem) != 0 && !rc) /* text is complete only after a good close */
        rc = rill_errf(&err, RILL_ENOMEM, "rill.gen_criteo_truth: out of memory");
    if (!rc) {
        const char *p = text;
        for (long i = 0; i < rows; i++) {
            y[i] = p[0] == '1' ? 1.0f : 0.0f;
            p = strchr(p, '\n') + 1;
        }
        auc = rill_auc(z + from, y + from, (size_t)(rows - from));
        auc1 = rill_auc(z1 + from, y + from, (size_t)(rows - from));
    }
    free(text);
done:
    free(z);
    free(z1);
    free(y);
    free_value(v);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    lua_pushnumber(L, auc);
    lua_pushnumber(L, auc1);
    return 2;
}

/* core.gen_zipf{rows =, ids =, exponent =, seed =, out =} (the store benchmark's data) */
static int l_gen_zipf(lua_State *L)
{
    rill_value *v = args_from(L, 1, "rill.gen_zipf");
    rill_args a = {.map = v};
    snprintf(a.who, sizeof a.who, "rill.gen_zipf");
    rill_err err = {0};
    long rows, ids, seed;
    double ex;
    const char *out;
    int rc;
    if (!(rc = rill_args_int(&a, "rows", 1000, 1, 1L << 40, &rows, &err)) &&
        !(rc = rill_args_int(&a, "ids", 1000, 4, 1L << 40, &ids, &err)) &&
        !(rc = rill_args_num(&a, "exponent", 1.05, 0.5, 3, &ex, &err)) &&
        !(rc = rill_args_int(&a, "seed", 1, 0, 1L << 53, &seed, &err)) &&
        !(rc = rill_args_str(&a, "out", NULL, &out, &err)) && !(rc = rill_args_check_unused(&a, &err))) {
        FILE *f = out ? fopen(out, "w") : NULL;
        rill_gen_zipf_cfg cfg = {(uint64_t)rows, (uint64_t)ids, (uint64_t)seed, ex};
        rc = f ? rill_gen_zipf_field(&cfg, f, &err)
               : rill_errf(&err, RILL_EIO, "rill.gen_zipf: cannot write %s", out ? out : "(no out)");
        int e = f ? close_checked(f) : 0;
        if (e && !rc)
            rc = rill_errf(&err, RILL_EIO, "%s: write failed: %s%s", out, strerror(e), disk_full(e));
    }
    free_value(v);
    if (rc)
        return luaL_error(L, "%s", err.msg);
    return 0;
}

static int l_kinds(lua_State *L)
{
    lua_newtable(L);
    for (int i = 0; rill_node_kind_at(i); i++) {
        lua_pushstring(L, rill_node_kind_at(i)->name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_interrupted(lua_State *L)
{
    lua_pushboolean(L, rill_interrupted != 0);
    return 1;
}

static void create_meta(lua_State *L, const char *name, const luaL_Reg *methods,
                        lua_CFunction gc, lua_CFunction tostring)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__close");
    }
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

int luaopen_rill_core(lua_State *L)
{
    static const luaL_Reg schema_m[] = {{"columns", l_schema_columns},
                                        {"check_header", l_schema_check_header},
                                        {NULL, NULL}};
    static const luaL_Reg graph_m[] = {{"add", l_graph_add},
                                       {"node", l_graph_node},
                                       {"nodes", l_graph_nodes},
                                       {"param_count", l_graph_param_count},
                                       {"table_stats", l_graph_table_stats},
                                       {NULL, NULL}};
    static const luaL_Reg node_m[] = {{"name", l_node_name},
                                      {"kind", l_node_kind},
                                      {"where", l_node_where},
                                      {"shape", l_node_shape},
                                      {NULL, NULL}};
    static const luaL_Reg core[] = {{"schema", l_schema},
                                    {"graph", l_graph_new},
                                    {"train", l_train},
                                    {"evaluate", l_evaluate},
                                    {"save_params", l_save_params},
                                    {"load_params", l_load_params},
                                    {"gen_criteo", l_gen_criteo},
                                    {"gen_criteo_truth", l_gen_criteo_truth},
                                    {"gen_multitask", l_gen_multitask},
                                    {"gen_zipf", l_gen_zipf},
                                    {"kinds", l_kinds},
                                    {"mkdir", l_mkdir},
                                    {"remove_tree", l_remove_tree},
                                    {"write_file", l_write_file},
                                    {"dir_entries", l_dir_entries},
                                    {"file_type", l_file_type},
                                    {"mkdtemp", l_mkdtemp},
                                    {"spawn", l_spawn},
                                    {"wait", l_wait},
                                    {"is_node", l_is_node},
                                    {"store_meta", l_store_meta},
                                    {"store_digest", l_store_digest},
                                    {"inspect", l_inspect},
                                    {"export", l_export},
                                    {"spectrum", l_spectrum},
                                    {"attention", l_attention},
                                    {"gates", l_gates},
                                    {"hash_text", l_hash_text},
                                    {"gemm_record", l_gemm_record},
                                    {"gemm_replay", l_gemm_replay},
                                    {"bench_gather", l_bench_gather},
                                    {"peak_rss", l_peak_rss},
                                    {"plain_tables", l_plain_tables},
                                    {"seal_ns", l_seal_ns},
                                    {"crc32c_impl", l_crc32c_impl},
                                    {"interrupted", l_interrupted},
                                    {NULL, NULL}};
    create_meta(L, SCHEMA_MT, schema_m, l_schema_gc, NULL);
    create_meta(L, GRAPH_MT, graph_m, l_graph_gc, NULL);
    create_meta(L, NODE_MT, node_m, NULL, l_node_tostring);
    luaL_newlib(L, core);
    lua_pushstring(L, RILL_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
