"""The room at a glance: a workshop's learners and their progress, live, for the instructor.

``stslab workshop create`` writes the workshop record (:mod:`stslab.lab.roster`: the
instructor's context and every learner's kubeconfig). Every check a learner runs is kept in
the ConfigMap ``stslab-progress`` of their namespace (:mod:`stslab.lab.progress`).
:class:`RoomView` reads those ConfigMaps every few seconds, from a thread (the kernel stays
free), and redraws in place a table and a picture of the room: per learner and lab the
exercises passed of those tried, what each learner checked last, and who is stuck (their last
check — an exercise, or a step the lab ran itself — failed and nothing passed since, for longer
than ``stuck_after``). :func:`exercise_table` shows each exercise across the room: how many
tried and passed, the hints used, and the wrong answers learners share. ``RoomView.say``
sends a message to one learner or the room (:mod:`stslab.lab.messages`), and
``RoomView.peek`` follows one learner's namespace in a read-only live panel.
``labs/instructor.ipynb`` shows it.

It never freezes without saying so: a read that fails (the API server restarting, an expired
instructor token) is written across the frame, in one line, and tried again at the next
refresh; the last good table is kept.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from kubernetes import client
from matplotlib.figure import Figure

from stslab.core.errors import UsageError
from stslab.core.kube import explain
from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL
from stslab.lab import messages
from stslab.lab.progress import Record, frame, read_workshop, summary
from stslab.observe.panel import Panel, headless
from stslab.observe.recorder import Recorder


def room_exercises(api: client.ApiClient, workshop: str) -> pd.DataFrame:
    """Every learner's exercises: the latest result, attempts and when, per lab."""
    return summary(read_workshop(api, workshop))


