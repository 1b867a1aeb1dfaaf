"""What runs inside the room's JupyterHub (:mod:`stslab.ops.hub` starts it).

The hub's configuration file is one call, :func:`configure`, reading the settings ``serve``
wrote (``STSLAB_HUB_SETTINGS``). It sets:

- :class:`CodeAuthenticator`: a learner logs in with their learner name and the code
  ``workshop create`` printed, checked against the workshop record read at each login (so
  ``create`` again takes effect at once); a code past its token's expiry is refused saying so.
  The instructor logs in as ``instructor``;
- one local process per learner, run as their Unix account (JupyterHub's LocalProcessSpawner)
  with the environment of :func:`stslab.ops.hub.learner_env`: their kubeconfig, their state
  directory, the pinned kubectl, the labs folder as JupyterLab's root. A set-up that is missing
  (``serve`` not run since ``create``) stops the start with one line the hub shows;
- a service token for ``stslab`` itself (who is logged in, stopping servers).
"""

from __future__ import annotations

import json
import os
import pwd
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator
from tornado import web

from stslab.ops.hub import INSTRUCTOR, account_of, learner_env

SETTINGS_ENV = "STSLAB_HUB_SETTINGS"
ROOM_ENV = "STSLAB_ROOM"  # on the cluster: the room's settings, from its Secret
HOME = "/home/learner"  # a learner's home in their server's pod (a volume of its own)


def _settings() -> dict[str, Any]:
    return dict(json.loads(Path(os.environ[SETTINGS_ENV]).read_text()))


def _record() -> Any:
    """The workshop record, as ``create`` left it (read at each login and each start)."""
    from stslab.lab.roster import WorkshopRecord

    rec = WorkshopRecord.load()
    if rec is None:
        raise web.HTTPError(503, "the workshop is gone: ask your instructor")
    return rec


def _room() -> dict[str, Any]:
    """The room on the cluster: ``room.json`` of its Secret (``serve --kubernetes`` wrote it)."""
    return dict(json.loads(Path(os.environ[ROOM_ENV]).read_text()))


def _hub() -> Any:
    from stslab.ops.hub import HubRecord

    return HubRecord.load()


class CodeAuthenticator(Authenticator):  # type: ignore[misc]
    """A learner's name and code; the instructor as ``instructor`` with the code from ``serve``."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
        """The hub's user name of whoever the name and code are, or None."""
        from stslab.ops.workshop import code_digest

        name = data.get("username", "").strip().lower()
        digest = code_digest(data.get("password", ""))
        if name == INSTRUCTOR:
            hub = _hub()
            return str(hub.instructor) if hub and digest == hub.instructor_code_sha256 else None
        learner = self.learner(name)
        if learner is None or not learner["code_sha256"] or digest != learner["code_sha256"]:
            return None
        expires = learner["expires"]
        if expires and datetime.fromisoformat(expires) < datetime.now(timezone.utc):
            raise web.HTTPError(
                403,
                f"your code expired at {expires}: ask your instructor for a new one "
                "(`stslab workshop create` again gives one)",
            )
        return str(learner["user"])

    def learner(self, name: str) -> dict[str, str] | None:
        """The learner ``name``'s code digest, expiry and user name at the hub, if any."""
        rec = _record()
        x = rec.learners.get(name)
        if x is None:
            return None
        user = account_of(rec.workshop, name)
        return {"code_sha256": x.code_sha256, "expires": x.expires, "user": user}


class RoomCodeAuthenticator(CodeAuthenticator):
    """The same codes, read from the room's Secret, for a hub on the cluster (no instructor)."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
        """As :class:`CodeAuthenticator`, for learners only."""
        if data.get("username", "").strip().lower() == INSTRUCTOR:
            return None
        return await super().authenticate(handler, data)

    def learner(self, name: str) -> dict[str, str] | None:
        """The learner's entry in ``room.json`` (``serve --kubernetes`` again after ``create``)."""
        x = _room()["learners"].get(name)
        return None if x is None else {**x, "user": name}


def _pre_spawn(spawner: Any) -> None:
    """Set the JupyterLab of the user about to start: the instructor's, or a learner's."""
    settings = _settings()
    account, root = spawner.user.name, Path(settings["root"])
    if account == settings["instructor"]:
        spawner.cmd = [str(Path(settings["python"]).with_name("jupyterhub-singleuser"))]
        bin_dir = Path(settings["python"]).parent
        spawner.environment = {
            "STSLAB_STATE": settings["state"],
            "PATH": os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]),
        }
        labs = Path(__file__).resolve().parents[2] / "labs"
        spawner.notebook_dir = str(labs)
        spawner.default_url = "/lab/tree/instructor.ipynb"
        if os.geteuid() == 0:
            spawner.args = ["--allow-root"]
        return
    rec = _record()
    name = next((n for n in rec.learners if account_of(rec.workshop, n) == account), None)
    home = root / "home" / (name or "?")
    try:
        pwd.getpwnam(account)
        ready = name is not None and (home / "kubeconfig").exists()
    except KeyError:
        ready = False
    if not ready:
        why = (
            f"{account} has no set-up on this host: ask your instructor to run "
            "`stslab workshop serve` again (after `workshop create`)"
        )
        refused = web.HTTPError(500, why)
        refused.jupyterhub_message = why  # type: ignore[attr-defined]  # the hub shows it as is
        raise refused
    spawner.cmd = [str(root / "venv" / "bin" / "jupyterhub-singleuser")]
    spawner.environment = learner_env(root, rec.learners[name], home)
    spawner.notebook_dir = str(home / "labs")
    spawner.default_url = "/lab/tree/00-index.ipynb"


