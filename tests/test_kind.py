"""The kind backend for real: a Docker engine, stslab's offline node image, a kind cluster.

Marked ``kind``. It uses a running Docker engine, or starts a private one (root and Debian's
``docker.io``; stopped again at the end), builds the node image offline (``make kind-image``,
a no-op when it exists), and brings up ``stslab up --backend kind --node-image offline`` with
three workers; then it runs every lab there, and serves a workshop's room from the cluster
(``workshop serve --kubernetes``: a learner's server pod, spawned by the hub's KubeSpawner).
Where the engine or the image's ingredients are missing the tier skips and names them, unless
``STSLAB_KIND=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.stream import stream

from stslab.cli import main
from stslab.cluster.containers import KindBackend, docker_usable
from stslab.cluster.images import kindnode
from stslab.core.kube import api_client, wait_for_default_service_account, wait_until
from stslab.core.labels import GPU_RESOURCE, LAB_LABEL, POOL_LABEL
from stslab.core.versions import pinned
from stslab.lab.manifests import headless_service, statefulset
from stslab.testing.dockerd import PrivateDockerd

# The first test also pays for the fixtures: a cold node image build (~5 min) and `up` (~1 min).
pytestmark = [pytest.mark.kind, pytest.mark.timeout(1500)]

TIMINGS: dict[str, float] = {}
DAEMON: PrivateDockerd | None = None  # the engine this module started, if it started one
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
BUSYBOX = "docker.io/library/busybox:1.28"


def _need(why: str) -> None:
    if os.environ.get("STSLAB_KIND") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Docker engine: the one running, else a private one this module stops again."""
    ok, why = docker_usable()
    if ok:
        yield os.environ.get("DOCKER_HOST", "")
        return
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        _need(f"kind tier needs a Docker engine ({why}); install docker.io and run as root")
    global DAEMON
    daemon = DAEMON = PrivateDockerd()
    links = set(os.listdir("/sys/class/net"))
    firewall = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    start = time.monotonic()
    host = daemon.start()
    TIMINGS["dockerd start"] = time.monotonic() - start
    old = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = host
    try:
        yield host
    finally:
        daemon.stop()
        # The private engine leaves no interface and no firewall change behind.
        assert set(os.listdir("/sys/class/net")) == links
        after = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        assert _rules(after) == _rules(firewall)
        if old is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old


def _rules(save: str) -> list[str]:
    """iptables-save output without its comments and counters."""
    return [ln.split(" [")[0] for ln in save.splitlines() if not ln.startswith("#")]


def _kind_containers() -> list[str]:
    return KindBackend().node_containers()


