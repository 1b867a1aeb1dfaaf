"""Workshops against a real apiserver (the session's simulated cluster as the shared cluster).

The instructor's kubeconfig is a copy of the simulated cluster's admin kubeconfig; learners get
ServiceAccount tokens, so every "refused" below is the real RBAC authorizer answering 403.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from stslab.cli import main
from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.existing import ExistingBackend
from stslab.core.errors import UsageError
from stslab.core.kube import api_client, wait_until
from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL
from stslab.core.paths import HEADLESS_ENV
from stslab.lab import check, dra, progress
from stslab.lab.context import Lab
from stslab.lab.pools import learner_taint
from stslab.ops import workshop

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[1]


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


def _refused(says: str, fn: Callable[..., object], *args: object) -> str:
    """``fn(*args)`` must be denied by the workshop's admission policy; its message."""
    with pytest.raises(ApiException) as e:
        fn(*args)
    assert e.value.status == 403, e.value.body
    message = str(yaml.safe_load(e.value.body)["message"])
    assert "ValidatingAdmissionPolicy 'stslab-workshop-" in message and says in message, message
    return message


def test_learners_make_and_change_only_their_own_cluster_objects(ws: Workshop) -> None:
    """Each confined kind: a learner's own is allowed; another's is refused by the policy."""
    a, b = f"ann-{ws.name}", f"bob-{ws.name}"
    ann, ann_ns = _learner_api(ws, "ann")
    bob, bob_ns = _learner_api(ws, "bob")
    ann_sc = client.StorageV1Api(ann.api_client)
    bob_sc = client.StorageV1Api(bob.api_client)

    def meta(name: str, owner: str | None) -> dict[str, object]:
        return {"name": name, "labels": {LEARNER_LABEL: owner} if owner else {}}

    def pv(name: str, owner: str | None) -> dict[str, object]:
        return {
            "metadata": meta(name, owner),
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/x"},
            },
        }

    def sc(name: str, owner: str | None) -> dict[str, object]:
        return {"metadata": meta(name, owner), "provisioner": "kubernetes.io/no-provisioner"}

    def node(name: str, owner: str | None) -> dict[str, object]:  # tainted for its owner alone
        return {"metadata": meta(name, owner), "spec": {"taints": [learner_taint(owner or "x")]}}

    cordon = {"spec": {"unschedulable": True}}
    kinds = [
        (pv, ann.create_persistent_volume, ann.patch_persistent_volume,
         ann.delete_persistent_volume, bob.patch_persistent_volume,
         bob.delete_persistent_volume, {"spec": {"persistentVolumeReclaimPolicy": "Delete"}}),
        (sc, ann_sc.create_storage_class, ann_sc.patch_storage_class,
         ann_sc.delete_storage_class, bob_sc.patch_storage_class,
         bob_sc.delete_storage_class, {"metadata": {"annotations": {"x": "y"}}}),
        (node, ann.create_node, ann.patch_node, ann.delete_node, bob.patch_node,
         bob.delete_node, cordon),
    ]  # fmt: skip
    for make, create, patch, delete, bob_patch, bob_delete, change in kinds:
        mine = f"{ann_ns}-1"  # named as labs name them: after the namespace
        try:
            create(make(mine, a))  # their own: allowed
            patch(mine, change)  # and changed (a cordon, for a node)
            _refused("only named", create, make(f"{bob_ns}-1", b))  # another's name
            _refused("only named", create, make(f"{a}-2", a))  # not after the namespace
            _refused("labelled", create, make(f"{ann_ns}-2", None))  # no label
            _refused("labelled", create, make(f"{ann_ns}-3", b))  # another's label
            _refused("only their own", bob_patch, mine, change)
            _refused("not " + mine, bob_delete, mine)
            give = {"metadata": {"labels": {LEARNER_LABEL: b}}}
            _refused("another learner's", patch, mine, give)  # giving it away
        finally:
            delete(mine)
    # The cluster's own machines stay out of reach (a lab's cordon on a shared cluster), their
    # status too (a simulated machine's GPUs).
    _refused("not kwok-worker-1", ann.patch_node, "kwok-worker-1", cordon)
    gpus = {"status": {"capacity": {"nvidia.com/gpu": "8"}}}
    _refused("not kwok-worker-1", ann.patch_node_status, "kwok-worker-1", gpus)
    # A learner's machine keeps its taint: no machine of theirs draws other learners' pods.
    bare = {"metadata": meta(f"{ann_ns}-5", a)}
    _refused(f"keep the taint {LEARNER_LABEL}={a}:NoSchedule", ann.create_node, bare)
    ann.create_node(node(f"{ann_ns}-5", a))
    try:
        _refused("keep the taint", ann.patch_node, f"{ann_ns}-5", {"spec": {"taints": None}})
        ann.patch_node_status(f"{ann_ns}-5", gpus)  # their own machine's GPUs: allowed
        # Devices (DRA) are published only for their own machines.
        if dra.served(ann.api_client):
            dyn = dynamic.DynamicClient(ann.api_client)
            slices = dyn.resources.get(api_version=dra.API, kind="ResourceSlice")
            theirs = dra.resource_slice("kwok-worker-1", 4, "fake")
            theirs["metadata"] |= {"name": f"{ann_ns}-6", "labels": {LEARNER_LABEL: a}}
            _refused("only on their own machines", lambda: slices.create(body=theirs))
            own = dra.resource_slice(f"{ann_ns}-5", 4, "fake")
            own["metadata"] |= {"name": f"{ann_ns}-7", "labels": {LEARNER_LABEL: a}}
            slices.create(body=own)
            _refused("only their own", _bobs_delete(bob, "ResourceSlice"), f"{ann_ns}-7")
            slices.delete(name=f"{ann_ns}-7")
    finally:
        ann.delete_node(f"{ann_ns}-5")
    # Namespaces are RBAC's: no learner deletes another's, or their own.
    assert _status(lambda: ann.delete_namespace(f"learner-{b}")) == 403


