"""Workshops on a shared cluster: a namespace, an account and a kubeconfig per learner.

``stslab workshop create --learners N`` (or ``--names ann,bob``) uses the instructor's
kubeconfig context — read only, never written — and makes for each learner:

- the namespace ``learner-<name>``, labelled ``stslab.dev/workshop=<workshop>`` and
  ``stslab.dev/learner=<name>``;
- the ServiceAccount ``learner`` in it, with a Role and RoleBinding giving full rights over
  what labs make there (workloads, pods and their logs/exec/eviction, services, claims, config
  maps, secrets, events, budgets, DRA claims) and ``get`` on its own namespace — nowhere else;
- a ClusterRoleBinding to one shared ClusterRole that reads what labs look at cluster wide
  (nodes, PersistentVolumes, StorageClasses, DRA device classes and resource slices) and may
  create, change and delete nodes, PersistentVolumes and StorageClasses — which RBAC cannot
  limit to a learner's own, so
- a ValidatingAdmissionPolicy and its binding (``stslab-workshop-<workshop>-confine``) do:
  a learner's node, volume or class must be named ``learner-<name>-…`` and labelled
  ``stslab.dev/learner=<name>``, and a learner may change or delete only objects so labelled
  (cordon only their own machines) and volumes bound to their claims. The API server enforces
  it for every learner account, so ``create`` waits until it refuses a wrongly named object
  before handing out kubeconfigs;
- read access to the events in ``default``, where the API server keeps those of cluster-scoped
  objects (a volume's, its recycler pod's);
- a token from the TokenRequest API (24 h by default) and a kubeconfig with it, pointing at
  the same server and CA: ``<state>/workshop/<name>/kubeconfig``.

Every cluster object carries the workshop label, so ``stslab workshop delete`` removes exactly
those (and the kubeconfig files), and then the nodes, volumes and classes the learners made.
Before changing anything, the commands show the context and its server and ask on a terminal;
without a terminal they need ``--yes``. ``stslab workshop check`` (:func:`check`) runs the labs
on a throw-away learner before class. The rules, the policy and the guard on the instructor's
context are in :mod:`stslab.ops.confinement`; the local record in :mod:`stslab.lab.roster`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from stslab.ops.runner import LabResult

from stslab.core.errors import UsageError
from stslab.core.kube import api_client, tolerating_absence, wait_until
from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL
from stslab.core.paths import build_dir, is_within
from stslab.core.procs import environment
from stslab.lab import dra
from stslab.lab.roster import Learner as Learner  # the records: re-exported for callers
from stslab.lab.roster import WorkshopRecord as WorkshopRecord
from stslab.lab.roster import record_path as record_path
from stslab.lab.roster import workshop_dir as workshop_dir
from stslab.ops.confinement import (
    ACCOUNT,
    CLUSTER_RULES,
    EVENTS_NAMESPACE,
    EVENTS_RULES,
    ROLE,
    ROLE_RULES,
    cluster_role_name,
    confine_binding,
    confine_pods_policy,
    confine_policy,
    namespace_of,
    pods_policy_name,
    policy_name,
    wait_enforced,
    workshop_labels,
)
from stslab.ops.confinement import Target as Target  # the guard: re-exported for the CLI
from stslab.ops.confinement import admin_client as admin_client
from stslab.ops.confinement import check_can_confine as check_can_confine
from stslab.ops.confinement import confirm as confirm
from stslab.ops.confinement import target as target
from stslab.ops.kubeconfigs import cluster_entry, write_private
from stslab.ops.kubeconfigs import learner_kubeconfig as learner_kubeconfig

DEFAULT_WORKSHOP = "stslab"
DEFAULT_HOURS = 24
MAX_LEARNERS = 200
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def learner_names(count: int | None = None, names: str | None = None) -> list[str]:
    """``01..NN`` for ``count`` learners, or the comma-separated ``names`` (validated)."""
    if (count is None) == (names is None):
        raise UsageError("say who the learners are", "pass --learners N or --names a,b,c")
    if count is not None:
        if not 1 <= count <= MAX_LEARNERS:
            raise UsageError(f"--learners {count} is out of range", f"use 1 to {MAX_LEARNERS}")
        width = max(2, len(str(count)))
        return [str(i).zfill(width) for i in range(1, count + 1)]
    out = [n.strip() for n in (names or "").split(",") if n.strip()]
    if not out:
        raise UsageError("--names is empty", "pass names like --names ann,bob")
    for n in out:
        if not _LABEL_RE.match(n) or len(namespace_of(n)) > 63:
            raise UsageError(
                f"learner name {n!r} cannot be part of a namespace name",
                "use lowercase letters, digits and '-', at most 55 characters",
            )
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise UsageError(f"--names repeats {', '.join(dupes)}", "give each learner one name")
    if len(out) > MAX_LEARNERS:
        raise UsageError(f"{len(out)} learners are too many", f"use at most {MAX_LEARNERS}")
    return out


def _ensure(create: Any, replace: Any, name: str, body: dict[str, Any], *ns: str) -> None:
    """Create ``body``, or replace the object of that name (a re-run of ``create``)."""
    try:
        create(*ns, body)
    except ApiException as e:
        if e.status != 409:
            raise
        if replace is not None:
            replace(name, *ns, body)


def _bind(
    rbac: client.RbacAuthorizationV1Api,
    name: str,
    kind: str,
    role: str,
    subject: dict[str, str],
    labels: dict[str, str],
    namespace: str | None = None,
) -> None:
    """Bind ``subject`` to the Role (in ``namespace``) or ClusterRole ``role``."""
    body = {
        "metadata": {"name": name, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [subject],
    }
    if namespace is None:
        create, replace = rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding
        _ensure(create, replace, name, body)
    else:
        create, replace = rbac.create_namespaced_role_binding, rbac.replace_namespaced_role_binding
        _ensure(create, replace, name, body, namespace)


def _check_free(core: client.CoreV1Api, names: list[str], workshop: str) -> None:
    """Refuse (before changing anything) namespaces that exist and are not this workshop's."""
    for n in names:
        ns = namespace_of(n)
        try:
            obj = core.read_namespace(ns)
        except ApiException as e:
            if e.status == 404:
                continue
            raise
        if (obj.metadata.labels or {}).get(WORKSHOP_LABEL) != workshop:
            raise UsageError(
                f"namespace {ns} exists and is not workshop {workshop!r}'s",
                "choose other learner names with --names, or remove that namespace yourself",
            )


