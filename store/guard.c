/* Damaged stores must give errors, not a dead process. LMDB trusts its file: a damaged page
 * trips one of its internal assertions, which abort(), or makes it read outside the file's
 * pages, which raises SIGBUS (past the end of a shortened file) or SIGSEGV. Every place that
 * lets LMDB read or write a store runs under a guard (a sigsetjmp point, one per thread, kept
 * in a stack): the assertion callback and the SIGBUS/SIGSEGV handlers jump back to the newest
 * guard, which turns the fault into an error naming the file and marks the store damaged, so
 * it is not used again. With no guard active the faults behave as they always did (the signal
 * is handed to the handler that was there before: the default, or a sanitizer's).
 *
 * What is left after a jump is an LMDB call that never returned. The guard's owner closes
 * the cursor and aborts the transaction it registered: for read transactions that is all
 * LMDB holds; a write transaction's abort releases the writer lock and its dirty pages. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include "store_impl.h"

static _Thread_local rill_guard *top;
static struct sigaction old_bus, old_segv, old_fpe;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    rill_guard *g = top;
    if (g) {
        top = g->prev;
        g->fault = sig;
        siglongjmp(g->jb, 1);
    }
    /* not ours: restore the previous disposition and let the fault happen again under it */
    struct sigaction *old = sig == SIGBUS ? &old_bus : sig == SIGFPE ? &old_fpe : &old_segv;
    if (old->sa_flags & SA_SIGINFO && old->sa_sigaction) {
        old->sa_sigaction(sig, info, uctx);
        return;
    }
    sigaction(sig, old, NULL);
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGFPE, &sa, &old_fpe);
}

static void on_assert(MDB_env *env, const char *msg)
{
    (void)env;
    rill_guard *g = top;
    if (!g)
        return; /* LMDB prints the message and aborts, as without Rill */
    top = g->prev;
    snprintf(g->msg, sizeof g->msg, "%s", msg);
    siglongjmp(g->jb, 1);
}

void rill_guard_setup(MDB_env *env)
{
    pthread_once(&handlers_once, install_handlers);
    mdb_env_set_assert(env, on_assert);
}

void rill_guard_push(rill_guard *g, rill_store *s)
{
    g->s = s;
    g->txn = NULL;
    g->ncur = 0;
    g->fault = 0;
    g->msg[0] = 0;
    g->prev = top;
    top = g;
}

void rill_guard_pop(rill_guard *g)
{
    if (top == g)
        top = g->prev;
}

int rill_cursor_open(MDB_txn *txn, MDB_dbi db, MDB_cursor **c)
{
    /* mdb_cursor_open reads a stale database's record after it allocates the cursor: a fault
     * there would lose it, so the record is read first (mdb_stat reads it on the stack) */
    MDB_stat st;
    int rc = mdb_stat(txn, db, &st);
    if (rc)
        return rc;
    rc = mdb_cursor_open(txn, db, c);
    rill_guard *g = top;
    if (rc == 0 && g && g->ncur < (int)(sizeof g->cur / sizeof g->cur[0]))
        g->cur[g->ncur++] = *c;
    return rc;
}

void rill_cursor_close(MDB_cursor *c)
{
    rill_guard *g = top;
    for (int i = 0; g && i < g->ncur; i++)
        if (g->cur[i] == c) {
            g->cur[i] = g->cur[--g->ncur];
            break;
        }
    mdb_cursor_close(c);
}

int rill_guard_fail(rill_guard *g, const char *what, rill_err *err)
{
    rill_store *s = g->s;
    for (int i = 0; i < g->ncur; i++)
        mdb_cursor_close(g->cur[i]);
    g->ncur = 0;
    if (g->txn)
        mdb_txn_abort(g->txn);
    g->txn = NULL;
    char why[480];
    if (g->fault)
        snprintf(why, sizeof why, "reading its map raised %s (a page points outside the file, "
                 "or holds nonsense)",
                 g->fault == SIGBUS ? "SIGBUS" : g->fault == SIGFPE ? "SIGFPE" : "SIGSEGV");
    else
        snprintf(why, sizeof why, "LMDB found a broken page (%s)", g->msg);
    rill_errf(err, RILL_ESTORE,
              "%s: %s: the store is damaged: %s; the run cannot be used (restore it from a copy "
              "or train it again)",
              s->path, what, why);
    if (!s->damaged) {
        s->damaged = true;
        snprintf(s->damage, sizeof s->damage, "%s", err->msg);
    }
    return RILL_ESTORE;
}

int rill_store_refuse_damaged(const rill_store *s, rill_err *err)
{
    if (!s->damaged)
        return RILL_OK;
    return rill_errf(err, RILL_ESTORE, "%s", s->damage);
}
