/* The binding's data generators: core.gen_criteo, core.gen_multitask, core.gen_zipf and
 * core.gen_criteo_truth (core/gen/gen_run.h does the work). */
#include "bind.h"
#include "gen_run.h"

/* Converts the settings at 1 for who, runs fn on them; raises its error. */
static int run_generator(lua_State *L, const char *who, int (*fn)(rill_args *, rill_err *))
{
    rill_args *a = rill_lua_args(L, 1, who);
    rill_err err = {0};
    if (fn(a, &err))
        return rill_lua_raise(L, &err);
    return 0;
}

/* core.gen_criteo{rows =, seed =, out =, max_cardinality =, interaction =, entity_clusters =} */
static int l_gen_criteo(lua_State *L)
{
    return run_generator(L, "rill.gen_criteo", rill_gen_criteo_run);
}

/* core.gen_multitask{rows =, seed =, sample =, out =, correlation =, rate1 =, rate2 =,
 * repeat_rate =, repeat_lift =} */
static int l_gen_multitask(lua_State *L)
{
    return run_generator(L, "rill.gen_multitask", rill_gen_multitask_run);
}

/* core.gen_zipf{rows =, ids =, exponent =, seed =, out =} (the store benchmark's data) */
static int l_gen_zipf(lua_State *L)
{
    return run_generator(L, "rill.gen_zipf", rill_gen_zipf_run);
}

/* core.gen_criteo_truth{rows =, seed =, from =, ...} -> the AUC of the planted model's true
 * logit and of its first-order part on rows [from, rows) */
static int l_gen_criteo_truth(lua_State *L)
{
    rill_args *a = rill_lua_args(L, 1, "rill.gen_criteo_truth");
    rill_err err = {0};
    double auc, auc1;
    if (rill_gen_criteo_truth_run(a, &auc, &auc1, &err))
        return rill_lua_raise(L, &err);
    lua_pushnumber(L, auc);
    lua_pushnumber(L, auc1);
    return 2;
}

void rill_lua_open_gen(lua_State *L)
{
    static const luaL_Reg fns[] = {{"gen_criteo", l_gen_criteo},
                                   {"gen_criteo_truth", l_gen_criteo_truth},
                                   {"gen_multitask", l_gen_multitask},
                                   {"gen_zipf", l_gen_zipf},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
