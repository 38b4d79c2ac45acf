#include "cmocka_pre.h"

#include "../../sdk/ipc/frame.h"

#include <stdlib.h>
#include <string.h>

static size_t make(uint8_t *buf, uint32_t len, uint16_t type, uint16_t flags, uint64_t id)
{
    memset(buf, 0, AH_FRAME_MAX);
    buf[0] = (uint8_t)len;
    buf[1] = (uint8_t)(len >> 8);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = (uint8_t)(len >> 24);
    buf[4] = (uint8_t)type;
    buf[5] = (uint8_t)(type >> 8);
    buf[6] = (uint8_t)flags;
    buf[7] = (uint8_t)(flags >> 8);
    for (int i = 0; i < 8; i++)
        buf[8 + i] = (uint8_t)(id >> (8 * i));
    return len;
}

static void test_valid_frame_parses(void **s)
{
    (void)s;
    uint8_t b[AH_FRAME_MAX];
    ah_frame_hdr h;
    const char *why = NULL;
    size_t n = make(b, 20, AH_MSG_CALL, 0, 0x0102030405060708ull);
    assert_int_equal(ah_frame_parse(b, n, &h, &why), 0);
    assert_int_equal(h.type, AH_MSG_CALL);
    assert_int_equal(h.len, 20);
    assert_true(h.id == 0x0102030405060708ull);
}

static void test_malformed_frames_are_refused_with_a_reason(void **s)
{
    (void)s;
    uint8_t b[AH_FRAME_MAX];
    ah_frame_hdr h;
    const char *why = NULL;
    make(b, 20, AH_MSG_CALL, 0, 1);
    assert_int_equal(ah_frame_parse(b, 10, &h, &why), -1); /* shorter than a header */
    assert_non_null(why);
    make(b, 30, AH_MSG_CALL, 0, 1);
    assert_int_equal(ah_frame_parse(b, 20, &h, &why), -1); /* length disagrees */
    make(b, 20, 0, 0, 1);
    assert_int_equal(ah_frame_parse(b, 20, &h, &why), -1); /* type 0 */
    make(b, 20, AH_MSG_TYPE_MAX, 0, 1);
    assert_int_equal(ah_frame_parse(b, 20, &h, &why), -1); /* unknown type */
    make(b, 20, AH_MSG_CALL, 0x80, 1);
    assert_int_equal(ah_frame_parse(b, 20, &h, &why), -1); /* unknown flag */
    make(b, 20, AH_MSG_CALL, AH_FRAME_MORE, 1);
    assert_int_equal(ah_frame_parse(b, 20, &h, &why), -1); /* short non-final fragment */
    assert_int_equal(ah_frame_parse(b, AH_FRAME_MAX + 1, &h, &why), -1); /* oversized */
}

static void test_large_message_round_trips_through_fragments(void **s)
{
    (void)s;
    size_t len = 3 * AH_FRAME_PAYLOAD_MAX + 123;
    uint8_t *body = malloc(len), frame[AH_FRAME_MAX];
    for (size_t i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 7);
    ah_msg_asm a;
    ah_asm_init(&a, 0);
    size_t off = 0;
    int frames = 0, done = 0;
    ah_msg m;
    while (off < len) {
        size_t n = ah_frame_next(frame, AH_MSG_RESULT, 99, body, len, &off);
        ah_frame_hdr h;
        const char *why;
        assert_int_equal(ah_frame_parse(frame, n, &h, &why), 0);
        int rc = ah_asm_feed(&a, &h, frame, &m, &why);
        assert_true(rc >= 0);
        done = rc;
        frames++;
    }
    assert_int_equal(frames, 4);
    assert_int_equal(done, 1);
    assert_int_equal(m.len, len);
    assert_int_equal(m.id, 99);
    assert_memory_equal(m.body, body, len);
    ah_asm_free(&a);
    free(body);
}

static void test_empty_body_is_one_header_only_frame(void **s)
{
    (void)s;
    uint8_t frame[AH_FRAME_MAX];
    size_t off = 0;
    size_t n = ah_frame_next(frame, AH_MSG_PING, 5, NULL, 0, &off);
    assert_int_equal(n, AH_FRAME_HDR);
}

static void test_interleaved_fragments_are_a_violation(void **s)
{
    (void)s;
    size_t len = 2 * AH_FRAME_PAYLOAD_MAX;
    uint8_t *body = calloc(1, len), frame[AH_FRAME_MAX];
    ah_msg_asm a;
    ah_asm_init(&a, 0);
    size_t off = 0;
    ah_frame_hdr h;
    const char *why;
    ah_msg m;
    size_t n = ah_frame_next(frame, AH_MSG_RESULT, 1, body, len, &off);
    assert_int_equal(ah_frame_parse(frame, n, &h, &why), 0);
    assert_int_equal(ah_asm_feed(&a, &h, frame, &m, &why), 0);
    /* A frame of another request arrives mid-message. */
    size_t off2 = 0;
    n = ah_frame_next(frame, AH_MSG_RESULT, 2, "{}", 2, &off2);
    assert_int_equal(ah_frame_parse(frame, n, &h, &why), 0);
    assert_int_equal(ah_asm_feed(&a, &h, frame, &m, &why), -1);
    assert_non_null(strstr(why, "out of order"));
    ah_asm_free(&a);
    free(body);
}

static void test_message_over_the_cap_is_a_violation(void **s)
{
    (void)s;
    size_t len = 4 * AH_FRAME_PAYLOAD_MAX;
    uint8_t *body = calloc(1, len), frame[AH_FRAME_MAX];
    ah_msg_asm a;
    ah_asm_init(&a, 2 * AH_FRAME_PAYLOAD_MAX);
    size_t off = 0;
    int rc = 0;
    const char *why = NULL;
    while (off < len && rc >= 0) {
        size_t n = ah_frame_next(frame, AH_MSG_RESULT, 1, body, len, &off);
        ah_frame_hdr h;
        ah_msg m;
        assert_int_equal(ah_frame_parse(frame, n, &h, &why), 0);
        rc = ah_asm_feed(&a, &h, frame, &m, &why);
    }
    assert_int_equal(rc, -1);
    assert_non_null(strstr(why, "larger"));
    ah_asm_free(&a);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_frame_parses),
        cmocka_unit_test(test_malformed_frames_are_refused_with_a_reason),
        cmocka_unit_test(test_large_message_round_trips_through_fragments),
        cmocka_unit_test(test_empty_body_is_one_header_only_frame),
        cmocka_unit_test(test_interleaved_fragments_are_a_violation),
        cmocka_unit_test(test_message_over_the_cap_is_a_violation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
