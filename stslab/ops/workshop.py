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
on a throw-away learner before class.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from stslab.ops.runner import LabResult

from stslab.cluster.existing import extract_context, user_kubeconfig
from stslab.core.errors import StslabError, UsageError
from stslab.core.files import write_atomic
from stslab.core.kube import wait_until
from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL
from stslab.core.paths import build_dir, is_within
from stslab.core.procs import environment
from stslab.lab import dra
from stslab.lab.room import Learner as Learner  # the record: re-exported for callers
from stslab.lab.room import WorkshopRecord as WorkshopRecord
from stslab.lab.room import record_path as record_path
from stslab.lab.room import workshop_dir as workshop_dir

DEFAULT_WORKSHOP = "stslab"
NAMESPACE_PREFIX = "learner-"
ACCOUNT = "learner"
ROLE = "stslab-learner"
DEFAULT_HOURS = 24
MAX_LEARNERS = 200
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_READ = ["get", "list", "watch"]

ROLE_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "pods/exec",
            "pods/attach",
            "pods/portforward",
            "pods/eviction",
            "services",
            "endpoints",
            "persistentvolumeclaims",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "events",
            "replicationcontrollers",
        ],
        "verbs": ["*"],
    },
    # A Role's rule on namespaces covers only the namespace it lives in: the learner's own.
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
    {
        "apiGroups": ["apps", "batch", "autoscaling", "policy", "events.k8s.io", "resource.k8s.io"],
        "resources": ["*"],
        "verbs": ["*"],
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
]
_WRITE = ["create", "update", "patch", "delete"]
# The kinds a learner may make cluster wide: the admission policy below confines each learner to
# their own (by name prefix and label).
# (LEARNER_OWNED_KINDS, as API groups and resources.)
# A simulated machine's capacity is set through nodes/status, so that is confined too.
CONFINED: list[tuple[str, str]] = [
    ("", "nodes"),
    ("", "nodes/status"),
    ("", "persistentvolumes"),
    ("storage.k8s.io", "storageclasses"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "resourceslices"),
]
CLUSTER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes", "persistentvolumes"], "verbs": _READ + _WRITE},
    {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["get", "update", "patch"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": _READ + _WRITE},
    {
        "apiGroups": ["resource.k8s.io"],
        "resources": ["deviceclasses", "resourceslices"],
        "verbs": _READ + _WRITE,
    },
]


# Where the API server keeps events about cluster-scoped objects (volumes, nodes).
EVENTS_NAMESPACE = "default"
EVENTS_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": _READ}
]


@dataclass
class Target:
    """The cluster an instructor's command acts on: a context of their kubeconfig."""

    kubeconfig: Path
    context: str
    server: str

    def describe(self) -> str:
        """``context 'x' (server https://..., kubeconfig /path)``."""
        return f"context {self.context!r} (server {self.server}, kubeconfig {self.kubeconfig})"


def namespace_of(name: str) -> str:
    """A learner's namespace."""
    return f"{NAMESPACE_PREFIX}{name}"


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


def target(kubeconfig: Path | None = None, context: str | None = None) -> Target:
    """The instructor's context (default: the kubeconfig's current one), read only."""
    path = kubeconfig or user_kubeconfig()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise UsageError(
            f"cannot read the kubeconfig {path}: {e.strerror}",
            "pass --kubeconfig PATH (or set KUBECONFIG)",
        ) from e
    except yaml.YAMLError as e:
        raise UsageError(f"{path} is not a kubeconfig (bad YAML)", "pass --kubeconfig PATH") from e
    name = context or data.get("current-context")
    if not name:
        raise UsageError(f"{path} has no current context", "pass --context NAME")
    mine = extract_context(data, name)
    clusters = mine["clusters"]
    server = clusters[0].get("cluster", {}).get("server") if clusters else None
    if not server:
        raise UsageError(f"context {name!r} names no cluster with a server", "fix the kubeconfig")
    return Target(path, name, str(server))


def admin_client(t: Target) -> client.ApiClient:
    """An API client for the instructor's context; the kubeconfig is never written back."""
    return config.new_client_from_config(
        config_file=str(t.kubeconfig), context=t.context, persist_config=False
    )


def confirm(t: Target, action: str, *, yes: bool) -> None:
    """Show the context and server; ask on a terminal, else require ``yes``."""
    print(f"{action} on {t.describe()}")
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"refusing to {action} on context {t.context!r} ({t.server}) without confirmation",
            "check that this is the workshop's cluster and pass --yes",
        )
    reply = input(f"Is {t.context!r} the workshop's cluster? Type 'yes' to go on: ")
    if reply.strip().lower() not in ("y", "yes"):
        raise StslabError("cancelled; nothing was changed", "")