def create(
    api: client.ApiClient,
    t: Target,
    names: list[str],
    *,
    workshop: str = DEFAULT_WORKSHOP,
    hours: int = DEFAULT_HOURS,
    keep_record: bool = True,
) -> list[Learner]:
    """Make every learner's namespace, account, rights, token and kubeconfig (idempotent).

    ``keep_record=False`` leaves the local workshop record alone (:func:`check`'s learner).
    """
    _check_settings(workshop, hours)
    old = _record_to_extend(t, workshop) if keep_record else None
    check_can_confine(api, t)
    _check_free(client.CoreV1Api(api), names, workshop)
    _make_shared(api, workshop)
    cluster = cluster_entry(api, t.server)
    rec = old or WorkshopRecord(workshop, str(t.kubeconfig), t.context, t.server)
    learners = []
    for name in names:
        learner = _make_learner(api, workshop, name, cluster, hours)
        rec.learners[name] = learner
        learners.append(learner)
    if keep_record:
        rec.save()
    first = learners[0]
    wait_enforced(
        config.new_client_from_config(config_file=first.kubeconfig, persist_config=False),
        workshop,
        first.name,
    )
    return learners


def _check_settings(workshop: str, hours: int) -> None:
    """Refuse a workshop name that cannot be a label value, or tokens too short- or long-lived."""
    if not _LABEL_RE.match(workshop) or len(workshop) > 40:
        raise UsageError(
            f"workshop name {workshop!r} is not usable",
            "use lowercase letters, digits and '-', at most 40 characters",
        )
    if not 1 <= hours <= 24 * 7:
        raise UsageError(f"--hours {hours} is out of range", "use 1 to 168 (a week)")


