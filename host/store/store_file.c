#include "store_file.h"
#include "store_lmdb.h"

#include "core/forked.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* LMDB's layout with its word size (pgno_t and txnid_t are size_t). */
#define WORD sizeof(size_t)
#define PAGE_HDR (WORD + 4 + 4)       /* pgno, pad, flags, lower/upper */
#define DB_REC (4 + 2 + 2 + 5 * WORD) /* MDB_db */
#define META_MAGIC 0
#define META_VERSION 4
#define META_MAPSIZE (8 + sizeof(void *)) /* after magic, version, address */
#define META_PSIZE (META_MAPSIZE + WORD)  /* the free DB's md_pad */
#define META_LAST_PG (META_PSIZE + 2 * DB_REC)
#define META_TXNID (META_LAST_PG + WORD)
#define META_END (META_TXNID + WORD)
#define P_META 0x08
#define LMDB_MAGIC 0xBEEFC0DEu
#define ADVICE "; restore it from a backup (agenthost restore --from FILE --force)"

static uint64_t rd_word(const uint8_t *p)
{
    size_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

int store_meta_parse(const void *page, size_t n, store_meta *m)
{
    const uint8_t *p = page;
    memset(m, 0, sizeof(*m));
    if (n < PAGE_HDR + META_END) return -1;
    uint16_t flags;
    memcpy(&flags, p + WORD + 2, 2);
    const uint8_t *meta = p + PAGE_HDR;
    if (!(flags & P_META) || rd32(meta + META_MAGIC) != LMDB_MAGIC) return -1;
    m->version = rd32(meta + META_VERSION);
    m->page_size = rd32(meta + META_PSIZE);
    m->last_page = rd_word(meta + META_LAST_PG);
    m->txnid = rd_word(meta + META_TXNID);
    m->map_size = rd_word(meta + META_MAPSIZE);
    if (m->version != 1) return -2;
    uint32_t ps = m->page_size;
    /* 2^48 pages is past any map LMDB can make: a larger number is damage. */
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) || m->last_page < 1 || m->last_page >> 48)
        return -1;
    return 0;
}

/* ---- the pages past the end must be free ---------------------------------- */

typedef struct tail_arg {
    const char *path, *env_dir;
    uint32_t page_size;
} tail_arg;

typedef struct tail_result {
    bool done;
    uint64_t needed_pages, last_page;
} tail_result;

