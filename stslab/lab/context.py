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
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cluster.choose import get_backend
from stslab.cluster.lifecycle import connect, record, status
from stslab.core import podexec
from stslab.core.apply import apply as server_side_apply
from stslab.core.errors import ClusterStateError, StslabError, UsageError
from stslab.core.kube import (
    explain,
    image_on_nodes,
    kubectl_env,
    listed,
    tolerating_absence,
    wait_for_default_service_account,
    wait_until,
)
from stslab.core.labels import (
    CORDON_ANNOTATION,
    LAB_LABEL,
    LEARNER_LABEL,
    LEARNER_OWNED_KINDS,
    OWNED_LABEL,
    POOL_LABEL,
)
from stslab.core.paths import WRONG_ENV, project_root
from stslab.lab import check, dra, learner_yaml, pools, progress
from stslab.lab.storage import local_dir, volume_path

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


@dataclass
class _Prediction:
    value: Any
    when: float  # time.time() when given
    cell: int | None  # the execution count of the cell that gave it
    late: bool  # given after the result was shown


class Predictions:
    """Each exercise's prediction, locked once another cell has run, and when it was given.

    An answer changed after other cells ran since the prediction (the cell showing the result
    among them), or first given after its cell ran unanswered and others followed, is judged
    but marked "after the run". Re-running the exercise cell at once (a typo fixed) is not.
    Outside IPython, where no cell is counted, nothing is marked.
    """

    def __init__(self, count: Callable[[], int | None] | None = None) -> None:
        self._count = count or _execution_count
        self._first: dict[str, _Prediction] = {}
        self._runs: dict[str, list[int]] = {}  # the execution counts of the exercise's cell

    def _others_between(self, name: str, start: int | None, now: int | None) -> bool:
        """Whether a cell other than ``name``'s own ran after count ``start`` and before ``now``."""
        if start is None or now is None:
            return False
        own = [c for c in self._runs.get(name, []) if start < c < now]
        return now - start - 1 > len(own)

    def given(self, name: str, value: Any, unanswered: bool) -> bool:
        """Note ``value`` answering ``name``; whether it counts as given after the run."""
        now = self._count()
        runs = self._runs.setdefault(name, [])
        last = runs[-1] if runs else None
        if now is not None:
            runs.append(now)
        if unanswered:
            return False
        first = self._first.get(name)
        if first is None:
            late = self._others_between(name, last, now)
            self._first[name] = _Prediction(value, time.time(), now, late)
            return late
        if value == first.value:
            return first.late
        if self._others_between(name, first.cell, now):
            return True  # changed once something else had run: the prediction stays locked
        self._first[name] = _Prediction(value, time.time(), now, first.late)  # corrected at once
        return first.late

    def first(self, name: str) -> Any:
        """The locked prediction for ``name`` (``...`` when there is none yet)."""
        first = self._first.get(name)
        return first.value if first else ...

    def when(self, name: str) -> float | None:
        """When (``time.time()``) the locked prediction for ``name`` was given."""
        first = self._first.get(name)
        return first.when if first else None


