"""Checks for lab exercises, which print a plain-text verdict and raise with a hint.

Each looks at the live cluster (or a recording) and raises :class:`CheckFailedError` with a
hint when the answer is wrong.

In JupyterLab a failed check shows its verdict and hint, not a traceback; in a headless run
(papermill) it fails the notebook, so the checks are the labs' assertions.

Every verdict is recorded as the learner's progress (:mod:`stslab.lab.progress`) under a stable
exercise name: ``exercise`` when given, else the text a pass would print (``passed``), which
does not change between a failing and a passing attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.lab import progress
from stslab.observe import actions


class CheckFailedError(AssertionError):
    """An exercise's check did not pass; ``hint`` says where to look."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(f"{what} — hint: {hint}")
        self.what = what
        self.hint = hint

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"FAIL: {self.what}", f"hint: {self.hint}"]


def verdict(
    ok: bool,
    passed: str,
    failed: str,
    hint: str,
    *,
    exercise: str | None = None,
    note: str = "",
    hints: int = 0,
    answer: str = "",
) -> None:
    """Print ``PASS: ...`` or raise :class:`CheckFailedError` (after printing ``FAIL: ...``).

    The result is recorded under ``exercise``, with ``note`` (e.g. "after the run"), the
    number of hint rungs the learner used and a prediction's ``answer``. Without ``exercise``
    it checks a step the lab ran itself: recorded under ``passed`` (else ``failed``) as a demo,
    which tells the room where the learner is but counts as no exercise.
    """
    progress.record(
        exercise or passed or failed,
        ok,
        note=note,
        hints=hints,
        answer=answer,
        demo=exercise is None,
    )
    if ok:
        print(f"PASS: {passed}")
        return
    print(f"FAIL: {failed}\nhint: {hint}")
    raise CheckFailedError(failed, hint)


# How long a check waits for a fix's final state: the controllers' moments, and no longer.
FIX_WAIT = 12.0


def reached(goal: Callable[[], tuple[bool, str]], *, exercise: str, wait: float = FIX_WAIT) -> None:
    """PASS once ``goal()`` is met (within ``wait`` s), else FAIL with what the cluster shows.

    ``goal`` reads the final state (see :mod:`stslab.lab.fixit`): whatever commands got there.
    """
    deadline = time.monotonic() + wait
    met, shown = goal()
    while not met and time.monotonic() < deadline:
        time.sleep(1)
        met, shown = goal()
    verdict(met, shown, shown, stuck(exercise), exercise=exercise)


def listed(
    printed: str | None,
    rows: Mapping[str, Sequence[str]],
    *,
    what: str,
    hint: str,
    exercise: str,
) -> None:
    """Judge what a learner's ``kubectl get`` printed against the API's own answer.

    ``rows``: each object's name, with the words its line must also hold (a phase, a node), as
    the API serves them now. Passes when every one is on a line of ``printed``; ``what`` names
    them in the verdict ("claims with their phase").
    """
    lines = [set(line.split()) for line in (printed or "").splitlines()]
    shown = [n for n, words in rows.items() if any({n, *words} <= line for line in lines)]
    verdict(
        bool(rows) and len(shown) == len(rows),
        f"{what}: " + ", ".join(" ".join([n, *rows[n]]) for n in sorted(rows)),
        f"what kubectl printed shows {len(shown)} of the {len(rows)} {what}",
        hint,
        exercise=exercise,
    )


# The answers asked in this kernel (Lab.answer): a failed check names the hint ladder to climb.
_asked: dict[str, Any] = {}
# Exercises whose answer came after the run (a locked prediction), with the first answer.
_late: dict[str, Any] = {}
# How many rungs of each exercise's hint ladder the learner climbed (Lab.hint).
_hinted: dict[str, int] = {}


