"""``stslab workshop serve --kubernetes``: the room's hub, and every learner's server, as pods.

Beyond one machine, the room runs on the workshop's cluster, as zero-to-jupyterhub lays it out:

- a namespace ``stslab-room-<workshop>`` with the hub (JupyterHub, KubeSpawner and its proxy in
  one Deployment, :func:`hub_objects`), its Service, and a Secret with the room (learners' code
  digests, expiries and namespaces; the hub's service token) and the hub's configuration;
- the hub's ServiceAccount may make and remove pods, and read their events, in the learners'
  namespaces only (a RoleBinding in each to the ClusterRole :func:`hub_role_name`);
- each learner's JupyterLab is a pod in their own namespace, under their own ServiceAccount
  (``learner``, whose rights ``workshop create`` set), running the labs against that namespace
  (:data:`stslab.cluster.images.room.ENTRY`); the workshop's pod policy applies to it as to any
  pod of theirs.

The image (:mod:`stslab.cluster.images.room`) is built here and loaded into the lab's kind
cluster (no registry); for another cluster, pass ``--image`` with one its nodes can pull. The
room is reached through ``kubectl port-forward`` on this machine's loopback (``--ip`` for the
room's interface), so its URL is the same as a hub served from this machine.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cluster.containers import CLUSTER, KindBackend
from stslab.cluster.images import room as room_image
from stslab.core.errors import StslabError, UsageError
from stslab.core.kube import wait_until
from stslab.core.paths import binary_dir
from stslab.core.procs import run, terminate
from stslab.core.versions import pinned
from stslab.lab.roster import WorkshopRecord
from stslab.ops.confinement import ACCOUNT, admin_client, target, workshop_labels
from stslab.ops.hub import HubRecord, hub_dir, proxy_command

HUB_PORT, API_PORT = 8000, 8081
CONFIG = "from stslab.ops.hub_app import configure_kubernetes\n\nconfigure_kubernetes(c)  # noqa\n"
MOUNT = "/etc/stslab/room"
HUB_READY_TIMEOUT = 300.0


def namespace_of(workshop: str) -> str:
    """The room's namespace on the cluster."""
    return f"stslab-room-{workshop}"


def hub_role_name(workshop: str) -> str:
    """The ClusterRole the hub is bound to in each learner's namespace."""
    return f"stslab-room-hub-{workshop}"


def room_settings(rec: WorkshopRecord, image: str, node: str, api_token: str) -> dict[str, Any]:
    """What the hub reads (``room.json`` in its Secret): the learners and where pods run."""
    return {
        "workshop": rec.workshop,
        "image": image,
        "node": node,
        "namespace": namespace_of(rec.workshop),
        "api_token": api_token,
        "account": ACCOUNT,  # each learner's ServiceAccount, which their server's pod runs as
        "learners": {
            name: {"code_sha256": x.code_sha256, "expires": x.expires, "namespace": x.namespace}
            for name, x in rec.learners.items()
        },
    }


def hub_objects(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The hub's namespace, Secret, ServiceAccount, Deployment and Service."""
    ns, workshop = settings["namespace"], settings["workshop"]
    labels = workshop_labels(workshop) | {"app.kubernetes.io/name": "stslab-room-hub"}
    meta = {"namespace": ns, "labels": labels}
    placement = {"nodeSelector": {"kubernetes.io/hostname": settings["node"]}}
    pod = {
        "serviceAccountName": "hub",
        **(placement if settings["node"] else {}),
        "securityContext": {"runAsUser": room_image.LEARNER_UID, "fsGroup": room_image.LEARNER_UID},
        "containers": [
            {
                "name": "hub",
                "image": settings["image"],
                "imagePullPolicy": "IfNotPresent",
                "command": ["jupyterhub", "-f", f"{MOUNT}/config.py"],
                "workingDir": "/srv/hub",
                "env": [{"name": "STSLAB_ROOM", "value": f"{MOUNT}/room.json"}],
                "ports": [{"containerPort": HUB_PORT}, {"containerPort": API_PORT}],
                # The hub itself: its proxy reaches it through the Service, which has no
                # endpoint until this pod is Ready.
                "readinessProbe": {
                    "httpGet": {"path": "/hub/health", "port": API_PORT},
                    "periodSeconds": 2,
                },
                "volumeMounts": [
                    {"name": "room", "mountPath": MOUNT, "readOnly": True},
                    {"name": "data", "mountPath": "/srv/hub"},
                ],
            }
        ],
        "volumes": [
            {"name": "room", "secret": {"secretName": "room", "defaultMode": 0o440}},
            {"name": "data", "emptyDir": {}},
        ],
    }
    select = {"app.kubernetes.io/name": "stslab-room-hub"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "room", **meta},
            "stringData": {"room.json": json.dumps(settings, indent=2), "config.py": CONFIG},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hub", **meta}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "hub", **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": select},
                "strategy": {"type": "Recreate"},
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "hub", **meta},
            "spec": {
                "selector": select,
                "ports": [
                    {"name": "http", "port": HUB_PORT},
                    {"name": "api", "port": API_PORT},
                ],
            },
        },
    ]


