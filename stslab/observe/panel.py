"""A panel a learner can drive: a live view with ipywidgets controls under it.

The frame is one of the live views (pods, volumes, GPUs per machine, ZooKeeper roles) drawn
from a :class:`~stslab.observe.recorder.Recorder`. Under it:

- scale the StatefulSet by ±1 or to N, delete a chosen member;
- pause and resume the frame (the recording goes on underneath, so nothing is missed);
- choose the StatefulSet (those in the namespace) and the view;
- a time slider that scrubs a paused or finished recording, or a replay;
- a small table of the chosen member: node, IP, claims, revision, last event.

Each control calls the API the way the labs do and prints the kubectl command it stands for.
Whatever goes wrong (the cluster down, scaling below zero, a member already gone) is one line
in the panel, never a traceback, and the panel keeps working.

In JupyterLab the panel returns at once and refreshes itself from a thread, so the kernel stays
free to take clicks. Headless (``STSLAB_HEADLESS=1``, which ``stslab labs run`` sets) there is no
one to click: the output is the frame as an ``image/png``, which :meth:`Panel.wait` and
:meth:`Panel.close` bring up to date.

    panel = Panel(rec, lab.api, namespace, statefulset="web")
    panel.show()
    ...                                 # the learner clicks, or runs kubectl
    panel.wait(until=ready_members("web", 3), timeout=120)
"""

from __future__ import annotations

import base64
import html
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from kubernetes import client
from matplotlib.figure import Figure

from stslab.core.paths import HEADLESS_ENV
from stslab.observe import actions
from stslab.observe.actions import one_line
from stslab.observe.panel_frame import draw_frame, frame_title, member_table, members_summary
from stslab.observe.panel_widgets import PanelWidgets

HURRY_SECONDS = 3.0  # after a click the frame is redrawn every HURRY_INTERVAL for this long
HURRY_INTERVAL = 0.2
SETS_EVERY = 5.0  # seconds between two reads of the namespace's StatefulSets

Draw = Callable[[pd.DataFrame, Figure, "pd.Timestamp | None"], Figure]


def headless() -> bool:
    """True in a run with no one to click (papermill under ``stslab labs run``)."""
    return os.environ.get(HEADLESS_ENV) == "1"


