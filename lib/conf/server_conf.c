#include "conf/config.h"
#include "core/clock.h"

#include <string.h>
#include <unistd.h>

#define CG_OFF(field)  offsetof(cg_server_conf_t, field)

/* Each worker is one event loop on one core: "auto" is a worker per
 * online CPU. */
static int
cg_server_conf_workers(const cg_conf_cmd_t *cmd, void *base,
                       const char *value, char *err, size_t errlen)
{
    long n;

    if (strcmp(value, "auto") == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        *(int *) ((char *) base + cmd->offset) =
            n < 1 ? 1 : n > cmd->max ? (int) cmd->max : (int) n;
        return 0;
    }
    return cg_conf_set_int(cmd, base, value, err, errlen);
}


static const cg_conf_cmd_t cg_server_cmds[] = {
    { "server", "listen", cg_conf_set_str, CG_OFF(listen),
      "/run/chatgate/chatgate.sock", 0, 0,
      "FastCGI socket: a Unix socket path, or HOST:PORT on loopback "
      "(127.0.0.1:9000, [::1]:9000)" },
    { "server", "socket_mode", cg_conf_set_octal, CG_OFF(socket_mode),
      "0660", 0, 0777, "permission bits of a Unix socket (octal)" },
    { "server", "workers", cg_server_conf_workers, CG_OFF(workers),
      "auto", 1, 1024,
      "number of pre-forked worker processes, each one event loop (auto: "
      "one per CPU)" },
    { "server", "backlog", cg_conf_set_int, CG_OFF(backlog),
      "511", 1, 65535, "listen(2) backlog of the FastCGI socket" },
    { "server", "pid_file", cg_conf_set_str, CG_OFF(pid_file),
      "", 0, 0, "file the master writes its PID to (empty: none)" },
    { "server", "shutdown_timeout", cg_conf_set_int, CG_OFF(shutdown_timeout),
      "30", 0, CG_HOUR_S,
      "seconds in-flight requests get to finish on SIGTERM before workers "
      "are killed" },
    { "server", "threads", cg_conf_set_int, CG_OFF(threads),
      "1", 1, 65536,
      "requests one worker process serves at once (its event loop's "
      "request contexts; the name is from the thread-per-request worker); "
      "concurrency is children x threads" },
    { "server", "user", cg_conf_set_str, CG_OFF(user), "", 0, 0,
      "when started as root: user to run as after opening the socket and "
      "reading the keys (empty: stay)" },
    { "server", "group", cg_conf_set_str, CG_OFF(group), "", 0, 0,
      "when started as root: group to run as (empty: the user's group)" },
    { "server", "socket_owner", cg_conf_set_str, CG_OFF(socket_owner),
      "", 0, 0, "owner of a Unix socket (empty: unchanged)" },
    { "server", "socket_group", cg_conf_set_str, CG_OFF(socket_group),
      "", 0, 0, "group of a Unix socket, e.g. the web server's (empty: "
      "unchanged)" },
    { "server", "allowed_clients", cg_conf_set_str, CG_OFF(allowed_clients),
      "", 0, 0, "TCP listen only: comma-separated IPv4/IPv6 addresses that "
      "may connect (empty: any; like FCGI_WEB_SERVER_ADDRS)" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_pool_conf_t, field)

static const cg_conf_enum_t cg_pool_modes[] = {
    { "static", CG_PM_STATIC }, { "dynamic", CG_PM_DYNAMIC },
    { "ondemand", CG_PM_ONDEMAND }, { NULL, 0 }
};

static const cg_conf_cmd_t cg_pool_cmds[] = {
    { "pool", "mode", cg_conf_set_enum, CG_OFF(mode), "static", 0, 0,
      "static (max_children always), dynamic (spares between min_spare "
      "and max_spare) or ondemand (fork on demand, leave after "
      "idle_timeout)", NULL, cg_pool_modes },
    { "pool", "max_children", cg_conf_set_int, CG_OFF(max_children),
      "0", 0, 1024, "most worker processes (0: [server] workers)" },
    { "pool", "start_children", cg_conf_set_int, CG_OFF(start_children),
      "0", 0, 1024, "dynamic: processes at start (0: (min_spare + "
      "max_spare) / 2)" },
    { "pool", "min_spare", cg_conf_set_int, CG_OFF(min_spare),
      "1", 1, 1024, "dynamic: fewest idle processes" },
    { "pool", "max_spare", cg_conf_set_int, CG_OFF(max_spare),
      "3", 1, 1024, "dynamic: most idle processes" },
    { "pool", "idle_timeout", cg_conf_set_int, CG_OFF(idle_timeout),
      "10", 1, CG_DAY_S, "ondemand: seconds an idle process stays" },
    { "pool", "max_requests", cg_conf_set_int, CG_OFF(max_requests),
      "0", 0, 100000000,
      "requests a process serves before it is replaced (0: never)" },
    { "pool", "request_terminate_timeout", cg_conf_set_int,
      CG_OFF(request_terminate_timeout), "0", 0, CG_DAY_S,
      "seconds after which a request is answered 504 and its process "
      "replaced (0: never)" },
    { "pool", "emergency_restart_threshold", cg_conf_set_int,
      CG_OFF(emergency_restart_threshold), "0", 0, 100000,
      "crashes within emergency_restart_interval that pause respawning "
      "for a second (0: 2 x max_children + 2)" },
    { "pool", "emergency_restart_interval", cg_conf_set_int,
      CG_OFF(emergency_restart_interval), "10", 1, CG_DAY_S,
      "window in seconds for emergency_restart_threshold" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_status_conf_t, field)

static const cg_conf_cmd_t cg_status_cmds[] = {
    { "status", "path", cg_conf_set_str, CG_OFF(path), "", 0, 0,
      "URL path of the status page, e.g. /chatgate-status (empty: off)" },
    { "status", "allow", cg_conf_set_str, CG_OFF(allow),
      "127.0.0.1, ::1", 0, 0,
      "client addresses (REMOTE_ADDR) that may read the status page" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


const cg_conf_section_t cg_server_conf_section = {
    .name = "server", .cmds = cg_server_cmds,
    .offset = offsetof(cg_conf_t, server),
};

const cg_conf_section_t cg_pool_conf_section = {
    .name = "pool", .cmds = cg_pool_cmds,
    .offset = offsetof(cg_conf_t, pool),
};

const cg_conf_section_t cg_status_conf_section = {
    .name = "status", .cmds = cg_status_cmds,
    .offset = offsetof(cg_conf_t, status),
};
