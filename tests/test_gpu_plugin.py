"""The fake GPU device plugin against a kubelet-side harness on real unix sockets (no cluster)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from helpers import pod_waiting

import stslab
from stslab.cli import main
from stslab.cluster import gpu_install, gpu_plugin
from stslab.cluster.base import ClusterRecord
from stslab.cluster.containers import K3dBackend, KindBackend
from stslab.core.errors import ToolMissingError, UsageError
from stslab.gpu import GpuConfig, PluginServer, RegistrationError
from stslab.gpu.config import extended_resource_problem
from stslab.gpu.plugin import preferred
from stslab.gpu.v1beta1 import api_pb2
from stslab.testing.fake_kubelet import FakeKubelet

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / "stslab" / "gpu" / "v1beta1"
EMPTY = api_pb2.Empty()


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short directory standing in for the kubelet's (socket paths have at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="gpu-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def config(sockdir: Path, **kw: object) -> GpuConfig:
    values: dict[str, Any] = {
        "socket_dir": sockdir,
        "state_dir": sockdir / "state",
        "count": 4,
        "register_timeout": 2.0,
    }
    return GpuConfig(**(values | kw))


@pytest.fixture
def kubelet(sockdir: Path) -> Iterator[FakeKubelet]:
    with FakeKubelet(sockdir) as k:
        yield k


@pytest.fixture
def plugin(kubelet: FakeKubelet, sockdir: Path) -> Iterator[PluginServer]:
    with PluginServer(config(sockdir)) as server:
        yield server


def allocate(kubelet: FakeKubelet, *containers: list[str]) -> api_pb2.AllocateResponse:
    request = api_pb2.AllocateRequest(
        container_requests=[api_pb2.ContainerAllocateRequest(devices_ids=ids) for ids in containers]
    )
    with kubelet.connect(kubelet.requests[-1]) as client:
        response: api_pb2.AllocateResponse = client.Allocate(request, timeout=5)
        return response


def health(response: api_pb2.ListAndWatchResponse) -> dict[str, str]:
    return {d.ID: d.health for d in response.devices}


# --- the generated stubs ---------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("go") is None, reason="Go is not installed: cannot fetch the proto"
)
def test_committed_stubs_equal_a_fresh_generation(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "gen-deviceplugin.sh"), str(tmp_path)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("api.proto", "api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py"):
        assert (tmp_path / name).read_text() == (STUBS / name).read_text(), (
            f"{name} differs from a fresh generation: run scripts/gen-deviceplugin.sh and commit"
        )
    assert "from . import api_pb2 as api__pb2" in (STUBS / "api_pb2_grpc.py").read_text()


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["nvidia.com/gpu", "example.com/fake-gpu", "a.b-c.io/x_y.z", "stslab.dev/GPU"]
)
def test_valid_extended_resource_names(name: str) -> None:
    assert extended_resource_problem(name) == ""


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("gpu", "no domain"),
        ("kubernetes.io/gpu", "kubernetes.io"),
        ("gpu.kubernetes.io/x", "kubernetes.io"),
        ("requests.example.com/gpu", "requests."),
        ("example.com/a/b", "more than one slash"),
        ("example.com/", "bad name"),
        ("example.com/-gpu", "bad name"),
        ("example.com/" + "g" * 64, "bad name"),
        ("Example.com/gpu", "bad domain"),
        ("exa_mple.com/gpu", "bad domain"),
        ("/gpu", "bad domain"),
    ],
)
def test_invalid_extended_resource_names(name: str, why: str) -> None:
    assert why in extended_resource_problem(name)


def test_config_rejects_bad_values(sockdir: Path) -> None:
    with pytest.raises(UsageError, match="not a valid extended resource name"):
        GpuConfig(resource="cpu")
    with pytest.raises(UsageError, match="--count 0"):
        GpuConfig(count=0)
    with pytest.raises(UsageError, match="shorter --socket-dir"):
        GpuConfig(socket_dir=Path("/tmp/" + "d" * 100))
    cfg = config(sockdir)
    assert cfg.socket_path == sockdir / "stslab-nvidia.com-gpu.sock"
    assert cfg.device_ids == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]


# --- the plugin against the kubelet harness --------------------------------------------------


def test_registers_with_the_kubelet(plugin: PluginServer, kubelet: FakeKubelet) -> None:
    req = kubelet.wait_for_registration()
    assert req.version == "v1beta1"
    assert req.endpoint == "stslab-nvidia.com-gpu.sock"
    assert (kubelet.socket_dir / req.endpoint).is_socket()
    assert req.resource_name == "nvidia.com/gpu"
    assert req.options.get_preferred_allocation_available
    assert not req.options.pre_start_required
    with kubelet.connect(req) as client:
        assert client.GetDevicePluginOptions(EMPTY, timeout=5) == req.options
        devices_ids = ["gpu-0"]
        assert (
            client.PreStartContainer(
                api_pb2.PreStartContainerRequest(devices_ids=devices_ids), timeout=5
            )
            == api_pb2.PreStartContainerResponse()
        )


def test_list_and_watch_streams_health_changes(plugin: PluginServer, kubelet: FakeKubelet) -> None:
    with kubelet.connect(kubelet.wait_for_registration()) as client:
        stream = client.ListAndWatch(EMPTY, timeout=10)
        first = next(stream)
        assert health(first) == {f"gpu-{i}": "Healthy" for i in range(4)}
        assert plugin.plugin.set_health("gpu-2", healthy=False)
        assert not plugin.plugin.set_health("gpu-2", healthy=False)  # no change, no new list
        assert health(next(stream)) == {
            "gpu-0": "Healthy",
            "gpu-1": "Healthy",
            "gpu-2": "Unhealthy",
            "gpu-3": "Healthy",
        }
        plugin.plugin.set_health("gpu-2", healthy=True)
        assert set(health(next(stream)).values()) == {"Healthy"}
        # The health file (what a lab edits on the node) does the same.
        plugin.config.health_file.write_text("gpu-0\ngpu-3\n")
        plugin.sync_health()
        assert health(next(stream))["gpu-3"] == "Unhealthy"
        plugin.config.health_file.unlink()
        plugin.sync_health()
        assert set(health(next(stream)).values()) == {"Healthy"}
        # Stopping the plugin ends the stream cleanly and removes the socket.
        plugin.stop()
        assert list(stream) == []
        assert not plugin.config.socket_path.exists()
    with pytest.raises(UsageError, match="no device gpu-7"):
        plugin.plugin.set_health("gpu-7", healthy=False)


def test_allocate_gives_env_and_device_files(plugin: PluginServer, kubelet: FakeKubelet) -> None:
    kubelet.wait_for_registration()
    response = allocate(kubelet, ["gpu-1", "gpu-3"], ["gpu-0"])
    first, second = response.container_responses
    assert dict(first.envs) == {
        "NVIDIA_VISIBLE_DEVICES": "gpu-1,gpu-3",
        "STSLAB_GPU_MODEL": "stslab-fake-a100",
    }
    assert [(m.container_path, m.read_only) for m in first.mounts] == [
        ("/dev/stslab-gpu/gpu-1", True),
        ("/dev/stslab-gpu/gpu-3", True),
    ]
    for mount in first.mounts:
        assert "stslab-fake-a100" in Path(mount.host_path).read_text()
    assert Path(first.mounts[0].host_path) == plugin.config.state_dir / "devices" / "gpu-1"
    assert second.envs["NVIDIA_VISIBLE_DEVICES"] == "gpu-0"


def test_preferred_allocation(plugin: PluginServer, kubelet: FakeKubelet) -> None:
    req = api_pb2.PreferredAllocationRequest(
        container_requests=[
            api_pb2.ContainerPreferredAllocationRequest(
                available_deviceIDs=["gpu-3", "gpu-1", "gpu-2"], allocation_size=2
            ),
            api_pb2.ContainerPreferredAllocationRequest(
                available_deviceIDs=["gpu-0", "gpu-1", "gpu-2", "gpu-3"],
                must_include_deviceIDs=["gpu-2"],
                allocation_size=3,
            ),
        ]
    )
    with kubelet.connect(kubelet.wait_for_registration()) as client:
        got = client.GetPreferredAllocation(req, timeout=5)
    assert [list(r.deviceIDs) for r in got.container_responses] == [
        ["gpu-1", "gpu-2"],
        ["gpu-2", "gpu-0", "gpu-1"],
    ]
    assert preferred(["gpu-10", "gpu-9"], [], 1) == ["gpu-9"]  # numeric, not string, order
    assert preferred(["gpu-0"], [], 3) == ["gpu-0"]


def test_unknown_device_ids_are_invalid_arguments(
    plugin: PluginServer, kubelet: FakeKubelet
) -> None:
    kubelet.wait_for_registration()
    with pytest.raises(grpc.RpcError) as err:
        allocate(kubelet, ["gpu-1", "gpu-9", "tpu-0"])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown nvidia.com/gpu device ids: gpu-9, tpu-0" in (err.value.details() or "")
    bad = api_pb2.PreferredAllocationRequest(
        container_requests=[
            api_pb2.ContainerPreferredAllocationRequest(
                available_deviceIDs=["gpu-1", "gpu-12"], allocation_size=1
            )
        ]
    )
    with kubelet.connect(kubelet.requests[-1]) as client, pytest.raises(grpc.RpcError) as err:
        client.GetPreferredAllocation(bad, timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_registers_again_after_a_kubelet_restart(
    plugin: PluginServer, kubelet: FakeKubelet
) -> None:
    kubelet.wait_for_registration()
    assert not plugin.check_kubelet()  # same kubelet: nothing to do
    kubelet.restart()  # a new kubelet.sock, and the plugin's socket deleted
    assert not plugin.config.socket_path.exists()
    assert plugin.check_kubelet()
    req = kubelet.wait_for_registration()
    assert plugin.registrations == 2 and req.endpoint == plugin.config.socket_path.name
    with kubelet.connect(req) as client:
        assert len(next(client.ListAndWatch(EMPTY, timeout=5)).devices) == 4


def test_watch_registers_again_after_a_kubelet_restart(sockdir: Path) -> None:
    with (
        FakeKubelet(sockdir) as kubelet,
        PluginServer(config(sockdir, kubelet_poll=0.02)) as plugin,
    ):
        kubelet.wait_for_registration()
        stop = threading.Event()
        watcher = threading.Thread(target=plugin.watch, args=(stop,))
        watcher.start()
        try:
            kubelet.restart()
            assert kubelet.wait_for_registration(timeout=5).resource_name == "nvidia.com/gpu"
        finally:
            stop.set()
            watcher.join(timeout=5)
        assert not watcher.is_alive()


def test_a_refused_registration_leaves_nothing_behind(sockdir: Path) -> None:
    cfg = config(sockdir)
    with FakeKubelet(sockdir, refuse="resource already registered"):
        with pytest.raises(RegistrationError, match="refused.*already registered"):
            PluginServer(cfg).start()
        assert sorted(p.name for p in sockdir.iterdir()) == ["kubelet.sock"]


# --- the command line: one line on stderr, nonzero exit, nothing left ------------------------


def stslab_cmd(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stslab.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--resource", "kubernetes.io/gpu"], ["not a valid extended resource name", "—"]),
        (["--resource", "gpu"], ["has no domain"]),
        (["--count", "0"], ["--count 0 is out of range"]),
    ],
)
def test_cli_bad_values(sockdir: Path, args: list[str], words: list[str]) -> None:
    proc = stslab_cmd("gpu", "plugin", "--socket-dir", str(sockdir), *args)
    assert_one_line_error(proc, *words)
    assert proc.returncode == 2
    assert list(sockdir.iterdir()) == []


def test_cli_bad_socket_dirs(sockdir: Path) -> None:
    missing = sockdir / "missing"
    assert_one_line_error(
        stslab_cmd("gpu", "plugin", "--socket-dir", str(missing)), "does not exist", "--socket-dir"
    )
    afile = sockdir / "afile"
    afile.write_text("")
    assert_one_line_error(
        stslab_cmd("gpu", "plugin", "--socket-dir", str(afile)), "is not a directory"
    )
    assert sorted(p.name for p in sockdir.iterdir()) == ["afile"]


def test_cli_without_a_kubelet(sockdir: Path) -> None:
    state = sockdir / "state"
    proc = stslab_cmd("gpu", "plugin", "--socket-dir", str(sockdir), "--state-dir", str(state))
    assert_one_line_error(proc, f"no kubelet socket at {sockdir}/kubelet.sock")
    assert list(sockdir.iterdir()) == []


def test_cli_with_a_kubelet_that_does_not_answer(sockdir: Path) -> None:
    # A socket that is bound and listening, but nobody ever accepts or answers on it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(sockdir / "kubelet.sock"))
        mute.listen(1)
        proc = stslab_cmd(
            "gpu",
            "plugin",
            "--socket-dir",
            str(sockdir),
            "--state-dir",
            str(sockdir / "state"),
            "--timeout",
            "0.5",
        )
    assert_one_line_error(proc, f"the kubelet did not answer on {sockdir}/kubelet.sock within 0.5s")
    assert sorted(p.name for p in sockdir.iterdir()) == ["kubelet.sock"]  # no socket, no files


def test_cli_runs_until_sigterm(sockdir: Path, kubelet: FakeKubelet) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stslab.cli",
            "gpu",
            "plugin",
            "--socket-dir",
            str(sockdir),
            "--state-dir",
            str(sockdir / "state"),
            "--count",
            "2",
            "--resource",
            "example.com/gpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        req = kubelet.wait_for_registration(timeout=10)
        assert req.resource_name == "example.com/gpu"
        with kubelet.connect(req) as client:
            assert len(next(client.ListAndWatch(EMPTY, timeout=5)).devices) == 2
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "registered example.com/gpu" in out and "SIGTERM: shutting down" in out
    assert not (sockdir / req.endpoint).exists()


# --- shipping to kind/k3d, and kwok ----------------------------------------------------------


def test_shipped_daemonset_and_dockerfile_match_the_project() -> None:
    ds = yaml.safe_load((ROOT / "clusters/gpu/daemonset.yaml").read_text())
    pod = ds["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert ds["metadata"]["namespace"] == "kube-system"
    assert container["image"] == f"stslab/fake-gpu-plugin:{stslab.__version__}"
    assert container["command"] == ["stslab", "gpu", "plugin"]
    paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert paths == mounts  # the device files' host paths are what the plugin sees
    assert paths["device-plugins"] == "/var/lib/kubelet/device-plugins"
    assert f"--state-dir={paths['devices']}" in container["args"]
    rendered = gpu_plugin.daemonset(count=5)["spec"]["template"]["spec"]["containers"][0]
    assert "--count=5" in rendered["args"] and "--count=8" not in rendered["args"]
    # The image installs its runtime dependencies itself, with pyproject's bounds.
    dockerfile = (ROOT / "clusters/gpu/Dockerfile").read_text()
    pinned = re.findall(r'"([A-Za-z]+[<>=][^"]*)"', dockerfile)
    assert {re.split("[<>=]", p)[0] for p in pinned} == {
        "grpcio",
        "protobuf",
        "kubernetes",
        "PyYAML",
    }
    pyproject = (ROOT / "pyproject.toml").read_text()
    for requirement in pinned:
        assert f'"{requirement}"' in pyproject


def record(state: Path, backend: str, gpus: int = 8) -> None:
    (state / backend).mkdir(parents=True)
    ClusterRecord(
        backend,
        str(state / backend / "kubeconfig"),
        f"{backend}-stslab",
        nodes=3,
        gpus_per_node=gpus,
    ).save(state / backend / "cluster.json")


def test_install_commands_for_kind_and_k3d(isolated_state: Path) -> None:
    image = f"stslab/fake-gpu-plugin:{stslab.__version__}"
    build = [
        "docker",
        "build",
        "--file",
        str(ROOT / "clusters/gpu/Dockerfile"),
        "--tag",
        image,
        str(ROOT),
    ]
    assert gpu_install.image_commands(KindBackend()) == [
        build,
        ["kind", "load", "docker-image", "--name", "stslab", image],
    ]
    assert gpu_install.image_commands(K3dBackend()) == [
        build,
        ["k3d", "image", "import", "--cluster", "stslab", image],
    ]
    record(isolated_state, "k3d", gpus=4)
    lines: list[str] = []
    gpu_install.install(K3dBackend(), dry_run=True, say=lines.append)
    assert lines[0].startswith("docker build") and lines[1].startswith("k3d image import")
    assert "4 GPUs per node" in lines[2]


def test_install_needs_docker(isolated_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record(isolated_state, "kind")
    monkeypatch.setattr(
        "stslab.cluster.containers.docker_usable",
        lambda: (False, "no Docker engine is running (or no permission to use it)"),
    )
    ran: list[list[str]] = []
    with pytest.raises(ToolMissingError, match="needs Docker engine: no Docker engine is running"):
        gpu_install.install(KindBackend(), say=lambda _: None, runner=ran.append)
    assert ran == []


def test_install_on_kwok_and_without_a_cluster(
    isolated_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gpu", "install", "--backend", "kwok"]) == 1  # the live case: test_gpu_kwok
    assert "there is no kwok lab cluster" in capsys.readouterr().err
    assert main(["gpu", "install", "--backend", "kind"]) == 1
    assert "there is no kind lab cluster" in capsys.readouterr().err
    assert main(["gpu", "manifest", "--count", "3"]) == 0
    assert "--count=3" in capsys.readouterr().out


# --- where a real kubelet's GPUs come from --------------------------------------------------


def test_the_clusters_plugin_stays_off_a_labs_pooled_workers() -> None:
    """A lab pool runs its own plugin: two plugins of one resource on a node would race."""
    spec = gpu_plugin.daemonset(count=4)["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "stslab.dev/pool", "operator": "DoesNotExist"}]}
    ]


def _plugin_pod(reason: str | None) -> Any:
    return pod_waiting("plugin-x", "plugin", reason, namespace="kube-system")


@pytest.mark.parametrize(
    ("reason", "cause", "fix", "lasting"),
    [
        ("ErrImageNeverPull", "is not on node w1 (ErrImageNeverPull)", "stslab gpu install", True),
        ("ImagePullBackOff", "is not on node w1 (ImagePullBackOff)", "--node-image offline", True),
        ("CrashLoopBackOff", "keeps failing (CrashLoopBackOff)", "logs plugin-x", True),
        (None, "offers 0 of its 8 GPUs", "wait a few seconds", False),
    ],
)
def test_why_a_node_offers_no_gpus_is_one_line_with_the_fix(
    reason: str | None, cause: str, fix: str, lasting: bool
) -> None:
    from stslab.cluster.gpu_plugin import _why

    why = _why("w1", _plugin_pod(reason), 8, 0, "kube-system")
    assert cause in why.cause and fix in why.fix and why.lasting is lasting
    assert "\n" not in str(why)
    assert "has no pod there yet" in _why("w1", None, 8, 0, "kube-system").cause


def test_kind_that_cannot_pull_its_node_image_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Docker present but offline: kind's raw pull error becomes one line with the fix."""
    from stslab.core.errors import ClusterStateError, StslabError

    raw = (
        "kind create failed (exit 1): ERROR: failed to create cluster: failed to pull image "
        '"kindest/node:v1.36.1@sha256:ab": command "docker pull kindest/node" failed | '
        "dial tcp: lookup registry-1.docker.io: no such host"
    )

    def refuse(cmd: list[str], **_: Any) -> str:
        raise StslabError(raw)

    monkeypatch.setattr("stslab.cluster.containers.run", refuse)
    command = ["kind", "create", "cluster", "--image", "kindest/node:v1.36.1"]
    with pytest.raises(ClusterStateError) as refused:
        KindBackend().create(command)
    said = str(refused.value)
    assert "could not pull its node image kindest/node:v1.36.1" in said
    assert "`stslab kind-image`" in said and "--node-image offline" in said
    assert "--backend kwok" in said and "\n" not in said
    # Any other failure is kind's own line.
    monkeypatch.setattr(
        "stslab.cluster.containers.run",
        lambda cmd, **_: (_ for _ in ()).throw(StslabError("kind create failed: port taken")),
    )
    with pytest.raises(StslabError, match="port taken"):
        KindBackend().create(command)


def test_kind_uses_the_offline_node_image_when_the_pinned_one_is_not_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An offline machine that built the node image once needs no registry for `stslab up`."""
    from stslab.cluster.base import UpOptions
    from stslab.cluster.images import kindnode
    from stslab.core.versions import pinned as pins

    held = {kindnode.image_ref()}
    monkeypatch.setattr("stslab.cluster.containers.run", lambda cmd, **_: "")  # no clusters
    monkeypatch.setattr(kindnode, "image_exists", lambda ref: ref in held)
    monkeypatch.setattr(kindnode, "build", lambda **_: kindnode.image_ref())
    monkeypatch.setattr(kindnode, "check_image", lambda ref: None)
    opts = UpOptions()
    KindBackend().before_create(opts)
    assert opts.node_image == "offline"
    assert f"using the offline node image {kindnode.image_ref()}" in capsys.readouterr().out
    # With the pinned image here (or one asked for), nothing changes.
    held.add(pins().kind_node_image)
    opts = UpOptions()
    KindBackend().before_create(opts)
    assert opts.node_image is None
