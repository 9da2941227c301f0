#include "cli/access.h"

#include <acl/libacl.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>


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


/* Sorted with root first; an empty list has no array to sort. */
static void
cg_access_sort(cg_accounts_t *a)
{
    if (a->n > 1) {
        qsort(a->names, a->n, sizeof(*a->names), cg_access_cmp);
    }
}


/* The members of group gid and the accounts with it as primary group. */
static int
cg_access_group_readers(const char *passwd, const char *group, unsigned gid,
                        const struct stat *st, const char *owner,
                        cg_accounts_t *out)
{
    return cg_access_members(group, gid, owner, out)
           | cg_access_primary(passwd, gid, (unsigned) st->st_uid, out);
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
        rc |= cg_access_group_readers(passwd, group, (unsigned) st->st_gid,
                                      st, owner, out);
    }
    out->everyone = (st->st_mode & want) != 0;
    qsort(out->names, out->n, sizeof(*out->names), cg_access_cmp);
    return rc ? -1 : 0;
}


static int
cg_acl_has(acl_permset_t ps, int want)
{
    return (want & CG_ACCESS_READ && acl_get_perm(ps, ACL_READ) == 1)
           || (want & CG_ACCESS_WRITE && acl_get_perm(ps, ACL_WRITE) == 1);
}


/* The mask entry's bits (all when there is none). */
static int
cg_acl_mask(acl_t acl)
{
    acl_entry_t   e;
    acl_tag_t     tag;
    acl_permset_t ps;
    int           id = ACL_FIRST_ENTRY, mask = CG_ACCESS_READ | CG_ACCESS_WRITE;

    while (acl_get_entry(acl, id, &e) == 1) {
        id = ACL_NEXT_ENTRY;
        if (acl_get_tag_type(e, &tag) == 0 && tag == ACL_MASK
            && acl_get_permset(e, &ps) == 0) {
            mask = (cg_acl_has(ps, CG_ACCESS_READ) ? CG_ACCESS_READ : 0)
                   | (cg_acl_has(ps, CG_ACCESS_WRITE) ? CG_ACCESS_WRITE : 0);
        }
    }
    return mask;
}


/* One named or owning-group entry of the ACL into out. */
static int
cg_acl_entry(acl_entry_t e, int want, cg_acl_grants_t *out)
{
    acl_tag_t     tag;
    acl_permset_t ps;
    void         *q;
    char          name[64];
    int           rc = 0;

    if (acl_get_tag_type(e, &tag) != 0 || acl_get_permset(e, &ps) != 0) {
        return -1;
    }
    if (tag == ACL_USER || tag == ACL_GROUP) {
        out->extended = 1;
    }
    if (!cg_acl_has(ps, want)) {
        return 0;
    }
    if (tag == ACL_GROUP_OBJ) {
        out->group_obj = 1;
    } else if (tag == ACL_USER || tag == ACL_GROUP) {
        if ((q = acl_get_qualifier(e)) == NULL) {
            return -1;
        }
        if (tag == ACL_USER) {
            cg_access_user_name((unsigned) *(uid_t *) q, NULL, name,
                                sizeof(name));
            rc = cg_access_add(&out->users, name);
        } else {
            cg_access_group_name((unsigned) *(gid_t *) q, NULL, name,
                                 sizeof(name));
            rc = cg_access_add(&out->groups, name);
        }
        acl_free(q);
    }
    return rc;
}


int
cg_access_acl(const char *path, int dflt, int want, cg_acl_grants_t *out)
{
    acl_t       acl;
    acl_entry_t e;
    int         id = ACL_FIRST_ENTRY, rc = 0, mask;

    memset(out, 0, sizeof(*out));
    acl = acl_get_file(path, dflt ? ACL_TYPE_DEFAULT : ACL_TYPE_ACCESS);
    if (acl == NULL) {
        return errno == ENOTSUP ? 0 : -1;
    }
    /* Named entries and the owning group count only through the mask. */
    mask = cg_acl_mask(acl);
    while (acl_get_entry(acl, id, &e) == 1) {
        id = ACL_NEXT_ENTRY;
        rc |= cg_acl_entry(e, want & mask, out);
    }
    acl_free(acl);
    cg_access_sort(&out->users);
    cg_access_sort(&out->groups);
    return rc ? -1 : 0;
}


void
cg_access_grants_free(cg_acl_grants_t *g)
{
    cg_access_accounts_free(&g->users);
    cg_access_accounts_free(&g->groups);
}


/* The gid of group name from the account file (-1: unknown). */
static long
cg_access_gid(const char *group, const char *name)
{
    FILE         *f = fopen(group ? group : "/etc/group", "re");
    struct group *gr;
    long          gid = -1;

    if (f == NULL) {
        return -1;
    }
    while (gid < 0 && (gr = fgetgrent(f)) != NULL) {
        if (strcmp(gr->gr_name, name) == 0) {
            gid = (long) gr->gr_gid;
        }
    }
    fclose(f);
    return gid;
}


int
cg_access_who_path(const char *path, const struct stat *st, int want,
                   const char *passwd, const char *group, cg_accounts_t *out,
                   cg_accounts_t *groups)
{
    cg_acl_grants_t g;
    char            owner[64], gname[64];
    size_t          i;
    long            gid;
    int             rc;

    if (groups) {
        memset(groups, 0, sizeof(*groups));
    }
    if (cg_access_acl(path, 0, want, &g) != 0 || !g.extended) {
        cg_access_grants_free(&g);
        rc = cg_access_who(st, want, passwd, group, out);
        if (groups && (st->st_mode & (want << 3))) {
            cg_access_group_name((unsigned) st->st_gid, group, gname,
                                 sizeof(gname));
            rc |= cg_access_add(groups, gname);
        }
        return rc ? -1 : 0;
    }
    /* With an ACL the group bits are the mask: judge each entry. */
    memset(out, 0, sizeof(*out));
    cg_access_user_name((unsigned) st->st_uid, passwd, owner, sizeof(owner));
    rc = cg_access_add(out, "root");
    if (st->st_mode & (want << 6)) {
        rc |= cg_access_add(out, owner);
    }
    if (g.group_obj) {
        rc |= cg_access_group_readers(passwd, group, (unsigned) st->st_gid,
                                      st, owner, out);
        cg_access_group_name((unsigned) st->st_gid, group, gname,
                             sizeof(gname));
        rc |= groups ? cg_access_add(groups, gname) : 0;
    }
    for (i = 0; i < g.users.n; i++) {
        rc |= cg_access_add(out, g.users.names[i]);
    }
    for (i = 0; i < g.groups.n; i++) {
        if ((gid = cg_access_gid(group, g.groups.names[i])) >= 0) {
            rc |= cg_access_group_readers(passwd, group, (unsigned) gid, st,
                                          owner, out);
        }
        rc |= groups ? cg_access_add(groups, g.groups.names[i]) : 0;
    }
    out->everyone = (st->st_mode & want) != 0;
    cg_access_sort(out);
    if (groups) {
        cg_access_sort(groups);
    }
    cg_access_grants_free(&g);
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
cg_access_accounts_free(cg_accounts_t *a)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        free(a->names[i]);
    }
    free(a->names);
    memset(a, 0, sizeof(*a));
}
