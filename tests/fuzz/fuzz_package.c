/* Fuzz target: the package reader (archive formats, entry checks, caps)
 * and, when the input carries one, signature.json and its verification
 * against the files actually read. Nothing is written to disk. */
#include "package/pkg_read.h"
#include "package/signature.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally {
    size_t files, bytes;
    int open;
} tally;

static int on_dir(void *ud, const char *path, char *err, size_t errlen)
{
    (void)ud;
    if (pkg_check_path(path, err, errlen) != 0) __builtin_trap();
    return 0;
}

static int on_begin(void *ud, const char *path, char *err, size_t errlen)
{
    tally *t = ud;
    /* Whatever reaches a sink must satisfy the path rule. */
    if (pkg_check_path(path, err, errlen) != 0 || t->open) __builtin_trap();
    t->open = 1;
    t->files++;
    return 0;
}

static int on_data(void *ud, const void *p, size_t n, char *err, size_t errlen)
{
    (void)p;
    (void)err;
    (void)errlen;
    tally *t = ud;
    t->bytes += n;
    return 0;
}

static int on_end(void *ud, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ((tally *)ud)->open = 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pkg_sink sink = {on_dir, on_begin, on_data, on_end};
    tally t = {0};
    pkg_contents c;
    char err[1024];
    if (pkg_read_memory(data, size, &sink, &t, &c, err, sizeof(err)) == 0) {
        if (t.bytes > PKG_MAX_TOTAL_BYTES || c.nfiles > PKG_MAX_ENTRIES) __builtin_trap();
        if (c.signature) {
            pkg_signature s;
            if (pkg_signature_parse(c.signature, c.signature_len, &s, err, sizeof(err)) == 0) {
                char *list = pkg_digest_list(c.files, c.nfiles);
                pkg_pubkey k;
                memset(&k, 0, sizeof(k));
                memcpy(k.id, s.key_id, sizeof(k.id));
                const pkg_pubkey *signer;
                if (list && pkg_signature_verify(&s, &k, 1, list, &signer, err, sizeof(err)) == 0)
                    __builtin_trap(); /* no input is signed by the all-zero key */
                free(list);
                pkg_signature_free(&s);
            }
        }
    }
    pkg_contents_free(&c);
    return 0;
}
