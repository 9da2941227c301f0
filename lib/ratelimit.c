#include "ratelimit.h"
#include "session.h"

#include <stdio.h>


cg_limit_rc_t
cg_limit_rpm(cg_store_t *st, const char *user, long limit, time_t now,
             cg_limit_info_t *info)
{
    char      key[CG_USER_MAX + 48];
    int       n;
    uint64_t  count = 0;
    long long minute = (long long) now / 60;

    info->limit = limit;
    info->remaining = limit;
    info->reset = (int) (60 - now % 60);
    if (limit <= 0) {
        return CG_LIMIT_PASS;
    }
    n = snprintf(key, sizeof(key), "cg:rpm:%s:%lld", user, minute);
    /* The key lives a little past its window so a late increment still
     * finds it; it is never read after the minute ends. */
    if (cg_store_incr(st, key, (size_t) n, 1, 120, &count) != 0) {
        return CG_LIMIT_STORE_DOWN;
    }
    info->remaining = count >= (uint64_t) limit ? 0 : limit - (long) count;
    return count > (uint64_t) limit ? CG_LIMIT_OVER : CG_LIMIT_PASS;
}
