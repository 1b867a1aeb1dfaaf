"""A lab's exercises answered: predictions locked when given, kept solutions, hint ladders.

:class:`Answers` serves one :class:`~stslab.lab.context.Lab` (``lab.answer``, ``lab.hint``,
``lab.clicks`` call it). The solutions, hints and wrong answers live apart from the notebooks
in ``labs/solutions/<lab>.yaml``, so no lab cell gives an answer away; headless runs
(``fast``) take the kept solution where a cell is left unanswered (``...``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from stslab.core.errors import UsageError
from stslab.core.paths import WRONG_ENV, project_root
from stslab.lab import check, progress


class Controls(Protocol):
    """What :meth:`Answers.clicks` presses: a panel's controls by name (``Panel.controls``)."""

    def controls(self) -> dict[str, Callable[..., Any]]:
        """Each control's name (``scale_to``, ``delete``, ...) and what pressing it does."""
        ...


@dataclass
class _Prediction:
    value: Any
    when: float  # time.time() when given
    cell: int | None  # the execution count of the cell that gave it
    late: bool  # given after the result was shown


class Predictions:
    """Each exercise's prediction, locked once another cell has run, and when it was given.

    An answer changed after other cells ran since the prediction (the cell showing the result
    among them), or first given after its cell ran unanswered and others followed, is judged
    but marked "after the run". Re-running the exercise cell at once (a typo fixed) is not.
    Outside IPython, where no cell is counted, nothing is marked.
    """

    def __init__(self, count: Callable[[], int | None] | None = None) -> None:
        self._count = count or _execution_count
        self._first: dict[str, _Prediction] = {}
        self._runs: dict[str, list[int]] = {}  # the execution counts of the exercise's cell

    def _others_between(self, name: str, start: int | None, now: int | None) -> bool:
        """Whether a cell other than ``name``'s own ran after count ``start`` and before ``now``."""
        if start is None or now is None:
            return False
        own = [c for c in self._runs.get(name, []) if start < c < now]
        return now - start - 1 > len(own)

    def given(self, name: str, value: Any, unanswered: bool) -> bool:
        """Note ``value`` answering ``name``; whether it counts as given after the run."""
        now = self._count()
        runs = self._runs.setdefault(name, [])
        last = runs[-1] if runs else None
        if now is not None:
            runs.append(now)
        if unanswered:
            return False
        first = self._first.get(name)
        if first is None:
            late = self._others_between(name, last, now)
            self._first[name] = _Prediction(value, time.time(), now, late)
            return late
        if value == first.value:
            return first.late
        if self._others_between(name, first.cell, now):
            return True  # changed once something else had run: the prediction stays locked
        self._first[name] = _Prediction(value, time.time(), now, first.late)  # corrected at once
        return first.late

    def first(self, name: str) -> Any:
        """The locked prediction for ``name`` (``...`` when there is none yet)."""
        first = self._first.get(name)
        return first.value if first else ...

    def when(self, name: str) -> float | None:
        """When (``time.time()``) the locked prediction for ``name`` was given."""
        first = self._first.get(name)
        return first.when if first else None


