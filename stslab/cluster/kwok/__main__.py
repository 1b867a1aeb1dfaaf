"""One simulated cluster's supervisor process: ``python -m stslab.cluster.kwok --supervise DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

from stslab.cluster.kwok.backend import KwokBackend
from stslab.cluster.kwok.supervisor import Supervisor, serve


def _supervise(workdir: Path) -> None:
    backend = KwokBackend(workdir.parent)
    serve(Supervisor(workdir, backend.component_pids, backend.revive, backend._still_up))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--supervise":
        _supervise(Path(sys.argv[2]))
