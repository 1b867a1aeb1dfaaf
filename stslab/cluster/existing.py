"""The existing backend: a cluster someone else runs (a workshop's shared cluster).

``stslab up --backend existing --context NAME [--namespace NS]`` copies that one context out
of the user's kubeconfig (read only) into the state dir, checks the API answers, and creates
the learner's namespace (labelled as stslab's). ``down`` deletes only that namespace, and only
if stslab created it.
"""

from __future__ import annotations

import copy
import getpass
import os
import re
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from stslab.cluster import nodes as labnodes
from stslab.cluster.base import Backend, Check, ClusterRecord, Status, UpOptions
from stslab.cluster.dns import published
from stslab.core.errors import ClusterStateError, StslabError, UsageError
from stslab.core.kube import api_client, server_version
from stslab.core.labels import OWNED_LABEL

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def user_kubeconfig() -> Path:
    """The user's kubeconfig (first entry of KUBECONFIG, else ~/.kube/config); read only."""
    env = os.environ.get("KUBECONFIG", "")
    first = env.split(os.pathsep)[0] if env else ""
    return Path(first) if first else Path.home() / ".kube" / "config"


def default_namespace() -> str:
    """``stslab-<user>``, made into a valid namespace name."""
    user = re.sub(r"[^a-z0-9-]", "-", getpass.getuser().lower()).strip("-") or "learner"
    return f"stslab-{user}"[:63].rstrip("-")


def extract_context(kubeconfig: dict[str, Any], context: str) -> dict[str, Any]:
    """A kubeconfig holding only ``context`` with its cluster and user."""
    contexts = {c["name"]: c for c in kubeconfig.get("contexts") or []}
    if context not in contexts:
        names = ", ".join(sorted(contexts)) or "none"
        raise UsageError(
            f"context {context!r} is not in your kubeconfig (it has: {names})",
            "pass one of those with --context",
        )
    ctx = contexts[context]["context"]
    clusters = [c for c in kubeconfig.get("clusters") or [] if c["name"] == ctx.get("cluster")]
    users = [u for u in kubeconfig.get("users") or [] if u["name"] == ctx.get("user")]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": [contexts[context]],
        "current-context": context,
    }


class ExistingBackend(Backend):
    """A cluster the user already has access to, used inside one learner namespace."""

    name = "existing"
    shared = True

    def dns_server(self, rec: ClusterRecord) -> tuple[str, int] | None:
        """A simulated cluster on this machine says where its DNS answers; others: ask a pod."""
        return published(api_client(rec.kubeconfig))

    def sensed(self, api: Any) -> Backend:
        """A shared cluster whose nodes are all simulated (kwok) runs no containers.

        A workshop on a simulated cluster: the labs then take their simulated path (no exec
        into a pod, nothing written into volumes) instead of failing on it. There, an account
        that may create nodes (a workshop learner's) can add simulated machines of its own.
        """
        try:
            found = client.CoreV1Api(api).list_node().items
        except ApiException:
            return self
        if not found or not all(labnodes.is_simulated(n) for n in found):
            return self
        simulated = copy.copy(self)
        simulated.runs_containers = False
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": "create", "resource": "nodes"}}}
        )
        simulated.can_add_nodes = bool(review.status.allowed)
        return simulated

    def checks(self) -> list[Check]:
        """A kubeconfig with at least one context."""
        path = user_kubeconfig()
        if not path.exists():
            return [
                Check(
                    "kubeconfig",
                    False,
                    f"{path} does not exist",
                    "get a kubeconfig from your workshop's instructor",
                )
            ]
        return [Check("kubeconfig", True, str(path))]

    def up(self, opts: UpOptions) -> ClusterRecord:
        """Check the context answers and make the learner's namespace."""
        if not opts.context:
            raise UsageError(
                "the existing backend needs --context NAME",
                "list your contexts with `kubectl config get-contexts`",
            )
        ns = opts.namespace or default_namespace()
        if not NAME_RE.match(ns):
            raise UsageError(
                f"--namespace {ns!r} is not a valid namespace name",
                "use lowercase letters, digits and '-', at most 63 characters",
            )
        self.require_absent()
        src = user_kubeconfig()
        try:
            data = yaml.safe_load(src.read_text()) or {}
        except OSError as e:
            raise UsageError(
                f"cannot read {src}: {e.strerror}", "set KUBECONFIG to your kubeconfig"
            ) from e
        mine = extract_context(data, opts.context)
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self.kubeconfig_path.write_text(yaml.safe_dump(mine, sort_keys=False))
            self.kubeconfig_path.chmod(0o600)
            core = client.CoreV1Api(api_client(self.kubeconfig_path))
            created = self._ensure_namespace(core, ns)
            rec = ClusterRecord(
                self.name,
                str(self.kubeconfig_path),
                opts.context,
                namespace=ns,
                extra={"namespace_created": created},
            )
            rec.save(self.record_path)
            return rec
        except BaseException:
            self.clear_state()
            raise

    @staticmethod
    def _ensure_namespace(core: client.CoreV1Api, ns: str) -> bool:
        try:
            core.read_namespace(ns)
            return False
        except ApiException as e:
            if e.status == 401:  # a workshop token lasts the hours it was made for
                raise StslabError(
                    "the cluster refused your credentials (401 Unauthorized): the token "
                    "expired or was revoked",
                    "ask your instructor for a new kubeconfig",
                ) from e
            if e.status != 404:
                raise StslabError(
                    f"the cluster refused to show namespace {ns} ({e.status} {e.reason})",
                    "ask your instructor for access, or pass --namespace",
                ) from e
        body = {"metadata": {"name": ns, "labels": {OWNED_LABEL: "true"}}}
        core.create_namespace(body)
        return True

    def down(self) -> None:
        """Delete the learner namespace if stslab made it; forget the context."""
        rec = self.record()
        if rec is None:
            if self.exists():
                self.clear_state()
                return
            raise ClusterStateError(
                "there is no existing-cluster lab set up",
                "nothing to do; `stslab up --backend existing --context NAME`",
            )
        try:
            if rec.extra.get("namespace_created"):
                core = client.CoreV1Api(api_client(rec.kubeconfig))
                ns = core.read_namespace(rec.namespace)
                if (ns.metadata.labels or {}).get(OWNED_LABEL) == "true":
                    core.delete_namespace(rec.namespace)
        finally:
            self.clear_state()

    def status(self) -> Status:
        """Whether the shared cluster answers, with its nodes when we may list them."""
        rec = self.record()
        if rec is None:
            return Status(self.name, "absent", "not set up")
        try:
            core = client.CoreV1Api(api_client(rec.kubeconfig))
            try:
                rows = labnodes.node_summary(core)
            except ApiException:
                rows = []  # learners often may not list nodes
            core.read_namespace(rec.namespace)
        except Exception as e:  # noqa: BLE001
            return Status(
                self.name,
                "broken",
                f"the cluster does not answer ({e.__class__.__name__})",
                kubeconfig=rec.kubeconfig,
            )
        return Status(
            self.name,
            "running",
            f"context {rec.context}, namespace {rec.namespace}",
            rows,
            rec.kubeconfig,
            kubernetes=server_version(core.api_client),
        )
