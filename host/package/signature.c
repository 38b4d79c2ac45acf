#include "signature.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const pkg_file *const *)a)[0]->path, ((const pkg_file *const *)b)[0]->path);
}

char *pkg_digest_list(const pkg_file *files, size_t n)
{
    const pkg_file **v = calloc(n ? n : 1, sizeof(*v));
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        v[i] = &files[i];
        len += 64 + 2 + strlen(files[i].path) + 1;
    }
    char *out = v ? malloc(len) : NULL;
    if (!out) {
        free(v);
        return NULL;
    }
    qsort(v, n, sizeof(*v), cmp_files);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        sodium_bin2hex(out + off, 65, v[i]->sha256, sizeof(v[i]->sha256));
        off += 64;
        off += (size_t)sprintf(out + off, "  %s\n", v[i]->path);
    }
    out[off] = 0;
    free(v);
    return out;
}

/* The bytes signed: the format line, then the list. */
static uint8_t *signed_message(const char *list, size_t *len)
{
    static const char head[] = PKG_FORMAT "\n";
    size_t hl = sizeof(head) - 1, ll = strlen(list);
    uint8_t *m = malloc(hl + ll + 1);
    if (!m) return NULL;
    memcpy(m, head, hl);
    memcpy(m + hl, list, ll + 1);
    *len = hl + ll;
    return m;
}

char *pkg_signature_make(const char *list, const pkg_seckey *k)
{
    size_t mlen;
    uint8_t *m = signed_message(list, &mlen);
    if (!m) return NULL;
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, m, mlen, k->sk);
    free(m);
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "format", PKG_FORMAT, "algorithm", "ed25519",
                          "digest", "sha256", "key_id", k->pub.id, "files", list, "signature", b64);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

static int bad(char *err, size_t errlen, const char *field, const char *msg)
{
    snprintf(err, errlen, "signature.json: %s%s%s", field ? field : "", field ? ": " : "", msg);
    return -1;
}

int pkg_signature_parse(const char *text, size_t len, pkg_signature *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return bad(err, errlen, NULL, "not a JSON object: the signature is unreadable");
    }
    int rc = -1;
    const char *format = json_string_value(json_object_get(o, "format"));
    const char *alg = json_string_value(json_object_get(o, "algorithm"));
    const char *digest = json_string_value(json_object_get(o, "digest"));
    const char *id = json_string_value(json_object_get(o, "key_id"));
    const char *files = json_string_value(json_object_get(o, "files"));
    const char *sig = json_string_value(json_object_get(o, "signature"));
    size_t got = 0;
    const char *end = NULL;
    if (!format || strcmp(format, PKG_FORMAT) != 0)
        bad(err, errlen, "format", "not \"" PKG_FORMAT "\" (a package from a newer agenthost?)");
    else if (!alg || strcmp(alg, "ed25519") != 0)
        bad(err, errlen, "algorithm", "only ed25519 is supported");
    else if (!digest || strcmp(digest, "sha256") != 0)
        bad(err, errlen, "digest", "only sha256 is supported");
    else if (!key_id_valid(id))
        bad(err, errlen, "key_id", "expected 16 lower-case hex digits");
    else if (!files || strlen(files) != json_string_length(json_object_get(o, "files")))
        bad(err, errlen, "files", "missing or not text");
    else if (!sig ||
             sodium_base642bin(out->sig, sizeof(out->sig), sig, strlen(sig), NULL, &got, &end,
                               sodium_base64_VARIANT_ORIGINAL) != 0 ||
             got != sizeof(out->sig) || *end)
        bad(err, errlen, "signature", "expected the base64 of 64 bytes");
    else if (!(out->files = strdup(files)))
        bad(err, errlen, NULL, "out of memory");
    else {
        snprintf(out->key_id, sizeof(out->key_id), "%s", id);
        rc = 0;
    }
    json_decref(o);
    return rc;
}

void pkg_signature_free(pkg_signature *s)
{
    free(s->files);
    s->files = NULL;
}

/* The path of a digest-list line, into buf. */
static const char *line_path(const char *line, size_t n, char *buf, size_t len)
{
    size_t k = n > 66 ? n - 66 : 0;
    if (k >= len) k = len - 1;
    memcpy(buf, line + (n > 66 ? 66 : n), k);
    buf[k] = 0;
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return buf;
}

/* Name the first difference between the signed and the actual lists. */
static void describe_difference(const char *want, const char *have, char *err, size_t errlen)
{
    const char *a = want, *b = have;
    char pa[300], pb[300];
    while (*a || *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t na = ea ? (size_t)(ea - a) : strlen(a), nb = eb ? (size_t)(eb - b) : strlen(b);
        if (na == nb && !memcmp(a, b, na)) {
            a += na + (ea ? 1 : 0);
            b += nb + (eb ? 1 : 0);
            continue;
        }
        line_path(a, na, pa, sizeof(pa));
        line_path(b, nb, pb, sizeof(pb));
        if (!*a)
            snprintf(err, errlen, "tampered after signing: %s was added", pb);
        else if (!*b)
            snprintf(err, errlen, "tampered after signing: %s was signed but is missing", pa);
        else if (!strcmp(pa, pb))
            snprintf(err, errlen, "tampered after signing: %s differs from what was signed", pa);
        else if (strcmp(pa, pb) < 0)
            snprintf(err, errlen, "tampered after signing: %s was signed but is missing", pa);
        else
            snprintf(err, errlen, "tampered after signing: %s was added", pb);
        return;
    }
    snprintf(err, errlen, "tampered after signing");
}

int pkg_signature_verify(const pkg_signature *s, const pkg_pubkey *trusted, size_t ntrusted,
                         const char *computed, const pkg_pubkey **signer, char *err, size_t errlen)
{
    *signer = NULL;
    const pkg_pubkey *k = NULL;
    for (size_t i = 0; i < ntrusted && !k; i++)
        if (!strcmp(trusted[i].id, s->key_id)) k = &trusted[i];
    if (!k) {
        if (ntrusted)
            snprintf(err, errlen,
                     "signed by key %s, which is not trusted here (`agenthost trust list`; add "
                     "the signer's public key with `agenthost trust add FILE.pub`)",
                     s->key_id);
        else
            snprintf(err, errlen,
                     "signed by key %s, but no key is trusted here yet (add the signer's public "
                     "key with `agenthost trust add FILE.pub`)",
                     s->key_id);
        return -1;
    }
    size_t mlen;
    uint8_t *m = signed_message(s->files, &mlen);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int ok = crypto_sign_verify_detached(s->sig, m, mlen, k->pk) == 0;
    free(m);
    if (!ok) {
        snprintf(err, errlen,
                 "the signature by key %s does not verify: the package was altered "
                 "after signing, or is damaged",
                 s->key_id);
        return -1;
    }
    if (strcmp(s->files, computed) != 0) {
        describe_difference(s->files, computed, err, errlen);
        return -1;
    }
    *signer = k;
    return 0;
}
