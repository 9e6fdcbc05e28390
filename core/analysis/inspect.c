/* What a run's store holds: see inspect.h. */
#include "inspect.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

static int open_read(const char *run, rill_store **s, rill_err *err)
{
    rill_store_cfg sc = {.mode = RILL_STORE_READ};
    return rill_store_open(s, run, &sc, err);
}

static int add_entry(void *ud, const rill_store_entry *e)
{
    rill_inspect_result *r = ud;
    rill_store_entry *more = realloc(r->entry, (size_t)(r->nentries + 1) * sizeof *more);
    if (!more)
        return RILL_ENOMEM;
    r->entry = more;
    r->entry[r->nentries++] = *e;
    return 0;
}

/* What the last checkpoint says of the run, when it has one. */
static int read_state(rill_store *s, rill_inspect_result *res, rill_err *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = rill_checkpoint_read(s, NULL, &blob, &len, err);
    if (rc == RILL_OK && rill_train_state_info(blob, len, &res->state) == RILL_OK)
        res->has_state = true;
    free(blob);
    return rc == RILL_EOF ? RILL_OK : rc;
}

int rill_inspect_run(const char *run, bool check, rill_inspect_result *res, rill_err *err)
{
    rill_store *s;
    memset(res, 0, sizeof *res);
    int rc = open_read(run, &s, err);
    if (rc)
        return rc;
    rc = rill_store_list(s, add_entry, res, err);
    if (rc == RILL_ENOMEM && !err->msg[0])
        rill_errf(err, RILL_ENOMEM, "rill inspect %s: out of memory", run);
    rill_store_get_info(s, &res->info);
    if (!rc)
        rc = read_state(s, res, err);
    if (!rc && check)
        rc = rill_store_verify(s, err);
    rill_store_close(s);
    return rc;
}

void rill_inspect_result_free(rill_inspect_result *res)
{
    free(res->entry);
    memset(res, 0, sizeof *res);
}

int rill_inspect_digest(const char *run, uint64_t *digest, rill_err *err)
{
    rill_store *s;
    *digest = 0;
    int rc = open_read(run, &s, err);
    if (rc)
        return rc;
    rc = rill_store_digest(s, digest, err);
    rill_store_close(s);
    return rc;
}

int rill_inspect_meta(const char *run, const char *key, void **val, size_t *len,
                      rill_err *err)
{
    rill_store *s;
    *val = NULL;
    *len = 0;
    int rc = open_read(run, &s, err);
    if (rc)
        return rc;
    rc = rill_store_get_meta(s, key, val, len, err);
    rill_store_close(s);
    return rc;
}
