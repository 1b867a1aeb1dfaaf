"""Every lab on each Kubernetes release the kit can run (``stslab labs matrix``, ``make matrix``).

For a maintainer asking "do the labs still pass on the next release?": each release gets a
simulated cluster of its own (a private state directory, free loopback ports, so the user's lab
cluster is never touched), every selected lab runs headless on it (with ``--prove`` by default),
and the cluster goes. The table, lab × release, is written to ``build/matrix.md`` and ``.csv``.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from stslab.core.paths import build_dir, state_dir
from stslab.core.procs import environment, free_port
from stslab.core.versions import minor, pinned, release
from stslab.ops.runner import LabResult, run_labs, select


@dataclass
class Cell:
    """One lab on one release."""

    release: str
    result: LabResult
    skipped: int  # the lab's steps this release skipped (a feature it lacks)


def skipped_steps(executed: Path) -> int:
    """How many of a run's outputs say a step was skipped for the release (``release.line``)."""
    from stslab.lab.release import SKIPPED

    if not executed.exists():
        return 0
    nb = nbformat.read(executed, as_version=4)
    return sum(
        str(o.get("text", "")).count(SKIPPED)
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def run_matrix(
    releases: list[str], numbers: list[str], *, build: Path | None = None, prove: bool = True
) -> list[Cell]:
    """Run the labs on a fresh simulated cluster of each release; a release not built is built."""
    from stslab.cluster.base import UpOptions
    from stslab.cluster.kwok import KwokBackend

    versions = [release(r) for r in releases or [minor(r) for r in pinned().releases]]
    select(numbers)  # an unknown lab is refused before any cluster starts
    build = build or build_dir() / "matrix"
    cells: list[Cell] = []
    for version in versions:
        state = state_dir() / "matrix" / minor(version)  # lab-owned, removed after
        backend = KwokBackend(state)
        if backend.exists():  # what an interrupted run left
            backend.down()
        print(f"Kubernetes {version}: a simulated cluster of its own ...", flush=True)
        try:
            backend.up(UpOptions(kubernetes=version, api_port=free_port(), dns_port=free_port()))
            with environment(STSLAB_STATE=str(state), STSLAB_BACKEND="kwok"):
                results = run_labs(
                    numbers, backend="kwok", build=build / minor(version), prove=prove
                )
        finally:
            if backend.exists():
                backend.down()
            shutil.rmtree(state, ignore_errors=True)
        cells += [Cell(version, r, skipped_steps(r.output)) for r in results]
    write(cells, build)
    return cells


def table(cells: list[Cell]) -> str:
    """Lab × release in Markdown: pass/FAIL, time, skipped steps."""
    versions = list(dict.fromkeys(c.release for c in cells))
    labs = list(dict.fromkeys(c.result.path.stem for c in cells))
    at = {(c.result.path.stem, c.release): c for c in cells}
    lines = [
        "| lab | " + " | ".join(versions) + " |",
        "|---|" + "---|" * len(versions),
    ]
    for lab in labs:
        row = []
        for v in versions:
            c = at.get((lab, v))
            if c is None:
                row.append("-")
                continue
            text = f"{'pass' if c.result.ok else 'FAIL'} {c.result.seconds:.0f} s"
            if c.skipped:
                text += f", {c.skipped} skipped"
            row.append(text)
        lines.append(f"| {lab} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write(cells: list[Cell], build: Path) -> None:
    """``matrix.md`` (the table, with each failure's first line) and ``matrix.csv``."""
    build.mkdir(parents=True, exist_ok=True)
    failures = [
        f"- {c.result.path.stem} on {c.release}: {c.result.error}" for c in cells if not c.result.ok
    ]
    (build / "matrix.md").write_text(
        table(cells) + "\n" + ("\n" + "\n".join(failures) + "\n" if failures else "")
    )
    with (build / "matrix.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["lab", "kubernetes", "result", "seconds", "skipped", "error"])
        for c in cells:
            out.writerow(
                [
                    c.result.path.stem,
                    c.release,
                    "pass" if c.result.ok else "FAIL",
                    f"{c.result.seconds:.1f}",
                    c.skipped,
                    c.result.error,
                ]
            )


__all__ = ["Cell", "run_matrix", "skipped_steps", "table", "write"]