def hub_role(workshop: str) -> dict[str, Any]:
    """What the hub may do in a learner's namespace: their server's pod, and its events."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": hub_role_name(workshop), "labels": workshop_labels(workshop)},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["pods"],
                "verbs": ["get", "list", "watch", "create", "delete"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        ],
    }


def hub_binding(workshop: str, learner_ns: str) -> dict[str, Any]:
    """Binds :func:`hub_role` to the hub's ServiceAccount in one learner's namespace."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": hub_role_name(workshop),
            "namespace": learner_ns,
            "labels": workshop_labels(workshop),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": hub_role_name(workshop),
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "hub", "namespace": namespace_of(workshop)}
        ],
    }


def _apply(api: client.ApiClient, objs: list[dict[str, Any]]) -> None:
    """Create each object, replacing one that exists (the room's own, from an earlier serve)."""
    from kubernetes import dynamic

    dyn = dynamic.DynamicClient(api)
    for obj in objs:
        res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        ns = obj["metadata"].get("namespace")
        try:
            res.create(body=obj, namespace=ns)
        except ApiException as e:
            if e.status != 409:
                raise
            res.patch(
                body=obj,
                name=obj["metadata"]["name"],
                namespace=ns,
                content_type="application/merge-patch+json",
            )


def _kind_node() -> str:
    """The kind worker the room's pods run on (the image is loaded there only)."""
    nodes = KindBackend().node_containers()
    workers = sorted(n for n in nodes if "control-plane" not in n) or sorted(nodes)
    if not workers:
        raise UsageError(
            "serve --kubernetes loads its image into the lab's kind cluster, and none is up",
            "start it (`stslab up --backend kind`), or pass --image with an image your "
            "cluster's nodes can pull",
        )
    return workers[0]


def _load(core: client.CoreV1Api, ref: str, archive: Path, node: str) -> None:
    """Load the image's archive into the kind node, unless the node has it already."""
    images = core.read_node(node).status.images or []
    if any(ref in (i.names or []) for i in images):
        return
    print(f"loading the room's image into {node} (about a minute)", flush=True)
    kind = KindBackend()
    run(
        [kind.kind, "load", "image-archive", str(archive), "--name", CLUSTER, "--nodes", node],
        timeout=900,
        what="kind load image-archive",
        fix="check that the Docker engine runs (`docker info`), then serve again",
    )


def serve(rec: WorkshopRecord, *, ip: str, port: int, image: str | None) -> HubRecord:
    """Run the room on the workshop's cluster and forward ``ip:port`` to it."""
    t = target(Path(rec.kubeconfig), rec.context)
    api = admin_client(t)
    core = client.CoreV1Api(api)
    node = ""
    if image is None:
        node = _kind_node()
        print("building the room's image (cached; a new kit: about 3 min)", flush=True)
        image, archive = room_image.build(proxy_command())
        _load(core, image, archive, node)
    token = secrets.token_hex(32)
    ns = namespace_of(rec.workshop)
    hub = HubRecord(rec.workshop, f"http://{ip}:{port}/", "", api_token=token, namespace=ns)
    hub.accounts = {name: name for name in rec.learners}
    hub_dir().mkdir(parents=True, exist_ok=True)
    hub_dir().chmod(0o700)
    hub.save()  # before anything is made: what to remove if this fails
    try:
        settings = room_settings(rec, image, node, token)
        objs = hub_objects(settings)
        _apply(api, objs[:1] + [hub_role(rec.workshop)])
        _apply(api, [hub_binding(rec.workshop, x.namespace) for x in rec.learners.values()])
        _apply(api, objs[1:])
        # A new Secret is a new room: restart the hub so that it reads it.
        apps = client.AppsV1Api(api)
        stamp = {"stslab.dev/served": str(time.time())}
        apps.patch_namespaced_deployment(
            "hub", ns, {"spec": {"template": {"metadata": {"annotations": stamp}}}}
        )
        _wait_ready(apps, core, ns)
        hub.pid = _forward(t.kubeconfig, t.context, ns, ip, port)
        hub.save()
    except BaseException:
        remove(hub, api)
        (hub_dir() / "hub.json").unlink(missing_ok=True)  # the forward's log stays: errors name it
        raise
    return hub


