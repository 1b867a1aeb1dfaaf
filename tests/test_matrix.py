"""Another Kubernetes release on the simulated backend: a cluster of it, and labs 00-02 on it.

The pinned release runs every lab elsewhere in the suite; here the release `make test` builds
besides it (TEST_RELEASE in the Makefile) runs what a maintainer's `make matrix` runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stslab.cluster.base import UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.core.errors import UsageError
from stslab.core.kube import kubectl_env
from stslab.core.procs import free_port
from stslab.core.versions import minor, release
from stslab.ops import matrix

OTHER = os.environ.get("STSLAB_TEST_RELEASE", "1.35")

pytestmark = pytest.mark.cluster


def test_a_cluster_of_another_release_says_so_and_keeps_it(isolated_state: Path) -> None:
    version = release(OTHER)
    backend = KwokBackend(isolated_state)
    rec = backend.up(UpOptions(kubernetes=OTHER, api_port=free_port(), dns_port=free_port()))
    try:
        assert rec.extra["kubernetes"] == version
        assert backend.status().kubernetes == version
        env = dict(os.environ) | kubectl_env(rec.kubeconfig, os.environ["PATH"], version)
        out = subprocess.run(
            ["kubectl", "version", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.count(f'"gitVersion": "{version}"') == 2  # the client and the server
        with pytest.raises(UsageError, match=f"runs Kubernetes {version}"):
            backend.up(UpOptions(kubernetes=release(None)))
        backend.stop()
        backend.up(UpOptions())  # a restart keeps its release
        assert backend.status().kubernetes == version
    finally:
        backend.down()


def test_labs_00_to_02_pass_on_another_release(isolated_state: Path, tmp_path: Path) -> None:
    version = release(OTHER)
    cells = matrix.run_matrix([OTHER], ["00", "01", "02"], build=tmp_path)
    assert [c.result.number for c in cells] == ["00", "01", "02"]
    assert all(c.result.ok for c in cells), matrix.table(cells)
    assert all(c.release == version for c in cells)
    assert f"| lab | {version} |" in (tmp_path / "matrix.md").read_text()
    executed = tmp_path / version.removeprefix("v").rsplit(".", 1)[0] / cells[0].result.path.name
    assert f"Kubernetes {version}" in executed.read_text()  # lab 00 says which release runs
    assert not (isolated_state / "matrix" / minor(version)).exists()  # its cluster went with it
