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


def _settings() -> dict[str, Any]:
    return dict(json.loads(Path(os.environ[SETTINGS_ENV]).read_text()))


def _record() -> Any:
    """The workshop record, as ``create`` left it (read at each login and each start)."""
    from stslab.lab.roster import WorkshopRecord

    rec = WorkshopRecord.load()
    if rec is None:
        raise web.HTTPError(503, "the workshop is gone: ask your instructor")
    return rec


def _hub() -> Any:
    from stslab.ops.hub import HubRecord

    return HubRecord.load()


class CodeAuthenticator(Authenticator):  # type: ignore[misc]
    """A learner's name and code; the instructor as ``instructor`` with the code from ``serve``."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
        """The Unix account of whoever the name and code are, or None."""
        from stslab.ops.workshop import code_digest

        name = data.get("username", "").strip().lower()
        digest = code_digest(data.get("password", ""))
        if name == INSTRUCTOR:
            hub = _hub()
            return str(hub.instructor) if hub and digest == hub.instructor_code_sha256 else None
        rec = _record()
        learner = rec.learners.get(name)
        if learner is None or not learner.code_sha256 or digest != learner.code_sha256:
            return None
        if learner.expires and datetime.fromisoformat(learner.expires) < datetime.now(timezone.utc):
            raise web.HTTPError(
                403,
                f"your code expired at {learner.expires}: ask your instructor for a new one "
                "(`stslab workshop create` again gives one)",
            )
        return account_of(rec.workshop, name)


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
    c.JupyterHub.services = [{"name": "stslab", "api_token": s["api_token"]}]
    c.JupyterHub.load_roles = [
        {
            "name": "stslab",
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
            "services": ["stslab"],
        }
    ]
