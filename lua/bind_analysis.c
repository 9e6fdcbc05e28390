/* The binding's analyses and store inspection: core.gates, core.attention, core.spectrum,
 * core.store_digest, core.inspect, core.store_meta (core/analysis/ does the work). Results
 * are owned by userdata while they are pushed. */
#include <stdio.h>
#include <stdlib.h>

#include "analysis.h"
#include "bind.h"
#include "inspect.h"
#include "table_spectrum.h"

/* An analysis's data (at 2) and options (at 3) converted, and room for its result owned by a
 * userdata (release frees it): all before anything runs, so a raise leaks nothing. */
static void *analysis_call(lua_State *L, const char *who, rill_args **data, rill_args **opts,
                           size_t size, void (*release)(void *))
{
    *opts = rill_lua_args(L, 3, who);
    *data = rill_lua_args(L, 2, who);
    snprintf((*data)->who, sizeof (*data)->who, "%s: data", who);
    return rill_lua_owned(L, size, release);
}

static void gates_release(void *p)
{
    rill_gates_result_free(p);
}

/* core.gates(graph, data, { run = }) -> { { gate =, experts = { {expert =, mean =}, ... },
 *   rows = }, ... }: every gate node's mean mixture weight of each of its experts over the
 *   validation part (AME: which sets a task leans on) */
