#!/bin/sh
# Runs a command (kube-controller-manager) confined for the host-path provisioner, inside a
# private mount namespace made by the caller (`unshare --mount`):
#   - /tmp is the lab's volume directory, so /tmp/hostpath_pv/<uuid> lands there;
#   - every other mount is read-only, because the provisioner's delete check is an unanchored
#     regex on "/tmp/" that would also accept paths such as /home/me/tmp/data.
# Usage: confine.sh VOLUME_DIR KEEP_DIRS COMMAND [ARGS...]
# KEEP_DIRS (colon-separated: the kwok work dir, the binary cache) stay visible at their own
# paths when they lie under /tmp.
set -e
vol=$1 keep=$2
shift 2
IFS=:
for dir in $keep; do
  case "$dir" in
  /tmp/*)
    mkdir -p "$vol/${dir#/tmp/}"
    mount --bind "$dir" "$vol/${dir#/tmp/}"
    ;;
  esac
done
unset IFS
mount --rbind "$vol" /tmp
awk '{print $2}' /proc/self/mounts | grep -vE '^/(proc|sys|dev)(/|$)|^/tmp$' | while read -r m; do
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
exec "$@"
