"""Record what happens in a namespace into a pandas table, with bounded watches.

Every watch here ends: each request carries a server-side ``timeout_seconds`` and a short
client read timeout, the loop stops when :meth:`Recorder.stop` is called (or the ``with`` block
ends, or ``max_seconds`` pass), and a ``410 Gone`` (history compacted) makes it list again
instead of failing. Nothing here runs forever in a notebook.

    with Recorder(api, "lab-01") as rec:
        ...                      # create a StatefulSet, scale it, delete a pod
    rec.frame()                  # one row per change: time, kind, name, ordinal, phase, ready, ...
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from stslab.core.labels import GPU_RESOURCE

COLUMNS = [
    "time",
    "kind",
    "event",
    "name",
    "ordinal",
    "phase",
    "ready",
    "node",
    "ip",
    "reason",
    "message",
    "uid",
    "gpus",
]
KINDS = ("Pod", "PersistentVolumeClaim", "PersistentVolume", "Event")
_ORDINAL = re.compile(r"-(\d+)$")


def ordinal_of(name: str) -> int | None:
    """The ordinal at the end of a StatefulSet member's name (``web-2`` → 2), else None."""
    m = _ORDINAL.search(name)
    return int(m.group(1)) if m else None


def _pod_row(p: Any) -> dict[str, Any]:
    conds = {c.type: c.status for c in (p.status.conditions or [])}
    waiting = [
        cs.state.waiting.reason
        for cs in (p.status.container_statuses or [])
        if cs.state and cs.state.waiting and cs.state.waiting.reason
    ]
    phase = "Terminating" if p.metadata.deletion_timestamp else p.status.phase
    return {
        "phase": phase,
        "ready": conds.get("Ready") == "True",
        "node": p.spec.node_name,
        "ip": p.status.pod_ip,
        "reason": waiting[0] if waiting else p.status.reason,
        "gpus": pod_gpus(p),
    }


def pod_gpus(pod: Any) -> int:
    """GPUs a pod's containers ask for (an extended resource: its limit is its request)."""
    total = 0
    for c in pod.spec.containers or []:
        limits = (c.resources.limits if c.resources else None) or {}
        total += int(limits.get(GPU_RESOURCE, 0))
    return total


def _pvc_row(c: Any) -> dict[str, Any]:
    phase = "Terminating" if c.metadata.deletion_timestamp else c.status.phase
    return {"phase": phase, "reason": c.spec.volume_name}


def _pv_row(v: Any) -> dict[str, Any]:
    ref = v.spec.claim_ref
    return {
        "phase": v.status.phase,
        "reason": f"{ref.namespace}/{ref.name}" if ref else None,
        "message": v.status.message,
    }


def _event_row(e: Any) -> dict[str, Any]:
    obj = e.involved_object
    return {"name": obj.name, "phase": obj.kind, "reason": e.reason, "message": e.message}


class _Source:
    """How to list, and summarise, one kind of object."""

    def __init__(
        self, kind: str, api: client.ApiClient, namespace: str, selector: str | None
    ) -> None:
        core = client.CoreV1Api(api)
        ns_kw: dict[str, Any] = {"namespace": namespace}
        table: dict[
            str, tuple[Callable[..., Any], dict[str, Any], Callable[[Any], dict[str, Any]]]
        ] = {
            "Pod": (core.list_namespaced_pod, ns_kw | {"label_selector": selector}, _pod_row),
            "PersistentVolumeClaim": (
                core.list_namespaced_persistent_volume_claim,
                ns_kw,
                _pvc_row,
            ),
            "PersistentVolume": (core.list_persistent_volume, {}, _pv_row),
            "Event": (core.list_namespaced_event, ns_kw, _event_row),
        }
        self.kind = kind
        self.rv = ""  # the resourceVersion to watch from; advanced by every event seen
        self.list, self.kwargs, self.summary = table[kind]
        self.kwargs = {k: v for k, v in self.kwargs.items() if v is not None}


