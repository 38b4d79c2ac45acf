/* Collectors: bus and instance gauges, refreshed when /metrics renders. */
#include "core/metrics.h"
#include "bus/bus.h"
#include "store/store.h"
#include "plugin/supervisor.h"
#include "api_priv.h"

static void collect_instances(void *ud)
{
    const api_deps *a = ud;
    static const instance_state states[] = {INST_STOPPED,  INST_STARTING, INST_READY,
                                            INST_STOPPING, INST_BACKOFF,  INST_QUARANTINED,
                                            INST_FAILED,   INST_DISABLED};
    for (size_t i = 0; i < supervisor_count(a->sup); i++) {
        instance *inst = supervisor_at(a->sup, i);
        json_t *st = instance_status(inst);
        char l[256];
        const char *id = instance_id(inst), *plugin = instance_manifest(inst)->name;
        metrics_labels(l, sizeof(l), "instance", id, "plugin", plugin, NULL);
        metrics_gauge_set("agenthost_instance_up", l,
                          instance_get_state(inst) == INST_READY ? 1 : 0);
        metrics_gauge_set("agenthost_instance_restarts_total", l,
                          (double)json_integer_value(json_object_get(st, "restarts")));
        metrics_gauge_set("agenthost_instance_rss_bytes", l,
                          (double)json_integer_value(json_object_get(st, "rss_bytes")));
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            metrics_labels(l, sizeof(l), "instance", id, "plugin", plugin, "state",
                           instance_state_name(states[k]), NULL);
            metrics_gauge_set("agenthost_instance_state", l,
                              instance_get_state(inst) == states[k] ? 1 : 0);
        }
        json_decref(st);
    }
}

static void collect_bus(void *ud)
{
    const api_deps *a = ud;
    json_t *topics = bus_topics(a->bus);
    size_t i;
    json_t *t;
    json_array_foreach(topics, i, t)
    {
        char l[320];
        const char *name = json_string_value(json_object_get(t, "name"));
        metrics_labels(l, sizeof(l), "topic", name, NULL);
        metrics_gauge_set("agenthost_bus_topic_depth", l,
                          (double)json_integer_value(json_object_get(t, "depth")));
        metrics_gauge_set("agenthost_bus_topic_bytes", l,
                          (double)json_integer_value(json_object_get(t, "bytes")));
        metrics_gauge_set("agenthost_bus_published_total", l,
                          (double)json_integer_value(json_object_get(t, "published")));
        metrics_gauge_set("agenthost_bus_publish_rate", l,
                          json_real_value(json_object_get(t, "rate_per_s")));
    }
    json_decref(topics);
    json_t *consumers = bus_consumers(a->bus);
    json_t *c;
    json_array_foreach(consumers, i, c)
    {
        const char *cname = json_string_value(json_object_get(c, "name"));
        size_t k;
        json_t *ct;
        json_array_foreach(json_object_get(c, "topics"), k, ct)
        {
            char l[400];
            metrics_labels(l, sizeof(l), "consumer", cname, "topic",
                           json_string_value(json_object_get(ct, "topic")), NULL);
            metrics_gauge_set("agenthost_bus_consumer_lag", l,
                              (double)json_integer_value(json_object_get(ct, "lag")));
            metrics_gauge_set("agenthost_bus_consumer_in_flight", l,
                              (double)json_integer_value(json_object_get(ct, "in_flight")));
        }
        char l[200];
        metrics_labels(l, sizeof(l), "consumer", cname, NULL);
        metrics_gauge_set("agenthost_bus_consumer_acked_total", l,
                          (double)json_integer_value(json_object_get(c, "acked")));
        metrics_gauge_set("agenthost_bus_consumer_dead_lettered_total", l,
                          (double)json_integer_value(json_object_get(c, "dead_lettered")));
    }
    json_decref(consumers);
    store_stats ss;
    store_get_stats(a->st, &ss);
    metrics_gauge_set("agenthost_store_commits_total", NULL, (double)ss.commits);
    metrics_gauge_set("agenthost_store_writes_total", NULL, (double)ss.writes);
    metrics_gauge_set("agenthost_store_failed_writes_total", NULL, (double)ss.failed_writes);
    metrics_gauge_set("agenthost_store_map_bytes", NULL, (double)ss.map_size);
    metrics_gauge_set("agenthost_store_used_bytes", NULL, (double)ss.used_bytes);
    metrics_gauge_set("agenthost_store_healthy", NULL, store_health(a->st) == 0 ? 1 : 0);
}

void api_metrics_start(const api_deps *a)
{
    metrics_describe("agenthost_instance_up", METRIC_GAUGE, "1 when the instance is ready");
    metrics_describe("agenthost_instance_state", METRIC_GAUGE, "1 for the instance's state");
    metrics_describe("agenthost_instance_restarts_total", METRIC_COUNTER,
                     "Restarts of an instance");
    metrics_describe("agenthost_instance_rss_bytes", METRIC_GAUGE,
                     "Resident memory of an instance");
    metrics_describe("agenthost_bus_topic_depth", METRIC_GAUGE, "Events retained in a topic");
    metrics_describe("agenthost_bus_topic_bytes", METRIC_GAUGE, "Bytes retained in a topic");
    metrics_describe("agenthost_bus_published_total", METRIC_COUNTER,
                     "Events published (this run)");
    metrics_describe("agenthost_bus_publish_rate", METRIC_GAUGE, "Events per second, last minute");
    metrics_describe("agenthost_bus_consumer_lag", METRIC_GAUGE,
                     "Events a consumer has not settled");
    metrics_describe("agenthost_bus_consumer_in_flight", METRIC_GAUGE, "Deliveries awaiting ack");
    metrics_describe("agenthost_bus_consumer_acked_total", METRIC_COUNTER, "Deliveries acked");
    metrics_describe("agenthost_bus_consumer_dead_lettered_total", METRIC_COUNTER,
                     "Events moved to a dead-letter topic");
    metrics_describe("agenthost_store_commits_total", METRIC_COUNTER,
                     "Store transactions committed");
    metrics_describe("agenthost_store_writes_total", METRIC_COUNTER, "Writes committed");
    metrics_describe("agenthost_store_failed_writes_total", METRIC_COUNTER, "Writes refused");
    metrics_describe("agenthost_store_map_bytes", METRIC_GAUGE, "LMDB map size");
    metrics_describe("agenthost_store_used_bytes", METRIC_GAUGE, "LMDB pages in use");
    metrics_describe("agenthost_store_healthy", METRIC_GAUGE, "1 when the store takes writes");
    metrics_add_collector(collect_instances, (void *)a);
    metrics_add_collector(collect_bus, (void *)a);
}

void api_metrics_stop(const api_deps *a)
{
    metrics_remove_collector(collect_instances, (void *)a);
    metrics_remove_collector(collect_bus, (void *)a);
}
