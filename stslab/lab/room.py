"""The room at a glance: a workshop's learners and their progress, live, for the instructor.

``stslab workshop create`` writes the workshop record (:mod:`stslab.lab.roster`: the
instructor's context and every learner's kubeconfig). Every check a learner runs is kept in
the ConfigMap ``stslab-progress`` of their namespace (:mod:`stslab.lab.progress`).
:func:`watch_room` reads those ConfigMaps every few seconds and redraws, in place, a table and
a picture of the room: per learner and lab the exercises passed of those tried, what each
learner checked last, and who is stuck (their last check failed and nothing passed since,
for longer than ``stuck_after``). ``labs/instructor.ipynb`` shows it.

It never freezes without saying so: a read that fails (the API server restarting, an expired
instructor token) is written across the frame, in one line, and tried again at the next
refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from kubernetes import client
from matplotlib.figure import Figure

from stslab.core.kube import explain
from stslab.lab.progress import Record, read_workshop, summary


def room_exercises(api: client.ApiClient, workshop: str) -> pd.DataFrame:
    """Every learner's exercises: the latest result, attempts and when, per lab."""
    return summary(read_workshop(api, workshop))


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def room_table(
    records: list[Record], now: datetime, *, stuck_after: float = 300, labs: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per learner: ``passed/tried`` per lab, their last check, and whether stuck.

    A learner is stuck when their latest check failed and it was more than ``stuck_after``
    seconds ago (a pass since would be the latest). ``labs`` adds columns for labs no one
    has reached yet.
    """
    s = summary(records)
    columns = ["learner", *labs, "last check", "since", "stuck"]
    if s.empty:
        return pd.DataFrame(columns=columns)
    s["passed"] = s["result"] == "pass"
    counts = s.groupby(["learner", "lab"]).agg(passed=("passed", "sum"), tried=("passed", "size"))
    cells = (counts["passed"].astype(str) + "/" + counts["tried"].astype(str)).unstack("lab")
    for lab in labs:
        if lab not in cells:
            cells[lab] = None
    cells = cells[sorted(cells.columns)].fillna("-")
    latest = s.sort_values("last", kind="stable").groupby("learner").tail(1).set_index("learner")
    when = pd.to_datetime(latest["last"], utc=True, format="ISO8601")
    since = (now - when).dt.total_seconds()
    cells["last check"] = latest["lab"] + ": " + latest["exercise"] + " (" + latest["result"] + ")"
    cells["since"] = since.map(_ago)
    cells["stuck"] = (latest["result"] == "fail") & (since > stuck_after)
    return cells.reset_index().rename(columns={"index": "learner"})


def draw_room(table: pd.DataFrame, fig: Figure, *, note: str = "") -> Figure:
    """Learners × labs, each cell coloured by the share of tried exercises passed.

    Stuck learners' names are red, with where they are stuck; ``note`` (a failed read) goes
    across the top in red.
    """
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    labs = [c for c in table.columns if c.startswith("lab-")]
    if table.empty or not labs:
        ax.text(0.5, 0.5, "no checks yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        share = np.full((len(table), len(labs)), np.nan)
        for i in range(len(table)):
            for j, lab in enumerate(labs):
                cell = table[lab].iloc[i]
                if isinstance(cell, str) and "/" in cell:
                    passed, tried = (int(x) for x in cell.split("/"))
                    share[i, j] = passed / tried if tried else np.nan
                    ax.text(j, i, cell, ha="center", va="center", fontsize=8)
        ax.imshow(share, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(labs)), labs, fontsize=8)
        names = [
            f"{r['learner']}  (stuck {r['since']}: {r['last check']})"[:60]
            if r["stuck"]
            else r["learner"]
            for _, r in table.iterrows()
        ]
        ax.set_yticks(range(len(table)), names, fontsize=8)
        for label, stuck in zip(ax.get_yticklabels(), table["stuck"], strict=True):
            if stuck:
                label.set_color("#b30000")
        ax.set_title(
            f"{len(table)} learners · {int(table['stuck'].sum())} stuck · "
            "exercises passed / tried per lab",
            fontsize=9,
        )
    if note:
        fig.text(0.01, 0.99, f"⚠ {note}", ha="left", va="top", fontsize=8, color="#b30000")
    fig.tight_layout()
    return fig


def _red_if_stuck(row: pd.Series) -> list[str]:
    return ["color: #b30000" if row["stuck"] else "" for _ in row]


def watch_room(
    api: client.ApiClient,
    workshop: str,
    *,
    interval: float = 5,
    timeout: float = 600,
    stuck_after: float = 300,
    labs: Sequence[str] = (),
    show: bool = True,
    read: Callable[[], list[Record]] | None = None,
) -> pd.DataFrame:
    """Redraw the room's table and picture about every ``interval`` s for ``timeout`` s.

    Returns the last table. An interrupt (the stop button) ends it. A failed read is said
    across the frame and retried; ``read`` replaces the cluster read (for tests).
    """
    from IPython.display import display

    read = read or (lambda: read_workshop(api, workshop))
    fig = plt.figure(figsize=(9, 0.8 + 0.3 * 12))
    handles: dict[str, Any] = {}
    table = pd.DataFrame()
    deadline = time.monotonic() + timeout
    try:
        while True:
            note = ""
            try:
                records = read()
                table = room_table(
                    records, datetime.now(timezone.utc), stuck_after=stuck_after, labs=labs
                )
            except Exception as e:  # noqa: BLE001 - said on the frame, tried again next time
                why = explain(e) or e
                note = f"cannot read the room ({why}); trying again in {interval:g} s"
            fig.set_size_inches(9, 0.8 + 0.3 * max(4, len(table)))
            draw_room(table, fig, note=note)
            if show:
                shown = table.style.apply(_red_if_stuck, axis=1) if not table.empty else table
                for key, obj in (("table", shown), ("figure", fig)):
                    if key in handles:
                        handles[key].update(obj)
                    else:
                        handles[key] = display(obj, display_id=True)  # type: ignore[no-untyped-call]
            if time.monotonic() + interval > deadline:
                break
            time.sleep(interval)
    finally:
        plt.close(fig)
    return table
