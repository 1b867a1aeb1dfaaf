"""Lab 08's challenges: a StatefulSet broken as users meet it, fixed in kubectl, judged by its end.

Each :class:`Challenge` has a break (makes the broken state in the lab's namespace, afresh each
time its cell runs, and prints the symptom a user would report, never the cause), a look (what
the learner's cluster shows now: a hint ladder's first line) and a goal (the final state, read
from the cluster: met, or what is still wrong). The learner's commands run through
:meth:`~stslab.lab.context.Lab.fix`; :func:`~stslab.lab.check.reached` judges the goal.

A goal protects what a careless fix destroys: members that were serving are not replaced,
claims keep their uid (their data), a budget is not deleted to get a drain through.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.errors import ClusterStateError, UsageError
from stslab.core.kube import tolerating_absence, wait_until
from stslab.core.labels import NEVER_READY_ANNOTATION
from stslab.core.paths import lab_files_dir
from stslab.core.procs import run
from stslab.lab.drain import evict
from stslab.lab.manifests import headless_service, statefulset
from stslab.lab.nslookup import lookup

if TYPE_CHECKING:
    from stslab.lab.context import Lab

Goal = tuple[bool, str]  # met?, and what the cluster shows


@dataclass
class Broken:
    """A challenge broken in the lab's namespace: what the goal compares with."""

    challenge: Challenge
    lab: Lab
    before: dict[str, Any] = field(default_factory=dict)  # uids, the good revision, ...

    @property
    def exercise(self) -> str:
        """The exercise the learner's fix is recorded under (``fix_<challenge>``)."""
        return f"fix_{self.challenge.name}"

    def goal(self) -> Goal:
        """Whether the final state is reached, and what the cluster shows."""
        if not _namespace_exists(self.lab):
            return False, _GONE.format(self.lab.namespace)
        return self.challenge.goal(self.lab, self.before)

    def look(self) -> str:
        """What the learner's cluster shows now, in one line."""
        return self.challenge.look(self.lab)


@dataclass(frozen=True)
class Challenge:
    """One way a StatefulSet breaks: how to break it, look at it and know it is fixed."""

    name: str
    make: Callable[[Lab], dict[str, Any]]  # breaks; prints the symptom; returns `before`
    look: Callable[[Lab], str]
    goal: Callable[[Lab, dict[str, Any]], Goal]


_GONE = (
    "the namespace {} is gone (deleted?): run the lab from the top (its first cells make it "
    "again), then this challenge's first cell"
)


def _namespace_exists(lab: Lab) -> bool:
    try:
        lab.core.read_namespace(lab.namespace)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def start(lab: Lab, name: str) -> Broken:
    """Break challenge ``name`` afresh in the lab's namespace; its hints read the cluster.

    Run again, it removes what the challenge made (and what the learner did) and breaks it anew.
    """
    if name not in CHALLENGES:
        raise UsageError(f"no challenge {name!r}", f"one of {', '.join(CHALLENGES)}")
    if not _namespace_exists(lab):
        what, fix = _GONE.format(lab.namespace).split(": ", 1)
        raise ClusterStateError(what, fix)
    challenge = CHALLENGES[name]
    broken = Broken(challenge, lab)
    broken.before = challenge.make(lab)
    lab.looks[broken.exercise] = broken.look
    return broken


# -- reading the cluster ---------------------------------------------------------------------


def _sts(lab: Lab, name: str) -> Any:
    try:
        return lab.apps.read_namespaced_stateful_set(name, lab.namespace)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def _members(lab: Lab, name: str) -> dict[str, Any]:
    """The set's pods by name, without those being deleted."""
    pods = lab.core.list_namespaced_pod(lab.namespace, label_selector=f"app={name}").items
    return {p.metadata.name: p for p in pods if not p.metadata.deletion_timestamp}


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _revision(pod: Any) -> str:
    return str((pod.metadata.labels or {}).get("controller-revision-hash", "?"))


def _uids(lab: Lab, name: str) -> dict[str, str]:
    return {n: p.metadata.uid for n, p in _members(lab, name).items()}


def _claims(lab: Lab, prefix: str) -> dict[str, str]:
    """The lab's claims whose name starts with ``prefix``, and their uids."""
    items = lab.core.list_namespaced_persistent_volume_claim(lab.namespace).items
    return {c.metadata.name: c.metadata.uid for c in items if c.metadata.name.startswith(prefix)}


def _replaced(lab: Lab, name: str, uids: dict[str, str]) -> list[str]:
    """Which of the members that served before the fix were replaced (or are gone)."""
    now = _uids(lab, name)
    return [n for n, uid in sorted(uids.items()) if now.get(n) != uid]


