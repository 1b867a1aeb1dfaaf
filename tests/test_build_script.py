"""scripts/build-binaries.sh: a clear error and a nonzero exit when Go or the proxy is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
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
