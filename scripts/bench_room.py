"""``scripts/bench.py --only room``: how many learners one simulated control plane serves.

On a 2-core machine the learners' kernels cannot run beside the control plane without taking
its cores (in a workshop they run on the learners' laptops). So this part measures the
control plane under the learners' *API load*, replayed from one light process:

1. A cluster with stslab's settings starts with its control plane on half the cores
   (CPU affinity, inherited by every component and restart); everything else runs on the
   others. Its API server writes an audit log of one learner account's requests.
2. A workshop is made (`stslab workshop create`: namespaces, tokens, the admission policy).
3. Learner ``rec`` runs lab 01 headless for real; the audit log keeps each request it made
   (verb, path, body, status, when).
4. Then, all at once: ``--learners`` - 1 learners replay that recording, each in their own
   namespace with their own token and at the recorded pace (watches held open as long as they
   were), while one more learner runs lab 01 for real in a kernel, to prove the room still
   passes its checks.

A replayed learner *is served* when the control plane answered every one of its requests:
no 5xx, no 429 (too busy), no connection refused or dropped. Answers that differ from the
recording are counted apart: a replay cannot wait as the lab did (a poll until a pod is Ready),
and cannot know names the controllers drew at random, so a write may find its object not yet
made, or already gone (a 404 for the recorded 200); the real learner's checks are what says a
lab still works. The figures:
learners served, the real learner's pass and time, the API server's own latency (its
``apiserver_request_duration_seconds``, watches left out: what the server took, not the
replaying process's queueing), how far the replays fell behind their schedule, and the control
plane's CPU (busy share of its cores) and memory.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import urllib3
import yaml

from stslab.cluster.base import UpOptions
from stslab.cluster.existing import ExistingBackend
from stslab.cluster.kwok import KwokBackend
from stslab.core.errors import StslabError
from stslab.core.labels import LEARNER_LABEL
from stslab.core.procs import environment, free_port

WRITES = {"create", "update", "patch", "delete", "deletecollection"}
RECORDER = "rec"  # the learner whose requests are recorded

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "Request", "userGroups": [f"system:serviceaccounts:learner-{RECORDER}"]},
        {"level": "None"},
    ],
}


class AuditedKwok(KwokBackend):
    """The simulated backend with an audit log of the recorded learner's requests."""

    def __init__(self, state: Path, audit_dir: Path) -> None:
        super().__init__(state)
        self.bench_state = state  # the benchmark's own state directory
        self.audit_dir = audit_dir

    def _config(self, ports: dict[str, int], tuned: bool) -> Path:
        path = super()._config(ports, tuned)
        self.audit_dir.mkdir(parents=True, exist_ok=True)
        policy = self.audit_dir / "policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        docs = list(yaml.safe_load_all(path.read_text()))
        for doc in docs:
            for patch in (doc or {}).get("componentsPatches", []):
                if patch["name"] == "kube-apiserver":
                    patch.setdefault("extraArgs", []).extend(
                        [
                            {"key": "audit-policy-file", "value": str(policy)},
                            {"key": "audit-log-path", "value": str(self.audit_log)},
                            {"key": "audit-log-mode", "value": "batch"},
                        ]
                    )
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return path

    @property
    def audit_log(self) -> Path:
        return self.audit_dir / "audit.log"


@dataclass
class Request:
    """One recorded request of the learner: when (s after the first), what, and its answer."""

    at: float
    verb: str
    method: str
    path: str
    body: bytes | None
    content_type: str
    status: int
    held: float  # a watch: how long it stayed open
    stamp: float = 0.0  # when it was received (seconds since the epoch)


_METHODS = {
    "get": "GET",
    "list": "GET",
    "watch": "GET",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}


def _content_type(verb: str, path: str, body: Any) -> str:
    """The recorded request's content type (the audit log does not keep it)."""
    if verb != "patch":
        return "application/json"
    if "fieldManager=" in path and isinstance(body, dict) and "kind" in body:
        return "application/apply-patch+yaml"  # server-side apply (Lab.apply)
    if isinstance(body, list):
        return "application/json-patch+json"
    return "application/strategic-merge-patch+json"


