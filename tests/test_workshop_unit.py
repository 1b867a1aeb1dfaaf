"""Workshop pieces that need no cluster: learner names, the context guard, kubeconfig reading."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from stslab.core.errors import ClusterStateError, StslabError, UsageError
from stslab.core.labels import LEARNER_LABEL, POOL_LABEL
from stslab.lab.context import Lab, learner_toleration
from stslab.lab.pools import pool_sizes
from stslab.ops import workshop

T = workshop.Target(Path("/nowhere/kubeconfig"), "prod-eu-1", "https://203.0.113.7:6443")


def test_learner_names() -> None:
    assert workshop.learner_names(3) == ["01", "02", "03"]
    assert workshop.learner_names(120)[-1] == "120"
    assert workshop.learner_names(names=" ann, bob ,") == ["ann", "bob"]
    for bad in ("Ann", "a_b", "x" * 60, "ann,ann", ""):
        with pytest.raises(UsageError):
            workshop.learner_names(names=bad)
    with pytest.raises(UsageError):
        workshop.learner_names(0)
    with pytest.raises(UsageError):
        workshop.learner_names()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_guard_asks_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(StslabError, match="cancelled; nothing was changed"):
        workshop.confirm(T, "delete workshop 'x'", yes=False)
    assert "'prod-eu-1'" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    workshop.confirm(T, "delete workshop 'x'", yes=False)


def test_guard_without_a_terminal_needs_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())
    with pytest.raises(UsageError, match=r"'prod-eu-1' \(https://203.0.113.7:6443\)") as e:
        workshop.confirm(T, "create 2 learner namespace(s)", yes=False)
    assert "--yes" in e.value.fix
    workshop.confirm(T, "create 2 learner namespace(s)", yes=True)


def test_target_reads_the_named_or_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    config = {
        "clusters": [
            {"name": "a", "cluster": {"server": "https://a.example:6443"}},
            {"name": "b", "cluster": {"server": "https://b.example:6443"}},
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "ctx-a", "context": {"cluster": "a", "user": "u"}},
            {"name": "ctx-b", "context": {"cluster": "b", "user": "u"}},
        ],
        "current-context": "ctx-b",
    }
    path.write_text(yaml.safe_dump(config))
    before = path.read_bytes()
    assert workshop.target(path).server == "https://b.example:6443"
    assert workshop.target(path, "ctx-a").context == "ctx-a"
    with pytest.raises(UsageError, match="ctx-a, ctx-b"):
        workshop.target(path, "ctx-c")
    with pytest.raises(UsageError, match="cannot read"):
        workshop.target(tmp_path / "missing")
    assert path.read_bytes() == before


def test_learner_kubeconfig_is_one_namespaced_context() -> None:
    doc = workshop.learner_kubeconfig(
        "ws", "learner-ann", {"server": "https://a.example:6443"}, "tok"
    )
    assert doc["current-context"] == "learner-ann"
    assert doc["contexts"][0]["context"]["namespace"] == "learner-ann"
    assert doc["users"][0]["user"] == {"token": "tok"}


def test_a_cluster_older_than_1_30_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ValidatingAdmissionPolicy v1 served: the version needed, before anything is made."""

    class Served:  # what an older API server lists under admissionregistration.k8s.io/v1
        def __init__(self, api: object) -> None:
            pass

        def get_api_resources(self) -> object:
            hooks = SimpleNamespace(name="validatingwebhookconfigurations")
            return SimpleNamespace(resources=[hooks])

        def get_code(self) -> object:
            return SimpleNamespace(git_version="v1.29.4")

    monkeypatch.setattr("kubernetes.client.AdmissionregistrationV1Api", Served)
    monkeypatch.setattr("kubernetes.client.VersionApi", Served)
    target = workshop.Target(context="old", server="https://old.example:6443", kubeconfig=Path("k"))
    with pytest.raises(UsageError) as e:
        workshop.check_can_confine(object(), target)
    assert "v1.29.4" in str(e.value) and "1.30 or later" in e.value.fix


def _lab(learner: str | None, *, can_add_nodes: bool = True) -> Lab:
    lab = Lab.__new__(Lab)  # no cluster: only what label and the pools read
    lab.namespace = f"learner-{learner}" if learner else "lab-05"
    lab.learner, lab.machines = learner, None
    lab.cluster = SimpleNamespace(can_add_nodes=can_add_nodes)  # type: ignore[assignment]
    return lab


def test_a_learners_pods_tolerate_and_go_to_their_own_machines() -> None:
    sts = {"kind": "StatefulSet", "metadata": {"name": "zk"}, "spec": {"template": {"spec": {}}}}
    ann = _lab("ann")
    spec = ann.label(copy.deepcopy(sts))["spec"]["template"]["spec"]
    assert spec["tolerations"] == [learner_toleration("ann")] and "nodeSelector" not in spec
    ann.machines = "learner-ann-node"  # after own_machines: their pods go there
    spec = ann.label(ann.label(copy.deepcopy(sts)))["spec"]["template"]["spec"]  # twice: same
    assert spec["tolerations"] == [learner_toleration("ann")]
    assert spec["nodeSelector"] == {POOL_LABEL: "learner-ann-node"}
    pv = ann.label({"kind": "PersistentVolume", "metadata": {"name": "learner-ann-1"}})
    assert pv["metadata"]["labels"][LEARNER_LABEL] == "ann"
    mine = _lab(None).label(copy.deepcopy(sts))  # one's own cluster: nothing added
    assert mine["spec"]["template"]["spec"] == {}


def test_a_real_shared_cluster_keeps_its_workers() -> None:
    """A learner where no machine can be added: one line, before any worker is touched."""
    with pytest.raises(ClusterStateError) as e:
        pool_sizes(_lab("ann", can_add_nodes=False))
    assert "other learners' pods" in e.value.cause and "stslab up" in e.value.fix
    assert _lab("ann", can_add_nodes=False).own_machines(3) == []  # lab 05: no cordon there
