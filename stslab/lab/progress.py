"""Learner progress: every check's result, kept on this machine and on a workshop's cluster.

A :class:`stslab.lab.context.Lab` makes its lab *current* (:func:`begin`); from then on every check
(:func:`stslab.lab.check.verdict` and :func:`stslab.lab.check.answer`) calls :func:`record`, which
writes one :class:`Record` — learner, lab, exercise, result, time — to

- ``<state>/progress.jsonl`` (one JSON object a line), always;
- the ConfigMap ``stslab-progress`` in the learner's namespace, on a shared ("existing")
  cluster, so the instructor sees everyone's (:func:`read_workshop`).

Recording never breaks a lab: a failure is reported once as a :class:`ProgressWarning` and the
check goes on. Checks run outside a lab (no :class:`~stslab.lab.Lab` made in this process) are
not recorded: there is no lab to file them under.

The learner is ``STSLAB_LEARNER``, else the ``stslab.dev/learner`` label of the workshop
namespace the lab records into, else the operating-system user.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.labels import LEARNER_LABEL, PROGRESS_LABEL, WORKSHOP_LABEL
from stslab.core.paths import state_dir
from stslab.lab import messages

CONFIGMAP = "stslab-progress"
KEY = "records.jsonl"
MAX_CLUSTER_RECORDS = 2000  # keeps the ConfigMap far below its 1 MiB limit
_LAB_IN_NAME = re.compile(r"(?:^|-)(lab-\d\d)(?:-|$)")
_LAB_NOTEBOOK = re.compile(r"^(\d\d)-[^/]*\.ipynb$")


class ProgressWarning(UserWarning):
    """A result could not be recorded (the lab itself goes on)."""


@dataclass(frozen=True)
class Record:
    """One check's result."""

    learner: str
    lab: str
    exercise: str
    result: str  # "pass", "fail", or "open": a step handed to the learner, not judged yet
    time: str  # ISO 8601, UTC
    note: str = ""  # "after the run": a prediction given once the result was shown
    hints: int = 0  # rungs of the exercise's hint ladder used before this check
    answer: str = ""  # a prediction's answer as given (repr), so a room sees shared mistakes
    demo: bool = False  # a check of the lab's own step, not of the learner's work: not counted

    @classmethod
    def from_json(cls, line: str) -> Record:
        """Parse one JSON line (unknown keys are ignored; older lines have no note or hints)."""
        data = json.loads(line)
        fields = {k: str(data[k]) for k in ("learner", "lab", "exercise", "result", "time")}
        return cls(
            **fields,
            note=str(data.get("note", "")),
            hints=int(data.get("hints", 0) or 0),
            answer=str(data.get("answer", "")),
            demo=bool(data.get("demo", False)),
        )

    def to_json(self) -> str:
        """One JSON line, without the newline."""
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass
class Current:
    """Where the current lab's results go."""

    lab: str
    learner: str
    api: client.ApiClient | None = None  # for the cluster copy; None keeps them local only
    namespace: str | None = None  # the namespace holding the ConfigMap


_current: Current | None = None
_warned: set[str] = set()


def lab_of(namespace: str) -> str:
    """The lab a namespace belongs to: ``lab-NN`` when its name holds one, else the name."""
    m = _LAB_IN_NAME.search(namespace)
    return m.group(1) if m else namespace


def lab_of_notebook() -> str | None:
    """``lab-NN`` of the lab notebook this kernel runs, when it is one, else None.

    JupyterLab tells a kernel its notebook's path in ``JPY_SESSION_NAME``; the headless runner
    (:func:`stslab.ops.runner.run_lab`) does the same.
    """
    name = Path(os.environ.get("JPY_SESSION_NAME", "")).name
    m = _LAB_NOTEBOOK.match(name)
    return f"lab-{m.group(1)}" if m else None


def learner_name(label: str | None = None) -> str:
    """``STSLAB_LEARNER``, else ``label`` (a workshop namespace's learner), else the OS user."""
    env = os.environ.get("STSLAB_LEARNER", "").strip()
    if env:
        return env
    if label:
        return label
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "learner"


