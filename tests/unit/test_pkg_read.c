/*
 * The package reader reads exactly the format of ADR 0010 and nothing
 * near it: one gzip member without optional header fields and nothing
 * after it, holding a POSIX ustar tar whose pax headers carry only
 * "path", signature.json first, the end-of-archive marker, then at most
 * a record's zero padding. The archives here are written block by block
 * (tar headers by hand, gzip with zlib), so shapes no tar writer would
 * produce can be tried; none uses the code under test to build them.
 */
#include "cmocka_pre.h"

#include "package/pkg_read.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void zeros(buf *b, size_t n)
{
    static const uint8_t z[10240];
    for (; n > sizeof(z); n -= sizeof(z))
        put(b, z, sizeof(z));
    put(b, z, n);
}

/* ---- tar blocks ----------------------------------------------------------- */

typedef struct hdr {
    const char *name;
    char type;         /* '0' when 0 */
    uint64_t size;     /* written in octal, or base-256 with base256 */
    const char *magic; /* 8 bytes at offset 257; NULL: "ustar\0" "00" */
    const char *link;  /* the linkname field */
    bool base256, zero_type;
} hdr;

static void header(buf *b, const hdr *h)
{
    uint8_t blk[512] = {0};
    snprintf((char *)blk, 100, "%s", h->name);
    memcpy(blk + 100, "0000644", 8);
    memcpy(blk + 108, "0000000", 8);
    memcpy(blk + 116, "0000000", 8);
    if (h->base256) {
        blk[124] = 0x80;
        for (int i = 0; i < 8; i++)
            blk[135 - i] = (uint8_t)(h->size >> (8 * i));
    } else {
        snprintf((char *)blk + 124, 12, "%011llo", (unsigned long long)h->size);
    }
    memcpy(blk + 136, "00000000000", 12);
    blk[156] = h->zero_type ? 0 : h->type ? (uint8_t)h->type : '0';
    if (h->link) snprintf((char *)blk + 157, 100, "%s", h->link);
    memcpy(blk + 257,
           h->magic ? h->magic
                    : "ustar\0"
                      "00",
           8);
    memset(blk + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(blk); i++)
        sum += blk[i];
    snprintf((char *)blk + 148, 8, "%06o", sum);
    put(b, blk, sizeof(blk));
}

static void data(buf *b, const void *p, size_t n, uint8_t pad)
{
    put(b, p, n);
    for (size_t i = n; i % 512; i++)
        put(b, &pad, 1);
}

static void file_hdr(buf *b, const hdr *h, const char *text)
{
    hdr x = *h;
    x.size = strlen(text);
    header(b, &x);
    data(b, text, strlen(text), 0);
}

static void file(buf *b, const char *name, const char *text)
{
    file_hdr(b, &(hdr){.name = name}, text);
}

/* A pax extended header ('x' or, with type, another) holding records. */
static void pax(buf *b, char type, const char *records)
{
    header(b, &(hdr){.name = "PaxHeader/x", .type = type, .size = strlen(records)});
    data(b, records, strlen(records), 0);
}

static void signature(buf *b)
{
    file(b, "signature.json", "{\"format\": \"agenthost-package/1\"}");
}

static void end(buf *b)
{
    zeros(b, 1024);
}

/* The smallest well-formed tar: signature.json, a file, the end marker. */
static buf good_tar(void)
{
    buf b = {0};
    signature(&b);
    file(&b, "manifest.json", "{}");
    end(&b);
    return b;
}

/* ---- gzip ----------------------------------------------------------------- */

static void gzip_into(buf *out, const buf *in, const char *fname)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    gz_header gh = {0};
    if (fname) {
        gh.name = (Bytef *)fname;
        assert_int_equal(deflateSetHeader(&z, &gh), Z_OK);
    }
    size_t cap = deflateBound(&z, (uLong)in->n) + 64;
    uint8_t *tmp = malloc(cap);
    z.next_in = in->p;
    z.avail_in = (uInt)in->n;
    z.next_out = tmp;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    put(out, tmp, cap - z.avail_out);
    deflateEnd(&z);
    free(tmp);
}

static buf gz(const buf *in)
{
    buf out = {0};
    gzip_into(&out, in, NULL);
    return out;
}

/* ---- reading -------------------------------------------------------------- */

static int read_bytes(const buf *b, char *err, size_t errlen)
{
    pkg_contents c;
    int rc = pkg_read_memory(b->p, b->n, NULL, NULL, &c, err, errlen);
    pkg_contents_free(&c);
    return rc;
}

static void expect_read(const buf *b, const char *what)
{
    char err[600];
    if (read_bytes(b, err, sizeof(err)) != 0) fail_msg("%s refused: %s", what, err);
}

