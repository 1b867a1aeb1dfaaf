#!/bin/bash
# stslab's zkCli.sh: ZooKeeper's command-line client, e.g. `zkCli.sh -server HOST:2181 get /a`.
# Its exit status is the command's; its log goes to stderr, warnings only.
# shellcheck disable=SC2086
exec java ${CLIENT_JVMFLAGS:--Xmx64m -XX:TieredStopAtLevel=1} -Dzookeeper.console.threshold=WARN \
  -cp "${ZOO_HOME:=/opt/zookeeper}/conf:$ZOO_HOME/lib/*" org.apache.zookeeper.ZooKeeperMain "$@"
