"""The data behind the timelines: a recording turned into segments, marks and pauses.

:func:`pod_segments` cuts each pod's life into segments, one per state, on its ordinal's row,
with marks where it was created, became Ready and was deleted; :func:`pauses` names what holds
a rollout up; :func:`volume_segments` cuts claims and volumes by phase. ``until`` conditions
for the live views (:func:`ready_members`) read them too. Nothing here draws:
:mod:`~stslab.observe.timeline` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

# Events that explain why a member is not Ready yet (named in the timeline's annotations).
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


def _state(phase: Any, ready: Any) -> str:
    if phase == "Terminating":
        return "Terminating"
    if phase == "Running":
        return "Ready" if str(ready) == "True" else "Running"
    return str(phase) if isinstance(phase, str) else "Pending"


def pod_segments(
    df: pd.DataFrame, prefix: str | None = None, now: pd.Timestamp | None = None
) -> tuple[list[Segment], pd.DataFrame]:
    """Turn recorded pod changes into coloured segments and marks (created/ready/deleted)."""
    pods = df[df["kind"] == "Pod"]
    if prefix:
        pods = pods[pods["name"].str.startswith(f"{prefix}-")]
    pods = pods.sort_values("time", kind="stable")
    # StatefulSet members sit on their ordinal's row; other pods (a Deployment's) get a row each
    # in the order they appeared.
    names = list(pods["name"])
    if not pods["name"].str.fullmatch(rf"{prefix or '.+'}-\d+").all():
        first_seen = {n: i for i, n in enumerate(dict.fromkeys(names))}
        rows_of = [first_seen[n] for n in names]
    else:
        rows_of = [int(o) for o in pods["ordinal"].tolist()]
    if now is not None:
        end_of_time = now
    else:
        end_of_time = df["time"].max() if len(df) else pd.Timestamp.now(tz="UTC")
    # One pass in plain Python: per-group pandas operations are far too slow for big sets.
    by_uid: dict[str, list[tuple[Any, ...]]] = {}
    records = zip(
        pods["uid"].tolist(),
        rows_of,
        names,
        list(pods["time"]),
        pods["event"].tolist(),
        pods["phase"].tolist(),
        pods["ready"].tolist(),
        strict=True,
    )
    for uid, row, name, t, event, phase, ready in records:
        by_uid.setdefault(str(uid), []).append((row, name, t, event, phase, ready))
    segments: list[Segment] = []
    marks: list[dict[str, Any]] = []
    for uid, changes in by_uid.items():
        row, name = changes[0][0], changes[0][1]
        marks.append({"ordinal": row, "time": changes[0][2], "mark": "created", "name": name})
        ready_at = next((c[2] for c in changes if str(c[5]) == "True"), None)
        if ready_at is not None:
            marks.append({"ordinal": row, "time": ready_at, "mark": "ready", "name": name})
        deleted_at = next((c[2] for c in changes if c[3] == "DELETED"), None)
        stop = deleted_at if deleted_at is not None else end_of_time
        if deleted_at is not None:
            marks.append({"ordinal": row, "time": stop, "mark": "deleted", "name": name})
        live = [c for c in changes if c[3] != "DELETED"]
        for k, c in enumerate(live):
            state = _state(c[4], c[5])
            t_end = live[k + 1][2] if k + 1 < len(live) else stop
            if segments and segments[-1].uid == uid and segments[-1].state == state:
                segments[-1].end = t_end
            else:
                segments.append(Segment(name, row, uid, state, c[2], t_end))
    return segments, pd.DataFrame(marks, columns=["ordinal", "time", "mark", "name"])


def current_members(df: pd.DataFrame, segments: list[Segment]) -> dict[int, Segment]:
    """Each ordinal's latest segment, for pods not deleted yet."""
    deleted = set(df.loc[df["event"] == "DELETED", "uid"])
    latest: dict[int, Segment] = {}
    for s in segments:
        latest[s.ordinal] = s
    return {o: s for o, s in latest.items() if s.uid not in deleted}


