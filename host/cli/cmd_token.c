#include "auth/perm.h"
#include "auth/roles.h"
#include "model/docs.h"
#include "store/tokens.h"
#include "cli.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: agenthost token create --name NAME [--role ROLE]\n"
    "       agenthost token list\n"
    "       agenthost token revoke ID|NAME\n"
    "options: --config FILE  --data DIR\n"
    "API tokens authenticate the HTTP API (Authorization: Bearer TOKEN). A new token\n"
    "is printed alone on stdout, once; only its hash is stored. ROLE is one of\n"
    "admin (the default), editor, operator, analyst, viewer (`agenthost routes\n"
    "--markdown` prints what each may do), or a custom role made with the API\n"
    "(/api/v1/roles).\n";

typedef struct custom_arg {
    const char *role;
    int found;
} custom_arg;

static int run_custom(doc_txn *t, void *ud)
{
    custom_arg *a = ud;
    auth_perms p;
    a->found = roles_perms(t, a->role, &p);
    return 0;
}

/* Whether role names a custom role in the store. */
static bool custom_role(store *st, const char *role)
{
    char err[512];
    docs *d = NULL;
    if (docs_open(&d, st, NULL, NULL, err, sizeof(err)) != 0) return false;
    custom_arg a = {role, AH_ENOTFOUND};
    doc_error e;
    docs_read(d, run_custom, &a, &e);
    docs_close(d);
    return a.found == 0;
}

int cmd_token(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *name = NULL, *role = "admin";
    cli_opt opts[] = {{"--config", &cfgp, NULL},
                      {"--data", &data, NULL},
                      {"--name", &name, NULL},
                      {"--role", &role, NULL},
                      {0}};
    const char *pos[3];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 3, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos < 1) {
        cli_usage_error(usage);
        return 2;
    }
    bool create = !strcmp(pos[0], "create"), list = !strcmp(pos[0], "list"),
         revoke = !strcmp(pos[0], "revoke");
    if ((!create && !list && !revoke) || (create && (npos != 1 || !name)) || (list && npos != 1) ||
        (revoke && npos != 2)) {
        cli_usage_error(usage);
        return 2;
    }
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    store *st;
    if (cli_open_store(&c, list, &st)) {
        config_free(&c);
        return 1;
    }
    rc = 0;
    if (create && !auth_role_valid(role) && !custom_role(st, role)) {
        store_close(st);
        config_free(&c);
        return cli_fail("role must be one of %s, or a custom role", auth_role_names());
    }
    if (create) {
        char token[TOKEN_LEN + 1];
        int r = tokens_create(st, name, role, token);
        if (r)
            rc = cli_fail("cannot create the token: %s",
                          r == AH_EINVAL
                              ? "the name must be 1-64 characters of a-z, 0-9, '-', '_', '.'"
                              : ah_strerror(r));
        else {
            printf("%s\n", token);
            json_t *what = json_pack("{s:s,s:s}", "name", name, "role", role);
            char id[16];
            snprintf(id, sizeof(id), "%.12s", token + 4); /* the token's id, never its secret */
            cli_audit(&c, st, "token.create", "tokens", id, what);
            json_decref(what);
        }
    } else if (list) {
        json_t *arr = tokens_list(st);
        size_t i;
        json_t *t;
        printf("%-14s %-24s %-8s %s\n", "ID", "NAME", "ROLE", "CREATED");
        json_array_foreach(arr, i, t)
            printf("%-14s %-24s %-8s %s\n", json_string_value(json_object_get(t, "id")),
                   json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "role")),
                   json_string_value(json_object_get(t, "created_at")));
        json_decref(arr);
    } else {
        int n = tokens_revoke(st, pos[1]);
        if (n < 0)
            rc = cli_fail("cannot revoke: %s", ah_strerror(n));
        else if (n == 0)
            rc = cli_fail("no token with id or name \"%s\"", pos[1]);
        else {
            fprintf(stderr, "revoked %d token%s\n", n, n == 1 ? "" : "s");
            json_t *what = json_pack("{s:i}", "revoked", n);
            cli_audit(&c, st, "token.revoke", "tokens", pos[1], what);
            json_decref(what);
        }
    }
    store_close(st);
    config_free(&c);
    return rc;
}
