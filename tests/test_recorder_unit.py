"""The recorder's event handling and health, without a cluster (the live tests are beside it)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from kubernetes import client  # noqa: E402

from stslab.observe.recorder import Recorder, _Source  # noqa: E402
from stslab.observe.timeline import show_health  # noqa: E402


def _source() -> tuple[Recorder, _Source]:
    api = client.ApiClient(client.Configuration())
    rec = Recorder(api, "ns", kinds=["Pod"])
    return rec, _Source("Pod", api, "ns", None)


def test_a_bookmark_as_the_client_gives_it_moves_the_resource_version() -> None:
    rec, src = _source()
    # kubernetes client 37 yields a BOOKMARK's object as a plain dict, not a V1Pod
    event: dict[str, Any] = {
        "type": "BOOKMARK",
        "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "4711"}},
    }
    rec._handle(src, event)
    assert src.rv == "4711" and rec.bookmarks == 1 and not rec.rows


def test_an_added_pod_is_recorded_and_moves_the_resource_version() -> None:
    rec, src = _source()
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="web-2", uid="u", resource_version="12"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c")]),
        status=client.V1PodStatus(phase="Pending"),
    )
    rec._handle(src, {"type": "ADDED", "object": pod})
    assert src.rv == "12" and rec.frame()["ordinal"].tolist() == [2]


def test_health_names_the_trouble_and_the_frame_shows_it() -> None:
    rec, _ = _source()
    rec.started_at = 0.0
    rec.max_seconds = 1e12
    assert rec.health == ""
    rec._trouble["Pod"] = (0.0, "Connection refused")
    assert rec.health.startswith("reconnecting… (Pod") and "Connection refused" in rec.health
    fig = plt.figure()
    show_health(fig, rec)
    assert any("reconnecting" in t.get_text() for t in fig.texts)
    rec._trouble.clear()
    show_health(fig, rec)
    assert not any("reconnecting" in t.get_text() for t in fig.texts)
    plt.close(fig)


def test_errors_are_bounded() -> None:
    rec, _ = _source()
    for i in range(500):
        rec._note("Pod", f"problem {i}")
    assert len(rec.errors) == 100 and rec.errors[-1] == "Pod: problem 499"


def test_the_recording_keeps_only_the_newest_rows() -> None:
    api = client.ApiClient(client.Configuration())
    rec = Recorder(api, "ns", kinds=["Pod"], max_rows=3)
    for i in range(5):
        pod = client.V1Pod(metadata=client.V1ObjectMeta(name=f"web-{i}", uid=f"u{i}"))
        rec.record("Pod", "ADDED", pod, {})
    df = rec.frame()
    assert list(df["name"]) == ["web-2", "web-3", "web-4"] and rec.dropped == 2
    df.loc[0, "name"] = "changed"  # a caller's change never reaches the recording
    assert rec.frame()["name"].iloc[0] == "web-2"
