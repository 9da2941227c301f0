#!/bin/sh
# Shared hosting: mod_fcgid starts this (through suexec, as your account)
# with a listening socket on fd 0; chatgate notices it and serves as one
# worker. Replace /home/me with your home directory. The binary, config,
# keys and logs live in ~/chatgate/, OUTSIDE the web root. Errors chatgate
# hits before its error log is open (a config that does not parse) go to
# the same ~/chatgate/error.log, not to Apache's log, which you cannot read.
# suexec refuses this file unless it and its directory belong to you and
# only you can write them (chmod 755 chatgate.fcgi).
exec /home/me/chatgate/chatgate serve -c /home/me/chatgate/chatgate.ini 2>>/home/me/chatgate/error.log
