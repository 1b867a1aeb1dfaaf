"""Proofs that a lab's checks can fail and its exercise cells can be run twice.

``stslab labs run --prove`` (and the lab regression) runs a lab rewritten by
:func:`proving_copy`:

- after the check of each prediction (``my_x = lab.answer("my_x", ...)``) a cell runs that
  check again with the kept *wrong* answer (``wrong:`` in ``labs/solutions/<lab>.yaml``) and
  fails the lab if the check passes it;
- each exercise cell, and the cell that acts on it, runs twice in a row, as a learner who tries
  again would run them.

A wrong *action* (YAML, clicks) changes the cluster, so it cannot be tried in passing:
:func:`up_to_check` cuts a lab after the check that follows exercise ``name``, and
``run_lab(..., wrong=name)`` runs that much with the wrong answer (the tests expect FAIL).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat

from stslab.lab.answers import kept_solutions

# `my_x = lab.answer("my_x", ...)`: a prediction, named as its variable.
ANSWER = re.compile(r"^(\w+)\s*=\s*lab\.answer\(\"(\w+)\"", re.M)
# Exercises that act on the cluster: panel clicks, YAML and kubectl the learner writes, fixes.
CLICKS = re.compile(r"lab\.clicks\(\"(\w+)\"")
WRITTEN = re.compile(r"lab\.written\(\"(\w+)\"")
KUBECTL = re.compile(r"lab\.kubectl\(\"(\w+)\"")
FIXED = re.compile(r"lab\.fix\(\"(\w+)\"")

_PROOF = """# proof (stslab labs run --prove): the check above must fail for a wrong answer
import contextlib as _contextlib, io as _io
from stslab.lab import check as _check, progress as _progress
_right, {var} = {var}, {wrong!r}
try:
    _judged = _check.judged()
    with _contextlib.redirect_stdout(_io.StringIO()), _progress.not_recorded():
        exec(get_ipython().transform_cell({source!r}))  # noqa: F821 - the kernel's
except _check.CheckFailedError:
    print("proved: a wrong answer to {var} fails its check")
else:
    if _check.judged() > _judged:
        raise AssertionError("a wrong answer to {var} passed its check: {wrong!r}")
    print("not judged on this backend: {var}")   # some checks need real containers
finally:
    {var} = _right
"""


def predictions(nb: Any) -> dict[str, int]:
    """Each prediction's variable and the index of its exercise cell."""
    return {
        var: i
        for i, c in enumerate(nb.cells)
        if _is_exercise(c)
        for var, _ in ANSWER.findall(c.source)
    }


def actions(nb: Any) -> dict[str, int]:
    """Each acting exercise (clicks, YAML, kubectl) and the index of the cell that runs it."""
    return {
        name: i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for name in CLICKS.findall(c.source)
        + WRITTEN.findall(c.source)
        + KUBECTL.findall(c.source)
        + FIXED.findall(c.source)
    }


def check_after(nb: Any, start: int, var: str | None = None) -> int:
    """The index of the first cell after ``start`` that checks (``var``'s answer, if given)."""
    pattern = rf"check\.answer\(\s*[\w.(]*\b{var}\b" if var else r"check\.\w+\("
    for i in range(start + 1, len(nb.cells)):
        c = nb.cells[i]
        if c.cell_type == "code" and re.search(pattern, c.source):
            return i
    raise ValueError(f"no check after cell {start}" + (f" for {var}" if var else ""))


def proof(var: str, wrong: Any, check_cell: Any) -> str:
    """The source of a cell that runs ``check_cell`` again with ``var`` set to ``wrong``."""
    return _PROOF.format(var=var, wrong=wrong, source=check_cell.source)


def proving_copy(path: Path, out: Path) -> Path:
    """Write ``path`` with the proofs added (see the module's docstring); return ``out``."""
    nb = nbformat.read(path, as_version=4)
    wrong = kept_solutions(f"lab-{path.name[:2]}").get("wrong", {})
    inserts: list[tuple[int, Any]] = []
    for var, cell in predictions(nb).items():
        if var not in wrong:
            raise ValueError(f"{path.name}: no kept wrong answer for {var}")
        at = check_after(nb, cell, var)
        inserts.append((at + 1, nbformat.v4.new_code_cell(proof(var, wrong[var], nb.cells[at]))))
    for i, c in enumerate(nb.cells):
        if _is_exercise(c):
            inserts.append((i + 1, nbformat.v4.new_code_cell(c.source)))
            for j in _acting_on(nb, i):
                inserts.append((j + 1, nbformat.v4.new_code_cell(nb.cells[j].source)))
    for at, cell in sorted(inserts, key=lambda x: x[0], reverse=True):
        nb.cells.insert(at, cell)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def _is_exercise(cell: Any) -> bool:
    return cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", [])


def _acting_on(nb: Any, exercise: int) -> list[int]:
    """The cells acting on an exercise: the next code cell, and the apply after lab.written."""
    out: list[int] = []
    for j in range(exercise + 1, len(nb.cells)):
        c = nb.cells[j]
        if c.cell_type != "code":
            continue
        if _is_exercise(c) or re.search(r"check\.\w+\(", c.source):
            break
        out.append(j)
        if not WRITTEN.search(c.source):
            break
    return out


def up_to_check(path: Path, name: str, out: Path) -> Path:
    """Write ``path`` cut after the check that follows exercise ``name``; return ``out``."""
    nb = nbformat.read(path, as_version=4)
    found = actions(nb) | predictions(nb)
    if name not in found:
        raise ValueError(f"{path.name} has no exercise {name}")
    nb.cells = nb.cells[: check_after(nb, found[name]) + 1]
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out
