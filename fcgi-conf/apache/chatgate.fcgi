#!/bin/sh
# The wrapper chatgate-fcgid.conf's ScriptAlias names (installed as
# /usr/local/lib/chatgate/chatgate.fcgi by `make install`, as
# /usr/lib/chatgate/chatgate.fcgi by the Debian package). mod_fcgid starts
# it with a listening socket on fd 0; chatgate notices it and serves as one
# worker (mod_fcgid starts more when needed). For shared hosting use
# shared-hosting/chatgate.fcgi instead.
exec /usr/local/bin/chatgate serve -c /etc/chatgate/chatgate.ini
