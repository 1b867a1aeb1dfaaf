"""The room on the cluster, without one: what the hub may do, what it is told, bad flags."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from stslab.cli import main
from stslab.lab.roster import Learner, WorkshopRecord
from stslab.ops import hub_kube


def _rec() -> WorkshopRecord:
    rec = WorkshopRecord("room1", "/nowhere/kubeconfig", "ctx", "https://203.0.113.7:6443")
    for name in ("ann", "bob"):
        rec.learners[name] = Learner(
            name, f"learner-{name}", f"/state/{name}/kubeconfig", "2030-01-01T00:00:00+00:00", "d"
        )
    return rec


def test_the_hub_may_touch_only_pods_and_read_their_events_in_learners_namespaces() -> None:
    role = hub_kube.hub_role("room1")
    assert role["kind"] == "ClusterRole"  # bound per namespace only, never cluster wide
    verbs = {r["resources"][0]: set(r["verbs"]) for r in role["rules"]}
    assert verbs == {
        "pods": {"get", "list", "watch", "create", "delete"},
        "events": {"get", "list", "watch"},
    }
    binding = hub_kube.hub_binding("room1", "learner-ann")
    assert binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] == "learner-ann"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hub", "namespace": "stslab-room-room1"}
    ]


def test_the_hub_is_told_code_digests_and_namespaces_never_kubeconfigs_or_codes() -> None:
    settings = hub_kube.room_settings(_rec(), "localhost/stslab-room:x", "stslab-worker", "tok")
    assert settings["learners"]["ann"] == {
        "code_sha256": "d",
        "expires": "2030-01-01T00:00:00+00:00",
        "namespace": "learner-ann",
    }
    objs = hub_kube.hub_objects(settings)
    kinds = [o["kind"] for o in objs]
    assert kinds == ["Namespace", "Secret", "ServiceAccount", "Deployment", "Service"]
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert "kubeconfig" not in secret["stringData"]["room.json"]
    assert json.loads(secret["stringData"]["room.json"])["account"] == "learner"
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000  # the hub is no root
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "stslab-worker"}  # the image is there


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--image", "x"], "--image is for a room on the cluster"),
        (["--kubernetes", "--root", "/srv/x"], "--root is for a room on this machine"),
    ],
)
def test_flags_that_do_not_go_together_are_one_line(
    args: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["workshop", "serve", *args])
    assert code == 2 and says in err.getvalue() and err.getvalue().count("\n") == 1, err.getvalue()
