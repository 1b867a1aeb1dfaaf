"""The served room, measured: `stslab workshop serve` on one machine, learners' kernels on it.

``scripts/bench.py --only served --learners N`` (root: the room makes Unix accounts). On a
fresh simulated cluster it makes a workshop of N learners and serves it, then measures:

- ``serve`` itself (with the learners' Python environment built, and again once it is built);
- from ``serve`` to the first learner's lab 00 passing: their login at the hub, their JupyterLab
  starting as their Unix account, and lab 00 run headless by a kernel of that server;
- N learners at once: each logs in and runs lab 01 from their own server, all started
  together: three of them in JupyterLab in Chromium (Playwright: the hub's login page, then
  Run All Cells), the others headless from a kernel of their server; how many pass, the wall
  time, the machine's busy cores and the peak memory of the learners' processes (servers,
  kernels, lab runs), the hub and the control plane.
"""

from __future__ import annotations

import math
import os
import pwd
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
from bench_room import pinned_up

from stslab.cluster.kwok import KwokBackend
from stslab.core.procs import LOOPBACK, environment, free_port
from stslab.lab.roster import WorkshopRecord
from stslab.ops import hub, workshop
from stslab.testing import hub_client
from stslab.testing.jupyterlab_page import PROGRESS, open_notebook, run_all

RUN = "import subprocess\nr = subprocess.run(['stslab', 'labs', 'run', '{lab}'], capture_output=True, text=True)\nprint(r.stdout[-600:], r.stderr[-300:])\n"  # noqa: E501


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _rss_by_uid(uids: set[int]) -> float:
    """The resident memory of every process of these accounts, in MiB."""
    total = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if p.stat().st_uid not in uids:
                continue
            status = (p / "status").read_text()
        except OSError:
            continue
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(m.group(1)) if m else 0
    return total / 1024


def _learner(served: hub.HubRecord, base: str, name: str, code: str, lab: str) -> float:
    """Log ``name`` in, wait for their server, run ``lab`` in its kernel; seconds, or -1."""
    try:
        return _learner_run(served, base, name, code, lab)
    except Exception as e:  # noqa: BLE001 - a learner who failed is counted, not fatal
        print(f"{name}: {e.__class__.__name__}: {e}", flush=True)
        return -1.0


def _learner_run(served: hub.HubRecord, base: str, name: str, code: str, lab: str) -> float:
    start = time.perf_counter()
    account = served.accounts[name]
    r = hub_client.login(base, name, code)
    if r.status_code != 200:
        return -1.0
    token = hub_client.user_token(base, served.api_token, account)
    hub_client.wait_server(base, account, token, timeout=600)
    out = hub_client.execute(base, account, token, RUN.format(lab=lab), timeout=1800)
    ok = re.search(rf"{lab}-\S*\s+pass", out) is not None
    if not ok:
        print(f"{name}: {out[-400:]}", flush=True)
    return time.perf_counter() - start if ok else -1.0


CHROMIUM = "/usr/bin/chromium"


def _fast_copy(served: hub.HubRecord, name: str, lab: str) -> tuple[str, int]:
    """A copy of ``lab`` in the learner's folder with ``fast = True``; its name, code cells."""
    home = Path(served.root) / "home" / name
    [src] = sorted((home / "labs").glob(f"{lab}-*.ipynb"))
    nb = nbformat.read(src, as_version=4)
    [params] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source += "\nfast = True  # the benchmark runs the exercises' solutions"
    dest = home / "labs" / f"{lab}-fast.ipynb"
    nbformat.write(nb, dest)
    entry = pwd.getpwnam(served.accounts[name])
    os.chown(dest, entry.pw_uid, entry.pw_gid)
    return dest.name, sum(1 for c in nb.cells if c.cell_type == "code")


def _in_browsers(
    served: hub.HubRecord, base: str, people: list[Any], codes: dict[str, str], lab: str
) -> list[float]:
    """Learners in Chromium: log in at the hub's page, open ``lab``, Run All; seconds or -1."""
    from playwright.sync_api import sync_playwright

    if not people:
        return []
    done: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--disable-dev-shm-usage"]
        )
        pages: dict[str, tuple[Any, int, float]] = {}
        for p in people:
            start = time.perf_counter()
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{base}/hub/login", timeout=60_000)
            page.fill("#username_input", p.name)
            page.fill("#password_input", codes[p.name])
            page.click("#login_submit")
            page.wait_for_url(re.compile(r".*/user/[^/]+/lab.*"), timeout=300_000)
            notebook, cells = _fast_copy(served, p.name, lab)
            account = served.accounts[p.name]
            open_notebook(page, f"{base}/user/{account}/lab/tree/{notebook}", cells, 300_000)
            run_all(page)
            pages[p.name] = (page, cells, start)
        deadline = time.perf_counter() + 1800
        while pages and time.perf_counter() < deadline:
            for name, (page, cells, start) in list(pages.items()):
                progress = page.evaluate(PROGRESS)
                failed = "Traceback" in progress["text"] or "FAIL:" in progress["text"]
                if progress["ran"] >= cells or failed or (progress["ran"] and not progress["busy"]):
                    ok = progress["ran"] >= cells and not failed
                    if not ok:
                        print(f"{name} in Chromium: {progress['text'][-400:]}", flush=True)
                    done[name] = time.perf_counter() - start if ok else -1.0
                    del pages[name]
            time.sleep(2)
        browser.close()
    return [done.get(p.name, -1.0) for p in people]


