"""Live views: StatefulSet members on a timeline, ordinal against time.

Each pod's life is a bar on its ordinal's row: Pending (orange), Running but not Ready (blue),
Ready (green), Terminating (red); marks show when it was created (|), became Ready (o) and was
deleted (x). A replacement pod (same name, new uid) starts a new bar on the same row. An
annotation names what holds a rollout up (``web-2 waits: web-1 not Ready``) or the event behind
a pause (``FailedScheduling``).

:func:`live_timeline` redraws in place about once a second in JupyterLab (one display handle,
so a headless run keeps exactly the last frame as an image) and always returns: when its
``until`` condition holds, or at ``timeout``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

COLORS = {
    "Pending": "#f0ad4e",
    "Running": "#5bc0de",
    "Ready": "#5cb85c",
    "Terminating": "#d9534f",
    "Succeeded": "#999999",
    "Failed": "#8b0000",
}
PAUSE_REASONS = {
    "FailedScheduling",
    "FailedCreate",
    "FailedAttachVolume",
    "FailedMount",
    "BackOff",
    "Unhealthy",
    "ProvisioningFailed",
}


@dataclass
class Segment:
    """A stretch of one pod's life in one state."""

    name: str
    ordinal: int
    uid: str
    state: str
    start: pd.Timestamp
    end: pd.Timestamp


def _state(row: Any) -> str:
    if row.phase == "Terminating":
        return "Terminating"
    if row.phase == "Running":
        return "Ready" if bool(row.ready) else "Running"
    return str(row.phase or "Pending")


def pod_segments(
    df: pd.DataFrame, prefix: str | None = None, now: pd.Timestamp | None = None
) -> tuple[list[Segment], pd.DataFrame]:
    """Turn recorded pod changes into coloured segments and marks (created/ready/deleted)."""
    pods = df[df["kind"] == "Pod"]
    if prefix:
        pods = pods[pods["name"].str.startswith(f"{prefix}-")]
    pods = pods.copy()
    # StatefulSet members sit on their ordinal's row; other pods (a Deployment's) get a row each
    # in the order they appeared.
    member = pods["name"].str.fullmatch(rf"{prefix or '.+'}-\d+")
    if not member.all():
        first_seen = {n: i for i, n in enumerate(dict.fromkeys(pods["name"]))}
        pods["ordinal"] = pods["name"].map(first_seen)
    end_of_time = (
        now if now is not None else (df["time"].max() if len(df) else pd.Timestamp.now(tz="UTC"))
    )
    segments: list[Segment] = []
    marks = []
    for uid, rows in pods.groupby("uid", sort=False):
        rows = rows.sort_values("time", kind="stable")
        first = rows.iloc[0]
        marks.append(
            {
                "ordinal": int(first.ordinal),
                "time": first.time,
                "mark": "created",
                "name": first["name"],
            }
        )
        ready = rows[rows["ready"] == True]  # noqa: E712 - pandas element-wise
        if len(ready):
            marks.append(
                {
                    "ordinal": int(first.ordinal),
                    "time": ready.iloc[0].time,
                    "mark": "ready",
                    "name": first["name"],
                }
            )
        deleted = rows[rows["event"] == "DELETED"]
        stop = deleted.iloc[0].time if len(deleted) else end_of_time
        if len(deleted):
            marks.append(
                {
                    "ordinal": int(first.ordinal),
                    "time": stop,
                    "mark": "deleted",
                    "name": first["name"],
                }
            )
        live = rows[rows["event"] != "DELETED"]
        states = [(r.time, _state(r)) for r in live.itertuples()]
        for i, (t, state) in enumerate(states):
            t_end = states[i + 1][0] if i + 1 < len(states) else stop
            if segments and segments[-1].uid == uid and segments[-1].state == state:
                segments[-1].end = t_end
            else:
                segments.append(
                    Segment(first["name"], int(first.ordinal), str(uid), state, t, t_end)
                )
    return segments, pd.DataFrame(marks, columns=["ordinal", "time", "mark", "name"])


def pauses(df: pd.DataFrame, prefix: str, ordered: bool = True) -> list[tuple[int, str]]:
    """What holds members up right now: (ordinal, text) pairs for the annotations."""
    segments, _ = pod_segments(df, prefix)
    latest: dict[int, Segment] = {}
    for s in segments:
        latest[s.ordinal] = s
    alive = {
        o: s
        for o, s in latest.items()
        if s.state != "Terminating"
        and not ((df["uid"] == s.uid) & (df["event"] == "DELETED")).any()
    }
    notes: list[tuple[int, str]] = []
    events = df[(df["kind"] == "Event") & df["reason"].isin(PAUSE_REASONS)]
    for o, s in sorted(alive.items()):
        ev = events[events["name"] == s.name]
        if len(ev) and s.state != "Ready":
            last = ev.iloc[-1]
            notes.append((o, f"{s.name}: {last.reason}: {str(last.message)[:70]}"))
    if ordered and alive:
        top = max(alive)
        if alive[top].state != "Ready" and top + 1 not in alive:
            notes.append((top + 1, f"{prefix}-{top + 1} waits: {prefix}-{top} not Ready"))
    return notes