def _record_to_extend(t: Target, workshop: str) -> WorkshopRecord | None:
    """The local record, if any; refused if it is another workshop's or another context's."""
    old = WorkshopRecord.load()
    if old and (old.workshop, old.context, old.server) != (workshop, t.context, t.server):
        raise UsageError(
            f"workshop {old.workshop!r} on context {old.context!r} is already set up here",
            "remove it first with `stslab workshop delete`",
        )
    return old


def _make_shared(api: client.ApiClient, workshop: str) -> None:
    """What all learners share: the admission policy, its binding and the learners' roles."""
    rbac, admission = client.RbacAuthorizationV1Api(api), client.AdmissionregistrationV1Api(api)
    policy = policy_name(workshop)
    _ensure(
        admission.create_validating_admission_policy,
        admission.replace_validating_admission_policy,
        policy,
        confine_policy(workshop),
    )
    _ensure(
        admission.create_validating_admission_policy_binding,
        admission.replace_validating_admission_policy_binding,
        policy,
        confine_binding(workshop),
    )
    pods = pods_policy_name(workshop)
    _ensure(
        admission.create_validating_admission_policy,
        admission.replace_validating_admission_policy,
        pods,
        confine_pods_policy(workshop),
    )
    _ensure(
        admission.create_validating_admission_policy_binding,
        admission.replace_validating_admission_policy_binding,
        pods,
        confine_binding(workshop, pods),
    )
    role = cluster_role_name(workshop)
    _ensure(
        rbac.create_cluster_role,
        rbac.replace_cluster_role,
        role,
        {"metadata": {"name": role, "labels": workshop_labels(workshop)}, "rules": CLUSTER_RULES},
    )
    _ensure(
        rbac.create_namespaced_role,
        rbac.replace_namespaced_role,
        role,
        {"metadata": {"name": role, "labels": workshop_labels(workshop)}, "rules": EVENTS_RULES},
        EVENTS_NAMESPACE,
    )


def _make_learner(
    api: client.ApiClient, workshop: str, name: str, cluster: dict[str, Any], hours: int
) -> Learner:
    """One learner's namespace, account, rights, token, and kubeconfig file."""
    core = client.CoreV1Api(api)
    ns = namespace_of(name)
    labels = workshop_labels(workshop, name)
    _ensure(core.create_namespace, None, ns, {"metadata": {"name": ns, "labels": labels}})
    account = {"metadata": {"name": ACCOUNT, "labels": labels}}
    _ensure(core.create_namespaced_service_account, None, ACCOUNT, account, ns)
    _grant(client.RbacAuthorizationV1Api(api), workshop, name, labels)
    token = core.create_namespaced_service_account_token(
        ACCOUNT, ns, {"spec": {"expirationSeconds": hours * 3600}}
    )
    path = workshop_dir() / name / "kubeconfig"
    doc = learner_kubeconfig(workshop, ns, cluster, token.status.token)
    write_private(path, yaml.safe_dump(doc, sort_keys=False))
    expires = token.status.expiration_timestamp
    code = login_code()
    return Learner(
        name, ns, str(path), expires.isoformat() if expires else "", code_digest(code), code
    )


def login_code() -> str:
    """A new login code for the served room: eight characters a learner can type, ``k7mp-x3qa``."""
    letters = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
    chars = [secrets.choice(letters) for _ in range(8)]
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


def code_digest(code: str) -> str:
    """What the record keeps of a login code (random codes need no slower hash)."""
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()


