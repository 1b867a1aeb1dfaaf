"""Small helpers for the local processes of the simulated backend: ports, pids, commands."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from stslab.core.errors import PortInUseError, StslabError, ToolMissingError
from stslab.core.files import write_atomic

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


def port_holder(port: int) -> str:
    """Who listens on TCP ``port``: "pid 123 (etcd …/state/kwok/…)", or "" when unknown.

    Read from /proc: the listening socket's inode in /proc/net/tcp, then the process holding
    that inode among its file descriptors (all of them as root, one's own otherwise).
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{f[9]}]")
    if not inodes:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    cmd = pid_cmdline(int(proc.name))
                    shown = " ".join(cmd)
                    return f"pid {proc.name} ({shown[:160]})"
            except OSError:
                continue
    return ""


def require_port(port: int, what: str, flag: str = "") -> None:
    """Raise :class:`PortInUseError` naming the holder when ``port`` is taken."""
    if not port_free(port):
        holder = port_holder(port)
        held = f" by {holder}" if holder else ""
        fix = f"stop what uses it (`ss -ltnp 'sport = :{port}'`)"
        raise PortInUseError(
            f"port {port} on {LOOPBACK} ({what}) is already in use{held}",
            f"{fix} or pick another with {flag}" if flag else fix,
        )


# Ports stslab picks for itself lie below the kernel's ephemeral range (32768-60999 by
# default), where outgoing connections take their local ports: a port picked from that range
# can be free now and taken by some client's connection by the time the component restarts.
PICK_FIRST, PICK_LAST = 20000, 32000


def pick_ports(count: int, seed: str, taken: set[int] | None = None) -> list[int]:
    """``count`` free loopback ports below the ephemeral range, starting where ``seed`` says.

    Two state directories get different starting points, so their clusters rarely even
    probe the same ports; a port in use (or in ``taken``) is skipped.
    """
    span = PICK_LAST - PICK_FIRST
    start = PICK_FIRST + (zlib.crc32(seed.encode()) % (span // 16)) * 16
    out: list[int] = []
    for i in range(span):
        port = PICK_FIRST + (start - PICK_FIRST + i) % span
        if port in (taken or set()) or not port_free(port):
            continue
        out.append(port)
        if len(out) == count:
            return out
    raise PortInUseError(
        f"no {count} free ports between {PICK_FIRST} and {PICK_LAST} on {LOOPBACK}",
        "stop other lab clusters (`stslab down`) or whatever holds those ports",
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


def processes() -> Iterator[tuple[int, list[str]]]:
    """Every other live process: (pid, command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        cmd = pid_cmdline(pid)
        if cmd and pid_alive(pid):
            yield pid, cmd


def find_process(program: str, mentioning: str) -> int | None:
    """The pid of a live ``program`` (its executable's name) whose arguments name ``mentioning``."""
    return next(
        (
            pid
            for pid, cmd in processes()
            if Path(cmd[0]).name == program and any(mentioning in arg for arg in cmd[1:])
        ),
        None,
    )


def pid_from_file(program: str, pid_file: Path, mentioning: str) -> int | None:
    """The pid of ``program`` kept in ``pid_file``, checked against the process it names.

    A missing or damaged file, or one naming another process: the process is found by its
    command line (:func:`find_process`) and the file written again, so that a running
    component is never started a second time.
    """
    try:
        pid = int(pid_file.read_text().strip())
        cmd = pid_cmdline(pid)
        if pid_alive(pid) and cmd and Path(cmd[0]).name == program:
            return pid
    except (OSError, ValueError):
        pass
    found = find_process(program, mentioning)
    if found is not None:
        write_atomic(pid_file, str(found))  # kwokctl reads its pid files bare
    return found


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


# How many of a failed command's last lines its error quotes.
TAIL_LINES = 3


@dataclass(frozen=True)
class Result:
    """What a command run with ``check=False`` gave back (output decoded, never trimmed)."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0

    @property
    def tail(self) -> str:
        """The last lines of its output, as one line: what an error about it quotes."""
        return " | ".join((self.stderr or self.stdout).strip().splitlines()[-TAIL_LINES:])


@overload
def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = ...,
    what: str = ...,
    check: Literal[True] = ...,
    input: str | bytes | None = ...,
    cwd: str | Path | None = ...,
    fix: str = ...,
    error: type[StslabError] = ...,
    stream: bool = ...,
) -> str: ...


@overload
def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = ...,
    what: str = ...,
    check: Literal[False],
    input: str | bytes | None = ...,
    cwd: str | Path | None = ...,
    fix: str = ...,
    error: type[StslabError] = ...,
    stream: bool = ...,
) -> Result: ...


def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    what: str = "",
    check: bool = True,
    input: str | bytes | None = None,
    cwd: str | Path | None = None,
    fix: str = "",
    error: type[StslabError] = StslabError,
    stream: bool = False,
) -> str | Result:
    """Run a command, returning stdout; on failure raise with the last lines of its output.

    The one way stslab runs a command to its end (long-running processes use ``Popen``).
    ``timeout`` is required: a tool that hangs (a stuck Docker engine, an unanswered
    registry) must end in an error that says so, not a command that never returns.

    - ``env`` is added to this process's environment; ``cwd`` is where the command runs;
      ``input`` (text or bytes) goes to its stdin.
    - A nonzero exit raises ``error`` (:class:`StslabError` or a subclass) with the cause
      "<what> failed (exit N): <its last lines>" and ``fix``; ``what`` defaults to the
      program. A program that cannot start, or a timeout, raises the same way.
    - ``check=False``: a nonzero exit is no error; a :class:`Result` comes back instead.
    - ``stream=True``: its output goes to this process's own as it comes (a long build's
      progress lines), and is not captured.

    Output is decoded as UTF-8, with undecodable bytes replaced.
    """
    what = what or cmd[0]
    try:
        proc = subprocess.run(
            list(cmd),
            env={**os.environ, **(env or {})},
            cwd=cwd,
            input=input.encode() if isinstance(input, str) else input,
            capture_output=not stream,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise error(f"{what} did not finish in {timeout:.0f}s", fix) from e
    except OSError as e:  # no such program, not executable, ...
        raise error(f"{what} failed: {e}", fix) from e
    done = Result(
        proc.returncode,
        (proc.stdout or b"").decode(errors="replace"),
        (proc.stderr or b"").decode(errors="replace"),
    )
    if not check:
        return done
    if not done.ok:
        said = f": {done.tail}" if done.tail else ""  # streamed: its lines are already shown
        raise error(f"{what} failed (exit {done.returncode}){said}", fix)
    return done.stdout


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set these environment variables for the block (and what it starts); put them back."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