def _labels(workshop: str, learner: str | None = None) -> dict[str, str]:
    labels = {WORKSHOP_LABEL: workshop}
    if learner is not None:
        labels[LEARNER_LABEL] = learner
    return labels


def _cluster_role(workshop: str) -> str:
    return f"stslab-workshop-{workshop}-learner"


def _policy_name(workshop: str) -> str:
    return f"stslab-workshop-{workshop}-confine"


# CEL over the request: a learner's account is system:serviceaccount:learner-<name>:learner.
_IS_LEARNER = (
    f"request.userInfo.username.startsWith('system:serviceaccount:{NAMESPACE_PREFIX}') && "
    f"request.userInfo.username.endsWith(':{ACCOUNT}')"
)
_NAMESPACE = "request.userInfo.username.split(':')[2]"
_LABELLED = "has({o}.metadata.labels) && '" + LEARNER_LABEL + "' in {o}.metadata.labels"


def _theirs(obj: str) -> str:
    """CEL: ``obj`` is the learner's: labelled theirs, or a volume bound to their claim."""
    return (
        f"({_LABELLED.format(o=obj)} && {obj}.metadata.labels['{LEARNER_LABEL}'] == "
        "variables.learner) || (request.resource.resource == 'persistentvolumes' && "
        f"has({obj}.spec.claimRef) && {obj}.spec.claimRef.namespace == variables.home)"
    )


