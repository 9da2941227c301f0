/*
 * server_conf: the process settings, [server] (socket, processes,
 * privileges), [pool] and [status]. lib/conf owns them as nginx's core
 * module owns worker_processes and user: they are read by app/ (master,
 * worker, status page), which has no rows of its own. Plain types only.
 */
#ifndef CG_SERVER_CONF_H
#define CG_SERVER_CONF_H

#include "conf/conf.h"

typedef enum {
    CG_PM_STATIC = 0,
    CG_PM_DYNAMIC,
    CG_PM_ONDEMAND
} cg_pm_t;

typedef struct {
    char   *listen;
    int     socket_mode;
    int     workers;
    int     backlog;
    char   *pid_file;
    int     shutdown_timeout;
    int     threads;
    char   *user;
    char   *group;
    char   *socket_owner;
    char   *socket_group;
    char   *allowed_clients;
} cg_server_conf_t;

typedef struct {
    int     mode;               /* cg_pm_t */
    int     max_children;       /* 0: [server] workers */
    int     start_children;     /* 0: between min_spare and max_spare */
    int     min_spare;
    int     max_spare;
    int     idle_timeout;
    int     max_requests;
    int     request_terminate_timeout;
    int     emergency_restart_threshold;
    int     emergency_restart_interval;
} cg_pool_conf_t;

typedef struct {
    char   *path;
    char   *allow;
} cg_status_conf_t;

extern const cg_conf_section_t cg_server_conf_section;
extern const cg_conf_section_t cg_pool_conf_section;
extern const cg_conf_section_t cg_status_conf_section;

#endif
