"""Lab 05's ZooKeeper helpers: its manifest for this cluster, zkCli inside a member, a client.

Everything runs inside the ensemble's own containers through the API server (``kubectl exec``):
the notebook never connects to a pod's address. Only backends whose nodes run containers have a
ZooKeeper to talk to; on the simulated backend :func:`cli` says so in one line.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client

from stslab.cluster.images.zookeeper import REF as OFFLINE_REF
from stslab.core.kube import image_on_nodes
from stslab.core.podexec import IMAGE_FIX, IMAGE_REASONS, Result, run
from stslab.lab.manifests import load

MANIFEST = "clusters/zookeeper/zookeeper.yaml"
# The server logs how long each election took ("LEADING - LEADER ELECTION TOOK - 212 MS").
ELECTION = re.compile(r"(LEADING|FOLLOWING) - LEADER ELECTION TOOK - (\d+) MS")


def manifests(core: client.CoreV1Api) -> tuple[list[dict[str, Any]], str]:
    """The lab's manifests for this cluster, and a sentence on which image they run.

    The manifest pins the official image by tag and digest. Nodes that already hold an image
    under the official tag (stslab's offline node image carries its own ZooKeeper build there,
    see ``clusters/zookeeper/CONTRACT.md``) run that one: a digest would make them pull.
    """
    docs = load(MANIFEST)
    if not image_on_nodes(core, OFFLINE_REF):
        return docs, "the official image, pinned by digest (pulled by each node)"
    for doc in docs:
        if doc["kind"] == "StatefulSet":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["image"] = container["image"].split("@", 1)[0]
    return docs, (
        f"{OFFLINE_REF}, already on every node (stslab's offline build of ZooKeeper "
        "3.9.5; the digest is dropped so that no node tries to pull)"
    )


def cli(
    api: client.ApiClient, namespace: str, member: str, *args: str, timeout: float = 90
) -> Result:
    """Run ``zkCli.sh -server 127.0.0.1:2181 ARGS`` inside ``member``; its output and status."""
    return run(
        api,
        namespace,
        member,
        ["zkCli.sh", "-server", "127.0.0.1:2181", *args],
        timeout=timeout,
    )


def value(result: Result) -> str:
    """The data ``get`` printed: zkCli's last line of standard output."""
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def election_times(core: client.CoreV1Api, namespace: str, member: str) -> list[tuple[str, int]]:
    """The elections ``member``'s server logged: (role it took, milliseconds), oldest first."""
    log = core.read_namespaced_pod_log(member, namespace, container="zookeeper")
    return [(m.group(1).lower(), int(m.group(2))) for m in ELECTION.finditer(log)]


def client_pod(name: str, image: str, writes: int, server: str, path: str) -> dict[str, Any]:
    """A pod that writes ``writes`` znodes under ``path`` through ``server``, one at a time.

    Each write is tried up to five times, 2 s apart; the pod prints one line per write
    (``ok N``, ``retried N``: it took more than one try, ``failed N: why``) and a summary, so a
    disruption's cost can be counted. Every write starts a JVM: about one a second.
    """
    script = f"""
for try in 1 2 3 4 5; do   # the parent, once (it may exist from an earlier run of the cell)
  out=$(zkCli.sh -server {server} create {path} "" 2>&1) && break
  case "$out" in *"already exists"*) break ;; esac
  sleep 1
done
ok=0; retried=0; failed=0
for i in $(seq {writes}); do
  result=failed
  for try in 1 2 3 4 5; do
    out=$(zkCli.sh -server {server} create {path}/w$i "$i" 2>&1) && {{ result=ok; break; }}
    # A reply lost with the connection: an earlier try may have written it after all.
    case "$out" in *"already exists"*) result=ok; break ;; esac
    sleep 2
  done
  if [ $result = ok ] && [ $try -gt 1 ]; then result=retried; fi
  case $result in
    ok) ok=$((ok + 1)) ;;
    retried) retried=$((retried + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
  if [ $result = failed ]; then
    echo "failed $i: $(echo "$out" | grep -m1 -E 'KeeperErrorCode|Exception|refused' || true)"
  else
    echo "$result $i"
  fi
done
echo "summary succeeded=$ok retried=$retried failed=$failed"
"""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "client", "image": image, "command": ["bash", "-c", script]}],
        },
    }


def summary(log: str) -> dict[str, int]:
    """The client pod's counts, from its ``summary`` line ({} while it still runs)."""
    for line in reversed(log.splitlines()):
        if line.startswith("summary "):
            return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    return {}


def not_joined(core: client.CoreV1Api, namespace: str, members: list[str]) -> list[str]:
    """One line per member that is not Ready: why its container waits, or its log's last error.

    A missing image (the kind nodes hold only what was preloaded) gets the fix with its line.
    """
    lines = []
    for name in members:
        try:
            p = core.read_namespaced_pod(name, namespace)
        except client.ApiException:
            lines.append(f"{name}: not created (the members before it are not Ready)")
            continue
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []):
            continue
        why = [
            f"{cs.state.waiting.reason}: {cs.state.waiting.message or ''}".strip(": ")
            for cs in p.status.container_statuses or []
            if cs.state and cs.state.waiting and cs.state.waiting.reason
        ]
        if not why and p.status.phase == "Running":
            why = [last_complaint(core, namespace, name)]
        if why and why[0].startswith(IMAGE_REASONS):
            why[0] += f" — {IMAGE_FIX}"
        lines.append(f"{name}: {why[0] if why else p.status.phase}")
    return lines


def last_complaint(core: client.CoreV1Api, namespace: str, member: str) -> str:
    """The last warning or error in ``member``'s server log (why it does not join)."""
    log = core.read_namespaced_pod_log(member, namespace, container="zookeeper", tail_lines=200)
    errors = [ln for ln in log.splitlines() if " ERROR " in ln or " WARN " in ln]
    return errors[-1] if errors else "no warning in its log"


def said(result: Result) -> str:
    """What zkCli said: "ok", or its error (``KeeperErrorCode = ConnectionLoss for /a``, ...).

    zkCli ends a failure with a log line of its own ("Exiting JVM with code 1"); the error that
    matters is the line before it that names the ZooKeeper error or exception.
    """
    if result.ok:
        return "ok"
    for line in reversed((result.stdout + "\n" + result.stderr).splitlines()):
        if "KeeperErrorCode" in line or "Node already exists" in line or "Exception" in line:
            return line.strip()
    return result.last_line()
