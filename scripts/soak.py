"""Soak (``make soak``): many cycles, then compare the machine before and after.

1. ``stslab up`` / ``stslab down`` of the simulated backend, ``--cycles`` times (20).
2. One cluster; every lab headless ``--lab-runs`` times in a row (3) without ``down``: each
   run's result and time (drift), and what the labs left in the cluster.
3. Processes, listening ports, mounts, network interfaces, the files under the state
   directory and its disk use, compared with what was there before.

Everything runs in a private state directory on free ports. Writes bench/soak.md and exits
nonzero when anything leaked or a lab failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATE = Path(tempfile.mkdtemp(prefix="stslab-soak-"))
os.environ["STSLAB_STATE"] = str(STATE)  # before stslab reads it

from kubernetes import client  # noqa: E402

from stslab.cluster.base import UpOptions  # noqa: E402
from stslab.cluster.kwok import KwokBackend  # noqa: E402
from stslab.core.kube import api_client  # noqa: E402
from stslab.core.paths import project_root  # noqa: E402
from stslab.core.procs import free_port, pid_cmdline  # noqa: E402
from stslab.ops.runner import run_labs  # noqa: E402

# What a lab cluster or a lab run starts; anything else on the machine is not ours to count.
OURS = ("etcd", "kube-", "kwok", "coredns", "containerd", "kubelet", "dockerd", "jupyter", "stslab")


def processes() -> set[str]:
    """Command lines of the processes stslab, its clusters or its lab kernels could leave."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cmd = " ".join(pid_cmdline(int(entry.name)))
            if (
                str(STATE) in cmd
                or "ipykernel" in cmd
                or any(Path(part).name.startswith(OURS) for part in cmd.split()[:3])
            ):
                out.add(cmd[:200])
    return out


def listening() -> set[str]:
    """TCP ports in LISTEN and bound UDP ports, as proto:port."""
    out = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if table.startswith("udp") or f[3] == "0A":
                out.add(f"{table}:{int(f[1].rsplit(':', 1)[1], 16)}")
    return out


def mounts() -> set[str]:
    """Mount points of this mount namespace."""
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}


def interfaces() -> set[str]:
    """Network interfaces."""
    return set(os.listdir("/sys/class/net"))


def state_files() -> tuple[int, int]:
    """Files under the state directory, and its disk use in KiB."""
    files = sum(1 for p in STATE.rglob("*") if p.is_file()) if STATE.exists() else 0
    du = subprocess.run(["du", "-sk", str(STATE)], capture_output=True, text=True).stdout
    return files, int(du.split()[0]) if du else 0


def snapshot() -> dict[str, set[str]]:
    """What the comparison looks at (the state directory is compared separately)."""
    return {
        "processes": processes(),
        "listening ports": listening(),
        "mounts": mounts(),
        "interfaces": interfaces(),
    }


def diff(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    """What ``after`` has that ``before`` had not, one line per kind."""
    lines = []
    for kind, was in before.items():
        new = sorted(after[kind] - was)
        if new:
            lines.append(f"{kind}: {len(new)} new: {'; '.join(new[:5])}")
    return lines


def cluster_objects(backend: KwokBackend) -> dict[str, int]:
    """Counts of what labs make and must remove again."""
    rec = backend.record()
    assert rec is not None
    api = api_client(rec.kubeconfig, rec.context)
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    return {
        "namespaces": len(core.list_namespace().items),
        "persistent volumes": len(core.list_persistent_volume().items),
        "storage classes": len(storage.list_storage_class().items),
        "nodes": len(core.list_node().items),
        "cordoned nodes": sum(bool(n.spec.unschedulable) for n in core.list_node().items),
    }


def main() -> int:
    """Run the soak and write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--lab-runs", type=int, default=3)
    parser.add_argument("--labs", nargs="*", default=[], help="lab numbers (default: all)")
    args = parser.parse_args()
    backend = KwokBackend(STATE)
    problems: list[str] = []
    report = ["# Soak", "", f"Run on {time.strftime('%Y-%m-%d')}, 2 cores.", ""]

    before = snapshot()
    times = []
    for i in range(args.cycles):
        start = time.monotonic()
        backend.up(UpOptions(nodes=3, api_port=free_port(), dns_port=free_port()))
        up = time.monotonic() - start
        backend.down()
        times.append((up, time.monotonic() - start - up))
        print(f"cycle {i + 1}: up {up:.1f} s, down {times[-1][1]:.1f} s", flush=True)
    leaks = diff(before, snapshot())
    files, kib = state_files()
    if (STATE / "kwok").exists():
        leaks.append(f"state directory: {files} files, {kib} KiB left")
    ups = sorted(t[0] for t in times)
    downs = sorted(t[1] for t in times)
    report += [
        f"## {args.cycles} × `stslab up` / `stslab down`",
        "",
        f"- up: median {ups[len(ups) // 2]:.1f} s (min {ups[0]:.1f}, max {ups[-1]:.1f});"
        f" down: median {downs[len(downs) // 2]:.1f} s (max {downs[-1]:.1f})",
        f"- left behind: {'; '.join(leaks) if leaks else 'nothing'}",
        "",
    ]
    problems += leaks

    before = snapshot()
    backend.up(UpOptions(nodes=3, api_port=free_port(), dns_port=free_port()))
    objects_before = cluster_objects(backend)
    files_before, kib_before = state_files()
    report += [
        f"## Every lab {args.lab_runs} times in a row, without `down`",
        "",
        "| run | " + " | ".join(f"lab {n}" for n in _numbers(args.labs)) + " |",
        "|---|" + "---|" * len(_numbers(args.labs)),
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="stslab-soak-labs-") as build:
            for run in range(args.lab_runs):
                results = run_labs(args.labs, backend="kwok", build=Path(build))
                cells = [f"{'pass' if r.ok else 'FAIL'} {r.seconds:.0f} s" for r in results]
                report.append(f"| {run + 1} | " + " | ".join(cells) + " |")
                problems += [f"run {run + 1}: {r.path.stem} failed" for r in results if not r.ok]
        objects_after = cluster_objects(backend)
        files_after, kib_after = state_files()
    finally:
        backend.down()
    drift = [
        f"{k}: {objects_before[k]} → {v}"
        for k, v in objects_after.items()
        if v != objects_before[k]
    ]
    leaks = diff(before, snapshot())
    report += [
        "",
        f"- cluster objects after the runs: {'; '.join(drift) if drift else 'as before'}",
        f"- state directory: {files_before} → {files_after} files, "
        f"{kib_before} → {kib_after} KiB (etcd's data and logs grow with use)",
        f"- left behind after `down`: {'; '.join(leaks) if leaks else 'nothing'}",
        "",
    ]
    problems += drift + leaks
    report += ["## Verdict", "", "\n".join(f"- {p}" for p in problems) or "Nothing leaked.", ""]
    out = project_root() / "bench" / "soak.md"
    out.write_text("\n".join(report))
    print("\n".join(report))
    return 1 if problems else 0


def _numbers(selected: list[str]) -> list[str]:
    from stslab.ops.runner import select

    return [p.name[:2] for p in select(selected)]


if __name__ == "__main__":
    sys.exit(main())
