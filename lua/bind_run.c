/* The binding's training, evaluation and export: core.train, core.evaluate, core.export
 * (core/train/run.h does the work). Both tables are converted before anything else. */
#include <stdio.h>

#include "bind.h"
#include "run.h"

#include "rill_lua.h"

/* core.train(graph, data, opts, where) -> result table */
static int l_train(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    const char *where = luaL_optstring(L, 4, "rill.train");
    char who[300];
    snprintf(who, sizeof who, "rill.train at %s", where);
    rill_args *opts = rill_lua_args(L, 3, who);
    snprintf(who, sizeof who, "rill.train at %s: data", where);
    rill_args *data = rill_lua_args(L, 2, who);
    rill_err err = {0};
    rill_run_result res;
    if (rill_run_train(g, data, opts, &rill_interrupted, &res, &err))
        return rill_lua_raise(L, &err);
    const rill_train_result *t = &res.train;
    lua_createtable(L, 0, 12);
    rill_lua_set_int(L, "steps", (lua_Integer)t->steps);
    rill_lua_set_int(L, "examples", (lua_Integer)t->examples);
    rill_lua_set_num(L, "seconds", t->seconds);
    rill_lua_set_num(L, "eval_seconds", t->eval_seconds);
    rill_lua_set_num(L, "examples_per_s", t->examples_per_s);
    rill_lua_set_num(L, "loss", t->last_loss);
    rill_lua_set_int(L, "best_step", (lua_Integer)t->best_step);
    lua_pushboolean(L, t->early_stopped);
    lua_setfield(L, -2, "early_stopped");
    lua_pushboolean(L, t->interrupted);
    lua_setfield(L, -2, "interrupted");
    rill_lua_set_int(L, "bad_lines", (lua_Integer)t->bad_lines);
    rill_lua_set_int(L, "disk_read_bytes", (lua_Integer)t->disk_read_bytes);
    rill_lua_set_int(L, "disk_write_bytes", (lua_Integer)t->disk_write_bytes);
    rill_lua_set_int(L, "major_faults", (lua_Integer)t->major_faults);
    rill_lua_set_num(L, "final_checkpoint_seconds", t->final_checkpoint_seconds);
    if (res.has_store) {
        const rill_store_info *si = &res.store;
        rill_lua_set_int(L, "checkpoint_bytes", (lua_Integer)si->last_checkpoint_bytes);
        rill_lua_set_num(L, "checkpoint_seconds", si->last_checkpoint_seconds);
        rill_lua_set_int(L, "checkpoints", (lua_Integer)si->checkpoints);
        rill_lua_set_int(L, "checkpoint_bytes_total", (lua_Integer)si->checkpoint_bytes);
        rill_lua_set_int(L, "checkpoint_rows_total", (lua_Integer)si->checkpoint_rows);
        rill_lua_set_num(L, "checkpoint_seconds_total", si->checkpoint_seconds);
        rill_lua_set_num(L, "checkpoint_wait_seconds", si->checkpoint_wait_seconds);
        rill_lua_set_int(L, "checkpoint_disk_bytes", (lua_Integer)si->checkpoint_disk_bytes);
        rill_lua_set_int(L, "checkpoint_row_bytes", (lua_Integer)si->checkpoint_row_bytes);
        rill_lua_set_int(L, "last_checkpoint_disk_bytes", (lua_Integer)si->last_checkpoint_disk_bytes);
        rill_lua_set_int(L, "last_checkpoint_row_bytes", (lua_Integer)si->last_checkpoint_row_bytes);
    }
    if (t->last.ntasks) {
        rill_lua_push_eval(L, &t->last);
        lua_setfield(L, -2, "valid");
        rill_lua_push_eval(L, &t->best);
        lua_setfield(L, -2, "best");
    }
    return 1;
}

/* core.evaluate(graph, data, opts, where): opts.path (file to evaluate), opts.predict (a
 * file for probabilities, "-" for stdout), opts.batch, opts.threads -> result table */
static int l_evaluate(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    const char *where = luaL_optstring(L, 4, "rill.evaluate");
    char who[300];
    snprintf(who, sizeof who, "evaluate at %s", where);
    rill_args *opts = rill_lua_args(L, 3, who);
    rill_args *data = rill_lua_args(L, 2, who);
    snprintf(data->who, sizeof data->who, "evaluate at %s: data", where);
    rill_err err = {0};
    rill_eval_result res;
    if (rill_run_evaluate(g, data, opts, &res, &err))
        return rill_lua_raise(L, &err);
    rill_lua_push_eval(L, &res);
    return 1;
}

/* core.export(graph, {run =, out =, pipeline =, settings =}): the run's last checkpoint (or
 * its best copy) as .npy files and a manifest */
static int l_export(lua_State *L)
{
    rill_graph *g = rill_lua_check_graph(L, 1);
    rill_args *a = rill_lua_args(L, 2, "rill export");
    rill_err err = {0};
    if (rill_run_export(g, a, &err))
        return rill_lua_raise(L, &err);
    return 0;
}

/* core.read_all(schema, data, batch) -> {rows =, batches =, bad_lines =, open_seconds =,
 * seconds =, cpu_seconds =, cached =} */
static int l_read_all(lua_State *L)
{
    const rill_schema *s = rill_lua_check_schema(L, 1);
    rill_args *data = rill_lua_args(L, 2, "rill.data.read: data");
    lua_Integer batch = luaL_optinteger(L, 3, 2048);
    luaL_argcheck(L, batch >= 1 && batch <= 1 << 20, 3, "rill.data.read: batch from 1 to 2^20");
    rill_err err = {0};
    rill_read_result res;
    if (rill_run_read_all(s, data, (int)batch, &res, &err))
        return rill_lua_raise(L, &err);
    lua_createtable(L, 0, 7);
    rill_lua_set_int(L, "rows", (lua_Integer)res.rows);
    rill_lua_set_int(L, "batches", (lua_Integer)res.batches);
    rill_lua_set_int(L, "bad_lines", (lua_Integer)res.bad_lines);
    rill_lua_set_num(L, "open_seconds", res.open_seconds);
    rill_lua_set_num(L, "seconds", res.seconds);
    rill_lua_set_num(L, "cpu_seconds", res.cpu_seconds);
    lua_pushboolean(L, res.cached);
    lua_setfield(L, -2, "cached");
    return 1;
}

void rill_lua_open_run(lua_State *L)
{
    static const luaL_Reg fns[] = {{"train", l_train},
                                   {"read_all", l_read_all},
                                   {"evaluate", l_evaluate},
                                   {"export", l_export},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
