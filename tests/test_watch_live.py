"""The recorder's watches against the live apiserver: bounded, stoppable, surviving 410 Gone."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest
from helpers import CuttableProxy
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.kube import wait_until
from stslab.observe.recorder import Recorder
from stslab.observe.timeline import show_health

pytestmark = pytest.mark.cluster


def test_records_changes_and_stops_promptly(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    rec = Recorder(api, namespace, kinds=["Pod"]).start()
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}]},
        },
    )
    wait_until(
        lambda: bool(rec.frame()["ready"].eq(True).any()),
        timeout=30,
        what="the pod's Ready change being recorded",
    )
    rec.stop()
    assert not rec.running
    df = rec.frame()
    assert list(df["event"][:1]) == ["ADDED"] and set(df["name"]) == {"p"}


def test_recording_ends_by_itself(api: client.ApiClient, namespace: str) -> None:
    rec = Recorder(api, namespace, kinds=["Pod"], max_seconds=1).start()
    wait_until(lambda: not rec.running, timeout=10, what="the recorder ending at max_seconds")


def test_410_gone_lists_again(
    api: client.ApiClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "x"}})
    calls = {"n": 0}
    real_watch = Recorder._watch

    def gone_once(self: Recorder, src: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # what the apiserver says once our resourceVersion is compacted
            raise ApiException(status=410, reason="Gone")
        real_watch(self, src)

    monkeypatch.setattr(Recorder, "_watch", gone_once)
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}]},
        },
    )
    with Recorder(api, namespace, kinds=["Pod"]) as rec:
        wait_until(
            lambda: rec.relists == 1 and "RELISTED" in set(rec.frame()["event"]),
            timeout=10,
            what="a relist after 410",
        )
        core.delete_namespaced_pod("p", namespace)
        wait_until(
            lambda: "DELETED" in set(rec.frame()["event"]),
            timeout=30,
            what="watching on after the relist",
        )


def _pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}]},
    }


def _names(rec: Recorder) -> set[str]:
    return set(rec.frame()["name"])


def test_a_bookmark_keeps_the_watch_going(api: client.ApiClient, namespace: str) -> None:
    # The apiserver sends a BOOKMARK about 2 s before a watch's deadline; its object is a
    # plain dict. A 4 s watch with a long read timeout gets one quickly.
    core = client.CoreV1Api(api)
    with Recorder(api, namespace, kinds=["Pod"], watch_seconds=4, read_timeout=10) as rec:
        wait_until(lambda: rec.bookmarks >= 1, timeout=20, what="a BOOKMARK event")
        core.create_namespaced_pod(namespace, _pod("after-bookmark"))
        wait_until(
            lambda: "after-bookmark" in _names(rec),
            timeout=20,
            what="a pod created after the bookmark being recorded",
        )
        assert rec.running and rec.health == "", rec.errors


def test_dropped_connections_back_off_and_recover(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    port = int(api.configuration.host.rsplit(":", 1)[1])
    proxy = CuttableProxy(port)
    conf = copy.copy(api.configuration)
    conf.host = f"https://127.0.0.1:{proxy.port}"
    try:
        with Recorder(client.ApiClient(conf), namespace, kinds=["Pod"]) as rec:
            proxy.cut()
            core.create_namespaced_pod(namespace, _pod("during-outage"))
            time.sleep(4)
            attempts = rec.reconnects
            assert "reconnecting" in rec.health, rec.health
            # bounded: the backoff doubles from 0.2 s, so a few retries in 4 s (not thousands)
            assert 2 <= attempts <= 10, f"{attempts} retries in 4 s: {rec.errors[-3:]}"
            proxy.restore()
            wait_until(
                lambda: "during-outage" in _names(rec) and rec.health == "",
                timeout=20,
                what="the recorder catching up after the connection came back",
            )
            assert rec.running
    finally:
        proxy.close()


def test_a_dead_watch_thread_is_revived_and_said(
    api: client.ApiClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Crash(BaseException):
        """Escapes every handler, as a bug in a watch thread would."""

    core = client.CoreV1Api(api)
    real_watch = Recorder._watch
    calls = {"n": 0}

    def crash_once(self: Recorder, src: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash
        real_watch(self, src)

    monkeypatch.setattr(Recorder, "_watch", crash_once)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # keep pytest's output clean
    with Recorder(api, namespace, kinds=["Pod"]) as rec:
        wait_until(lambda: not rec.running, timeout=10, what="the watch thread dying")
        assert "died" in rec.health
        fig = plt.figure()
        assert "died" in show_health(fig, rec)  # what a live view does every frame
        plt.close(fig)
        assert rec.revived == 1 and rec.running
        core.create_namespaced_pod(namespace, _pod("after-revival"))
        wait_until(
            lambda: "after-revival" in _names(rec), timeout=20, what="recording after revival"
        )
        assert rec.running and "reconnecting" not in rec.health
