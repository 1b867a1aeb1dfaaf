"""The panel's controls on the live simulated cluster: each button changes the cluster, the frame
follows, bad input is one line, and a refresh thread that dies is started again."""

from __future__ import annotations

import time
from typing import Any

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from kubernetes import client  # noqa: E402

from stslab.core.kube import wait_until  # noqa: E402
from stslab.core.procs import LOOPBACK, free_port  # noqa: E402
from stslab.lab.manifests import headless_service, statefulset  # noqa: E402
from stslab.observe.panel import Panel  # noqa: E402
from stslab.observe.recorder import Recorder  # noqa: E402
from stslab.observe.segments import ready_members  # noqa: E402

pytestmark = pytest.mark.cluster


def _shown(panel: Panel, pod: str, event: str) -> bool:
    df = panel.frame_df
    return bool(len(df)) and bool(((df["name"] == pod) & (df["event"] == event)).any())


def _make(api: client.ApiClient, namespace: str, replicas: int) -> None:
    from kubernetes import utils

    for doc in (headless_service("web"), statefulset("web", replicas=replicas, claims=False)):
        utils.create_from_dict(api, doc, namespace=namespace)


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnhandledThreadExceptionWarning"
)  # killed on purpose
def test_buttons_change_the_cluster_and_the_frame_follows(
    api: client.ApiClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STSLAB_HEADLESS", raising=False)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    _make(api, namespace, 1)
    rec = Recorder(api, namespace, kinds=["Pod", "Event"]).start()
    panel = Panel(rec, api, namespace, statefulset="web")
    panel.show()  # outside a kernel it prints the bundle; the refresh thread starts
    try:
        panel.wait(until=ready_members("web", 1), timeout=60)
        assert panel.sets.options == ("web",)

        panel.plus.click()
        assert panel.status == "web scaled to 2", panel.status
        assert panel.log[-1] == f"kubectl -n {namespace} scale statefulset web --replicas=2"
        assert apps.read_namespaced_stateful_set("web", namespace).spec.replicas == 2
        # the refresh thread, not a wait(), brings web-1 into the frame
        wait_until(lambda: _shown(panel, "web-1", "ADDED"), timeout=10, what="web-1 in the frame")
        panel.wait(until=ready_members("web", 2), timeout=60)
        assert "web-1" in panel.member.options

        uid = core.read_namespaced_pod("web-0", namespace).metadata.uid
        panel.member.value = "web-0"
        panel.delete_button.click()
        assert panel.log[-1] == f"kubectl -n {namespace} delete pod web-0"
        wait_until(
            lambda: core.read_namespaced_pod("web-0", namespace).metadata.uid != uid,
            timeout=30,
            what="web-0 made again",
        )
        wait_until(lambda: _shown(panel, "web-0", "DELETED"), timeout=10, what="the deletion shown")

        # bad input: one line each, the cluster unchanged, the panel still working
        assert panel.scale_to(-1) == "cannot scale web to -1: replicas cannot be below zero"
        assert panel.delete("web-9") == "pod web-9 does not exist (already gone?)"
        panel.scale_to(0)
        panel.wait(until=lambda df: not core.list_namespaced_pod(namespace).items, timeout=60)
        assert panel.scale(-1) == "cannot scale web to -1: replicas cannot be below zero"
        assert apps.read_namespaced_stateful_set("web", namespace).spec.replicas == 0

        # pause freezes the frame; the slider looks back; resume follows again
        panel.pause()
        assert not panel.slider.disabled
        assert panel.scrub(0.5).startswith("showing t = 0.5 s")
        assert "web-0 Pending" in panel.summary.value or "web-0 Running" in panel.summary.value
        panel.resume()
        panel.refresh()
        assert panel.summary.value == "web: no members"

        # the refresh thread dies: the next click says so and starts it again
        real = panel.refresh
        monkeypatch.setattr(panel, "refresh", _raise_once(real))
        panel._wake.set()
        wait_until(lambda: not panel._thread.is_alive(), timeout=10, what="the thread dying")  # type: ignore[union-attr]
        monkeypatch.setattr(panel, "refresh", real)
        panel.plus.click()
        assert "the panel's refresh had stopped: started again" in panel.said
        assert panel._thread is not None and panel._thread.is_alive()
        wait_until(
            lambda: _shown(panel, "web-0", "ADDED") and panel.frames > 0,
            timeout=10,
            what="frames again",
        )
    finally:
        rec.stop()
        panel.close()
    assert panel._thread is not None and not panel._thread.is_alive()


def _raise_once(real: Any) -> Any:
    calls = {"n": 0}

    def refresh() -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise SystemExit("the refresh thread killed")
        return bool(real())

    return refresh


def test_a_click_while_the_cluster_is_down_is_one_line(
    api: client.ApiClient, namespace: str
) -> None:
    _make(api, namespace, 0)
    rec = Recorder(api, namespace, kinds=["Pod"]).start()
    config = client.Configuration()
    config.host = f"https://{LOOPBACK}:{free_port()}"  # nothing listens there
    config.verify_ssl = False
    down = client.ApiClient(config)
    panel = Panel(rec, down, namespace, statefulset="web")
    try:
        started = time.monotonic()
        said = panel.plus.click() or panel.status
        assert said.startswith("cannot read web's replicas: cannot reach the API server"), said
        assert "\n" not in said and time.monotonic() - started < 10
        said = panel.delete("web-0")
        assert "cannot reach the API server" in said and "\n" not in said
        assert panel.refresh()  # the panel keeps drawing what was recorded
    finally:
        rec.stop()
        panel.close()
