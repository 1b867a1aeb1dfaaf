"""Lab 01 in a real browser: JupyterLab served here, driven by headless Chromium.

The headless runs (papermill) only keep each live view's last frame. This test runs lab 01 the
way a learner does — JupyterLab's Run → Run All Cells in Debian's chromium, through Playwright —
and watches the live timeline's output change while the StatefulSet rolls out. It saves a
screenshot and the frame counts to ``build/test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord
from stslab.core.procs import LOOPBACK, free_port
from stslab.lab.context import Lab
from stslab.testing.jupyterlab_page import PROGRESS, open_notebook, run_all

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "01-stateless-vs-stateful.ipynb"
NAMESPACE = "lab-01"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "build" / "test-artifacts"
RUN_TIMEOUT = 240.0  # lab 01 takes about 70 s here
TIMELINE_CELL = "StatefulSet web, OrderedReady"  # the first live timeline the lab shows
DONE_TEXT = f"namespace {NAMESPACE} and its volumes are gone"  # the cleanup cell's output

# Counts the distinct images each cell's output showed. A live view replaces its image in place
# about once a second; every replacement is a DOM mutation, so none is missed between samples.
OBSERVE_FRAMES = """() => {
  const seen = window.__stslabFrames = {};
  const cells = () => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'));
  const hash = (s) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    return (h >>> 0).toString(16) + ':' + s.length;
  };
  const note = (img) => {
    const cell = img.closest('.jp-Cell');
    if (!cell || !img.src.startsWith('data:image/')) return;
    const key = String(cells().indexOf(cell));
    const entry = seen[key] = seen[key] || {source: '', frames: []};
    entry.source = cell.querySelector('.jp-InputArea-editor')?.textContent || '';
    const h = hash(img.src);
    if (!entry.frames.includes(h)) entry.frames.push(h);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.target.tagName === 'IMG') note(r.target);
      for (const n of r.addedNodes || []) {
        if (n.nodeType !== 1) continue;
        if (n.tagName === 'IMG') note(n);
        n.querySelectorAll('img').forEach(note);
      }
    }
  }).observe(document.body,
             {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


@pytest.fixture
def sync_playwright() -> Any:
    """Playwright's sync API and Debian's chromium, or a one-line failure saying how to get them."""
    try:
        from playwright.sync_api import sync_playwright as api
    except ImportError:
        _need("playwright is missing: .venv/bin/pip install -e '.[dev]' (make install does)")
    if not os.access(CHROMIUM, os.X_OK):
        _need(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return api


def _need(why: str) -> None:
    """Skip with the reason; a failure where the tier must run (``STSLAB_BROWSER=1``, CI)."""
    if os.environ.get("STSLAB_BROWSER") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def _notebook(dest: Path) -> Path:
    """A copy of lab 01 with no outputs and ``fast = True`` (the exercises' solutions)."""
    nb = nbformat.read(LAB, as_version=4)
    [params] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source += "\nfast = True  # the browser test runs the exercises' solutions"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out = dest / LAB.name
    nbformat.write(nb, out)
    return out


def _settings(user_settings: Path) -> None:
    """JupyterLab settings for the test: every cell in the DOM, no news or update checks."""
    for name, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = user_settings / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(url, timeout=2) as r:
        return int(r.status)


class Jupyter:
    """JupyterLab on 127.0.0.1 in a private root dir, config, data and runtime dirs."""

    def __init__(self, root: Path, work: Path, state: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.log_path = work / "jupyter.log"
        for d in ("config", "data", "runtime", "settings", "workspaces"):
            (work / d).mkdir(parents=True, exist_ok=True)
        _settings(work / "settings")
        env = {
            **os.environ,
            "STSLAB_STATE": str(state),
            "STSLAB_BACKEND": "kwok",
            # the kernel is this interpreter (the native python3 kernel), which imports stslab
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            "JUPYTER_CONFIG_DIR": str(work / "config"),
            "JUPYTER_DATA_DIR": str(work / "data"),
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        }
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ServerApp.ip={LOOPBACK}",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={self.token}",
            f"--LabApp.user_settings_dir={work / 'settings'}",
            f"--LabApp.workspaces_dir={work / 'workspaces'}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=root, stdout=self.log, stderr=subprocess.STDOUT
        )

    def url(self, path: str) -> str:
        return f"{self.base}/{path}?token={self.token}"

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"JupyterLab exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if _get(self.url("api/status")) == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        pytest.fail(f"JupyterLab did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut the kernels down through the API, then SIGTERM the server, then SIGKILL it."""
        if self.log.closed:
            return  # stopped already
        if self.proc.poll() is None:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(self.url("api/kernels"), timeout=5) as r:
                    kernels = json.load(r)
                for k in kernels:
                    req = urllib.request.Request(
                        self.url(f"api/kernels/{k['id']}"), method="DELETE"
                    )
                    opener.open(req, timeout=15).close()
            except (urllib.error.URLError, OSError, ValueError):
                pass  # the server goes anyway; it shuts its kernels down on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def _serve(
    tmp_path: Path, state_root: Path, write: Callable[[Path], Path]
) -> Iterator[tuple[Jupyter, Path]]:
    """JupyterLab over a notebook that ``write(root)`` makes; stopped afterwards."""
    root = tmp_path / "labs"
    root.mkdir()
    notebook = write(root)
    server = Jupyter(root, tmp_path / "jupyter", state_root)
    try:
        server.wait_ready()
        yield server, notebook
    finally:
        server.stop()


@pytest.fixture
def jupyter(
    kwok_cluster: ClusterRecord, state_root: Path, tmp_path: Path
) -> Iterator[tuple[Jupyter, Path]]:
    yield from _serve(tmp_path, state_root, _notebook)


def _cleanup(api: client.ApiClient, state_root: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Remove lab 01's namespace and volumes if the notebook's own cleanup did not (True then)."""
    core = client.CoreV1Api(api)
    if NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}:
        return False
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    Lab(NAMESPACE, "kwok").cleanup()  # makes the namespace afresh, then removes it and all
    return True


@pytest.mark.cluster
@pytest.mark.browser
@pytest.mark.timeout(480)
def test_lab01_live_timeline_in_chromium(
    sync_playwright: Any,  # first: fails before JupyterLab starts when a tool is missing
    jupyter: tuple[Jupyter, Path],
    api: client.ApiClient,
    state_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, notebook = jupyter
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "browser-lab01.png"
    report = ARTIFACTS / "browser-lab01.json"
    progress: dict[str, Any] = {"text": "", "busy": 0, "ran": 0, "cells": 0}
    frames: dict[str, Any] = {}
    console: list[str] = []
    leftover = True
    started = time.monotonic()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--disable-dev-shm-usage"]
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on(
                    "console",
                    lambda m: console.append(m.text) if m.type == "error" else None,
                )
                cells = len(nbformat.read(notebook, as_version=4).cells)
                open_notebook(page, server.url(f"lab/tree/{notebook.name}"), cells)
                page.evaluate(OBSERVE_FRAMES)

                progress = run_all(page)

                deadline = time.monotonic() + RUN_TIMEOUT
                while time.monotonic() < deadline:
                    progress = page.evaluate(PROGRESS)
                    text = progress["text"]
                    if DONE_TEXT in text or "FAIL:" in text or "Traceback" in text:
                        break
                    if progress["ran"] and not progress["busy"]:
                        break  # the run stopped (an error ends Run All) without the cleanup
                    page.wait_for_timeout(500)
                frames = page.evaluate("() => window.__stslabFrames")

                cell = page.locator(".jp-Notebook .jp-Cell", has_text=TIMELINE_CELL).first
                cell.scroll_into_view_if_needed()
                page.screenshot(path=str(shot))
            finally:
                browser.close()
    finally:
        timeline = [f for f in frames.values() if TIMELINE_CELL in f["source"]]
        report.write_text(
            json.dumps(
                {
                    "seconds": round(time.monotonic() - started, 1),
                    "timeline_frames": len(timeline[0]["frames"]) if timeline else 0,
                    "frames_per_cell": {k: len(v["frames"]) for k, v in frames.items()},
                },
                indent=2,
            )
        )
        server.stop()  # the kernel goes first: nothing may create objects behind the cleanup
        shutil.copyfile(server.log_path, ARTIFACTS / "browser-lab01-jupyter.log")
        print(f"\nscreenshot: {shot}\nframes: {report}")
        leftover = _cleanup(api, state_root, monkeypatch)

    text = progress["text"]
    detail = f"\n--- outputs (end) ---\n{text[-1500:]}\n--- console errors ---\n{console[-5:]}"
    if "Traceback" in text or "FAIL:" in text:
        pytest.fail(f"lab 01 failed in the browser (see {shot}){detail}")
    if DONE_TEXT not in text:
        pytest.fail(f"lab 01 did not finish within {RUN_TIMEOUT:.0f}s (see {shot}){detail}")
    assert text.count("PASS:") >= 5, detail
    assert timeline, f"no image in the live-timeline cell; cells with images: {list(frames)}"
    assert len(timeline[0]["frames"]) >= 2, "the live timeline showed one frame only"
    assert not leftover, f"the notebook's cleanup left namespace {NAMESPACE} behind"


PANEL_NAMESPACE = "panel-browser"
PANEL_SOURCE = f"""\
from stslab.lab import Lab, Panel, Recorder, headless_service, statefulset

lab = Lab("{PANEL_NAMESPACE}", timeout=60)
lab.apply(headless_service("web"))
lab.apply(statefulset("web", replicas=1, claims=False))
rec = Recorder(lab.api, lab.namespace, kinds=["Pod", "Event"]).start()
panel = Panel(rec, lab.api, lab.namespace, statefulset="web", title="the panel under test")
panel.show()
"""

# The panel's picture and its one-line summary, as the page shows them.
PANEL_STATE = """() => {
  const img = document.querySelector('.jp-Notebook .widget-image, .jp-Notebook img.widget-image');
  const html = Array.from(document.querySelectorAll('.jp-Notebook .widget-html-content'))
    .map((h) => h.textContent);
  const src = img ? img.src : '';
  let h = 0x811c9dc5;
  for (let i = 0; i < src.length; i++) { h ^= src.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return {frame: (h >>> 0).toString(16) + ':' + src.length, texts: html};
}"""


def _panel_notebook(root: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PANEL_SOURCE)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook = root / "panel.ipynb"
    nbformat.write(nb, notebook)
    return notebook


@pytest.fixture
def panel_jupyter(
    kwok_cluster: ClusterRecord, state_root: Path, tmp_path: Path
) -> Iterator[tuple[Jupyter, Path]]:
    yield from _serve(tmp_path, state_root, _panel_notebook)


def _summary(state: dict[str, Any]) -> str:
    return next((t for t in state["texts"] if t.startswith("web:")), "")


@pytest.mark.cluster
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_panel_buttons_and_slider_in_chromium(
    sync_playwright: Any,
    panel_jupyter: tuple[Jupyter, Path],
    api: client.ApiClient,
    state_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Click "+1" and "delete member", drag the slider: the cluster and the frame change."""
    server, notebook = panel_jupyter
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    console: list[str] = []
    steps: dict[str, Any] = {}

    def wait_for(what: str, probe: Any, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = probe()
            if got:
                return got
            page.wait_for_timeout(250)
        page.screenshot(path=str(ARTIFACTS / "browser-panel-failed.png"))
        pytest.fail(f"{what} within {timeout:.0f}s; console errors: {console[-5:]}")

    def replicas() -> int:
        return int(apps.read_namespaced_stateful_set("web", PANEL_NAMESPACE).spec.replicas)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--disable-dev-shm-usage"]
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
                page.goto(server.url(f"lab/tree/{notebook.name}"), timeout=90_000)
                page.wait_for_selector(
                    ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
                )
                run_all(page)
                try:
                    page.wait_for_selector(".widget-button:text-is('+1')", timeout=90_000)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / "browser-panel-failed.png"))
                    outputs = page.evaluate(PROGRESS)["text"]
                    pytest.fail(f"no panel in the page; outputs: {outputs[-800:]}; {console[-5:]}")
                wait_for(
                    "web-0 Ready in the summary",
                    lambda: "web-0 Ready" in _summary(page.evaluate(PANEL_STATE)),
                    timeout=60,
                )
                before = page.evaluate(PANEL_STATE)

                # "+1": the set gets a second member, and the frame and summary show it
                page.click(".widget-button:text-is('+1')")
                wait_for("replicas 2 on the cluster", lambda: replicas() == 2)
                after = wait_for(
                    "web-1 in the panel",
                    lambda: (
                        (s := page.evaluate(PANEL_STATE))
                        and "web-1" in _summary(s)
                        and s["frame"] != before["frame"]
                        and s
                    ),
                )
                steps["scale up"] = _summary(after)
                wait_for(
                    "web-1 Ready",
                    lambda: "web-1 Ready" in _summary(page.evaluate(PANEL_STATE)),
                    timeout=60,
                )
                page.screenshot(path=str(ARTIFACTS / "browser-panel-scaled.png"))

                # "delete member" on web-0: a new pod of that name, drawn as a replacement
                uid = core.read_namespaced_pod("web-0", PANEL_NAMESPACE).metadata.uid
                page.select_option(".widget-dropdown:has(label:text-is('member')) select", "web-0")
                before = page.evaluate(PANEL_STATE)
                page.click(".widget-button:text-is('delete member')")

                def replaced() -> bool:
                    try:
                        return bool(
                            core.read_namespaced_pod("web-0", PANEL_NAMESPACE).metadata.uid != uid
                        )
                    except client.ApiException:
                        return False

                wait_for("web-0 made again on the cluster", replaced)
                after = wait_for(
                    "the replacement in the panel",
                    lambda: (
                        (s := page.evaluate(PANEL_STATE))
                        and "web-0" in _summary(s)
                        and "(replaced)" in _summary(s)
                        and s["frame"] != before["frame"]
                        and s
                    ),
                )
                steps["delete member"] = _summary(after)
                page.screenshot(path=str(ARTIFACTS / "browser-panel-deleted.png"))

                # pause, then drag the slider back to the start: an earlier frame
                page.click(".widget-toggle-button:text-is('pause')")
                wait_for(
                    "the slider enabled",
                    lambda: page.evaluate(
                        "() => !document.querySelector('.widget-slider .noUi-target')"
                        ".hasAttribute('disabled')"
                    ),
                )
                before = page.evaluate(PANEL_STATE)
                handle = page.locator(".widget-slider .noUi-handle").first.bounding_box()
                track = page.locator(".widget-slider .noUi-target").first.bounding_box()
                assert handle and track
                page.mouse.move(
                    handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
                )
                page.mouse.down()
                page.mouse.move(track["x"] + track["width"] * 0.1, handle["y"] + 2, steps=8)
                page.mouse.up()
                after = wait_for(
                    "an earlier frame after the drag",
                    lambda: (
                        (s := page.evaluate(PANEL_STATE))
                        and s["frame"] != before["frame"]
                        and "web: 1 member" in _summary(s)  # near the start web-0 was alone
                        and s
                    ),
                )
                steps["slider"] = _summary(after)
                page.screenshot(path=str(ARTIFACTS / "browser-panel-scrubbed.png"))
            finally:
                browser.close()
    finally:
        (ARTIFACTS / "browser-panel.json").write_text(json.dumps(steps, indent=2))
        server.stop()
        monkeypatch.setenv("STSLAB_STATE", str(state_root))
        Lab(PANEL_NAMESPACE, "kwok").cleanup()
    assert set(steps) == {"scale up", "delete member", "slider"}, steps
