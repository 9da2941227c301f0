#include "provider/plan.h"
#include "core/csv.h"
#include "provider/keys.h"
#include "who/auth.h"
#include "who/svctoken.h"


static int
cg_plan_has(const cg_route_t *const *plan, int n, const cg_route_t *rt)
{
    int i;

    for (i = 0; i < n; i++) {
        if (plan[i] == rt) {
            return 1;
        }
    }
    return 0;
}


int
cg_plan_build(const cg_conf_t *conf, const cg_route_t *rt,
              cg_plan_filter_pt filter, const void *ctx,
              const cg_route_t **plan)
{
    const cg_route_t *fb;
    const char       *p, *item;
    size_t            len;
    int               n = 0, i;

    plan[n++] = rt;
    for (i = 0; i < n && n < CG_PLAN_MAX; i++) {
        p = plan[i]->fallback;
        while (n < CG_PLAN_MAX && cg_csv_next(&p, &item, &len)) {
            fb = cg_provider_route_find(conf, item, len);
            /* A chain that loops back ends there. */
            if (fb && !cg_plan_has(plan, n, fb)
                && (filter == NULL || filter(ctx, fb))) {
                plan[n++] = fb;
            }
        }
    }
    return n;
}


long
cg_plan_worst_ms(const cg_conf_t *conf, const cg_route_t *rt)
{
    const cg_route_t *plan[CG_PLAN_MAX];
    long              ms = 0;
    int               i, n;

    n = cg_plan_build(conf, rt, NULL, NULL, plan);
    for (i = 0; i < n; i++) {
        ms += (long) plan[i]->timeout_ms * (plan[i]->retries + 1)
              + (long) plan[i]->retry_max_wait_ms * plan[i]->retries;
    }
    return ms;
}


/* A browser session may use the public routes; a service token exactly
 * the routes its scope lists (public or not). */
int
cg_plan_route_allowed(const cg_req_t *r, const cg_route_t *rt)
{
    if (r->sess.token) {
        /* Both the token's routes and the route key's services decide. */
        return cg_auth_route_allowed(&r->sess, rt->name)
               && (rt->key_services == NULL
                   || cg_keys_list_has(rt->key_services,
                                       r->sess.token->name));
    }
    return rt->is_public;
}
