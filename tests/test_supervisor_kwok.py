"""kill -9 of each control-plane component in the middle of a rollout: the cluster heals.

One simulated cluster for the module. For each component, a 3-member OrderedReady StatefulSet
with claims (the heart of lab 01) starts rolling out under a Recorder; the component is
killed; the supervisor starts it again; the rollout must finish, the data made before must be
there, the restart must show in ``stslab status``, and the recorder must have seen every
member Ready (its watches survived). Recovery times go to build/test-artifacts/recovery.tsv.
Then each component is killed again in the middle of a running lab (lab 02, headless), and the
module's last tests damage pid files and start a component that exits at once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from stslab.cluster.base import UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.cluster.kwok.kwokctl import KWOKCTL_COMPONENTS
from stslab.cluster.kwok.supervisor import read_restarts, stop_supervisor
from stslab.core.errors import StslabError
from stslab.core.kube import api_client, wait_until
from stslab.core.procs import free_port, pid_alive
from stslab.core.versions import pinned
from stslab.lab.manifests import headless_service, statefulset
from stslab.observe.recorder import Recorder

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"
COMPONENTS = [*KWOKCTL_COMPONENTS, "coredns"]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwokBackend]:
    b = KwokBackend(tmp_path_factory.mktemp("supervised") / "state")
    b.up(
        UpOptions(
            nodes=2,
            gpus_per_node=0,
            api_port=free_port(),
            dns_port=free_port(),
            ready_delay_ms=800,
        )
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "recovery.tsv").write_text(
        "component\trestarted_in_s\trollout_s\trecorder_reconnects\n"
    )
    try:
        yield b
    finally:
        b.down()


def _api(b: KwokBackend) -> client.ApiClient:
    rec = b.record()
    assert rec is not None
    return api_client(rec.kubeconfig, rec.context)


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_killed_component_is_restarted_mid_rollout(backend: KwokBackend, component: str) -> None:
    api = _api(backend)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"kill-{component}"
    core.create_namespace({"metadata": {"name": ns}})
    wait_until(
        lambda: bool(core.list_namespaced_service_account(ns).items),
        timeout=60,
        what="the default ServiceAccount",
    )
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}, "data": {"k": "v"}})
    before = read_restarts(backend.dir).get(component)
    count_before = before.count if before else 0
    started = time.monotonic()
    with Recorder(api, ns, kinds=["Pod"]) as rec:
        core.create_namespaced_service(ns, headless_service("web"))
        apps.create_namespaced_stateful_set(ns, statefulset("web", 3))
        wait_until(
            lambda: bool(core.list_namespaced_pod(ns).items), timeout=60, what="web-0 created"
        )
        pid = backend.component_pids()[component]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(
            lambda: (p := backend.component_pids()[component]) not in (None, pid) and pid_alive(p),
            timeout=60,
            what=f"{component} started again by the supervisor",
        )
        restarted_in = time.monotonic() - killed

        def all_ready() -> bool:
            s = apps.read_namespaced_stateful_set("web", ns)
            return (s.status.ready_replicas or 0) == 3

        wait_until(all_ready, timeout=180, what="the rollout finishing after the restart")
        rollout = time.monotonic() - started
        reconnects = rec.reconnects
        wait_until(
            lambda: {"web-0", "web-1", "web-2"} <= set(rec.frame().query("ready == True")["name"]),
            timeout=30,
            what="the recorder seeing every member Ready",
        )
    assert core.read_namespaced_config_map("before", ns).data == {"k": "v"}
    after = read_restarts(backend.dir)[component]
    assert after.count == count_before + 1 and not after.gave_up
    status = backend.status()
    assert status.state == "running" and component in status.detail
    with (ARTIFACTS / "recovery.tsv").open("a") as f:
        f.write(f"{component}\t{restarted_in:.1f}\t{rollout:.1f}\t{reconnects}\n")
    core.delete_namespace(ns)


def test_without_its_supervisor_a_dead_cluster_is_broken_until_up(backend: KwokBackend) -> None:
    stop_supervisor(backend.dir)  # as after the machine slept: nothing restarts it
    pid = backend.component_pids()["kube-apiserver"]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: backend.status().state == "broken", timeout=20, what="noticed broken")
    assert "supervisor DOWN" not in backend.status().detail  # broken says what to run instead
    backend.up(UpOptions())
    assert backend.status().state == "running" and "supervisor up" in backend.status().detail


@pytest.mark.parametrize("damage", ["", "not: [yaml", "apiVersion: v1\nkind: Config\n"])
def test_a_damaged_kubeconfig_is_written_again(backend: KwokBackend, damage: str) -> None:
    backend.kubeconfig_path.write_text(damage)
    status = backend.status()
    assert status.state == "running", status.detail
    assert "written again" in status.detail
    assert backend.status().state == "running" and "written again" not in backend.status().detail
    backend.kubeconfig_path.unlink()
    with pytest.raises(Exception, match="already up"):  # up heals it too, then sees it is up
        backend.up(UpOptions())
    assert backend.kubeconfig_path.exists()


@pytest.mark.parametrize("damage", ["", "garbage", "1"])  # empty, unreadable, another process
def test_a_damaged_pid_file_never_starts_a_running_component_twice(
    backend: KwokBackend, damage: str
) -> None:
    """The supervisor finds each component by its command line and writes the pid file again."""
    pids = backend.component_pids()
    assert all(pids.values()), pids
    rec = backend.record()
    assert rec is not None
    files = {name: backend.cluster_dir / "pids" / f"{name}.pid" for name in KWOKCTL_COMPONENTS}
    files["coredns"] = backend.coredns(rec).pid_file
    before = {name: (r.count if r else 0) for name, r in read_restarts(backend.dir).items()}
    for path in files.values():
        path.write_text(damage)
    time.sleep(3)  # three looks of the supervisor
    after = read_restarts(backend.dir)
    assert {n: r.count for n, r in after.items() if r.count != before.get(n, 0)} == {}
    assert backend.component_pids() == pids  # the same processes, found again
    for name, path in files.items():
        assert int(path.read_text().strip()) == pids[name], name
    assert backend.status().state == "running"


def test_a_component_that_exits_at_start_is_named_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ways to fail: at kwokctl's `version` check, and after starting (a bad flag)."""
    fake = tmp_path / "kube-scheduler"
    b = KwokBackend(tmp_path / "state")
    real = b.binaries()
    monkeypatch.setattr(KwokBackend, "binaries", lambda self: {**real, "kube-scheduler": fake})
    opts = UpOptions(nodes=1, gpus_per_node=0, api_port=free_port(), dns_port=free_port())
    version = f"Kubernetes {pinned().kubernetes}"
    for script, said in (
        ("echo 'E1201 unknown flag: --bogus' >&2; exit 1", "kwokctl create cluster failed: "),
        (
            f"[ \"$1\" = version ] && echo '{version}' && exit 0\n"
            "echo 'E1201 unknown flag: --bogus' >&2; exit 1",
            "kube-scheduler exited at start: E1201 unknown flag: --bogus",
        ),
    ):
        fake.write_text(f"#!/bin/sh\n{script}\n")
        fake.chmod(0o755)
        with pytest.raises(StslabError) as failed:
            b.up(opts)
        assert failed.value.cause.startswith(said), failed.value.cause
        assert "unknown flag: --bogus" in failed.value.cause and "\n" not in failed.value.cause
        assert "logs are kept" in failed.value.fix or said.startswith("kwokctl")
        assert not b.exists() and b.process_pids() == []


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_running_lab_rides_out_a_killed_component(
    backend: KwokBackend, component: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running lab notebook, not only a rollout: kill -9 of a component in the middle of lab 02.

    Lab 02 (headless DNS: StatefulSets, nslookup against CoreDNS) takes about 40 s. The lab's
    client retries a refused connection for 7.5 s, its watches reconnect and the supervisor
    starts the component again, so the lab should pass; should a request be cut in flight, the
    error is one line and re-running the lab (`stslab labs run 02`) is the one command that
    recovers it. Which happened goes to build/test-artifacts/lab-under-kill.tsv.
    """
    import threading

    from stslab.ops.runner import run_labs

    monkeypatch.setenv("STSLAB_STATE", str(backend.dir.parent))
    results: list[Any] = []
    run = threading.Thread(
        target=lambda: results.extend(run_labs(["02"], backend="kwok", build=tmp_path))
    )
    run.start()
    time.sleep(12)  # in its StatefulSets and lookups
    assert run.is_alive(), "lab 02 ended before the kill"
    pid = backend.component_pids()[component]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    run.join(timeout=600)
    assert results, "lab 02 did not finish"
    outcome = "passed through the kill"
    if not results[0].ok:
        assert "\n" not in results[0].error, results[0].error
        again = run_labs(["02"], backend="kwok", build=tmp_path / "again")
        assert again[0].ok, again[0].error
        outcome = f"failed ({results[0].error[:100]}), passed when run again"
    print(f"lab 02 with {component} killed: {outcome}")
    table = ARTIFACTS / "lab-under-kill.tsv"
    if not table.exists():
        table.write_text("component killed\tlab 02\tseconds\n")
    with table.open("a") as f:
        f.write(f"{component}\t{outcome}\t{results[0].seconds:.1f}\n")