def begin(lab: str, *, api: client.ApiClient | None = None, namespace: str | None = None) -> None:
    """Make ``lab`` current; with ``api`` and ``namespace``, results also go to the cluster."""
    global _current
    label = None
    if api is not None and namespace:
        try:
            ns = client.CoreV1Api(api).read_namespace(namespace)
            label = (ns.metadata.labels or {}).get(LEARNER_LABEL)
        except Exception:  # noqa: BLE001 - the learner's name is a nicety, not a requirement
            label = None
    _current = Current(lab, learner_name(label), api, namespace if api is not None else None)


def end() -> None:
    """Forget the current lab: later checks are not recorded."""
    global _current
    _current = None


def current() -> Current | None:
    """The current lab's recording target, if a lab is current."""
    return _current


def local_path() -> Path:
    """The local progress file."""
    return state_dir() / "progress.jsonl"


def _warn_once(where: str, error: BaseException) -> None:
    if where in _warned:
        return
    _warned.add(where)
    warnings.warn(
        f"progress not recorded {where} ({error.__class__.__name__}: {error}); "
        "the lab goes on, and this is said only once",
        ProgressWarning,
        stacklevel=3,
    )


@contextmanager
def not_recorded() -> Iterator[None]:
    """Checks inside this block record nothing (a proof's wrong answer, stslab.ops.proving)."""
    global _current
    saved, _current = _current, None
    try:
        yield
    finally:
        _current = saved


def opened(exercise: str, note: str) -> Record | None:
    """Record that the lab handed the learner ``exercise`` (a panel step) and waits on them.

    Not a check: it counts as no attempt, but a learner whose latest record is an open step
    long enough is stuck in the room's view, as after a failed check. Never raises.
    """
    return record(exercise, False, note=note, demo=True, result="open")


def record(
    exercise: str,
    ok: bool,
    *,
    note: str = "",
    hints: int = 0,
    answer: str = "",
    demo: bool = False,
    result: str = "",
) -> Record | None:
    """Record a check's result for the current lab; never raises. None when no lab is current.

    ``note``: e.g. "after the run"; ``hints``: the hint rungs the learner used; ``answer``: a
    prediction's answer as given; ``demo``: a check of a step the lab ran itself (shown in the
    room as where a learner is, never counted as an exercise). On a workshop's cluster, the
    instructor's messages not yet shown are printed (:mod:`stslab.lab.messages`).
    """
    cur = _current
    if cur is None:
        return None
    rec = Record(
        cur.learner,
        cur.lab,
        exercise,
        result or ("pass" if ok else "fail"),
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
        note,
        hints,
        answer,
        demo,
    )
    try:
        _append_local([rec])
    except Exception as e:  # noqa: BLE001 - recording must never break a lab
        _warn_once("on this machine", e)
    if cur.api is not None and cur.namespace:
        try:
            _update_configmap(cur.api, cur.namespace, cur.learner, lambda rs: [*rs, rec])
        except Exception as e:  # noqa: BLE001
            _warn_once(f"in the cluster (namespace {cur.namespace})", e)
            return rec  # the messages would not be read either
        try:
            for m in messages.unseen(cur.api, cur.namespace):
                print(m.shown())
        except Exception as e:  # noqa: BLE001 - a message is a nicety; the check goes on
            _warn_once(f"reading your instructor's messages (namespace {cur.namespace})", e)
    return rec


# -- the local file --------------------------------------------------------------------------


@contextmanager
def _locked(mode: str) -> Iterator[IO[str]]:
    path = local_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # several kernels may record at once
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _append_local(records: Iterable[Record]) -> None:
    text = "".join(r.to_json() + "\n" for r in records)
    with _locked("a") as f:
        f.write(text)


def _parse(lines: Iterable[str]) -> list[Record]:
    out = []
    for line in lines:
        if line.strip():
            try:
                out.append(Record.from_json(line))
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line is skipped, not fatal
    return out


def load_local(*, learner: str | None = None, lab: str | None = None) -> list[Record]:
    """Records on this machine, optionally of one learner and/or one lab, oldest first."""
    if not local_path().exists():
        return []
    with _locked("r") as f:
        records = _parse(f)
    return [
        r
        for r in records
        if (learner is None or r.learner == learner) and (lab is None or r.lab == lab)
    ]


def clear_local(lab: str) -> int:
    """Remove this machine's records of ``lab``; return how many went."""
    if not local_path().exists():
        return 0
    with _locked("r+") as f:
        records = _parse(f)
        keep = [r for r in records if r.lab != lab]
        f.seek(0)
        f.write("".join(r.to_json() + "\n" for r in keep))
        f.truncate()
    return len(records) - len(keep)


