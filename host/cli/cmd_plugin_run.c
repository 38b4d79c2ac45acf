#include "app/options.h"
#include "harness/harness.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: agenthost plugin run MANIFEST --events FILE.jsonl [--config FILE] [--secrets FILE]\n"
    "                            [--http FILE.jsonl] [--calls FILE.jsonl] [--instance ID]\n"
    "                            [--timeout MS]\n"
    "                            [--store DIR] [--kv-seed FILE] [--kv-dump FILE]\n"
    "Run one instance of a plugin through the real sandbox runner, against a temporary\n"
    "store, feeding it the events and calls of FILE.jsonl in order; print what it\n"
    "published, replied, acked, nacked, logged and asked over HTTP as JSON lines.\n"
    "  --config FILE    the instance's configuration (a JSON object)\n"
    "  --secrets FILE   its secrets: {\"name\": \"value\"}\n"
    "  --http FILE      recorded responses for its HTTP requests; an unmatched request\n"
    "                   is answered with the error \"unmatched\" and printed\n"
    "  --calls FILE     answers to its calls to other instances ({instance, plugin, action,\n"
    "                   result|error, repeat?} a line); an undeclared or unmatched call fails\n"
    "  --timeout MS     how long an event may stay unsettled (default: limits.stall_ms)\n"
    "  --store DIR      keep the store in DIR (KV, bus) from one run to the next\n"
    "  --kv-seed FILE   write these keys ({\"key\": value}) into the KV before the start\n"
    "  --kv-dump FILE   write the instance's KV ({\"key\": value}) to FILE at the end\n"
    "Exit status: 0 when everything was answered and settled, 1 when not, 2 on bad input.\n"
    "See docs/plugin-guide.md, \"The harness\".\n";

int cmd_plugin_run(int argc, char **argv)
{
    const char *events = NULL, *cfg = NULL, *sec = NULL, *http = NULL, *inst = NULL,
               *timeout = NULL, *store_dir = NULL, *seed = NULL, *dump = NULL, *calls = NULL;
    cli_opt opts[] = {{"--events", &events, NULL},
                      {"--config", &cfg, NULL},
                      {"--secrets", &sec, NULL},
                      {"--http", &http, NULL},
                      {"--instance", &inst, NULL},
                      {"--timeout", &timeout, NULL},
                      {"--store", &store_dir, NULL},
                      {"--kv-seed", &seed, NULL},
                      {"--kv-dump", &dump, NULL},
                      {"--calls", &calls, NULL},
                      {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 1, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1 || !events) {
        cli_usage_error(usage);
        return 2;
    }
    harness_opts ho = {.manifest = pos[0],
                       .events = events,
                       .config = cfg,
                       .secrets = sec,
                       .http = http,
                       .calls = calls,
                       .instance = inst,
                       .store_dir = store_dir,
                       .kv_seed = seed,
                       .kv_dump = dump,
                       .out = stdout};
    if (timeout) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(timeout, &end, 10);
        if (errno || *end || v == 0 || v > 3600000) {
            cli_fail("--timeout: expected milliseconds, 1..3600000");
            return 2;
        }
        ho.timeout_ms = (uint32_t)v;
    }
    /* The runner beside this binary, as `agenthost serve` finds it. */
    config c;
    char err[1500];
    if (config_load(&c, NULL, err, sizeof(err)) < 0 ||
        host_config_finalize(&c, NULL, NULL, err, sizeof(err)) < 0) {
        cli_fail("%s", err);
        return 2;
    }
    ho.runner = c.runner;
#ifdef AH_TEST_NO_SANDBOX
    ho.no_sandbox =
        getenv("AGENTHOST_TEST_NO_SANDBOX") && !strcmp(getenv("AGENTHOST_TEST_NO_SANDBOX"), "1");
#endif
    rc = harness_run(&ho, err, sizeof(err));
    if (rc == 2) cli_fail("%s", err);
    config_free(&c);
    return rc;
}
