"""A workshop host shared by learners' Unix accounts: each tries to get around the kit, and fails.

The instructor runs a simulated cluster and a workshop as this (root) account, with the state
directory where a checkout usually is: under a directory every account may enter. Two learners
get Unix accounts of their own, each with their kubeconfig in their home, and try, from a
shell: the cluster's datastore (etcd, on loopback), the admin kubeconfig and the CA's key, the
other learner's kubeconfig, and, through the API server, pods that would land on the other
learner's machines or reach into a node. Each attempt is refused; the same attempts that are
allowed (the admin's etcd client, a pod on one's own machine) show the checks can tell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from stslab.cli import main
from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.core.kube import api_client
from stslab.core.labels import LEARNER_LABEL
from stslab.core.procs import free_port
from stslab.lab.context import learner_toleration
from stslab.lab.pools import learner_taint
from stslab.ops import workshop

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="makes Unix accounts: needs root (as CI runs)"),
]


@dataclass
class Host:
    rec: ClusterRecord
    state: Path
    shared: Path  # a directory every account may enter, holding the learners' homes and tools
    kubectl: Path
    learners: dict[str, str]  # Unix account -> learner name


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False)


def as_user(user: str, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``cmd`` run by the Unix account ``user`` in their home, with a clean environment."""
    return _run(["runuser", "-l", user, "-c", " ".join(_quote(c) for c in cmd)], stdin)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    shared = Path(tempfile.mkdtemp(prefix="stslab-host-"))
    shared.chmod(0o755)  # like a home directory on many systems: others may enter
    state = shared / "checkout" / ".stslab"
    backend = KwokBackend(state)
    users: dict[str, str] = {}
    suffix = uuid.uuid4().hex[:5]
    try:
        rec = backend.up(UpOptions(nodes=1, api_port=free_port(), dns_port=free_port()))
        (shared / "checkout").chmod(0o755)
        tools = shared / "tools"
        tools.mkdir(mode=0o755)
        kubectl = tools / "kubectl"
        shutil.copy2(backend.binaries()["kubectl"], kubectl)
        kubectl.chmod(0o755)
        instructor = shared / "instructor.kubeconfig"
        shutil.copyfile(rec.kubeconfig, instructor)
        names = {f"stslab-a{suffix}": f"ann{suffix}", f"stslab-b{suffix}": f"bob{suffix}"}
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("STSLAB_STATE", str(state))
            args = ["workshop", "create", "--names", ",".join(names.values()), "--yes"]
            assert main([*args, "--kubeconfig", str(instructor), "--workshop", f"h{suffix}"]) == 0
            made = workshop.WorkshopRecord.load()
        assert made is not None
        homes = shared / "home"
        homes.mkdir(mode=0o755)
        for user, learner in names.items():
            r = _run(["useradd", "-m", "-d", str(homes / user), "-s", "/bin/sh", user])
            assert r.returncode == 0, r.stderr
            users[user] = learner
            home = homes / user
            home.chmod(0o700)  # as the room's hub makes a learner's home
            kube = home / ".kube"
            kube.mkdir()
            shutil.copyfile(made.learners[learner].kubeconfig, kube / "config")
            _run(["chown", "-R", f"{user}:{user}", str(kube)])
            (kube / "config").chmod(0o600)
        yield Host(rec, state, shared, kubectl, users)
    finally:
        for user in users:
            _run(["userdel", "-r", user])
        try:
            if backend.exists():
                backend.down()
        finally:
            shutil.rmtree(shared, ignore_errors=True)


def _ann_bob(host: Host) -> tuple[str, str]:
    return tuple(sorted(host.learners))  # type: ignore[return-value]


def test_the_datastore_answers_only_the_api_server(host: Host) -> None:
    ann, _ = _ann_bob(host)
    port = host.rec.extra["ports"]["etcd"]
    body = json.dumps({"key": "AA==", "range_end": "AA==", "keys_only": True})
    url = f"127.0.0.1:{port}/v3/kv/range"
    plain = as_user(
        ann, "curl", "-sS", "--max-time", "5", "-X", "POST", f"http://{url}", "-d", body
    )
    assert '"kvs"' not in plain.stdout and '"count"' not in plain.stdout, plain.stdout
    tls = as_user(
        ann, "curl", "-sSk", "--max-time", "5", "-X", "POST", f"https://{url}", "-d", body
    )
    assert tls.returncode != 0 and '"count"' not in tls.stdout, tls.stdout  # no client certificate
    # The API server's own certificate is let in: the checks above can tell.
    pki = KwokBackend(host.state).cluster_dir / "pki"
    admin = _run(
        ["curl", "-sS", "--max-time", "5", "--cacert", str(pki / "ca.crt"), "--cert",
         str(pki / "admin.crt"), "--key", str(pki / "admin.key"), "-X", "POST", f"https://{url}",
         "-d", body]
    )  # fmt: skip
    assert '"count"' in admin.stdout, admin.stdout + admin.stderr


