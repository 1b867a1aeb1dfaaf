"""kind, k3d and existing: command and config construction (no Docker on our machines)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stslab.cluster.base import UpOptions
from stslab.cluster.choose import choose_auto
from stslab.cluster.containers import K3dBackend, KindBackend
from stslab.cluster.existing import default_namespace, extract_context
from stslab.cluster.kwok import KwokBackend
from stslab.core.errors import ClusterStateError, UsageError
from stslab.core.labels import ZONE_LABEL
from stslab.core.paths import binary_dir
from stslab.core.versions import pinned


def test_kind_config_and_command(isolated_state: Path) -> None:
    kind = KindBackend()
    cfg = kind.render_config(UpOptions(nodes=4))
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane"] + ["worker"] * 4
    zones = [n["labels"][ZONE_LABEL] for n in cfg["nodes"][1:]]
    assert zones == ["zone-a", "zone-b", "zone-c", "zone-a"]
    assert cfg["networking"]["apiServerAddress"] == "127.0.0.1"
    cmd = kind.create_command(UpOptions(), isolated_state / "kind" / "config.yaml")
    assert Path(cmd[0]).name == "kind" and cmd[1:3] == ["create", "cluster"]
    assert cmd[cmd.index("--image") + 1] == pinned().kind_node_image
    # The kubeconfig goes to the state dir, never to ~/.kube/config.
    assert cmd[cmd.index("--kubeconfig") + 1] == str(isolated_state / "kind" / "kubeconfig")
    assert "--kubeconfig" in kind.delete_command()


def test_kind_and_kwok_share_the_kubernetes_minor() -> None:
    v = pinned()
    assert v.kind_node_image.split(":v")[1].startswith(v.kubernetes_minor + ".")
    assert v.k3s_image.split(":v")[1].startswith(v.kubernetes_minor + ".")


def test_k3d_config_and_command(isolated_state: Path) -> None:
    k3d = K3dBackend()
    cfg = k3d.render_config(UpOptions(nodes=2))
    assert cfg["apiVersion"] == "k3d.io/v1alpha5" and cfg["kind"] == "Simple"
    assert cfg["servers"] == 1 and cfg["agents"] == 2
    assert cfg["image"] == pinned().k3s_image
    assert cfg["kubeAPI"]["hostIP"] == "127.0.0.1"
    assert cfg["options"]["kubeconfig"] == {
        "updateDefaultKubeconfig": False,
        "switchCurrentContext": False,
    }
    labels = {tuple(x["nodeFilters"]): x["label"] for x in cfg["options"]["k3s"]["nodeLabels"]}
    assert labels[("agent:1",)] == f"{ZONE_LABEL}=zone-b"
    assert k3d.create_command(UpOptions(), Path("c.yaml"))[:3] == ["k3d", "cluster", "create"]


def test_shipped_configs_parse_and_only_use_known_fields() -> None:
    # The published schemas' top-level fields (kind v1alpha4 Cluster, k3d v1alpha5 Simple).
    root = Path(__file__).resolve().parent.parent / "clusters"
    kind = yaml.safe_load((root / "kind/kind.yaml").read_text())
    assert set(kind) <= {
        "kind",
        "apiVersion",
        "name",
        "nodes",
        "networking",
        "featureGates",
        "runtimeConfig",
        "kubeadmConfigPatches",
        "containerdConfigPatches",
    }
    for node in kind["nodes"]:
        assert set(node) <= {
            "role",
            "image",
            "labels",
            "extraMounts",
            "extraPortMappings",
            "kubeadmConfigPatches",
        }
    k3d = yaml.safe_load((root / "k3d/k3d.yaml").read_text())
    assert set(k3d) <= {
        "apiVersion",
        "kind",
        "metadata",
        "servers",
        "agents",
        "kubeAPI",
        "image",
        "network",
        "subnet",
        "token",
        "volumes",
        "ports",
        "env",
        "registries",
        "hostAliases",
        "files",
        "options",
    }


def test_preload_commands_use_pinned_images() -> None:
    cmds = KindBackend().preload_commands(["busybox:1.28"])
    assert cmds == [
        ["docker", "pull", "busybox:1.28"],
        ["kind", "load", "docker-image", "--name", "stslab", "busybox:1.28"],
    ]


def test_auto_falls_back_to_kwok_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker, kind or k3d
    backend, why = choose_auto()
    assert backend.name == "kwok"
    assert "docker" in why.lower()


KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "a",
    "clusters": [
        {"name": "ca", "cluster": {"server": "https://a.example:6443"}},
        {"name": "cb", "cluster": {"server": "https://b.example:6443"}},
    ],
    "users": [{"name": "ua", "user": {"token": "x"}}, {"name": "ub", "user": {"token": "y"}}],
    "contexts": [
        {"name": "a", "context": {"cluster": "ca", "user": "ua"}},
        {"name": "b", "context": {"cluster": "cb", "user": "ub"}},
    ],
}


def test_existing_extracts_only_the_named_context() -> None:
    out = extract_context(KUBECONFIG, "b")
    assert out["current-context"] == "b"
    assert [c["name"] for c in out["clusters"]] == ["cb"]
    assert [u["name"] for u in out["users"]] == ["ub"]


def test_existing_unknown_context_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="has: a, b"):
        extract_context(KUBECONFIG, "prod")


def test_existing_needs_a_context(isolated_state: Path) -> None:
    from stslab.cluster.existing import ExistingBackend

    with pytest.raises(UsageError, match="--context"):
        ExistingBackend().up(UpOptions())
    assert not isolated_state.exists()


def test_default_namespace_is_a_valid_name() -> None:
    ns = default_namespace()
    assert ns.startswith("stslab-") and len(ns) <= 63


def _go_check(
    go: str, checker: Path, timeout: float, *files: Path
) -> subprocess.CompletedProcess[str]:
    """``go run .`` of a config checker module on ``files``."""
    return subprocess.run(
        [go, "run", ".", *map(str, files)],
        cwd=checker,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_kind_configs_decode_strictly_into_kinds_own_types(tmp_path: Path) -> None:
    go = shutil.which("go")
    if not go:
        pytest.skip("needs Go (the kind API types come from the Go module proxy)")
    rendered = tmp_path / "kind-4-nodes.yaml"
    rendered.write_text(yaml.safe_dump(KindBackend().render_config(UpOptions(nodes=4))))
    broken = tmp_path / "kind-typo.yaml"
    broken.write_text(rendered.read_text().replace("labels:", "lables:", 1))
    checker = Path(__file__).resolve().parent / "configcheck"
    shipped = checker.parent.parent / "clusters/kind/kind.yaml"

    ok = _go_check(go, checker, 300, shipped, rendered)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _go_check(go, checker, 300, broken)
    assert bad.returncode != 0 and 'unknown field "lables"' in bad.stdout


# Cold (empty module and build caches) the checker downloads k3d's dependencies and compiles
# about 500 packages (k3d's config package imports its Docker runtime): minutes on 2 cores.
@pytest.mark.timeout(900)
def test_k3d_configs_decode_strictly_into_k3ds_own_types(tmp_path: Path) -> None:
    go = shutil.which("go")
    if not go:
        pytest.skip("needs Go (the k3d config types come from the Go module proxy)")
    checker = Path(__file__).resolve().parent / "configcheck-k3d"
    # go.mod must name the version literally; it is the one pinned in clusters/versions.env.
    gomod = (checker / "go.mod").read_text()
    assert f"github.com/k3d-io/k3d/v5 {pinned().k3d}\n" in gomod
    rendered = tmp_path / "k3d-4-agents.yaml"
    rendered.write_text(yaml.safe_dump(K3dBackend().render_config(UpOptions(nodes=4))))
    broken = tmp_path / "k3d-typo.yaml"
    broken.write_text(rendered.read_text().replace("- label:", "- lable:", 1))
    shipped = checker.parent.parent / "clusters/k3d/k3d.yaml"

    ok = _go_check(go, checker, 840, shipped, rendered)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == [f"{shipped}: ok", f"{rendered}: ok"]
    bad = _go_check(go, checker, 840, broken)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    # Both k3d's JSON schema and the strict decode into v1alpha5.SimpleConfig refuse it.
    assert "nodeLabels.0: Additional property lable is not allowed" in bad.stdout
    assert "'options.k3s.nodeLabels[0]' has invalid keys: lable" in bad.stdout


def test_the_k3d_cli_builds_at_the_pinned_version() -> None:
    k3d = binary_dir("k3d", pinned().k3d)
    if not (k3d / ".complete").is_file():
        pytest.skip("the k3d CLI is optional: build it with `scripts/build-binaries.sh k3d`")
    out = subprocess.run(
        [str(k3d / "k3d"), "version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    k3s = pinned().k3s_image.split(":", 1)[1]
    assert f"k3d version {pinned().k3d}" in out and f"k3s version {k3s}" in out


def test_a_second_command_on_a_busy_cluster_is_refused(tmp_path: Path) -> None:
    first = KwokBackend(tmp_path / "s")
    with first.exclusive("up"):  # as a `stslab up` still starting would hold it
        with pytest.raises(ClusterStateError, match="busy") as err:
            KwokBackend(tmp_path / "s").up(UpOptions())
        assert f"pid {os.getpid()}" in str(err.value) and "stslab up" in str(err.value)
        with pytest.raises(ClusterStateError, match="busy"):
            KwokBackend(tmp_path / "s").down()
    assert not first.dir.exists()  # nothing was started
    with first.exclusive("down"):  # free again
        pass


def test_lab_code_asks_the_backend_what_it_can_do() -> None:
    from stslab.cluster.base import ClusterRecord
    from stslab.cluster.existing import ExistingBackend

    kwok, kind, existing = KwokBackend(), KindBackend(), ExistingBackend()
    assert (kwok.runs_containers, kwok.can_add_nodes, kwok.shared) == (False, True, False)
    assert (kind.runs_containers, kind.can_add_nodes, kind.shared) == (True, False, False)
    assert existing.shared and not existing.can_add_nodes
    rec = ClusterRecord("kwok", "k", "c", extra={"volumes": "/x/volumes", "dns_port": 35353})
    assert kwok.local_volume_dir(rec) == Path("/x/volumes")
    assert kwok.dns_server(rec) == ("127.0.0.1", 35353)
    assert kind.local_volume_dir(rec) is None and kind.dns_server(rec) is None


def test_an_apiserver_serving_another_clusters_data_is_refused(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from stslab.cluster.base import ClusterRecord
    from stslab.cluster.kwok.isolation import check_identity

    class Core:  # answers as an apiserver on someone else's etcd would
        def read_namespace(self, name: str, **_: object) -> SimpleNamespace:
            return SimpleNamespace(metadata=SimpleNamespace(uid="theirs"))

    rec = ClusterRecord("kwok", "k", "c", extra={"identity": "ours"})
    with pytest.raises(ClusterStateError, match="another cluster's data") as err:
        check_identity(rec, Core(), {"etcd": 20001}, tmp_path)
    assert "20001" in str(err.value) and "stop the other lab cluster" in str(err.value)
    check_identity(
        ClusterRecord("kwok", "k", "c", extra={"identity": "theirs"}), Core(), {}, tmp_path
    )
