/* The Lua module's C side: require "rill" loads lua/rill/init.lua, which loads this as
 * "rill.core". This file opens the module and holds what every part of the binding shares:
 * Lua values to rill_value, userdata that own C memory while a function may raise, and the
 * small functions of no area (benchmarks, kinds, hashing). Each area's functions are in a
 * file of their own (bind_graph.c: schemas, graphs, nodes; bind_run.c: training, evaluation,
 * export; bind_analysis.c; bind_fs.c; bind_gen.c). core/ and store/ never touch the Lua API;
 * errors from the engine already name the node and script line. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "blas.h"
#include "crc32c.h"
#include "memlimit.h"
#include "nodes.h"
#include "store.h"
#include "util.h"

#include "rill_lua.h"

volatile sig_atomic_t rill_interrupted;

#define ARGS_MT "rill.Args"
#define OWNED_MT "rill.Owned"

/* ---- Lua values to rill_value ---- */

static int to_value(lua_State *L, int idx, rill_value *out, char *msg, size_t cap,
                    const char *path, int depth);

/* The table at idx into *out. Every value is made part of the tree before it is filled in, so
 * when a conversion fails or raises partway (the stack check, a memory error) freeing the
 * root frees everything made so far. */
static int table_to_value(lua_State *L, int idx, rill_value *out, char *msg, size_t cap,
                          const char *path, int depth)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "tables nested too deeply");
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    bool has_keys = false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!(lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n))
            has_keys = true;
    }
    char sub[160];
    if (!has_keys) {
        *out = (rill_value){.type = RILL_V_LIST};
        for (lua_Integer i = 1; i <= n; i++) {
            snprintf(sub, sizeof sub, "%s[%lld]", path, (long long)i);
            if (rill_list_push(out, (rill_value){.type = RILL_V_NIL})) {
                snprintf(msg, cap, "%s: out of memory", sub);
                return -1;
            }
            lua_rawgeti(L, idx, i);
            int rc = to_value(L, -1, &out->u.list.items[out->u.list.n - 1], msg, cap, sub,
                              depth + 1);
            lua_pop(L, 1);
            if (rc)
                return rc;
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
            return -1;
        }
        const char *key = lua_tostring(L, -2);
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        int rc = -1;
        /* a table's keys are distinct, so the key is new: its value is the last */
        if (rill_map_set(out, key, (rill_value){.type = RILL_V_NIL}))
            snprintf(msg, cap, "%s: out of memory", sub);
        else
            rc = to_value(L, -1, &out->u.map.vals[out->u.map.n - 1], msg, cap, sub, depth + 1);
        lua_pop(L, 1);
        if (rc) {
            lua_pop(L, 1);
            return rc;
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

/* ---- userdata that own C memory ---- */

static int l_args_gc(lua_State *L)
{
    rill_args *a = luaL_checkudata(L, 1, ARGS_MT);
    if (a->map) {
        rill_value_free(a->map);
        free(a->map);
        a->map = NULL;
    }
    return 0;
}

rill_args *rill_lua_args(lua_State *L, int idx, const char *who)
{
    char msg[512] = "";
    idx = lua_absindex(L, idx);
    /* the box first, empty, so that whatever is raised below it is collected with its value */
    rill_args *a = lua_newuserdatauv(L, sizeof *a, 0);
    memset(a, 0, sizeof *a);
    luaL_setmetatable(L, ARGS_MT);
    snprintf(a->who, sizeof a->who, "%s", who);
    rill_value *v = malloc(sizeof *v);
    if (!v)
        luaL_error(L, "out of memory");
    *v = rill_value_map();
    a->map = v; /* the tree is built in place: a raise during the conversion frees it too */
    if (lua_isnoneornil(L, idx))
        return a;
    int rc = lua_type(L, idx) == LUA_TTABLE ? to_value(L, idx, v, msg, sizeof msg, who, 0) : -1;
    if (rc) {
        rill_value_free(v); /* what the conversion made before it failed */
        *v = rill_value_map();
    } else if (v->type == RILL_V_LIST && v->u.list.n == 0) {
        rill_value_free(v); /* {}: no settings */
        *v = rill_value_map();
    } else if (v->type != RILL_V_MAP) {
        rill_value_free(v);
        *v = rill_value_map();
        rc = -1;
        snprintf(msg, sizeof msg, "%s: expected a table of named settings", who);
    }
    if (rc) {
        if (!msg[0])
            snprintf(msg, sizeof msg, "%s: expected a table of settings", who);
        luaL_error(L, "%s", msg);
    }
    return a;
}

rill_value *rill_lua_args_take(rill_args *a)
{
    rill_value *v = a->map;
    a->map = NULL;
    return v;
}

/* data aligned as Lua aligns a userdata's memory (LUAI_MAXALIGN): enough for any result */
typedef struct {
    void (*release)(void *p);
    union {
        LUAI_MAXALIGN;
    } data[];
} owned_box;

static int l_owned_gc(lua_State *L)
{
    owned_box *b = luaL_checkudata(L, 1, OWNED_MT);
    if (b->release)
        b->release(b->data);
    b->release = NULL;
    return 0;
}

void *rill_lua_owned(lua_State *L, size_t size, void (*release)(void *p))
{
    owned_box *b = lua_newuserdatauv(L, sizeof *b + size, 0);
    b->release = NULL; /* set once the memory is zeroed: nothing to release before */
    memset(b->data, 0, size);
    b->release = release;
    luaL_setmetatable(L, OWNED_MT);
    return b->data;
}

int rill_lua_raise(lua_State *L, const rill_err *err)
{
    /* no position in front (lua_error, not luaL_error): it would be the line of lua/rill/ that
     * called the C function, which says nothing to a user; the message names its own file:line,
     * node or argument, and the Lua side adds the script's line where it has one */
    lua_pushstring(L, err->msg);
    return lua_error(L);
}

void rill_lua_set_int(lua_State *L, const char *key, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

void rill_lua_set_num(lua_State *L, const char *key, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

void rill_lua_push_eval(lua_State *L, const rill_eval_result *e)
{
    lua_createtable(L, 0, 6);
    if (e->ntasks > 0) {
        rill_lua_set_num(L, "auc", e->task[0].auc);
        rill_lua_set_num(L, "logloss", e->task[0].logloss);
        if (!isnan(e->task[0].gauc))
            rill_lua_set_num(L, "gauc", e->task[0].gauc);
    }
    rill_lua_set_int(L, "rows", (lua_Integer)e->rows);
    rill_lua_set_num(L, "seconds", e->seconds);
    lua_createtable(L, e->ntasks, 0);
    for (int k = 0; k < e->ntasks; k++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, e->task[k].task);
        lua_setfield(L, -2, "task");
        lua_pushstring(L, e->task[k].label);
        lua_setfield(L, -2, "label");
        rill_lua_set_num(L, "auc", e->task[k].auc);
        rill_lua_set_num(L, "logloss", e->task[k].logloss);
        rill_lua_set_num(L, "pos_rate", e->task[k].pos_rate);
        rill_lua_set_num(L, "mean_pred", e->task[k].mean_pred);
        if (!isnan(e->task[k].gauc)) {
            rill_lua_set_num(L, "gauc", e->task[k].gauc);
            rill_lua_set_int(L, "groups", (lua_Integer)e->task[k].groups);
        }
        rill_lua_set_int(L, "rows", (lua_Integer)e->task[k].n);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "tasks");
    if (e->nfreq) {
        lua_createtable(L, e->nfreq, 1);
        for (int k = 0; k < e->nfreq; k++) {
            const rill_freq_bucket *b = &e->freq[k];
            lua_createtable(L, 0, 5);
            rill_lua_set_int(L, "lo", (lua_Integer)b->lo);
            if (b->hi != UINT64_MAX)
                rill_lua_set_int(L, "hi", (lua_Integer)b->hi);
            rill_lua_set_num(L, "auc", b->auc);
            rill_lua_set_num(L, "logloss", b->logloss);
            rill_lua_set_int(L, "rows", (lua_Integer)b->n);
            lua_rawseti(L, -2, k + 1);
        }
        lua_pushstring(L, e->freq_field);
        lua_setfield(L, -2, "field");
        lua_setfield(L, -2, "frequency");
    }
}

/* ---- functions of no area ---- */

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

/* bf16() -> the oneDNN kernel bf16 products run on, or nil and why this CPU cannot */
static int l_bf16(lua_State *L)
{
    const char *kernel = NULL;
    rill_err err = {0};
    if (rill_bf16_check(&kernel, &err)) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_pushstring(L, kernel && *kernel ? kernel : "?");
    return 1;
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

/* The larger-than-memory benchmark and tests: one memory limit per process at a time. */
static rill_memlimit memlimit;

/* memlimit_enter(bytes) -> true | nil, why */
static int l_memlimit_enter(lua_State *L)
{
    lua_Integer bytes = luaL_checkinteger(L, 1);
    luaL_argcheck(L, bytes > 0, 1, "a limit in bytes");
    if (memlimit.version)
        return luaL_error(L, "memlimit_enter: the process is in a limited group already");
    rill_err err = {0};
    if (rill_memlimit_enter(&memlimit, (uint64_t)bytes, &err)) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_pushinteger(L, memlimit.version);
    return 2;
}

static int l_memlimit_peak(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rill_memlimit_peak(&memlimit));
    return 1;
}

static int l_memlimit_leave(lua_State *L)
{
    rill_err err = {0};
    if (rill_memlimit_leave(&memlimit, &err))
        return rill_lua_raise(L, &err);
    return 0;
}

static int l_proc_io(lua_State *L)
{
    rill_proc_io io;
    rill_proc_io_get(&io);
    lua_createtable(L, 0, 5);
    rill_lua_set_int(L, "read_bytes", (lua_Integer)io.read_bytes);
    rill_lua_set_int(L, "write_bytes", (lua_Integer)io.write_bytes);
    rill_lua_set_int(L, "major_faults", (lua_Integer)io.major_faults);
    rill_lua_set_int(L, "minor_faults", (lua_Integer)io.minor_faults);
    rill_lua_set_int(L, "max_rss", (lua_Integer)io.max_rss);
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

/* core.hash_text(s) -> the 64-bit hash a categorical text value has in a batch */
static int l_hash_text(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushinteger(L, (lua_Integer)rill_hash_text(s, n));
    return 1;
}

static int l_is_node(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, NODE_MT) != NULL);
    return 1;
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

void rill_lua_create_meta(lua_State *L, const char *name, const luaL_Reg *methods,
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
    static const luaL_Reg core[] = {{"kinds", l_kinds},
                                    {"is_node", l_is_node},
                                    {"hash_text", l_hash_text},
                                    {"gemm_record", l_gemm_record},
                                    {"gemm_replay", l_gemm_replay},
                                    {"bf16", l_bf16},
                                    {"bench_gather", l_bench_gather},
                                    {"peak_rss", l_peak_rss},
                                    {"plain_tables", l_plain_tables},
                                    {"seal_ns", l_seal_ns},
                                    {"crc32c_impl", l_crc32c_impl},
                                    {"memlimit_enter", l_memlimit_enter},
                                    {"memlimit_peak", l_memlimit_peak},
                                    {"memlimit_leave", l_memlimit_leave},
                                    {"proc_io", l_proc_io},
                                    {"interrupted", l_interrupted},
                                    {NULL, NULL}};
    rill_lua_create_meta(L, ARGS_MT, (const luaL_Reg[]){{NULL, NULL}}, l_args_gc, NULL);
    rill_lua_create_meta(L, OWNED_MT, (const luaL_Reg[]){{NULL, NULL}}, l_owned_gc, NULL);
    luaL_newlib(L, core);
    rill_lua_open_graph(L);
    rill_lua_open_run(L);
    rill_lua_open_analysis(L);
    rill_lua_open_fs(L);
    rill_lua_open_gen(L);
    lua_pushstring(L, RILL_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
