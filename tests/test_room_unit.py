"""The instructor's view of the room, from progress records (no cluster needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import matplotlib

matplotlib.use("Agg")
import time  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from stslab.lab import room  # noqa: E402
from stslab.lab.progress import Record  # noqa: E402
from stslab.lab.room import RoomView, draw_room, exercise_table, room_table  # noqa: E402

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


RECORDS = [
    Record("ann", "lab-01", "creation order", "fail", _at(20)),
    Record("ann", "lab-01", "creation order", "pass", _at(15)),  # fixed it: not stuck
    Record("ann", "lab-01", "scale-down order", "pass", _at(14)),
    Record("bob", "lab-01", "creation order", "pass", _at(30)),
    Record("bob", "lab-03", "claim small binds to", "fail", _at(9)),  # stuck 9 minutes
    Record("cat", "lab-01", "creation order", "fail", _at(1)),  # just failed: not stuck yet
]


def test_the_table_counts_latest_results_and_finds_the_stuck() -> None:
    t = room_table(RECORDS, NOW, stuck_after=300).set_index("learner")
    assert t.loc["ann", "lab-01"] == "2/2" and t.loc["ann", "lab-03"] == "-"
    assert t.loc["bob", "lab-01"] == "1/1" and t.loc["bob", "lab-03"] == "0/1"
    assert t.loc["cat", "lab-01"] == "0/1"
    assert list(t["stuck"]) == [False, True, False]
    assert t.loc["bob", "last check"] == "lab-03: claim small binds to (fail)"
    assert t.loc["bob", "since"] == "9 min" and t.loc["cat", "since"] == "1 min"
    # A lab no one reached yet still gets its column.
    assert "lab-05" in room_table(RECORDS, NOW, labs=["lab-05"]).columns
    assert room_table([], NOW).empty


def test_the_picture_names_the_stuck_and_a_failed_read() -> None:
    fig = plt.figure()
    draw_room(room_table(RECORDS, NOW), fig, note="cannot read the room (refused)")
    ax = fig.axes[0]
    names = [label.get_text() for label in ax.get_yticklabels()]
    assert names[0] == "ann" and names[1].startswith("bob  (stuck 9 min: lab-03")
    assert [label.get_color() for label in ax.get_yticklabels()][1] == "#b30000"
    assert "1 stuck" in ax.get_title()
    assert any("⚠ cannot read the room" in t.get_text() for t in fig.texts)
    plt.close(fig)


def _until(cond: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the room view did not get there"
        time.sleep(0.02)


def test_the_view_refreshes_from_a_thread_says_a_failed_read_and_recovers() -> None:
    calls: list[int] = []

    def read() -> list[Record]:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionRefusedError("the API server is restarting")
        return RECORDS

    view = RoomView(None, "w", interval=0.05, read=read).start()  # returns at once
    try:
        assert view.running and set(view.table["learner"]) == {"ann", "bob", "cat"}
        _until(lambda: "cannot read the room" in view.note)
        assert set(view.table["learner"]) == {"ann", "bob", "cat"}  # the last good table kept
        _until(lambda: len(calls) >= 4 and view.note == "")  # and the next read recovers
    finally:
        view.stop()
    assert not view.running


def test_a_refresh_that_breaks_is_said_and_the_view_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = RoomView(None, "w", interval=0.05, read=lambda: RECORDS).start()
    try:
        real, broken = room.draw_room, [0]

        def draw_once_broken(*a: object, **k: object) -> object:
            if not broken[0]:
                broken[0] = 1
                raise RuntimeError("a font went missing")
            return real(*a, **k)  # type: ignore[arg-type]

        monkeypatch.setattr(room, "draw_room", draw_once_broken)
        _until(lambda: "failed to draw (a font went missing)" in view.note)
        frames = view.frames
        _until(lambda: view.frames > frames + 1)  # the thread lived on
        assert view.running
    finally:
        view.stop()


def test_steps_the_lab_ran_show_where_a_learner_is_but_are_not_counted() -> None:
    records = [
        *RECORDS,
        Record("dan", "lab-02", "web-0 resolves", "fail", _at(8), demo=True),  # a timed-out wait
        Record("ann", "lab-01", "the set is Ready", "pass", _at(13), demo=True),
    ]
    t = room_table(records, NOW, stuck_after=300).set_index("learner")
    assert t.loc["ann", "lab-01"] == "2/2"  # the step is not an exercise
    assert t.loc["dan", "lab-02"] == "-" and bool(t.loc["dan", "stuck"])
    assert t.loc["dan", "last check"] == "lab-02: web-0 resolves (fail)"
    assert "the set is Ready" not in set(exercise_table(records)["exercise"])


def test_the_exercise_table_shows_shared_wrong_answers_and_hints() -> None:
    order = "['web-2', 'web-1', 'web-0']"
    records = [
        Record("ann", "lab-01", "my_order", "fail", _at(9), answer=order),
        Record("ann", "lab-01", "my_order", "pass", _at(8), hints=2),
        Record("bob", "lab-01", "my_order", "fail", _at(7), answer=order),
        Record("bob", "lab-01", "my_order", "fail", _at(6), answer=order),
        Record("cat", "lab-01", "my_order", "fail", _at(5), answer="['web-1']", hints=1),
        Record("cat", "lab-01", "my_why", "pass", _at(4)),
    ]
    t = exercise_table(records).set_index("exercise")
    row = t.loc["my_order"]
    assert (row["tried"], row["passed"], row["hints"], row["rungs"]) == (3, 1, 2, 2)
    assert row["wrong answers"] == f"{order}: 2 learners; ['web-1']: 1 learner"
    assert t.loc["my_why", "wrong answers"] == "" and t.loc["my_why", "passed"] == 1
    assert exercise_table([]).empty


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the kill
def test_a_refresh_thread_that_dies_is_started_again_and_says_so() -> None:
    view = RoomView(None, "w", interval=0.05, read=lambda: RECORDS).start()
    try:
        view.refresh = lambda: (_ for _ in ()).throw(SystemExit("killed"))  # type: ignore[method-assign]
        _until(lambda: not view.running)  # the thread is dead
        del view.refresh  # the real one again
        assert "bob" in set(view.stuck()["learner"])  # reading the view starts it again...
        assert view.running and "had stopped: started again" in view.note  # ...and says so
    finally:
        view.stop()


def test_a_learner_left_on_a_panel_step_is_stuck_until_a_check_judges_it() -> None:
    from stslab.lab.progress import summary

    step = [
        Record("dan", "lab-01", "creation order", "pass", _at(12)),
        Record("dan", "lab-01", "delete_web_1", "open", _at(8), "panel step", demo=True),
    ]
    t = room_table(step, NOW, stuck_after=300).set_index("learner")
    assert (
        bool(t.loc["dan", "stuck"]) and t.loc["dan", "last check"] == "lab-01: delete_web_1 (open)"
    )
    assert t.loc["dan", "lab-01"] == "1/1"  # an open step is no attempt
    assert not bool(room_table(step, NOW, stuck_after=600).set_index("learner").loc["dan", "stuck"])
    judged = [*step, Record("dan", "lab-01", "delete_web_1", "pass", _at(2))]
    t = room_table(judged, NOW, stuck_after=300).set_index("learner")
    assert not bool(t.loc["dan", "stuck"]) and t.loc["dan", "lab-01"] == "2/2"
    s = summary(judged).set_index("exercise")
    assert s.loc["delete_web_1", "attempts"] == 1 and s.loc["delete_web_1", "result"] == "pass"
    assert "delete_web_1" not in set(exercise_table(step)["exercise"])  # not an exercise yet
