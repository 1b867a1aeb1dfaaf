"""What only containers can show, kept from a real kind run for learners without Docker.

Some steps need a process in a container: ZooKeeper's roles and elections, a write refused
without a quorum, a page read back from a member's volume. On a backend that runs containers a
lab keeps what such a step saw (``seen.keep("write", ...)``). ``scripts/record_kind.py`` runs
those labs on kind with ``STSLAB_KEEP_SEEN`` naming a directory, and the values land in
``data/seen-on-kind/<lab>.json`` with the Kubernetes version and the date. On the simulated
backend ``seen.show("write")`` prints them, labelled as a recording made on kind, and returns
them, so that a prediction is judged against what really happened.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from stslab.core.errors import UsageError
from stslab.core.paths import project_root
from stslab.core.versions import pinned

KEEP_ENV = "STSLAB_KEEP_SEEN"  # a directory: a kind run writes what it saw there
MADE_BY = "scripts/record_kind.py"


def seen_dir() -> Path:
    """Where the kept runs are: ``data/seen-on-kind/`` in the checkout (or the wheel's copy)."""
    return project_root() / "data" / "seen-on-kind"


class SeenOnKind:
    """One lab's container-only steps: kept on a backend with containers, shown elsewhere."""

    def __init__(self, name: str, *, runs_containers: bool) -> None:
        self.name, self.real = name, runs_containers
        self.steps: dict[str, dict[str, Any]] = {}  # what this run kept
        keep_to = os.environ.get(KEEP_ENV, "")
        self.keep_to = Path(keep_to) / f"{name}.json" if keep_to and self.real else None
        self._recorded: dict[str, Any] | None = None  # the kind run, read when first shown
        if not self.real:
            self._recording()  # missing: said at once, not at the first step that needs it

    def keep(self, step: str, **values: Any) -> dict[str, Any]:
        """Keep what ``step`` saw (values are shown as ``key: value``, in this order)."""
        self.steps[step] = values
        if self.keep_to is not None:
            v = pinned()
            meta = {"backend": "kind", "kubernetes": v.kubernetes, "date": date.today().isoformat()}
            self.keep_to.parent.mkdir(parents=True, exist_ok=True)
            body = {"meta": {**meta, "made by": MADE_BY}, "steps": self.steps}
            self.keep_to.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return values

    def show(self, step: str) -> dict[str, Any]:
        """Print what ``step`` saw on kind, labelled as a recording; return its values."""
        recorded = self._recording()
        if step not in recorded["steps"]:
            raise UsageError(
                f"the run of {self.name} kept from kind has no step {step!r}",
                fix=f"record it again on a kind cluster: {MADE_BY}",
            )
        m = recorded["meta"]
        print(
            f"▶ Recorded on kind (Kubernetes {m['kubernetes']}, {m['date']}), not on this "
            "cluster: the simulated backend runs no container."
        )
        values: dict[str, Any] = recorded["steps"][step]
        for key, value in values.items():
            rows = isinstance(value, list) and value and isinstance(value[0], dict)
            shown = f"{len(value)} rows, in the table below" if rows else value
            print(f"  {key}: {shown}")
        return values

    def _recording(self) -> dict[str, Any]:
        """The run kept from kind (``meta`` and ``steps``), read once.

        A real cluster reads it only when a step cannot run there (a workshop account's drain).
        """
        if self._recorded is None:
            path = seen_dir() / f"{self.name}.json"
            if not path.is_file():
                raise UsageError(
                    f"no run of {self.name} kept from kind at {path}",
                    fix=f"record one on a kind cluster: {MADE_BY} (needs a Docker engine)",
                )
            self._recorded = json.loads(path.read_text())
        return self._recorded
