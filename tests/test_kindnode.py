"""The offline kind node image: its inputs, its kubeadm patches, and the backend's use of it.

Building and running the image is the kind tier's job (tests/test_kind.py); these need no
Docker engine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stslab.cli import main
from stslab.cluster.base import UpOptions
from stslab.cluster.containers import KindBackend
from stslab.cluster.images import kindnode
from stslab.core.paths import project_root
from stslab.core.versions import pinned

FILES = project_root() / kindnode.FILES


def test_the_image_ref_names_the_version_and_a_key_of_every_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ref = kindnode.image_ref()
    assert ref.startswith(f"stslab.dev/kind-node:{pinned().kubernetes}-")
    assert kindnode.image_ref() == ref  # stable: a warm rebuild is a no-op
    # A changed node file gives a new image (and so no stale one is reused).
    copy = tmp_path / "project"
    shutil.copytree(project_root() / "clusters", copy / "clusters")
    (copy / kindnode.FILES / "kind/version.extra").write_text("x")
    monkeypatch.setattr(kindnode, "project_root", lambda: copy)
    assert kindnode.image_ref() != ref


def test_kubeadm_is_told_to_run_our_etcd_and_coredns() -> None:
    cluster, kubelet = (yaml.safe_load(p) for p in kindnode.kubeadm_patches())
    assert cluster["kind"] == "ClusterConfiguration"
    assert cluster["etcd"]["local"]["imageTag"] == pinned().etcd.lstrip("v") + "-0"
    assert cluster["dns"]["imageTag"] == pinned().coredns
    assert kindnode.etcd_ref().endswith(":" + cluster["etcd"]["local"]["imageTag"])
    assert kubelet == {"kind": "KubeletConfiguration", "resolvConf": "/kind/pod-resolv.conf"}


def test_kubeadm_lists_the_images_of_the_pinned_release() -> None:
    """The node image preloads what kubeadm runs: each image by its short name."""
    if not kindnode._bin("kindnode", "kubeadm").is_file():
        pytest.skip("kubeadm is built by `make kindnode` (make test builds it)")
    images = kindnode.kubeadm_images()
    assert images["kube-apiserver"] == f"registry.k8s.io/kube-apiserver:{pinned().kubernetes}"
    assert images["pause"].startswith("registry.k8s.io/pause:") and "etcd" in images


def test_offline_config_adds_the_patches_and_every_kind_config_allows_cgroup_v1(
    isolated_state: Path,
) -> None:
    kind = KindBackend()
    plain = kind.render_config(UpOptions(nodes=1))
    offline = kind.render_config(UpOptions(nodes=1, node_image="offline"))
    v1 = yaml.safe_load(plain["kubeadmConfigPatches"][0])
    assert v1 == {"kind": "KubeletConfiguration", "failCgroupV1": False}
    assert offline["kubeadmConfigPatches"][1:] == kindnode.kubeadm_patches()
    assert kind.node_image(UpOptions(node_image="offline")) == kindnode.image_ref()
    assert kind.node_image(UpOptions()) == pinned().kind_node_image
    assert kind.node_image(UpOptions(node_image="example/node:v1")) == "example/node:v1"


def test_node_image_is_refused_for_other_backends(
    isolated_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", "--backend", "kwok", "--node-image", "offline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --node-image works only with the kind backend, not kwok")
    assert len(err.splitlines()) == 1


def test_node_scripts_are_valid_shell() -> None:
    for script in sorted((FILES / "usr/local/bin").iterdir()):
        subprocess.run(["sh", "-n", str(script)], check=True)
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"


def test_runc_wrapper_strips_only_the_missing_capability(tmp_path: Path) -> None:
    """The wrapper edits a bundle's config.json only when CAP_SYS_RESOURCE is missing here."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    caps = '["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_KILL"]'
    (bundle / "config.json").write_text(f'{{"process":{{"capabilities":{{"bounding":{caps}}}}}}}')
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "runc").write_text('#!/bin/sh\necho runc "$@"\n')
    (fake / "runc").chmod(0o755)
    wrapper = FILES / "usr/local/bin/stslab-runc"
    out = subprocess.run(
        [str(wrapper), "create", "--bundle", str(bundle), "c1"],
        env={"PATH": f"{fake}:/usr/bin:/bin"}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == f"runc create --bundle {bundle} c1"
    text = (bundle / "config.json").read_text()
    bounding = int(
        next(ln for ln in Path("/proc/self/status").read_text().splitlines()
             if ln.startswith("CapBnd:")).split()[1], 16
    )  # fmt: skip
    if bounding >> 24 & 1:
        assert "CAP_SYS_RESOURCE" in text  # this host has it: nothing changes
    else:
        assert '["CAP_CHOWN","CAP_KILL"]' in text
