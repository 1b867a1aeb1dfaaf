"""Test fixtures.

Unit tests need no cluster. Tests marked ``cluster`` share one simulated (kwok) cluster, started
once per session in a private state directory on free ports, so a learner's own lab cluster is
never touched; each test gets a fresh namespace. ``--keep-cluster`` leaves it running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.core.kube import api_client, wait_for_default_service_account
from stslab.core.procs import free_port

# The real-container tiers (a kind cluster on a Docker engine, a real kubelet on containerd) share
# the host's network interfaces and firewall, and each checks it leaves them as it found them, so
# they run one after another in one lane; every other test runs in the second lane beside them
# (`pytest -n 2 --dist loadgroup`, as `make test` does). Without xdist the groups change nothing.
CONTAINER_TIERS = ("kind", "realnode")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        lane = "containers" if any(item.get_closest_marker(m) for m in CONTAINER_TIERS) else "sim"
        item.add_marker(pytest.mark.xdist_group(lane))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--keep-cluster",
        action="store_true",
        help="leave the test cluster running (its state dir is printed)",
    )


@pytest.fixture(scope="session")
def state_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stslab-state")


@pytest.fixture
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty state dir for one test."""
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture(scope="session")
def kwok_cluster(state_root: Path, request: pytest.FixtureRequest) -> Iterator[ClusterRecord]:
    """One simulated cluster for the whole session: 3 workers, 8 GPUs each."""
    backend = KwokBackend(state_root)
    rec = backend.up(
        UpOptions(
            nodes=3,
            gpus_per_node=8,
            api_port=free_port(),
            dns_port=free_port(),
            ready_delay_ms=1500,
        )
    )
    try:
        yield rec
    finally:
        if request.config.getoption("--keep-cluster"):
            print(f"\nkept: STSLAB_STATE={state_root} stslab status")
        else:
            backend.down()


@pytest.fixture(scope="session")
def api(kwok_cluster: ClusterRecord) -> client.ApiClient:
    return api_client(kwok_cluster.kubeconfig, kwok_cluster.context)


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace, deleted after the test."""
    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for_default_service_account(core, name)
    yield name
    core.delete_namespace(name)
