#!/usr/bin/env bash
# Build the simulated cluster's binaries from the Go module proxy into a versioned cache.
#
#   scripts/build-binaries.sh            build what is missing (idempotent; a warm run is a no-op)
#   scripts/build-binaries.sh kubelet    also (or only) the real kubelet of the real-node tier
#   scripts/build-binaries.sh kindnode   what the offline kind node image needs (scripts/build-kind-images.sh)
#   scripts/build-binaries.sh k3d        the k3d CLI (optional; k3d is not run on our machines)
#   STSLAB_KUBERNETES=1.35 ...           another release of KUBERNETES_RELEASES (default: the pinned one)
#   STSLAB_CACHE=/some/dir ...           cache root (default: ~/.cache/stslab)
#
# Each step prints one line with its time; the go command's own output goes to a log under
# $STSLAB_CACHE/build/logs that an error names.
#
# Layout: $STSLAB_CACHE/bin/<component>-<version>/<binaries> plus a .complete stamp, so a
# changed pin in clusters/versions.env builds into a new directory and never mixes versions.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
source "$here/clusters/versions.env"
cache=${STSLAB_CACHE:-$HOME/.cache/stslab}
work="$cache/build"
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0

say() { printf '[binaries] %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# STSLAB_KUBERNETES=1.35 picks that release's patch version from KUBERNETES_RELEASES.
if [ -n "${STSLAB_KUBERNETES:-}" ]; then
  want=$(printf '%s' "${STSLAB_KUBERNETES#v}" | cut -d. -f1-2)
  KUBERNETES_VERSION=""
  if printf '%s' "$want" | grep -Eq '^[0-9]+\.[0-9]+$'; then
    for r in $KUBERNETES_RELEASES; do case "$r" in "v$want".*) KUBERNETES_VERSION=$r;; esac; done
  fi
  [ -n "$KUBERNETES_VERSION" ] || die "Kubernetes '$STSLAB_KUBERNETES' cannot be built here; the releases the Go module proxy serves are: $KUBERNETES_RELEASES (set STSLAB_KUBERNETES to one of their minors, e.g. 1.35)."
fi

logs="$work/logs"
mkdir -p "$logs"
log="$logs/build-$(date +%Y%m%d-%H%M%S).log"
current=""  # the output directory being filled; removed if a step fails

# step LABEL ESTIMATE CMD...: run CMD with its output in the log; print one line with the time.
step() {
  local label=$1 estimate=$2 t0 rc=0; shift 2
  t0=$(date +%s)
  printf '[binaries] %-60s (about %s) ...' "$label" "$estimate"
  { printf '\n### %s\n' "$label"; "$@"; } >>"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf ' failed\n'
    tail -n 12 "$log" | sed 's/^/  | /' >&2
    [ -n "$current" ] && rm -rf "$current"
    die "building $label failed; nothing of it is kept in the cache; the whole log: $log"
  fi
  printf ' %ss\n' "$(( $(date +%s) - t0 ))"
}

command -v go >/dev/null || die "Go is not installed; install Go >= 1.26 (https://go.dev/doc/install) and re-run 'make binaries'."
gov=$(go env GOVERSION); gov=${gov#go}
[ "$(printf '%s\n1.26\n' "$gov" | sort -V | head -1)" = "1.26" ] || die "Go $gov is too old; the pinned Kubernetes needs Go >= 1.26."

proxy_check() {
  [ -n "${proxy_ok:-}" ] && return 0
  timeout 120 go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" > "$work/kubernetes.json" 2>>"$log" \
    || die "cannot reach the Go module proxy ($(go env GOPROXY)); check your network or GOPROXY and re-run 'make binaries'."
  proxy_ok=1
}

# done_dir NAME VERSION -> prints the target directory; returns 0 if it is already complete.
target() { printf '%s/bin/%s-%s' "$cache" "$1" "$2"; }
is_done() { [ -f "$(target "$1" "$2")/.complete" ]; }
mark_done() { touch "$(target "$1" "$2")/.complete"; }

# kube_module DIR VERSION: a module requiring k8s.io/kubernetes VERSION whose staging modules
# (pinned at v0.0.0 with local replaces upstream) point at their published v0.<minor>.<patch>,
# the same recipe scheduler-plugins uses.
kube_module() {
  local mod=$1 v=$2 staging
  mkdir -p "$mod"
  staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' \
    "$(sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' "$work/kubernetes.json")")
  [ -n "$staging" ] || die "could not read k8s.io/kubernetes $v's go.mod from the proxy"
  {
    echo "module stslab.local/kubernetes-build"
    echo; echo "go 1.26"; echo
    echo "require k8s.io/kubernetes $v"; echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m v0.${v#v1.}"; done
    echo ")"
  } > "$mod/go.mod"
}

# kube_ldflags VERSION: strip symbols and stamp the version, as upstream's release build does.
kube_ldflags() {
  local v=$1 minor; minor=${v#v1.}; minor=${minor%%.*}
  printf '%s' "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  printf '%s' " -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION out; out=$(target kubernetes "$v")
  is_done kubernetes "$v" && return 0
  proxy_check
  local mod="$work/kubernetes-$v" b
  current=$out; rm -rf "$out"; mkdir -p "$out"
  kube_module "$mod" "$v"
  local get="" ; for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do get="$get k8s.io/kubernetes/cmd/$b@$v"; done
  # shellcheck disable=SC2086
  step "k8s.io/kubernetes $v: modules" "2 min cold" sh -c "cd '$mod' && rm -f go.sum && go get $get"
  local est
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    case $b in kube-apiserver) est="3 min cold";; *) est="1 min cold";; esac
    step "k8s.io/kubernetes $v: $b" "$est" sh -c "cd '$mod' && go build -tags selinux,notest -trimpath -ldflags '$(kube_ldflags "$v")' -o '$out/$b' k8s.io/kubernetes/cmd/$b"
  done
  mark_done kubernetes "$v"; current=""
}