@pytest.fixture(scope="module")
def cluster(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``stslab up --backend kind --node-image offline --nodes 3``; down at the end."""
    del engine
    if shutil.which("debootstrap") is None:
        _need("kind tier needs debootstrap (apt-get install -y debootstrap)")
    state = tmp_path_factory.mktemp("kind-state")
    old = os.environ.get("STSLAB_STATE")
    os.environ["STSLAB_STATE"] = str(state)
    start = time.monotonic()
    kindnode.build(say=lambda m: print(f"[kind-image] {m}"))
    TIMINGS["node image (build or reuse)"] = time.monotonic() - start
    start = time.monotonic()
    try:
        # Three workers, as `stslab up` gives a learner: lab 05's members spread one per node,
        # and lab 06 makes a GPU pool of two and a CPU pool of one.
        assert main(["up", "--backend", "kind", "--node-image", "offline", "--nodes", "3"]) == 0
        TIMINGS["stslab up --backend kind (3 workers)"] = time.monotonic() - start
        kubeconfig = state / "kind" / "kubeconfig"
        api = api_client(kubeconfig)
        yield {"api": api, "kubeconfig": kubeconfig, "state": state}
    finally:
        start = time.monotonic()
        if _kind_containers():
            assert main(["down", "--backend", "kind"]) == 0
        TIMINGS["stslab down --backend kind"] = time.monotonic() - start
        if old is None:
            os.environ.pop("STSLAB_STATE", None)
        else:
            os.environ["STSLAB_STATE"] = old
        print("\nkind tier timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))
        # Also as a file: under `pytest -n 2` a passing test's output is not shown.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        rows = "".join(f"{k}\t{v:.1f}\n" for k, v in TIMINGS.items())
        (ARTIFACTS / "kind-timings.tsv").write_text("step\tseconds\n" + rows)


@pytest.fixture()
def ns(cluster: dict[str, Any]) -> Iterator[str]:
    core = client.CoreV1Api(cluster["api"])
    name = f"kind-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for_default_service_account(core, name)
    yield name
    core.delete_namespace(name)


def _exec(core: client.CoreV1Api, ns: str, pod: str, cmd: list[str]) -> str:
    return str(
        stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            ns,
            command=cmd,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    )


def _running(core: client.CoreV1Api, ns: str, pod: str, timeout: float = 120) -> client.V1Pod:
    def ready() -> client.V1Pod | None:
        try:
            p = core.read_namespaced_pod(pod, ns)
        except client.ApiException:
            return None
        conds = {c.type: c.status for c in p.status.conditions or []}
        return p if conds.get("Ready") == "True" else None

    return wait_until(ready, timeout=timeout, what=f"pod {ns}/{pod} Ready")


def _client_pod(core: client.CoreV1Api, ns: str) -> None:
    """A busybox pod to run nslookup and wget in (busybox is preloaded in the node image)."""
    core.create_namespaced_pod(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client"},
            "spec": {
                "containers": [
                    {
                        "name": "client",
                        "image": BUSYBOX,
                        "imagePullPolicy": "Never",
                        "command": ["sleep", "3600"],
                    }
                ],
                "terminationGracePeriodSeconds": 0,
            },
        },
    )
    _running(core, ns, "client")


def _lookup(core: client.CoreV1Api, ns: str, name: str) -> str:
    """nslookup ``name`` in the client pod (via the cluster DNS service); its one address."""

    def answered() -> str | None:
        out = _exec(core, ns, "client", ["nslookup", name])
        if "10.96.0.10" not in out or "Name:" not in out:
            return None
        after = out.split("Name:", 1)[1]
        return after.split("Address", 1)[1].split(":", 1)[1].split()[0]

    return wait_until(answered, timeout=90, what=f"nslookup {name}")


def _create(cluster: dict[str, Any], ns: str, *manifests: dict[str, Any]) -> None:
    """Create raw manifests in ``ns`` (the dynamic client: the typed one validates models)."""
    from kubernetes import dynamic

    dyn = dynamic.DynamicClient(cluster["api"])
    for m in manifests:
        dyn.resources.get(api_version=m["apiVersion"], kind=m["kind"]).create(body=m, namespace=ns)


def test_nodes_are_ready_at_the_pinned_version(cluster: dict[str, Any]) -> None:
    core = client.CoreV1Api(cluster["api"])
    nodes = core.list_node().items
    assert len(nodes) == 4
    for n in nodes:
        conds = {c.type: c.status for c in n.status.conditions}
        assert conds["Ready"] == "True", n.metadata.name
        assert n.status.node_info.kubelet_version == pinned().kubernetes
        assert n.status.node_info.container_runtime_version.startswith("containerd://")
    workers = [n for n in nodes if "node-role.kubernetes.io/control-plane" not in n.metadata.labels]
    assert workers[0].metadata.labels["topology.kubernetes.io/zone"] == "zone-a"


def test_system_pods_run_from_preloaded_images(cluster: dict[str, Any]) -> None:
    core = client.CoreV1Api(cluster["api"])

    def all_running() -> list[client.V1Pod] | None:
        pods = core.list_namespaced_pod("kube-system").items
        pods += core.list_namespaced_pod("local-path-storage").items
        return pods if pods and all(p.status.phase == "Running" for p in pods) else None

    pods = wait_until(
        all_running, timeout=120, what="kube-system and local-path-storage pods Running"
    )
    images = {c.image for p in pods for c in p.spec.containers}
    assert kindnode.etcd_ref() in images
    assert kindnode.coredns_ref() in images
    assert f"registry.k8s.io/kube-proxy:{pinned().kubernetes}" in images


def test_statefulset_exec_logs_and_data_survive_pod_deletion(
    cluster: dict[str, Any], ns: str
) -> None:
    core = client.CoreV1Api(cluster["api"])
    start = time.monotonic()
    _create(cluster, ns, headless_service("web"), statefulset("web", replicas=2))
    _running(core, ns, "web-0", 180)
    web1 = _running(core, ns, "web-1", 180)
    TIMINGS["2-member StatefulSet with volumes Ready"] = time.monotonic() - start
    # A volume of the default StorageClass, provisioned on the node's disk.
    pvc = core.read_namespaced_persistent_volume_claim("www-web-0", ns)
    assert pvc.status.phase == "Bound" and pvc.spec.storage_class_name == "standard"
    # exec: write into the volume.
    _exec(
        core, ns, "web-0", ["sh", "-c", "echo hello-from-web-0 > /usr/share/nginx/html/index.html"]
    )
    # A client pod looks the member up by its DNS name and fetches the page (pod to pod inside
    # kind's nodes, on the containers' own bridge); nginx logs the request to its output.
    # Debian's static busybox wget cannot resolve names itself (and crashes with -q), so
    # nslookup resolves first and wget's progress goes to /dev/null.
    _client_pod(core, ns)
    name = f"web-0.web.{ns}.svc.cluster.local"
    ip = _lookup(core, ns, name)
    assert ip == core.read_namespaced_pod("web-0", ns).status.pod_ip
    page = _exec(core, ns, "client", ["sh", "-c", f"wget -O- http://{ip}/ 2>/dev/null"])
    assert page.strip() == "hello-from-web-0"
    logs = core.read_namespaced_pod_log("web-0", ns, container="nginx")
    assert '"GET / HTTP/1.1" 200' in logs
    old_uid = core.read_namespaced_pod("web-0", ns).metadata.uid
    core.delete_namespaced_pod("web-0", ns)

    def replaced() -> client.V1Pod | None:
        try:
            p = core.read_namespaced_pod("web-0", ns)
        except client.ApiException:
            return None
        return p if p.metadata.uid != old_uid else None

    wait_until(replaced, timeout=60, what="web-0 recreated")
    _running(core, ns, "web-0", 120)
    assert _exec(core, ns, "web-0", ["cat", "/usr/share/nginx/html/index.html"]).strip() == (
        "hello-from-web-0"
    )
    assert web1.status.pod_ip


def test_in_cluster_nslookup_gives_each_member_its_own_name(
    cluster: dict[str, Any], ns: str
) -> None:
    core = client.CoreV1Api(cluster["api"])
    _create(cluster, ns, headless_service("web"), statefulset("web", replicas=2, claims=False))
    _running(core, ns, "web-0")
    web1 = _running(core, ns, "web-1")
    _client_pod(core, ns)
    assert _lookup(core, ns, f"web-1.web.{ns}.svc.cluster.local") == web1.status.pod_ip


def _gpu_pod(core: client.CoreV1Api, ns: str, name: str, node: str) -> None:
    """A busybox pod on ``node`` that asks for one GPU."""
    core.create_namespaced_pod(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "nodeSelector": {"kubernetes.io/hostname": node},
                "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists"}],
                "containers": [
                    {
                        "name": "gpu",
                        "image": BUSYBOX,
                        "imagePullPolicy": "Never",
                        "command": ["sleep", "3600"],
                        "resources": {"limits": {GPU_RESOURCE: "1"}},
                    }
                ],
            },
        },
    )


def _device(core: client.CoreV1Api, ns: str, pod: str) -> list[str]:
    """What the plugin injected into ``pod``: its device id and the GPU model."""
    return _exec(
        core, ns, pod, ["sh", "-c", "echo $NVIDIA_VISIBLE_DEVICES $STSLAB_GPU_MODEL"]
    ).split()


def _status_gpus(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["status", "--backend", "kind"]) == 0
    return next(ln for ln in capsys.readouterr().out.splitlines() if "GPUs:" in ln).strip()


def _status_saying(capsys: pytest.CaptureFixture[str], words: str) -> str:
    """``stslab status``'s GPU line once it says ``words``."""

    def said() -> str | None:
        line = _status_gpus(capsys)
        return line if words in line else None

    return wait_until(said, timeout=180, what=f"`stslab status` saying {words!r}")


def test_gpus_come_only_from_the_plugin_on_every_worker(
    cluster: dict[str, Any], ns: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`up` waited for the plugin on every worker: a GPU pod gets a device wherever it lands.

    A worker without the plugin offers no GPU: a pod asking for one there is Pending, never
    Running without a device, and starts with one once the plugin is back.
    """
    from stslab.cluster import gpu_plugin
    from stslab.cluster.base import ClusterRecord

    core = client.CoreV1Api(cluster["api"])
    rec = ClusterRecord.load(Path(cluster["state"]) / "kind" / "cluster.json")
    TIMINGS["up: every worker's GPUs from the plugin"] = rec.extra["gpu_plugin_seconds"]
    workers = sorted(KindBackend().node_containers())
    workers = [w for w in workers if "control-plane" not in w]
    assert len(workers) == 3
    assert gpu_plugin.problems(core, workers, 8) == {}
    assert _status_gpus(capsys) == "GPUs: 8 per worker, from the fake device plugin"
    for i, worker in enumerate(workers):
        _gpu_pod(core, ns, f"gpu-{i}", worker)
    for i in range(len(workers)):
        _running(core, ns, f"gpu-{i}")
        device, model = _device(core, ns, f"gpu-{i}")
        assert device.startswith("gpu-") and model == "stslab-fake-a100"
        assert f"stslab fake GPU {device}" in _exec(
            core, ns, f"gpu-{i}", ["cat", f"/dev/stslab-gpu/{device}"]
        )

    # The plugin off one worker (a lab pool's label keeps the cluster's plugin away).
    off = workers[0]
    core.patch_node(off, {"metadata": {"labels": {POOL_LABEL: "test-no-plugin"}}})
    try:
        start = time.monotonic()
        wait_until(
            lambda: gpu_plugin.offered(core.read_node(off)) == 0,
            timeout=120,
            what=f"{off} offering no GPUs once its plugin left",
        )
        TIMINGS["a worker's GPUs gone after its plugin left"] = time.monotonic() - start
        _gpu_pod(core, ns, "waits", off)
        for _ in range(10):  # Pending for as long as no plugin serves there
            pod = core.read_namespaced_pod("waits", ns)
            assert pod.status.phase == "Pending", pod.status
            time.sleep(1)
        why = {c.type: c for c in pod.status.conditions or []}["PodScheduled"]
        assert why.status == "False" and f"Insufficient {GPU_RESOURCE}" in why.message
        problem = gpu_plugin.problems(core, [off], 8)[off]
        assert "has no pod there yet" in problem.cause
    finally:
        core.patch_node(off, {"metadata": {"labels": {POOL_LABEL: None}}})
    start = time.monotonic()
    _running(core, ns, "waits")
    TIMINGS["a pending GPU pod Running once the plugin is back"] = time.monotonic() - start
    assert _device(core, ns, "waits")[1] == "stslab-fake-a100"


def test_a_plugin_gone_or_without_its_image_is_one_line_with_the_fix(
    cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Its DaemonSet deleted mid-lab, or its image missing from a node: status names the cause."""
    from stslab.cluster import gpu_plugin
    from stslab.gpu.config import plugin_image

    core = client.CoreV1Api(cluster["api"])
    apps = client.AppsV1Api(cluster["api"])
    apps.delete_namespaced_daemon_set(gpu_plugin.NAME, gpu_plugin.NAMESPACE)
    said = _status_saying(capsys, "is gone")
    assert said.startswith("GPUs: not ready: the fake GPU plugin's DaemonSet"), said
    assert said.endswith("`stslab gpu install` puts it back"), said
    # The fix, as the line gives it: the nodes hold the image, so nothing is built.
    assert main(["gpu", "install", "--backend", "kind"]) == 0
    assert "every node already holds" in capsys.readouterr().out
    workers = [w for w in sorted(KindBackend().node_containers()) if "control-plane" not in w]
    gpu_plugin.wait_for_plugin(core, workers, 8)

    # The image removed from one node, and its plugin pod restarted there.
    node, ref = workers[-1], f"docker.io/{plugin_image()}"
    saved = subprocess.run(
        ["docker", "exec", node, "ctr", "-n", "k8s.io", "images", "export", "-", ref],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    subprocess.run(
        ["docker", "exec", node, "ctr", "-n", "k8s.io", "images", "rm", ref],
        capture_output=True,
        timeout=60,
        check=True,
    )
    try:
        core.delete_collection_namespaced_pod(
            gpu_plugin.NAMESPACE,
            label_selector=gpu_plugin.SELECTOR,
            field_selector=f"spec.nodeName={node}",
        )
        said = _status_saying(capsys, "is not on node")
        assert f"is not on node {node}" in said and "`stslab gpu install`" in said, said
        with pytest.raises(gpu_plugin.GpusNotReadyError, match=f"is not on node {node}"):
            gpu_plugin.wait_for_plugin(core, [node], 8, timeout=60)
    finally:
        subprocess.run(
            ["docker", "exec", "-i", node, "ctr", "-n", "k8s.io", "images", "import", "-"],
            input=saved,
            capture_output=True,
            timeout=120,
            check=True,
        )
        # A new plugin pod finds the image at once (the old one backs off its pulls).
        core.delete_collection_namespaced_pod(
            gpu_plugin.NAMESPACE,
            label_selector=gpu_plugin.SELECTOR,
            field_selector=f"spec.nodeName={node}",
        )
    gpu_plugin.wait_for_plugin(core, workers, 8, timeout=300)


@pytest.mark.timeout(2700)  # every lab: about 15 min on 2 cores (lab 05 alone 5)
def test_every_lab_runs_on_kind_and_cleans_up(cluster: dict[str, Any]) -> None:
    """Every lab, headless, on real pods: exec, a real ZooKeeper, the plugin, a node switched off.

    Writes build/test-artifacts/kind-labs.tsv (lab, result, seconds) and keeps the executed
    notebooks in build/test-artifacts/kind-labs/.
    """
    from stslab.ops.runner import run_labs

    start = time.monotonic()
    results = run_labs([], backend="kind", build=ARTIFACTS / "kind-labs")
    TIMINGS["every lab headless"] = time.monotonic() - start
    rows = ["lab\tresult\tseconds"] + [
        f"{r.number}\t{'pass' if r.ok else 'FAIL'}\t{r.seconds:.1f}" for r in results
    ]
    (ARTIFACTS / "kind-labs.tsv").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    failed = [f"{r.number}: {r.error}" for r in results if not r.ok]
    assert not failed, failed
    assert len(results) == len(list((ROOT / "labs").glob("[0-9][0-9]-*.ipynb")))
    core = client.CoreV1Api(cluster["api"])
    labs = {f"lab-{r.number}" for r in results}
    assert not labs & {n.metadata.name for n in core.list_namespace().items}
    assert not [
        pv.metadata.name
        for pv in core.list_persistent_volume().items
        if (pv.spec.claim_ref and pv.spec.claim_ref.namespace in labs)
        or (pv.metadata.labels or {}).get(LAB_LABEL) in labs
    ]
    # The workers lab 06 pooled are back to plain workers, all Ready, their GPUs again from
    # the cluster's plugin.
    for n in core.list_node().items:
        assert POOL_LABEL not in (n.metadata.labels or {}), n.metadata.name
        assert not [t for t in n.spec.taints or [] if t.key == GPU_RESOURCE], n.metadata.name
        assert {c.type: c.status for c in n.status.conditions}["Ready"] == "True"
    from stslab.cluster import gpu_plugin

    workers = [w for w in sorted(KindBackend().node_containers()) if "control-plane" not in w]
    gpu_plugin.wait_for_plugin(core, workers, 8)
    storage = client.StorageV1Api(cluster["api"])
    assert not [
        sc.metadata.name
        for sc in storage.list_storage_class().items
        if (sc.metadata.labels or {}).get(LAB_LABEL) in labs
    ]


@pytest.mark.timeout(1200)
def test_a_room_on_kind_spawns_a_learners_pod_that_passes_lab_00(
    cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`workshop serve --kubernetes`: the hub on kind spawns a learner's server pod (KubeSpawner).

    The pod runs in the learner's namespace under their ServiceAccount, from the room's image
    built here and loaded into kind; lab 00 passes in a kernel of that server. `workshop delete`
    leaves no hub, role, binding or pod. Writes the pod's start time to kind-timings.tsv.
    """
    import contextlib
    import io
    import re

    from stslab.core.procs import LOOPBACK, free_port
    from stslab.ops import hub, hub_kube
    from stslab.testing import hub_client

    def cli(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    kubeconfig, workshop, ada = str(cluster["kubeconfig"]), "kindroom", "ada"
    code, out, err = cli(
        "workshop", "create", "--names", ada, "--kubeconfig", kubeconfig,
        "--workshop", workshop, "--yes",
    )  # fmt: skip
    assert code == 0, err
    m = re.search(rf"^{ada}\s+\S+\s+([a-z2-9]{{4}}-[a-z2-9]{{4}})\s", out, re.M)
    assert m, out
    core, rbac = client.CoreV1Api(cluster["api"]), client.RbacAuthorizationV1Api(cluster["api"])
    try:
        port = free_port()
        start = time.monotonic()
        code, out, err = cli("workshop", "serve", "--kubernetes", "--port", str(port))
        assert code == 0, err
        TIMINGS["room: serve --kubernetes (image built or reused, loaded)"] = (
            time.monotonic() - start
        )
        base = f"http://{LOOPBACK}:{port}"
        assert f"the room is served at {base}/" in out, out
        served = hub.HubRecord.load()
        assert served is not None and served.namespace == hub_kube.namespace_of(workshop)
        start = time.monotonic()
        r = hub_client.login(base, ada, m.group(1))
        assert r.status_code == 200, hub_client.page_text(r)[-600:]
        token = hub_client.user_token(base, served.api_token, ada)
        hub_client.wait_server(base, ada, token, timeout=400)
        TIMINGS["room: login to the learner's server answering"] = time.monotonic() - start
        pod = core.read_namespaced_pod(f"jupyter-{ada}", f"learner-{ada}")
        assert pod.spec.service_account_name == "learner"
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        pod_start = (ready.last_transition_time - pod.metadata.creation_timestamp).total_seconds()
        TIMINGS["room: KubeSpawner pod created to Ready (container started)"] = pod_start
        # Lab 00, headless, from a kernel of the learner's own server pod, in their namespace.
        run00 = (
            "import os, subprocess\n"
            "print('uid', os.getuid())\n"
            "r = subprocess.run(['stslab', 'labs', 'run', '00'], capture_output=True, text=True)\n"
            "print('rc', r.returncode); print(r.stdout[-800:], r.stderr[-800:])\n"
            "s = subprocess.run(['stslab', 'status'], capture_output=True, text=True)\n"
            "print(s.stdout)\n"
            f"k = ['kubectl', '-n', {hub_kube.namespace_of(workshop)!r}, 'get', 'secret', 'room']\n"
            "print('hub secret:', subprocess.run(k, capture_output=True, text=True).stderr)\n"
        )
        out = hub_client.execute(base, ada, token, run00)
        assert "uid 1000" in out and "rc 0" in out, out
        assert re.search(r"00-index\s+pass", out), out
        assert f"namespace learner-{ada}" in out, out
        # The room's Secret (code digests, the hub's token) is not the learner's to read.
        assert re.search(r"hub secret:.*Forbidden", out), out
    finally:
        code, out, err = cli("workshop", "delete", "--yes")
    assert code == 0, err
    assert hub.HubRecord.load() is None
    names = {n.metadata.name for n in core.list_namespace().items}
    assert hub_kube.namespace_of(workshop) not in names and f"learner-{ada}" not in names
    roles = {r.metadata.name for r in rbac.list_cluster_role().items}
    assert hub_kube.hub_role_name(workshop) not in roles


def test_a_member_that_cannot_start_or_join_is_named_with_why(
    cluster: dict[str, Any], ns: str
) -> None:
    """Lab 05's bad input on real pods: a member alone, then its image missing, then an exec."""
    from stslab.core.podexec import ExecError, run
    from stslab.lab import zookeeper
    from stslab.observe.ensemble import role_of

    api, core = cluster["api"], client.CoreV1Api(cluster["api"])
    docs, _ = zookeeper.manifests(core)
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    sts["spec"]["replicas"] = 1  # zk-0 alone: its zoo.cfg lists three servers
    _create(cluster, ns, *[d for d in docs if d["kind"] == "Service"], sts)
    _running(core, ns, "zk-0", 180)  # Ready: its process answers ruok, quorum or not
    wait_until(
        lambda: role_of(api, ns, "zk-0") == "looking", timeout=60, what="zk-0 looking for peers"
    )
    why = str(
        wait_until(
            lambda: (
                (c := zookeeper.last_complaint(core, ns, "zk-0")) != "no warning in its log" and c
            ),
            timeout=60,
            what="zk-0's log saying why it does not join",
        )
    )
    assert "zk-1" in why or "election address" in why or "server 2" in why.lower(), why

    # Its image replaced by one that no node holds (and may not pull): named, with the fix.
    client.AppsV1Api(api).patch_namespaced_stateful_set(
        "zk",
        ns,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "zookeeper",
                                "image": "docker.io/library/zookeeper:3.9.99-absent",
                                "imagePullPolicy": "Never",
                            }
                        ]
                    }
                }
            }
        },
    )
    lines = wait_until(
        lambda: [
            ln for ln in zookeeper.not_joined(core, ns, ["zk-0"]) if "ErrImageNeverPull" in ln
        ],
        timeout=120,
        what="zk-0 waiting for its image",
    )
    assert lines[0].startswith("zk-0: ErrImageNeverPull") and "stslab kind-image" in lines[0]
    with pytest.raises(ExecError) as refused:
        run(api, ns, "zk-0", ["true"])
    assert "Pending (ErrImageNeverPull)" in refused.value.cause
    assert "stslab kind-image" in refused.value.fix
    with pytest.raises(ExecError, match="does not exist"):
        run(api, ns, "zk-7", ["true"])


