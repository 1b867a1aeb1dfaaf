"""Messages from the instructor to a learner, or to the room, shown at the learner's next check.

The instructor (:func:`send`, ``stslab workshop say``, or ``RoomView.say`` in the room's
notebook) appends a message to the ConfigMap ``stslab-messages`` in each chosen learner's
namespace. Every check a learner runs in a workshop (:func:`stslab.lab.progress.record`) reads
it and prints what this learner has not seen yet (:func:`unseen`); what was shown is kept in the
learner's state directory, so a restarted kernel does not show it again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.files import write_atomic
from stslab.core.labels import LEARNER_LABEL, WORKSHOP_LABEL
from stslab.core.paths import state_dir

CONFIGMAP = "stslab-messages"
KEY = "messages.jsonl"
MAX_MESSAGES = 200


@dataclass(frozen=True)
class Message:
    """One message from the instructor.

    Its id, when it was sent (ISO 8601, UTC), its text, and the exercise it is a hint for
    (``""``: a message, not a hint).
    """

    id: str
    time: str
    text: str
    hint: str = ""

    def shown(self) -> str:
        """How the learner's notebook prints it."""
        at = f"{self.time[11:16]} UTC"
        if self.hint:
            return f"💡 a hint from your instructor for {self.hint} ({at}): {self.text}"
        return f"📣 from your instructor ({at}): {self.text}"


def _read(
    core: client.CoreV1Api, namespace: str
) -> tuple[list[Message], client.V1ConfigMap | None]:
    try:
        cm = core.read_namespaced_config_map(CONFIGMAP, namespace)
    except ApiException as e:
        if e.status == 404:
            return [], None
        raise
    lines = ((cm.data or {}).get(KEY) or "").splitlines()
    return [Message(**json.loads(line)) for line in lines if line.strip()], cm


def send_to(
    api: client.ApiClient, namespace: str, text: str, attempts: int = 5, hint: str = ""
) -> Message:
    """Append ``text`` to the messages of the learner whose namespace is ``namespace``.

    ``hint``: the exercise it is a hint for (shown as a hint, not a message).
    """
    core = client.CoreV1Api(api)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    msg = Message(uuid.uuid4().hex[:12], now, text.strip(), hint)
    for attempt in range(attempts):
        old, cm = _read(core, namespace)
        kept = [*old, msg][-MAX_MESSAGES:]
        data = {KEY: "".join(json.dumps(asdict(m), ensure_ascii=False) + "\n" for m in kept)}
        try:
            if cm is None:
                body = {"metadata": {"name": CONFIGMAP}, "data": data}
                core.create_namespaced_config_map(namespace, body)
            else:
                version = cm.metadata.resource_version
                body = {"metadata": {"name": CONFIGMAP, "resourceVersion": version}, "data": data}
                core.replace_namespaced_config_map(CONFIGMAP, namespace, body)
            return msg
        except ApiException as e:
            if e.status != 409 or attempt == attempts - 1:
                raise
    raise AssertionError("not reached")


def send(
    api: client.ApiClient, workshop: str, text: str, learner: str | None = None, hint: str = ""
) -> list[str]:
    """Send ``text`` to one learner of ``workshop`` (by name), or to all; their namespaces.

    ``hint``: the exercise it is a hint for (``my_order``); the learner sees it as a hint.
    """
    selector = f"{WORKSHOP_LABEL}={workshop}"
    selector += f",{LEARNER_LABEL}={learner}" if learner else f",{LEARNER_LABEL}"
    namespaces = client.CoreV1Api(api).list_namespace(label_selector=selector).items
    for ns in namespaces:
        send_to(api, ns.metadata.name, text, hint=hint)
    return [ns.metadata.name for ns in namespaces]


def unseen(api: client.ApiClient, namespace: str) -> list[Message]:
    """The messages in ``namespace`` this learner has not been shown; now marked shown."""
    messages, _ = _read(client.CoreV1Api(api), namespace)
    if not messages:
        return []
    path = state_dir() / "messages-seen" / f"{namespace}.json"
    try:
        seen = set(json.loads(path.read_text()))
    except (OSError, ValueError):
        seen = set()
    new = [m for m in messages if m.id not in seen]
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(sorted(seen | {m.id for m in messages})))
    return new
