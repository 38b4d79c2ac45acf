/*
 * tls.h - the HTTP server's certificate chain and key (http.tls_cert,
 * http.tls_key): read from their PEM files at start and again on a reload
 * (SIGHUP). libmicrohttpd asks for them at every handshake through GnuTLS's
 * certificate callback, so connections made after a reload get the new
 * pair while those already open keep theirs. A reload whose files cannot
 * be read or parsed, or whose key does not match the certificate, keeps
 * the pair being served.
 *
 * One pair per process (GnuTLS's callback carries no user pointer): the
 * host serves one API. Pairs replaced by a reload are kept until
 * tls_close, as sessions in progress may still use them.
 */
#ifndef AH_HTTP_TLS_H
#define AH_HTTP_TLS_H

#include <stddef.h>

/* Load the pair from cert_path (a chain, leaf first) and key_path and
 * make it the one served. 0, or -1 with err naming the file and why. */
int tls_load(const char *cert_path, const char *key_path, char *err, size_t errlen);
/* The GnuTLS certificate callback to hand to libmicrohttpd
 * (MHD_OPTION_HTTPS_CERT_CALLBACK), as an untyped pointer. */
void *tls_callback(void);
/* Free every pair; nothing is served after. */
void tls_close(void);

#endif
