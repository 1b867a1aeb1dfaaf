"""Test fixtures.

Unit tests need no cluster. Tests marked ``cluster`` share one simulated (kwok) cluster, started
once per session in a private state directory on free ports, so a learner's own lab cluster is
never touched; each test gets a fresh namespace. ``--keep-cluster`` leaves it running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.core.kube import api_client, wait_for_default_service_account
from stslab.core.procs import free_port

# The real-container tiers (a kind cluster on a Docker engine, a real kubelet on containerd) share
# the host's network interfaces and firewall, and each checks it leaves them as it found them, so
# they run one after another in one lane; every other test runs in a second lane beside them
# (`pytest -n 2`, as `make test` does). xdist's scheduler sees only test ids, so the lanes go by
# file, and collection fails if a test of those tiers sits in another file. The wrong-action
# proofs of labs 05 and 06 (about 25 min on 2 cores) join the first lane so that both take
# about as long; they use their own simulated cluster there.
CONTAINER_TIERS = ("kind", "realnode")
CONTAINER_FILES = ("test_kind.py", "test_real_node.py")
BALANCE = tuple(f"test_labs_run.py::test_a_wrong_action_fails_its_check[{n}-" for n in ("05", "06"))


def _lane(nodeid: str) -> str:
    name = nodeid.rsplit("/", 1)[-1]
    if name.split("::")[0] in CONTAINER_FILES or name.startswith(BALANCE):
        return "containers"
    return "sim"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = next((m for m in CONTAINER_TIERS if item.get_closest_marker(m)), None)
        if tier and _lane(item.nodeid) != "containers":
            raise pytest.UsageError(
                f"{item.nodeid} is marked {tier}: put it in one of {', '.join(CONTAINER_FILES)}"
            )


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Two lanes, each on one worker: the real-container tiers, and everything else."""
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _lane(nodeid)

    return Lanes(config, log)


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
