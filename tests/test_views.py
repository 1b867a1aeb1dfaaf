"""The timeline view and replay, from a recording of a real run (data/timelines/)."""

from __future__ import annotations

import pandas as pd

from stslab.lab.check import CheckFailedError, answer, verdict
from stslab.observe.recorder import COLUMNS
from stslab.observe.replay import load, replay_timeline, save
from stslab.observe.segments import (
    pauses,
    pod_segments,
    ready_members,
    revision_numbers,
)
from stslab.observe.timeline import draw_timeline


def test_recording_says_where_it_came_from() -> None:
    rec = load("web-rollout")
    assert rec.meta["backend"] and rec.meta["kubernetes"].startswith("v1.")
    assert "Kubernetes" in rec.source and rec.meta["date"] in rec.source


def test_segments_follow_each_pod_incarnation() -> None:
    df = load("web-rollout").frame
    segments, marks = pod_segments(df, "web")
    assert {s.ordinal for s in segments} == {0, 1, 2}
    # web-1: first pod, its replacement after the delete, and the one after scaling back up.
    assert len({s.uid for s in segments if s.ordinal == 1}) == 3
    assert len(marks[marks["mark"] == "deleted"]) == 3  # web-1 deleted, then web-2 and web-1
    for s in segments:
        assert s.end >= s.start and s.state in {"Pending", "Running", "Ready", "Terminating"}
    assert ready_members("web", 3)(df)


def test_pause_annotation_names_what_blocks_the_next_ordinal() -> None:
    df = load("web-rollout").frame
    created1 = df[(df["name"] == "web-1") & (df["event"] == "ADDED")]["time"].min()
    early = df[df["time"] <= created1]
    assert (2, "web-2 waits: web-1 not Ready") in pauses(early, "web")
    assert not ready_members("web", 3)(early)
    assert pauses(df, "web") == []


def test_frame_draws_every_segment() -> None:
    rec = load("web-rollout")
    fig = draw_timeline(rec.frame, prefix="web", source=rec.source, title="t")
    ax = fig.axes[0]
    segments, _ = pod_segments(rec.frame, "web")
    assert len(ax.collections[0].get_paths()) == len(segments)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["web-0", "web-1", "web-2"]
    assert rec.source in [t.get_text() for t in fig.texts]


def test_replay_draws_several_frames() -> None:
    assert replay_timeline(load("web-rollout"), prefix="web", show=False) > 3


def test_deployment_pods_get_a_row_each() -> None:
    t = pd.Timestamp("2026-01-01", tz="UTC")
    rows = [
        {
            "time": t + pd.Timedelta(seconds=i),
            "kind": "Pod",
            "event": "ADDED",
            "name": f"shop-7d9f-{s}",
            "ordinal": None,
            "phase": "Pending",
            "ready": False,
            "uid": s,
        }
        for i, s in enumerate(["abcde", "fghij"])
    ]
    segments, _ = pod_segments(pd.DataFrame(rows), "shop")
    assert sorted(s.ordinal for s in segments) == [0, 1]


def test_save_and_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rec = load("web-rollout")
    save(rec.frame, rec.meta, "copy", where=tmp_path)
    again = load("copy", where=tmp_path)
    pd.testing.assert_frame_equal(again.frame, rec.frame)


