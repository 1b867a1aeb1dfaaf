"""The instructor's view of the room, from progress records (no cluster needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stslab.lab.progress import Record  # noqa: E402
from stslab.lab.room import draw_room, room_table, watch_room  # noqa: E402

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


def test_a_failed_read_is_said_and_the_next_one_recovers() -> None:
    calls: list[int] = []

    def read() -> list[Record]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefusedError("the API server is restarting")
        return RECORDS

    table = watch_room(None, "w", interval=0.05, timeout=0.3, show=False, read=read)
    assert len(calls) >= 2  # it went on after the failure
    assert set(table["learner"]) == {"ann", "bob", "cat"}
