"""Keep a simulated cluster's processes running: a component that dies is started again.

``stslab up`` starts one supervisor per kwok lab cluster, a small process of its own
(``python -m stslab.cluster.kwok --supervise <state>/kwok``), and ``stslab stop`` and
``stslab down`` end it before anything else, so it never restarts what they are stopping.

Once a second it looks at every component's pid: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok-controller (kwokctl's pid files) and CoreDNS.
A dead one is started again with the same data and ports (``kwokctl start cluster`` starts
only the missing ones), and the restart is written to ``restarts.json`` beside the record,
which ``stslab status`` shows. A component that died :data:`CRASH_LOOP` times within
:data:`CRASH_WINDOW` seconds is left down and marked so: restarting it again would only hide a
fault that its log explains.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stslab.core.files import write_atomic
from stslab.core.procs import pid_alive, pid_cmdline, terminate

CRASH_LOOP = 5
CRASH_WINDOW = 120.0
INTERVAL = 1.0
PID_FILE = "supervisor.pid"
RESTARTS_FILE = "restarts.json"


@dataclass
class Restarts:
    """What the supervisor did for one component."""

    count: int = 0
    last: str = ""  # when it last died (UTC, ISO 8601)
    last_recovery_seconds: float | None = None  # from noticing it dead to running again
    gave_up: bool = False
    recent: list[float] = field(default_factory=list)  # monotonic times, for the crash loop


def read_restarts(workdir: Path) -> dict[str, Restarts]:
    """The restarts recorded in ``workdir`` (empty when none, or unreadable)."""
    try:
        raw = json.loads((workdir / RESTARTS_FILE).read_text())
        return {name: Restarts(**value) for name, value in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def describe(restarts: dict[str, Restarts]) -> str:
    """One phrase for ``stslab status``: "restarts: kube-scheduler ×2", or ""."""
    parts = []
    for name, r in sorted(restarts.items()):
        if r.gave_up:
            parts.append(f"{name} keeps dying ({r.count} restarts), left down: see its log")
        elif r.count:
            parts.append(f"{name} ×{r.count}")
    return "restarts: " + ", ".join(parts) if parts else ""


def supervisor_pid(workdir: Path) -> int | None:
    """The pid of the running supervisor of ``workdir``, else None."""
    try:
        pid = int((workdir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = pid_cmdline(pid)
    if pid_alive(pid) and "--supervise" in cmd and str(workdir) in cmd:
        return pid
    return None


def stop_supervisor(workdir: Path) -> None:
    """End the supervisor of ``workdir``, letting a restart it is doing finish first."""
    pid = supervisor_pid(workdir)
    if pid is not None:
        terminate(pid, timeout=45)
    (workdir / PID_FILE).unlink(missing_ok=True)


class Supervisor:
    """The loop: watch ``pids()``, call ``restart(dead)``, record what happened."""

    def __init__(
        self,
        workdir: Path,
        pids: Callable[[], dict[str, int | None]],
        restart: Callable[[list[str]], None],
        keep_going: Callable[[], bool],
    ) -> None:
        self.workdir = workdir
        self.pids = pids
        self.restart = restart
        self.keep_going = keep_going
        self.restarts = read_restarts(workdir)
        self._stop = threading.Event()

    def request_stop(self, *_: Any) -> None:
        """Stop after the current step (the SIGTERM handler)."""
        self._stop.set()

    def run(self) -> None:
        """Supervise until asked to stop or the cluster is stopped or gone."""
        write_atomic(self.workdir / PID_FILE, f"{os.getpid()}\n")
        while not self._stop.is_set() and self.keep_going():
            self.step()
            self._stop.wait(INTERVAL)

    def step(self) -> list[str]:
        """One look: start again what died; return what was restarted."""
        dead = [name for name, pid in self.pids().items() if pid is None or not pid_alive(pid)]
        now = time.monotonic()
        todo = []
        for name in dead:
            r = self.restarts.setdefault(name, Restarts())
            if r.gave_up:
                continue
            r.recent = [t for t in r.recent if now - t < CRASH_WINDOW] + [now]
            r.count += 1
            r.last = datetime.now(timezone.utc).isoformat(timespec="seconds")
            if len(r.recent) > CRASH_LOOP:
                r.gave_up = True
                print(f"{name} died {len(r.recent)} times in {CRASH_WINDOW:.0f} s: left down")
                continue
            todo.append(name)
        if todo and not self._stop.is_set():
            print(f"{datetime.now(timezone.utc):%H:%M:%S} restarting {', '.join(todo)}")
            try:
                self.restart(todo)
            except Exception as e:  # noqa: BLE001 - report it and look again next second
                print(f"restart of {', '.join(todo)} failed: {e}")
            took = time.monotonic() - now
            for name in todo:
                self.restarts[name].last_recovery_seconds = round(took, 2)
        if dead:
            self._save()
        return todo

    def _save(self) -> None:
        data = {name: asdict(r) for name, r in self.restarts.items()}
        write_atomic(self.workdir / RESTARTS_FILE, json.dumps(data, indent=2) + "\n")


def serve(supervisor: Supervisor) -> None:
    """Run ``supervisor`` in this process until SIGTERM (or the cluster stops)."""
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    supervisor.run()
