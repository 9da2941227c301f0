#include "cli/access.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int
cg_access_add(cg_accounts_t *a, const char *name)
{
    char  **v;
    size_t  i;

    for (i = 0; i < a->n; i++) {
        if (strcmp(a->names[i], name) == 0) {
            return 0;
        }
    }
    v = realloc(a->names, (a->n + 1) * sizeof(*v));
    if (v == NULL) {
        return -1;
    }
    a->names = v;
    v[a->n] = strdup(name);
    if (v[a->n] == NULL) {
        return -1;
    }
    a->n++;
    return 0;
}


static int
cg_access_cmp(const void *x, const void *y)
{
    const char *a = *(char * const *) x, *b = *(char * const *) y;

    /* root first: it is the one account that always has access. */
    if (strcmp(a, "root") == 0 || strcmp(b, "root") == 0) {
        return strcmp(a, "root") == 0 ? -1 : strcmp(b, "root") == 0;
    }
    return strcmp(a, b);
}


/* Accounts whose primary group is gid (skipping the file's owner, who is
 * judged by the owner bits). */
static int
cg_access_primary(const char *passwd, unsigned gid, unsigned owner,
                  cg_accounts_t *out)
{
    FILE          *f = fopen(passwd ? passwd : "/etc/passwd", "re");
    struct passwd *pw;
    int            rc = 0;

    if (f == NULL) {
        return -1;
    }
    while ((pw = fgetpwent(f)) != NULL) {
        if (pw->pw_gid == gid && pw->pw_uid != owner) {
            rc |= cg_access_add(out, pw->pw_name);
        }
    }
    fclose(f);
    return rc;
}


static int
cg_access_members(const char *group, unsigned gid, const char *owner_name,
                  cg_accounts_t *out)
{
    FILE         *f = fopen(group ? group : "/etc/group", "re");
    struct group *gr;
    char        **m;
    int           rc = 0;

    if (f == NULL) {
        return -1;
    }
    while ((gr = fgetgrent(f)) != NULL) {
        if (gr->gr_gid != gid) {
            continue;
        }
        for (m = gr->gr_mem; m && *m; m++) {
            if (strcmp(*m, owner_name) != 0) {
                rc |= cg_access_add(out, *m);
            }
        }
    }
    fclose(f);
    return rc;
}


int
cg_access_who(const struct stat *st, int want, const char *passwd,
              const char *group, cg_accounts_t *out)
{
    char owner[64];
    int  rc;

    memset(out, 0, sizeof(*out));
    cg_access_user_name((unsigned) st->st_uid, passwd, owner, sizeof(owner));
    rc = cg_access_add(out, "root");
    if (st->st_mode & (want << 6)) {
        rc |= cg_access_add(out, owner);
    }
    if (st->st_mode & (want << 3)) {
        rc |= cg_access_members(group, (unsigned) st->st_gid, owner, out);
        rc |= cg_access_primary(passwd, (unsigned) st->st_gid,
                                (unsigned) st->st_uid, out);
    }
    out->everyone = (st->st_mode & want) != 0;
    qsort(out->names, out->n, sizeof(*out->names), cg_access_cmp);
    return rc ? -1 : 0;
}


void
cg_access_user_name(unsigned uid, const char *passwd, char *out,
                    size_t outlen)
{
    FILE          *f = fopen(passwd ? passwd : "/etc/passwd", "re");
    struct passwd *pw;

    snprintf(out, outlen, "#%u", uid);
    while (f && (pw = fgetpwent(f)) != NULL) {
        if (pw->pw_uid == uid) {
            snprintf(out, outlen, "%s", pw->pw_name);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
}


void
cg_access_group_name(unsigned gid, const char *group, char *out,
                     size_t outlen)
{
    FILE         *f = fopen(group ? group : "/etc/group", "re");
    struct group *gr;

    snprintf(out, outlen, "#%u", gid);
    while (f && (gr = fgetgrent(f)) != NULL) {
        if (gr->gr_gid == gid) {
            snprintf(out, outlen, "%s", gr->gr_name);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
}


void
cg_accounts_free(cg_accounts_t *a)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        free(a->names[i]);
    }
    free(a->names);
    memset(a, 0, sizeof(*a));
}
