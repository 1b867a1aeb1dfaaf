"""Record what happens in a namespace into a pandas table, with bounded watches.

Every watch here ends: each request carries a server-side ``timeout_seconds`` and a short
client read timeout, the loop stops when :meth:`Recorder.stop` is called (or the ``with`` block
ends, or ``max_seconds`` pass), and a ``410 Gone`` (history compacted) makes it list again
instead of failing. Nothing here runs forever in a notebook.

Every watch also survives: a watch BOOKMARK (its object is a plain dict) only moves the
resourceVersion on; a dropped connection or a stopped apiserver is retried with a bounded,
jittered backoff (0.2 s doubling to 5 s) while :attr:`Recorder.health` says "reconnecting";
any other error is recorded in :attr:`Recorder.errors` and retried the same way, so a watch
thread never dies quietly — and should one die anyway, :meth:`Recorder.revive` (which every
live view calls once a frame) starts it again and says so.

    with Recorder(api, "lab-01") as rec:
        ...                      # create a StatefulSet, scale it, delete a pod
    rec.frame()                  # one row per change: time, kind, name, ordinal, phase, ready, ...
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
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
    "revision",  # a pod's controller-revision-hash label: which template it runs
]
KINDS = ("Pod", "PersistentVolumeClaim", "PersistentVolume", "Event")
BACKOFF_FIRST = 0.2  # seconds before the first retry after a failure
BACKOFF_MAX = 5.0  # the longest wait between two retries
MAX_ERRORS = 100  # Recorder.errors keeps the newest ones
# The newest changes a recording keeps (a row is about 200 bytes: 40 MB at most); a lab makes a
# few thousand, a 10,000-pod rollout about 40,000. Older rows are dropped and counted.
MAX_ROWS = 200_000
REVIVED_NOTE_SECONDS = 10  # how long the views say that a watch was started again
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
        "revision": (p.metadata.labels or {}).get("controller-revision-hash"),
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

    ``max_seconds`` bounds the whole recording even if nobody calls :meth:`stop`. Each watch
    request ends server side after ``watch_seconds`` (the apiserver sends a BOOKMARK shortly
    before) and client side after ``read_timeout`` s without data, so :meth:`stop` takes effect
    promptly even when nothing happens.
    """

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        *,
        kinds: Iterable[str] = KINDS,
        selector: str | None = None,
        max_seconds: float = 900,
        watch_seconds: int = 20,
        read_timeout: float = 1.0,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.kinds = tuple(kinds)
        self.selector = selector
        self.max_seconds = max_seconds
        self.watch_seconds = watch_seconds
        self.read_timeout = read_timeout
        self.rows: deque[tuple[Any, ...]] = deque(maxlen=max_rows)  # in COLUMNS order
        self.dropped = 0  # rows dropped to keep the newest max_rows
        self._appended = 0  # rows ever recorded: frame() is built again only when it moves
        self._frame: tuple[int, pd.DataFrame] | None = None
        self.errors: list[str] = []  # the newest MAX_ERRORS problems, "Kind: what happened"
        self.relists = 0  # lists again after 410 Gone
        self.reconnects = 0  # retries after a failed or dropped request
        self.bookmarks = 0  # BOOKMARK events seen (they carry only a resourceVersion)
        self.revived = 0  # watch threads started again after they died
        self._trouble: dict[str, tuple[float, str]] = {}  # kind -> (since, why) while failing
        self._revived_at: tuple[float, str] | None = None  # when, and which watches
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
            self._threads.append(self._spawn(kind, first=True))
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

    @property
    def health(self) -> str:
        """Empty while every watch is live; else one line saying what is wrong (for the views)."""
        if self.started_at is not None and self._expired():
            return "recording stopped"
        dead = [k for k, t in zip(self.kinds, self._threads, strict=False) if not t.is_alive()]
        if dead:
            return f"watch of {', '.join(dead)} died; revive() restarts it"
        if not self._trouble:
            if self._revived_at and time.monotonic() - self._revived_at[0] < REVIVED_NOTE_SECONDS:
                return f"watch of {self._revived_at[1]} died and was started again"
            return ""
        now = time.monotonic()
        since, why = min(self._trouble.values())
        kinds = ", ".join(sorted(self._trouble))
        return f"reconnecting… ({kinds}, {now - since:.0f} s: {why})"

    def revive(self) -> int:
        """Start again every watch thread that died while recording; return how many."""
        if self.started_at is None or self._expired():
            return 0
        started = 0
        for i, (kind, t) in enumerate(zip(self.kinds, self._threads, strict=False)):
            if not t.is_alive():
                self._note(kind, "watch thread died; started again")
                self._threads[i] = self._spawn(kind, first=False)
                self.revived += 1
                started += 1
                self._revived_at = (time.monotonic(), kind)
        return started

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the table ----------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """Every recorded change so far (the newest ``max_rows``), oldest first.

        Built once per new change: live views ask for it every frame.
        """
        with self._lock:
            appended = self._appended
            if self._frame is not None and self._frame[0] == appended:
                return self._frame[1].copy()
            rows = list(self.rows)
        df = pd.DataFrame.from_records(rows, columns=COLUMNS)
        if len(df):
            df["time"] = pd.to_datetime(df["time"], utc=True)
            df["ordinal"] = df["ordinal"].astype("Int64")
            df = df.sort_values("time", kind="stable").reset_index(drop=True)
        with self._lock:
            self._frame = (appended, df)
        return df.copy()

    def record(self, kind: str, event: str, obj: Any, summary: dict[str, Any]) -> None:
        """Append one row (public so that replays and tests can feed the same table)."""
        name = summary.pop("name", None) or obj.metadata.name
        values = {
            "time": datetime.now(timezone.utc),
            "kind": kind,
            "event": event,
            "name": name,
            "ordinal": ordinal_of(name),
            "uid": obj.metadata.uid,
        } | summary
        row = tuple(values.get(c) for c in COLUMNS)
        with self._lock:
            if len(self.rows) == self.rows.maxlen:
                self.dropped += 1
            self.rows.append(row)
            self._appended += 1

    # -- the loop -------------------------------------------------------------------------------
    def _expired(self) -> bool:
        assert self.started_at is not None
        return self._stop.is_set() or time.monotonic() - self.started_at > self.max_seconds

    def _spawn(self, kind: str, *, first: bool) -> threading.Thread:
        src = _Source(kind, self.api, self.namespace, self.selector)
        t = threading.Thread(
            target=self._run, args=(src, first), name=f"stslab-watch-{kind}", daemon=True
        )
        t.start()
        return t

    def _note(self, kind: str, what: str) -> None:
        self.errors.append(f"{kind}: {what}")
        del self.errors[:-MAX_ERRORS]

    def _failed(self, src: _Source, why: str, delay: float) -> float:
        """Note a failure, wait ``delay`` (jittered), return the next delay (bounded)."""
        self._trouble.setdefault(src.kind, (time.monotonic(), why))
        self._note(src.kind, why)
        self.reconnects += 1
        self._stop.wait(delay * random.uniform(0.5, 1.0))
        return min(delay * 2, BACKOFF_MAX)

    def _run(self, src: _Source, first: bool) -> None:
        src.rv = self._list(src, first=first)
        delay = BACKOFF_FIRST
        while not self._expired():
            try:
                self._watch(src)
            except urllib3.exceptions.ReadTimeoutError:
                pass  # the 1 s read timeout on a quiet watch: the server answered, watch again
            except ApiException as e:
                if e.status == 410:  # our resourceVersion is too old: list afresh
                    self.relists += 1
                    src.rv = self._list(src)
                else:
                    delay = self._failed(src, f"{e.status} {e.reason}", delay)
                    continue
            except (urllib3.exceptions.HTTPError, OSError) as e:
                delay = self._failed(src, _short(e), delay)  # dropped, refused, reset
                continue
            except Exception as e:  # noqa: BLE001 - a watch must not die quietly
                delay = self._failed(src, f"{type(e).__name__}: {e}", delay)
                continue
            self._trouble.pop(src.kind, None)
            delay = BACKOFF_FIRST

    def _list(self, src: _Source, first: bool = False) -> str:
        delay = BACKOFF_FIRST
        try:
            while True:
                try:
                    res = src.list(**src.kwargs)
                    break
                except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
                    delay = self._failed(src, f"list: {_short(e)}", delay)
                    if self._expired():
                        return ""
            self._trouble.pop(src.kind, None)
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
        w = watch.Watch()
        stream = w.stream(
            src.list,
            resource_version=src.rv,
            timeout_seconds=self.watch_seconds,
            allow_watch_bookmarks=True,
            _request_timeout=(5, self.read_timeout),
            **src.kwargs,
        )
        try:
            for ev in stream:
                self._trouble.pop(src.kind, None)
                self._handle(src, ev)
                if self._expired():
                    break
        finally:
            w.stop()

    def _handle(self, src: _Source, ev: dict[str, Any]) -> None:
        """One watch event. ERROR and BOOKMARK objects arrive as plain dicts, not models."""
        obj = ev["object"]
        if ev["type"] == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else getattr(obj, "code", None)
            if code == 410:
                raise ApiException(status=410, reason="Gone")
            self._note(src.kind, f"watch error: {obj}")
            return
        if ev["type"] == "BOOKMARK":
            self.bookmarks += 1
            meta = obj.get("metadata", {}) if isinstance(obj, dict) else obj.metadata
            rv = meta.get("resourceVersion") if isinstance(meta, dict) else meta.resource_version
            src.rv = rv or src.rv
            return
        src.rv = obj.metadata.resource_version or src.rv
        self.record(src.kind, ev["type"], obj, src.summary(obj))


def _short(e: BaseException) -> str:
    """The last line of an urllib3/OS error: what went wrong, without the pool's preamble."""
    text = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."