static void expect_refused(const buf *b, const char *what, const char *why)
{
    char err[600] = "";
    if (read_bytes(b, err, sizeof(err)) == 0) fail_msg("%s accepted", what);
    if (!strstr(err, why)) fail_msg("%s: \"%s\" does not say \"%s\"", what, err, why);
}

/* gzip(tar) built by `shape`, refused with `why`. */
static void expect_tar_refused(void (*shape)(buf *), const char *what, const char *why)
{
    buf t = {0};
    shape(&t);
    buf g = gz(&t);
    expect_refused(&g, what, why);
    free(t.p);
    free(g.p);
}

/* ---- the format, read ------------------------------------------------------ */

static void test_reader_accepts_the_specified_format(void **state)
{
    (void)state;
    buf t = good_tar(), g = gz(&t);
    expect_read(&g, "a minimal package");
    free(g.p);
    /* A path too long for ustar's fields, in a pax "path" record. */
    buf l = {0};
    signature(&l);
    char rec[300], path[220];
    memset(path, 'a', 200);
    memcpy(path, "docs/", 5);
    path[200] = 0;
    snprintf(rec, sizeof(rec), "%zu path=%s\n", strlen(path) + 10, path);
    pax(&l, 'x', rec);
    file(&l, "PaxHeader-replaced", "long");
    end(&l);
    g = gz(&l);
    pkg_contents c;
    char err[600];
    assert_int_equal(pkg_read_memory(g.p, g.n, NULL, NULL, &c, err, sizeof(err)), 0);
    assert_int_equal(c.nfiles, 1);
    assert_string_equal(c.files[0].path, path);
    pkg_contents_free(&c);
    free(g.p);
    /* Zero padding to the end of a 10240-byte record, as tar(1) writes. */
    zeros(&t, 10240 - t.n % 10240);
    g = gz(&t);
    expect_read(&g, "a package padded to a record");
    free(g.p);
    free(t.p);
    free(l.p);
}

/* ---- the container ---------------------------------------------------------- */

static void test_reader_refuses_anything_but_one_plain_gzip_member(void **state)
{
    (void)state;
    buf t = good_tar();
    expect_refused(&t, "a plain tar", "a plain tar archive; a package is gzip-compressed");

    buf g = gz(&t), gg = gz(&g);
    expect_refused(&gg, "gzip inside gzip", "compressed twice (gzip inside gzip)");

    /* The same tar as two gzip members (gzip -c a b > c would write that). */
    buf half1 = {.p = t.p, .n = 1024}, half2 = {.p = t.p + 1024, .n = t.n - 1024}, two = {0};
    gzip_into(&two, &half1, NULL);
    gzip_into(&two, &half2, NULL);
    expect_refused(&two, "two gzip members", "after the end of the gzip stream");

    buf trailing = {0};
    put(&trailing, g.p, g.n);
    put(&trailing, "hidden", 6);
    expect_refused(&trailing, "bytes after the gzip stream", "after the end of the gzip stream");

    buf named = {0};
    gzip_into(&named, &t, "pkgtest.tar");
    expect_refused(&named, "a gzip header with a file name", "optional gzip header fields");

    buf cut = {.p = g.p, .n = g.n - 4};
    expect_refused(&cut, "a gzip stream cut short", "truncated");

    free(t.p);
    free(g.p);
    free(gg.p);
    free(two.p);
    free(trailing.p);
    free(named.p);
}

/* ---- the tar inside ----------------------------------------------------------- */

static void gnu_magic(buf *b)
{
    file_hdr(b, &(hdr){.name = "signature.json", .magic = "ustar  \0"}, "{}");
    end(b);
}

static void v7_header(buf *b)
{
    file_hdr(b, &(hdr){.name = "signature.json", .magic = "\0\0\0\0\0\0\0\0"}, "{}");
    end(b);
}

static void global_pax(buf *b)
{
    pax(b, 'g', "15 comment=hid\n");
    signature(b);
    end(b);
}

static void gnu_longname(buf *b)
{
    signature(b);
    header(b, &(hdr){.name = "././@LongLink", .type = 'L', .size = 14});
    data(b, "manifest.json", 14, 0);
    file(b, "ignored", "{}");
    end(b);
}

static void pax_other_keyword(buf *b)
{
    signature(b);
    pax(b, 'x', "15 comment=hid\n");
    file(b, "manifest.json", "{}");
    end(b);
}

static void pax_twice(buf *b)
{
    signature(b);
    pax(b, 'x', "22 path=manifest.json\n");
    pax(b, 'x', "22 path=manifest.json\n");
    file(b, "m", "{}");
    end(b);
}

