"""Live views: StatefulSet members on a timeline, ordinal against time.

Each pod's life is a bar on its ordinal's row: Pending (orange), Running but not Ready (blue),
Ready (green), Terminating (red); marks show when it was created (|), became Ready (o) and was
deleted (x). A replacement pod (same name, new uid) starts a new bar on the same row. An
annotation names what holds a rollout up (``web-2 waits: web-1 not Ready``) or the event behind
a pause (``FailedScheduling``). This module draws; what it draws (segments, marks, pauses) is
read from the recording by :mod:`~stslab.observe.segments`.

:func:`live_timeline` redraws in place about once a second in JupyterLab (one display handle,
so a headless run keeps exactly the last frame as an image) and always returns: when its
``until`` condition holds, or at ``timeout``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from stslab.observe.segments import (
    PAUSE_REASONS,
    Segment,
    current_members,
    pauses,
    phase_of,
    pod_segments,
    ready_members,
    revision_numbers,
    volume_segments,
)

# What this module offers; the names from stslab.observe.segments are kept importable from here.
__all__ = [
    "BUCKET_COLUMNS",
    "BUCKET_ROWS",
    "COLORS",
    "MAX_ROWS",
    "PAUSE_REASONS",
    "VOLUME_COLORS",
    "Segment",
    "current_members",
    "draw_timeline",
    "draw_volumes",
    "finish_frame",
    "live_timeline",
    "live_view",
    "live_volumes",
    "pauses",
    "phase_of",
    "plot_members",
    "pod_segments",
    "ready_members",
    "revision_numbers",
    "show_health",
    "volume_segments",
]

COLORS = {
    "Pending": "#f0ad4e",
    "Running": "#5bc0de",
    "Ready": "#5cb85c",
    "Terminating": "#d9534f",
    "Succeeded": "#999999",
    "Failed": "#8b0000",
}
MAX_ROWS = 100  # members drawn a row each; a bigger set is drawn in buckets of ordinals
BUCKET_ROWS = 50  # rows of the bucketed view
BUCKET_COLUMNS = 400  # time steps of the bucketed view


def _spans(
    segments: list[Segment], secs: Callable[[pd.Timestamp], float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's start and end in seconds, at least 0.05 s apart, as arrays.

    Whole arrays rather than ``secs`` per segment: a 1,000-pod frame has thousands of them.
    """
    base = segments[0].start
    shift = secs(base)
    start = np.array([s.start.value for s in segments], dtype=np.int64) - base.value
    end = np.array([s.end.value for s in segments], dtype=np.int64) - base.value
    start_s = start / 1e9 + shift
    return start_s, np.maximum(end / 1e9 + shift, start_s + 0.05)


def _bars(
    ax: Any, segments: list[Segment], colors: dict[str, str], secs: Callable[[pd.Timestamp], float]
) -> None:
    """One collection of rectangles for all segments: hundreds of rows draw in one go."""
    if not segments:
        ax.autoscale_view()
        return
    start, end = _spans(segments, secs)
    row = np.array([s.ordinal for s in segments], dtype=float)
    verts = np.empty((len(segments), 4, 2))
    verts[:, 0, 0] = verts[:, 3, 0] = start
    verts[:, 1, 0] = verts[:, 2, 0] = end
    verts[:, 0, 1] = verts[:, 1, 1] = row - 0.275
    verts[:, 2, 1] = verts[:, 3, 1] = row + 0.275
    ax.add_collection(
        PolyCollection(
            verts,  # type: ignore[arg-type]  # a 3-D array: matplotlib's fast path
            facecolors=[colors.get(s.state, "#cccccc") for s in segments],
            edgecolors="none",
        )
    )
    ax.autoscale_view()


def _revision_labels(
    ax: Any,
    df: pd.DataFrame,
    prefix: str | None,
    segments: list[Segment],
    secs: Callable[[pd.Timestamp], float],
) -> None:
    """Label each pod's bar with the revision it runs (``rev 2``), when the members ran several."""
    numbers = revision_numbers(df, prefix)
    if len(numbers) < 2 or len({s.uid for s in segments}) > 60:  # one revision, or too crowded
        return
    pods = df[(df["kind"] == "Pod") & df["revision"].notna()]
    of_uid = dict(zip(pods["uid"].astype(str), pods["revision"].astype(str), strict=True))
    first: dict[str, Segment] = {}
    for seg in segments:
        first.setdefault(seg.uid, seg)
    for uid, seg in first.items():
        if uid in of_uid:
            ax.annotate(
                f"rev {numbers[of_uid[uid]]}",
                xy=(secs(seg.start), seg.ordinal - 0.3),
                fontsize=7,
                color="#333333",
                va="bottom",
            )