def exercise_table(records: list[Record], *, top: int = 3) -> pd.DataFrame:
    """One row per lab and exercise across the room (steps the lab ran itself left out).

    ``tried`` and ``passed``: learners (by their latest result); ``hints``: learners who used
    the hint ladder, and ``rungs`` the most rungs one of them used; ``wrong answers``: the
    ``top`` answers given in failed checks, each with how many learners gave it
    (``['web-2', 'web-1', 'web-0']: 5 learners``), so a shared misconception shows.
    """
    cols = ["lab", "exercise", "tried", "passed", "hints", "rungs", "wrong answers"]
    df = frame([r for r in records if not r.demo])
    if df.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (lab, exercise), g in df.sort_values("time", kind="stable").groupby(["lab", "exercise"]):
        latest = g.groupby("learner").tail(1)
        wrong = g[(g["result"] == "fail") & (g["answer"] != "")]
        shared = wrong.groupby("answer")["learner"].nunique().sort_values(ascending=False)
        said = [f"{a}: {n} learner{'s' * (n != 1)}" for a, n in shared.head(top).items()]
        rows.append(
            {
                "lab": lab,
                "exercise": exercise,
                "tried": len(latest),
                "passed": int((latest["result"] == "pass").sum()),
                "hints": int(g.loc[g["hints"] > 0, "learner"].nunique()),
                "rungs": int(g["hints"].max()),
                "wrong answers": "; ".join(said),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def room_table(
    records: list[Record], now: datetime, *, stuck_after: float = 300, labs: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per learner: ``passed/tried`` per lab, their last check, and whether stuck.

    A learner is stuck when their latest check failed, or the step the lab last handed them (a
    panel step, :func:`~stslab.lab.progress.opened`) is still open, and that was more than
    ``stuck_after`` seconds ago (a pass since would be the latest). ``labs`` adds columns for
    labs no one has reached yet.
    """
    s = summary(records)
    columns = ["learner", *labs, "last check", "since", "stuck"]
    if s.empty:
        return pd.DataFrame(columns=columns)
    s["passed"] = s["result"] == "pass"
    ex = s[~s["demo"].astype(bool)]
    counts = ex.groupby(["learner", "lab"]).agg(passed=("passed", "sum"), tried=("passed", "size"))
    cells = (counts["passed"].astype(str) + "/" + counts["tried"].astype(str)).unstack("lab")
    cells = cells.reindex(sorted(s["learner"].unique()))  # a learner with steps only, too
    for lab in {*labs, *s["lab"]}:  # a lab no one reached, or reached with steps only
        if lab not in cells:
            cells[lab] = None
    cells = cells[sorted(cells.columns)].fillna("-")
    cells.columns.name = None
    latest = s.sort_values("last", kind="stable").groupby("learner").tail(1).set_index("learner")
    when = pd.to_datetime(latest["last"], utc=True, format="ISO8601")
    since = (now - when).dt.total_seconds()
    cells["last check"] = latest["lab"] + ": " + latest["exercise"] + " (" + latest["result"] + ")"
    cells["since"] = since.map(_ago)
    cells["stuck"] = latest["result"].isin(["fail", "open"]) & (since > stuck_after)
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


class RoomView:
    """The room's table and picture, refreshed about every ``interval`` s from a thread.

    :meth:`start` shows them and returns at once: the kernel stays free for other cells, and
    :attr:`table` is always the last table read (an interrupt elsewhere loses nothing). A read
    that fails is said across the picture and tried again at the next refresh; a refresh that
    fails in any other way is said too, and the next one tries again. Run headless (papermill),
    :meth:`start` draws one frame and starts no thread. ``read`` replaces the cluster read
    (for tests).
    """

    def __init__(
        self,
        api: client.ApiClient | None,
        workshop: str,
        *,
        interval: float = 5,
        stuck_after: float = 300,
        labs: Sequence[str] = (),
        read: Callable[[], list[Record]] | None = None,
    ) -> None:
        self.api, self.workshop = api, workshop
        self.interval, self.stuck_after, self.labs = interval, stuck_after, labs
        self._read = read or (lambda: read_workshop(api, workshop))
        self.records: list[Record] = []
        self.table = pd.DataFrame()
        self.note = ""  # what went wrong at the last refresh, or ""
        self.frames = 0
        self.fig = Figure(figsize=(9, 0.8 + 0.3 * 12), dpi=80)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._widgets: tuple[Any, Any] | None = None

    def refresh(self) -> pd.DataFrame:
        """Read the room once and redraw; returns the table (the last good one on a failure)."""
        try:
            self.records = self._read()
            self.table = room_table(
                self.records,
                datetime.now(timezone.utc),
                stuck_after=self.stuck_after,
                labs=self.labs,
            )
            self.note = ""
        except Exception as e:  # noqa: BLE001 - said on the frame, tried again next time
            why = explain(e) or e
            self.note = f"cannot read the room ({why}); trying again in {self.interval:g} s"
        self.fig.set_size_inches(9, 0.8 + 0.3 * max(4, len(self.table)))
        draw_room(self.table, self.fig, note=self.note)
        self.frames += 1
        if self._widgets is not None:
            html, image = self._widgets
            html.value = _table_html(self.table)
            image.value = _png(self.fig)
        return self.table

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as e:  # noqa: BLE001 - a drawing that failed: said, then retried
                self.note = f"the room view failed to draw ({e}); trying again"

    def start(self) -> RoomView:
        """Show the room and keep it fresh from a thread (one frame only when headless)."""
        from IPython.display import Image, display

        if self.running:  # shown again: one thread, drawing into the newest widgets
            self.stop()
        self.refresh()
        if headless():
            display(self.table.style.apply(_red_if_stuck, axis=1) if len(self.table) else "")  # type: ignore[no-untyped-call]
            display(Image(_png(self.fig), format="png"))  # type: ignore[no-untyped-call]
            return self
        import ipywidgets as widgets

        self._widgets = (
            widgets.HTML(_table_html(self.table)),
            widgets.Image(value=_png(self.fig), format="png"),
        )
        display(widgets.VBox(list(self._widgets)))  # type: ignore[no-untyped-call]
        self._stop.clear()
        self._start_thread()
        return self

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="stslab-room", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the refreshing thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _keep_running(self) -> None:
        """Start the refreshing thread again should it have died, and say so."""
        if self._thread is None or self.running or self._stop.is_set():
            return
        self._start_thread()
        self.note = "the room view's refresh had stopped: started again"

    def stop(self) -> None:
        """Stop refreshing (the last frame stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)

    def stuck(self) -> pd.DataFrame:
        """The learners stuck at the last refresh, with where and for how long."""
        self._keep_running()
        t = self.table
        return t[t["stuck"].astype(bool)][["learner", "last check", "since"]] if len(t) else t

    def exercises(self) -> pd.DataFrame:
        """Each exercise across the room, as of the last refresh (:func:`exercise_table`)."""
        self._keep_running()
        return exercise_table(self.records)

    def peek(self, learner: str, statefulset: str | None = None) -> Panel:
        """A read-only live panel of ``learner``'s namespace (their pods and volumes, live)."""
        if self.api is None:
            raise ValueError("this room view reads no cluster")
        selector = f"{WORKSHOP_LABEL}={self.workshop},{LEARNER_LABEL}={learner}"
        found = client.CoreV1Api(self.api).list_namespace(label_selector=selector).items
        if not found:
            raise UsageError(
                f"workshop {self.workshop!r} has no learner {learner!r}",
                "see `stslab workshop list` for the learners",
            )
        namespace = found[0].metadata.name
        recorder = Recorder(self.api, namespace).start()
        title = f"{learner}: namespace {namespace} (read only)"
        panel = Panel(
            recorder, self.api, namespace, statefulset=statefulset, title=title, read_only=True
        )
        panel.show()
        return panel

    def say(self, text: str, learner: str | None = None, hint: str = "") -> list[str]:
        """Send ``text`` to ``learner`` (their name), or to the whole room; the namespaces.

        ``hint``: the exercise it is a hint for (``"my_order"``); shown to the learner as a hint.
        """
        if self.api is None:
            raise ValueError("this room view reads no cluster")
        return messages.send(self.api, self.workshop, text, learner, hint)


def _table_html(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>no checks yet</p>"
    return str(table.style.apply(_red_if_stuck, axis=1).hide(axis="index").to_html())


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
