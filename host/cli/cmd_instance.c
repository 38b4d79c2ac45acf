#include "cli.h"
#include "plugin/instances_def.h"
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: agenthost instance list [--config FILE] [--data DIR] [--json]\n"
    "List plugin instances with their last recorded state (a running host keeps\n"
    "it current; the HTTP API shows live details).\n";

static int collect(void *ud, store_val k, store_val v)
{
    /* Definitions of instances made over the API share the database. */
    size_t pl = strlen(INSTANCES_DEF_PREFIX);
    if (k.len >= pl && !memcmp(k.data, INSTANCES_DEF_PREFIX, pl)) return 0;
    json_t *o = json_loadb(v.data, v.len, 0, NULL);
    if (o) json_array_append_new(ud, o);
    return 0;
}

int cmd_instance(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL;
    bool as_json = false;
    cli_opt opts[] = {
        {"--config", &cfgp, NULL}, {"--data", &data, NULL}, {"--json", NULL, &as_json}, {0}};
    const char *pos[2];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 2, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1 || strcmp(pos[0], "list") != 0) {
        cli_usage_error(usage);
        return 2;
    }
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    store *st;
    if (cli_open_store(&c, true, &st)) {
        config_free(&c);
        return 1;
    }
    json_t *all = json_array();
    store_txn *txn;
    if (store_read_begin(st, &txn) == 0) {
        store_scan(txn, STORE_DB_INSTANCES, NULL, 0, NULL, 0, 0, collect, all);
        store_read_end(st, txn);
    }
    if (as_json) {
        char *s = json_dumps(all, JSON_INDENT(2));
        printf("%s\n", s ? s : "[]");
        free(s);
    } else {
        printf("%-24s %-16s %-12s %-8s %-8s %s\n", "ID", "PLUGIN", "STATE", "PID", "RESTARTS",
               "LAST ERROR");
        size_t i;
        json_t *o;
        json_array_foreach(all, i, o)
        {
            json_t *pid = json_object_get(o, "pid");
            char pids[16] = "-";
            if (json_is_integer(pid))
                snprintf(pids, sizeof(pids), "%lld", (long long)json_integer_value(pid));
            printf("%-24s %-16s %-12s %-8s %-8lld %s\n",
                   json_string_value(json_object_get(o, "id")),
                   json_string_value(json_object_get(o, "plugin")),
                   json_string_value(json_object_get(o, "state")), pids,
                   (long long)json_integer_value(json_object_get(o, "restarts")),
                   json_string_value(json_object_get(o, "last_error")) ?: "");
        }
    }
    json_decref(all);
    store_close(st);
    config_free(&c);
    return 0;
}