/* Mark the free pages at or after `from` in a bitmap of [from, last]. */
static int mark_free(MDB_txn *txn, uint64_t from, uint64_t last, uint8_t *bits)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, 0 /* LMDB's free-page database */, &cur);
    if (rc) return rc;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        const uint8_t *p = v.mv_data;
        uint64_t n = v.mv_size >= WORD ? rd_word(p) : 0;
        if (v.mv_size < WORD || n > v.mv_size / WORD - 1) {
            rc = MDB_CORRUPTED;
            break;
        }
        for (uint64_t i = 1; i <= n; i++) {
            uint64_t pg = rd_word(p + i * WORD);
            if (pg >= from && pg <= last)
                bits[(pg - from) / 8] |= (uint8_t)(1u << ((pg - from) % 8));
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Child: "needed PAGES LAST" when the free list could be read. */
static int prove_tail(void *arg, int fd)
{
    tail_arg *a = arg;
    MDB_env *env;
    MDB_txn *txn;
    MDB_envinfo info;
    struct stat st;
    if (mdb_env_create(&env)) return 1;
    unsigned flags = MDB_RDONLY | (a->env_dir ? 0 : MDB_NOSUBDIR | MDB_NOLOCK);
    if (mdb_env_open(env, a->env_dir ? a->env_dir : a->path, flags, 0600) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_env_info(env, &info) ||
        stat(a->path, &st) < 0)
        return 1;
    uint64_t have = (uint64_t)st.st_size / a->page_size, last = info.me_last_pgno;
    if (have > last) {
        forked_printf(fd, "needed %llu %llu", (unsigned long long)have, (unsigned long long)last);
        return 0;
    }
    uint8_t *bits = calloc((last - have) / 8 + 1, 1);
    if (!bits || mark_free(txn, have, last, bits)) return 1;
    uint64_t needed = have;
    for (uint64_t pg = last + 1; pg > have; pg--)
        if (!(bits[(pg - 1 - have) / 8] & (1u << ((pg - 1 - have) % 8)))) {
            needed = pg;
            break;
        }
    forked_printf(fd, "needed %llu %llu", (unsigned long long)needed, (unsigned long long)last);
    return 0;
}

static void on_tail_line(void *ud, const char *line)
{
    tail_result *r = ud;
    unsigned long long needed, last;
    if (sscanf(line, "needed %llu %llu", &needed, &last) == 2) {
        r->done = true;
        r->needed_pages = needed;
        r->last_page = last;
    }
}

static int check_length(const char *path, const char *env_dir, store_file_info *in, char *err,
                        size_t errlen)
{
    uint64_t all = (in->last_page + 1) * in->page_size;
    in->needed_bytes = all;
    if (in->file_bytes >= all) return 0;
    tail_arg a = {.path = path, .env_dir = env_dir, .page_size = in->page_size};
    tail_result r = {0};
    forked_end end;
    if (forked_run(prove_tail, &a, on_tail_line, &r, &end) != 0) {
        snprintf(err, errlen, "%s: cannot check its length: %s", path, strerror(errno));
        return AH_EIO;
    }
    if (r.done) in->needed_bytes = r.needed_pages * in->page_size;
    if (r.done && in->file_bytes >= in->needed_bytes) return 0;
    snprintf(err, errlen,
             "%s is truncated: it holds %llu bytes, its pages in use need %s%llu (page size %u, "
             "last page %llu)%s",
             path, (unsigned long long)in->file_bytes, r.done ? "" : "up to ",
             (unsigned long long)in->needed_bytes, in->page_size, (unsigned long long)in->last_page,
             env_dir ? ADVICE : "");
    return AH_EINVAL;
}

/* ---- the two meta pages ------------------------------------------------------ */

static int read_metas(int fd, const char *path, const char *advice, uint64_t size,
                      store_file_info *in, char *err, size_t errlen)
{
    uint8_t buf[PAGE_HDR + META_END];
    store_meta m[2];
    int rc[2];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    rc[0] = n < 0 ? -1 : store_meta_parse(buf, (size_t)n, &m[0]);
    long sys = sysconf(_SC_PAGESIZE);
    off_t off = rc[0] == 0 ? (off_t)m[0].page_size : (off_t)(sys > 0 ? sys : 4096);
    n = pread(fd, buf, sizeof(buf), off);
    rc[1] = n < 0 ? -1 : store_meta_parse(buf, (size_t)n, &m[1]);
    for (int i = 0; i < 2; i++)
        if (rc[i] == -2) {
            snprintf(err, errlen, "%s was written with LMDB data format %u; this host reads 1",
                     path, m[i].version);
            return AH_EINVAL;
        }
    if (rc[0] && rc[1]) {
        if (size < 2 * 4096)
            snprintf(err, errlen, "%s is truncated (%llu bytes; corrupt or foreign)", path,
                     (unsigned long long)size);
        else
            snprintf(err, errlen, "%s is not an LMDB file, or both of its meta pages are damaged%s",
                     path, advice);
        return AH_EINVAL;
    }
    if (rc[0] || rc[1]) {
        snprintf(err, errlen,
                 "%s: LMDB meta page %d is damaged (the other, of transaction %llu, is intact, "
                 "but LMDB opens no file with a damaged meta page)%s",
                 path, rc[0] ? 0 : 1, (unsigned long long)m[rc[0] ? 1 : 0].txnid, advice);
        return AH_EINVAL;
    }
    in->meta = m[1].txnid > m[0].txnid ? 1 : 0;
    in->page_size = m[in->meta].page_size;
    in->last_page = m[in->meta].last_page;
    in->txnid = m[in->meta].txnid;
    return 0;
}

int store_file_check(const char *path, const char *env_dir, store_file_info *info, char *err,
                     size_t errlen)
{
    memset(info, 0, sizeof(*info));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? AH_ENOTFOUND : AH_EIO;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = AH_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        rc = AH_EINVAL;
    } else if (st.st_size == 0) {
        snprintf(err, errlen,
                 "%s is empty: refusing to initialise over it; restore from a backup or move it "
                 "away",
                 path);
        rc = AH_EINVAL;
    } else {
        rc = read_metas(fd, path, env_dir ? ADVICE : "", (uint64_t)st.st_size, info, err, errlen);
    }
    close(fd);
    /* The size after the metas: pages reach the file before their meta. */
    if (!rc && stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = AH_EIO;
    }
    if (rc) return rc;
    info->file_bytes = (uint64_t)st.st_size;
    return check_length(path, env_dir, info, err, errlen);
}