def _served(
    learners: int, tmp: Path, browsers: int, rss_of: Callable[[list[int]], float]
) -> list[str]:
    state = tmp / "instructor"
    kwok = KwokBackend(tmp)
    rec_k = kwok.record()
    assert rec_k is not None
    t = workshop.target(Path(rec_k.kubeconfig), rec_k.context)
    admin = workshop.admin_client(t)
    with environment(STSLAB_STATE=str(state)):
        people = workshop.create(admin, t, workshop.learner_names(learners), workshop="served")
        codes = {p.name: p.code for p in people}
        rec = WorkshopRecord.load()
        assert rec is not None
        root = Path(tempfile.mkdtemp(prefix="stslab-served-"))
        root.chmod(0o755)
        port = free_port()
        base = f"http://{LOOPBACK}:{port}"
        start = time.perf_counter()
        served, _ = hub.serve(rec, ip=LOOPBACK, port=port, root=root / "room")
        serve_cold = time.perf_counter() - start
        first = _learner(served, base, people[0].name, codes[people[0].name], "00")
        to_first = time.perf_counter() - start
        hub.stop(served)
        start = time.perf_counter()
        served, _ = hub.serve(rec, ip=LOOPBACK, port=port, root=root / "room")
        serve_warm = time.perf_counter() - start
        uids = {pwd.getpwnam(a).pw_uid for a in served.accounts.values()}
        peak = {"learners": 0.0, "plane": 0.0, "hub": 0.0}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(2):
                peak["learners"] = max(peak["learners"], _rss_by_uid(uids))
                plane = rss_of(kwok.process_pids())
                peak["plane"] = max(peak["plane"], plane)
                peak["hub"] = max(peak["hub"], _rss_by_uid({0}) - plane)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        busy0, total0 = _busy_jiffies()
        start = time.perf_counter()
        shown, headless = people[:browsers], people[browsers:]
        try:
            with ThreadPoolExecutor(learners) as pool:
                in_browsers = pool.submit(_in_browsers, served, base, shown, codes, "01")
                times = list(
                    pool.map(
                        lambda p: _learner(served, base, p.name, codes[p.name], "01"), headless
                    )
                )
                browser_times = in_browsers.result()
        finally:
            wall = time.perf_counter() - start
            done.set()
            sampler.join()
            hub.remove(served)
            workshop.delete(admin, "served", timeout=300)
            root.rmdir() if root.exists() and not any(root.iterdir()) else None
        busy1, total1 = _busy_jiffies()
    cores = os.cpu_count() or 1
    busy = (busy1 - busy0) / max(1, total1 - total0) * cores
    ok = [x for x in times + browser_times if x >= 0]
    shown_ok = sum(1 for x in browser_times if x >= 0)
    per_learner_mib = peak["learners"] / learners
    print(f"{len(ok)}/{learners} passed lab 01 in {wall:.0f} s", flush=True)
    return [
        f"| {learners} | {serve_cold:.0f} s / {serve_warm:.0f} s | {to_first:.0f} s "
        f"({first:.0f} s of it the learner's) | {len(ok)}/{learners} ({shown_ok}/{len(shown)} "
        f"in Chromium) | {wall:.0f} s | "
        f"{statistics.median(ok) if ok else 0:.0f} s / {max(ok) if ok else 0:.0f} s | "
        f"{busy:.1f} of {cores} | {peak['learners']:.0f} MiB ({per_learner_mib:.0f} per learner)"
        f" | {peak['hub']:.0f} MiB | {peak['plane']:.0f} MiB |"
    ]


def bench_served(
    learners: int, rss_of: Callable[[list[int]], float], browsers: int = 3
) -> list[str]:
    """The served room with ``learners`` learners, ``browsers`` of them in Chromium.

    ``rss_of``: the resident memory of these processes, in MiB (bench.py's measure).
    """
    if os.geteuid() != 0:
        return ["## Served room", "", "Not measured: `serve` makes Unix accounts (needs root).", ""]
    lines = [
        "## Served room: `stslab workshop serve`, learners' kernels on the same machine",
        "",
        f"{os.cpu_count()} cores. Each learner logs in at the hub with their code, their "
        "JupyterLab starts as their own Unix account, and a kernel of it runs the lab headless "
        f"(fast mode) against their namespace; all learners start together. {browsers} of them "
        "work in JupyterLab in Chromium (Playwright): they log in at the hub's page, open lab 01 "
        "and Run All Cells. Memory: the peak "
        "resident memory of the learners' accounts (servers, kernels, lab runs), of the "
        "instructor's other processes (hub, proxy, Chromium, this script) and of the control "
        "plane.",
        "",
        "| learners | serve (environment built / already built) | serve → first learner's lab "
        "00 passing | lab 01 passed | wall time | per learner median / max | busy cores | "
        "learners' memory peak | hub and instructor | control plane |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    nodes = max(3, math.ceil(learners / 8))  # lab 01 has up to ~12 pods per learner
    with tempfile.TemporaryDirectory(prefix="stslab-bench-") as tmp:
        with pinned_up(KwokBackend(Path(tmp)), nodes, pin=False):
            lines += _served(learners, Path(tmp), min(browsers, learners), rss_of)
    lines += ["", f"{nodes} simulated worker nodes.", ""]
    print("\n".join(lines), flush=True)
    return lines