def asked(name: str, value: Any, *, first: Any = ..., late: bool = False) -> None:
    """Note that exercise ``name`` was answered with ``value`` (called by ``Lab.answer``).

    ``late``: given after the run (``first`` is the prediction given before it, if any).
    """
    _asked[name] = value
    if late:
        _late[name] = first
    else:
        _late.pop(name, None)


def hinted(name: str, rungs: int) -> None:
    """Note that the learner has climbed ``rungs`` rungs of exercise ``name``'s ladder."""
    _hinted[name] = rungs


# The exercise whose kept answer was just read (Lab.right): the next check judges that one.
_judging: str | None = None


def judging(name: str) -> None:
    """Note that the next :func:`answer` judges exercise ``name`` (an explanation's check)."""
    global _judging
    _judging = name


def _exercise_of(given: Any) -> str | None:
    """The exercise whose answer ``given`` is: the one being judged, or the one given it.

    Answers are told apart by identity, and equal short strings and booleans are one object:
    where two exercises were given the same one, no name is sure.
    """
    global _judging
    if _judging is not None:
        name, _judging = _judging, None
        return name
    names = [n for n, v in _asked.items() if v is given]
    return names[0] if len(names) == 1 else None


def stuck(name: str | None = None) -> str:
    """Where a stuck learner goes next: exercise ``name``'s hint ladder (or the lab's list)."""
    if name:
        return f'stuck? lab.hint("{name}") gives a hint, a stronger one, then the answer'
    return "stuck? lab.hint() lists this lab's hints"


def _ladder(name: str | None) -> str:
    if not _asked:  # a check outside a lab (no Lab.answer in this kernel): no ladder to offer
        return ""
    return stuck(name)


_answers_judged = 0


def judged() -> int:
    """How many predictions :func:`answer` has judged in this kernel."""
    return _answers_judged


def answer(given: Any, expected: Any, *, question: str, hint: str = "") -> None:
    """Check a learner's prediction: ``given`` must equal ``expected``.

    A wrong one's hint is the way to its ladder (``lab.hint``), after ``hint`` if given (a lab
    without a ladder). A prediction given after the run is judged too, but marked so (in the
    verdict and in progress), with the first prediction if there was one.
    """
    global _answers_judged
    _answers_judged += 1
    name = _exercise_of(given)
    if given != expected:
        hint = " — ".join(h for h in (hint, _ladder(name)) if h)
    hints = _hinted.get(name, 0) if name else 0
    if given is ...:
        verdict(
            False,
            "",
            f"{question}: no answer yet (replace ... with yours)",
            hint,
            exercise=question,
            hints=hints,
        )
    late = ""
    if name in _late:
        first = _late[name]
        said = "" if first is ... or first == given else f"; you first said {first!r}"
        late = f" (answered after the run{said})"
    verdict(
        given == expected,
        f"{question}: {given!r}{late}",
        f"{question}: {given!r} is not right{late}",
        hint,
        exercise=question,
        note="after the run" if late else "",
        hints=hints,
        answer=repr(given)[:200],
    )


def _pods(api: client.ApiClient, ns: str, name: str) -> dict[int, Any]:
    pods = client.CoreV1Api(api).list_namespaced_pod(ns).items
    out = {}
    for p in pods:
        head, _, tail = p.metadata.name.rpartition("-")
        if head == name and tail.isdigit():
            out[int(tail)] = p
    return out


def _ready_at(pod: Any) -> Any:
    for c in pod.status.conditions or []:
        if c.type == "Ready" and c.status == "True":
            return c.last_transition_time
    return None