def test_check_verdicts(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from stslab.lab import check

    monkeypatch.setattr(check, "_asked", {})  # no Lab.answer in this process: no hint ladder
    verdict(True, "it worked", "", "")
    assert capsys.readouterr().out == "PASS: it worked\n"
    try:
        answer(["web-0"], ["web-2"], question="order", hint="highest first")
    except CheckFailedError as e:
        assert e._render_traceback_() == [
            "FAIL: order: ['web-0'] is not right",
            "hint: highest first",
        ]
    else:
        raise AssertionError("a wrong answer must fail")
    try:
        answer(..., 1, question="count", hint="h")
    except CheckFailedError as e:
        assert "no answer yet" in e.what
    else:
        raise AssertionError("an unanswered exercise must fail")


def test_volume_phases_from_the_recording() -> None:
    from stslab.observe.segments import phase_of, volume_segments
    from stslab.observe.timeline import draw_volumes

    df = load("web-rollout").frame
    segments = volume_segments(df)
    claims = {s.name for s in segments}
    assert claims == {"PVC www-web-0", "PVC www-web-1", "PVC www-web-2"}
    assert {s.state for s in segments} <= {"Pending", "Bound"}
    assert phase_of(df, "www-web-2") == "Bound"
    fig = draw_volumes(df, title="claims")
    assert len(fig.axes[0].collections[0].get_paths()) == len(segments)


def test_last_member_not_ready_holds_the_rollout_without_naming_a_phantom() -> None:
    df = load("web-rollout").frame
    created1 = df[(df["name"] == "web-1") & (df["event"] == "ADDED")]["time"].min()
    early = df[df["time"] <= created1]
    assert pauses(early, "web", replicas=2) == [(1, "web-1 not Ready: the rollout waits for it")]


def test_bars_say_which_revision_each_pod_runs() -> None:
    """A rolling update on the timeline: each pod's bar is labelled with its revision."""
    t = pd.Timestamp("2026-01-01", tz="UTC")

    def row(s: float, name: str, uid: str, rev: str, event: str = "MODIFIED") -> dict[str, object]:
        return {
            "time": t + pd.Timedelta(seconds=s),
            "kind": "Pod",
            "event": event,
            "name": name,
            "ordinal": int(name[-1]),
            "phase": "Running",
            "ready": True,
            "uid": uid,
            "revision": rev,
        }

    df = pd.DataFrame(
        [
            row(0, "web-0", "a", "web-111", "ADDED"),
            row(1, "web-1", "b", "web-111", "ADDED"),
            row(5, "web-1", "b", "web-111", "DELETED"),
            row(6, "web-1", "c", "web-222", "ADDED"),
        ],
        columns=COLUMNS,
    )
    assert revision_numbers(df, "web") == {"web-111": 1, "web-222": 2}
    ax = draw_timeline(df, prefix="web").axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["rev 1", "rev 1", "rev 2"]
    one = df[df["revision"] == "web-111"]
    assert not draw_timeline(one, prefix="web").axes[0].texts  # one revision: no labels


def _rollout(members: int, *, ordered: bool = True, replayed_ready: bool = False) -> pd.DataFrame:
    """A recorded rollout: each member Pending, Running, then Ready; in order, or all at once."""
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    rows, t = [], 0.0
    steps = [("ADDED", "Pending", False), ("MODIFIED", "Running", False)]
    steps.append(("MODIFIED", "Running", True))
    order = [(o, s) for o in range(members) for s in steps]
    if not ordered:  # every member created first, then they run and become Ready
        order = sorted(order, key=lambda x: (steps.index(x[1]), x[0]))
    for o, (event, phase, ready) in order:
        t += 0.1
        rows.append(
            {
                "time": t0 + pd.Timedelta(seconds=t),
                "kind": "Pod",
                "event": event,
                "name": f"web-{o}",
                "ordinal": o,
                "phase": phase,
                "ready": ready,
                "uid": f"u{o}",
            }
        )
    if replayed_ready:  # the simulated kubelet writes Ready again later: not a new first Ready
        rows.append(rows[2] | {"time": t0 + pd.Timedelta(seconds=t + 5)})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["ordinal"] = df["ordinal"].astype("Int64")
    return df


def test_first_seen_is_the_watch_order_not_the_condition_timestamp() -> None:
    from stslab.lab.check import first_seen

    created, ready = first_seen(_rollout(3, replayed_ready=True), "web")
    assert all(created[o] > ready[o - 1] for o in (1, 2))  # in order, despite web-0's replay
    created, ready = first_seen(_rollout(3, ordered=False), "web")
    assert created[1] < ready[0] and created[2] < ready[0]  # all made before web-0 was Ready


def test_a_big_set_is_drawn_in_buckets_of_ordinals() -> None:
    import matplotlib.pyplot as plt

    fig = draw_timeline(_rollout(1000), prefix="web")
    ax = fig.axes[0]
    [image] = ax.get_images()
    pixels = image.get_array()
    assert pixels is not None
    rows, columns, _ = pixels.shape
    assert rows == 50 and columns == 400  # 20 members a row
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "web-0…19" and ax.get_ylabel() == "20 members a row"
    assert not ax.collections  # no bar per member
    plt.close(fig)
    small = draw_timeline(_rollout(100), prefix="web")
    assert not small.axes[0].get_images()  # 100 members still get a row each
    plt.close(small)