def _all_ready(lab: Lab, name: str, count: int) -> list[str]:
    """What keeps ``count`` members of ``name`` from being Ready (empty: all are)."""
    pods = _members(lab, name)
    return [
        f"{name}-{i} " + ("missing" if f"{name}-{i}" not in pods else "not Ready")
        for i in range(count)
        if f"{name}-{i}" not in pods or not _ready(pods[f"{name}-{i}"])
    ]


def _resolves(lab: Lab, name: str, service: str, count: int) -> list[str]:
    """Which members' DNS names do not resolve to their pod's address."""
    pods, wrong = _members(lab, name), []
    for i in range(count):
        member = f"{name}-{i}"
        fqdn = f"{member}.{service}.{lab.namespace}.svc.cluster.local"
        got = lookup(fqdn, cluster=lab.cluster, namespace=lab.namespace).addresses
        ip = pods[member].status.pod_ip if member in pods else None
        if not ip or got != [ip]:
            wrong.append(f"{fqdn} → {', '.join(got) or 'no address'}")
    return wrong


# -- making the scene ------------------------------------------------------------------------


def _afresh(lab: Lab, name: str, *, services: tuple[str, ...] = (), claims: bool = False) -> None:
    """Remove set ``name``, its pods (and claims), its Services and budget: a clean scene."""
    ns, policy = lab.namespace, client.PolicyV1Api(lab.api)
    tolerating_absence(lab.apps.delete_namespaced_stateful_set, name, ns)
    tolerating_absence(policy.delete_namespaced_pod_disruption_budget, name, ns)
    for svc in services or (name,):
        tolerating_absence(lab.core.delete_namespaced_service, svc, ns)
    for pod in _members(lab, name):
        tolerating_absence(lab.core.delete_namespaced_pod, pod, ns, grace_period_seconds=0)
    if claims:
        for claim in _claims(lab, f"www-{name}-"):
            tolerating_absence(lab.core.delete_namespaced_persistent_volume_claim, claim, ns)
    wait_until(
        lambda: (
            not lab.core.list_namespaced_pod(ns, label_selector=f"app={name}").items
            and not (claims and _claims(lab, f"www-{name}-"))
        ),
        timeout=lab.timeout,
        what=f"{name}'s earlier pods being deleted",
    )


def _running(lab: Lab, manifest: dict[str, Any], service: dict[str, Any] | None = None) -> None:
    """Apply a set (and its Service) and wait for every member to be Ready."""
    name, replicas = manifest["metadata"]["name"], manifest["spec"]["replicas"]
    lab.apply(service or headless_service(name))
    lab.apply(manifest)
    wait_until(
        lambda: not _all_ready(lab, name, replicas),
        timeout=lab.timeout,
        what=f"{name}'s {replicas} members Ready",
    )


def _reported(text: str) -> None:
    print(f"Reported by a user: «{text}»")


# -- 1. a rollout stuck on a broken revision ---------------------------------------------------


