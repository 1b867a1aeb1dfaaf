"""Replay a recorded timeline: for readers without a cluster, and for testing the views.

A recording is a CSV of :class:`~.recorder.Recorder` rows plus a JSON file saying where it
came from (backend, Kubernetes version, date, what was done). Recordings live in
``data/timelines/``; ``scripts/record_timeline.py`` makes them from a real run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from stslab.core.paths import project_root
from stslab.observe.recorder import COLUMNS
from stslab.observe.timeline import draw_timeline


def timelines_dir() -> Path:
    """Where recordings are kept."""
    return project_root() / "data" / "timelines"


@dataclass
class Recording:
    """A recorded table and where it came from."""

    frame: pd.DataFrame
    meta: dict[str, Any]

    @property
    def source(self) -> str:
        """One line naming the backend, Kubernetes version and date of the recording."""
        m = self.meta
        return (
            f"replay of a recording: {m.get('backend')} backend, Kubernetes "
            f"{m.get('kubernetes')}, {m.get('date')}"
        )


def save(df: pd.DataFrame, meta: dict[str, Any], name: str, where: Path | None = None) -> Path:
    """Write ``<name>.csv`` and ``<name>.json``; returns the CSV's path."""
    where = where or timelines_dir()
    where.mkdir(parents=True, exist_ok=True)
    out = df.reindex(columns=COLUMNS)  # recordings older than a column lack it
    out["time"] = out["time"].map(lambda t: t.isoformat())
    out.to_csv(where / f"{name}.csv", index=False)
    (where / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return where / f"{name}.csv"


def load(name: str, where: Path | None = None) -> Recording:
    """Read a recording by name (``web-rollout``) or path."""
    path = Path(name) if name.endswith(".csv") else (where or timelines_dir()) / f"{name}.csv"
    df = pd.read_csv(path, dtype={"name": str, "uid": str}).reindex(columns=COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    df["ordinal"] = df["ordinal"].astype("Int64")
    df["ready"] = df["ready"].map({True: True, False: False, "True": True, "False": False})
    meta = json.loads(path.with_suffix(".json").read_text())
    return Recording(df, meta)


def replay_timeline(
    rec: Recording,
    *,
    prefix: str,
    speed: float = 8.0,
    fps: float = 2.0,
    ordered: bool = True,
    show: bool = True,
) -> int:
    """Draw the recording as it unfolded, ``speed`` times faster; returns the frames drawn."""
    from IPython.display import display

    df = rec.frame
    t0, t1 = df["time"].min(), df["time"].max()
    fig = draw_timeline(df.iloc[:1], prefix=prefix, source=rec.source, ordered=ordered)
    handle = display(fig, display_id=True) if show else None  # type: ignore[no-untyped-call]
    step = pd.Timedelta(seconds=speed / fps)
    frames, cut = 0, t0
    while True:
        cut = min(cut + step, t1)
        draw_timeline(
            df[df["time"] <= cut],
            prefix=prefix,
            fig=fig,
            ordered=ordered,
            source=rec.source,
            now=cut,
            title=f"{rec.meta.get('title', '')} (t = {(cut - t0).total_seconds():.0f} s)",
        )
        frames += 1
        if handle is not None:
            handle.update(fig)
            time.sleep(1 / fps)
        if cut >= t1:
            break
    plt.close(fig)
    return frames
