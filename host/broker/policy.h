/*
 * policy.h - who may reach what: an instance's egress allowlist (from its
 * manifest, references into its config, and the operator's per-instance
 * additions) and the rules on resolved addresses.
 *
 * A target (scheme, host, port) is allowed when an entry matches it:
 * same scheme; host equal (case-insensitive), or "*.example.com" for any
 * name below example.com (not example.com itself), or "*" for any name;
 * port equal to the entry's, or the scheme's default when the entry names
 * none. An entry's host may be "${config.some.path}": the instance's config
 * value there, either a URL (its scheme, host and port make the entry) or a
 * bare host name.
 *
 * Every address a connection is about to use is classified. Public
 * addresses are fine for any matching entry. Loopback and private ranges
 * need an entry with "private": true. Link-local addresses (the cloud
 * metadata service) and the host's own listen address need, on top of
 * that, an entry naming that very IP address (and, for the listen
 * address, its port). Unspecified, multicast, broadcast and reserved
 * addresses are never allowed.
 */
#ifndef AH_BROKER_POLICY_H
#define AH_BROKER_POLICY_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define POLICY_HOST_MAX 254
#define POLICY_SCHEME_MAX 8

typedef enum addr_class {
    ADDR_PUBLIC = 0,
    ADDR_PRIVATE,    /* RFC 1918, CGNAT, ULA, benchmarking, IETF protocol range */
    ADDR_LOOPBACK,   /* 127/8, ::1 */
    ADDR_LINK_LOCAL, /* 169.254/16, fe80::/10 */
    ADDR_FORBIDDEN,  /* unspecified, multicast, broadcast, reserved, 0/8 */
} addr_class;

typedef struct egress_entry {
    char scheme[POLICY_SCHEME_MAX];
    char host[POLICY_HOST_MAX]; /* lower case, IPv6 without brackets */
    int port;                   /* 0: the scheme's default */
    bool private_ok;
    bool ip_literal;
    struct sockaddr_storage ip; /* when ip_literal (port 0) */
    bool from_operator;         /* added by the operator's config, not the manifest */
    char ca_file[512];          /* trust these CAs (PEM) instead of the system's, or "" */
} egress_entry;

typedef struct egress_policy {
    egress_entry *v;
    size_t n;
} egress_policy;

/* A request's destination, parsed from its URL. */
typedef struct egress_target {
    char scheme[POLICY_SCHEME_MAX];
    char host[POLICY_HOST_MAX];
    int port; /* always set (the scheme's default when the URL has none) */
    bool ip_literal;
    struct sockaddr_storage ip;
} egress_target;

/* The host's own listen address. */
typedef struct policy_self {
    struct sockaddr_storage addr; /* port 0 */
    int port;
    bool wildcard;                  /* 0.0.0.0 or :: : every local address counts */
    struct sockaddr_storage *local; /* the machine's addresses (for wildcard) */
    size_t nlocal;
} policy_self;

/* Build a policy from the manifest's egress array, the instance config
 * (for ${config...} references) and the operator's extra entries (may be
 * NULL). An entry whose reference is unset is skipped. A manifest entry's
 * relative "ca_file" is taken from manifest_dir. 0, or -1 with a one-line
 * reason in err. */
int policy_compile(egress_policy *out, const json_t *manifest_egress, const char *manifest_dir,
                   const json_t *config, const json_t *operator_egress, char *err, size_t errlen);
void policy_free(egress_policy *p);

/* Parse an absolute URL. 0, or -1 with a reason (no scheme, bad host, a
 * scheme the broker does not speak, non-ASCII host). */
int policy_parse_url(const char *url, egress_target *t, char *err, size_t errlen);

/* The CA file of the first entry matching t that names one, or NULL. */
const char *policy_ca_file(const egress_policy *p, const egress_target *t);

/* True when an entry matching t is marked private (an operator's grant
 * for a destination on a private network). */
bool policy_private_match(const egress_policy *p, const egress_target *t);

/* The first entry allowing the target, or NULL. */
const egress_entry *policy_match(const egress_policy *p, const egress_target *t);

addr_class policy_classify(const struct sockaddr *sa);
const char *policy_class_name(addr_class c);

/* NULL when some entry matching t lets a connection go to sa:port, else
 * the reason the first matching entry gives (static). */
const char *policy_check_target_address(const egress_policy *p, const egress_target *t,
                                        const struct sockaddr *sa, int port,
                                        const policy_self *self);

/* NULL when entry e lets a connection go to sa:port, else a static reason. */
const char *policy_check_address(const egress_entry *e, const struct sockaddr *sa, int port,
                                 const policy_self *self);

/* Fill self from a "HOST:PORT" listen string; collects local addresses
 * when HOST is a wildcard. 0 or -1. */
int policy_self_init(policy_self *self, const char *listen);
void policy_self_free(policy_self *self);

/* 443 for https, 80 for http, 465/25/993/143 for smtps/smtp/imaps/imap; 0 if unknown. */
int policy_default_port(const char *scheme);

/* Format sa as text (no port) into buf. */
const char *policy_addr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
