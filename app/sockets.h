/*
 * sockets: the listening socket the pool serves on, wherever it comes
 * from: one chatgate binds ([server] listen, a Unix path with its mode,
 * owner and group, or HOST:PORT), systemd's (socket activation, fd 3 with
 * LISTEN_PID/LISTEN_FDS), or a spawner's (fd 0: mod_fcgid, spawn-fcgi,
 * lighttpd). It only opens and recognises sockets: it never accepts a
 * connection (the workers do; [server] allowed_clients is checked there,
 * acl.h) and never forks.
 */
#ifndef CG_SOCKETS_H
#define CG_SOCKETS_H

#include "conf/config.h"

#include <stddef.h>

/* Opens the listening socket described by spec (Unix path or HOST:PORT). */
int cg_sockets_listen(const char *spec, int mode, int backlog, char *err,
                      size_t errlen);
/* [server] socket_owner and socket_group on our Unix socket; 0 or -1
 * (logged). */
int cg_sockets_owner(const cg_conf_t *conf);
/* The socket systemd passed (fd 3), or -1 when it passed none. */
int cg_sockets_systemd(void);
/* 1 if fd 0 is an inherited listening socket (mod_fcgid, spawn-fcgi,
 * lighttpd bin-path). */
int cg_sockets_inherited(void);

#endif
