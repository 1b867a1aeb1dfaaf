"""How long each lab takes a learner: a timed headless run plus what the notebook asks.

Per lab: code cells, cells where the learner acts (an exercise cell, or one that clicks a
panel) and their ratio, the words to read, the cluster's time in a headless run (papermill's
own duration in an executed notebook), and the estimate the lab's header states: that time,
plus reading at 200 words a minute, plus 1.5 min per acting cell (5 min per fix-it challenge),
rounded up to 5 min.

    .venv/bin/python scripts/lab_minutes.py [--executed build/labs] [--write]

``--write`` puts the estimate into each lab's header line ``⏱ about N min``.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import nbformat

from stslab.core.paths import project_root

WORDS_PER_MINUTE = 200
MINUTES_PER_ACT = 1.5
# An unguided challenge (lab 08's ``lab.fix``): reading the cluster, trying, checking again.
MINUTES_PER_CHALLENGE = 5
CLOCK = re.compile(r"^⏱ about \d+ min\n\n", re.M)


def acting(cell: nbformat.NotebookNode) -> bool:
    """A cell where the learner does something: an exercise, or clicks on a panel."""
    tags = cell.metadata.get("tags", [])
    return cell.cell_type == "code" and ("exercise" in tags or "lab.clicks(" in cell.source)


def measure(path: Path, executed: Path) -> dict[str, float]:
    """The numbers for one lab; its run time from ``executed`` (0 if it was not run)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    words = sum(len(CLOCK.sub("", c.source).split()) for c in nb.cells if c.cell_type == "markdown")
    ran = executed / path.name
    seconds = 0.0
    if ran.is_file():
        seconds = float(nbformat.read(ran, as_version=4).metadata.papermill.get("duration") or 0)
    acts = sum(acting(c) for c in code)
    challenges = sum("lab.fix(" in c.source for c in code)
    minutes = (
        seconds / 60
        + words / WORDS_PER_MINUTE
        + (acts - challenges) * MINUTES_PER_ACT
        + challenges * MINUTES_PER_CHALLENGE
    )
    return {
        "code": len(code),
        "acts": acts,
        "words": words,
        "seconds": seconds,
        "minutes": 5 * math.ceil(minutes / 5),
    }


def write_clock(path: Path, minutes: int) -> None:
    """Put ``⏱ about N min`` under the lab's title (replacing an earlier one)."""
    nb = nbformat.read(path, as_version=4)
    head = nb.cells[0]
    title, _, rest = CLOCK.sub("", head.source).partition("\n\n")
    head.source = f"{title}\n\n⏱ about {minutes} min\n\n{rest}"
    nbformat.write(nb, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executed", type=Path, default=project_root() / "build" / "labs")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    print("| lab | code cells | learner acts | ratio | words | headless run | ⏱ stated |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted((project_root() / "labs").glob("0[1-9]-*.ipynb")):
        m = measure(path, args.executed)
        ratio = f"1 in {m['code'] / m['acts']:.1f}" if m["acts"] else "—"
        print(
            f"| {path.stem} | {m['code']:.0f} | {m['acts']:.0f} | {ratio} | {m['words']:.0f} "
            f"| {m['seconds']:.0f} s | {m['minutes']:.0f} min |"
        )
        if args.write:
            write_clock(path, int(m["minutes"]))


if __name__ == "__main__":
    main()