def _execution_count() -> int | None:
    """IPython's count of executed cells, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    count = getattr(get_ipython(), "execution_count", None)
    return count if isinstance(count, int) else None


def solution_key(backend: str, *, runs_containers: bool) -> str:
    """Which kept answer a cluster gets: any simulated one (a workshop's too) as ``simulated``."""
    return backend if runs_containers else "simulated"


class Answers:
    """One lab's answers: the first given (locked), the hint rungs climbed, the clicks done."""

    def __init__(self, lab: str, *, fast: bool, backend_key: str) -> None:
        self.lab = lab
        self.fast = fast  # headless runs: unanswered exercises take their kept solution
        self.backend_key = backend_key  # "simulated" or the container backend's name
        self._rungs: dict[str, int] = {}  # how far up each exercise's hint ladder the learner is
        self._predictions = Predictions()  # the first answer to each exercise, and when
        self._done: set[str] = set()  # acting exercises a headless run has done (clicks, kubectl)

    def answer(self, name: str, value: Any) -> Any:
        """The learner's answer ``value`` to exercise ``name``, as written in the cell.

        Left unanswered (``...``) in fast mode (headless runs), it is the solution kept apart in
        ``labs/solutions/<lab>.yaml`` (``{by_backend: {simulated: .., kind: ..}}`` where the
        cluster decides). A failed check on it offers :meth:`hint`.
        """
        if self.fast and unanswered(value):
            value = self.solution(name)
        late = self._predictions.given(name, value, unanswered(value))
        check.asked(name, value, first=self._predictions.first(name), late=late)
        return value

    def first_time(self, name: str) -> bool:
        """Whether a headless run acts on exercise ``name`` now: once, however often it is run."""
        if name in self._done:
            return False
        self._done.add(name)
        return True

    def kept(self) -> dict[str, Any]:
        """The lab's kept solutions, hints and wrong answers."""
        return kept_solutions(self.lab)

    def solution(self, name: str) -> Any:
        """The kept solution to ``name`` on this cluster (under ``WRONG_ENV``, its wrong one)."""
        kept = self.kept()
        if name not in kept:
            raise UsageError(
                f"no kept solution for {name} in {self.lab}.yaml", "answer it in the cell"
            )
        solution = kept[name]
        if os.environ.get(WRONG_ENV) == name:  # a test proving that this exercise's check fails
            wrong = kept.get("wrong", {}).get(name, solution)
            if isinstance(wrong, dict) and "edit" in wrong:  # the solution with one change
                old, new = wrong["edit"]
                wrong = solution.replace(old, new)
            solution = wrong
        if isinstance(solution, dict) and "by_backend" in solution:  # the cluster decides
            if self.backend_key not in solution["by_backend"]:
                raise UsageError(
                    f"no kept solution for {name} on the {self.backend_key} backend", "answer it"
                )
            return solution["by_backend"][self.backend_key]
        return solution

    def right(self, name: str) -> Any:
        """The right answer to explain exercise ``name``: the kept one, whatever a test feeds.

        A prediction is judged against the cluster; an explanation has no cluster state to read,
        so its check compares with the mechanism kept in ``labs/solutions``.
        """
        kept = self.kept()
        if name not in kept:
            raise UsageError(f"no kept answer for {name} in {self.lab}.yaml", "check its name")
        check.judging(name)  # the check this feeds names this exercise's ladder
        return kept[name]

    def hint(self, name: str | None = None) -> None:
        """A stuck learner's ladder for exercise ``name``: a hint, a stronger one, then the answer.

        Each call climbs one rung. Without a name, it lists the exercises that have hints.
        """
        ladders = self.kept().get("hints", {})
        if name is None or name not in ladders:
            known = ", ".join(f'"{n}"' for n in ladders) or "none"
            print(f"hints in this lab: {known} — e.g. lab.hint({next(iter(ladders), 'name')!r})")
            return
        rung = self._rungs.get(name, 0)
        self._rungs[name] = rung + 1
        check.hinted(name, rung + 1)
        ladder = ladders[name]
        if rung < len(ladder):
            more = "again for a stronger one" if rung + 1 < len(ladder) else "again for the answer"
            print(
                f"hint {rung + 1} of {len(ladder)}: {ladder[rung]}\n(run lab.hint({name!r}) {more})"
            )
            return
        answer = self.solution(name)
        if isinstance(answer, dict) and "fill" in answer:
            shown = "replace the ??? in order with: " + ", ".join(map(str, answer["fill"]))
        elif isinstance(answer, str):
            shown = answer
        elif isinstance(answer, list) and all(str(a).startswith("kubectl ") for a in answer):
            shown = "\n".join(answer)  # commands (a fix-it challenge's), one per line
        else:
            shown = yaml.safe_dump(answer, default_flow_style=True)
        print(f"the answer to {name}:\n{shown.strip()}")

    def clicks(self, name: str, panel: Controls) -> None:
        """The learner's turn at ``panel``'s controls; headless runs press what the solution says.

        In fast mode the kept solution ``name`` is a list of steps such as ``[delete, web-1]`` or
        ``[scale_to, 1]``: each presses the panel's control of that name, as its button does.
        """
        steps = self.answer(name, ...)
        if unanswered(steps):
            # The room sees the learner on this step until a check judges it (room.stuck()).
            progress.opened(name, "panel step")
            print("Your turn: use the panel above (or kubectl), then run the next cell.")
            return
        if not self.first_time(name):  # run again: the buttons were pressed the first time
            print("already done: a headless run presses the buttons once")
            return
        controls = panel.controls()
        for action, *args in steps:
            if action not in controls:
                known = ", ".join(controls)
                raise UsageError(f"solution {name}: {action!r} is no panel control", known)
            print(controls[action](*args) or action)


def kept_solutions(lab: str) -> dict[str, Any]:
    """Lab ``lab``'s kept solutions, hints and wrong answers (``labs/solutions/lab-NN.yaml``)."""
    path = project_root() / "labs/solutions" / f"{lab}.yaml"
    kept = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return kept if isinstance(kept, dict) else {}


def unanswered(value: Any) -> bool:
    """Whether an answer still holds a ``...`` placeholder (itself, or in a dict or list)."""
    if value is Ellipsis:
        return True
    if isinstance(value, dict):
        return any(unanswered(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(unanswered(v) for v in value)
    return False