def _grant(
    rbac: client.RbacAuthorizationV1Api, workshop: str, name: str, labels: dict[str, str]
) -> None:
    """The learner's account: their Role in their namespace, and the shared roles."""
    ns = namespace_of(name)
    subject = {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ns}
    _ensure(
        rbac.create_namespaced_role,
        rbac.replace_namespaced_role,
        ROLE,
        {"metadata": {"name": ROLE, "labels": labels}, "rules": ROLE_RULES},
        ns,
    )
    _bind(rbac, ROLE, "Role", ROLE, subject, labels, ns)
    role = cluster_role_name(workshop)
    binding = f"{role}-{name}"
    _bind(rbac, binding, "ClusterRole", role, subject, labels)
    # Events about cluster-scoped objects (a volume's, its recycler pod's) are kept in
    # "default": learners may read them there, and change nothing.
    _bind(rbac, binding, "Role", role, subject, labels, EVENTS_NAMESPACE)


def check(
    api: client.ApiClient,
    t: Target,
    numbers: list[str],
    *,
    workshop: str = DEFAULT_WORKSHOP,
    build: Path | None = None,
) -> list[LabResult]:
    """Run the labs headless on a throw-away learner account; the learner is deleted after.

    What an instructor runs before class: the learner gets exactly what ``create`` gives
    (namespace, rights, admission policy, token), so a lab that passes here passes for the room.
    """
    from stslab.cluster.base import UpOptions
    from stslab.cluster.existing import ExistingBackend
    from stslab.lab import release
    from stslab.ops.runner import run_labs, select

    select(numbers)  # an unknown lab, or a context that cannot confine learners, is refused
    check_can_confine(api, t)  # before anything is made
    name = f"check-{secrets.token_hex(3)}"
    checking = f"{workshop[:34]}-check"
    try:
        [learner] = create(api, t, [name], workshop=checking, hours=2, keep_record=False)
        print(f"learner {name} made in workshop {checking!r}", flush=True)
        state = workshop_dir() / name / "state"
        with environment(
            KUBECONFIG=learner.kubeconfig,
            STSLAB_STATE=str(state),
            STSLAB_BACKEND="existing",
            STSLAB_LEARNER=learner.name,
        ):
            ExistingBackend(state).up(
                UpOptions(context=learner.namespace, namespace=learner.namespace)
            )
            # The release, and what it changes in the labs, as a learner's account sees it.
            for line in release.report(api_client(learner.kubeconfig), learner.namespace):
                print(line, flush=True)
            return run_labs(
                numbers, backend="existing", build=build or build_dir() / "workshop-check"
            )
    finally:
        gone = delete(api, checking)
        print(f"learner {name} deleted ({len(gone.cluster_objects)} cluster objects)", flush=True)


def list_learners(api: client.ApiClient, workshop: str) -> list[dict[str, str]]:
    """The workshop's learners as the cluster has them, with their local kubeconfigs."""
    rec = WorkshopRecord.load()
    known = rec.learners if rec and rec.workshop == workshop else {}
    rows = []
    selector = f"{WORKSHOP_LABEL}={workshop}"
    for ns in client.CoreV1Api(api).list_namespace(label_selector=selector).items:
        name = (ns.metadata.labels or {}).get(LEARNER_LABEL, "?")
        path = workshop_dir() / name / "kubeconfig"
        rows.append(
            {
                "learner": name,
                "namespace": ns.metadata.name,
                "phase": ns.status.phase if ns.status else "",
                "token expires": known[name].expires if name in known else "",
                "kubeconfig": str(path) if path.exists() else "-",
            }
        )
    return sorted(rows, key=lambda r: r["learner"])


@dataclass
class Deleted:
    """What ``delete`` removed."""

    namespaces: list[str]
    cluster_objects: list[str]
    files: list[str]


