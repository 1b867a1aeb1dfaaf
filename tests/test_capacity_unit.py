"""A scale the machine cannot hold is refused in one line, before anything starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stslab.cluster.kwok import capacity
from stslab.core.errors import UsageError
from stslab.core.paths import project_root


def test_too_many_nodes_for_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with pytest.raises(UsageError) as e:
        capacity.check(nodes=2_001)
    assert "2,001 simulated nodes are too many" in e.value.cause and "2,000" in e.value.fix


def test_more_pods_than_the_nodes_hold() -> None:
    with pytest.raises(UsageError) as e:
        capacity.check(nodes=10, pods=1_101)
    assert "do not fit on 10 nodes" in e.value.cause and "at least 11 nodes" in e.value.fix


def test_more_memory_than_the_machine_has(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "available_mib", lambda: 4096.0)
    capacity.check(nodes=10, pods=1_000)  # about 1 GiB: fits
    with pytest.raises(UsageError) as e:
        capacity.check(nodes=1_000, pods=100_000)
    assert "GiB for the control plane; this machine has 4.0 GiB free" in e.value.cause
    assert e.value.fix.startswith("use at most ")


def test_the_benchmark_refuses_a_scale_in_one_line_and_starts_nothing() -> None:
    bench = project_root() / "scripts" / "bench.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--only", "scale", "--pods", "10000000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: 10,000,000 pods ") and " — use at most " in line
