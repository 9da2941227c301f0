#include "acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>


static int
cg_acl_pton(const char *s, int *family, unsigned char *out)
{
    struct in6_addr a6;

    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &a6) != 1) {
        return -1;
    }
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        *family = AF_INET;
        memcpy(out, a6.s6_addr + 12, 4);
    } else {
        *family = AF_INET6;
        memcpy(out, a6.s6_addr, 16);
    }
    return 0;
}


int
cg_acl_parse(cg_acl_t *acl, const char *list, char *err, size_t errlen)
{
    char        item[64];
    const char *p = list;
    size_t      n;

    memset(acl, 0, sizeof(*acl));
    while (p && *p) {
        p += strspn(p, " \t,");
        n = strcspn(p, " \t,");
        if (n == 0) {
            break;
        }
        if (n >= sizeof(item) || acl->n == CG_ACL_MAX) {
            snprintf(err, errlen, "address list too long: %s", list);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (cg_acl_pton(item, &acl->family[acl->n], acl->addr[acl->n])
            != 0) {
            snprintf(err, errlen, "not an IP address: %s", item);
            return -1;
        }
        acl->n++;
        p += n;
    }
    return 0;
}


static int
cg_acl_match(const cg_acl_t *acl, int family, const unsigned char *addr)
{
    int i;

    for (i = 0; i < acl->n; i++) {
        if (acl->family[i] == family
            && memcmp(acl->addr[i], addr, family == AF_INET ? 4 : 16) == 0) {
            return 1;
        }
    }
    return 0;
}


int
cg_acl_match_str(const cg_acl_t *acl, const char *addr)
{
    unsigned char bin[16];
    int           family;

    if (addr == NULL || cg_acl_pton(addr, &family, bin) != 0) {
        return 0;
    }
    return cg_acl_match(acl, family, bin);
}


int
cg_acl_match_sa(const cg_acl_t *acl, const struct sockaddr *sa)
{
    char buf[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
                  buf, sizeof(buf));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
                  buf, sizeof(buf));
    } else {
        return 1;   /* Unix sockets are guarded by file permissions */
    }
    return cg_acl_match_str(acl, buf);
}
