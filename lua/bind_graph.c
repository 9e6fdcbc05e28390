/* The binding's schemas, graphs and nodes: rill.Schema, rill.Graph and rill.Node (lua/bind.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "run.h"
#include "store.h"

/* ---- rill.Schema ---- */

static schema_box *check_schema(lua_State *L, int i)
{
    schema_box *b = luaL_checkudata(L, i, SCHEMA_MT);
    if (!b->live)
        luaL_error(L, "attempt to use a freed schema");
    return b;
}

const rill_schema *rill_lua_check_schema(lua_State *L, int i)
{
    return &check_schema(L, i)->s;
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

rill_graph *rill_lua_check_graph(lua_State *L, int i)
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
    rill_graph *g = rill_lua_check_graph(L, 1);
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
    rill_value *args = rill_lua_args_take(rill_lua_args(L, 6, who));
    rill_err err = {0};
    rill_node *n;
    if (rill_graph_add(g, kind, name, where, inputs, nin, args, &n, &err))
        return rill_lua_raise(L, &err); /* args were taken over and freed */
    push_node(L, 1, n);
    return 1;
}

static int l_graph_node(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    rill_node *n = rill_graph_find(g, luaL_checkstring(L, 2));
    if (!n)
        return 0;
    push_node(L, 1, n);
    return 1;
}