static int l_gates(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    rill_args *data, *opts;
    rill_gates_result *res =
        analysis_call(L, "rill analyze gates", &data, &opts, sizeof *res, gates_release);
    rill_err err = {0};
    if (rill_analyze_gates(g, data, opts, res, &err))
        return rill_lua_raise(L, &err);
    lua_createtable(L, res->ngates, 0);
    for (int k = 0; k < res->ngates; k++) {
        const rill_gate_means *m = &res->gate[k];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, m->gate);
        lua_setfield(L, -2, "gate");
        rill_lua_set_int(L, "rows", (lua_Integer)res->rows);
        lua_createtable(L, m->nexperts, 0);
        for (int e = 0; e < m->nexperts; e++) {
            lua_createtable(L, 0, 2);
            lua_pushstring(L, m->expert[e]);
            lua_setfield(L, -2, "expert");
            rill_lua_set_num(L, "mean", m->mean[e]);
            lua_rawseti(L, -2, e + 1);
        }
        lua_setfield(L, -2, "experts");
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/* Pushes pairs as a list of {first =, target =, value = mean, count =}. */
static void push_pairs(lua_State *L, const rill_pair_mean *p, size_t n, const char *first,
                       const char *value)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        rill_lua_set_int(L, first, (lua_Integer)p[i].first);
        rill_lua_set_int(L, "target", (lua_Integer)p[i].target);
        rill_lua_set_num(L, value, p[i].mean);
        rill_lua_set_int(L, "count", (lua_Integer)p[i].count);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void attention_release(void *p)
{
    rill_attention_result_free(p);
}

/* core.attention(graph, data, { run =, node =, target_cat =, sequence_cat = })
 *   -> { positions = { {position =, mean =, lift = mean of weight x the row's behaviours,
 *                       count =}, ... },
 *        pairs = { {behaviour =, target =, mean =, count =}, ... },
 *        position_targets = { {position =, target =, lift =, count =}, ... } }
 *   over the validation part */
static int l_attention(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    rill_args *data, *opts;
    rill_attention_result *res = analysis_call(L, "rill analyze correlation", &data, &opts,
                                               sizeof *res, attention_release);
    rill_err err = {0};
    if (rill_analyze_attention(g, data, opts, res, &err))
        return rill_lua_raise(L, &err);
    lua_createtable(L, 0, 3);
    lua_createtable(L, res->L, 0);
    for (int p = 1; p <= res->L; p++) {
        lua_createtable(L, 0, 4);
        rill_lua_set_int(L, "position", p);
        rill_lua_set_num(L, "mean", res->mean[p]);
        rill_lua_set_num(L, "lift", res->lift[p]);
        rill_lua_set_int(L, "count", (lua_Integer)res->count[p]);
        lua_rawseti(L, -2, p);
    }
    lua_setfield(L, -2, "positions");
    push_pairs(L, res->pairs, res->npairs, "behaviour", "mean");
    lua_setfield(L, -2, "pairs");
    push_pairs(L, res->position_targets, res->nposition_targets, "position", "lift");
    lua_setfield(L, -2, "position_targets");
    return 1;
}

typedef struct {
    rill_spectrum_result *r;
    int n;
} spectra;

static void spectra_release(void *p)
{
    spectra *s = p;
    rill_spectrum_results_free(s->r, s->n);
}

/* core.spectrum(graph, {run =, joint = {{name =, tables = {...}}, ...}, tables = true,
 *                        min_count = 0 (rows trained in fewer steps are left out)})
 *   -> { {name =, rows =, dim =, ia =, sv = {...}}, ... }: every table (unless tables =
 *   false), then each joint group */
static int l_spectrum(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    rill_args *a = rill_lua_args(L, 2, "core.spectrum");
    spectra *s = rill_lua_owned(L, sizeof *s, spectra_release);
    rill_err err = {0};
    if (rill_analyze_spectrum(g, a, &s->r, &s->n, &err))
        return rill_lua_raise(L, &err);
    lua_createtable(L, s->n, 0);
    for (int i = 0; i < s->n; i++) {
        const rill_spectrum_result *r = &s->r[i];
        lua_createtable(L, 0, 5);
        lua_pushstring(L, r->name);
        lua_setfield(L, -2, "name");
        rill_lua_set_int(L, "rows", (lua_Integer)r->rows);
        rill_lua_set_int(L, "dim", r->dim);
        rill_lua_set_num(L, "ia", r->ia);
        lua_createtable(L, r->dim, 0);
        for (int k = 0; r->rows > 0 && k < r->dim; k++) {
            lua_pushnumber(L, r->sv[k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_setfield(L, -2, "sv");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* core.store_digest(run) -> hex digest of the last checkpoint's parameters */
static int l_store_digest(lua_State *L)
{
    const char *run = luaL_checkstring(L, 1);
    rill_err err = {0};
    uint64_t d;
    if (rill_inspect_digest(run, &d, &err))
        return rill_lua_raise(L, &err);
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)d);
    lua_pushstring(L, hex);
    return 1;
}

static void inspect_release(void *p)
{
    rill_inspect_result_free(p);
}

/* Pushes the tables and dense parameters of res as two lists, tables below dense. */
static void push_entries(lua_State *L, const rill_inspect_result *res)
{
    lua_newtable(L);
    lua_newtable(L);
    int nt = 0, nd = 0;
    for (int i = 0; i < res->nentries; i++) {
        const rill_store_entry *e = &res->entry[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, e->name);
        lua_setfield(L, -2, "name");
        rill_lua_set_int(L, e->is_table ? "rows" : "values", (lua_Integer)e->rows);
        rill_lua_set_int(L, "bytes", (lua_Integer)e->bytes);
        if (e->is_table) {
            rill_lua_set_int(L, "dim", e->dim);
            rill_lua_set_int(L, "stride", e->stride);
            lua_pushstring(L, e->optim);
            lua_setfield(L, -2, "optim");
            lua_rawseti(L, -3, ++nt);
        } else {
            lua_rawseti(L, -2, ++nd);
        }
    }
}

/* core.inspect(run, check) -> {tables =, dense =, step =, ...} */
static int l_inspect(lua_State *L)
{
    const char *run = luaL_checkstring(L, 1);
    bool check = lua_toboolean(L, 2);
    rill_inspect_result *res = rill_lua_owned(L, sizeof *res, inspect_release);
    rill_err err = {0};
    if (rill_inspect_run(run, check, res, &err))
        return rill_lua_raise(L, &err);
    lua_createtable(L, 0, 12);
    push_entries(L, res);
    lua_setfield(L, -3, "dense");
    lua_setfield(L, -2, "tables");
    rill_lua_set_int(L, "map_size", (lua_Integer)res->info.map_size);
    rill_lua_set_int(L, "used_bytes", (lua_Integer)res->info.used_bytes);
    if (res->has_state) {
        const rill_train_state *ts = &res->state;
        rill_lua_set_int(L, "step", (lua_Integer)ts->step);
        rill_lua_set_int(L, "examples", (lua_Integer)ts->examples);
        rill_lua_set_int(L, "epoch", ts->epoch + 1);
        lua_pushboolean(L, ts->finished);
        lua_setfield(L, -2, "finished");
        lua_pushboolean(L, ts->early_stopped);
        lua_setfield(L, -2, "early_stopped");
        if (ts->last.ntasks) {
            rill_lua_push_eval(L, &ts->last);
            lua_setfield(L, -2, "valid");
        }
    }
    return 1;
}

typedef struct {
    void *val;
} meta_text;

static void meta_release(void *p)
{
    free(((meta_text *)p)->val);
}

/* core.store_meta(run, key) -> the text kept under key in the run's store, or nil */
static int l_store_meta(lua_State *L)
{
    const char *run = luaL_checkstring(L, 1), *key = luaL_checkstring(L, 2);
    meta_text *m = rill_lua_owned(L, sizeof *m, meta_release);
    rill_err err = {0};
    size_t len;
    int rc = rill_inspect_meta(run, key, &m->val, &len, &err);
    if (rc == RILL_EOF)
        return 0;
    if (rc)
        return rill_lua_raise(L, &err);
    lua_pushlstring(L, m->val, len);
    return 1;
}

void rill_lua_open_analysis(lua_State *L)
{
    static const luaL_Reg fns[] = {{"gates", l_gates},
                                   {"attention", l_attention},
                                   {"spectrum", l_spectrum},
                                   {"store_digest", l_store_digest},
                                   {"inspect", l_inspect},
                                   {"store_meta", l_store_meta},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
