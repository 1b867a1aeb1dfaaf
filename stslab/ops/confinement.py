"""What keeps a workshop's learners to their own, and the cluster a workshop acts on.

RBAC gives each learner full rights in their namespace (:data:`ROLE_RULES`), read access to
the events in ``default`` (:data:`EVENTS_RULES`) and, cluster wide, the kinds labs make there
(:data:`CLUSTER_RULES`). RBAC cannot limit those to a learner's own, so a
ValidatingAdmissionPolicy (:func:`confine_policy`, bound by :func:`confine_binding`) does, by
name prefix and label. A second (:func:`confine_pods_policy`) keeps the pods in learners'
namespaces, whoever makes them, off other learners' machines and out of the node.
:class:`Target` is the instructor's context a workshop command acts on, and :func:`confirm`
asks before anything there changes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from stslab.cluster.existing import extract_context, user_kubeconfig
from stslab.core.errors import StslabError, UsageError
from stslab.core.kube import wait_until
from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL

# A learner's namespace is NAMESPACE_PREFIX + name; in it, the ServiceAccount ACCOUNT is theirs,
# with the Role ROLE (of ROLE_RULES) bound to it.
NAMESPACE_PREFIX = "learner-"
ACCOUNT = "learner"
ROLE = "stslab-learner"
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
# The kinds a learner may make cluster wide (core.labels.LEARNER_OWNED_KINDS as API groups and
# resources), each confined by the policy below to the learner's own. A simulated machine's
# capacity is set through nodes/status, so that is confined too.
CONFINED: list[tuple[str, str]] = [
    ("", "nodes"),
    ("", "nodes/status"),
    ("", "persistentvolumes"),
    ("storage.k8s.io", "storageclasses"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "resourceslices"),
]
# The shared ClusterRole: read what labs look at cluster wide, make the confined kinds.
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


def workshop_labels(workshop: str, learner: str | None = None) -> dict[str, str]:
    """The labels of what a workshop makes: the workshop's, and the learner's if one's."""
    labels = {WORKSHOP_LABEL: workshop}
    if learner is not None:
        labels[LEARNER_LABEL] = learner
    return labels


def cluster_role_name(workshop: str) -> str:
    """The ClusterRole (and the Role in ``default``) shared by the workshop's learners."""
    return f"stslab-workshop-{workshop}-learner"


def policy_name(workshop: str) -> str:
    """The admission policy and its binding."""
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
        "metadata": {"name": policy_name(workshop), "labels": workshop_labels(workshop)},
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


def pods_policy_name(workshop: str) -> str:
    """The admission policy on the learners' pods, and its binding."""
    return f"stslab-workshop-{workshop}-pods"


# The kinds whose pods, or pod templates, the pods policy reads.
_POD_KINDS = [
    ("", "pods"),
    ("apps", "statefulsets"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
]
# CEL: the pod spec of whichever kind matched.
_POD_SPEC = (
    "request.resource.resource == 'pods' ? object.spec : "
    "request.resource.resource == 'cronjobs' ? object.spec.jobTemplate.spec.template.spec : "
    "object.spec.template.spec"
)


def confine_pods_policy(workshop: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy that keeps the pods in learners' namespaces to their own.

    Whoever makes them — the learner, or a controller for their StatefulSet — pods (and the
    templates of the learner's workloads) may not tolerate every taint or another learner's
    machines' taint, be placed by name on another learner's machine, or reach into the node:
    no host namespaces, no privileged containers, and hostPath only under the learner's own
    ``/tmp/stslab-<namespace>`` (where labs' hand-made volumes are).
    """
    learner_taint = LEARNER_LABEL
    containers = (
        "(has(variables.pod.containers) ? variables.pod.containers : []) + "
        "(has(variables.pod.initContainers) ? variables.pod.initContainers : [])"
    )
    rules = [
        (
            "variables.tolerations.all(t, (has(t.key) && t.key != '') || "
            "!has(t.operator) || t.operator != 'Exists')",
            "' may not tolerate every taint (operator Exists with no key): name the taint'",
        ),
        (
            f"variables.tolerations.all(t, !has(t.key) || t.key != '{learner_taint}' || "
            "((!has(t.operator) || t.operator == 'Equal') && has(t.value) && "
            "t.value == variables.learner))",
            f"' may tolerate only their own machines\\' taint {learner_taint}=' + "
            "variables.learner",
        ),
        (
            f"!has(variables.pod.nodeName) || !variables.pod.nodeName.startsWith("
            f"'{NAMESPACE_PREFIX}') || variables.pod.nodeName.startsWith(variables.home + '-')",
            "' may run only on their own machines (' + variables.home + '-...), not ' + "
            "variables.pod.nodeName",
        ),
        (
            "!(has(variables.pod.hostNetwork) && variables.pod.hostNetwork) && "
            "!(has(variables.pod.hostPID) && variables.pod.hostPID) && "
            "!(has(variables.pod.hostIPC) && variables.pod.hostIPC)",
            "' may not use the node\\'s network, process or IPC namespace'",
        ),
        (
            f"({containers}).all(c, !has(c.securityContext) || "
            "!has(c.securityContext.privileged) || !c.securityContext.privileged)",
            "' may not run privileged containers'",
        ),
        (
            "!has(variables.pod.volumes) || variables.pod.volumes.all(v, !has(v.hostPath) || "
            "v.hostPath.path == variables.own_dir || "
            "v.hostPath.path.startsWith(variables.own_dir + '/'))",
            "' may mount from the node only ' + variables.own_dir",
        ),
    ]
    name = pods_policy_name(workshop)
    return {
        "metadata": {"name": name, "labels": workshop_labels(workshop)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "namespaceSelector": {
                    "matchLabels": {WORKSHOP_LABEL: workshop},
                    "matchExpressions": [{"key": LEARNER_LABEL, "operator": "Exists"}],
                },
                "resourceRules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [resource],
                    }
                    for group, resource in _POD_KINDS
                ],
            },
            "variables": [
                {"name": "home", "expression": "namespaceObject.metadata.name"},
                {
                    "name": "learner",
                    "expression": f"namespaceObject.metadata.labels['{LEARNER_LABEL}']",
                },
                {"name": "own_dir", "expression": "'/tmp/stslab-' + variables.home"},
                {"name": "pod", "expression": _POD_SPEC},
                {
                    "name": "tolerations",
                    "expression": "has(variables.pod.tolerations) ? variables.pod.tolerations : []",
                },
            ],
            "validations": [
                {
                    "expression": expr,
                    "messageExpression": "'pods of learner ' + variables.learner + " + says,
                    "reason": "Forbidden",
                }
                for expr, says in rules
            ],
        },
    }


def confine_binding(workshop: str, policy: str | None = None) -> dict[str, Any]:
    """Binds ``policy`` (default :func:`confine_policy`) cluster wide, denying what it refuses."""
    name = policy or policy_name(workshop)
    return {
        "metadata": {"name": name, "labels": workshop_labels(workshop)},
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


def wait_enforced(api: client.ApiClient, workshop: str, learner: str) -> None:
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

    wait_until(refused, timeout=60, what=f"the API server to enforce {policy_name(workshop)}")