def first_seen(recording: pd.DataFrame, name: str) -> tuple[dict[int, int], dict[int, int]]:
    """Where in ``recording`` each member of ``name`` was first seen created, and first Ready.

    Positions in the recorder's pod watch, which delivers changes in the order the API server
    made them; a condition's ``lastTransitionTime`` is no such witness (it has whole seconds,
    and the simulated kubelet writes it again whenever it replays a stage).
    """
    pods = recording[(recording["kind"] == "Pod") & recording["name"].str.fullmatch(rf"{name}-\d+")]
    created: dict[int, int] = {}
    ready: dict[int, int] = {}
    for pos, (o, event, is_ready) in enumerate(
        zip(pods["ordinal"].tolist(), pods["event"], pods["ready"], strict=True)
    ):
        if event == "ADDED":
            created.setdefault(o, pos)
        if str(is_ready) == "True" and event != "DELETED":
            ready.setdefault(o, pos)
    return created, ready


def started_in_order(
    api: client.ApiClient,
    ns: str,
    name: str,
    replicas: int,
    recording: pd.DataFrame | None = None,
) -> None:
    """Each ``name-n`` was created only after ``name-(n-1)`` was Ready.

    With ``recording`` (a :class:`~stslab.observe.recorder.Recorder` table that saw the rollout)
    the order is the watch's, first creation against first Ready; without, the API's timestamps.
    """
    pods = _pods(api, ns, name)
    missing = [o for o in range(replicas) if o not in pods]
    if missing:
        verdict(
            False,
            "",
            f"{name}-{missing[0]} does not exist",
            "wait for the rollout to finish (the live view) and run the check again",
            exercise=f"{name} started in order",
        )
    created, ready_pos = first_seen(recording, name) if recording is not None else ({}, {})
    for o in range(1, replicas):
        if recording is not None:
            seen = o in created and o - 1 in ready_pos
            early = not seen or created[o] < ready_pos[o - 1]
        else:
            ready = _ready_at(pods[o - 1])
            early = ready is None or pods[o].metadata.creation_timestamp < ready
        if early:
            verdict(
                False,
                "",
                f"{name}-{o} was created before {name}-{o - 1} was Ready",
                "is podManagementPolicy OrderedReady (the default)?",
                exercise=f"{name} started in order",
            )
    verdict(
        True,
        f"{name}-0..{replicas - 1} started one by one, each after the previous was Ready",
        "",
        "",
        exercise=f"{name} started in order",
    )


def started_in_parallel(
    api: client.ApiClient,
    ns: str,
    name: str,
    replicas: int,
    recording: pd.DataFrame | None = None,
) -> None:
    """Every ``name-n`` was created before ``name-0`` was Ready (watch order with ``recording``)."""
    pods = _pods(api, ns, name)
    if recording is not None:
        created, ready_pos = first_seen(recording, name)
        late = [
            o
            for o in range(replicas)
            if o not in pods or o not in created or created[o] > ready_pos.get(0, len(recording))
        ]
    else:
        ready0 = _ready_at(pods[0]) if 0 in pods else None
        late = [
            o
            for o in range(replicas)
            if o not in pods
            or (ready0 is not None and pods[o].metadata.creation_timestamp > ready0)
        ]
    verdict(
        not late,
        f"{name}-0..{replicas - 1} were all created without waiting",
        f"{name}-{late[0] if late else '?'} waited for {name}-0",
        "set podManagementPolicy: Parallel",
        exercise=f"{name} started in parallel",
    )


def snapshot(api: client.ApiClient, ns: str, pod: str) -> dict[str, Any]:
    """What identifies a pod right now: uid, IP, node and the claims it mounts."""
    p = client.CoreV1Api(api).read_namespaced_pod(pod, ns)
    claims = sorted(
        v.persistent_volume_claim.claim_name
        for v in p.spec.volumes or []
        if v.persistent_volume_claim
    )
    return {
        "name": pod,
        "uid": p.metadata.uid,
        "ip": p.status.pod_ip,
        "node": p.spec.node_name,
        "claims": claims,
    }