def _execution_count() -> int | None:
    """IPython's count of executed cells, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    count = getattr(get_ipython(), "execution_count", None)
    return count if isinstance(count, int) else None


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
        self.fast = fast  # headless runs: unanswered exercises take their kept solution
        self._rungs: dict[str, int] = {}  # how far up each exercise's hint ladder the learner is
        self._predictions = Predictions()  # the first answer to each exercise, and when
        self._pressed: set[str] = set()  # panel exercises a headless run has done (Lab.clicks)
        self._connect(namespace, backend, timeout)
        self.lab = lab or progress.lab_of_notebook() or progress.lab_of(namespace)
        self.cleanup()
        if not self.shared:
            self.core.create_namespace(
                {"metadata": {"name": namespace, "labels": {LAB_LABEL: namespace}}}
            )
            wait_for_default_service_account(self.core, namespace)
        if self.cluster.shared:  # a shared cluster: the instructor sees the results too
            home = record(self.backend).namespace
            progress.begin(self.lab, api=self.api, namespace=home)
        else:
            progress.begin(self.lab)

    @classmethod
    def attach(cls, namespace: str, backend: str | None = None, timeout: float = 120) -> Lab:
        """Connect to a lab's namespace without cleaning or making it (for a reset)."""
        attached = cls.__new__(cls)
        attached._connect(namespace, backend, timeout)
        attached.lab = progress.lab_of(namespace)
        return attached

    def _connect(self, namespace: str, backend: str | None, timeout: float) -> None:
        st = status(backend)
        if st.state != "running":
            raise ClusterStateError(
                f"the {st.backend} lab cluster is {st.state}: {st.detail}",
                "start it with `stslab up` (or `make lab`), then re-run",
            )
        self.backend = st.backend  # its name, for messages
        self.cluster = get_backend(
            st.backend
        )  # what it can do: runs_containers, can_add_nodes, ...
        self.started = datetime.now(timezone.utc)  # to tell this run's events from older ones
        self.namespace = namespace
        self.timeout = timeout
        self.api = connect(backend, patient=True)  # a cell rides out an apiserver restart
        self.cluster = self.cluster.sensed(self.api)  # a shared cluster may be simulated
        # `!kubectl` in a cell: the pinned kubectl, on the lab cluster (this kernel only)
        os.environ.update(kubectl_env(record(st.backend).kubeconfig, os.environ.get("PATH", "")))
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
                    mine = record(self.backend).namespace
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

    def written(self, name: str, text: str, *, hint: str) -> list[dict[str, Any]]:
        """The learner's YAML for exercise ``name``, parsed and judged by a server-side dry run.

        Prints PASS with what the API server would accept, or FAIL with its message in one line.
        Still a skeleton (``???``) in fast mode, it is the solution kept in ``labs/solutions``.
        """
        if self.fast and learner_yaml.unwritten(text):
            kept = self.answer(name, ...)
            is_fill = isinstance(kept, dict) and "fill" in kept
            text = learner_yaml.filled(text, kept["fill"], name) if is_fill else kept
        docs = learner_yaml.parse(text, name)
        for d in docs:  # labelled as apply() will label it: the dry run judges that object
            self.label(d)
        learner_yaml.dry_run(self.api, self.namespace, docs, name, hint)
        return docs

    def answer(self, name: str, value: Any) -> Any:
        """The learner's answer ``value`` to exercise ``name``, as written in the cell.

        Left unanswered (``...``) in fast mode (headless runs), it is the solution kept apart in
        ``labs/solutions/<lab>.yaml`` (``{by_backend: {simulated: .., kind: ..}}`` where the
        cluster decides), so no lab cell gives an answer away. A failed check on it offers
        :meth:`hint`.
        """
        if self.fast and _unanswered(value):
            value = self._solution(name)
        late = self._predictions.given(name, value, _unanswered(value))
        check.asked(name, value, first=self._predictions.first(name), late=late)
        return value

    def _kept(self) -> dict[str, Any]:
        return kept_solutions(self.lab)

    def _solution(self, name: str) -> Any:
        kept = self._kept()
        if name not in kept:
            raise UsageError(
                f"no kept solution for {name} in {self.lab}.yaml", "answer it in the cell"
            )
        solution = kept[name]
        if os.environ.get(WRONG_ENV) == name:  # a test proving that this exercise's check fails
            wrong = kept.get("wrong", {}).get(name, solution)
            if isinstance(wrong, dict) and "edit" in wrong:  # the solution with one change
                old, new = wrong["edit"]
                wrong = solution.replace(old, new)
            solution = wrong
        if isinstance(solution, dict) and "by_backend" in solution:  # the cluster decides
            # Any simulated cluster (a workshop's shared one too) gives the same answer.
            key = self.backend if self.cluster.runs_containers else "simulated"
            if key not in solution["by_backend"]:
                raise UsageError(
                    f"no kept solution for {name} on the {self.backend} backend", "answer it"
                )
            return solution["by_backend"][key]
        return solution

    def hint(self, name: str | None = None) -> None:
        """A stuck learner's ladder for exercise ``name``: a hint, a stronger one, then the answer.

        Each call climbs one rung. Without a name, it lists the exercises that have hints.
        """
        ladders = self._kept().get("hints", {})
        if name is None or name not in ladders:
            known = ", ".join(f'"{n}"' for n in ladders) or "none"
            print(f"hints in this lab: {known} — e.g. lab.hint({next(iter(ladders), 'name')!r})")
            return
        rung = self._rungs.get(name, 0)
        self._rungs[name] = rung + 1
        check.hinted(name, rung + 1)
        ladder = ladders[name]
        if rung < len(ladder):
            more = "again for a stronger one" if rung + 1 < len(ladder) else "again for the answer"
            print(
                f"hint {rung + 1} of {len(ladder)}: {ladder[rung]}\n(run lab.hint({name!r}) {more})"
            )
            return
        answer = self._solution(name)
        if isinstance(answer, dict) and "fill" in answer:
            shown = "replace the ??? in order with: " + ", ".join(map(str, answer["fill"]))
        elif isinstance(answer, str):
            shown = answer
        else:
            shown = yaml.safe_dump(answer, default_flow_style=True)
        print(f"the answer to {name}:\n{shown.strip()}")

    def clicks(self, name: str, panel: Any) -> None:
        """The learner's turn at ``panel``'s controls; headless runs press what the solution says.

        In fast mode the kept solution ``name`` is a list of steps such as ``[delete, web-1]`` or
        ``[scale_to, 1]``: each calls the panel's method of that name, as its button does.
        """
        steps = self.answer(name, ...)
        if _unanswered(steps):
            print("Your turn: use the panel above (or kubectl), then run the next cell.")
            return
        if name in self._pressed:  # run again: the buttons were pressed the first time
            print("already done: a headless run presses the buttons once")
            return
        self._pressed.add(name)
        allowed = {"scale", "scale_to", "delete", "pause", "resume", "scrub"}
        for action, *args in steps:
            if action not in allowed:
                raise UsageError(f"solution {name}: {action!r} is no panel control", str(allowed))
            print(getattr(panel, action)(*args) or action)

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

    def cleanup(self) -> None:
        """Remove the lab's namespace (a shared one's contents); wait for it and its volumes.

        Also uncordons the nodes the lab cordoned, deletes the volumes and classes it labelled,
        the machines it added and its hand-made volumes' directories.
        """
        if self.shared:
            self._empty_namespace()
        else:
            try:
                self.core.delete_namespace(self.namespace)
            except ApiException as e:
                if e.status != 404:
                    raise
        # Cluster-scoped leftovers. What this user may not list (403), this user cannot have
        # made: a learner on a workshop cluster skips those steps instead of failing.
        for node in listed(self.core.list_node):  # nodes a lab cordoned (a drain exercise)
            if (node.metadata.annotations or {}).get(CORDON_ANNOTATION) == self.namespace:
                self.core.patch_node(
                    node.metadata.name,
                    {
                        "metadata": {"annotations": {CORDON_ANNOTATION: None}},
                        "spec": {"unschedulable": False},
                    },
                )
        try:
            pools.release_workers(self.core, self.namespace)  # kind workers a lab pooled
        except ApiException as e:
            if e.status != 403:
                raise
        sel = f"{LAB_LABEL}={self.namespace}"
        for pv in listed(self.core.list_persistent_volume, label_selector=sel):
            self.core.delete_persistent_volume(pv.metadata.name)
        storage = client.StorageV1Api(self.api)
        for sc in listed(storage.list_storage_class, label_selector=sel):
            storage.delete_storage_class(sc.metadata.name)
        try:
            dra.delete_labelled(self.api, sel)  # device classes and slices a lab published
        except ApiException as e:
            if e.status != 403:
                raise
        refused: set[str] = set()  # retained volumes this user may not delete (a learner)

        def gone() -> bool:
            left = self._leftovers() if self.shared else self._namespace_exists()
            pvs = [
                pv
                for pv in listed(self.core.list_persistent_volume)
                if pv.spec.claim_ref
                and pv.spec.claim_ref.namespace == self.namespace
                and pv.metadata.name not in refused
            ]
            for pv in pvs:  # retained volumes outlive their claims: they are the lab's too
                if pv.status.phase in ("Released", "Failed") and not pv.metadata.deletion_timestamp:
                    try:
                        self.core.delete_persistent_volume(pv.metadata.name)
                    except ApiException as e:
                        if e.status == 403:
                            refused.add(pv.metadata.name)
                        elif e.status != 404:
                            raise
            self._release_pods_of_missing_nodes()
            return not left and not [pv for pv in pvs if pv.metadata.name not in refused]

        what = f"namespace {self.namespace} being " + ("emptied" if self.shared else "removed")
        wait_until(gone, timeout=self.timeout, what=what)
        # Machines the lab added (node pools), once nothing of the lab runs on them.
        for node in listed(self.core.list_node, label_selector=sel):
            self.core.delete_node(node.metadata.name)
        # Hand-made volumes' directories (kwok: on this machine, inside the lab volume dir).
        host = local_dir(volume_path(self.namespace, ""), self.backend)
        if host is not None and host.exists():
            shutil.rmtree(host)

    def _namespace_exists(self) -> bool:
        try:
            self.core.read_namespace(self.namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    def _empty_namespace(self) -> None:
        """Delete what labs make in a shared namespace; the namespace and its accounts stay."""
        ns = self.namespace
        apps, batch = self.apps, client.BatchV1Api(self.api)
        policy = client.PolicyV1Api(self.api)
        collections: list[Callable[..., Any]] = [
            apps.delete_collection_namespaced_stateful_set,  # owners first: nothing is remade
            apps.delete_collection_namespaced_deployment,
            apps.delete_collection_namespaced_replica_set,
            apps.delete_collection_namespaced_daemon_set,
            batch.delete_collection_namespaced_cron_job,
            batch.delete_collection_namespaced_job,
            policy.delete_collection_namespaced_pod_disruption_budget,
            self.core.delete_collection_namespaced_pod,
            self.core.delete_collection_namespaced_persistent_volume_claim,
            self.core.delete_collection_namespaced_event,
        ]
        for delete in collections:
            tolerating_absence(delete, ns, propagation_policy="Background")
        for svc in self.core.list_namespaced_service(ns).items:
            tolerating_absence(self.core.delete_namespaced_service, svc.metadata.name, ns)
        for cm in self.core.list_namespaced_config_map(ns).items:
            if cm.metadata.name not in KEEP_CONFIGMAPS:
                tolerating_absence(self.core.delete_namespaced_config_map, cm.metadata.name, ns)

    def _leftovers(self) -> list[str]:
        """What of a lab is still in the shared namespace (pods, claims, sets)."""
        ns = self.namespace
        return [
            f"{kind} {o.metadata.name}"
            for kind, items in (
                ("pod", self.core.list_namespaced_pod(ns).items),
                ("claim", self.core.list_namespaced_persistent_volume_claim(ns).items),
                ("statefulset", self.apps.list_namespaced_stateful_set(ns).items),
                ("deployment", self.apps.list_namespaced_deployment(ns).items),
            )
            for o in items
        ]

    def _release_pods_of_missing_nodes(self) -> None:
        """Force-delete this lab's terminating pods whose node was removed (a node-failure step).

        No kubelet is left to confirm they stopped; the pod garbage collector would only
        remove them after a while. The lab made the node go away, so it knows they are gone.
        """
        try:
            nodes = {n.metadata.name for n in self.core.list_node().items}
        except ApiException as e:
            if e.status == 403:
                return  # without seeing the nodes, no pod can be judged orphaned
            raise
        for p in self.core.list_namespaced_pod(self.namespace).items:
            if p.metadata.deletion_timestamp and p.spec.node_name not in nodes:
                try:
                    self.core.delete_namespaced_pod(
                        p.metadata.name, self.namespace, grace_period_seconds=0
                    )
                except ApiException as e:
                    if e.status != 404:
                        raise


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside ``manifest`` (a Pod, a workload's template); None for other kinds."""
    kind, spec = manifest.get("kind"), manifest.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    elif kind not in ("StatefulSet", "Deployment", "ReplicaSet", "DaemonSet", "Job"):
        return None
    template = spec.get("template")
    return template.setdefault("spec", {}) if isinstance(template, dict) else None


def learner_toleration(learner: str) -> dict[str, str]:
    """What lets a pod onto learner ``learner``'s own machines: their taint, tolerated."""
    return pools.learner_taint(learner) | {"operator": "Equal"}


def kept_solutions(lab: str) -> dict[str, Any]:
    """Lab ``lab``'s kept solutions, hints and wrong answers (``labs/solutions/lab-NN.yaml``)."""
    path = project_root() / "labs/solutions" / f"{lab}.yaml"
    kept = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return kept if isinstance(kept, dict) else {}


def _unanswered(value: Any) -> bool:
    """Whether an answer still holds a ``...`` placeholder (itself, or in a dict or list)."""
    if value is Ellipsis:
        return True
    if isinstance(value, dict):
        return any(_unanswered(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_unanswered(v) for v in value)
    return False


def reset(namespace: str, backend: str | None = None, timeout: float = 120) -> None:
    """Return a lab to its starting point: remove what :meth:`Lab.cleanup` removes, make nothing."""
    Lab.attach(namespace, backend, timeout).cleanup()
