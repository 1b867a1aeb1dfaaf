"""A ZooKeeper ensemble's roles over time: leader, follower, looking, down (lab 05 on kind).

:class:`Ensemble` asks each member for its mode with ZooKeeper's ``srvr`` command, run inside the
member's container through the API server (:mod:`stslab.core.podexec`; no connection to a pod's
address), about once a second, and keeps what it saw as a table. :func:`live_ensemble` draws it
like the pod timeline. It works only where containers run (kind, k3d, a real cluster).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
from kubernetes import client
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from stslab.core.podexec import ExecError, run
from stslab.observe.timeline import Segment, _bars, finish_frame, live_view, plot_members

ROLES = ("leader", "follower", "looking", "down")
ROLE_COLORS = {
    "leader": "#1f77b4",
    "follower": "#5cb85c",
    "looking": "#f0ad4e",
    "down": "#d9534f",
}
# srvr over the member's own loopback, from inside its container (bash's /dev/tcp).
SRVR = ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2181 && echo srvr >&3 && cat <&3"]


def role_of(api: client.ApiClient, namespace: str, pod: str, timeout: float = 10) -> str:
    """``pod``'s ZooKeeper role: leader, follower, standalone, looking (no quorum) or down."""
    try:
        out = run(api, namespace, pod, SRVR, timeout=timeout)
    except ExecError:
        return "down"  # no running container to ask
    for line in out.stdout.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    if "not currently serving" in out.stdout:
        return "looking"  # up, but without a quorum: it serves no client
    return "down"


class Ensemble:
    """Poll the roles of ``prefix``-0 … ``prefix``-(n-1) in ``namespace`` in a thread."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        prefix: str,
        members: int,
        interval: float = 1.0,
    ) -> None:
        self.api, self.namespace = api, namespace
        self.names = [f"{prefix}-{i}" for i in range(members)]
        self.interval = interval
        self.rows: list[dict[str, Any]] = []
        self.error = ""  # why the poller stopped, if it did
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ensemble:
        """Start polling (again); returns self."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="stslab-ensemble", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (the table stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _poll(self) -> None:
        try:
            while not self._stop.is_set():
                for name in self.names:
                    role = role_of(self.api, self.namespace, name)
                    with self._lock:
                        self.rows.append(
                            {"time": pd.Timestamp.now(tz="UTC"), "member": name, "role": role}
                        )
                self._stop.wait(self.interval)
        except Exception as e:  # noqa: BLE001 - said on the next frame, and revived
            self.error = f"{type(e).__name__}: {e}"

    @property
    def health(self) -> str:
        """What is wrong with the polling, or "" (shown on every live frame)."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            return f"ensemble poller stopped ({self.error or 'unknown'}); restarting"
        return ""

    def revive(self) -> None:
        """Restart a poller that died (the live view calls this on every frame)."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            self.start()

    def frame(self) -> pd.DataFrame:
        """Everything seen so far: one row per member and sample (time, member, role)."""
        with self._lock:
            return pd.DataFrame(self.rows, columns=["time", "member", "role"])

    def roles(self) -> dict[str, str]:
        """Each member's latest role."""
        df = self.frame()
        return {m: g.role.iloc[-1] for m, g in df.groupby("member")} if len(df) else {}

    def leader(self) -> str | None:
        """The member that last said it leads, if one does."""
        return next((m for m, r in self.roles().items() if r == "leader"), None)


def role_segments(df: pd.DataFrame, names: list[str]) -> list[Segment]:
    """Runs of one role per member, as bars for the timeline."""
    segments: list[Segment] = []
    end = df["time"].max() if len(df) else None
    for ordinal, name in enumerate(names):
        rows = df[df.member == name]
        start = prev = None
        for t, role in zip(rows.time, rows.role, strict=True):
            if role != prev:
                if prev is not None:
                    segments.append(Segment(name, ordinal, "", prev, start, t))
                start, prev = t, role
        if prev is not None:
            segments.append(Segment(name, ordinal, "", prev, start, end))
    return segments