def test_the_instructors_files_and_other_learners_are_out_of_reach(host: Host) -> None:
    ann, bob = _ann_bob(host)
    backend = KwokBackend(host.state)
    assert oct(host.state.stat().st_mode & 0o777) == "0o700"
    private = [
        backend.kubeconfig_path,  # the admin kubeconfig
        backend.cluster_dir / "pki" / "ca.key",
        host.state / "workshop",  # the learners' kubeconfigs
        host.shared / "home" / bob / ".kube" / "config",  # the other learner's own
    ]
    for path in private:
        assert path.exists(), path
        r = as_user(ann, "cat", str(path))
        assert r.returncode != 0 and "Permission denied" in r.stderr, (path, r.stdout[:80])
    mine = as_user(ann, "cat", str(host.shared / "home" / ann / ".kube" / "config"))
    assert mine.returncode == 0 and "token" in mine.stdout


def _pod(name: str, **spec: object) -> dict[str, object]:
    containers = [{"name": "c", "image": "busybox:1.28", "command": ["sleep", "3600"]}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers} | spec}  # fmt: skip


def test_pods_stay_off_other_learners_machines_and_out_of_the_node(host: Host) -> None:
    ann, bob = _ann_bob(host)
    a, b = host.learners[ann], host.learners[bob]
    core = client.CoreV1Api(api_client(host.rec.kubeconfig))
    machines = {}
    for learner in (a, b):  # each learner's machine, tainted for them alone
        name = f"learner-{learner}-m1"
        core.create_node(
            {"metadata": {"name": name, "labels": {LEARNER_LABEL: learner},
                          "annotations": {"kwok.x-k8s.io/node": "fake"}},
             "spec": {"taints": [learner_taint(learner)]}}
        )  # fmt: skip
        machines[learner] = name

    def apply(doc: dict[str, object]) -> subprocess.CompletedProcess[str]:
        return as_user(ann, str(host.kubectl), "apply", "-f", "-", stdin=yaml.safe_dump(doc))

    try:
        everywhere = _pod("x", tolerations=[{"operator": "Exists"}])
        sts_template = {"metadata": {"labels": {"app": "x"}}, "spec": everywhere["spec"]}
        attempts: dict[str, list[dict[str, object]]] = {
            "may not tolerate every taint": [
                _pod("everywhere", tolerations=[{"operator": "Exists"}]),
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "metadata": {"name": "x"},
                    "spec": {
                        "serviceName": "x",
                        "selector": {"matchLabels": {"app": "x"}},
                        "template": sts_template,
                    },
                },
            ],  # fmt: skip
            "may tolerate only their own machines": [
                _pod("lured", tolerations=[learner_toleration(b)]),
                _pod("any-learner", tolerations=[{"key": LEARNER_LABEL, "operator": "Exists"}]),
            ],
            "may run only on their own machines": [_pod("placed", nodeName=machines[b])],
            "may mount from the node only": [
                _pod("etcd-data", volumes=[{"name": "d", "hostPath": {"path": "/"}}])
            ],
            "may not use the node": [_pod("host-net", hostNetwork=True)],
            "may not run privileged containers": [
                {
                    **_pod("root"),
                    "spec": {
                        "containers": [
                            {
                                "name": "c",
                                "image": "busybox:1.28",
                                "securityContext": {"privileged": True},
                            }
                        ]
                    },
                }  # fmt: skip
            ],
        }
        for says, docs in attempts.items():
            for doc in docs:
                r = apply(doc)
                assert r.returncode != 0, (says, r.stdout)
                assert "ValidatingAdmissionPolicy 'stslab-workshop-" in r.stderr, r.stderr
                assert says in r.stderr, r.stderr
        # The same learner's own machine, taint and directory: allowed.
        own_dir = f"/tmp/stslab-learner-{a}/data"
        r = apply(
            _pod("mine", nodeName=machines[a], tolerations=[learner_toleration(a)],
                 volumes=[{"name": "d", "hostPath": {"path": own_dir}}])
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    finally:
        for name in machines.values():
            core.delete_node(name)
