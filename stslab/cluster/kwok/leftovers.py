"""What a kwok cluster leaves when it goes: logs worth keeping, and processes to end.

A failed ``stslab up`` removes the cluster's state, but :func:`keep_logs` copies the
components' logs out first, so its error can point at them; :func:`end_processes` ends every
process of a cluster (after ``kwokctl stop``/``delete``, or when they failed) and waits until
each is gone, so that its ports are free again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from stslab.cluster.kwok.processes import pids_mentioning
from stslab.core.procs import pid_cmdline, terminate


def keep_logs(logs: Iterable[Path], dest: Path) -> Path | None:
    """Copy the ``logs`` that exist (files, or directories of them) into a fresh ``dest``.

    Returns ``dest``, or None when there was no log to keep.
    """
    src = [p for p in logs if p.exists()]
    if not src:
        return None
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for p in src:
        if p.is_dir():
            shutil.copytree(p, dest, dirs_exist_ok=True)
        else:
            shutil.copy(p, dest)
    return dest


def end_processes(workdir: Path, known: Iterable[int] = ()) -> None:
    """End every process of the cluster in ``workdir`` and wait until each is gone.

    A process of the cluster names a file under ``workdir`` on its command line. ``known``
    are pids seen before a shutdown began: an exiting process no longer shows its command
    line, yet still holds its ports until it is gone.
    """
    for pid in sorted(set(known) | set(pids_mentioning(workdir))):
        cmd = pid_cmdline(pid)
        if cmd and not any(str(workdir) in part for part in cmd):
            continue  # the pid now belongs to some other program: leave it alone
        terminate(pid)
