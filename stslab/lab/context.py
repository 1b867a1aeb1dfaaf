"""What every lab does first and last: connect, get a fresh namespace, clean up.

from stslab.lab import Lab
lab = Lab("lab-01", backend)   # connect; remove what an earlier run left; make the namespace
lab.apply(manifest)            # create the object in the lab's namespace
lab.cleanup()                  # namespace, claims, their volumes, labelled cluster objects

A lab's namespace is normally its own (``lab-NN``): cleanup deletes it and ``Lab`` makes it
again. A *shared* namespace — a workshop learner's (``stslab.dev/learner``) or the one the
existing backend made (``stslab.dev/owned``) — is never deleted: the learner could not make it
again. Cleanup empties it instead (workloads, pods, services, claims, config maps and events;
its service accounts, secrets, RBAC and the progress ConfigMap stay).

Making a ``Lab`` makes its lab current for progress (:mod:`stslab.lab.progress`): the lab is
``lab=`` when given, else the ``lab-NN`` of the notebook running (its file name), else the
``lab-NN`` in the namespace's name, else the namespace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cluster.lifecycle import LabCluster, open_cluster
from stslab.core import podexec
from stslab.core.apply import apply as server_side_apply
from stslab.core.errors import ClusterStateError, StslabError, UsageError
from stslab.core.kube import (
    explain,
    image_on_nodes,
    kubectl_env,
    tolerating_absence,
    wait_for_default_service_account,
    wait_until,
)
from stslab.core.labels import (
    LAB_LABEL,
    LEARNER_LABEL,
    LEARNER_OWNED_KINDS,
    OWNED_LABEL,
    POOL_LABEL,
    SWITCHED_OFF_ANNOTATION,
)
from stslab.core.paths import lab_files_dir
from stslab.lab import check, learner_kubectl, learner_yaml, pools, progress
from stslab.lab.answers import Answers, Controls, solution_key
from stslab.lab.cleanup import clean, switch_on
from stslab.lab.seen_on_kind import SeenOnKind

# Namespaces that are someone's to keep: emptied by cleanup, never deleted.
SHARED_LABELS = (LEARNER_LABEL, OWNED_LABEL)
KEEP_CONFIGMAPS = ("kube-root-ca.crt", progress.CONFIGMAP)


def one_line_errors() -> bool:
    """In a notebook, show API, connection and stslab errors as one line with the fix.

    The cell still fails (a headless run still stops there); only what the learner reads
    changes. Returns False outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import urllib3
    from kubernetes.client.exceptions import ApiException

    def handler(
        shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
    ) -> list[str]:
        known = explain(value)
        stb = [f"error: {known}" if known else f"{etype.__name__}: {value}"]
        # IPython's run_code drops what a custom handler returns: show it here (ipykernel's
        # _showtraceback also sends it as the cell's error output, which papermill records).
        shell._showtraceback(etype, value, stb)
        return stb

    # StslabError: stslab's own refusals (an exec into a pod that is not running, ...).
    shell.set_custom_exc((ApiException, urllib3.exceptions.HTTPError, StslabError), handler)
    return True


