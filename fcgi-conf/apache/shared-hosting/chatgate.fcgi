#!/bin/sh
# mod_fcgid starts this with a listening socket on fd 0; chatgate notices it
# and serves as one worker (mod_fcgid starts more when needed). Keep the
# config and the keys OUTSIDE the web root (here: ~/chatgate/), readable
# only by your user (chmod 600).
exec /usr/local/bin/chatgate serve -c /etc/chatgate/chatgate.ini
