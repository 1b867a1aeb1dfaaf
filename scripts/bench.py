"""Benchmark of the simulated cluster: cold and warm `up`, steady RSS, `down`.

Runs the real backend in a private state dir on free ports (a learner's lab cluster is left
alone), repeats each measurement, and writes bench/report.md.

    cold up   create a new cluster until every node is Ready (binaries already built)
    warm up   restart a stopped cluster from its etcd data until every node is Ready
    RSS       resident memory of all control-plane processes together, 10 s after up
    down      tear everything down until no process is left
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from stslab.backends.base import UpOptions
from stslab.backends.kwok import KwokBackend
from stslab.paths import project_root
from stslab.procs import free_port, pid_cmdline
from stslab.versions import pinned


def rss_mib(pids: list[int]) -> tuple[float, dict[str, float]]:
    per: dict[str, float] = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kib = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
        name = Path(pid_cmdline(pid)[0]).name if pid_cmdline(pid) else str(pid)
        per[name] = per.get(name, 0.0) + kib / 1024
    return sum(per.values()), per


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=project_root() / "bench" / "report.md")
    args = parser.parse_args()

    cold, warm, down, rss = [], [], [], []
    per_proc: dict[str, float] = {}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
            backend = KwokBackend(Path(tmp))
            opts = UpOptions(api_port=free_port(), dns_port=free_port())
            cold.append(timed(backend.up, opts))
            time.sleep(10)
            total, per_proc = rss_mib(backend.process_pids())
            rss.append(total)
            backend.stop()
            warm.append(timed(backend.up, UpOptions()))
            down.append(timed(backend.down))
            print(
                f"run {i + 1}: cold up {cold[-1]:.1f}s, warm up {warm[-1]:.1f}s, "
                f"RSS {rss[-1]:.0f} MiB, down {down[-1]:.1f}s",
                flush=True,
            )

    def row(name: str, xs: list[float], unit: str, target: str) -> str:
        return (
            f"| {name} | {statistics.median(xs):.1f} {unit} | {min(xs):.1f}–{max(xs):.1f} "
            f"| {target} |"
        )

    v = pinned()
    lines = [
        "# stslab benchmark: the simulated (kwok) cluster",
        "",
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} "
        f"cores; Kubernetes {v.kubernetes}, etcd {v.etcd}, kwok {v.kwok}, CoreDNS {v.coredns}; "
        f"3 worker nodes; {args.runs} runs (median, range).",
        "",
        "| measure | median | range | target |",
        "|---|---|---|---|",
        row("cold `stslab up` (new cluster, nodes Ready)", cold, "s", "—"),
        row("warm `stslab up` (restart of a stopped cluster)", warm, "s", "≤ 10 s"),
        row("steady RSS of all control-plane processes", rss, "MiB", "≤ 800 MiB"),
        row("`stslab down`", down, "s", "—"),
        "",
        "RSS by process (last run): "
        + ", ".join(f"{k} {val:.0f} MiB" for k, val in sorted(per_proc.items())),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
