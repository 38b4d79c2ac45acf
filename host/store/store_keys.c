#include "store_keys.h"

#include "store.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_SIZE (256ull << 20) /* ~1M keys of ~100 bytes, with room */

struct keystore {
    MDB_env *env;
    MDB_dbi dbi;
};

static int fail(char *err, size_t errlen, const char *dir, const char *what, int rc)
{
    snprintf(err, errlen, "%s: %s: %s", dir, what, mdb_strerror(rc));
    return rc == ENOMEM ? AH_ENOMEM : AH_EIO;
}

int keystore_open(keystore **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    if (ah_mkdir_p(dir, 0700) < 0 || chmod(dir, 0700) < 0) {
        snprintf(err, errlen, "%s: cannot create the key store: %s", dir, strerror(errno));
        return AH_EIO;
    }
    keystore *k = calloc(1, sizeof(*k));
    if (!k) return AH_ENOMEM;
    int rc = mdb_env_create(&k->env);
    if (!rc) rc = mdb_env_set_mapsize(k->env, MAP_SIZE);
    if (!rc) rc = mdb_env_open(k->env, dir, MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (!rc) rc = mdb_txn_begin(k->env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &k->dbi);
    if (!rc)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        int code = fail(err, errlen, dir, "cannot open the key store", rc);
        keystore_close(k);
        return code;
    }
    *out = k;
    return 0;
}

void keystore_close(keystore *k)
{
    if (!k) return;
    if (k->env) mdb_env_close(k->env);
    free(k);
}

int keystore_get(keystore *k, const char *id, void *val, size_t cap, size_t *len)
{
    MDB_txn *txn;
    if (mdb_txn_begin(k->env, NULL, MDB_RDONLY, &txn)) return AH_EIO;
    MDB_val key = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, k->dbi, &key, &v);
    if (rc == 0 && v.mv_size > cap) rc = -1;
    if (rc == 0) {
        memcpy(val, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    mdb_txn_abort(txn);
    return rc == 0 ? 0 : rc == MDB_NOTFOUND ? AH_ENOTFOUND : rc == -1 ? AH_ETOOBIG : AH_EIO;
}

static int write_one(keystore *k, const char *id, const void *val, size_t len)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(k->env, NULL, 0, &txn);
    if (rc) return store_map_error(rc);
    MDB_val key = {strlen(id), (void *)id}, v = {len, (void *)val};
    rc = val ? mdb_put(txn, k->dbi, &key, &v, MDB_NOOVERWRITE) : mdb_del(txn, k->dbi, &key, NULL);
    if (rc) {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST   ? AH_EEXIST
               : rc == MDB_NOTFOUND ? AH_ENOTFOUND
                                    : store_map_error(rc);
    }
    rc = mdb_txn_commit(txn); /* synchronous: on disk when it returns */
    return rc ? store_map_error(rc) : 0;
}

int keystore_put_new(keystore *k, const char *id, const void *val, size_t len)
{
    return val && len ? write_one(k, id, val, len) : AH_EINVAL;
}

int keystore_del(keystore *k, const char *id)
{
    return write_one(k, id, NULL, 0);
}

int keystore_backup(keystore *k, const char *to, char *err, size_t errlen)
{
    char tmp[4200];
    if (ah_fmt(tmp, sizeof(tmp), "%s.partial", to) < 0) {
        snprintf(err, errlen, "backup path too long");
        return AH_EINVAL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return AH_EIO;
    }
    int rc = mdb_env_copyfd2(k->env, fd, MDB_CP_COMPACT);
    if (rc == 0 && fsync(fd) < 0) rc = errno;
    close(fd);
    if (rc == 0 && rename(tmp, to) < 0) rc = errno;
    if (rc) {
        unlink(tmp);
        snprintf(err, errlen, "keys backup to %s failed: %s", to, mdb_strerror(rc));
        return AH_EIO;
    }
    return 0;
}