def plot_roles(ax: Any, df: pd.DataFrame, names: list[str], t0: pd.Timestamp) -> list[Any]:
    """Each member's role as bars on ``ax``, in seconds since ``t0``; the legend's handles."""

    def secs(t: pd.Timestamp) -> float:
        return float((t - t0).total_seconds())

    colors = {**ROLE_COLORS, "standalone": ROLE_COLORS["leader"]}
    _bars(ax, role_segments(df, names), colors, secs)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlim(left=-0.5)
    ax.invert_yaxis()
    return [Patch(color=ROLE_COLORS[r], label=r) for r in ROLES]


def draw_ensemble(df: pd.DataFrame, names: list[str], fig: Figure, title: str = "") -> Figure:
    """One frame: each member's role against time."""
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    t0 = df["time"].min() if len(df) else pd.Timestamp.now(tz="UTC")
    handles = plot_roles(ax, df, names, t0)
    finish_frame(fig, ax, title or "ZooKeeper roles over time (srvr)", handles, "", left=0.1)
    return fig


def draw_members_and_roles(
    pods: pd.DataFrame,
    roles: pd.DataFrame,
    names: list[str],
    fig: Figure,
    *,
    prefix: str,
    replicas: int | None = None,
    title: str = "",
) -> Figure:
    """One frame, two rows on one clock: the pods of ``prefix`` above, their roles below.

    A pod deleted on the upper row and its member "down" then "looking" on the lower one line up,
    so a learner sees which Kubernetes event cost the ensemble its leader, and for how long.
    """
    fig.clf()
    top, bottom = fig.subplots(2, 1, sharex=True)
    times = [t for t in (pods["time"].min(), roles["time"].min()) if pd.notna(t)]
    t0 = min(times) if times else pd.Timestamp.now(tz="UTC")
    # The pod table's end is the last event; the roles are sampled each second up to now.
    now = roles["time"].max() if len(roles) else None
    for ax, handles, what in (
        (top, plot_members(top, pods, t0, prefix=prefix, now=now, replicas=replicas), "pods"),
        (bottom, plot_roles(bottom, roles, names, t0), "ZooKeeper roles (srvr)"),
    ):
        ax.set_title(what, fontsize=9, loc="left")
        ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    bottom.set_xlabel("seconds")
    fig.suptitle(title or f"{prefix}: members and their roles", fontsize=10)
    fig.subplots_adjust(left=0.1, right=0.8, top=0.88, bottom=0.12, hspace=0.45)
    return fig


class _PodsAndRoles:
    """A pod recorder and an ensemble poller as one source for :func:`live_view`."""

    def __init__(self, recorder: Any, ensemble: Ensemble) -> None:
        self.recorder, self.ensemble = recorder, ensemble

    def frame(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.recorder.frame()
        return frame

    @property
    def health(self) -> str:
        return "; ".join(h for h in (self.recorder.health, self.ensemble.health) if h)

    def revive(self) -> None:
        self.recorder.revive()
        self.ensemble.revive()

    def stop(self) -> None:
        self.recorder.stop()
        self.ensemble.stop()


def live_ensemble(
    ensemble: Ensemble,
    *,
    title: str = "",
    until: Callable[[pd.DataFrame], bool] | None = None,
    timeout: float = 60,
    show: bool = True,
    recorder: Any = None,
    prefix: str | None = None,
    replicas: int | None = None,
) -> pd.DataFrame:
    """The ensemble's roles on a live frame until ``until(table)`` or ``timeout``.

    With a pod ``recorder`` (and the set's ``prefix``) the frame puts the pod timeline above the
    roles, on one clock (:func:`draw_members_and_roles`); ``until`` is then given the pod table.
    """
    if recorder is not None:
        source: Any = _PodsAndRoles(recorder, ensemble)
        members = prefix or ensemble.names[0].rsplit("-", 1)[0]

        def draw(df: pd.DataFrame, fig: Figure) -> Figure:
            fig.set_size_inches(9, 5.2)
            return draw_members_and_roles(
                df,
                ensemble.frame(),
                ensemble.names,
                fig,
                prefix=members,
                replicas=replicas,
                title=title,
            )

        return live_view(source, draw, until=until, timeout=timeout, show=show)

    def draw_roles(df: pd.DataFrame, fig: Figure) -> Figure:
        return draw_ensemble(df, ensemble.names, fig, title)

    return live_view(ensemble, draw_roles, until=until, timeout=timeout, show=show)
