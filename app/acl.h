/*
 * acl: a short list of client IP addresses (IPv4 and IPv6), for
 * [server] allowed_clients (checked on each accepted TCP connection) and
 * [status] allow (checked against REMOTE_ADDR). Exact addresses only; an
 * IPv4-mapped IPv6 peer matches its IPv4 form. Never resolves names.
 */
#ifndef CG_ACL_H
#define CG_ACL_H

#include <stddef.h>
#include <sys/socket.h>

#define CG_ACL_MAX  32

typedef struct {
    int            n;
    int            family[CG_ACL_MAX];
    unsigned char  addr[CG_ACL_MAX][16];
} cg_acl_t;

/* Parses "a, b, c"; returns 0, or -1 with a message. */
int cg_acl_parse(cg_acl_t *acl, const char *list, char *err, size_t errlen);
int cg_acl_match_str(const cg_acl_t *acl, const char *addr);
int cg_acl_match_sa(const cg_acl_t *acl, const struct sockaddr *sa);

#endif
