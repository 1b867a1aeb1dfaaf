"""The workshop record: who the learners are and where their kubeconfigs are.

``stslab workshop create`` writes it on the instructor's machine
(``<state>/workshop/workshop.json``, beside each learner's ``<name>/kubeconfig``), with the
instructor's context; ``workshop delete`` removes it. The instructor's notebook connects
through it (:func:`instructor_api`) to watch the room (:mod:`stslab.lab.room`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubernetes import client, config

from stslab.core.errors import UsageError
from stslab.core.files import write_atomic
from stslab.core.paths import state_dir


@dataclass
class Learner:
    """One learner's namespace and kubeconfig, and the digest of their login code."""

    name: str
    namespace: str
    kubeconfig: str
    expires: str = ""
    code_sha256: str = ""  # the served room's login (stslab.ops.hub); the code itself is not kept
    code: str = field(default="", repr=False, compare=False)  # only until `create` prints it


@dataclass
class WorkshopRecord:
    """What ``create`` wrote down (``<state>/workshop/workshop.json``)."""

    workshop: str
    kubeconfig: str
    context: str
    server: str
    learners: dict[str, Learner] = field(default_factory=dict)

    def save(self) -> None:
        """Write the record atomically."""
        data = asdict(self)
        for learner in data["learners"].values():
            learner.pop("code")  # printed once by `create`, never written down
        write_atomic(record_path(), json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls) -> WorkshopRecord | None:
        """The record, or None when there is none (or it is unreadable)."""
        try:
            data = json.loads(record_path().read_text())
            learners = {k: Learner(**v) for k, v in data.pop("learners", {}).items()}
            return cls(**data, learners=learners)
        except (OSError, ValueError, TypeError):
            return None


def workshop_dir() -> Path:
    """Where the learners' kubeconfigs and the workshop record live."""
    return state_dir() / "workshop"


def record_path() -> Path:
    """The workshop record."""
    return workshop_dir() / "workshop.json"


def recorded() -> WorkshopRecord:
    """The workshop ``create`` recorded here, or a one-line refusal saying how to make one."""
    rec = WorkshopRecord.load()
    if rec is None:
        raise UsageError(
            f"there is no workshop here ({record_path()} is missing)",
            "make one with `stslab workshop create`, or set STSLAB_STATE to its state directory",
        )
    return rec


def instructor_api() -> tuple[client.ApiClient, str]:
    """The instructor's API client and the workshop's name, from the workshop record."""
    rec = recorded()
    api = config.new_client_from_config(
        config_file=rec.kubeconfig, context=rec.context, persist_config=False
    )
    return api, rec.workshop
