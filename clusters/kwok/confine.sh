#!/bin/sh
# Runs a command (kube-controller-manager) confined for the host-path provisioner, inside a
# private mount namespace made by the caller (`unshare --mount`):
#   - /tmp is the lab's volume directory, so /tmp/hostpath_pv/<uuid> lands there;
#   - every other mount is read-only, because the provisioner's delete check is an unanchored
#     regex on "/tmp/" that would also accept paths such as /home/me/tmp/data.
# Usage: confine.sh VOLUME_DIR KEEP_DIR COMMAND [ARGS...]
# KEEP_DIR (the kwok work dir) stays visible at its own path when it lies under /tmp.
set -e
vol=$1 keep=$2
shift 2
case "$keep" in
/tmp/*)
  mkdir -p "$vol/${keep#/tmp/}"
  mount --bind "$keep" "$vol/${keep#/tmp/}"
  ;;
esac
mount --rbind "$vol" /tmp
awk '{print $2}' /proc/self/mounts | grep -vE '^/(proc|sys|dev)(/|$)|^/tmp$' | while read -r m; do
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
exec "$@"