def _when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def recording(audit_log: Path, namespace: str) -> list[Request]:
    """The requests of the learner whose namespace is ``namespace``, in the order made."""
    user = f"system:serviceaccount:{namespace}:learner"
    events = []
    for line in audit_log.read_text().splitlines():
        e = json.loads(line)
        if e.get("stage") == "ResponseComplete" and e["user"]["username"] == user:
            events.append(e)
    events.sort(key=lambda e: _when(e["requestReceivedTimestamp"]))
    if not events:
        raise RuntimeError(f"the audit log holds no request of {user}")
    start = _when(events[0]["requestReceivedTimestamp"])
    out = []
    for e in events:
        obj = e.get("requestObject")
        received = _when(e["requestReceivedTimestamp"])
        out.append(
            Request(
                at=received - start,
                verb=e["verb"],
                method=_METHODS.get(e["verb"], "GET"),
                path=e["requestURI"],
                body=None if obj is None else json.dumps(obj).encode(),
                content_type=_content_type(e["verb"], e["requestURI"], obj),
                status=int(e.get("responseStatus", {}).get("code", 0)),
                held=_when(e["stageTimestamp"]) - received if e["verb"] == "watch" else 0.0,
                stamp=received,
            )
        )
    return out


@dataclass
class Replayed:
    """How one learner's replay went."""

    learner: str
    requests: int = 0
    writes_differing: list[str] = field(default_factory=list)
    reads_differing: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    late: float = 0.0  # the most the replay fell behind its schedule

    @property
    def served(self) -> bool:
        return not self.errors


def replay(
    requests: list[Request],
    *,
    server: str,
    ca: str,
    token: str,
    old_namespace: str,
    namespace: str,
    learner: str,
    start: float,
) -> Replayed:
    """Play ``requests`` as ``learner`` in ``namespace``, each at its recorded moment."""
    http = urllib3.PoolManager(
        ca_certs=ca, maxsize=8, retries=False, timeout=urllib3.Timeout(connect=10, read=60)
    )
    out = Replayed(learner)
    auth = {"Authorization": f"Bearer {token}"}
    watches: list[threading.Thread] = []

    def hold(path: str, seconds: float) -> None:
        # A watch is a long GET; reading its stream keeps the server sending events.
        try:
            resp = http.request(
                "GET", server + path, headers=auth, preload_content=False,
                timeout=urllib3.Timeout(connect=10, read=max(1.0, seconds + 5)),
            )  # fmt: skip
            if resp.status >= 500 or resp.status == 429:
                out.errors.append(f"watch {path.split('?')[0]}: {resp.status}")
            deadline = time.monotonic() + seconds
            for _chunk in resp.stream(4096):
                if time.monotonic() >= deadline:
                    break
            resp.release_conn()
        except urllib3.exceptions.ReadTimeoutError:
            pass  # quiet to the end of the hold: nothing changed, as may happen
        except urllib3.exceptions.HTTPError as e:
            out.errors.append(f"watch {path.split('?')[0]}: {e.__class__.__name__}")

    for r in requests:
        wait = start + r.at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            out.late = max(out.late, -wait)
        path = r.path.replace(old_namespace, namespace)
        out.requests += 1
        if r.verb == "watch":
            t = threading.Thread(target=hold, args=(path, r.held), daemon=True)
            t.start()
            watches.append(t)
            continue
        body = None if r.body is None else r.body.decode().replace(old_namespace, namespace)
        if body:  # the recorded learner's name on their machines, volumes and tolerations
            for said in (f'"{LEARNER_LABEL}": "{RECORDER}"', f'"value": "{RECORDER}"'):
                body = body.replace(said, said.replace(f'"{RECORDER}"', f'"{learner}"'))
        if r.verb == "update" and body:  # the recorded resourceVersion is not this object's
            doc = json.loads(body)
            doc.get("metadata", {}).pop("resourceVersion", None)
            body = json.dumps(doc)
        sent = time.monotonic()
        try:
            resp = http.request(
                r.method,
                server + path,
                body=body,
                headers=auth | {"Content-Type": r.content_type, "Accept": "application/json"},
            )
        except urllib3.exceptions.HTTPError as e:
            where = path.split("?")[0].replace(namespace, "<namespace>")
            out.errors.append(f"{r.verb} {where}: {e.__class__.__name__}")
            continue
        out.latencies.append(time.monotonic() - sent)
        said = _message(resp.data) if resp.status >= 400 else ""
        # A disruption budget refusing an eviction answers 429 too: the lab's own answer (the
        # replay evicts when the recording did, not when its members are Ready), not a server
        # too busy.
        budget = resp.status == 429 and "disruption budget" in said
        if (resp.status >= 500 or resp.status == 429) and resp.status != r.status and not budget:
            where = path.split("?")[0].replace(namespace, "<namespace>")
            out.errors.append(f"{r.verb} {where}: {resp.status} {said}")
        elif resp.status != r.status:
            if r.verb in WRITES:
                out.writes_differing.append(
                    f"{r.verb} {path.split('?')[0]}: {resp.status} (recorded {r.status})"
                )
            else:
                out.reads_differing += 1
    for t in watches:
        t.join(timeout=120)
    return out


