"""The existing backend against a real apiserver (the session's simulated cluster)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.existing import ExistingBackend
from stslab.core.kube import api_client

pytestmark = pytest.mark.cluster


def test_existing_makes_and_removes_only_its_namespace(
    kwok_cluster: ClusterRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_config = tmp_path / "user-kubeconfig"
    shutil.copyfile(kwok_cluster.kubeconfig, user_config)
    before = user_config.read_bytes()
    monkeypatch.setenv("KUBECONFIG", str(user_config))
    backend = ExistingBackend(tmp_path / "state")
    rec = backend.up(UpOptions(context=kwok_cluster.context, namespace="learner-ann"))
    core = client.CoreV1Api(api_client(rec.kubeconfig))
    assert core.read_namespace("learner-ann").metadata.labels["stslab.dev/owned"] == "true"
    assert backend.status().state == "running"
    backend.down()
    ns = core.read_namespace("learner-ann")  # deletion is asynchronous: Terminating or gone
    assert ns.status.phase == "Terminating"
    assert user_config.read_bytes() == before
    assert not backend.dir.exists()


def test_a_shared_simulated_cluster_says_so_and_where_its_dns_answers(
    kwok_cluster: ClusterRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Labs on a workshop account take the simulated path there, and resolve names."""
    user_config = tmp_path / "user-kubeconfig"
    shutil.copyfile(kwok_cluster.kubeconfig, user_config)
    monkeypatch.setenv("KUBECONFIG", str(user_config))
    backend = ExistingBackend(tmp_path / "state")
    rec = backend.up(UpOptions(context=kwok_cluster.context, namespace="learner-cy"))
    try:
        api = api_client(rec.kubeconfig)
        assert backend.runs_containers  # as far as anyone knows before looking
        assert not backend.sensed(api).runs_containers  # every node is kwok's
        # The cluster published its DNS (kube-public, readable by every account): the port
        # the simulated cluster chose, on loopback.
        assert backend.dns_server(rec) == ("127.0.0.1", kwok_cluster.extra["dns_port"])
        # A cluster with one real node runs containers.
        core = client.CoreV1Api(api)
        core.create_node(
            {"metadata": {"name": "real-looking-node"}, "spec": {"unschedulable": True}}
        )
        try:
            assert backend.sensed(api).runs_containers
        finally:
            core.delete_node("real-looking-node")
    finally:
        backend.down()
