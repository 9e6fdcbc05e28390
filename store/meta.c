/* The run's named values in the meta database (store.h: rill_store_set_meta, commit_meta,
 * get_meta): set_meta queues a value, the next commit_meta or checkpoint writes the queue in
 * its transaction (rill_store_meta_fn), and get_meta reads a value back, its seal checked. */

#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "util.h"

/* ---- meta ---- */

int rill_store_set_meta(rill_store *s, const char *key, const void *val, size_t len,
                        rill_err *err)
{
    for (int i = 0; i < s->npending; i++)
        if (strcmp(s->pending[i].key, key) == 0) {
            void *v = malloc(len ? len : 1);
            if (!v)
                return rill_errf(err, RILL_ENOMEM, "out of memory");
            memcpy(v, val, len);
            free(s->pending[i].val);
            s->pending[i].val = v;
            s->pending[i].len = len;
            return RILL_OK;
        }
    struct pending_meta *p = realloc(s->pending, (size_t)(s->npending + 1) * sizeof *p);
    if (!p)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    s->pending = p;
    char *k = strdup(key);
    void *v = malloc(len ? len : 1);
    if (!k || !v) {
        free(k);
        free(v);
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    }
    memcpy(v, val, len);
    s->pending[s->npending++] = (struct pending_meta){k, v, len};
    return RILL_OK;
}

int rill_store_meta_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    (void)ctx;
    (void)err;
    for (int i = 0; i < s->npending; i++) {
        MDB_val k = {strlen(s->pending[i].key), s->pending[i].key};
        int rc = rill_put_sealed(s, txn, s->meta, &k, s->pending[i].val, s->pending[i].len);
        if (rc)
            return rc;
    }
    return RILL_OK;
}

void rill_store_drop_pending(rill_store *s)
{
    for (int i = 0; i < s->npending; i++) {
        free(s->pending[i].key);
        free(s->pending[i].val);
    }
    s->npending = 0;
}

int rill_store_commit_meta(rill_store *s, rill_err *err)
{
    int rc = rill_store_write(s, rill_store_meta_fn, NULL, "writing the run's description", err);
    if (!rc)
        rill_store_drop_pending(s);
    return rc;
}

typedef struct {
    const char *key;
    void *val;
    size_t len;
    bool found;
} meta_get_ctx;

static int meta_get_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    meta_get_ctx *c = ctx;
    MDB_val k = {strlen(c->key), (void *)c->key}, v;
    int rc = rill_get_sealed(s, txn, s->meta, &k, &v, "the run's description", err);
    if (rc == MDB_NOTFOUND)
        return RILL_OK;
    if (rc)
        return rc;
    c->found = true;
    c->val = malloc(v.mv_size + 1); /* with a terminating 0 for text values */
    if (c->val) {
        memcpy(c->val, v.mv_data, v.mv_size);
        ((char *)c->val)[v.mv_size] = 0;
        c->len = v.mv_size;
    }
    return RILL_OK;
}

int rill_store_get_meta(rill_store *s, const char *key, void **val, size_t *len, rill_err *err)
{
    *val = NULL;
    *len = 0;
    for (int i = s->npending - 1; i >= 0; i--)
        if (strcmp(s->pending[i].key, key) == 0) {
            *val = malloc(s->pending[i].len + 1);
            if (!*val)
                return rill_errf(err, RILL_ENOMEM, "out of memory");
            memcpy(*val, s->pending[i].val, s->pending[i].len);
            ((char *)*val)[s->pending[i].len] = 0;
            *len = s->pending[i].len;
            return RILL_OK;
        }
    meta_get_ctx c = {key, NULL, 0, false};
    int rc = rill_store_read(s, meta_get_fn, &c, "reading the run's description", err);
    if (rc)
        return rc;
    if (!c.found)
        return RILL_EOF;
    if (!c.val)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    *val = c.val;
    *len = c.len;
    return RILL_OK;
}
