"""A simulated cluster's processes: finding each one, naming one that died, its supervisor.

kwokctl keeps a pid file per component, read through :func:`stslab.core.procs.pid_from_file`
(a damaged one never makes the supervisor start a running component a second time).
:func:`exited` names a component that is not running with its log's last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stslab.cluster.kwok.supervisor import supervisor_pid
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until
from stslab.core.procs import processes


def exited(pids: dict[str, int | None], logs: dict[str, Path]) -> ClusterStateError | None:
    """The first component that started (it has a log) but does not run, with its last line."""
    for name, pid in pids.items():
        if pid is not None:
            continue
        log = logs[name]
        try:
            lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()]
        except OSError:
            continue  # never started: not this one's fault
        last = next((ln for ln in reversed(lines) if ln), "its log is empty")
        return ClusterStateError(
            f"{name} exited at start: {last[-300:]}",
            f"read its log ({log.name}); `stslab doctor` checks the binaries",
        )
    return None


def pids_mentioning(path: Path) -> list[int]:
    """Pids of processes whose command line names a file under ``path`` (not this one)."""
    return sorted(pid for pid, cmd in processes() if any(str(path) in part for part in cmd))


def kwokctl_error(output: str) -> str:
    """What kwokctl said in its JSON log lines: the last error's message and its cause."""
    for chunk in reversed(output.split(" | ")):
        start = chunk.find("{")
        try:
            line = json.loads(chunk[start:]) if start >= 0 else None
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("level") == "ERROR":
            err = " ".join(str(line.get("err", "")).split())  # its newlines, as one line
            return f"{line.get('msg', '')}: {err}".strip(": ")
    return ""


def start_supervisor(workdir: Path) -> None:
    """Start the supervisor of the cluster in ``workdir`` (see :mod:`~.supervisor`)."""
    if supervisor_pid(workdir) is not None:
        return
    package_parent = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package_parent), *sys.path])}
    with open(workdir / "supervisor.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "stslab.cluster.kwok", "--supervise", str(workdir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,  # not ended by a Ctrl-C in the terminal that ran up
        )
    wait_until(
        lambda: supervisor_pid(workdir) is not None,
        timeout=15,
        what="the cluster's supervisor starting",
        hint=f"see {workdir / 'supervisor.log'}",
    )
