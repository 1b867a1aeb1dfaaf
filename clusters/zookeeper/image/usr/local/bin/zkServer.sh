#!/bin/bash
# stslab's zkServer.sh: `start-foreground` runs the server on $ZOO_CONF_DIR/zoo.cfg (what the
# lab's manifest runs); `status` asks the local server for its mode with the `srvr` command.
set -euo pipefail
: "${ZOO_CONF_DIR:=/conf}" "${ZOO_HOME:=/opt/zookeeper}"
case "${1:-}" in
  start-foreground)
    # The JVM's heap is kept small: three members share a laptop in the labs.
    # shellcheck disable=SC2086
    exec java ${SERVER_JVMFLAGS:--Xmx256m} -XX:+ExitOnOutOfMemoryError \
      -cp "$ZOO_HOME/conf:$ZOO_CONF_DIR:$ZOO_HOME/lib/*" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOO_CONF_DIR/zoo.cfg"
    ;;
  status)
    exec 3<>/dev/tcp/127.0.0.1/2181
    echo srvr >&3
    grep '^Mode:' <&3
    ;;
  *)
    echo "usage: zkServer.sh start-foreground | status" >&2
    exit 2
    ;;
esac