def _wait_ready(apps: client.AppsV1Api, core: client.CoreV1Api, ns: str) -> None:
    """Wait for the hub's pod to answer its health check; a failure says why."""

    def ready() -> bool:
        d = apps.read_namespaced_deployment("hub", ns)
        s = d.status
        return bool(
            s.observed_generation == d.metadata.generation
            and (s.updated_replicas or 0) == 1
            and (s.ready_replicas or 0) == 1
            and (s.replicas or 0) == 1
        )

    try:
        wait_until(ready, timeout=HUB_READY_TIMEOUT, what="the room's hub pod Ready")
    except StslabError:
        pods = core.list_namespaced_pod(ns).items
        why = "; ".join(
            f"{p.metadata.name}: {p.status.phase} "
            + " ".join(
                (c.state.waiting.reason or "") if c.state and c.state.waiting else ""
                for c in p.status.container_statuses or []
            )
            for p in pods
        )
        raise StslabError(
            f"the room's hub did not become ready on the cluster ({why or 'no pod'})",
            f"see `kubectl -n {ns} describe pod` and `kubectl -n {ns} logs deploy/hub`",
        ) from None


def _forward(kubeconfig: Path, context: str, ns: str, ip: str, port: int) -> int:
    """``kubectl port-forward`` of the hub's Service to ``ip:port`` in the background; its pid."""
    kubectl = binary_dir("kubernetes", pinned().kubernetes) / "kubectl"
    cmd = [str(kubectl), "--kubeconfig", str(kubeconfig), "--context", context, "-n", ns]
    cmd += ["port-forward", "--address", ip, "svc/hub", f"{port}:{HUB_PORT}"]
    with (hub_dir() / "forward.log").open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command
        )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with opener.open(f"http://{ip}:{port}/hub/health", timeout=5) as r:
                if r.status == 200:
                    return proc.pid
        except OSError:
            time.sleep(0.5)
    terminate(proc.pid)
    tail = (hub_dir() / "forward.log").read_text(errors="replace").strip().splitlines()[-1:]
    raise StslabError(
        f"the forward to the room's hub did not answer: {' '.join(tail)}",
        f"its log: {hub_dir() / 'forward.log'}",
    )


def remove(hub: HubRecord, api: client.ApiClient | None = None) -> None:
    """Remove the learners' server pods, the hub's namespace, role and bindings from the cluster."""
    if api is None:
        from stslab.lab.roster import WorkshopRecord

        rec = WorkshopRecord.load()
        if rec is None:
            return
        api = admin_client(target(Path(rec.kubeconfig), rec.context))
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    gone = (404,)
    for learner_ns in _learner_namespaces(core, hub.workshop):
        _quietly(
            lambda n=learner_ns: core.delete_collection_namespaced_pod(
                n, label_selector="component=singleuser-server", grace_period_seconds=5
            ),
            gone,
        )
        _quietly(
            lambda n=learner_ns: rbac.delete_namespaced_role_binding(
                hub_role_name(hub.workshop), n
            ),
            gone,
        )
    _quietly(lambda: rbac.delete_cluster_role(hub_role_name(hub.workshop)), gone)
    _quietly(lambda: core.delete_namespace(hub.namespace), gone)


def _learner_namespaces(core: client.CoreV1Api, workshop: str) -> list[str]:
    from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL

    sel = f"{WORKSHOP_LABEL}={workshop},{LEARNER_LABEL}"
    return [n.metadata.name for n in core.list_namespace(label_selector=sel).items]


def _quietly(call: Any, ok: tuple[int, ...]) -> None:
    try:
        call()
    except ApiException as e:
        if e.status not in ok:
            raise