def confine_policy(workshop: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy that keeps each learner to their own cluster objects.

    A node, PersistentVolume or StorageClass that a learner creates must be named after their
    namespace (``learner-<name>-…``, as labs name them) and labelled
    ``stslab.dev/learner=<name>``. One they change or delete must be theirs: so labelled, or,
    for a volume, bound to a claim in their namespace (a provisioned one); a change may not
    label it someone else's. Other accounts (the controllers, the instructor) are not matched.
    """
    kind = "request.resource.resource"
    labelled = f"{_LABELLED.format(o='object')} && object.metadata.labels['{LEARNER_LABEL}']"
    return {
        "metadata": {"name": _policy_name(workshop), "labels": _labels(workshop)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": [resource],
                    }
                    for group, resource in CONFINED
                ]
            },
            "matchConditions": [{"name": "learner-accounts", "expression": _IS_LEARNER}],
            "variables": [
                {"name": "home", "expression": _NAMESPACE},
                {
                    "name": "learner",
                    "expression": f"variables.home.substring({len(NAMESPACE_PREFIX)})",
                },
            ],
            "validations": [
                {
                    "expression": f"request.operation == 'CREATE' || ({_theirs('oldObject')})",
                    "messageExpression": f"'learner ' + variables.learner + ' may change or "
                    f"delete only their own ' + {kind} + ' (labelled {LEARNER_LABEL}=' + "
                    "variables.learner + '), not ' + oldObject.metadata.name",
                    "reason": "Forbidden",
                },
                {
                    "expression": "request.operation != 'CREATE' || ("
                    "object.metadata.name.startsWith(variables.home + '-') && "
                    f"{labelled} == variables.learner)",
                    "messageExpression": f"'learner ' + variables.learner + ' may make ' + {kind}"
                    " + ' only named ' + variables.home + '-... and labelled "
                    f"{LEARNER_LABEL}=' + variables.learner",
                    "reason": "Forbidden",
                },
                {  # only their pods may run on their machines: no node lures others' pods
                    "expression": "request.resource.resource != 'nodes' || "
                    "request.operation == 'DELETE' || (has(object.spec.taints) && "
                    f"object.spec.taints.exists(t, t.key == '{LEARNER_LABEL}' && "
                    "t.value == variables.learner && t.effect == 'NoSchedule'))",
                    "messageExpression": "'learner ' + variables.learner + '\\'s machines must "
                    f"keep the taint {LEARNER_LABEL}=' + variables.learner + ':NoSchedule'",
                    "reason": "Forbidden",
                },
                {  # devices published only for their own machines
                    "expression": "request.resource.resource != 'resourceslices' || "
                    "request.operation == 'DELETE' || (has(object.spec.nodeName) && "
                    "object.spec.nodeName.startsWith(variables.home + '-'))",
                    "messageExpression": "'learner ' + variables.learner + ' may publish devices "
                    "only on their own machines (' + variables.home + '-...)'",
                    "reason": "Forbidden",
                },
                {
                    "expression": "request.operation != 'UPDATE' || "
                    f"!({_LABELLED.format(o='object')}) || "
                    f"object.metadata.labels['{LEARNER_LABEL}'] == variables.learner",
                    "messageExpression": f"'learner ' + variables.learner + ' may not label ' + "
                    f"{kind} + ' as another learner\\'s'",
                    "reason": "Forbidden",
                },
            ],
        },
    }


def confine_binding(workshop: str) -> dict[str, Any]:
    """Binds :func:`confine_policy` cluster wide, denying what it refuses."""
    name = _policy_name(workshop)
    return {
        "metadata": {"name": name, "labels": _labels(workshop)},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }


def check_can_confine(api: client.ApiClient, t: Target) -> None:
    """Refuse, before anything is made, a cluster or context that cannot confine learners."""
    served = client.AdmissionregistrationV1Api(api).get_api_resources().resources
    if "validatingadmissionpolicies" not in {r.name for r in served}:
        info = client.VersionApi(api).get_code()
        raise UsageError(
            f"the cluster of context {t.context!r} (Kubernetes {info.git_version}) does not serve "
            "ValidatingAdmissionPolicy v1, which keeps learners to their own volumes and nodes",
            "use a cluster of Kubernetes 1.30 or later",
        )
    authz = client.AuthorizationV1Api(api)
    for resource in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        review = authz.create_self_subject_access_review(
            {
                "spec": {
                    "resourceAttributes": {
                        "group": "admissionregistration.k8s.io",
                        "resource": resource,
                        "verb": "create",
                    }
                }
            }
        )
        if not review.status.allowed:
            raise UsageError(
                f"context {t.context!r} may not create {resource}, which a workshop needs",
                "use the cluster's admin context (cluster-admin rights)",
            )


def _wait_enforced(api: client.ApiClient, workshop: str, learner: str) -> None:
    """Wait until the API server applies the policy: a learner's misnamed volume is refused."""
    core = client.CoreV1Api(api)
    probe = {
        "metadata": {"name": f"stslab-probe-{learner}"},
        "spec": {
            "capacity": {"storage": "1Mi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/nonexistent"},
        },
    }

    def refused() -> bool:
        try:
            core.create_persistent_volume(probe, dry_run="All")
        except ApiException as e:
            # Another workshop's policy on this cluster says the same, and may answer first.
            if e.status == 403 and "ValidatingAdmissionPolicy 'stslab-workshop-" in (e.body or ""):
                return True
            if e.status not in (403, 409):
                raise
        return False

    wait_until(refused, timeout=60, what=f"the API server to enforce {_policy_name(workshop)}")


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


def _cluster_entry(api: client.ApiClient, server: str) -> dict[str, Any]:
    """The learner kubeconfig's cluster: the instructor's server and CA."""
    cfg = api.configuration
    entry: dict[str, Any] = {"server": server}
    if not cfg.verify_ssl:
        entry["insecure-skip-tls-verify"] = True
    elif cfg.ssl_ca_cert:
        ca = Path(cfg.ssl_ca_cert).read_bytes()
        entry["certificate-authority-data"] = base64.b64encode(ca).decode()
    if getattr(cfg, "tls_server_name", None):
        entry["tls-server-name"] = cfg.tls_server_name
    return entry


def learner_kubeconfig(
    workshop: str, namespace: str, cluster: dict[str, Any], token: str
) -> dict[str, Any]:
    """A kubeconfig with one context, named after the learner's namespace, using ``token``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": workshop, "cluster": cluster}],
        "users": [{"name": namespace, "user": {"token": token}}],
        "contexts": [
            {
                "name": namespace,
                "context": {"cluster": workshop, "user": namespace, "namespace": namespace},
            }
        ],
        "current-context": namespace,
    }


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    write_atomic(path, text, mode=0o600)


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
    if not _LABEL_RE.match(workshop) or len(workshop) > 40:
        raise UsageError(
            f"workshop name {workshop!r} is not usable",
            "use lowercase letters, digits and '-', at most 40 characters",
        )
    if not 1 <= hours <= 24 * 7:
        raise UsageError(f"--hours {hours} is out of range", "use 1 to 168 (a week)")
    old = WorkshopRecord.load() if keep_record else None
    if old and (old.workshop, old.context, old.server) != (workshop, t.context, t.server):
        raise UsageError(
            f"workshop {old.workshop!r} on context {old.context!r} is already set up here",
            "remove it first with `stslab workshop delete`",
        )
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    check_can_confine(api, t)
    _check_free(core, names, workshop)
    admission = client.AdmissionregistrationV1Api(api)
    policy = _policy_name(workshop)
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
    role = _cluster_role(workshop)
    _ensure(
        rbac.create_cluster_role,
        rbac.replace_cluster_role,
        role,
        {"metadata": {"name": role, "labels": _labels(workshop)}, "rules": CLUSTER_RULES},
    )
    _ensure(
        rbac.create_namespaced_role,
        rbac.replace_namespaced_role,
        role,
        {"metadata": {"name": role, "labels": _labels(workshop)}, "rules": EVENTS_RULES},
        EVENTS_NAMESPACE,
    )
    cluster = _cluster_entry(api, t.server)
    rec = old or WorkshopRecord(workshop, str(t.kubeconfig), t.context, t.server)
    learners = []
    for name in names:
        ns = namespace_of(name)
        labels = _labels(workshop, name)
        meta = {"name": ns, "labels": labels}
        _ensure(core.create_namespace, None, ns, {"metadata": meta})
        account = {"metadata": {"name": ACCOUNT, "labels": labels}}
        _ensure(core.create_namespaced_service_account, None, ACCOUNT, account, ns)
        subject = {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ns}
        _ensure(
            rbac.create_namespaced_role,
            rbac.replace_namespaced_role,
            ROLE,
            {"metadata": {"name": ROLE, "labels": labels}, "rules": ROLE_RULES},
            ns,
        )
        _bind(rbac, ROLE, "Role", ROLE, subject, labels, ns)
        binding = f"{role}-{name}"
        _bind(rbac, binding, "ClusterRole", role, subject, labels)
        # Events about cluster-scoped objects (a volume's, its recycler pod's) are kept in
        # "default": learners may read them there, and change nothing.
        _bind(rbac, binding, "Role", role, subject, labels, EVENTS_NAMESPACE)
        token = core.create_namespaced_service_account_token(
            ACCOUNT, ns, {"spec": {"expirationSeconds": hours * 3600}}
        )
        path = workshop_dir() / name / "kubeconfig"
        doc = learner_kubeconfig(workshop, ns, cluster, token.status.token)
        _write_private(path, yaml.safe_dump(doc, sort_keys=False))
        expires = token.status.expiration_timestamp
        learner = Learner(name, ns, str(path), expires.isoformat() if expires else "")
        rec.learners[name] = learner
        learners.append(learner)
    if keep_record:
        rec.save()
    first = learners[0]
    _wait_enforced(
        config.new_client_from_config(config_file=first.kubeconfig, persist_config=False),
        workshop,
        first.name,
    )
    return learners


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
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    selector = f"{WORKSHOP_LABEL}={workshop}"
    spaces = core.list_namespace(label_selector=selector).items
    names = {(ns.metadata.labels or {}).get(LEARNER_LABEL, "") for ns in spaces}
    for ns in spaces:
        _delete(core.delete_namespace, ns.metadata.name)
    cluster_objects = _delete_learners_objects(api, sorted(n for n in names if n))
    admission = client.AdmissionregistrationV1Api(api)
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
    for kind, list_, delete_ in made:
        for obj in list_(label_selector=selector).items:
            _delete(delete_, obj.metadata.name)
            cluster_objects.append(f"{kind} {obj.metadata.name}")
    rec = WorkshopRecord.load()
    if rec and rec.workshop == workshop:
        names |= set(rec.learners)
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
    gone = {ns.metadata.name for ns in spaces}
    wait_until(
        lambda: not gone & {n.metadata.name for n in core.list_namespace().items},
        timeout=timeout,
        what=f"the {len(gone)} learner namespaces being removed",
    )
    return Deleted(sorted(gone), cluster_objects, files)


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
            _delete(delete_, obj.metadata.name)
            gone.append(f"{kind} {obj.metadata.name}")
    gone += dra.delete_labelled(api, selector)  # device classes and slices (lab 06)
    return gone


def _delete(fn: Any, name: str) -> None:
    try:
        fn(name)
    except ApiException as e:
        if e.status != 404:
            raise


def table(rows: list[dict[str, str]]) -> str:
    """Fixed-width text table of dict rows (same keys in every row)."""
    if not rows:
        return "(none)"
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.upper().ljust(widths[k]) for k in keys).rstrip()]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys).rstrip() for r in rows]
    return "\n".join(lines)