class Lab:
    """A lab's connection and namespace. Re-running a lab from the top starts clean."""

    def __init__(
        self,
        namespace: str,
        backend: str | None = None,
        timeout: float = 120,
        *,
        lab: str | None = None,
        fast: bool = False,
    ) -> None:
        one_line_errors()
        # The cluster, resolved once; its API client rides out an apiserver restart.
        self._connect(namespace, open_cluster(backend, patient=True), timeout)
        self.lab = lab or progress.lab_of_notebook() or progress.lab_of(namespace)
        self.fast = fast  # headless runs: unanswered exercises take their kept solution
        key = solution_key(self.backend, runs_containers=self.cluster.runs_containers)
        self.answers = Answers(self.lab, fast=fast, backend_key=key)
        self._printed: dict[str, str] = {}  # what each kubectl exercise printed, last time
        # What a hint shows first for an exercise whose cluster tells where the learner is.
        self.looks: dict[str, Callable[[], str]] = {}
        self.cleanup()
        if not self.shared:
            self.core.create_namespace(
                {"metadata": {"name": namespace, "labels": {LAB_LABEL: namespace}}}
            )
            wait_for_default_service_account(self.core, namespace)
        if self.cluster.shared:  # a shared cluster: the instructor sees the results too
            home = self.cluster.record.namespace
            progress.begin(self.lab, api=self.api, namespace=home)
        else:
            progress.begin(self.lab)

    @classmethod
    def attach(
        cls,
        namespace: str,
        backend: str | None = None,
        timeout: float = 120,
        *,
        cluster: LabCluster | None = None,
    ) -> Lab:
        """Connect to a lab's namespace without cleaning or making it (for a reset)."""
        attached = cls.__new__(cls)
        attached._connect(namespace, cluster or open_cluster(backend, patient=True), timeout)
        attached.lab = progress.lab_of(namespace)
        return attached

    def _connect(self, namespace: str, cluster: LabCluster, timeout: float) -> None:
        self.cluster = cluster  # what it can do, its record and API client
        self.backend = self.cluster.name  # for messages
        self.api = self.cluster.api
        self.started = datetime.now(timezone.utc)  # to tell this run's events from older ones
        self.namespace = namespace
        self.timeout = timeout
        # `!kubectl` in a cell: the pinned kubectl, on the lab cluster (this kernel only)
        kubeconfig = self.cluster.record.kubeconfig
        runs = self.cluster.record.extra.get("kubernetes")
        os.environ.update(kubectl_env(kubeconfig, os.environ.get("PATH", ""), runs))
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.shared = self._is_shared()

    def _is_shared(self) -> bool:
        """Whether the namespace is someone's to keep (see the module docstring)."""
        self.learner: str | None = None
        self.machines: str | None = None  # the pool of the learner's own machines, once made
        try:
            ns = self.core.read_namespace(self.namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            if e.status == 403:
                fix = "ask the cluster's owner for access"
                if self.cluster.shared:
                    mine = self.cluster.record.namespace
                    fix = (
                        f'use your own namespace: namespace = "{mine}" in the parameters cell '
                        f"(for a reset: --namespace {mine})"
                    )
                raise ClusterStateError(
                    f"this cluster does not let you use namespace {self.namespace}", fix
                ) from e
            raise
        labels = ns.metadata.labels or {}
        # A workshop learner's: the cluster objects they make must carry their name (the
        # workshop's admission policy refuses them otherwise).
        self.learner = labels.get(LEARNER_LABEL) if LAB_LABEL not in labels else None
        return LAB_LABEL not in labels and any(k in labels for k in SHARED_LABELS)

    def apply(self, manifest: dict[str, Any]) -> Any:
        """Apply ``manifest`` in the lab namespace, server-side (``kubectl apply --server-side``).

        Applying it again changes nothing, so a cell that applies can be run twice. Every object
        gets the lab label (cluster-scoped ones too), which is how cleanup finds them. On a
        workshop learner's account its pods also tolerate the learner's own machines, and go
        to them once the lab has some (:meth:`own_machines`).
        """
        self.label(manifest)
        applied = server_side_apply(self.api, manifest, self.namespace)
        learner_yaml.show(manifest)
        return applied

    def cluster_name(self, name: str) -> str:
        """The name of a cluster-scoped object the lab makes (a StorageClass, a volume).

        ``name``, or on a workshop learner's account ``<namespace>-<name>``: the workshop's
        admission policy requires it.
        """
        return f"{self.namespace}-{name}" if self.learner else name

    def label(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Mark ``manifest`` as this lab's, as :meth:`apply` does; return it.

        The lab label on every object (cleanup selects by it); on a workshop learner's account,
        their name on the cluster objects they make (the workshop's admission policy requires
        it), and their pods steered as :meth:`own_machines` says.
        """
        labels = manifest.setdefault("metadata", {}).setdefault("labels", {})
        labels[LAB_LABEL] = self.namespace
        if self.learner and manifest.get("kind") in LEARNER_OWNED_KINDS:
            labels[LEARNER_LABEL] = self.learner
        workload = manifest.get("kind") in WORKLOADS
        template = manifest.get("spec", {}).get("template") if workload else None
        if isinstance(template, dict):  # its pods too: a drain selects this lab's pods alone
            template.setdefault("metadata", {}).setdefault("labels", {})[LAB_LABEL] = self.namespace
        spec = pod_spec(manifest) if self.learner else None
        if self.learner and spec is not None:
            tolerations = spec.setdefault("tolerations", [])
            if learner_toleration(self.learner) not in tolerations:
                tolerations.append(learner_toleration(self.learner))
            if self.machines:
                spec.setdefault("nodeSelector", {}).setdefault(POOL_LABEL, self.machines)
        return manifest

    def own_machines(self, count: int) -> list[str]:
        """Simulated machines of the learner's own, for a lab that cordons or removes nodes.

        On a workshop learner's account on a simulated shared cluster the cluster's workers are
        everyone's: the lab adds ``count`` machines ``<namespace>-node-N`` (tainted for this
        learner alone, removed by cleanup) and sends its pods there from then on. Elsewhere the
        lab's pods use the cluster's workers: returns ``[]`` (and on a real shared cluster,
        where no machine can be added, also ``[]``: the lab says what it leaves out).
        """
        if not self.learner or not self.cluster.can_add_nodes:
            return []
        names = pools.create_pool(self, "node", count)
        self.machines = f"{self.namespace}-node"
        return names

    def apply_all(self, manifests: list[dict[str, Any]]) -> None:
        """Apply each manifest in turn, printing what it is (as ``kubectl apply -f`` does)."""
        for m in manifests:
            self.apply(m)
            print(f"{m['kind'].lower()}/{m['metadata']['name']} applied (server-side)")

    def remove(self, kind: str, *names: str) -> list[str]:
        """Delete the named objects that exist and wait until they are gone; return those removed.

        ``kind`` is ``Pod``, ``PersistentVolumeClaim`` (in the lab namespace),
        ``PersistentVolume`` or ``StorageClass``. A cell that sets its scene up again when run
        twice starts with it (``kubectl delete --ignore-not-found --wait``).
        """
        storage = client.StorageV1Api(self.api)
        calls = {
            "Pod": (self.core.read_namespaced_pod, self.core.delete_namespaced_pod, True),
            "PersistentVolumeClaim": (
                self.core.read_namespaced_persistent_volume_claim,
                self.core.delete_namespaced_persistent_volume_claim,
                True,
            ),
            "PersistentVolume": (
                self.core.read_persistent_volume,
                self.core.delete_persistent_volume,
                False,
            ),
            "StorageClass": (storage.read_storage_class, storage.delete_storage_class, False),
        }
        if kind not in calls:
            raise UsageError(f"lab.remove cannot remove {kind}", f"use one of {', '.join(calls)}")
        read, delete, namespaced = calls[kind]
        where = (self.namespace,) if namespaced else ()

        def exists(name: str) -> bool:
            try:
                read(name, *where)
                return True
            except ApiException as e:
                if e.status == 404:
                    return False
                raise

        removed = [n for n in names if exists(n)]
        for name in removed:
            grace = {"grace_period_seconds": 0} if kind == "Pod" else {}
            tolerating_absence(delete, name, *where, **grace)
        wait_until(
            lambda: not any(exists(n) for n in removed),
            timeout=self.timeout,
            what=f"{kind} {', '.join(removed)} being deleted",
        )
        return removed

    def written(self, name: str, text: str) -> list[dict[str, Any]]:
        """The learner's YAML for exercise ``name``, parsed and judged by a server-side dry run.

        Prints PASS with what the API server would accept, or FAIL with its message in one line.
        Still a skeleton (``???``) in fast mode, it is the solution kept in ``labs/solutions``.
        """
        if self.fast and learner_yaml.unwritten(text):
            text = learner_yaml.solved(text, self.answer(name, ...), name)
        docs = learner_yaml.parse(text, name)
        for d in docs:  # labelled as apply() will label it: the dry run judges that object
            self.label(d)
        learner_yaml.dry_run(self.api, self.namespace, docs, name)
        return docs

    def answer(self, name: str, value: Any) -> Any:
        """The learner's answer to exercise ``name`` (see :meth:`Answers.answer`)."""
        return self.answers.answer(name, value)

    def right(self, name: str) -> Any:
        """The right answer to explain exercise ``name`` (see :meth:`Answers.right`)."""
        return self.answers.right(name)

    def hint(self, name: str | None = None) -> None:
        """One more rung of exercise ``name``'s hint ladder (see :meth:`Answers.hint`).

        Where the lab registered a look for ``name`` (``lab.looks``), what the cluster shows now
        comes first: a fix-it challenge's ladder starts from the learner's own cluster.
        """
        if name in self.looks:
            print("your cluster now: " + self.looks[name]())
        self.answers.hint(name)

    def fix(self, name: str, commands: list[str]) -> None:
        """Fix-it exercise ``name``: the learner's kubectl ``commands``, run in order.

        ``["???"]`` is the learner's turn, here or in a terminal (the check reads the cluster).
        Each command runs as :meth:`kubectl` runs one (in the lab's namespace only), in the lab's
        folder of files (:func:`stslab.core.paths.lab_files_dir`), so ``-f FILE`` finds a manifest a
        challenge handed over. Headless runs run the kept commands where ``???`` is left, once;
        a kubectl refusal is FAIL at once, in kubectl's words.
        """
        if self.fast and any(learner_kubectl.unwritten(c) for c in commands):
            if not self.answers.first_time(name):  # run again: typed once
                print("already done: a headless run runs the commands once")
                return
            commands = list(self.answers.solution(name))
        self.answers.answer(name, commands)
        if not commands or any(learner_kubectl.unwritten(c) for c in commands):
            print(
                "Your turn: replace ??? with your kubectl commands, in order, and run the cell (or"
                " type them in a terminal: `eval $(stslab env)`), then run the check."
            )
            return
        folder = lab_files_dir(self.namespace)
        folder.mkdir(parents=True, exist_ok=True)
        for i, command in enumerate(commands):
            if i and self.fast:  # a learner types for seconds; a controller's cache can lag
                time.sleep(1)
            learner_kubectl.run_kubectl(command, self.namespace, name, cwd=folder)

    def kubectl(
        self,
        name: str,
        command: str,
        *,
        timeout: float = 120,
        recorded: SeenOnKind | None = None,
        cluster_wide: bool = False,
    ) -> str | None:
        """Kubectl exercise ``name``: the learner's ``command``, run on the lab cluster.

        Headless runs (fast mode) run the kept solution where ``???`` is left, once. What the
        command did is judged by the next check, from the cluster (see
        :mod:`stslab.lab.learner_kubectl`); returns what kubectl printed. ``timeout``: how long
        the command may run (``rollout status`` waits for a rollout). ``recorded``: a command
        that needs a container (``exec``, ``logs``): kept from a kind run, and shown from it
        on a backend that runs none (see :func:`learner_kubectl.from_kind`). ``cluster_wide``:
        a command that reads every namespace (``drain`` lists the node's pods in all of them);
        it runs on every backend, and on a workshop account, which may not read them, what it
        printed on kind (``recorded``) is shown instead.
        """
        if self.fast and learner_kubectl.unwritten(command):
            if not self.answers.first_time(name):  # run again: typed once
                print("already done: a headless run runs the command once")
                return self._printed.get(name)
            command = learner_yaml.solved(command, self.answers.solution(name), name)
        self.answers.answer(name, command)
        if learner_kubectl.unwritten(command):
            print(
                "Your turn: replace ??? and run the cell again (or run it in a terminal, where"
                " the check reads the cluster; what a command prints is judged only from here)."
            )
            return None
        if cluster_wide and self.learner and recorded is not None:
            printed = learner_kubectl.account_may_not(command, self.namespace, name, recorded)
        elif recorded is not None and not recorded.real and not cluster_wide:
            kept = self.answers.kept().get(name)
            printed = learner_kubectl.from_kind(command, kept, self.namespace, name, recorded)
        else:
            printed = learner_kubectl.run_kubectl(command, self.namespace, name, timeout=timeout)
            if recorded is not None and recorded.real:
                recorded.keep(name, printed=printed)
        self._printed[name] = printed
        return printed

    def stuck(self, name: str) -> str:
        """The way to exercise ``name``'s ladder, for a wait that a learner's action ends."""
        return check.stuck(name)

    def clicks(self, name: str, panel: Controls) -> None:
        """The learner's turn at a panel's controls (see :meth:`Answers.clicks`)."""
        self.answers.clicks(name, panel)

    def nodes_have(self, image: str) -> bool:
        """Whether every schedulable node already holds ``image`` (a full reference)."""
        return image_on_nodes(self.core, image)

    def exec_in(
        self,
        pod: str,
        command: str | list[str],
        *,
        container: str | None = None,
        timeout: float = 60,
    ) -> podexec.Result:
        """Run ``command`` in ``pod`` of the lab's namespace, as ``kubectl exec`` does.

        A string runs under ``sh -c``. The result has ``stdout``, ``stderr`` and ``code``; a
        pod that is missing or not running (or a backend without containers) is one line.
        """
        if not self.cluster.runs_containers:
            raise podexec.ExecError(
                f"cannot exec into {pod}: the {self.backend} backend runs no containers",
                "this step needs kind (`stslab up --backend kind`) or a real cluster",
            )
        argv = ["sh", "-c", command] if isinstance(command, str) else command
        return podexec.run(
            self.api, self.namespace, pod, argv, container=container, timeout=timeout
        )

    def power_node(self, node: str, *, on: bool) -> None:
        """Switch ``node``'s machine off (``on=False``, a machine failing) or on again.

        A machine switched off is marked with the lab's namespace first, so that cleanup (and
        the next run's start) switches it on again when the lab is interrupted before it does.
        """
        if on:
            switch_on(self.cluster, node)
            return
        mark = {"metadata": {"annotations": {SWITCHED_OFF_ANNOTATION: self.namespace}}}
        self.core.patch_node(node, mark)
        self.cluster.power_node(node, on=False)

    def cleanup(self) -> None:
        """Remove the lab's namespace (a shared one's contents) and all it made.

        See :func:`stslab.lab.cleanup.clean`.
        """
        clean(self.cluster, self.namespace, shared=self.shared, timeout=self.timeout)


# The kinds whose spec.template makes pods (a CronJob's is a Job's, one level down).
WORKLOADS = ("StatefulSet", "Deployment", "ReplicaSet", "DaemonSet", "Job")


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside ``manifest`` (a Pod, a workload's template); None for other kinds."""
    kind, spec = manifest.get("kind"), manifest.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    elif kind not in WORKLOADS:
        return None
    template = spec.get("template")
    return template.setdefault("spec", {}) if isinstance(template, dict) else None


def learner_toleration(learner: str) -> dict[str, str]:
    """What lets a pod onto learner ``learner``'s own machines: their taint, tolerated."""
    return pools.learner_taint(learner) | {"operator": "Equal"}


def reset(
    namespace: str,
    backend: str | None = None,
    timeout: float = 120,
    *,
    cluster: LabCluster | None = None,
) -> None:
    """Return a lab to its starting point: remove what :meth:`Lab.cleanup` removes, make nothing."""
    Lab.attach(namespace, backend, timeout, cluster=cluster).cleanup()
