"""Workshops against a real apiserver (the session's simulated cluster as the shared cluster).

The instructor's kubeconfig is a copy of the simulated cluster's admin kubeconfig; learners get
ServiceAccount tokens, so every "refused" below is the real RBAC authorizer answering 403.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cli import main
from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.existing import ExistingBackend
from stslab.core.kube import api_client
from stslab.core.labels import WORKSHOP_LABEL
from stslab.lab import check, progress
from stslab.lab.context import Lab
from stslab.ops import workshop

pytestmark = pytest.mark.cluster


@dataclass
class Workshop:
    name: str
    state: Path
    kubeconfig: Path  # the instructor's
    learners: dict[str, workshop.Learner]


def _instructor_kubeconfig(kwok: ClusterRecord, path: Path, context: str | None = None) -> Path:
    shutil.copyfile(kwok.kubeconfig, path)
    if context:  # the same cluster under another context name
        data = yaml.safe_load(path.read_text())
        data["contexts"][0]["name"] = context
        data["current-context"] = context
        path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def ws(kwok_cluster: ClusterRecord, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workshop]:
    """Two learners, ann and bob, made once through the command line."""
    tmp = tmp_path_factory.mktemp("workshop")
    name = f"t-{uuid.uuid4().hex[:6]}"
    kubeconfig = _instructor_kubeconfig(kwok_cluster, tmp / "instructor-kubeconfig")
    before = kubeconfig.read_bytes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STSLAB_STATE", str(tmp / "instructor"))
        code = main(
            [
                "workshop",
                "create",
                "--names",
                f"ann-{name},bob-{name}",
                "--kubeconfig",
                str(kubeconfig),
                "--workshop",
                name,
                "--yes",
            ]
        )
        assert code == 0
        rec = workshop.WorkshopRecord.load()
        assert rec is not None
        yield Workshop(name, tmp / "instructor", kubeconfig, rec.learners)
        assert kubeconfig.read_bytes() == before  # the instructor's kubeconfig is only read
        main(["workshop", "delete", "--yes"])


def _learner_api(ws: Workshop, who: str) -> tuple[client.CoreV1Api, str]:
    learner = ws.learners[f"{who}-{ws.name}"]
    return client.CoreV1Api(api_client(learner.kubeconfig)), learner.namespace


def _status(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except ApiException as e:
        return int(e.status)
    return 200


def test_learners_work_in_their_own_namespace_only(ws: Workshop) -> None:
    ann, ann_ns = _learner_api(ws, "ann")
    bob, bob_ns = _learner_api(ws, "bob")
    for core, ns in ((ann, ann_ns), (bob, bob_ns)):
        core.create_namespaced_config_map(ns, {"metadata": {"name": "mine"}})
        core.create_namespaced_pod(
            ns,
            {
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}]},
            },
        )
        assert core.read_namespace(ns).metadata.labels[WORKSHOP_LABEL] == ws.name
        assert core.list_node().items  # the read the labs need cluster wide
    cm = {"metadata": {"name": "intruder"}}
    assert _status(lambda: ann.create_namespaced_config_map(bob_ns, cm)) == 403
    assert _status(lambda: bob.create_namespaced_config_map(ann_ns, cm)) == 403
    assert _status(lambda: ann.list_namespaced_pod(bob_ns)) == 403
    assert _status(lambda: ann.read_namespace(bob_ns)) == 403
    assert _status(lambda: ann.delete_namespace(ann_ns)) == 403  # their own stays theirs
    assert _status(lambda: ann.create_namespace({"metadata": {"name": "x"}})) == 403
    pv = {
        "metadata": {"name": f"{ann_ns}-pv"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/x"},
        },
    }
    assert _status(lambda: ann.create_persistent_volume(pv)) == 403
    assert _status(lambda: ann.patch_node("kwok-worker-1", {"spec": {}})) == 403


def test_list_shows_learners_and_kubeconfigs(
    ws: Workshop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    assert main(["workshop", "list"]) == 0
    out = capsys.readouterr().out
    for learner in ws.learners.values():
        assert learner.namespace in out and learner.kubeconfig in out
    kubeconfig = yaml.safe_load(Path(learner.kubeconfig).read_text())
    assert kubeconfig["contexts"][0]["context"]["namespace"] == learner.namespace
    assert "certificate-authority-data" in kubeconfig["clusters"][0]["cluster"]
    assert Path(learner.kubeconfig).stat().st_mode & 0o077 == 0


def test_progress_goes_to_the_learners_configmap(
    ws: Workshop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    learner = ws.learners[f"ann-{ws.name}"]
    ns = learner.namespace
    # The learner's side: their kubeconfig, the existing backend, a lab in their namespace.
    monkeypatch.setenv("KUBECONFIG", learner.kubeconfig)
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "ann"))
    monkeypatch.delenv("STSLAB_LEARNER", raising=False)
    # JupyterLab names the notebook to its kernel: that is how the lab is known here.
    monkeypatch.setenv("JPY_SESSION_NAME", "labs/01-stateless-vs-stateful.ipynb")
    ExistingBackend().up(UpOptions(context=ns, namespace=ns))
    core, _ = _learner_api(ws, "ann")
    core.create_namespaced_config_map(ns, {"metadata": {"name": "leftover"}})
    try:
        lab = Lab(ns, "existing", timeout=60)
        assert lab.lab == "lab-01"
        assert lab.shared  # a learner's namespace is emptied, never deleted
        left = {c.metadata.name for c in core.list_namespaced_config_map(ns).items}
        assert "leftover" not in left and "mine" not in left
        assert not core.list_namespaced_pod(ns).items
        check.verdict(True, "the replacement got a new name", "no", "hint")
        with pytest.raises(check.CheckFailedError):
            check.answer(["web-1"], ["web-0"], question="creation order", hint="h")
    finally:
        progress.end()
    name = f"ann-{ws.name}"  # from the namespace's learner label
    local = progress.load_local()
    assert [(r.learner, r.lab, r.exercise, r.result) for r in local] == [
        (name, "lab-01", "the replacement got a new name", "pass"),
        (name, "lab-01", "creation order", "fail"),
    ]
    assert progress.read_cluster(api_client(learner.kubeconfig), ns) == local
    capsys.readouterr()
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "the replacement got a new name" in out and "creation order" in out and "fail" in out
    # The instructor's side: everyone's results, read from the learners' ConfigMaps.
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    assert main(["progress", "--all"]) == 0
    out = capsys.readouterr().out
    assert name in out and "1/2" in out
    assert main(["progress", "--all", "--learner", name]) == 0
    assert "creation order" in capsys.readouterr().out
    # A reset of that lab in the learner's namespace clears its records there too.
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "ann"))
    assert main(["labs", "reset", "01", "--namespace", ns]) == 0
    assert not progress.load_local() and not progress.read_cluster(
        api_client(learner.kubeconfig), ns
    )
    assert core.read_namespace(ns)  # still there


def test_wrong_context_without_yes_is_refused(
    kwok_cluster: ClusterRecord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    api: client.ApiClient,
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "state"))
    kubeconfig = _instructor_kubeconfig(kwok_cluster, tmp_path / "kc", context="prod-eu-1")
    name = f"t-{uuid.uuid4().hex[:6]}"
    args = ["--kubeconfig", str(kubeconfig), "--workshop", name]
    code = main(["workshop", "create", "--names", "zed", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err
    assert (
        "'prod-eu-1'" in err
        and "--yes" in err
        and kwok_cluster.extra["api_port"]
        and (str(kwok_cluster.extra["api_port"]) in err)
    )
    core = client.CoreV1Api(api)
    assert not core.list_namespace(label_selector=f"{WORKSHOP_LABEL}={name}").items
    assert _status(lambda: core.read_namespace("learner-zed")) == 404
    assert not (tmp_path / "state").exists()
    assert main(["workshop", "delete", *args]) == 2  # delete is guarded the same way
    assert "'prod-eu-1'" in capsys.readouterr().err


def test_delete_removes_namespaces_cluster_rbac_and_files(
    kwok_cluster: ClusterRecord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api: client.ApiClient,
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "state"))
    kubeconfig = _instructor_kubeconfig(kwok_cluster, tmp_path / "kc")
    name = f"t-{uuid.uuid4().hex[:6]}"
    args = ["--kubeconfig", str(kubeconfig), "--workshop", name, "--yes"]
    assert main(["workshop", "create", "--learners", "2", *args]) == 0
    sel = f"{WORKSHOP_LABEL}={name}"
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    assert len(core.list_namespace(label_selector=sel).items) == 2
    assert len(rbac.list_cluster_role_binding(label_selector=sel).items) == 2
    assert len(rbac.list_cluster_role(label_selector=sel).items) == 1
    assert (tmp_path / "state" / "workshop" / "01" / "kubeconfig").exists()
    # Someone else's namespace that merely looks like a learner's is left alone.
    core.create_namespace({"metadata": {"name": f"learner-{name}"}})
    assert main(["workshop", "delete", *args]) == 0
    assert not core.list_namespace(label_selector=sel).items
    assert not rbac.list_cluster_role_binding(label_selector=sel).items
    assert not rbac.list_cluster_role(label_selector=sel).items
    assert not (tmp_path / "state" / "workshop").exists()
    assert core.read_namespace(f"learner-{name}")
    core.delete_namespace(f"learner-{name}")
