#include "api/api.h"
#include "auth/perm.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: agenthost routes [--json | --markdown]\n"
    "Print the HTTP API's routes as the router knows them, each with the permission\n"
    "it needs. --markdown prints the roles and the permissions table of\n"
    "docs/security.md (generated from the route table).\n";

/* The roles' permissions, then every route with the roles that may call it. */
static void print_markdown(const route *r, size_t n)
{
    const char *const *roles = auth_roles();
    printf("| Permission | What it allows |");
    for (size_t k = 0; roles[k]; k++)
        printf(" %s |", roles[k]);
    printf("\n|---|---|");
    for (size_t k = 0; roles[k]; k++)
        printf("---|");
    printf("\n");
    for (int p = 0; p < PERM_COUNT; p++) {
        printf("| `%s` | %s |", auth_perm_name((auth_perm)p), auth_perm_what((auth_perm)p));
        for (size_t k = 0; roles[k]; k++)
            printf(" %s |", auth_role_allows(roles[k], (auth_perm)p) ? "yes" : "");
        printf("\n");
    }
    printf("\n| Method | Path | Permission |\n|---|---|---|\n");
    for (size_t i = 0; i < n; i++)
        printf("| %s | `%s` | `%s` |\n", r[i].method, r[i].pattern, r[i].perm);
}

int cmd_routes(int argc, char **argv)
{
    bool as_json = false, as_md = false;
    cli_opt opts[] = {{"--json", NULL, &as_json}, {"--markdown", NULL, &as_md}, {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    size_t n;
    char err[512] = "out of memory";
    const route *r = api_routes(&n, err, sizeof(err));
    if (!r) return cli_fail("%s", err);
    if (as_json) {
        json_t *a = router_list(r, n);
        char *s = json_dumps(a, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(a);
        return 0;
    }
    if (as_md) {
        print_markdown(r, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        printf("%-7s %-48s %-20s %s\n", r[i].method, r[i].pattern, r[i].perm, r[i].summary);
    return 0;
}
