#include "api/api.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static const char usage[] = "usage: agenthost routes [--json]\n"
                            "Print the HTTP API's routes as the router knows them.\n";

int cmd_routes(int argc, char **argv)
{
    bool as_json = false;
    cli_opt opts[] = {{"--json", NULL, &as_json}, {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    size_t n;
    const route *r = api_routes(&n);
    if (!r) return cli_fail("out of memory");
    if (as_json) {
        json_t *a = router_list(r, n);
        char *s = json_dumps(a, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(a);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        printf("%-7s %-48s %-7s %s\n", r[i].method, r[i].pattern, route_access_name(r[i].access),
               r[i].summary);
    return 0;
}