# The kubelet of the real-node tier (not built by default). Upstream links the kubelet with cgo
# (it is not in hack/lib/golang.sh's KUBE_STATIC_BINARIES), so do the same when a C compiler is
# present; without one it builds static, which the real-node tier also runs with.
build_kubelet() {
  local v=$KUBERNETES_VERSION out; out=$(target kubelet "$v")
  is_done kubelet "$v" && return 0
  proxy_check
  local mod="$work/kubelet-$v" cgo=0
  command -v "$(go env CC)" >/dev/null && cgo=1
  current=$out; rm -rf "$out"; mkdir -p "$out"
  kube_module "$mod" "$v"
  step "k8s.io/kubernetes $v: kubelet modules" "1 min cold" sh -c "cd '$mod' && rm -f go.sum && go get k8s.io/kubernetes/cmd/kubelet@$v"
  step "k8s.io/kubernetes $v: kubelet (CGO_ENABLED=$cgo)" "5 min cold" sh -c "cd '$mod' && CGO_ENABLED=$cgo go build -tags selinux,notest -trimpath -ldflags '$(kube_ldflags "$v")' -o '$out/kubelet' k8s.io/kubernetes/cmd/kubelet"
  mark_done kubelet "$v"; current=""
}

# Everything the offline kind node image needs besides the kubelet: kubeadm and kube-proxy from
# the pinned Kubernetes, the kind CLI, CoreDNS with the plugins kubeadm's Corefile uses
# (health, forward, loop, reload, ...), the local-path provisioner, and the pause binary compiled
# from the pause.c that ships in the k8s.io/kubernetes module.
build_kindnode() {
  local v=$KUBERNETES_VERSION out; out=$(target kindnode "$v-kind-$KIND_VERSION")
  is_done kindnode "$v-kind-$KIND_VERSION" && return 0
  proxy_check
  command -v "$(go env CC)" >/dev/null || die "a C compiler is needed for the pause binary; install gcc and re-run."
  current=$out; rm -rf "$out"; mkdir -p "$out"
  local mod="$work/kindnode-$v"
  kube_module "$mod" "$v"
  step "k8s.io/kubernetes $v: kubeadm, kube-proxy modules" "1 min cold" sh -c "cd '$mod' && rm -f go.sum && go get k8s.io/kubernetes/cmd/kubeadm@$v k8s.io/kubernetes/cmd/kube-proxy@$v"
  step "k8s.io/kubernetes $v: kubeadm, kube-proxy" "2 min cold" sh -c "cd '$mod' && go build -tags selinux,notest -trimpath -ldflags '$(kube_ldflags "$v")' -o '$out/' k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-proxy"
  local src; src=$(cd "$mod" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  step "pause (C, from k8s.io/kubernetes $v)" "1 s" "$(go env CC)" -Os -static -DVERSION="stslab-$v" -o "$out/pause" "$src/build/pause/linux/pause.c"
  step "sigs.k8s.io/kind $KIND_VERSION" "1 min cold" env GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION"
  local cd="$work/coredns-kubeadm-$COREDNS_VERSION"
  mkdir -p "$cd"
  printf 'module stslab.local/coredns-kubeadm\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" > "$cd/go.mod"
  cp "$here/scripts/coredns_kubeadm_main.go" "$cd/main.go"
  step "github.com/coredns/coredns $COREDNS_VERSION (kubeadm's plugins)" "1.5 min cold" sh -c "cd '$cd' && go mod tidy && go build -trimpath -ldflags '-s -w' -o '$out/coredns' ."
  local lp="$work/local-path-$LOCAL_PATH_PROVISIONER_VERSION"
  mkdir -p "$lp"
  printf 'module stslab.local/local-path\n\ngo 1.26\n\nrequire github.com/rancher/local-path-provisioner %s\n' "$LOCAL_PATH_PROVISIONER_VERSION" > "$lp/go.mod"
  step "github.com/rancher/local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION" "1 min cold" sh -c "cd '$lp' && go get github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION && go build -trimpath -ldflags '-s -w' -o '$out/local-path-provisioner' github.com/rancher/local-path-provisioner"
  mark_done kindnode "$v-kind-$KIND_VERSION"; current=""
}

# The k3d CLI at the pinned version (not built by default: cold about 2.5 min on 2 cores). Built
# from a module that requires it, because `go install github.com/k3d-io/k3d/v5@...` also asks
# the proxy for k3d's version list (its deprecation check), which the proxy refuses. The
# ldflags are upstream's Makefile's; the default k3s image is the one pinned here.
build_k3d() {
  local v=$K3D_VERSION out mod; out=$(target k3d "$v"); mod="$work/k3d-$v"
  is_done k3d "$v" && return 0
  proxy_check
  current=$out; mkdir -p "$mod" "$out"
  printf 'module stslab.local/k3d-build\n\ngo 1.26\n\nrequire github.com/k3d-io/k3d/v5 %s\n' "$v" > "$mod/go.mod"
  step "github.com/k3d-io/k3d/v5 $v" "2.5 min cold" sh -c "cd '$mod' && go build -trimpath -ldflags '-s -w -X github.com/k3d-io/k3d/v5/version.Version=$v -X github.com/k3d-io/k3d/v5/version.K3sVersion=${K3S_IMAGE#*:}' -o '$out/k3d' github.com/k3d-io/k3d/v5"
  mark_done k3d "$v"; current=""
}

build_etcd() {
  local v=$ETCD_VERSION out mod; out=$(target etcd "$v"); mod="$work/etcd-$v"
  is_done etcd "$v" && return 0
  proxy_check
  current=$out; mkdir -p "$mod" "$out"
  printf 'module stslab.local/etcd-build\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$v" > "$mod/go.mod"
  # etcdmain.Main is the real etcd command line; `go install` of etcd fails on its replace lines.
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > "$mod/main.go"
  step "go.etcd.io/etcd/server/v3 $v" "1 min cold" sh -c "cd '$mod' && go mod tidy && go build -trimpath -ldflags '-s -w' -o '$out/etcd' ."
  mark_done etcd "$v"; current=""
}

build_coredns() {
  local v=$COREDNS_VERSION out mod; out=$(target coredns "$v"); mod="$work/coredns-$v"
  is_done coredns "$v" && return 0
  proxy_check
  current=$out; mkdir -p "$mod" "$out"
  printf 'module stslab.local/coredns-build\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$v" > "$mod/go.mod"
  cp "$here/scripts/coredns_main.go" "$mod/main.go"
  step "github.com/coredns/coredns $v (the labs' plugins)" "1.5 min cold" sh -c "cd '$mod' && go mod tidy && go build -trimpath -ldflags '-s -w' -o '$out/coredns' ."
  mark_done coredns "$v"; current=""
}

build_kwok() {
  local v=$KWOK_VERSION out; out=$(target kwok "$v")
  is_done kwok "$v" && return 0
  proxy_check
  current=$out; mkdir -p "$out"
  step "sigs.k8s.io/kwok $v (kwok, kwokctl)" "1.5 min cold" env GOBIN="$out" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$v" \
    "sigs.k8s.io/kwok/cmd/kwok@$v" "sigs.k8s.io/kwok/cmd/kwokctl@$v"
  mark_done kwok "$v"; current=""
}

mkdir -p "$work"
start=$(date +%s)
for c in ${*:-etcd kwok coredns kubernetes}; do "build_$c"; done
say "all binaries present in $cache/bin ($(( $(date +%s) - start ))s)"