def draw_timeline(
    df: pd.DataFrame,
    *,
    prefix: str | None = None,
    fig: Figure | None = None,
    title: str = "",
    source: str = "",
    ordered: bool = True,
    now: pd.Timestamp | None = None,
) -> Figure:
    """Draw one frame of the ordinal-against-time view from a recorded table."""
    fig = fig or plt.figure(figsize=(9, 3.6))
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    segments, marks = pod_segments(df, prefix, now)
    t0 = df["time"].min() if len(df) else pd.Timestamp.now(tz="UTC")

    def secs(t: pd.Timestamp) -> float:
        return float((t - t0).total_seconds())

    for s in segments:
        ax.barh(
            s.ordinal,
            max(secs(s.end) - secs(s.start), 0.05),
            left=secs(s.start),
            height=0.55,
            color=COLORS.get(s.state, "#cccccc"),
            edgecolor="none",
        )
    style = {"created": ("|", "black"), "ready": ("o", "darkgreen"), "deleted": ("x", "darkred")}
    for kind, (marker, color) in style.items():
        m = marks[marks["mark"] == kind]
        if len(m):
            ax.scatter(
                [secs(t) for t in m["time"]],
                m["ordinal"],
                marker=marker,
                color=color,
                s=60,
                zorder=3,
                label=kind,
            )
    ordinals = sorted({s.ordinal for s in segments})
    if prefix and ordinals:
        for o, text in pauses(df, prefix, ordered):
            ax.annotate(
                text,
                xy=(secs(df["time"].max()), o),
                fontsize=8,
                color="#8b0000",
                ha="right",
                va="center",
            )
            ordinals = sorted(set(ordinals) | {o})
    ax.set_yticks(ordinals)
    names = {s.ordinal: s.name for s in segments}
    ax.set_yticklabels([names.get(o, f"{prefix or 'pod'}-{o}") for o in ordinals])
    ax.set_ylim(-0.7, (max(ordinals) if ordinals else 0) + 0.7)
    ax.set_xlim(left=-0.5)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(title or "StatefulSet members over time", fontsize=10)
    legend = [
        Patch(color=COLORS[k], label=k) for k in ("Pending", "Running", "Ready", "Terminating")
    ]
    ax.legend(
        handles=legend + ax.get_legend_handles_labels()[0],
        fontsize=7,
        ncol=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        frameon=False,
    )
    if source:
        fig.text(0.99, 0.01, source, ha="right", va="bottom", fontsize=7, color="#555555")
    fig.tight_layout()
    return fig


def live_timeline(
    recorder: Any,
    *,
    prefix: str,
    until: Callable[[pd.DataFrame], bool] | None = None,
    timeout: float = 60,
    interval: float = 1.0,
    title: str = "",
    ordered: bool = True,
    show: bool = True,
) -> pd.DataFrame:
    """Redraw the timeline from ``recorder`` about every ``interval`` s until ``until`` holds.

    Returns the recorded table. Never hangs: it ends at ``timeout`` seconds whatever happens,
    and an interrupt (the stop button) stops the recorder's watches too.
    """
    from IPython.display import display

    fig = draw_timeline(recorder.frame(), prefix=prefix, title=title, ordered=ordered)
    handle = display(fig, display_id=True) if show else None  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    try:
        while True:
            df = recorder.frame()
            done = until is not None and until(df)
            if done or time.monotonic() >= deadline:
                break
            time.sleep(interval)
            draw_timeline(df, prefix=prefix, fig=fig, title=title, ordered=ordered)
            if handle is not None:
                handle.update(fig)
    except KeyboardInterrupt:
        recorder.stop()
        raise
    finally:
        df = recorder.frame()
        draw_timeline(df, prefix=prefix, fig=fig, title=title, ordered=ordered)
        if handle is not None:
            handle.update(fig)
        plt.close(fig)
    return df


def ready_members(prefix: str, count: int) -> Callable[[pd.DataFrame], bool]:
    """An ``until`` condition: ``count`` members ``prefix-0..`` are Ready right now."""

    def check(df: pd.DataFrame) -> bool:
        segments, _ = pod_segments(df, prefix)
        latest: dict[int, Segment] = {}
        for s in segments:
            latest[s.ordinal] = s
        deleted = set(df.loc[df["event"] == "DELETED", "uid"])
        ready = [o for o, s in latest.items() if s.state == "Ready" and s.uid not in deleted]
        return len(ready) >= count

    return check
