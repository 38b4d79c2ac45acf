/* store_backup.c - copies of the store: a hot, compacted backup, and the
 * file checks of a copy a restore would put back. */
#include "store.h"
#include "store_lmdb.h"

#include "store_file.h"
#include "store_guard.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_backup(const char *dir, const char *to, uint64_t *bytes, char *err, size_t errlen)
{
    store *s;
    store_opts o = {.dir = dir, .read_only = true};
    int rc = store_open(&s, NULL, &o, err, errlen);
    if (rc) return rc;
    char tmp[4200];
    if (ah_fmt(tmp, sizeof(tmp), "%s.partial", to) < 0) {
        store_close(s);
        snprintf(err, errlen, "backup path too long");
        return AH_EINVAL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        store_close(s);
        return AH_EIO;
    }
    store_guard_mark("(every database, copying them)");
    rc = mdb_env_copyfd2(store_env(s), fd, MDB_CP_COMPACT);
    store_guard_mark(NULL);
    store_close(s);
    struct stat st;
    if (rc == 0 && (fsync(fd) < 0 || fstat(fd, &st) < 0)) rc = errno;
    close(fd);
    if (rc == 0 && rename(tmp, to) < 0) rc = errno;
    if (rc) {
        snprintf(err, errlen, "backup to %s failed: %s", to, mdb_strerror(rc));
        unlink(tmp);
        return store_map_error(rc);
    }
    if (bytes) *bytes = (uint64_t)st.st_size;
    return 0;
}

int store_check_file(const char *path, char *err, size_t errlen)
{
    store_file_info info;
    int rc = store_file_check(path, NULL, &info, err, errlen);
    if (rc == AH_ENOTFOUND) return AH_EIO;
    if (rc) return rc;
    MDB_env *env;
    if (mdb_env_create(&env)) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    mdb_env_set_maxdbs(env, STORE_DB_COUNT + 8);
    rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
    if (rc) {
        snprintf(err, errlen, "%s is not an agenthost backup: %s", path, mdb_strerror(rc));
        mdb_env_close(env);
        return AH_EINVAL;
    }
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {strlen(STORE_FORMAT_KEY), (void *)STORE_FORMAT_KEY}, v;
    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        store_guard_mark(store_db_name(STORE_DB_META));
        rc = mdb_dbi_open(txn, store_db_name(STORE_DB_META), 0, &meta);
        if (rc == 0) rc = mdb_get(txn, meta, &k, &v);
        if (rc == 0 &&
            (v.mv_size != strlen(STORE_FORMAT) || memcmp(v.mv_data, STORE_FORMAT, v.mv_size) != 0))
            rc = MDB_INCOMPATIBLE;
        mdb_txn_abort(txn);
        store_guard_mark(NULL);
    }
    mdb_env_close(env);
    if (rc) {
        snprintf(err, errlen, "%s is not an agenthost backup (no format marker %s)", path,
                 STORE_FORMAT);
        return AH_EINVAL;
    }
    return 0;
}
