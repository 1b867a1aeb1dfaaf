"""Writing a file so that a reader never sees half of it, and a directory no one else may read."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str | bytes, *, mode: int | None = None) -> None:
    """Write ``text`` (or bytes) to ``path`` through a temporary file beside it and one rename.

    ``mode`` (for example ``0o600`` for a kubeconfig) is set before any byte is written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_private(directory: Path) -> None:
    """Create ``directory`` (a state directory) for this account alone, or make it so.

    Everything a lab cluster keeps is beneath a state directory: its CA and keys, the admin
    kubeconfig, its datastore, a workshop's learners' kubeconfigs. On a machine others log in
    to, none of it may be theirs to read, whatever the modes of the files inside.
    """
    directory.mkdir(parents=True, exist_ok=True)
    st = directory.stat()
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
        directory.chmod(0o700)
