/*
 * alertsend: delivers a raised alert (a JSON line from lib/meter/alert.c)
 * to the [alerts] webhook and the [alerts] command, and owns the syslog
 * connection that usage and alert lines share.
 *
 * Delivery runs in one sender process ("chatgate-alert") that the master
 * forks before any thread exists, after the privilege drop; it wipes its
 * copy of the configuration (keys included), keeping only the webhook URL
 * and the command, and closes every descriptor but its end of the alert
 * pipe and the error log. Workers hand it each alert as one packet
 * (pipe2 O_DIRECT: one write is one message, one read returns it whole)
 * with a non-blocking write: a full queue drops the alert's delivery
 * (logged and counted; the alert stays in the usage log) and never holds
 * up a request. A worker never forks. The master keeps both ends of the
 * pipe, so a sender that dies is replaced without losing the queue; a
 * reload that changes [alerts] webhook or command replaces it; at stop it
 * delivers what is queued (at most CG_ALERTSEND_DRAIN_S) and leaves.
 */
#ifndef CG_ALERTSEND_H
#define CG_ALERTSEND_H

#include "core/buf.h"
#include "conf/config.h"

#include <sys/types.h>

/* Opens syslog when [log] syslog = yes; returns -1 on a bad facility. */
int  cg_syslog_open(const cg_conf_t *conf, char *err, size_t errlen);
/* Sends one usage or alert line to syslog when it is on. */
void cg_syslog_line(const cg_conf_t *conf, const cg_buf_t *line);

/* Worker: queues an alert line for the sender, without waiting. */
void cg_alertsend(const cg_conf_t *conf, const cg_buf_t *line);

/* Master, before any thread: makes the pipe and starts the sender when
 * conf has a webhook or a command. -1 when the pipe cannot be made. */
int  cg_alertsend_start(cg_conf_t *conf);
/* In a freshly forked worker: drops the pipe's read end. */
void cg_alertsend_forked(void);
/* Master loop: starts the sender when it should run and does not (died:
 * at most once a second). */
void cg_alertsend_tick(cg_conf_t *conf, int stopping);
/* Master, reload: a changed webhook or command stops the running sender;
 * the next tick starts one with nc. */
void cg_alertsend_reload(const cg_conf_t *old, const cg_conf_t *nc);
/* Master: pid was reaped; 1 when it was the sender (logged). */
int  cg_alertsend_reaped(pid_t pid, int status);
/* Master, at the end: closes the pipe, waits for the sender to deliver
 * what is queued, kills it after CG_ALERTSEND_DRAIN_S. */
void cg_alertsend_stop(void);

#endif
