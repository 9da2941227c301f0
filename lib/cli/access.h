/*
 * access: which local accounts can read or write a file, from its owner,
 * group and mode and the account databases (/etc/passwd, /etc/group).
 *
 * Used by `chatgate audit` to answer "who can read our production key".
 * Unix checks one class only: the owner gets the owner bits, members of the
 * file's group (listed in /etc/group, or with it as their primary group in
 * /etc/passwd) get the group bits, everyone else the other bits; root can
 * always read and write. POSIX ACLs (libacl) are read by
 * cg_access_who_path(): the owning group's entry and every named user and
 * group count after the mask, and a directory's default ACL (what a key
 * written there, e.g. by a rotation, inherits) is reported by
 * cg_access_acl(). Capabilities are not looked at (the audit says so).
 * This module reads the given files only and never changes anything.
 */
#ifndef CG_ACCESS_H
#define CG_ACCESS_H

#include <stddef.h>
#include <sys/stat.h>

#define CG_ACCESS_READ   4
#define CG_ACCESS_WRITE  2

typedef struct {
    char   **names;         /* sorted, unique; "root" always first */
    size_t   n;
    int      everyone;      /* the "other" bit grants it */
} cg_accounts_t;

/* Fills out with the accounts that have want (CG_ACCESS_READ or _WRITE)
 * on a file with st's owner, group and mode. passwd and group are the
 * account files (NULL: /etc/passwd, /etc/group). Returns 0 or -1. */
int  cg_access_who(const struct stat *st, int want, const char *passwd,
                   const char *group, cg_accounts_t *out);
/* Name of uid or gid from the account files ("#1234" when unknown). */
void cg_access_user_name(unsigned uid, const char *passwd, char *out,
                         size_t outlen);
void cg_access_group_name(unsigned gid, const char *group, char *out,
                          size_t outlen);
void cg_access_accounts_free(cg_accounts_t *a);

/* What a POSIX ACL grants beyond the mode. */
typedef struct {
    int            extended;    /* entries beyond owner, group, other */
    int            group_obj;   /* the owning group has it (after mask) */
    cg_accounts_t  users;       /* named users that have it */
    cg_accounts_t  groups;      /* named groups that have it */
} cg_acl_grants_t;

/* The named users and groups (and the owning group) that the ACL of path
 * gives want, after the mask: the access ACL, or with dflt a directory's
 * default ACL. No ACL (or none beyond the mode) is extended 0. Returns 0,
 * or -1 when the ACL cannot be read (not a file system with ACLs is 0). */
int  cg_access_acl(const char *path, int dflt, int want,
                   cg_acl_grants_t *out);
void cg_access_grants_free(cg_acl_grants_t *g);
/* cg_access_who() for the file at path, honouring its POSIX ACL: the
 * owning group's effective entry instead of the group bits (which then
 * show the mask), plus every named user and every member of a named
 * group. Group names that can read are in groups (NULL: not wanted). */
int  cg_access_who_path(const char *path, const struct stat *st, int want,
                        const char *passwd, const char *group,
                        cg_accounts_t *out, cg_accounts_t *groups);

#endif