def _message(body: bytes) -> str:
    """The API server's message in an error answer (its first 120 characters)."""
    try:
        return str(json.loads(body).get("message", ""))[:120]
    except (ValueError, AttributeError):
        return ""


def rotated(requests: list[Request], cut: float) -> list[Request]:
    """The recording started at ``cut`` s (a lab's start), its earlier part played after it.

    A room does not start every lab at once: replay ``i`` starts at a different lab, so while
    the room runs every lab is in use.
    """
    if cut <= 0:
        return requests
    span = requests[-1].at + 1.0
    later = [replace(r, at=r.at - cut) for r in requests if r.at >= cut]
    earlier = [replace(r, at=r.at + span - cut) for r in requests if r.at < cut]
    return later + earlier


def percentile(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (0 for none)."""
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_threads(jobs: Sequence[Callable[[], Replayed]]) -> list[Replayed]:
    """Run every replay at once, one thread each; their results in order."""
    results: list[Replayed | None] = [None] * len(jobs)

    def run(i: int) -> None:
        results[i] = jobs[i]()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


# -- the machine: cores, CPU time, requests -----------------------------------------------------


def split_cores() -> tuple[set[int], set[int]]:
    """The control plane's cores and everyone else's: the first half and the rest."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise StslabError(
            "keeping the learners off the control plane's cores needs at least 2 cores",
            "run on a machine with 2 or more",
        )
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


