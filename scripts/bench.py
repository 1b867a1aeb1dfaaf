"""Benchmarks (``make bench``); writes bench/report.md.

Everything runs on the simulated backend in a private state dir on free ports, so a learner's
own lab cluster is left alone.

cluster   cold ``up`` (new cluster until nodes Ready), warm ``up`` (restart of a stopped one),
          steady RSS of all control-plane processes 10 s after up, ``down``
labs      headless wall time of each lab (papermill, fast mode), as ``stslab labs run``
challenges  lab 08: each challenge's break, and its kept fix until the final state is reached
console   the instructor's room view: one refresh over 30 learners' progress records
views     lag from a pod's creation to the live frame that shows it; one frame of a
          500-pod, 5,000-event timeline; a panel's click until its frame shows the change
scale     the control plane at scale (scripts/bench_scale.py): 1,000 nodes, 3,000 and --pods
          (10,000) pods, 1,000 members with claims, OrderedReady's cost per member; each on
          kwokctl's defaults and on stslab's settings, side by side, with the ratio
workshop  (only with --only workshop) a workshop of N learners (--learners, default 10) on one
          simulated cluster, each running lab 01 at the same moment in their own namespace with
          their own token (papermill, fast mode): wall time, passes, peak control-plane RSS,
          the control plane's CPU and API requests; --pin keeps the learners' kernels off the
          control plane's cores
room      (only with --only room) workshop capacity: lab 01 (or --labs 01,03 or all) recorded
          once from a learner's account, then N learners at once (--learners): N-1 replay its
          API requests at the recorded pace from one process (with several labs each starts at
          a different one), one runs them for real; the control plane on its own cores
          (scripts/bench_room.py)
kind      (only with --only kind) the offline kind node image: build time (warm: a no-op), then
          `stslab up --backend kind --node-image offline` with N workers (--kind-nodes,
          default 1) until every node is Ready and DNS answers, labs 01 and 02 on it, a room of
          two served from the cluster (serve --kubernetes: each learner's server pod's start
          and lab 00 in it), ``down``.
          Needs root and Debian's docker.io; starts a private Docker engine when none runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import bench_room
import bench_scale
import bench_served
import pandas as pd
from bench_room import (
    cores_of,
    cpu_seconds,
    learner_result,
    pinned_up,
    requests_served,
    start_learner,
)

from stslab.cluster.base import UpOptions
from stslab.cluster.kwok import KwokBackend, capacity
from stslab.core.errors import StslabError
from stslab.core.paths import cache_dir, project_root
from stslab.core.procs import environment, free_port, pid_cmdline
from stslab.core.versions import pinned
from stslab.ops import proving
from stslab.ops.runner import discover

T = TypeVar("T")


def rss_mib(pids: list[int]) -> tuple[float, dict[str, float]]:
    per: dict[str, float] = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kib = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
        name = Path(pid_cmdline(pid)[0]).name if pid_cmdline(pid) else str(pid)
        per[name] = per.get(name, 0.0) + kib / 1024
    return sum(per.values()), per


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def row(name: str, xs: list[float], unit: str, target: str) -> str:
    return (
        f"| {name} | {statistics.median(xs):.1f} {unit} | {min(xs):.1f}–{max(xs):.1f} {unit} "
        f"| {target} |"
    )


def bench_cluster(runs: int) -> list[str]:
    cold, warm, down, rss = [], [], [], []
    per_proc: dict[str, float] = {}
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
            backend = KwokBackend(Path(tmp))
            cold.append(timed(backend.up, UpOptions(api_port=free_port(), dns_port=free_port())))
            time.sleep(10)
            total, per_proc = rss_mib(backend.process_pids())
            rss.append(total)
            backend.stop()
            warm.append(timed(backend.up, UpOptions()))
            down.append(timed(backend.down))
            print(
                f"cluster run {i + 1}: cold up {cold[-1]:.1f}s, warm up {warm[-1]:.1f}s, "
                f"RSS {rss[-1]:.0f} MiB, down {down[-1]:.1f}s",
                flush=True,
            )
    return [
        "## The simulated cluster",
        "",
        f"3 worker nodes; {runs} runs.",
        "",
        "| measure | median | range | target |",
        "|---|---|---|---|",
        row("cold `stslab up` (new cluster, nodes Ready)", cold, "s", "—"),
        row("warm `stslab up` (restart of a stopped cluster)", warm, "s", "≤ 10 s"),
        row("steady RSS of all control-plane processes", rss, "MiB", "≤ 800 MiB"),
        row("`stslab down`", down, "s", "—"),
        "",
        "RSS by process (last run): "
        + ", ".join(f"{k} {val:.0f} MiB" for k, val in sorted(per_proc.items())),
        "",
    ]


def _with_cluster(fn: Callable[[], T]) -> T:
    with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
        backend = KwokBackend(Path(tmp))
        backend.up(UpOptions(api_port=free_port(), dns_port=free_port()))
        old = os.environ.get("STSLAB_STATE")
        os.environ["STSLAB_STATE"] = tmp
        try:
            return fn()
        finally:
            backend.down()
            if old is None:
                os.environ.pop("STSLAB_STATE")
            else:
                os.environ["STSLAB_STATE"] = old


def bench_labs() -> list[str]:
    from stslab.ops.runner import run_labs

    with tempfile.TemporaryDirectory(prefix="stslab-bench-labs-") as build:
        results = _with_cluster(lambda: run_labs([], backend="kwok", build=Path(build)))
    lines = [
        "## Labs, headless (`stslab labs run`, fast mode)",
        "",
        "| lab | result | wall time | target |",
        "|---|---|---|---|",
    ]
    for r in results:
        # as the issues set them; lab 07 (nine rollouts) has its own
        target = {"05": "≤ 120 s", "06": "≤ 120 s", "07": "≤ 180 s"}.get(r.number, "≤ 90 s")
        result = "pass" if r.ok else "FAIL"
        lines.append(f"| {r.path.stem} | {result} | {r.seconds:.1f} s | {target} |")
    first = sum(r.seconds for r in results if r.number in ("00", "01", "02"))
    total = sum(r.seconds for r in results)
    lines += [
        f"| 00–02 together | | {first:.1f} s | ≤ 180 s |",
        f"| all together | | {total:.1f} s | — |",
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def _wait_to_fail(output: Path, exercise: str) -> tuple[str, float]:
    """In a failed run's notebook: the cell that failed, and seconds from the action to FAIL."""
    import nbformat

    nb = nbformat.read(output, as_version=4)
    acted = proving.actions(nb)[exercise]
    failed = next(
        i
        for i, c in enumerate(nb.cells)
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    )

    def at(i: int, key: str) -> pd.Timestamp:
        return pd.Timestamp(nb.cells[i].metadata["papermill"][key])

    return nb.cells[failed].source.splitlines()[0][:60], (
        at(failed, "end_time") - at(acted, "start_time")
    ).total_seconds()


