"""Locked predictions: the first answer stays; one given after the run is judged but marked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stslab.lab import check, progress
from stslab.lab.answers import Predictions


class Cells:
    """Stands in for IPython's count of executed cells."""

    def __init__(self) -> None:
        self.n = 0

    def run(self) -> int:
        self.n += 1
        return self.n


@pytest.fixture()
def cells() -> Cells:
    return Cells()


def _at(cells: Cells) -> Predictions:
    return Predictions(count=lambda: cells.n)


def test_a_prediction_before_the_run_is_not_marked(cells: Cells) -> None:
    p = _at(cells)
    cells.run()
    assert p.given("x", 3, False) is False
    cells.run()  # the cell showing the result
    cells.run()  # the check
    assert p.first("x") == 3 and p.when("x") is not None


def test_an_answer_changed_after_the_run_is_marked_and_the_first_kept(cells: Cells) -> None:
    p = _at(cells)
    cells.run()
    assert p.given("x", 3, False) is False
    cells.run()  # the result shown
    cells.run()
    assert p.given("x", 4, False) is True
    assert p.first("x") == 3
    assert p.given("x", 3, False) is False  # back to the prediction: nothing to mark


def test_a_first_answer_after_the_result_was_shown_is_marked(cells: Cells) -> None:
    p = _at(cells)
    cells.run()
    assert p.given("x", ..., True) is False  # run unanswered
    cells.run()  # the result shown
    cells.run()
    assert p.given("x", 4, False) is True
    assert p.first("x") == 4


def test_a_typo_fixed_at_once_is_a_correction_not_a_late_answer(cells: Cells) -> None:
    p = _at(cells)
    cells.run()
    assert p.given("x", 33, False) is False
    cells.run()  # the same cell again, at once
    assert p.given("x", 3, False) is False
    assert p.first("x") == 3
    cells.run()  # then the result
    cells.run()
    assert p.given("x", 3, False) is False


def test_outside_ipython_nothing_is_marked() -> None:
    p = Predictions(count=lambda: None)
    assert p.given("x", 3, False) is False
    assert p.given("x", 4, False) is False


@pytest.fixture()
def recorded(isolated_state: Path) -> Iterator[Path]:
    progress.begin("lab-99")
    yield isolated_state
    progress.end()


def test_the_verdict_and_progress_say_after_the_run_and_the_hints_used(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = "web-2 first"
    check.asked("my_order", given, first="web-0 first", late=True)
    check.hinted("my_order", 2)
    check.answer(given, "web-2 first", question="scale-down order", hint="h")
    out = capsys.readouterr().out
    assert "PASS: scale-down order: 'web-2 first' (answered after the run; you first said " in out
    rec = progress.load_local()[-1]
    assert (rec.result, rec.note, rec.hints) == ("pass", "after the run", 2)
    assert rec.answer == repr(given)
    # An answer given before the run is not marked.
    check.asked("my_order", given)
    check.answer(given, "web-2 first", question="scale-down order", hint="h")
    assert "after the run" not in capsys.readouterr().out
    assert progress.load_local()[-1].note == ""


def test_older_progress_lines_read_without_a_note() -> None:
    line = '{"learner": "a", "lab": "lab-01", "exercise": "e", "result": "pass", "time": "t"}'
    rec = progress.Record.from_json(line)
    assert (rec.note, rec.hints) == ("", 0)
    assert progress.Record.from_json(rec.to_json()) == rec


def test_ipython_counts_the_cells() -> None:
    """In a real IPython shell, the cell that shows the result locks the prediction."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        cells = [
            "from stslab.lab.answers import Predictions\np = Predictions()",
            "early = p.given('x', ..., True)",  # the exercise cell, still unanswered
            "shown = 'web-2 goes first'",  # the cell that shows the result
            "late = p.given('x', 'web-2', False)",
        ]
        for source in cells:
            assert shell.run_cell(source, store_history=True).success  # type: ignore[no-untyped-call]
        assert shell.user_ns["early"] is False and shell.user_ns["late"] is True
    finally:
        InteractiveShell.clear_instance()


def test_a_wrong_explanation_points_at_its_own_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two whys answered "b" give one object: the check names the one whose answer it read."""
    monkeypatch.setattr(check, "_asked", {})
    check.asked("my_why_one", "b")
    check.asked("my_why_two", "b")
    check.judging("my_why_two")  # what Lab.right("my_why_two") notes
    with pytest.raises(check.CheckFailedError) as failed:
        check.answer("b", "a", question="why two")
    assert 'lab.hint("my_why_two")' in failed.value.hint
    with pytest.raises(check.CheckFailedError) as failed:  # nothing noted: no name is sure
        check.answer("b", "a", question="why two")
    assert "lab.hint() lists" in failed.value.hint


def test_what_kubectl_printed_is_judged_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each object on a line with its words (a claim and its phase), as the API serves them."""
    monkeypatch.setattr(progress, "record", lambda *a, **k: None)
    printed = "NAME  STATUS\nsmall Bound\nhuge  Pending\n"
    check.listed(
        printed, {"small": ["Bound"], "huge": ["Pending"]}, what="claims", hint="h", exercise="x"
    )
    for wrong in (printed.replace("huge  Pending", "huge  Bound"), "small Bound", "", None):
        with pytest.raises(check.CheckFailedError) as failed:
            check.listed(
                wrong,
                {"small": ["Bound"], "huge": ["Pending"]},
                what="claims",
                hint="h",
                exercise="x",
            )
        assert "of the 2 claims" in failed.value.what
    with pytest.raises(check.CheckFailedError):  # nothing to list is not a pass
        check.listed(printed, {}, what="claims", hint="h", exercise="x")