def cores_of(pid: int) -> str:
    """The CPUs ``pid`` may run on, as the kernel lists them (``0`` or ``0-1``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(ln.split()[1] for ln in status.splitlines() if ln.startswith("Cpus_allowed_list"))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def _metrics(api: Any) -> str:
    method, url, headers, body, post = api.param_serialize(
        "GET", "/metrics", auth_settings=["BearerToken"]
    )
    resp = api.call_api(method, url, headers, body, post, _request_timeout=30)
    resp.read()
    return str(resp.data.decode())


def requests_served(api: Any) -> float:
    """The apiserver's ``apiserver_request_total``, summed over every label."""
    total = 0.0
    for line in _metrics(api).splitlines():
        if line.startswith("apiserver_request_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def latency_buckets(api: Any) -> dict[float, float]:
    """``apiserver_request_duration_seconds`` of every verb but WATCH: count at or below each
    bucket's bound (seconds), summed over resources."""
    buckets: dict[float, float] = {}
    for line in _metrics(api).splitlines():
        if line.startswith("apiserver_request_duration_seconds_bucket{") and (
            'verb="WATCH"' not in line
        ):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The ``q`` quantile (an upper bound: the bucket it falls in) of the requests between."""
    delta = sorted((b, after[b] - before.get(b, 0.0)) for b in after)
    total = delta[-1][1] if delta else 0.0
    for bound, count in delta:
        if total and count >= q * total:
            return bound
    return 0.0


@contextmanager
def pinned_up(backend: KwokBackend, nodes: int, *, pin: bool = True) -> Iterator[None]:
    """Start ``backend`` for the block, then take it down.

    ``pin``: on the control plane's cores, while this process moves to the others.
    """
    everywhere = os.sched_getaffinity(0)
    plane, rest = split_cores() if pin else (everywhere, everywhere)
    os.sched_setaffinity(0, plane)  # every component (and the supervisor) inherits it
    try:
        backend.up(UpOptions(nodes=nodes, api_port=free_port(), dns_port=free_port()))
    finally:
        os.sched_setaffinity(0, rest)  # this process, the learners' runs and their kernels
    try:
        yield
    finally:
        backend.down()
        os.sched_setaffinity(0, everywhere)


# -- a learner running lab 01 for real ----------------------------------------------------------

# One learner's headless run of the labs, one after the other, in its own process (each lab
# starts its own kernel). It writes when each lab started: where the replays' recordings turn.
_LEARNER_RUN = """
import json, sys, time
from pathlib import Path
from stslab.ops.runner import run_lab, select
ns, build, out, labs = sys.argv[1:5]
starts, runs = [], []
for path in select(labs.split(",")):
    starts.append(time.time())
    runs.append(run_lab(path, backend="existing", fast=True, build=Path(build), timeout=1800,
                        namespace=ns, parameters={"timeout": 900}, start_timeout=900))
failed = [f"{r.number}: {r.error}" for r in runs if not r.ok]
Path(out).write_text(json.dumps({"ok": not failed, "seconds": sum(r.seconds for r in runs),
                                 "error": "; ".join(failed), "starts": starts}))
"""


def start_learner(learner: Any, state: Path, out: Path, labs: list[str]) -> subprocess.Popen[bytes]:
    """``labs`` headless as ``learner`` (a workshop.Learner): their kubeconfig, namespace, state."""
    home = state / "learners" / learner.name
    env = os.environ | {"KUBECONFIG": learner.kubeconfig, "STSLAB_STATE": str(home)}
    env |= {"STSLAB_LEARNER": learner.name, "STSLAB_BACKEND": "existing"}
    with environment(KUBECONFIG=learner.kubeconfig):  # `stslab up --backend existing`
        ExistingBackend(home).up(UpOptions(context=learner.namespace, namespace=learner.namespace))
    result = out / learner.name / "result.json"
    args = [learner.namespace, str(out / learner.name), str(result), ",".join(labs)]
    return subprocess.Popen(
        [sys.executable, "-c", _LEARNER_RUN, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the run and its kernel: one group to stop
    )


def learner_result(out: Path, name: str) -> dict[str, Any]:
    """What a learner's run wrote: ok, seconds, error."""
    try:
        return dict(json.loads((out / name / "result.json").read_text()))
    except (OSError, ValueError):
        return {"ok": False, "seconds": 0.0, "error": "no result"}


# -- the room -----------------------------------------------------------------------------------


def _credentials(kubeconfig: str, tmp: Path) -> tuple[str, str, str]:
    """A learner kubeconfig's server, CA file and token."""
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    tmp.mkdir(parents=True, exist_ok=True)
    ca = tmp / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    return cluster["server"], str(ca), user["token"]


def bench_room(
    sizes: list[int], rss: Callable[[list[int]], float], labs: list[str] | None = None
) -> list[str]:
    """Record ``labs`` once, then for each size N, N learners at once: N - 1 replays, one real.

    ``labs`` are lab numbers (default lab 01). With several, replay ``i`` starts at lab
    ``i mod len(labs)`` (see :func:`rotated`), and the real learner runs them all. Each room is
    a workshop of its own, deleted before the next.
    """
    from stslab.ops import workshop
    from stslab.ops.runner import select

    labs = labs or ["01"]
    select(labs)  # an unknown lab is refused before anything starts
    if min(sizes) < 2:
        raise StslabError("--learners must be at least 2 (one runs for real)", "pass --learners 50")
    nodes = max(3, -(-max(sizes) // 8))  # a lab has up to ~12 pods a learner; a node takes 110
    n_plane = len(split_cores()[0])  # before this process leaves the control plane's cores
    lines = []
    with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
        state = Path(tmp)
        backend = AuditedKwok(state, state / "audit")
        with pinned_up(backend, nodes):
            rec = backend.record()
            assert rec is not None
            t = workshop.target(Path(rec.kubeconfig), rec.context)
            admin = workshop.admin_client(t)
            with environment(STSLAB_STATE=tmp):
                [recorder] = workshop.create(
                    admin, t, [RECORDER], workshop="record", keep_record=False
                )
            print(f"control plane on cores {cores_of(backend.process_pids()[0])}; "
                  f"learners on {cores_of(os.getpid())}")  # fmt: skip
            out = state / "runs"
            # 1. The recording: one learner alone.
            start_learner(recorder, state, out, labs).wait(timeout=3600)
            alone = learner_result(out, RECORDER)
            time.sleep(3)  # the audit log is written in batches
            requests = recording(backend.audit_log, recorder.namespace)
            watches = sum(1 for r in requests if r.verb == "watch")
            cuts = [max(0.0, t - requests[0].stamp) for t in alone.get("starts", [0.0])]
            print(
                f"recorded labs {', '.join(labs)}: {len(requests)} requests "
                f"({watches} watches) over "
                f"{requests[-1].at:.0f} s; alone it {'passed' if alone['ok'] else 'FAILED'} "
                f"in {alone['seconds']:.0f} s {alone['error']}",
                flush=True,
            )
            with environment(STSLAB_STATE=tmp):  # one workshop's policy at a time, as in class
                workshop.delete(admin, "record", timeout=600)
            for n in sizes:  # 2. Each room: the replays and one real learner, all at once.
                lines += _room(
                    n, backend, admin, t, requests, cuts, recorder, alone, labs, rss, n_plane
                )
    return lines


def _room(
    learners: int,
    backend: AuditedKwok,
    admin: Any,
    t: Any,
    requests: list[Request],
    cuts: list[float],
    recorder: Any,
    alone: dict[str, Any],
    labs: list[str],
    rss: Callable[[list[int]], float],
    n_plane: int,
) -> list[str]:
    """One room of ``learners``: its table row, and its three most common failures."""
    from stslab.ops import workshop

    state = backend.bench_state
    names = [f"real{learners}"] + [f"n{learners}r{i:03d}" for i in range(1, learners)]
    room = f"room{learners}"
    with environment(STSLAB_STATE=str(state)):
        made = workshop.create(admin, t, names, workshop=room, keep_record=False)
        people = {p.name: p for p in made}
    out = state / "runs"
    replayed = [people[name] for name in names[1:]]
    jobs = []
    for i, p in enumerate(replayed):
        server, ca, token = _credentials(p.kubeconfig, out / p.name)
        jobs.append(
            partial(
                replay,
                rotated(requests, cuts[i % len(cuts)]),
                server=server,
                ca=ca,
                token=token,
                old_namespace=recorder.namespace,
                namespace=p.namespace,
                learner=p.name,
                start=time.monotonic() + 5,
            )
        )
    cpu_before, served_before = cpu_seconds(backend.process_pids()), requests_served(admin)
    buckets_before = latency_buckets(admin)
    peak = [rss(backend.process_pids())]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(2):
            peak.append(rss(backend.process_pids()))

    threading.Thread(target=sample, daemon=True).start()
    began = time.monotonic()
    real = start_learner(people[names[0]], state, out, labs)
    results = run_threads(jobs)
    real.wait(timeout=3600)
    wall = time.monotonic() - began
    done.set()
    plane_cpu = cpu_seconds(backend.process_pids()) - cpu_before
    served = requests_served(admin) - served_before
    buckets_after = latency_buckets(admin)
    real_result = learner_result(out, names[0])
    start = time.monotonic()
    with environment(STSLAB_STATE=str(state)):
        workshop.delete(admin, room, timeout=600)
    delete_s = time.monotonic() - start
    kept = sum(1 for r in results if r.served)
    p50, p99 = (bucket_quantile(buckets_before, buckets_after, q) for q in (0.5, 0.99))
    lags = sorted(r.late for r in results)
    problems: dict[str, int] = {}
    for r in results:
        for what in r.errors[:3]:
            problems[what] = problems.get(what, 0) + 1
    differing = sum(len(r.writes_differing) for r in results)
    writes = sum(1 for x in requests if x.verb in WRITES) * len(results)
    line = (
        f"| {learners} | {'all' if len(labs) > 1 else labs[0]} | {kept}/{len(results)} | "
        f"{differing}/{writes} | "
        f"{'pass' if real_result['ok'] else 'FAIL ' + real_result['error'][:200]} "
        f"({real_result['seconds']:.0f} s; alone {alone['seconds']:.0f} s) | "
        f"≤ {p50 * 1000:.0f} / ≤ {p99 * 1000:.0f} ms | "
        f"{lags[len(lags) // 2]:.1f} / {lags[-1]:.1f} s | "
        f"{cores_of(backend.process_pids()[0])} | {plane_cpu:.0f} s "
        f"({plane_cpu / wall / n_plane:.0%}) | {served:,.0f} ({served / wall:.0f}/s) | "
        f"{max(peak):.0f} MiB | {delete_s:.0f} s |"
    )
    print(line, flush=True)
    problem_lines = [
        f"| {n} × {what} | | | | | | | | | | | |"
        for what, n in sorted(problems.items(), key=lambda x: -x[1])[:3]
    ]
    print("\n".join(problem_lines), flush=True)
    return [line, *problem_lines]


def room_header(requests_note: str = "") -> list[str]:
    """The table's title and columns."""
    return [
        "## Workshop capacity: one control plane, a room of learners",
        "",
        f"{os.cpu_count()} cores: the control plane on one half, the learners on the other "
        "(CPU affinity). The labs are recorded once from a learner's account (the API server's "
        "audit log); then all but one learner replay them at once, each with their own token in "
        "their own namespace at the recorded pace (with every lab, each replay starts at a "
        "different lab, so all are in use at once), and one more runs the labs for real in "
        "kernels. A replayed learner is served when the control plane answers every request "
        "(no 5xx, no 429, no refused or dropped connection); answers that differ from the "
        "recording (a 404 for a pod a controller had not made yet) are counted apart. "
        "Latency is the API server's own (its histogram's bucket bounds, watches left out). "
        f"{requests_note}",
        "",
        "| learners at once | labs | replayed learners served | writes answered otherwise "
        "than recorded | the real learner's labs | "
        "API server latency p50 / p99 | replays behind schedule, median / most | "
        "control plane's cores | "
        "control-plane CPU (busy) | API requests | control-plane RSS peak | workshop delete |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