def configure(c: Any) -> None:
    """Fill JupyterHub's configuration object from ``serve``'s settings."""
    s = _settings()
    here = Path(os.environ[SETTINGS_ENV]).parent
    c.JupyterHub.ip, c.JupyterHub.port = s["ip"], s["port"]
    c.JupyterHub.hub_ip, c.JupyterHub.hub_port = "127.0.0.1", s["hub_port"]
    c.ConfigurableHTTPProxy.command = [s["proxy"]]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['proxy_api_port']}"
    c.JupyterHub.db_url = f"sqlite:///{here / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(here / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(here / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True  # the hub's stop stops every learner's JupyterLab
    c.JupyterHub.authenticator_class = CodeAuthenticator
    c.Authenticator.allow_all = True  # the authenticator itself knows the room
    c.Authenticator.admin_users = {s["instructor"]}
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
    c.Spawner.env_keep = ["LANG"]
    c.Spawner.pre_spawn_hook = _pre_spawn
    c.Spawner.start_timeout = 180
    c.Spawner.http_timeout = 120
    _service(c, s["api_token"])


def _pre_spawn_pod(spawner: Any) -> None:
    """A learner's server pod: in their namespace, as their ServiceAccount."""
    name = spawner.user.name
    learner = _room()["learners"].get(name)
    if learner is None:
        why = f"{name} is not a learner of this room: ask your instructor"
        refused = web.HTTPError(500, why)
        refused.jupyterhub_message = why  # type: ignore[attr-defined]
        raise refused
    spawner.namespace = learner["namespace"]
    spawner.environment = {
        "STSLAB_NAMESPACE": learner["namespace"],
        "STSLAB_LEARNER": name,
        "STSLAB_STATE": f"{HOME}/.stslab",
        "STSLAB_CACHE": f"{HOME}/.cache/stslab",
        "KUBECONFIG": f"{HOME}/kubeconfig",
        "HOME": HOME,
    }


def configure_kubernetes(c: Any) -> None:
    """The hub on the cluster (``serve --kubernetes``): KubeSpawner, one pod per learner."""
    room = _room()
    c.JupyterHub.ip, c.JupyterHub.port = "0.0.0.0", 8000  # in its pod; the Service fronts it
    c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
    c.JupyterHub.hub_connect_url = f"http://hub.{room['namespace']}.svc:8081"
    c.ConfigurableHTTPProxy.command = ["configurable-http-proxy"]
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"  # the pod's working directory
    c.JupyterHub.cleanup_servers = False  # a restarted hub finds the learners' pods again
    c.JupyterHub.authenticator_class = RoomCodeAuthenticator
    c.Authenticator.allow_all = True
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.KubeSpawner.image = room["image"]
    c.KubeSpawner.image_pull_policy = "IfNotPresent"
    if room["node"]:
        c.KubeSpawner.node_selector = {"kubernetes.io/hostname": room["node"]}
    c.KubeSpawner.service_account = room["account"]
    c.KubeSpawner.automount_service_account_token = True
    c.KubeSpawner.uid = c.KubeSpawner.gid = c.KubeSpawner.fs_gid = 1000
    c.KubeSpawner.cmd = ["stslab-learner-server"]
    c.KubeSpawner.volumes = [{"name": "home", "emptyDir": {}}]
    c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": HOME}]
    c.KubeSpawner.working_dir = HOME
    c.KubeSpawner.notebook_dir = f"{HOME}/labs"
    c.KubeSpawner.default_url = "/lab/tree/00-index.ipynb"
    c.KubeSpawner.pod_name_template = "jupyter-{username}"
    c.KubeSpawner.start_timeout = 300
    c.KubeSpawner.http_timeout = 180
    c.Spawner.pre_spawn_hook = _pre_spawn_pod
    _service(c, room["api_token"])


def _service(c: Any, token: str) -> None:
    """A service token for ``stslab`` itself: who is logged in, their tokens, stopping servers."""
    c.JupyterHub.services = [{"name": "stslab", "api_token": token}]
    c.JupyterHub.load_roles = [
        {
            "name": "stslab",
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
            "services": ["stslab"],
        }
    ]