static void pax_at_the_end(buf *b)
{
    signature(b);
    pax(b, 'x', "22 path=manifest.json\n");
    end(b);
}

static void contiguous_file(buf *b)
{
    signature(b);
    file_hdr(b, &(hdr){.name = "manifest.json", .type = '7'}, "{}");
    end(b);
}

static void old_regular_type(buf *b)
{
    signature(b);
    file_hdr(b, &(hdr){.name = "manifest.json", .zero_type = true}, "{}");
    end(b);
}

static void base256_size(buf *b)
{
    signature(b);
    header(b, &(hdr){.name = "manifest.json", .size = 2, .base256 = true});
    data(b, "{}", 2, 0);
    end(b);
}

static void file_with_linkname(buf *b)
{
    signature(b);
    file_hdr(b, &(hdr){.name = "manifest.json", .link = "elsewhere"}, "{}");
    end(b);
}

static void directory_with_data(buf *b)
{
    signature(b);
    header(b, &(hdr){.name = "docs/", .type = '5', .size = 3});
    data(b, "abc", 3, 0);
    end(b);
}

static void padding_not_zero(buf *b)
{
    signature(b);
    header(b, &(hdr){.name = "manifest.json", .size = 2});
    data(b, "{}", 2, 'X');
    end(b);
}

static void entry_after_the_end(buf *b)
{
    signature(b);
    end(b);
    file(b, "hidden.txt", "after the end");
    end(b);
}

static void one_zero_block(buf *b)
{
    signature(b);
    zeros(b, 512);
}

static void no_end_marker(buf *b)
{
    signature(b);
}

static void padding_past_a_record(buf *b)
{
    signature(b);
    end(b);
    zeros(b, 20480);
}

static void test_reader_refuses_tar_shapes_other_than_ustar_with_path_records(void **state)
{
    (void)state;
    expect_tar_refused(gnu_magic, "GNU tar format", "GNU tar format");
    expect_tar_refused(v7_header, "a pre-POSIX tar header", "not a POSIX ustar tar header");
    expect_tar_refused(global_pax, "a global pax header", "pax global header");
    expect_tar_refused(gnu_longname, "a GNU long-name header", "GNU long-name header");
    expect_tar_refused(pax_other_keyword, "a pax keyword but path",
                       "pax keyword \"comment\" is not allowed");
    expect_tar_refused(pax_twice, "two pax headers in a row",
                       "a pax extended header follows another");
    expect_tar_refused(pax_at_the_end, "a pax header extending nothing",
                       "a pax extended header extends no entry");
    expect_tar_refused(contiguous_file, "type 7", "entry type '7' is not allowed");
    expect_tar_refused(old_regular_type, "type NUL", "entry type NUL is not allowed");
    expect_tar_refused(base256_size, "a base-256 size", "size field is not octal");
    expect_tar_refused(file_with_linkname, "a file naming a link target",
                       "a file or directory with a link name");
    expect_tar_refused(directory_with_data, "a directory with data", "with 3 bytes of data");
    expect_tar_refused(padding_not_zero, "data padding not zero", "padding is not zero");
    expect_tar_refused(entry_after_the_end, "an entry after the end marker",
                       "after the end-of-archive marker");
    expect_tar_refused(one_zero_block, "one zero block", "without its end-of-archive marker");
    expect_tar_refused(no_end_marker, "no end marker", "without its end-of-archive marker");
    expect_tar_refused(padding_past_a_record, "padding past a record",
                       "more zero padding than a tar record");
}

/* ---- the entries ---------------------------------------------------------------- */

static void signature_second(buf *b)
{
    file(b, "manifest.json", "{}");
    signature(b);
    end(b);
}

static void directory_first(buf *b)
{
    header(b, &(hdr){.name = "docs/", .type = '5'});
    signature(b);
    end(b);
}

static void no_entries(buf *b)
{
    end(b);
}

static void test_reader_wants_signature_json_first(void **state)
{
    (void)state;
    expect_tar_refused(signature_second, "signature.json second",
                       "entry \"manifest.json\": the first entry must be signature.json");
    expect_tar_refused(directory_first, "a directory first",
                       "entry \"docs/\": the first entry must be signature.json");
    expect_tar_refused(no_entries, "an empty archive",
                       "unsigned package (no signature.json): refused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_accepts_the_specified_format),
        cmocka_unit_test(test_reader_refuses_anything_but_one_plain_gzip_member),
        cmocka_unit_test(test_reader_refuses_tar_shapes_other_than_ustar_with_path_records),
        cmocka_unit_test(test_reader_wants_signature_json_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
