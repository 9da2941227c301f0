/*
 * session_php: fetches a PHP session's raw data, from files (session
 * save_handler "files") or from memcached as the php-memcached extension
 * stores it. Parsing is phpsess's job.
 *
 * The session id is checked against PHP's own rule ([A-Za-z0-9,-], 1-256
 * bytes) before any path or key is built from it. Files are opened with
 * O_NOFOLLOW, must be regular files owned by the expected user, no larger
 * than a bound and not older than the session lifetime, and are read under
 * flock(LOCK_SH) because PHP rewrites them in place. Memcached keys get
 * the prefix through libmemcached's namespace, exactly as php-memcached does,
 * so the bare id picks the server (ketama, binary protocol). Never logs.
 */
#ifndef CG_SESSION_PHP_H
#define CG_SESSION_PHP_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include "core/buf.h"

#define CG_PHP_SID_MAX   256
#define CG_PHP_DATA_MAX  (256 * 1024)

typedef enum {
    CG_PHP_OK = 0,
    CG_PHP_BAD_SID,
    CG_PHP_NONE,        /* no such session */
    CG_PHP_REFUSED,     /* symlink, not a regular file, wrong owner */
    CG_PHP_TOO_LARGE,
    CG_PHP_STALE,
    CG_PHP_LOCKED,
    CG_PHP_IO           /* read error or memcached unreachable */
} cg_php_rc_t;

typedef struct cg_phpmc_s cg_phpmc_t;

int          cg_phpstore_sid_valid(const char *sid, size_t n);
/* Reads the session file for sid under save_path ("DIR" or "N;[MODE;]DIR")
 * into out. max_age 0: no age check. */
cg_php_rc_t  cg_phpstore_file_read(const char *save_path, uid_t owner,
                                   long max_age, const char *sid, size_t n,
                                   time_t now, cg_buf_t *out);
cg_phpmc_t  *cg_phpstore_mc_new(const char *servers, const char *prefix,
                                int timeout_ms, char *err, size_t errlen);
void         cg_phpstore_mc_free(cg_phpmc_t *mc);
cg_php_rc_t  cg_phpstore_mc_read(cg_phpmc_t *mc, const char *sid, size_t n,
                                 cg_buf_t *out);
const char  *cg_phpstore_reason(cg_php_rc_t rc);

#endif