def _break_rollout(lab: Lab) -> dict[str, Any]:
    _afresh(lab, "shop")
    good = statefulset("shop", 3, claims=False)
    _running(lab, good)
    revision = _sts(lab, "shop").status.current_revision
    served = _uids(lab, "shop")
    bad = copy.deepcopy(good)
    pod = bad["spec"]["template"]
    pod["metadata"]["annotations"] = {NEVER_READY_ANNOTATION: "v2"}  # the simulated kubelet's way
    container = pod["spec"]["containers"][0]
    container["env"] = [{"name": "SHOP_RELEASE", "value": "v2"}]
    container["readinessProbe"] = {  # a container's way: it never answers ready
        "exec": {"command": ["sh", "-c", "test -e /ready-v2"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    lab.apply(bad)

    def stuck() -> bool:
        s, pods = _sts(lab, "shop"), _members(lab, "shop")
        p = pods.get("shop-2")
        return bool(
            p and _revision(p) != revision and p.status.phase == "Running"
            and s.status.update_revision != revision
        )  # fmt: skip

    wait_until(stuck, timeout=lab.timeout, what="shop-2 running the release v2")
    time.sleep(3)  # long enough to see that it stays so
    _reported(
        "since this morning's release v2, shop has had 2 of 3 members Ready, for hours; "
        "we want it back as it was before the release, and shop-0 and shop-1 must keep serving"
    )
    _print_pods(lab, "shop")
    return {"good": revision, "served": {n: u for n, u in served.items() if n != "shop-2"}}


def _print_pods(lab: Lab, name: str) -> None:
    print(f"$ kubectl get pods -l app={name} -L controller-revision-hash")
    for n, p in sorted(_members(lab, name).items()):
        print(f"{n:10} ready={str(_ready(p)):5} {p.status.phase:8} revision {_revision(p)}")


def _look_rollout(lab: Lab) -> str:
    s, pods = _sts(lab, "shop"), _members(lab, "shop")
    if s is None:
        return "there is no StatefulSet shop"
    each = ", ".join(
        f"{n} on {_revision(p)} ({'Ready' if _ready(p) else 'not Ready'})"
        for n, p in sorted(pods.items())
    )
    return (
        f"{each}; the set's currentRevision is {s.status.current_revision}, its updateRevision "
        f"{s.status.update_revision}"
    )


def _goal_rollout(lab: Lab, before: dict[str, Any]) -> Goal:
    s = _sts(lab, "shop")
    if s is None:
        return False, "the StatefulSet shop is gone: run this challenge's first cell again"
    served = before["served"]
    wrong = [f"{n} was replaced: it served all along" for n in _replaced(lab, "shop", served)]
    if s.status.update_revision != before["good"]:
        wrong.append(
            f"shop's template is still the release's ({s.status.update_revision}), not the one "
            f"before it ({before['good']})"
        )
    pods = _members(lab, "shop")
    wrong += [
        f"{n} runs revision {_revision(p)}"
        for n, p in sorted(pods.items())
        if _revision(p) != before["good"]
    ]
    wrong += _all_ready(lab, "shop", 3)
    if wrong:
        return False, "; ".join(wrong)
    return True, "shop: 3 of 3 Ready, each on the revision from before the release"


# -- 2. a disruption budget that blocks every drain --------------------------------------------


def _break_budget(lab: Lab) -> dict[str, Any]:
    _afresh(lab, "quorum")
    _running(lab, statefulset("quorum", 3, claims=False))
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "quorum"},
        "spec": {"selector": {"matchLabels": {"app": "quorum"}}, "minAvailable": 3},
    }
    lab.apply(budget)
    policy = client.PolicyV1Api(lab.api)
    wait_until(
        lambda: (
            (
                policy.read_namespaced_pod_disruption_budget("quorum", lab.namespace).status
            ).expected_pods
            == 3
        ),
        timeout=lab.timeout,
        what="the budget counting quorum's members",
    )
    _reported(
        "draining the node of quorum-0 for a kernel update never finishes, though every member "
        "is Ready; the members must keep a majority (2 of 3) up whatever is drained"
    )
    print("$ kubectl drain … (every 5 s, until someone stops it):")
    print("evicting pod quorum-0:", evict(lab.core, lab.namespace, "quorum-0"))
    return {"served": _uids(lab, "quorum")}


def _budget(lab: Lab) -> Any:
    try:
        return client.PolicyV1Api(lab.api).read_namespaced_pod_disruption_budget(
            "quorum", lab.namespace
        )
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def _look_budget(lab: Lab) -> str:
    b = _budget(lab)
    if b is None:
        return "there is no PodDisruptionBudget quorum"
    spec, status = b.spec, b.status
    wanted = (
        f"minAvailable {spec.min_available}"
        if spec.min_available is not None
        else (f"maxUnavailable {spec.max_unavailable}")
    )
    return (
        f"budget quorum: {wanted}; {status.current_healthy} of {status.expected_pods} members "
        f"healthy; disruptionsAllowed {status.disruptions_allowed}"
    )


def _goal_budget(lab: Lab, before: dict[str, Any]) -> Goal:
    b = _budget(lab)
    if b is None:
        return False, (
            "the budget quorum is gone: nothing now keeps a drain from taking every member at "
            "once — make it again, and change what it allows"
        )
    wrong = [f"{n} was replaced" for n in _replaced(lab, "quorum", before["served"])]
    status = b.status
    if status.observed_generation != b.metadata.generation:
        wrong.append("the budget's change is not counted yet")
    elif status.expected_pods != 3:
        wrong.append(f"the budget covers {status.expected_pods} pods, not quorum's 3 members")
    elif status.disruptions_allowed == 0:
        wrong.append("the budget allows no disruption: a drain waits forever")
    elif status.disruptions_allowed > 1:
        wrong.append(
            f"the budget allows {status.disruptions_allowed} members down at once: one would be "
            "left of 3, no majority"
        )
    if wrong:
        return False, "; ".join(wrong)
    return True, "quorum's budget allows one member down at a time: a drain goes, one by one"


# -- 3. a headless Service that is not the set's serviceName ----------------------------------


def _break_service_name(lab: Lab) -> dict[str, Any]:
    _afresh(lab, "api", services=("api", "api-svc"))
    service = headless_service("api")
    service["metadata"]["name"] = "api-svc"
    _running(lab, statefulset("api", 3, claims=False), service)
    fqdn = f"api-0.api.{lab.namespace}.svc.cluster.local"
    _reported(
        f"our clients reach api-0, api-1 and api-2 by their names ({fqdn}, …), and no name "
        "resolves, though every member is Ready"
    )
    lookup(fqdn, cluster=lab.cluster, namespace=lab.namespace).show()
    return {"served": _uids(lab, "api")}


def _look_services(lab: Lab, name: str) -> str:
    s = _sts(lab, name)
    svcs = lab.core.list_namespaced_service(lab.namespace).items
    each = ", ".join(
        f"{v.metadata.name} (clusterIP {v.spec.cluster_ip}, selects "
        + ",".join(f"{k}={x}" for k, x in (v.spec.selector or {}).items())
        + ")"
        for v in svcs
    )
    pods = _members(lab, name)
    labels = next(iter(pods.values())).metadata.labels.get("app") if pods else None
    return (
        f"Services: {each or 'none'}; the set {name}'s serviceName: "
        f"{s.spec.service_name if s else '(no set)'}; its pods' label app={labels}"
    )


def _goal_dns(lab: Lab, before: dict[str, Any], name: str, count: int) -> Goal:
    if _sts(lab, name) is None:
        return False, f"the StatefulSet {name} is gone: run this challenge's first cell again"
    wrong = [f"{n} was replaced" for n in _replaced(lab, name, before["served"])]
    try:
        svc = lab.core.read_namespaced_service(name, lab.namespace)
    except ApiException as e:
        if e.status != 404:
            raise
        svc = None
    if svc is None:
        wrong.append(f"there is no Service {name}")
    elif svc.spec.cluster_ip != "None":
        wrong.append(
            f"Service {name} has a cluster IP ({svc.spec.cluster_ip}): one address for all, no "
            "name per member"
        )
    if not wrong:
        wrong += [f"{w}" for w in _resolves(lab, name, name, count)]
    if wrong:
        return False, "; ".join(wrong)
    return True, f"each member of {name} resolves by name to its own pod's address"


# -- 4. volumeClaimTemplates that cannot be changed -------------------------------------------


def _break_claim_size(lab: Lab) -> dict[str, Any]:
    _afresh(lab, "data", claims=True)
    _running(lab, statefulset("data", 2, size="1Gi"))
    wait_until(
        lambda: len(_claims(lab, "www-data-")) == 2,
        timeout=lab.timeout,
        what="data's claims",
    )
    wanted = lab.label(statefulset("data", 2, size="2Gi"))
    folder = lab_files_dir(lab.namespace)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data-2gi.yaml").write_text(yaml.safe_dump(wanted, sort_keys=False))
    _reported(
        "new members of data must get 2Gi disks, and our updated manifest data-2gi.yaml is "
        "refused; data-0 and data-1 must keep running, on their own disks"
    )
    args = ["kubectl", "-n", lab.namespace, "apply", "-f", "data-2gi.yaml"]
    done = run(args, timeout=60, check=False, cwd=folder)
    said = (done.stderr or done.stdout).strip().splitlines()
    print("$ kubectl apply -f data-2gi.yaml\n" + (said[-1] if said else "(nothing printed)"))
    print(f"(the file is in {folder}; your commands run there)")
    return {"served": _uids(lab, "data"), "claims": _claims(lab, "www-data-")}


def _template_size(s: Any) -> str:
    templates = s.spec.volume_claim_templates or []
    return str(templates[0].spec.resources.requests.get("storage")) if templates else "none"


def _look_claim_size(lab: Lab) -> str:
    s = _sts(lab, "data")
    pods = _members(lab, "data")
    return (
        f"the set data: {'gone' if s is None else 'template asks ' + _template_size(s)}; "
        f"pods {', '.join(sorted(pods)) or 'none'}; claims {', '.join(_claims(lab, 'www-data-'))}"
    )


def _goal_claim_size(lab: Lab, before: dict[str, Any]) -> Goal:
    s = _sts(lab, "data")
    wrong = []
    if s is None:
        wrong.append("there is no StatefulSet data: make it again from data-2gi.yaml")
    elif _template_size(s) != "2Gi":
        wrong.append(f"data's claim template still asks {_template_size(s)}")
    wrong += [
        f"{n} was restarted (a new pod): delete the set and leave its pods running"
        for n in _replaced(lab, "data", before["served"])
    ]
    now = _claims(lab, "www-data-")
    wrong += [
        f"claim {c} is {'gone' if c not in now else 'a new one'}: its data is lost"
        for c, uid in sorted(before["claims"].items())
        if now.get(c) != uid
    ]
    if wrong:
        return False, "; ".join(wrong)
    return True, "data asks 2Gi for new members; data-0 and data-1 ran on, on their own disks"


# -- 5. claims left behind by a scale-down ----------------------------------------------------


def _break_leftover_claims(lab: Lab) -> dict[str, Any]:
    _afresh(lab, "cache", claims=True)
    _running(lab, statefulset("cache", 3))
    wait_until(lambda: len(_claims(lab, "www-cache-")) == 3, timeout=lab.timeout, what="claims")
    kept = _claims(lab, "www-cache-")
    lab.apps.patch_namespaced_stateful_set("cache", lab.namespace, {"spec": {"replicas": 1}})
    wait_until(
        lambda: set(_members(lab, "cache")) == {"cache-0"},
        timeout=lab.timeout,
        what="cache scaled down to 1",
    )
    _reported(
        "we scaled cache down to 1 last night; the disks of the members that went are still "
        "there (and billed), and the next scale-down will leave its disks too. cache-0's disk "
        "must stay"
    )
    print("$ kubectl get pvc")
    for name in sorted(_claims(lab, "www-cache-")):
        print(name)
    return {"claim_0": kept["www-cache-0"], "served": _uids(lab, "cache")}


def _look_leftover_claims(lab: Lab) -> str:
    s = _sts(lab, "cache")
    policy = s and s.spec.persistent_volume_claim_retention_policy
    said = (
        f"whenScaled {policy.when_scaled}, whenDeleted {policy.when_deleted}"
        if policy
        else "not set (Retain, Retain)"
    )
    return (
        f"cache: {s.spec.replicas if s else 'no'} replica(s); retention policy {said}; claims "
        f"{', '.join(sorted(_claims(lab, 'www-cache-')))}"
    )


def _goal_leftover_claims(lab: Lab, before: dict[str, Any]) -> Goal:
    s = _sts(lab, "cache")
    if s is None:
        return False, "the StatefulSet cache is gone: run this challenge's first cell again"
    wrong = [f"{n} was replaced" for n in _replaced(lab, "cache", before["served"])]
    claims = _claims(lab, "www-cache-")
    if claims.get("www-cache-0") != before["claim_0"]:
        wrong.append("cache-0's claim is gone or new: its data is lost")
    replicas = s.spec.replicas or 0
    wrong += [
        f"{c} is left behind"
        for c in sorted(claims)
        if c.rsplit("-", 1)[-1].isdigit() and int(c.rsplit("-", 1)[-1]) >= replicas
    ]
    policy = s.spec.persistent_volume_claim_retention_policy
    if not policy or policy.when_scaled != "Delete":
        wrong.append(
            "a scale-down still keeps its members' claims "
            f"(whenScaled {policy.when_scaled if policy else 'Retain'})"
        )
    if wrong:
        return False, "; ".join(wrong)
    return True, "no claim is left of the members that went, and a scale-down deletes its own"


# -- 6. a headless Service that selects no member ---------------------------------------------


def _break_selector(lab: Lab) -> dict[str, Any]:
    _afresh(lab, "store")
    service = headless_service("store")
    service["spec"]["selector"] = {"app": "store-db"}  # copied from another team's manifest
    _running(lab, statefulset("store", 2, claims=False), service)
    fqdn = f"store-0.store.{lab.namespace}.svc.cluster.local"
    _reported(f"{fqdn} does not resolve, nor store-1's name, though both members are Ready")
    lookup(fqdn, cluster=lab.cluster, namespace=lab.namespace).show()
    return {"served": _uids(lab, "store")}


CHALLENGES: dict[str, Challenge] = {
    c.name: c
    for c in (
        Challenge("rollout", _break_rollout, _look_rollout, _goal_rollout),
        Challenge("budget", _break_budget, _look_budget, _goal_budget),
        Challenge(
            "service_name",
            _break_service_name,
            lambda lab: _look_services(lab, "api"),
            lambda lab, before: _goal_dns(lab, before, "api", 3),
        ),
        Challenge("claim_size", _break_claim_size, _look_claim_size, _goal_claim_size),
        Challenge(
            "leftover_claims", _break_leftover_claims, _look_leftover_claims, _goal_leftover_claims
        ),
        Challenge(
            "selector",
            _break_selector,
            lambda lab: _look_services(lab, "store"),
            lambda lab, before: _goal_dns(lab, before, "store", 2),
        ),
    )
}