# -- the cluster copy --------------------------------------------------------------------------


def read_cluster(api: client.ApiClient, namespace: str) -> list[Record]:
    """The records in ``namespace``'s progress ConfigMap (none when it does not exist)."""
    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map(CONFIGMAP, namespace)
    except ApiException as e:
        if e.status == 404:
            return []
        raise
    return _parse(((cm.data or {}).get(KEY) or "").splitlines())


def _update_configmap(
    api: client.ApiClient,
    namespace: str,
    learner: str,
    change: Any,
    attempts: int = 5,
) -> None:
    """Read-modify-write the ConfigMap with optimistic concurrency (retried on conflicts)."""
    core = client.CoreV1Api(api)
    for attempt in range(attempts):
        try:
            cm = core.read_namespaced_config_map(CONFIGMAP, namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            cm = None
        old = _parse((((cm.data if cm else None) or {}).get(KEY) or "").splitlines())
        new = change(old)[-MAX_CLUSTER_RECORDS:]
        data = {KEY: "".join(r.to_json() + "\n" for r in new)}
        try:
            if cm is None:
                labels = {PROGRESS_LABEL: "true", LEARNER_LABEL: _label_value(learner)}
                core.create_namespaced_config_map(
                    namespace, {"metadata": {"name": CONFIGMAP, "labels": labels}, "data": data}
                )
            else:
                body = {
                    "metadata": {
                        "name": CONFIGMAP,
                        "resourceVersion": cm.metadata.resource_version,
                        "labels": cm.metadata.labels,
                    },
                    "data": data,
                }
                core.replace_namespaced_config_map(CONFIGMAP, namespace, body)
            return
        except ApiException as e:
            if e.status != 409 or attempt == attempts - 1:
                raise


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63].strip("-._")
    return value or "learner"


def clear_cluster(api: client.ApiClient, namespace: str, lab: str) -> None:
    """Remove ``lab``'s records from ``namespace``'s progress ConfigMap (if it exists)."""
    if read_cluster(api, namespace):
        _update_configmap(api, namespace, "", lambda rs: [r for r in rs if r.lab != lab])


def read_workshop(api: client.ApiClient, workshop: str) -> list[Record]:
    """Every learner's records: the ConfigMaps of the namespaces labelled with ``workshop``."""
    core = client.CoreV1Api(api)
    out: list[Record] = []
    selector = f"{WORKSHOP_LABEL}={workshop}"
    for ns in core.list_namespace(label_selector=selector).items:
        out += read_cluster(api, ns.metadata.name)
    return out


# -- tables ------------------------------------------------------------------------------------


def frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per record."""
    return pd.DataFrame([asdict(r) for r in records], columns=list(Record.__dataclass_fields__))


def summary(records: Iterable[Record]) -> pd.DataFrame:
    """One row per learner, lab and exercise: the latest result, attempts, when last checked.

    ``demo`` marks a check of the lab's own step (not counted as an exercise).
    """
    df = frame(records)
    cols = ["learner", "lab", "exercise", "result", "attempts", "last", "demo"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.sort_values("time", kind="stable")
    keys = ["learner", "lab", "exercise"]
    grouped = df.groupby(keys, sort=False)
    out = grouped.tail(1).set_index(keys)
    out["attempts"] = df[df["result"] != "open"].groupby(keys, sort=False).size()
    out["attempts"] = out["attempts"].fillna(0).astype(int)
    out = out.reset_index().rename(columns={"time": "last"})
    return out[cols].sort_values(["learner", "lab", "last"], kind="stable").reset_index(drop=True)


def overview(records: Iterable[Record]) -> pd.DataFrame:
    """One row per learner, one column per lab: ``passed/tried`` exercises (latest results)."""
    s = summary(r for r in records if not r.demo)
    if s.empty:
        return pd.DataFrame()
    s["passed"] = s["result"] == "pass"
    counts = s.groupby(["learner", "lab"]).agg(passed=("passed", "sum"), tried=("passed", "size"))
    cells = counts["passed"].astype(str) + "/" + counts["tried"].astype(str)
    return cells.unstack("lab").fillna("-").sort_index()