def test_an_expired_token_is_one_line(
    ws: Workshop,
    api: client.ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token the API server no longer accepts: one line, and nothing made or recorded.

    An expired token and a revoked one get the same 401 from the API server; the revoked one is
    made here (its ServiceAccount deleted), since the shortest token lives 10 minutes.
    """
    learner = ws.learners[f"ann-{ws.name}"]
    core = client.CoreV1Api(api)
    ns = learner.namespace
    core.create_namespaced_service_account(ns, {"metadata": {"name": "short-lived"}})
    token = core.create_namespaced_service_account_token(
        "short-lived", ns, {"spec": {"expirationSeconds": 600}}
    ).status.token
    core.delete_namespaced_service_account("short-lived", ns)
    kubeconfig = yaml.safe_load(Path(learner.kubeconfig).read_text())
    kubeconfig["users"][0]["user"] = {"token": token}
    revoked = tmp_path / "kubeconfig"
    revoked.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(revoked))
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "state"))
    wait_until(
        lambda: _status(lambda: client.CoreV1Api(api_client(revoked)).read_namespace(ns)) == 401,
        timeout=30,
        what="the deleted account's token being refused",
    )
    code = main(["up", "--backend", "existing", "--context", ns, "--namespace", ns])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "401" in err and "new kubeconfig" in err and "\n" not in err, err
    assert main(["status"]) != 0  # nothing recorded
    capsys.readouterr()


def _bobs_delete(bob: client.CoreV1Api, kind: str) -> Callable[[str], object]:
    res = dynamic.DynamicClient(bob.api_client).resources.get(api_version=dra.API, kind=kind)
    return lambda name: res.delete(name=name)


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
        new_name = "the replacement got a new name"
        check.verdict(True, new_name, "no", "hint", exercise=new_name)
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


# The labs that use the account's every right: its own namespace (00), its own machines with a
# taint of its own (05), and its own device classes and slices (06). Every lab runs headless in
# tests/test_labs_run.py; here they prove what a learner's account may do (about 4 minutes).
CHECKED = ("00", "05", "06")


@pytest.mark.timeout(900)
def test_check_runs_labs_on_a_throwaway_learner_and_deletes_it(
    ws: Workshop,
    kwok_cluster: ClusterRecord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    api: client.ApiClient,
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    record_before = workshop.record_path().read_text()
    args = ["--kubeconfig", str(ws.kubeconfig), "--workshop", ws.name, "--yes"]
    assert main(["workshop", "check", *CHECKED, *args]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    made = re.search(r"learner (check-[0-9a-f]+) made", out)
    assert made, out
    learner = made.group(1)
    # The release and what it changes, as the learner's account sees it, above the table.
    assert re.search(r"^Kubernetes v1\.\d+\.\d+$", out, re.M), out
    assert "lab 07: `rollingUpdate.maxUnavailable` on a StatefulSet is on" in out
    assert "lab 06: Dynamic Resource Allocation" in out
    for lab in CHECKED:
        assert re.search(rf"{lab}\S*\s.*pass", out), out
    assert f"learner {learner} deleted" in out
    assert not client.CoreV1Api(api).list_node(label_selector=f"{LEARNER_LABEL}={learner}").items
    # Nothing of the throw-away learner is left, and the real workshop is untouched.
    sel = f"{WORKSHOP_LABEL}={ws.name}-check"
    assert not client.CoreV1Api(api).list_namespace(label_selector=sel).items
    admission = client.AdmissionregistrationV1Api(api)
    assert not admission.list_validating_admission_policy(label_selector=sel).items
    assert not (workshop.workshop_dir() / learner).exists()
    assert workshop.record_path().read_text() == record_before
    # Bad input: an unknown lab, and a context without the rights to install the policy.
    assert main(["workshop", "check", "99", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "no lab '99'" in err and "\n" not in err
    learner_kc = ws.learners[f"ann-{ws.name}"].kubeconfig
    code = main(["workshop", "check", "00", "--kubeconfig", learner_kc, "--yes"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "may not create validatingadmissionpolicies" in err and "\n" not in err, (
        err
    )


def test_the_instructors_notebook_shows_the_room(
    ws: Workshop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill as pm

    bob = ws.learners[f"bob-{ws.name}"]
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "bob"))  # bob's own machine
    monkeypatch.delenv("STSLAB_LEARNER", raising=False)
    progress.begin("lab-03", api=api_client(bob.kubeconfig), namespace=bob.namespace)
    try:
        progress.record("claim small binds to", False)  # bob's check, in his ConfigMap
    finally:
        progress.end()
    # The instructor's machine: the workshop record, read by the notebook.
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    monkeypatch.setenv(HEADLESS_ENV, "1")  # no one to see widgets: pictures, as `labs run` does
    out = tmp_path / "instructor.ipynb"
    pm.execute_notebook(
        str(ROOT / "labs" / "instructor.ipynb"),
        str(out),
        parameters={"interval": 0.5, "stuck_after": 0},
        kernel_name="python3",
        cwd=str(ROOT / "labs"),
        progress_bar=False,
    )
    text = out.read_text()
    assert f"workshop '{ws.name}'" in text
    assert bob.name in text and "lab-03: claim small binds to (fail)" in text
    assert "image/png" in text  # the picture of the room


def test_a_message_reaches_one_learner_or_the_room_at_their_next_check(
    ws: Workshop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ann, bob = ws.learners[f"ann-{ws.name}"], ws.learners[f"bob-{ws.name}"]
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))  # the instructor's machine
    assert main(["workshop", "say", "Read the claim's events", "--learner", ann.name]) == 0
    assert "sent to 1 learner(s)" in capsys.readouterr().out
    assert main(["workshop", "say", "x", "--learner", "nobody"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"workshop {ws.name!r} has no learner 'nobody'" in err and "\n" not in err

    def check_as(learner: workshop.Learner) -> str:
        monkeypatch.setenv("STSLAB_STATE", str(tmp_path / learner.name))  # their own machine
        progress.begin("lab-03", api=api_client(learner.kubeconfig), namespace=learner.namespace)
        try:
            check.verdict(True, "a step", "no", "hint")
        finally:
            progress.end()
        return capsys.readouterr().out

    said = check_as(ann)
    assert "📣 from your instructor" in said and "Read the claim's events" in said
    assert "Read the claim's events" not in check_as(ann)  # shown once only
    assert "Read the claim's events" not in check_as(bob)  # to ann alone
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    assert main(["workshop", "say", "Ten minutes left"]) == 0
    assert "sent to 2 learner(s)" in capsys.readouterr().out
    assert "Ten minutes left" in check_as(bob) and "Ten minutes left" in check_as(ann)
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    assert main(["workshop", "say", "Look at the ordinals", "--hint", "my_order"]) == 0
    said = check_as(bob)
    assert "💡 a hint from your instructor for my_order" in said and "Look at the ordinals" in said
    monkeypatch.setenv("STSLAB_STATE", str(ws.state))
    assert main(["workshop", "say", "x", "--hint", "my order!"]) == 2
    assert "is not an exercise name" in capsys.readouterr().err


def test_the_instructor_peeks_at_a_learners_namespace_and_changes_nothing(
    ws: Workshop, api: client.ApiClient
) -> None:
    from stslab.lab.room import RoomView

    ann = ws.learners[f"ann-{ws.name}"]
    apps = client.AppsV1Api(api_client(ann.kubeconfig))
    sts = {
        "metadata": {"name": "peeked"},
        "spec": {
            "replicas": 1,
            "serviceName": "peeked",
            "selector": {"matchLabels": {"app": "peeked"}},
            "template": {
                "metadata": {"labels": {"app": "peeked"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}]},
            },
        },
    }
    apps.create_namespaced_stateful_set(ann.namespace, sts)
    panel = RoomView(api, ws.name).peek(ann.name, statefulset="peeked")
    try:
        wait_until(
            lambda: "peeked-0" in set(panel.frame_df.get("name", [])),
            timeout=60,
            what="the peek to show peeked-0",
        )
        said = panel.scale(+1)
        assert said.startswith("read only") and panel.minus.disabled
        assert apps.read_namespaced_stateful_set("peeked", ann.namespace).spec.replicas == 1
        with pytest.raises(UsageError, match="has no learner 'nobody'"):
            RoomView(api, ws.name).peek("nobody")
    finally:
        panel.close()
        panel.recorder.stop()
        apps.delete_namespaced_stateful_set("peeked", ann.namespace)