def delete(api: client.ApiClient, workshop: str, *, timeout: float = 180) -> Deleted:
    """Remove what ``create`` made for ``workshop`` (by its label) and the kubeconfig files."""
    core = client.CoreV1Api(api)
    selector = f"{WORKSHOP_LABEL}={workshop}"
    spaces = core.list_namespace(label_selector=selector).items
    names = {(ns.metadata.labels or {}).get(LEARNER_LABEL, "") for ns in spaces}
    for ns in spaces:
        tolerating_absence(core.delete_namespace, ns.metadata.name)
    cluster_objects = _delete_learners_objects(api, sorted(n for n in names if n))
    cluster_objects += _delete_shared(api, selector)
    files = _remove_files(workshop, names)
    gone = {ns.metadata.name for ns in spaces}
    wait_until(
        lambda: not gone & {n.metadata.name for n in core.list_namespace().items},
        timeout=timeout,
        what=f"the {len(gone)} learner namespaces being removed",
    )
    return Deleted(sorted(gone), cluster_objects, files)


def _delete_shared(api: client.ApiClient, selector: str) -> list[str]:
    """Delete the workshop's policy, binding and roles (``selector``: its label); their names."""
    rbac, admission = client.RbacAuthorizationV1Api(api), client.AdmissionregistrationV1Api(api)
    in_events = {"namespace": EVENTS_NAMESPACE}
    made = [  # (kind, list, delete): the policy first, so no refusal outlives the workshop
        (
            "ValidatingAdmissionPolicyBinding",
            admission.list_validating_admission_policy_binding,
            admission.delete_validating_admission_policy_binding,
        ),
        (
            "ValidatingAdmissionPolicy",
            admission.list_validating_admission_policy,
            admission.delete_validating_admission_policy,
        ),
        ("ClusterRoleBinding", rbac.list_cluster_role_binding, rbac.delete_cluster_role_binding),
        ("ClusterRole", rbac.list_cluster_role, rbac.delete_cluster_role),
        (
            "RoleBinding",
            partial(rbac.list_namespaced_role_binding, **in_events),
            partial(rbac.delete_namespaced_role_binding, **in_events),
        ),
        (
            "Role",
            partial(rbac.list_namespaced_role, **in_events),
            partial(rbac.delete_namespaced_role, **in_events),
        ),
    ]
    gone = []
    for kind, list_, delete_ in made:
        for obj in list_(label_selector=selector).items:
            tolerating_absence(delete_, obj.metadata.name)
            gone.append(f"{kind} {obj.metadata.name}")
    return gone


def _remove_files(workshop: str, names: set[str]) -> list[str]:
    """Remove the learners' kubeconfigs and, if it is this workshop's, the record."""
    rec = WorkshopRecord.load()
    if rec and rec.workshop == workshop:
        names = names | set(rec.learners)
    files = []
    for name in sorted(n for n in names if n and _LABEL_RE.match(n)):
        d = workshop_dir() / name
        if d.is_dir() and is_within(d, workshop_dir()):
            shutil.rmtree(d)
            files.append(str(d / "kubeconfig"))
    if rec and rec.workshop == workshop:
        record_path().unlink()
    if workshop_dir().is_dir() and not any(workshop_dir().iterdir()):
        workshop_dir().rmdir()
    return files


def _delete_learners_objects(api: client.ApiClient, names: list[str]) -> list[str]:
    """Delete the nodes, volumes and classes the learners made (labelled with their name)."""
    if not names:
        return []
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    kinds = [
        ("Node", core.list_node, core.delete_node),
        ("PersistentVolume", core.list_persistent_volume, core.delete_persistent_volume),
        ("StorageClass", storage.list_storage_class, storage.delete_storage_class),
    ]
    selector = f"{LEARNER_LABEL} in ({','.join(names)})"
    gone = []
    for kind, list_, delete_ in kinds:
        for obj in list_(label_selector=selector).items:
            tolerating_absence(delete_, obj.metadata.name)
            gone.append(f"{kind} {obj.metadata.name}")
    gone += dra.delete_labelled(api, selector)  # device classes and slices (lab 06)
    return gone


def table(rows: list[dict[str, str]]) -> str:
    """Fixed-width text table of dict rows (same keys in every row)."""
    if not rows:
        return "(none)"
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.upper().ljust(widths[k]) for k in keys).rstrip()]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys).rstrip() for r in rows]
    return "\n".join(lines)