def scaled(
    api: client.ApiClient, ns: str, name: str, replicas: int, *, exercise: str, hint: str
) -> None:
    """StatefulSet ``name`` asks for ``replicas`` now: a scale exercise, judged at once.

    The spec decides it the moment the learner's click or command is done; the pods follow.
    """
    asks = actions.replicas(api, ns, name)
    verdict(
        asks == replicas,
        f"{name} is scaled to {replicas}",
        f"{name} asks for {asks} replicas"
        if asks is not None
        else f"{name} is gone: deleted, not scaled",
        hint,
        exercise=exercise,
    )


def deleted(
    api: client.ApiClient, ns: str, before: dict[str, Any], *, exercise: str, hint: str
) -> None:
    """The pod of ``before`` (a :func:`snapshot`) was deleted since: gone, going, or made anew.

    Judged the moment the learner's click or command is done, not after a wait for the new pod.
    """
    name = before["name"]
    found = (
        client.CoreV1Api(api).list_namespaced_pod(ns, field_selector=f"metadata.name={name}").items
    )
    now = found[0].metadata if found else None
    verdict(
        now is None or now.uid != before["uid"] or now.deletion_timestamp is not None,
        f"{name} was deleted",
        f"{name} is the pod it was: nothing deleted it (another member, perhaps?)",
        hint,
        exercise=exercise,
    )


def kept_identity(api: client.ApiClient, ns: str, before: dict[str, Any]) -> None:
    """The pod was replaced (new uid) yet kept its name and its claims."""
    try:
        now = snapshot(api, ns, before["name"])
    except ApiException:
        verdict(
            False,
            "",
            f"there is no pod {before['name']} now",
            "wait until the replacement exists (the live view shows it)",
            exercise=f"{before['name']} kept its identity",
        )
        return
    verdict(
        now["uid"] != before["uid"] and now["claims"] == before["claims"],
        f"{before['name']} is a new pod (uid {now['uid'][:8]}…) with the same name and "
        f"claims {now['claims']}",
        f"{before['name']} still has uid {now['uid'][:8]}… or other claims {now['claims']}",
        "delete the pod first, then wait for its replacement",
        exercise=f"{before['name']} kept its identity",
    )


def deleted_in_reverse(df: pd.DataFrame, name: str, ordinals: Iterable[int]) -> None:
    """From a recording: the given members were deleted highest ordinal first."""
    want = sorted(ordinals, reverse=True)
    gone = df[
        (df["kind"] == "Pod")
        & (df["event"] == "DELETED")
        & df["name"].str.fullmatch(rf"{name}-\d+")
    ]
    order = [int(o) for o in gone["ordinal"] if int(o) in want]
    verdict(
        order == want,
        f"{name} members went away in the order {order}",
        f"{name} members went away in the order {order}, not {want}",
        "scale the StatefulSet down (not delete pods by hand) while recording",
        exercise=f"{name} deleted in reverse order",
    )


def claims_exist(
    api: client.ApiClient, ns: str, names: Iterable[str], *, present: bool = True
) -> None:
    """The claims ``names`` exist (``present``) or are all gone."""
    have = {
        c.metadata.name
        for c in client.CoreV1Api(api).list_namespaced_persistent_volume_claim(ns).items
        if not c.metadata.deletion_timestamp
    }
    names = sorted(names)
    wrong = [n for n in names if (n in have) != present]
    state = "still exist" if present else "are gone"
    verdict(
        not wrong,
        f"claims {names} {state}",
        f"claims {wrong} {'are missing' if present else 'still exist'}",
        "look at persistentVolumeClaimRetentionPolicy (whenScaled / whenDeleted)",
    )


def resolves(addresses: list[str], expected: Iterable[str], *, name: str) -> None:
    """``name`` resolved to exactly the ``expected`` addresses."""
    want = sorted(expected)
    verdict(
        sorted(addresses) == want,
        f"{name} → {sorted(addresses)}",
        f"{name} → {sorted(addresses)}, expected {want}",
        "is the Service headless (clusterIP: None) and are the pods Ready?",
        exercise=f"{name} resolves",
    )