class Recorder:
    """Watch pods, claims, volumes and events of one namespace into a table.

    ``max_seconds`` bounds the whole recording even if nobody calls :meth:`stop`.
    """

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        *,
        kinds: Iterable[str] = KINDS,
        selector: str | None = None,
        max_seconds: float = 900,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.kinds = tuple(kinds)
        self.selector = selector
        self.max_seconds = max_seconds
        self.rows: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.relists = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listed = threading.Barrier(len(self.kinds) + 1)
        self.started_at: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Recorder:
        """Start watching; returns once every kind has been listed (so nothing is missed)."""
        self.started_at = time.monotonic()
        for kind in self.kinds:
            t = threading.Thread(
                target=self._run,
                args=(_Source(kind, self.api, self.namespace, self.selector),),
                name=f"stslab-watch-{kind}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        try:
            self._listed.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        return self

    def stop(self) -> None:
        """Stop every watch and wait (at most a few seconds) for the threads to end."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)

    @property
    def running(self) -> bool:
        """True while any watch thread is alive."""
        return any(t.is_alive() for t in self._threads)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the table ----------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """Every recorded change so far, oldest first."""
        with self._lock:
            rows = list(self.rows)
        df = pd.DataFrame(rows, columns=COLUMNS)
        if len(df):
            df["time"] = pd.to_datetime(df["time"], utc=True)
            df["ordinal"] = df["ordinal"].astype("Int64")
            df = df.sort_values("time", kind="stable").reset_index(drop=True)
        return df

    def record(self, kind: str, event: str, obj: Any, summary: dict[str, Any]) -> None:
        """Append one row (public so that replays and tests can feed the same table)."""
        name = summary.pop("name", None) or obj.metadata.name
        row = (
            {c: None for c in COLUMNS}
            | {
                "time": datetime.now(timezone.utc),
                "kind": kind,
                "event": event,
                "name": name,
                "ordinal": ordinal_of(name),
                "uid": obj.metadata.uid,
            }
            | summary
        )
        with self._lock:
            self.rows.append(row)

    # -- the loop -------------------------------------------------------------------------------
    def _expired(self) -> bool:
        assert self.started_at is not None
        return self._stop.is_set() or time.monotonic() - self.started_at > self.max_seconds

    def _run(self, src: _Source) -> None:
        src.rv = self._list(src, first=True)
        while not self._expired():
            try:
                self._watch(src)
            except ApiException as e:
                if e.status == 410:  # our resourceVersion is too old: list afresh
                    self.relists += 1
                    src.rv = self._list(src)
                else:
                    self.errors.append(f"{src.kind}: {e.status} {e.reason}")
                    self._stop.wait(1)
            except (urllib3.exceptions.HTTPError, OSError):
                continue  # the short read timeout, or a dropped connection: watch again

    def _list(self, src: _Source, first: bool = False) -> str:
        try:
            while True:
                try:
                    res = src.list(**src.kwargs)
                    break
                except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
                    self.errors.append(f"{src.kind} list: {e}")
                    if self._stop.wait(1) or self._expired():
                        return ""
            for obj in res.items:
                self.record(src.kind, "LISTED" if first else "RELISTED", obj, src.summary(obj))
            return str(res.metadata.resource_version)
        finally:
            if first:
                try:
                    self._listed.wait(timeout=30)
                except threading.BrokenBarrierError:
                    pass

    def _watch(self, src: _Source) -> None:
        # Server side the watch ends after 20 s; client side a 1 s read timeout lets stop()
        # take effect promptly even when nothing happens.
        w = watch.Watch()
        stream = w.stream(
            src.list,
            resource_version=src.rv,
            timeout_seconds=20,
            allow_watch_bookmarks=True,
            _request_timeout=(5, 1),
            **src.kwargs,
        )
        try:
            for ev in stream:
                obj = ev["object"]
                if ev["type"] == "ERROR":
                    code = obj.get("code") if isinstance(obj, dict) else getattr(obj, "code", None)
                    if code == 410:
                        raise ApiException(status=410, reason="Gone")
                    continue
                src.rv = obj.metadata.resource_version or src.rv
                if ev["type"] != "BOOKMARK":
                    self.record(src.kind, ev["type"], obj, src.summary(obj))
                if self._expired():
                    break
        finally:
            w.stop()
