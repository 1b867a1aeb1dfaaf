"""Small helpers for the local processes of the simulated backend: ports, pids, commands."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stslab.core.errors import PortInUseError, StslabError, ToolMissingError

LOOPBACK = "127.0.0.1"


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def require_port(port: int, what: str, flag: str) -> None:
    """Raise :class:`PortInUseError` when ``port`` is taken."""
    if not port_free(port):
        raise PortInUseError(
            f"port {port} on {LOOPBACK} ({what}) is already in use",
            f"stop what uses it (`ss -ltnp 'sport = :{port}'`) or pick another with {flag}",
        )


def free_port() -> int:
    """A port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True when a process with this pid has a thread that is not a zombie.

    A Go program's main thread can be a zombie while its other threads still hold its
    sockets, and orphans may never be reaped here, so look at every thread.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
            return True
    return False


def pid_cmdline(pid: int) -> list[str]:
    """The command line of a process, or [] when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process, then SIGKILL it if it is still there after ``timeout`` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def which(tool: str, fix: str) -> str:
    """The path of ``tool`` on PATH, or :class:`ToolMissingError` naming the fix."""
    path = shutil.which(tool)
    if not path:
        raise ToolMissingError(f"`{tool}` is not installed", fix)
    return path


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    what: str = "",
) -> str:
    """Run a command, returning stdout; on failure raise with the last lines of its output."""
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(
            list(cmd), env=full_env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise StslabError(f"{what or cmd[0]} did not finish in {timeout:.0f}s") from e
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise StslabError(f"{what or cmd[0]} failed (exit {proc.returncode}): {tail}")
    return proc.stdout