def pauses(
    df: pd.DataFrame,
    prefix: str,
    ordered: bool = True,
    segments: list[Segment] | None = None,
    replicas: int | None = None,
) -> list[tuple[int, str]]:
    """What holds members up right now: (ordinal, text) pairs for the annotations."""
    if segments is None:
        segments, _ = pod_segments(df, prefix)
    alive = {o: s for o, s in current_members(df, segments).items() if s.state != "Terminating"}
    notes: list[tuple[int, str]] = []
    events = df[(df["kind"] == "Event") & df["reason"].isin(PAUSE_REASONS)]
    last_event = {
        n: (r, m)
        for n, r, m in zip(events["name"], events["reason"], events["message"], strict=True)
    }
    for o, s in sorted(alive.items()):
        if s.name in last_event and s.state != "Ready":
            reason, message = last_event[s.name]
            notes.append((o, f"{s.name}: {reason}: {str(message)[:70]}"))
    if ordered and alive:
        top = max(alive)
        if alive[top].state != "Ready" and top + 1 not in alive:
            if replicas is None or top + 1 < replicas:
                notes.append((top + 1, f"{prefix}-{top + 1} waits: {prefix}-{top} not Ready"))
            else:  # the last member: nothing waits behind it, but an update does
                notes.append((top, f"{prefix}-{top} not Ready: the rollout waits for it"))
    return notes


def revision_numbers(df: pd.DataFrame, prefix: str | None = None) -> dict[str, int]:
    """Each revision (controller-revision-hash) the members ran, numbered in the order seen."""
    if "revision" not in df:
        return {}
    pods = df[(df["kind"] == "Pod") & df["revision"].notna()]
    if prefix:
        pods = pods[pods["name"].str.startswith(f"{prefix}-")]
    seen = dict.fromkeys(pods.sort_values("time", kind="stable")["revision"])
    return {str(r): i + 1 for i, r in enumerate(seen)}


def volume_segments(df: pd.DataFrame, names: list[str] | None = None) -> list[Segment]:
    """Claims and volumes as rows (first seen first), one segment per phase."""
    vols = df[df["kind"].isin(["PersistentVolume", "PersistentVolumeClaim"])]
    if names is not None:
        vols = vols[vols["name"].isin(names)]
    vols = vols.sort_values("time", kind="stable")
    end = df["time"].max() if len(df) else pd.Timestamp.now(tz="UTC")
    rows = {n: i for i, n in enumerate(dict.fromkeys(vols["name"]))}
    segments: list[Segment] = []
    open_: dict[str, Segment] = {}
    for kind, name, t, event, phase, uid in zip(
        vols["kind"],
        vols["name"],
        vols["time"],
        vols["event"],
        vols["phase"],
        vols["uid"],
        strict=True,
    ):
        label = ("PV " if kind == "PersistentVolume" else "PVC ") + name
        current = open_.get(name)
        if current is not None:
            current.end = t
        if event == "DELETED":
            open_.pop(name, None)
            continue
        state = str(phase) if isinstance(phase, str) else "Pending"
        if current is None or current.state != state or current.uid != uid:
            seg = Segment(label, rows[name], str(uid), state, t, end)
            segments.append(seg)
            open_[name] = seg
    for seg in open_.values():
        seg.end = end
    return segments


def phase_of(df: pd.DataFrame, name: str) -> str | None:
    """The latest recorded phase of the claim or volume ``name`` (None once deleted)."""
    rows = df[(df["name"] == name) & df["kind"].isin(["PersistentVolume", "PersistentVolumeClaim"])]
    if not len(rows) or rows.iloc[-1]["event"] == "DELETED":
        return None
    return str(rows.iloc[-1]["phase"])


def ready_members(prefix: str, count: int) -> Callable[[pd.DataFrame], bool]:
    """An ``until`` condition: ``count`` members ``prefix-0..`` are Ready right now."""

    def check(df: pd.DataFrame) -> bool:
        segments, _ = pod_segments(df, prefix)
        members = current_members(df, segments).values()
        return sum(s.state == "Ready" for s in members) >= count

    return check
