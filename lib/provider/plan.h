/*
 * plan: the routes one request may try, in order: the chosen route, then
 * its fallbacks, then theirs (breadth first), each route once and at most
 * CG_PLAN_MAX in all.
 *
 * The relay walks a plan; the meter asks how long the longest plan can
 * take, because an in-flight slot and a budget hold must outlive every
 * attempt of it (each try of each route, and the waits between retries),
 * not only the longest single call. This module reads the configuration
 * and the request's session only; it never calls a provider and never
 * counts anything.
 */
#ifndef CG_PLAN_H
#define CG_PLAN_H

#include "conf/config.h"
#include "core/req.h"

#define CG_PLAN_MAX  8

/* Whether rt may join a plan (e.g. a service token's scope); NULL: all. */
typedef int (*cg_plan_filter_pt)(const void *ctx, const cg_route_t *rt);

int  cg_plan_build(const cg_conf_t *conf, const cg_route_t *rt,
                   cg_plan_filter_pt filter, const void *ctx,
                   const cg_route_t **plan);
/* Milliseconds the plan starting at rt can take at most: every try of
 * every route at its total timeout, plus the longest waits between. */
long cg_plan_worst_ms(const cg_conf_t *conf, const cg_route_t *rt);
/* Whether r may name route rt: a browser session the public routes, a
 * service token the routes of its scope that the route's key serves. The
 * route choice and the relay's fallbacks both ask. */
int  cg_plan_route_allowed(const cg_req_t *r, const cg_route_t *rt);

#endif
