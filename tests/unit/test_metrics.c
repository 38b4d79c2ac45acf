#include "cmocka_pre.h"

#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>

static void test_prometheus_text_format(void **s)
{
    (void)s;
    metrics_reset();
    char l[128];
    metrics_describe("ah_requests_total", METRIC_COUNTER, "Requests");
    metrics_counter_add("ah_requests_total", metrics_labels(l, sizeof(l), "route", "/x", NULL), 2);
    metrics_counter_add("ah_requests_total", metrics_labels(l, sizeof(l), "route", "/x", NULL), 3);
    metrics_gauge_set("ah_depth", metrics_labels(l, sizeof(l), "topic", "a\"b", NULL), 7);
    metrics_observe("ah_latency_seconds", NULL, 0.003);
    metrics_observe("ah_latency_seconds", NULL, 20);
    char *t = metrics_render(NULL);
    assert_non_null(
        strstr(t, "# HELP ah_requests_total Requests\n# TYPE ah_requests_total counter\n"));
    assert_non_null(strstr(t, "ah_requests_total{route=\"/x\"} 5\n"));
    assert_non_null(strstr(t, "ah_depth{topic=\"a\\\"b\"} 7\n"));
    assert_non_null(strstr(t, "ah_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(t, "ah_latency_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(t, "ah_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "ah_latency_seconds_count 2\n"));
    free(t);
    metrics_forget("ah_depth", "topic=\"a");
    t = metrics_render(NULL);
    assert_null(strstr(t, "ah_depth"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_text_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