def test_docker_stopped_mid_lab_is_one_line_with_a_fix(
    cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine stops under a running cluster: status says so in one line, with the fix.

    Once it runs again Docker restarts the node containers; either the cluster answers again,
    or status names the node whose address changed (a kind cluster cannot follow that).
    """
    if DAEMON is None:
        pytest.skip("only an engine this module started itself is stopped")
    capsys.readouterr()
    DAEMON.stop()
    try:
        assert main(["status", "--backend", "kind"]) == 3
        said = capsys.readouterr().out.strip()
        assert len(said.splitlines()) == 1, said
        assert "the Docker engine is not answering" in said and "start it" in said, said
    finally:
        DAEMON.start()
    start = time.monotonic()

    def settled() -> str | None:
        code = main(["status", "--backend", "kind"])
        out = capsys.readouterr().out.strip()
        if code == 0:
            return "the cluster answers again"
        # Starting, stopped or moved: each says so (a new cluster is offered only for the last).
        assert any(w in out for w in ("may still be starting", "stopped", "new addresses")), out
        return out if "new addresses" in out else None

    outcome = wait_until(settled, timeout=300, what="the cluster back, or why not")
    TIMINGS["after a Docker restart: " + outcome.split(":")[0][:60]] = time.monotonic() - start
    print(f"after the Docker restart: {outcome}")


def test_down_leaves_no_containers_or_networks(engine: str, cluster: dict[str, Any]) -> None:
    """Runs last in this module: down removes the nodes and kind's network."""
    assert main(["down", "--backend", "kind"]) == 0
    assert _kind_containers() == []
    assert not (Path(cluster["state"]) / "kind").exists()
    # The node image stays (that is the cache); no stage image or build container is left.
    images = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert kindnode.image_ref() in images
    assert not [i for i in images if i.startswith(kindnode.REPO + "-stage")]
    left = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True)
    assert left.stdout.split() == []