def bench_wrong(labs: list[str]) -> list[str]:
    """Each acting exercise done wrong (its kept wrong answer): how long until it says FAIL.

    ``labs``: only these (numbers, as ``stslab labs run`` takes them); all when empty.
    """
    import nbformat

    from stslab.ops.runner import reset_labs, run_lab, select

    rows = []

    def run_all() -> None:
        with tempfile.TemporaryDirectory(prefix="stslab-bench-wrong-") as build:
            for path in select(labs):
                acting = proving.actions(nbformat.read(path, as_version=4))
                for exercise in acting:
                    ns = f"lab-{path.name[:2]}-wrong"
                    out = Path(build) / exercise
                    try:
                        r = run_lab(path, backend="kwok", fast=True, build=out, namespace=ns,
                                    parameters={"timeout": 45}, wrong=exercise)  # fmt: skip
                    finally:
                        reset_labs([path.name[:2]], backend="kwok", namespace=ns)
                    cell, seconds = _wait_to_fail(r.output, exercise) if not r.ok else ("—", 0.0)
                    rows.append(
                        (path.name[:2], exercise, "FAIL" if not r.ok else "passed!", cell, seconds)
                    )

    _with_cluster(run_all)
    lines = [
        "## A wrong action: from the action to FAIL (kept wrong answers, simulated backend)",
        "",
        "| lab | exercise | result | failed at | seconds | target |",
        "|---|---|---|---|---|---|",
        *[f"| {n} | {e} | {r} | `{c}` | {s:.1f} s | ≤ 15 s |" for n, e, r, c, s in rows],
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def bench_challenges() -> list[str]:
    """Lab 08's challenges: time to break each, and from its kept fix to the final state.

    The fix is the kept kubectl (``labs/solutions/lab-08.yaml``), run as a headless run does;
    the wrong fixes' time to FAIL is ``--only wrong --wrong-labs 08``.
    """
    import contextlib
    import io

    from stslab.lab import Lab, fixit

    rows: list[tuple[str, float, float]] = []

    def run_all() -> None:
        lab = Lab("lab-08-bench", "kwok", timeout=120, lab="lab-08", fast=True)
        try:
            for name in fixit.CHALLENGES:
                with contextlib.redirect_stdout(io.StringIO()):
                    t0 = time.monotonic()
                    broken = fixit.start(lab, name)
                    t1 = time.monotonic()
                    lab.fix(broken.exercise, ["???"])
                    while not broken.goal()[0] and time.monotonic() - t1 < 60:
                        time.sleep(0.2)
                rows.append((name, t1 - t0, time.monotonic() - t1))
        finally:
            lab.cleanup()

    _with_cluster(run_all)
    lines = [
        "## Lab 08's challenges (simulated backend)",
        "",
        "| challenge | break | kept fix to the final state |",
        "|---|---|---|",
        *[f"| {n} | {b:.1f} s | {f:.1f} s |" for n, b, f in rows],
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def _lag() -> list[str]:
    from stslab.lab.context import Lab
    from stslab.observe.recorder import Recorder
    from stslab.observe.timeline import live_timeline

    lab = Lab("bench-lag")
    rec = Recorder(lab.api, lab.namespace, kinds=["Pod"]).start()
    created: dict[str, float] = {}
    lags: list[float] = []
    count = 12

    def on_frame(df: pd.DataFrame) -> None:
        now = time.monotonic()
        for name in set(df.loc[df["event"] == "ADDED", "name"]):
            if name in created and name not in {n for n, _ in seen}:
                seen.append((name, now))
                lags.append(now - created[name])

    seen: list[tuple[str, float]] = []

    def make_pods() -> None:
        for i in range(count):
            created[f"p-{i}"] = time.monotonic()
            lab.core.create_namespaced_pod(
                lab.namespace,
                {
                    "metadata": {"name": f"p-{i}"},
                    "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}]},
                },
            )
            time.sleep(0.73)  # not a multiple of the 1 s frame interval

    t = threading.Thread(target=make_pods)
    t.start()
    live_timeline(
        rec,
        prefix="p",
        until=lambda df: len(seen) >= count,
        timeout=60,
        show=False,
        on_frame=on_frame,
        ordered=False,
    )
    t.join()
    rec.stop()
    lab.cleanup()
    return [
        row(
            "lag from creating a pod to the live frame that shows it (1 Hz redraw)",
            lags,
            "s",
            "≤ 1.5 s",
        ),
        f"| … its maximum over {len(lags)} pods | {max(lags):.2f} s | | ≤ 1.5 s |",
    ]


def _clicks() -> list[str]:
    """A panel's button → the cluster → the frame that shows it, with the refresh thread on."""
    from stslab.lab.context import Lab
    from stslab.lab.manifests import headless_service, statefulset
    from stslab.observe.panel import Panel
    from stslab.observe.recorder import Recorder
    from stslab.observe.segments import ready_members

    lab = Lab("bench-panel")
    lab.apply(headless_service("web"))
    lab.apply(statefulset("web", replicas=1, claims=False))
    rec = Recorder(lab.api, lab.namespace, kinds=["Pod"]).start()
    panel = Panel(rec, lab.api, lab.namespace, statefulset="web")
    panel.wait(until=ready_members("web", 1), timeout=60)
    panel._start_following()  # as show() does in JupyterLab, without a page to show it on

    def shown(pod: str, after: float, phases: tuple[str, ...]) -> float:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            df = panel.frame_df
            if panel.frame_time > after and len(df):
                rows = df[(df["name"] == pod) & df["phase"].isin(phases)]
                if len(rows):
                    return panel.frame_time - after
            time.sleep(0.01)
        raise RuntimeError(f"{pod} never showed in the panel's frame")

    ups, deletes = [], []
    for i in range(1, 7):
        t = time.monotonic()
        panel.plus.click()
        ups.append(shown(f"web-{i}", t, ("Pending", "Running")))
        panel.wait(until=ready_members("web", i + 1), timeout=60)
    for i in range(6, 0, -1):
        panel.member.value = f"web-{i}"
        t = time.monotonic()
        panel.delete_button.click()
        deletes.append(shown(f"web-{i}", t, ("Terminating",)))
        time.sleep(0.5)
    rec.stop()
    panel.close()
    lab.cleanup()
    return [
        row("a panel's +1 click until the frame shows the new member", ups, "s", "≤ 1.5 s"),
        row("a panel's delete click until the frame shows it Terminating", deletes, "s", "≤ 1.5 s"),
    ]


def big_recording(pods: int = 1000, changes: int = 10) -> Any:
    """A recorder fed ``pods`` × ``changes`` pod changes, as a big rollout would record."""
    from kubernetes import client

    from stslab.observe.recorder import Recorder

    rec = Recorder(client.ApiClient(client.Configuration()), "bench", kinds=["Pod"])
    steps = [("Pending", False)] * 3 + [("Running", False)] * 3 + [("Running", True)] * 4
    for pod in range(pods):
        obj = client.V1Pod(metadata=client.V1ObjectMeta(name=f"big-{pod}", uid=f"u{pod}"))
        for i, (phase, ready) in enumerate(steps[:changes]):
            event = "ADDED" if i == 0 else "MODIFIED"
            rec.record("Pod", event, obj, {"phase": phase, "ready": ready})
    return rec


def frame_ms(rec: Any, prefix: str = "big") -> float:
    """One live frame as a notebook gets it: the recorder's table, the drawing, the PNG."""
    import io

    import matplotlib.pyplot as plt

    from stslab.observe.timeline import draw_timeline

    fig = plt.figure(figsize=(9, 3.6))
    start = time.perf_counter()
    rec._frame = None  # a new change arrived: the table is built again
    draw_timeline(rec.frame(), prefix=prefix, fig=fig)
    fig.savefig(io.BytesIO(), format="png")
    ms = (time.perf_counter() - start) * 1000
    plt.close(fig)
    return ms


def bench_views() -> list[str]:
    big = big_recording(1000, 10)
    small = big_recording(100, 10)
    draws = [frame_ms(big) for _ in range(7)][2:]  # the first frames warm matplotlib's caches
    rows = [frame_ms(small) for _ in range(7)][2:]
    lines = [
        "## Live views",
        "",
        "| measure | median | range | target |",
        "|---|---|---|---|",
        row(
            "a frame, PNG included: 1,000 pods, 10,000 events (drawn in buckets)",
            draws,
            "ms",
            "≤ 150 ms",
        ),
        row("a frame, PNG included: 100 pods, 1,000 events (a row each)", rows, "ms", "—"),
    ]
    lines += _with_cluster(_lag)
    lines += _with_cluster(_clicks)
    lines.append("")
    print("\n".join(lines), flush=True)
    return lines


def _console(learners: int = 30, per_learner: int = 200) -> list[str]:
    """The instructor's room view over ``learners`` learners' progress ConfigMaps."""
    from kubernetes import client

    from stslab.core.kube import api_client
    from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL
    from stslab.lab.progress import CONFIGMAP, KEY, Record
    from stslab.lab.room import RoomView

    rec = KwokBackend(Path(os.environ["STSLAB_STATE"])).record()
    assert rec is not None
    api = api_client(rec.kubeconfig, rec.context)
    core = client.CoreV1Api(api)
    for i in range(learners):
        name = f"l{i:02d}"
        ns = f"learner-{name}"
        labels = {WORKSHOP_LABEL: "bench", LEARNER_LABEL: name}
        core.create_namespace({"metadata": {"name": ns, "labels": labels}})
        lines = []
        for j in range(per_learner):  # 9 labs x ~22 exercises, a third failed with an answer
            fail = j % 3 == 0
            r = Record(name, f"lab-{j % 9:02d}", f"exercise {j // 9}", "fail" if fail else "pass",
                       f"2026-12-06T10:{j // 60:02d}:{j % 60:02d}+00:00", hints=j % 4,
                       answer=f"['web-{j % 3}']" if fail else "", demo=j % 7 == 0)  # fmt: skip
            lines.append(r.to_json() + "\n")
        body = {"metadata": {"name": CONFIGMAP}, "data": {KEY: "".join(lines)}}
        core.create_namespaced_config_map(ns, body)
    view = RoomView(api, "bench", read=None)
    refresh = [timed(view.refresh) * 1000 for _ in range(7)][2:]
    table = [timed(view.exercises) * 1000 for _ in range(7)][2:]
    return [
        "## The instructor's console",
        "",
        f"{learners} learners, {per_learner} check records each, read from their ConfigMaps.",
        "",
        "| measure | median | range | target |",
        "|---|---|---|---|",
        row("one refresh: read every learner's records, table and picture", refresh, "ms", "≤ 2 s"),
        row("every exercise across the room, wrong answers included", table, "ms", "—"),
        "",
    ]


def bench_console() -> list[str]:
    lines = _with_cluster(_console)
    print("\n".join(lines), flush=True)
    return lines


def _tree_rss_mib(roots: list[int]) -> float:
    """RSS of ``roots`` and all their descendants (the learners' runners and kernels)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    seen, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, [])
    return rss_mib(sorted(seen))[0]


RUN_LIMIT_S = 2700  # the whole workshop run; a learner's run still going then is stopped


def _children_cpu_seconds() -> float:
    """CPU time of this process's children and theirs, once waited for (runners + kernels)."""
    import resource

    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _workshop(learners: int) -> list[str]:
    from stslab.lab import progress
    from stslab.ops import workshop

    state = Path(os.environ["STSLAB_STATE"])
    kwok = KwokBackend(state)
    rec = kwok.record()
    assert rec is not None
    t = workshop.target(Path(rec.kubeconfig), rec.context)
    admin = workshop.admin_client(t)
    start = time.perf_counter()
    people = workshop.create(admin, t, workshop.learner_names(learners), workshop="bench")
    create_s = time.perf_counter() - start
    print(f"workshop of {learners} created in {create_s:.1f}s", flush=True)
    components = len(kwok.process_pids())
    plane_cores = sorted({cores_of(pid) for pid in kwok.process_pids()})
    print(f"control plane on cores {', '.join(plane_cores)}; learners on {cores_of(os.getpid())}")
    cpu_before = cpu_seconds(kwok.process_pids())
    kernels_before = _children_cpu_seconds()
    requests_before = requests_served(admin)
    peak = [rss_mib(kwok.process_pids())[0]]
    idle = peak[0]
    learners_peak = [0.0]
    done = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []

    def sample() -> None:
        while not done.wait(2):
            peak.append(rss_mib(kwok.process_pids())[0])
            learners_peak.append(_tree_rss_mib([p.pid for p in procs]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = state / "bench-workshop"
    start = time.perf_counter()
    try:
        for p in people:
            procs.append(start_learner(p, state, out, ["01"]))
        for proc in procs:  # a run that hangs (a kernel that never answered) is stopped
            try:
                proc.wait(timeout=max(1.0, start + RUN_LIMIT_S - time.perf_counter()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 15)
                proc.wait()
    finally:
        for proc in procs:  # only on an interrupt: stop the runs this bench started
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        done.set()
    wall = time.perf_counter() - start
    sampler.join()
    plane_cpu = cpu_seconds(kwok.process_pids()) - cpu_before
    kernels_cpu = _children_cpu_seconds() - kernels_before
    requests = requests_served(admin) - requests_before
    results = [learner_result(out, p.name) for p in people]
    passed = sum(1 for r in results if r["ok"])
    times = [r["seconds"] for r in results if r["ok"]] or [0.0]
    errors: dict[str, int] = {}
    for r in results:
        if not r["ok"]:
            key = r["error"][:120].replace("|", "/")
            errors[key] = errors.get(key, 0) + 1
    left = len(kwok.process_pids())  # a starved component may have exited (leader election)
    seen = {r.learner for r in progress.read_workshop(admin, "bench")}
    start = time.perf_counter()
    try:
        workshop.delete(admin, "bench", timeout=300)
        deleted = f"{time.perf_counter() - start:.1f} s"
    except Exception as e:  # noqa: BLE001 - the measurements above still count
        deleted = f"not finished ({e.__class__.__name__})"
    print(f"{passed}/{learners} passed in {wall:.0f}s; peak RSS {max(peak):.0f} MiB", flush=True)
    n_plane = len(os.sched_getaffinity(kwok.process_pids()[0])) if left else 1
    lines = [
        f"| {learners} learners | {passed}/{learners} | {wall:.0f} s | "
        f"{statistics.median(times):.0f} s / {max(times):.0f} s | "
        f"{', '.join(plane_cores)} | {plane_cpu:.0f} s ({plane_cpu / wall / n_plane:.0%}) | "
        f"{kernels_cpu:.0f} s | {requests:,.0f} ({requests / wall:.0f}/s) | {idle:.0f} MiB | "
        f"{max(peak):.0f} MiB | {max(learners_peak) / 1024:.1f} GiB | {len(seen)}/{learners} | "
        f"{create_s:.1f} s / {deleted} | {left}/{components} |"
    ]
    lines += [
        f"| {n} × failed: {e} | | | | | | | | | | | | | |"
        for e, n in sorted(errors.items(), key=lambda x: -x[1])[:3]
    ]
    return lines


def bench_workshop(learners: int, *, pin: bool = False) -> list[str]:
    where = (
        "The control plane runs on its own cores and the learners' runners and kernels on the "
        "others (`--pin`: CPU affinity set before the cluster starts, inherited by every "
        "component and by the supervisor's restarts), as in a workshop where the kernels run "
        "on the learners' laptops."
        if pin
        else "The learners' kernels share the cores with the control plane."
    )
    lines = [
        "## Workshop: learners running lab 01 at once",
        "",
        f"{os.cpu_count()} cores. Each learner has a workshop namespace, token and kubeconfig "
        "(`stslab workshop create`), the existing backend, and runs lab 01 headless in fast "
        f"mode, all started together; waits may take up to 900 s under load. {where}",
        "",
        "| workshop | lab 01 passed | wall time | per learner median / max | control plane's "
        "cores | control-plane CPU (busy) | learners' CPU | API requests | control-plane RSS "
        "before | peak | learners' processes (runner + kernel) peak | progress ConfigMaps "
        "| workshop create / delete | control-plane processes left |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # Lab 01 has up to ~12 pods per learner at once; a simulated node takes 110.
    nodes = max(3, -(-learners // 8))
    with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
        with pinned_up(KwokBackend(Path(tmp)), nodes, pin=pin), environment(STSLAB_STATE=tmp):
            lines += _workshop(learners)
    lines += ["", f"{nodes} simulated worker nodes.", ""]
    print("\n".join(lines), flush=True)
    return lines


def _room_on_kind(state: Path, stslab: Callable[[list[str]], None]) -> list[tuple[str, float]]:
    """`workshop serve --kubernetes` with two learners: each one's server pod, lab 00 in it."""
    import contextlib
    import io
    import re

    from kubernetes import client

    from stslab.cluster.images import room as room_image
    from stslab.core.kube import api_client
    from stslab.ops import hub
    from stslab.testing import hub_client

    kubeconfig = state / "kind" / "kubeconfig"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        stslab(
            ["workshop", "create", "--names", "ann,bob", "--kubeconfig", str(kubeconfig), "--yes"]
        )
    codes = dict(
        re.findall(r"^(ann|bob)\s+\S+\s+([a-z2-9]{4}-[a-z2-9]{4})\s", out.getvalue(), re.M)
    )
    rows = [
        (
            "room image: build (a new kit; a no-op when cached)",
            timed(room_image.build, hub.proxy_command()),
        )
    ]
    port = free_port()
    serve = ["workshop", "serve", "--kubernetes", "--port", str(port)]
    rows.append(
        ("`workshop serve --kubernetes`: image loaded, hub Ready, forwarded", timed(stslab, serve))
    )
    base, served = f"http://127.0.0.1:{port}", hub.HubRecord.load()
    assert served is not None
    core = client.CoreV1Api(api_client(kubeconfig))
    for name, code in sorted(codes.items()):
        start = time.perf_counter()
        hub_client.login(base, name, code).raise_for_status()
        token = hub_client.user_token(base, served.api_token, name)
        hub_client.wait_server(base, name, token, timeout=400)
        rows.append((f"{name}: login to their server answering", time.perf_counter() - start))
        pod = core.read_namespaced_pod(f"jupyter-{name}", f"learner-{name}")
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        created = pod.metadata.creation_timestamp
        rows.append(
            (
                f"{name}: KubeSpawner pod created to Ready (container started)",
                (ready.last_transition_time - created).total_seconds(),
            )
        )
        lab = (
            "import subprocess\n"
            "r = subprocess.run(['stslab', 'labs', 'run', '00'], capture_output=True, text=True)\n"
            "print(r.stdout[-400:], r.stderr[-400:]); print(r.returncode)\n"
        )
        start = time.perf_counter()
        said = hub_client.execute(base, name, token, lab)
        if said.strip().splitlines()[-1:] != ["0"]:
            raise SystemExit(f"lab 00 failed in {name}'s server: {said[-400:]}")
        rows.append((f"{name}: lab 00 headless in their server's pod", time.perf_counter() - start))
    rows.append(
        (
            "`workshop delete` (hub, pods, namespaces)",
            timed(stslab, ["workshop", "delete", "--yes"]),
        )
    )
    return rows


def bench_kind(workers: int) -> list[str]:
    from stslab.cli import main as cli
    from stslab.cluster.base import ClusterRecord
    from stslab.cluster.containers import docker_usable
    from stslab.cluster.images import kindnode
    from stslab.testing.dockerd import PrivateDockerd

    def stslab(argv: list[str]) -> None:
        if cli(argv) != 0:
            raise SystemExit(f"stslab {' '.join(argv)} failed")

    daemon = None if docker_usable()[0] else PrivateDockerd()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
        if daemon is not None:
            rows.append(("private Docker engine start", timed(daemon.start)))
        try:
            with environment(**({"DOCKER_HOST": daemon.host} if daemon else {}), STSLAB_STATE=tmp):
                rows.append(("node image build (no-op when it exists)", timed(kindnode.build)))
                up = ["up", "--backend", "kind", "--node-image", "offline", "--nodes", str(workers)]
                rows.append(
                    (
                        f"`stslab up` with {workers} worker(s), nodes Ready, DNS ready, "
                        "every worker's GPUs from the fake device plugin",
                        timed(stslab, up),
                    )
                )
                rec = ClusterRecord.load(Path(tmp) / "kind" / "cluster.json")
                waited = rec.extra.get("gpu_plugin_seconds", float("nan"))
                rows.append(("  of which: the plugin registered on every worker", waited))
                for lab in ("01", "02"):
                    build = Path(tmp) / "labs"
                    rows.append(
                        (
                            f"lab {lab} headless",
                            timed(stslab, ["labs", "run", lab, "--build", str(build)]),
                        )
                    )
                rows += _room_on_kind(Path(tmp), stslab)
                rows.append(("`stslab down`", timed(stslab, ["down", "--backend", "kind"])))
        finally:
            if daemon is not None:
                daemon.stop()
    size = subprocess.run(
        ["du", "-sh", str(cache_dir() / "docker")], capture_output=True, text=True
    ).stdout.split("\t")[0]
    lines = [
        "## kind with the offline node image",
        "",
        f"{os.cpu_count()} cores; image {kindnode.image_ref()}; Docker data {size}.",
        "",
        "| step | time |",
        "|---|---|",
        *(f"| {name} | {secs:.1f} s |" for name, secs in rows),
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=[
            "cluster",
            "labs",
            "views",
            "challenges",
            "console",
            "scale",
            "workshop",
            "room",
            "served",
            "kind",
            "wrong",
        ],
        action="append",
    )
    parser.add_argument("--kind-nodes", type=int, default=1, help="kind: worker nodes")
    parser.add_argument("--learners", type=int, default=10, help="workshop, served: learners")
    parser.add_argument(
        "--room-learners",
        help="room: learners at once, one room per size on one recording (20,50)",
    )
    parser.add_argument(
        "--labs",
        default="01",
        help="room: the labs recorded and replayed, by number (01,03) or all (default 01)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="workshop: the control plane on half the cores, the learners' kernels on the rest",
    )
    parser.add_argument("--pods", type=int, default=10_000, help="scale: the biggest workloads")
    parser.add_argument("--wrong-labs", nargs="*", default=[], help="wrong: these labs only")
    parser.add_argument("--out", type=Path, default=project_root() / "bench" / "report.md")
    args = parser.parse_args()
    parts = args.only or ["cluster", "labs", "views", "challenges", "console", "scale"]
    if "scale" in parts:  # refused before anything starts
        try:
            capacity.check(nodes=bench_scale.nodes_for(args.pods), pods=args.pods)
        except StslabError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(e.exit_code)
    v = pinned()
    lines = [
        "# stslab benchmarks",
        "",
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores; Kubernetes "
        f"{v.kubernetes}, etcd {v.etcd}, kwok {v.kwok}, CoreDNS {v.coredns}.",
        "",
    ]
    if "cluster" in parts:
        lines += bench_cluster(args.runs)
    if "labs" in parts:
        lines += bench_labs()
    if "views" in parts:
        lines += bench_views()
    if "challenges" in parts:
        lines += bench_challenges()
    if "console" in parts:
        lines += bench_console()
    if "wrong" in parts:  # not by default: one partial lab run per acting exercise
        lines += bench_wrong(args.wrong_labs)
    if "scale" in parts:
        lines += bench_scale.bench_scale(lambda pids: rss_mib(pids)[0], pods=args.pods)
    if "workshop" in parts:  # not by default: it loads the machine for several minutes
        lines += bench_workshop(args.learners, pin=args.pin)
    if "room" in parts:  # not by default: it loads the machine for several minutes
        lines += bench_room.room_header()
        labs = sorted(discover()) if args.labs == "all" else args.labs.split(",")
        sizes = [int(n) for n in str(args.room_learners or args.learners).split(",")]
        lines += bench_room.bench_room(sizes, lambda pids: rss_mib(pids)[0], labs)
        lines.append("")
    if "served" in parts:  # not by default: root, and several minutes of load
        lines += bench_served.bench_served(args.learners, lambda pids: rss_mib(pids)[0])
    if "kind" in parts:  # not by default: it needs root, Docker and ~2 GB of images
        lines += bench_kind(args.kind_nodes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
