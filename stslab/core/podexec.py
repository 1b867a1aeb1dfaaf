"""Run a command inside a pod's container through the API server (``kubectl exec``).

The traffic goes to the API server, which relays it to the node's kubelet: nothing here opens a
connection to a pod's address. Only backends whose nodes run containers can do it; the
simulated backend's pods run nothing, and :func:`run` says so in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from stslab.core.errors import StslabError

# Container waiting reasons that mean its image is not there and will not come by waiting.
IMAGE_REASONS = ("ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName")
IMAGE_FIX = (
    "the node does not hold the pod's image and cannot pull it: on stslab's offline kind "
    "nodes the lab images are preloaded (`stslab kind-image`, then `stslab down` and "
    "`stslab up`); elsewhere check the image name and that the nodes reach its registry"
)


class ExecError(StslabError):
    """A command could not be run in a pod (not the command's own failure)."""


@dataclass(frozen=True)
class Result:
    """What a command run in a pod printed, and how it ended."""

    stdout: str
    stderr: str
    code: int

    @property
    def ok(self) -> bool:
        """Whether the command exited 0."""
        return self.code == 0

    def last_line(self) -> str:
        """The last non-empty line of stderr, else stdout: usually the error's own words."""
        for text in (self.stderr, self.stdout):
            lines = [ln for ln in text.strip().splitlines() if ln.strip()]
            if lines:
                return lines[-1].strip()
        return ""


def _not_running(pod: client.V1Pod) -> str | None:
    """Why ``pod``'s containers cannot take an exec, or None when they can."""
    if pod.metadata.deletion_timestamp:
        return "is terminating"
    if pod.status.phase != "Running":
        waiting = [
            cs.state.waiting.reason
            for cs in pod.status.container_statuses or []
            if cs.state and cs.state.waiting and cs.state.waiting.reason
        ]
        return f"is {pod.status.phase}" + (f" ({', '.join(waiting)})" if waiting else "")
    return None


def run(
    api: client.ApiClient,
    namespace: str,
    pod: str,
    command: list[str],
    *,
    container: str | None = None,
    timeout: float = 60,
) -> Result:
    """Run ``command`` in ``pod`` (its first container unless ``container``).

    Waits at most ``timeout`` seconds. A failing command is a :class:`Result` with its exit
    code; a pod that is missing or not running raises :class:`ExecError` with cause and fix.
    """
    core = client.CoreV1Api(api)
    where = f"pod {namespace}/{pod}"
    try:
        p = core.read_namespaced_pod(pod, namespace)
    except ApiException as e:
        if e.status == 404:
            raise ExecError(
                f"{where} does not exist", "create it first, or check the name (`kubectl get pods`)"
            ) from None
        raise
    why = _not_running(p)
    if why:
        fix = f"wait until it runs (`kubectl -n {namespace} get pod {pod} -w`), then re-run"
        if any(reason in why for reason in IMAGE_REASONS):
            fix = IMAGE_FIX
        raise ExecError(f"cannot exec into {where}: it {why}", fix)
    # stream() swaps the request method of the client it is given while it runs: on a client
    # shared with other threads (a live view polling, the notebook's own calls) those calls
    # would go out as websocket upgrades. Each exec gets a client of its own.
    own = client.ApiClient(api.configuration)
    try:
        resp = stream(
            client.CoreV1Api(own).connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=command,
            container=container or p.spec.containers[0].name,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
    except ApiException as e:
        own.close()
        raise ExecError(
            f"exec into {where} was refused: {e.reason or e.status}",
            "check that the pod's node runs containers (the simulated backend runs none)",
        ) from None
    try:
        resp.run_forever(timeout=timeout)
        if resp.is_open():
            raise ExecError(
                f"{' '.join(command)!r} in {where} did not finish within {timeout:.0f}s",
                "check what the command waits for, or give it a timeout",
            )
        out, err = resp.read_stdout(), resp.read_stderr()
        status = resp.read_channel(3)  # the error channel: the exit status, as JSON
    finally:
        resp.close()
        own.close()
    return Result(out, err, _exit_code(status))


def _exit_code(status: str) -> int:
    """The exit code from the exec error channel's Status object ("" means success)."""
    if not status:
        return 0
    doc = json.loads(status)
    if doc.get("status") == "Success":
        return 0
    for cause in (doc.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1))
    return 1
