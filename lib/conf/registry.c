/*
 * registry: every configuration section, by the module that declares it.
 * The order is the order of the checks (a module's check may read what an
 * earlier one finished: budgets read the finished routes) and of the
 * secrets (the guards need the session and provider keys loaded), and the
 * order of `chatgate keys`. A new section is one line here.
 */
#include "conf/conf.h"

extern const cg_conf_section_t
    cg_server_conf_section, cg_pool_conf_section, cg_status_conf_section,
    cg_http_server_conf_section, cg_http_conf_section,
    cg_provider_server_conf_section, cg_log_conf_section,
    cg_session_conf_section, cg_session_limits_conf_section,
    cg_token_conf_section, cg_limits_conf_section, cg_store_conf_section,
    cg_memcached_conf_section, cg_provider_conf_section,
    cg_route_conf_section, cg_key_conf_section, cg_price_conf_section,
    cg_budget_conf_section, cg_alerts_conf_section, cg_input_conf_section,
    cg_guard_conf_section, cg_pii_conf_section;

const cg_conf_section_t *const cg_conf_registry[] = {
    &cg_server_conf_section,            /* lib/conf/server_conf.c */
    &cg_http_server_conf_section,       /* lib/http/http_conf.c */
    &cg_provider_server_conf_section,   /* lib/provider/provider_conf.c */
    &cg_pool_conf_section,
    &cg_status_conf_section,
    &cg_log_conf_section,               /* lib/log/log_conf.c */
    &cg_session_conf_section,           /* lib/who/session_conf.c */
    &cg_limits_conf_section,            /* lib/meter/meter_conf.c */
    &cg_session_limits_conf_section,
    &cg_store_conf_section,             /* lib/store/store_conf.c */
    &cg_memcached_conf_section,
    &cg_provider_conf_section,
    &cg_input_conf_section,             /* lib/guard/guard_conf.c */
    &cg_http_conf_section,
    &cg_guard_conf_section,
    &cg_pii_conf_section,
    &cg_route_conf_section,
    &cg_key_conf_section,
    &cg_token_conf_section,
    &cg_price_conf_section,
    &cg_budget_conf_section,
    &cg_alerts_conf_section,
    NULL
};