def draw_timeline(
    df: pd.DataFrame,
    *,
    prefix: str | None = None,
    fig: Figure | None = None,
    title: str = "",
    source: str = "",
    ordered: bool = True,
    now: pd.Timestamp | None = None,
    replicas: int | None = None,
) -> Figure:
    """Draw one frame of the ordinal-against-time view from a recorded table."""
    fig = fig or plt.figure(figsize=(9, 3.6))
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    t0 = df["time"].min() if len(df) else pd.Timestamp.now(tz="UTC")
    handles = plot_members(ax, df, t0, prefix=prefix, ordered=ordered, now=now, replicas=replicas)
    finish_frame(fig, ax, title or "StatefulSet members over time", handles, source, left=0.1)
    return fig


def plot_members(
    ax: Any,
    df: pd.DataFrame,
    t0: pd.Timestamp,
    *,
    prefix: str | None = None,
    ordered: bool = True,
    now: pd.Timestamp | None = None,
    replicas: int | None = None,
) -> list[Any]:
    """The members' bars and marks on ``ax``, in seconds since ``t0``; the legend's handles."""
    segments, marks = pod_segments(df, prefix, now)

    def secs(t: pd.Timestamp) -> float:
        return float((t - t0).total_seconds())

    if segments and max(s.ordinal for s in segments) >= MAX_ROWS:
        return _buckets(ax, segments, secs, prefix or "pod")
    _bars(ax, segments, COLORS, secs)
    _revision_labels(ax, df, prefix, segments, secs)
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
        for o, text in pauses(df, prefix, ordered, segments, replicas):
            ax.annotate(
                text,
                xy=(secs(df["time"].max()), o),
                fontsize=8,
                color="#8b0000",
                ha="right",
                va="center",
            )
            ordinals = sorted(set(ordinals) | {o})
    if len(ordinals) > 40:  # a label per row would be unreadable: label about 20 of them
        ordinals = ordinals[:: len(ordinals) // 20]
    ax.set_yticks(ordinals)
    names = {s.ordinal: s.name for s in segments}
    ax.set_yticklabels([names.get(o, f"{prefix or 'pod'}-{o}") for o in ordinals])
    ax.set_ylim(-0.7, (max(ordinals) if ordinals else 0) + 0.7)
    ax.set_xlim(left=-0.5)
    ax.invert_yaxis()
    marks_handles: list[Any] = ax.get_legend_handles_labels()[0]
    return _state_legend() + marks_handles


def _state_legend() -> list[Any]:
    """The legend's patches for a pod's states."""
    return [Patch(color=COLORS[k], label=k) for k in ("Pending", "Running", "Ready", "Terminating")]


def _buckets(
    ax: Any, segments: list[Segment], secs: Callable[[pd.Timestamp], float], prefix: str
) -> list[Any]:
    """Too many members for a row each: a row per bucket of ordinals, in buckets' colours.

    Each row's colour at each moment is the state most of its live members are in (white:
    none alive).
    """
    top = max(s.ordinal for s in segments) + 1
    size = -(-top // BUCKET_ROWS)  # ordinals per row
    rows = -(-top // size)
    start, end = _spans(segments, secs)
    span = max(float(end.max()), 1.0)
    states = list(COLORS)
    counts = np.zeros((rows, len(states), BUCKET_COLUMNS), dtype=np.int32)
    first = np.clip((start / span * BUCKET_COLUMNS).astype(int), 0, BUCKET_COLUMNS - 1)
    last = np.clip(np.ceil(end / span * BUCKET_COLUMNS).astype(int), first + 1, BUCKET_COLUMNS)
    state_of = {k: i for i, k in enumerate(states)}
    for seg, c0, c1 in zip(segments, first.tolist(), last.tolist(), strict=True):
        counts[seg.ordinal // size, state_of.get(seg.state, 0), c0:c1] += 1
    palette = np.array([matplotlib.colors.to_rgba(COLORS[k]) for k in states])
    image = palette[counts.argmax(axis=1)]
    image[counts.sum(axis=1) == 0] = (1.0, 1.0, 1.0, 0.0)
    ax.imshow(
        image,
        aspect="auto",
        interpolation="nearest",
        extent=(0, span, rows * size - 0.5, -0.5),
    )
    ticks = list(range(0, rows * size, size * max(1, rows // 10)))
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{prefix}-{t}…{min(t + size, top) - 1}" for t in ticks], fontsize=8)
    ax.set_ylim(rows * size - 0.5, -0.5)
    ax.set_xlim(left=-0.5, right=span)
    ax.set_ylabel(f"{size} members a row", fontsize=8)
    return _state_legend()


def finish_frame(
    fig: Figure, ax: Any, title: str, handles: list[Any], source: str, left: float
) -> None:
    """What every frame shares: axis label, title, legend below, source line, layout."""
    ax.set_xlabel("seconds")
    ax.set_title(title, fontsize=10)
    ax.legend(
        handles=handles,
        fontsize=7,
        ncol=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        frameon=False,
    )
    if source:
        fig.text(0.99, 0.01, source, ha="right", va="bottom", fontsize=7, color="#555555")
    fig.subplots_adjust(left=left, right=0.98, top=0.9, bottom=0.25)  # tight_layout costs 60 ms


def show_health(fig: Figure, recorder: Any) -> str:
    """Restart dead watches and write what is wrong with the recording on ``fig``; return it."""
    revive = getattr(recorder, "revive", None)
    if revive is not None:
        revive()
    note = getattr(recorder, "health", "")
    old = getattr(fig, "_stslab_health", None)
    if old is not None and old in fig.texts:  # draw() may have cleared the figure already
        old.remove()
    if note:
        fig._stslab_health = fig.text(  # type: ignore[attr-defined]
            0.01, 0.99, f"⚠ {note}", ha="left", va="top", fontsize=8, color="#b30000"
        )
    return str(note)


def live_view(
    recorder: Any,
    draw: Callable[[pd.DataFrame, Figure], Figure],
    *,
    until: Callable[[pd.DataFrame], bool] | None = None,
    timeout: float = 60,
    interval: float = 1.0,
    show: bool = True,
    on_frame: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Redraw ``draw(table, fig)`` from ``recorder`` about every ``interval`` s until ``until``.

    Returns the recorded table. Never hangs: it ends at ``timeout`` seconds whatever happens,
    and an interrupt (the stop button) stops the recorder's watches too. Never freezes without
    saying so: each frame restarts a watch that died and writes the recorder's
    :attr:`~stslab.observe.recorder.Recorder.health` ("reconnecting…") across its top.
    """
    from IPython.display import display

    fig = draw(recorder.frame(), plt.figure(figsize=(9, 3.6)))
    handle = display(fig, display_id=True) if show else None  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    try:
        while True:
            if until is not None and until(recorder.frame()) or time.monotonic() >= deadline:
                break
            time.sleep(interval)
            df = recorder.frame()  # taken after the pause, so the frame shows what is new
            draw(df, fig)
            show_health(fig, recorder)
            if handle is not None:
                handle.update(fig)
            if on_frame is not None:
                on_frame(df)  # the table this frame showed (benchmarks measure lag with it)
    except KeyboardInterrupt:
        recorder.stop()
        raise
    finally:
        df = recorder.frame()
        draw(df, fig)
        if handle is not None:
            handle.update(fig)
        plt.close(fig)
    return df


def live_timeline(
    recorder: Any,
    *,
    prefix: str,
    title: str = "",
    ordered: bool = True,
    replicas: int | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """The members of StatefulSet ``prefix`` on a live timeline (see :func:`live_view`).

    ``replicas`` (when known) keeps the annotations from naming members that will not exist.
    """

    def draw(df: pd.DataFrame, fig: Figure) -> Figure:
        return draw_timeline(
            df, prefix=prefix, fig=fig, title=title, ordered=ordered, replicas=replicas
        )

    return live_view(recorder, draw, **kwargs)


VOLUME_COLORS = {
    "Pending": "#f0ad4e",
    "Available": "#5bc0de",
    "Bound": "#5cb85c",
    "Released": "#9b59b6",
    "Failed": "#8b0000",
    "Terminating": "#d9534f",
}


def draw_volumes(
    df: pd.DataFrame,
    *,
    names: list[str] | None = None,
    fig: Figure | None = None,
    title: str = "",
    source: str = "",
) -> Figure:
    """Draw claims and volumes against time, coloured by phase."""
    fig = fig or plt.figure(figsize=(9, 3.6))
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    segments = volume_segments(df, names)
    t0 = df["time"].min() if len(df) else pd.Timestamp.now(tz="UTC")

    def secs(t: pd.Timestamp) -> float:
        return float((t - t0).total_seconds())

    _bars(ax, segments, VOLUME_COLORS, secs)
    labels = {s.ordinal: s.name for s in segments}
    ax.set_yticks(sorted(labels))
    ax.set_yticklabels([labels[o] for o in sorted(labels)], fontsize=8)
    ax.set_ylim(-0.7, (max(labels) if labels else 0) + 0.7)
    ax.set_xlim(left=-0.5)
    ax.invert_yaxis()
    finish_frame(
        fig,
        ax,
        title or "Claims and volumes over time",
        [Patch(color=c, label=k) for k, c in VOLUME_COLORS.items()],
        source,
        left=0.25,
    )
    return fig


def live_volumes(
    recorder: Any, *, names: list[str] | None = None, title: str = "", **kwargs: Any
) -> pd.DataFrame:
    """Claims and volumes on a live timeline (see :func:`live_view`)."""

    def draw(df: pd.DataFrame, fig: Figure) -> Figure:
        return draw_volumes(df, names=names, fig=fig, title=title)

    return live_view(recorder, draw, **kwargs)