class Panel(PanelWidgets):
    """A live view with controls; see the module's docstring."""

    def __init__(
        self,
        recorder: Any,
        api: client.ApiClient | None,
        namespace: str,
        *,
        statefulset: str | None = None,
        view: str = "pods",
        capacity: dict[str, int] | None = None,
        ensemble: Any = None,
        title: str = "",
        interval: float = 1.0,
        frame: pd.DataFrame | None = None,
        source: str = "",
        read_only: bool = False,
    ) -> None:
        self.recorder, self.api, self.namespace = recorder, api, namespace
        self.read_only = read_only  # follows the cluster, changes nothing (an instructor's peek)
        self.capacity, self.ensemble, self.title = capacity, ensemble, title
        self.interval, self.source = interval, source
        self._replay = frame  # a finished recording to scrub (no cluster controls then)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._hurry_until = 0.0
        self._sets_read = 0.0
        self._drawn: tuple[Any, ...] | None = None
        self._handles: list[str] = []
        self._thread: threading.Thread | None = None
        self._waiting = False
        self._quiet: set[int] = set()  # threads setting controls themselves: no observer runs
        self.frames = 0  # frames drawn
        self.frame_df: pd.DataFrame = pd.DataFrame()  # the table the last frame was drawn from
        self.frame_time = 0.0  # time.monotonic() when the last frame was ready
        self.png = b""
        self.status = ""
        self.log: list[str] = []  # the kubectl commands the controls stood for, newest last
        self.said: list[str] = []  # the panel's last lines, newest last
        self.fig = Figure(figsize=(9, 5.2 if view == "ensemble" else 3.6), dpi=80)

        views = (
            ["pods", "volumes"] + ["gpus"] * bool(capacity) + ["ensemble"] * (ensemble is not None)
        )
        if view not in views:
            raise ValueError(f"view {view!r} is not one of {views}")
        self._build_widgets(views, view, statefulset, live=frame is None)
        if read_only:
            for button in (self.minus, self.plus, self.scale_button, self.delete_button):
                button.disabled = True
        self.minus.on_click(lambda _: self.scale(-1))
        self.plus.on_click(lambda _: self.scale(+1))
        self.scale_button.on_click(lambda _: self.scale_to(int(self.target.value)))
        self.delete_button.on_click(lambda _: self.delete(self.member.value))
        self.pause_button.observe(lambda c: self._paused_changed(bool(c["new"])), "value")
        for control in (self.slider, self.view, self.sets, self.member):
            control.observe(lambda c: self._controls_changed(), "value")
        self._read_sets(force=True)
        self.refresh()

    @classmethod
    def replay(cls, recording: Any, *, statefulset: str, **kwargs: Any) -> Panel:
        """A panel over a saved :class:`~stslab.observe.replay.Recording`, to scrub."""
        return cls(
            None,
            None,
            "",
            statefulset=statefulset,
            frame=recording.frame,
            source=recording.source,
            title=recording.meta.get("title", ""),
            **kwargs,
        )

    # --- what the controls do -------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Whether the panel follows a cluster (not a replay)."""
        return self._replay is None

    def scale(self, delta: int) -> str:
        """Scale the chosen StatefulSet by ``delta`` replicas (the −1 and +1 buttons)."""
        current = self._replicas()
        if current is None:
            return self.status
        return self.scale_to(current + delta)

    def scale_to(self, replicas: int) -> str:
        """Scale the chosen StatefulSet to ``replicas`` (the "scale to" button)."""
        name = self.sets.value
        if not self._can_act():
            return self.status
        if replicas < 0:
            return self._say(f"cannot scale {name} to {replicas}: replicas cannot be below zero")
        command = actions.scale_command(self.namespace, name, replicas)
        try:
            actions.scale(self.api, self.namespace, name, replicas)
        except Exception as e:  # one line in the panel, whatever it is
            return self._say(f"{command} failed: {one_line(e)}", command)
        self.target.value = replicas
        return self._acted(f"{name} scaled to {replicas}", command)

    def delete(self, member: str | None) -> str:
        """Delete the pod ``member`` (the "delete member" button); its set makes it again."""
        if not self._can_act():
            return self.status
        if not member:
            return self._say("choose a member to delete first")
        command = actions.delete_command(self.namespace, member)
        try:
            if not actions.delete_member(self.api, self.namespace, member):
                return self._say(f"pod {member} does not exist (already gone?)", command)
        except Exception as e:  # one line in the panel, whatever it is
            return self._say(f"{command} failed: {one_line(e)}", command)
        return self._acted(f"{member} deleted: its StatefulSet makes it again", command)

    def controls(self) -> dict[str, Callable[..., Any]]:
        """The controls by name, each doing what its button (or the slider) does."""
        return {
            "scale": self.scale,
            "scale_to": self.scale_to,
            "delete": self.delete,
            "pause": self.pause,
            "resume": self.resume,
            "scrub": self.scrub,
        }

    def pause(self) -> None:
        """Freeze the frame; the slider then scrubs what was recorded."""
        self.pause_button.value = True

    def resume(self) -> None:
        """Follow the cluster again."""
        self.pause_button.value = False

    def scrub(self, seconds: float) -> str:
        """Show the recording as it was ``seconds`` after it began (the slider)."""
        if self.live and not self.paused and self._running():
            return self._say("pause first: the slider scrubs a paused or finished recording")
        if not len(self._table()):
            return self._say("nothing recorded yet: there is nothing to scrub")
        self._quiet.add(threading.get_ident())  # one frame below, not another from the observer
        try:
            self.slider.value = max(self.slider.min, min(float(seconds), self.slider.max))
        finally:
            self._quiet.discard(threading.get_ident())
        self._drawn = None
        if not self.refresh():
            return self.status
        return self._say(f"showing t = {self.slider.value:.1f} s of {self.slider.max:.1f} s")

    @property
    def paused(self) -> bool:
        """Whether the frame is frozen."""
        return bool(self.pause_button.value)

    # --- showing it ----------------------------------------------------------------------

    def show(self) -> None:
        """Display the panel here (again, if shown before) and start following the cluster."""
        from IPython.display import display

        handle = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is not None:
            self._handles.append(handle.display_id)
        if not headless() and self.live and self._thread is None:
            self._start_following()

    def _start_following(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="stslab-panel", daemon=True)
        self._thread.start()

    def _keep_following(self) -> None:
        """Start the refresh thread again should it have died, and say so."""
        thread = self._thread
        if thread is None or thread.is_alive() or self._closed.is_set() or not self._running():
            return
        self._start_following()
        self._say("the panel's refresh had stopped: started again")

    def wait(
        self, until: Callable[[pd.DataFrame], bool] | None = None, timeout: float = 60
    ) -> pd.DataFrame:
        """Block until ``until(table)`` holds or ``timeout`` passes, redrawing; return the table.

        Like :func:`~stslab.observe.timeline.live_view`: never hangs, and headless its last frame
        is what the panel's output keeps.
        """
        deadline = time.monotonic() + timeout
        self._waiting = True
        try:
            while True:
                df = self._table()
                if until is not None and until(df) or time.monotonic() >= deadline:
                    break
                time.sleep(min(self.interval, max(0.0, deadline - time.monotonic())))
                self.refresh()
        except KeyboardInterrupt:
            if self.recorder is not None:
                self.recorder.stop()
            raise
        finally:
            self._waiting = False
            self.refresh()
            self._keep_following()
            if headless():
                self._update_outputs()
        return self._table()

    def close(self) -> None:
        """Stop following; the outputs keep the last frame as a picture. Closing twice is fine."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.refresh()
        self._update_outputs(widget=False)
        self.box.close()

    def refresh(self) -> bool:
        """Draw the frame now if anything it shows has changed; False if it could not be drawn."""
        with self._lock:
            self._quiet.add(threading.get_ident())
            try:
                self._read_sets()
                df = self._table()
                cut = self._cut(df)
                shown = df if cut is None else df[df["time"] <= cut]
                key = (
                    len(df),
                    len(self.ensemble.frame()) if self.ensemble is not None else 0,
                    self.view.value,
                    self.sets.value,
                    self.member.value,
                    cut,
                    getattr(self.recorder, "health", ""),
                )
                if key == self._drawn:
                    return True
                self._draw(shown, cut)
                self._update_members(shown)
                self._update_table(shown)
                self._drawn = key
                return True
            except Exception as e:  # a frame that fails says so; the next one tries again
                self._say(f"the frame could not be drawn ({one_line(e)}); trying again")
                self._drawn = None
                return False
            finally:
                self._quiet.discard(threading.get_ident())

    # --- inside ---------------------------------------------------------------------------

    def _table(self) -> pd.DataFrame:
        if self._replay is not None:
            return self._replay
        df: pd.DataFrame = self.recorder.frame()
        return df

    def _running(self) -> bool:
        return self.recorder is not None and bool(getattr(self.recorder, "running", True))

    def _cut(self, df: pd.DataFrame) -> pd.Timestamp | None:
        """The moment the frame shows: None follows the cluster."""
        scrubbing = not self.live or self.paused or not self._running()
        if not len(df):
            return None
        t0, t1 = df["time"].min(), df["time"].max()
        span = max(float((t1 - t0).total_seconds()), 0.5)
        self.slider.disabled = not scrubbing
        if not scrubbing:
            self.slider.max, self.slider.value = span, span
            return None
        if (
            self.slider.max != span
            and not self.paused
            and (self.slider.value >= self.slider.max or not self.live)
        ):
            # A finished recording opens at its end. A paused one keeps the range it had when
            # paused: moving the slider's end under a learner's drag would yank the handle back.
            self.slider.max, self.slider.value = span, span
        return t0 + pd.Timedelta(seconds=float(self.slider.value))

    def _draw(self, df: pd.DataFrame, cut: pd.Timestamp | None) -> None:
        title = frame_title(self.title, self.sets.value, df, cut)
        recorder = self.recorder if self.live else None
        self.png = draw_frame(
            self.fig, df, self.view.value, prefix=self.sets.value, title=title, cut=cut,
            source=self.source, capacity=self.capacity, ensemble=self.ensemble, recorder=recorder,
        )  # fmt: skip
        self.image.value = self.png
        self.frames += 1
        self.frame_df = df
        self.frame_time = time.monotonic()

    def _update_members(self, df: pd.DataFrame) -> None:
        names, self.summary.value = members_summary(df, self.sets.value)
        if list(self.member.options) != names:
            keep = self.member.value if self.member.value in names else None
            self.member.options = names
            self.member.value = keep or (names[0] if names else None)

    def _update_table(self, df: pd.DataFrame) -> None:
        member = self.member.value
        details = None
        if member and self.live and self.api is not None and not self.paused:
            try:
                details = actions.member_details(self.api, self.namespace, member)
            except Exception:
                pass  # gone, or the cluster is down: the recorded columns still say a lot
        self.table.value = member_table(df, member, details)

    def _read_sets(self, force: bool = False) -> None:
        """The StatefulSets of the namespace, for the chooser (at most every SETS_EVERY s)."""
        if not self.live or self.api is None or self.paused:
            return
        if not force and time.monotonic() - self._sets_read < SETS_EVERY:
            return
        self._sets_read = time.monotonic()
        try:
            names = actions.stateful_sets(self.api, self.namespace)
        except Exception:
            return  # the frame says whether the cluster is reachable
        keep = self.sets.value
        if keep and keep not in names:
            names.append(keep)  # it may not exist yet, or was just deleted: keep watching it
        if list(self.sets.options) != names:
            self.sets.options = names
            self.sets.value = keep if keep in names else (names[0] if names else None)

    def _replicas(self) -> int | None:
        if not self._can_act():
            return None
        name = self.sets.value
        try:
            replicas = actions.replicas(self.api, self.namespace, name)
        except Exception as e:
            self._say(f"cannot read {name}'s replicas: {one_line(e)}")
            return None
        if replicas is None:
            self._say(f"StatefulSet {name} does not exist in {self.namespace}")
        return replicas

    def _can_act(self) -> bool:
        self._keep_following()
        if self.read_only:
            self._say("read only: this panel follows someone else's namespace and changes nothing")
            return False
        if not self.live or self.api is None:
            self._say("this is a replay: there is no cluster to act on")
            return False
        if not self.sets.value:
            self._say("choose a StatefulSet first")
            return False
        return True

    def _acted(self, what: str, command: str) -> str:
        self._hurry_until = time.monotonic() + HURRY_SECONDS
        self._wake.set()
        return self._say(what, command)

    def _say(self, text: str, command: str = "") -> str:
        """One line under the panel: what happened, and the kubectl command it stood for."""
        if command:
            self.log.append(command)
        self.status = text
        self.said = [*self.said[-19:], text]
        shown = f"<code>$ {html.escape(command)}</code><br>" if command else ""
        self.message.value = f"{shown}{html.escape(text)}"
        return text

    def _paused_changed(self, paused: bool) -> None:
        if threading.get_ident() in self._quiet:
            return
        self.pause_button.description = "resume" if paused else "pause"
        self._say("paused: drag the slider to look back" if paused else "following the cluster")
        self._controls_changed()

    def _controls_changed(self) -> None:
        if threading.get_ident() in self._quiet:
            return
        self._keep_following()
        self._drawn = None
        self.refresh()  # at once: the learner sees the control take effect

    def _follow(self) -> None:
        """The refresh thread: a frame each interval (quicker just after a click)."""
        while not self._closed.is_set():
            hurry = time.monotonic() < self._hurry_until
            self._wake.wait(HURRY_INTERVAL if hurry else self.interval)
            self._wake.clear()
            if self._closed.is_set():
                break
            if not self._waiting:  # wait() draws in the cell itself
                self.refresh()
            if not self._running():
                self._say("the recording has stopped: drag the slider to look back")
                self.refresh()
                break

    def _bundle(self, widget: bool = True) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "text/plain": f"<stslab panel: {self.sets.value or 'no StatefulSet'} in "
            f"{self.namespace or 'a replay'}>",
        }
        if self.png:
            bundle["image/png"] = base64.b64encode(self.png).decode()
        if widget and not headless():
            bundle["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.box.model_id,
            }
        return bundle

    def _update_outputs(self, widget: bool = True) -> None:
        from IPython.display import update_display

        for display_id in self._handles[-1:]:  # an earlier output keeps its own section's frame
            update_display(self._bundle(widget), raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
