/*
 * tls.c - the server's certificate chain and key, swapped in place on a
 * reload (tls.h).
 */
#include "tls.h"

#include "core/util.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAIN 16
#define MAX_PEM_BYTES (1u << 20)

typedef struct pair {
    gnutls_pcert_st certs[MAX_CHAIN];
    unsigned ncerts;
    gnutls_privkey_t key;
    struct pair *older; /* replaced, kept for sessions in progress */
} pair;

static pair *current;

static void pair_free(pair *p)
{
    for (unsigned i = 0; i < p->ncerts; i++)
        gnutls_pcert_deinit(&p->certs[i]);
    if (p->key) gnutls_privkey_deinit(p->key);
    free(p);
}

static int read_pem(const char *path, gnutls_datum_t *out, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = ah_read_file(path, MAX_PEM_BYTES, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    out->data = (unsigned char *)text;
    out->size = (unsigned)len;
    return 0;
}

/* Whether key is the private half of the leaf's public key. */
static bool key_matches(const pair *p)
{
    gnutls_pubkey_t pub;
    if (gnutls_pubkey_init(&pub) < 0) return false;
    unsigned char a[64], b[64];
    size_t na = sizeof(a), nb = sizeof(b);
    bool ok = gnutls_pubkey_import_privkey(pub, p->key, 0, 0) == 0 &&
              gnutls_pubkey_get_key_id(pub, 0, a, &na) == 0 &&
              gnutls_pubkey_get_key_id(p->certs[0].pubkey, 0, b, &nb) == 0 && na == nb &&
              memcmp(a, b, na) == 0;
    gnutls_pubkey_deinit(pub);
    return ok;
}

int tls_load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    gnutls_datum_t cert = {0}, key = {0};
    if (read_pem(cert_path, &cert, err, errlen) < 0) return -1;
    if (read_pem(key_path, &key, err, errlen) < 0) {
        free(cert.data);
        return -1;
    }
    pair *p = calloc(1, sizeof(*p));
    int rc = -1;
    unsigned n = MAX_CHAIN;
    if (!p) {
        snprintf(err, errlen, "out of memory");
    } else if ((rc = gnutls_pcert_list_import_x509_raw(p->certs, &n, &cert, GNUTLS_X509_FMT_PEM,
                                                       0)) < 0 ||
               n == 0) {
        snprintf(err, errlen, "%s: no PEM certificate (chain of at most %d) in it: %s", cert_path,
                 MAX_CHAIN, rc < 0 ? gnutls_strerror(rc) : "empty");
        rc = -1;
    } else if ((p->ncerts = n, gnutls_privkey_init(&p->key)) < 0 ||
               (rc = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) <
                   0) {
        snprintf(err, errlen, "%s: no PEM private key in it: %s", key_path,
                 rc < 0 ? gnutls_strerror(rc) : "out of memory");
        rc = -1;
    } else if (!key_matches(p)) {
        snprintf(err, errlen, "%s is not the key of the certificate in %s", key_path, cert_path);
        rc = -1;
    } else {
        rc = 0;
    }
    if (key.data) sodium_memzero(key.data, key.size);
    free(key.data);
    free(cert.data);
    if (rc < 0) {
        if (p) pair_free(p);
        return -1;
    }
    p->older = current;
    current = p;
    return 0;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                    const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
                    unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session, (void)req_ca_dn, (void)nreqs, (void)algos, (void)nalgos;
    if (!current) return -1;
    *pcert = current->certs;
    *pcert_length = current->ncerts;
    *pkey = current->key;
    return 0;
}

void *tls_callback(void)
{
    return (void *)(gnutls_certificate_retrieve_function2 *)retrieve;
}

void tls_close(void)
{
    while (current) {
        pair *older = current->older;
        pair_free(current);
        current = older;
    }
}
