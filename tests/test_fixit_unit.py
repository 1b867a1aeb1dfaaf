"""Lab 08's pieces that need no cluster: the final-state check and the fix exercises found."""

from __future__ import annotations

import nbformat
import pytest

from stslab.lab import check, fixit
from stslab.ops import proving
from stslab.ops.runner import select


def test_a_goal_met_within_the_wait_passes(capsys: pytest.CaptureFixture[str]) -> None:
    calls = iter([(False, "shop-2 not Ready"), (True, "shop: 3 of 3 Ready")])
    check.reached(lambda: next(calls), exercise="fix_shop", wait=5)
    assert "PASS: shop: 3 of 3 Ready" in capsys.readouterr().out


def test_a_goal_not_met_fails_with_what_the_cluster_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(check.CheckFailedError):
        check.reached(lambda: (False, "the budget quorum is gone"), exercise="fix_budget", wait=1)
    out = capsys.readouterr().out
    assert "FAIL: the budget quorum is gone" in out
    assert 'lab.hint("fix_budget")' in out


def test_every_challenge_of_lab_08_is_a_fix_exercise_with_its_own_check() -> None:
    [path] = select(["08"])
    nb = nbformat.read(path, as_version=4)
    acting = proving.actions(nb)
    assert set(acting) == {f"fix_{name}" for name in fixit.CHALLENGES}
    for name, cell in acting.items():
        assert "check.reached" in nb.cells[proving.check_after(nb, cell)].source, name


def test_the_last_rung_of_a_challenge_is_its_commands_one_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from stslab.lab.answers import Answers

    answers = Answers("lab-08", fast=False, backend_key="simulated")
    for _ in range(3):
        answers.hint("fix_rollout")
    last = capsys.readouterr().out.split("the answer to fix_rollout:\n")[1]
    assert last.splitlines()[:2] == [
        "kubectl rollout undo statefulset shop",
        "kubectl delete pod shop-2",
    ]
