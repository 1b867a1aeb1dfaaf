"""The recorder's watches against the live apiserver: bounded, stoppable, surviving 410 Gone."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.kube import wait_until
from stslab.observe.recorder import Recorder

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