static int l_graph_nodes(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    lua_createtable(L, g->nnodes, 0);
    for (int i = 0; i < g->nnodes; i++) {
        push_node(L, 1, g->nodes[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_graph_param_count(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
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

/* n:capabilities() -> a set of what the node can do beyond forward and backward (node.h's
 * optional capabilities), so scripts ask that rather than the node's kind */
static int l_node_capabilities(lua_State *L)
{
    const rill_node_ops *ops = check_node(L, 1)->ops;
    const struct {
        const char *name;
        bool has;
    } caps[] = {{"mixture_weights", ops->mixture_weights != NULL},
                {"behaviour_weights", ops->behaviour_weights != NULL},
                {"sequence", ops->sequence != NULL},
                {"forwards_input", ops->forwards_input}};
    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (caps[i].has) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, caps[i].name);
        }
    return 1;
}

static int l_node_tostring(lua_State *L)
{
    rill_node *n = check_node(L, 1);
    lua_pushfstring(L, "rill.Node '%s' (%s) made at %s", n->name, n->ops->name, n->where);
    return 1;
}

/* g:profile([on]) -> { nodes = { {name=, kind=, fwd=, bwd=}, ... }, update =, zero =,
 * loader =, on = }: seconds over the training steps since profiling was turned on; with a
 * boolean, turns it on (clearing the figures) or off first */
static int l_graph_profile(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    if (lua_isboolean(L, 2))
        rill_graph_profile(g, lua_toboolean(L, 2));
    lua_createtable(L, 0, 5);
    lua_createtable(L, g->nnodes, 0);
    for (int i = 0; i < g->nnodes; i++) {
        const rill_node *n = g->nodes[i];
        lua_createtable(L, 0, 4);
        lua_pushstring(L, n->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, n->ops->name);
        lua_setfield(L, -2, "kind");
        rill_lua_set_num(L, "fwd", n->prof_fwd);
        rill_lua_set_num(L, "bwd", n->prof_bwd);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "nodes");
    rill_lua_set_num(L, "update", g->prof_update);
    rill_lua_set_num(L, "zero", g->prof_zero);
    rill_lua_set_num(L, "loader", g->prof_loader);
    lua_pushboolean(L, g->profile);
    lua_setfield(L, -2, "on");
    return 1;
}

/* g:table_stats() -> { {name=, rows=, dim=, touched=, visits=}, ... } */
static int l_graph_table_stats(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    lua_createtable(L, g->ntables, 0);
    for (int i = 0; i < g->ntables; i++) {
        rill_table *t = g->tables[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, rill_table_name(t));
        lua_setfield(L, -2, "name");
        rill_lua_set_int(L, "rows", (lua_Integer)rill_table_rows(t));
        rill_lua_set_int(L, "dim", rill_table_dim(t));
        rill_lua_set_int(L, "stride", rill_table_stride(t));
        /* what an export writes per row: MLET's collapsed width */
        rill_lua_set_int(L, "export_dim", g->table_proj && g->table_proj[i]
                                              ? g->table_proj[i]->cols
                                              : rill_table_dim(t));
        rill_lua_set_int(L, "touched", (lua_Integer)rill_table_touched(t));
        rill_lua_set_int(L, "visits", (lua_Integer)rill_table_row_visits(t));
        rill_table_stats ts;
        rill_table_get_stats(t, &ts);
        rill_lua_set_int(L, "hits", (lua_Integer)ts.hits);
        rill_lua_set_int(L, "misses", (lua_Integer)ts.misses);
        rill_lua_set_int(L, "evicted", (lua_Integer)ts.evicted);
        rill_lua_set_int(L, "spilled", (lua_Integer)ts.spilled);
        rill_lua_set_int(L, "cached", (lua_Integer)ts.cached);
        rill_lua_set_int(L, "cache_capacity", (lua_Integer)ts.cache_capacity);
        rill_lua_set_int(L, "sealed_reads", (lua_Integer)ts.sealed_reads);
        rill_lua_set_int(L, "sealed_bytes", (lua_Integer)ts.sealed_bytes);
        rill_lua_set_num(L, "read_seconds", ts.read_seconds);
        rill_lua_set_int(L, "cached_max", (lua_Integer)ts.cached_max);
        rill_lua_set_int(L, "generations", (lua_Integer)ts.generations);
        rill_lua_set_int(L, "folds", (lua_Integer)ts.folds);
        rill_lua_set_int(L, "folded", (lua_Integer)ts.folded);
        rill_lua_set_int(L, "generation_values", (lua_Integer)ts.generation_values);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* g:save(path) and g:load(path); the graph is built first if it has not been */
static int params_file(lua_State *L, bool save)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    const char *path = luaL_checkstring(L, 2);
    rill_err err = {0};
    if (rill_run_params_file(g, path, save, &err))
        return rill_lua_raise(L, &err);
    return 0;
}

static int l_save_params(lua_State *L)
{
    return params_file(L, true);
}

static int l_load_params(lua_State *L)
{
    return params_file(L, false);
}

void rill_lua_open_graph(lua_State *L)
{
    static const luaL_Reg schema_m[] = {{"columns", l_schema_columns},
                                        {"check_header", l_schema_check_header},
                                        {NULL, NULL}};
    static const luaL_Reg graph_m[] = {{"add", l_graph_add},
                                       {"node", l_graph_node},
                                       {"nodes", l_graph_nodes},
                                       {"param_count", l_graph_param_count},
                                       {"table_stats", l_graph_table_stats},
                                       {"profile", l_graph_profile},
                                       {NULL, NULL}};
    static const luaL_Reg node_m[] = {{"name", l_node_name},
                                      {"kind", l_node_kind},
                                      {"where", l_node_where},
                                      {"shape", l_node_shape},
                                      {"capabilities", l_node_capabilities},
                                      {NULL, NULL}};
    static const luaL_Reg fns[] = {{"schema", l_schema},
                                   {"graph", l_graph_new},
                                   {"save_params", l_save_params},
                                   {"load_params", l_load_params},
                                   {NULL, NULL}};
    rill_lua_create_meta(L, SCHEMA_MT, schema_m, l_schema_gc, NULL);
    rill_lua_create_meta(L, GRAPH_MT, graph_m, l_graph_gc, NULL);
    rill_lua_create_meta(L, NODE_MT, node_m, NULL, l_node_tostring);
    luaL_setfuncs(L, fns, 0);
}
