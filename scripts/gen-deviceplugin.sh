#!/usr/bin/env bash
# Generate the Python stubs of the kubelet device-plugin API (v1beta1) from the pinned proto.
#
#   scripts/gen-deviceplugin.sh             regenerate stslab/gpu/v1beta1/ (commit the result)
#   scripts/gen-deviceplugin.sh OUT_DIR     generate into OUT_DIR instead (the tests compare)
#   PYTHON=/path/to/python ...              the interpreter with grpcio-tools
#                                           (default: the project's .venv, else python3)
#
# The proto is k8s.io/kubelet's pkg/apis/deviceplugin/v1beta1/api.proto at v0.<minor>.<patch> of
# KUBERNETES_VERSION in clusters/versions.env, fetched from the Go module proxy with `go mod
# download`. Writes api.proto (a copy, for reference), api_pb2.py, api_pb2.pyi and
# api_pb2_grpc.py; the package's __init__.py (hand-written) is left alone.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
source "$here/clusters/versions.env"
out=${1:-$here/stslab/gpu/v1beta1}
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$here/.venv/bin/python" ]; then python=$here/.venv/bin/python; else python=python3; fi
fi
module=k8s.io/kubelet
version=v0.${KUBERNETES_VERSION#v1.}

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is not installed; install Go >= 1.26 (https://go.dev/doc/install) and re-run."
"$python" -c 'import grpc_tools.protoc' 2>/dev/null \
  || die "grpcio-tools is missing for $python; run \`.venv/bin/pip install -e '.[dev]'\` and re-run."
mkdir -p "$out"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# In an empty directory, so no go.mod around us is consulted or changed.
json=$(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS= timeout 120 go mod download -json "$module@$version") \
  || die "cannot download $module@$version from the Go module proxy ($(go env GOPROXY)); check your network or GOPROXY."
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
proto=$dir/pkg/apis/deviceplugin/v1beta1/api.proto
[ -f "$proto" ] || die "$module@$version has no pkg/apis/deviceplugin/v1beta1/api.proto"

# protoc names the modules after the file: api.proto -> api_pb2, api_pb2_grpc.
mkdir -p "$tmp/src" "$tmp/gen"
cp "$proto" "$tmp/src/api.proto"
chmod 644 "$tmp/src/api.proto" # the module cache is read-only
"$python" -m grpc_tools.protoc -I "$tmp/src" \
  --python_out="$tmp/gen" --pyi_out="$tmp/gen" --grpc_python_out="$tmp/gen" \
  "$tmp/src/api.proto"
# protoc writes a top-level import; the stubs live in a package.
sed -i 's/^import api_pb2 as api__pb2$/from . import api_pb2 as api__pb2/' "$tmp/gen/api_pb2_grpc.py"
grep -q '^from \. import api_pb2 as api__pb2$' "$tmp/gen/api_pb2_grpc.py" \
  || die "the generated api_pb2_grpc.py no longer imports api_pb2 the expected way; update this script"

cp "$tmp/src/api.proto" "$tmp/gen/api_pb2.py" "$tmp/gen/api_pb2.pyi" "$tmp/gen/api_pb2_grpc.py" "$out/"
printf 'generated %s from %s@%s into %s\n' "api_pb2{.py,.pyi,_grpc.py}" "$module" "$version" "$out"
