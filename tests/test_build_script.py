"""scripts/build-binaries.sh: a clear error and a nonzero exit when Go or the proxy is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build-binaries.sh"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "etcd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_missing_go_is_explained(tmp_path: Path) -> None:
    path = "/usr/bin:/bin"
    if shutil.which("go", path=path):
        pytest.skip("go is installed in /usr/bin here")
    res = _run({"PATH": path, "HOME": str(tmp_path), "STSLAB_CACHE": str(tmp_path / "c")})
    assert res.returncode == 1
    assert res.stderr.strip().startswith("error: Go is not installed")
    assert "make binaries" in res.stderr
    assert not (tmp_path / "c" / "bin").exists()


def test_unreachable_proxy_is_explained(tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.skip("needs Go: without it the script stops earlier (the test above)")
    env = dict(
        os.environ,
        STSLAB_CACHE=str(tmp_path / "c"),
        GOPROXY="off",
        GOMODCACHE=str(tmp_path / "mod"),
        GOCACHE=str(tmp_path / "gocache"),
    )
    res = _run(env)
    assert res.returncode == 1
    assert "cannot reach the Go module proxy" in res.stderr
    assert not (tmp_path / "c" / "bin").exists()


def test_an_unknown_release_names_those_that_can_be_built(tmp_path: Path) -> None:
    for wanted in ("1.29", "banana", "1"):
        env = dict(os.environ, STSLAB_CACHE=str(tmp_path / "c"), STSLAB_KUBERNETES=wanted)
        res = subprocess.run(
            ["bash", str(SCRIPT), "kubernetes"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 1
        [line] = res.stderr.strip().splitlines()
        assert f"Kubernetes '{wanted}' cannot be built here" in line and "v1.35.4" in line
        assert not (tmp_path / "c" / "bin").exists()


FAKE_GO = """#!/bin/sh
# A Go that serves the module and fails to compile: what a release whose build breaks does.
case "$1 $2" in
  "env GOVERSION") echo go1.26.8 ;;
  "env GOPROXY") echo https://proxy.example ;;
  "mod download") printf '{\\n\\t"GoMod": "%s",\\n}\\n' "$FAKE_GOMOD" ;;
  get*) exit 0 ;;
  build*) echo "cmd/kube-apiserver: undefined: something (a fake compile error)" >&2; exit 1 ;;
  *) exit 0 ;;
esac
"""


def test_a_failed_build_keeps_nothing_and_names_module_version_and_log(tmp_path: Path) -> None:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "go").write_text(FAKE_GO)
    (bindir / "go").chmod(0o755)
    gomod = tmp_path / "kubernetes.mod"
    gomod.write_text(
        "module k8s.io/kubernetes\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n)\n"
    )
    cache = tmp_path / "c"
    env = dict(
        os.environ,
        PATH=f"{bindir}:{os.environ['PATH']}",
        STSLAB_CACHE=str(cache),
        STSLAB_KUBERNETES="1.35",
        FAKE_GOMOD=str(gomod),
    )
    res = subprocess.run(
        ["bash", str(SCRIPT), "kubernetes"], env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 1
    # one progress line per step, not the go command's output
    assert "k8s.io/kubernetes v1.35.4: modules" in res.stdout
    assert "kube-apiserver" in res.stdout and "failed" in res.stdout
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: building k8s.io/kubernetes v1.35.4: kube-apiserver failed")
    assert "nothing of it is kept" in last
    log = Path(last.rsplit("the whole log: ", 1)[1])
    assert "a fake compile error" in log.read_text()
    assert "a fake compile error" in res.stderr  # the log's last lines, shown
    assert not (cache / "bin" / "kubernetes-v1.35.4").exists()


def test_up_of_a_release_whose_build_fails_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "go").write_text(FAKE_GO)
    (bindir / "go").chmod(0o755)
    gomod = tmp_path / "kubernetes.mod"
    gomod.write_text(
        "module k8s.io/kubernetes\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n)\n"
    )
    env = dict(
        os.environ,
        PATH=f"{bindir}:{os.environ['PATH']}",
        STSLAB_CACHE=str(tmp_path / "c"),
        STSLAB_STATE=str(tmp_path / "state"),
        FAKE_GOMOD=str(gomod),
    )
    stslab = str(Path(sys.executable).with_name("stslab"))
    res = subprocess.run(
        [stslab, "up", "--backend", "kwok", "--kubernetes", "1.35", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2 and "--port 1 is not a usable port" in res.stderr  # nothing built
    res = subprocess.run(
        [stslab, "up", "--backend", "kwok", "--kubernetes", "1.35"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 1
    assert "building Kubernetes v1.35.4 once" in res.stdout
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: building Kubernetes v1.35.4 (k8s.io/kubernetes v1.35.4) failed")
    assert "nothing of it is kept" in last
    assert not (tmp_path / "c" / "bin" / "kubernetes-v1.35.4").exists()
    assert not list((tmp_path / "state").rglob("cluster.json"))
