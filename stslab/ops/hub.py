"""``stslab workshop serve``: the room served from this machine by JupyterHub.

``serve`` (run as root: each learner's JupyterLab runs as a Unix account of their own) makes,
from the workshop ``stslab workshop create`` recorded:

- the room's folder (``--root``, default ``/srv/stslab/<workshop>``; every account may enter it,
  and it is marked as the room's by :data:`MARKER`): ``venv/``, a Python environment with the kit
  and JupyterHub's single-user server, made from the system's ``python3`` (the instructor's own
  may live where learners cannot read); ``cache/``, the pinned kubectl; and ``home/<learner>/``,
  each learner's home, private to them, with their kubeconfig, the labs, and their state
  directory already set up on their namespace (``stslab up --backend existing``);
- one Unix account per learner, ``<workshop>-<learner>``, whose comment names the room;
- the hub's own files, in the instructor's state directory: ``<state>/workshop/hub/`` (its
  database, cookie secret, log and :class:`HubRecord`).

JupyterHub and its proxy (configurable-http-proxy, from npm, cached in ``~/.cache/stslab/hub``)
listen on loopback unless ``--ip`` says otherwise. Learners log in with their name and the code
``create`` printed; the instructor logs in as ``instructor`` with the code ``serve`` prints, and
gets the room's console (``labs/instructor.ipynb``). What runs inside the hub is in
:mod:`stslab.ops.hub_app`. ``serve --stop`` stops the hub and every learner's server;
``workshop delete`` does that and removes all of the above.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from stslab.cluster.images.room import kit_digest
from stslab.core.errors import StslabError, UsageError
from stslab.core.files import write_atomic
from stslab.core.paths import binary_dir, cache_dir, checkout, is_within
from stslab.core.procs import free_port, pid_alive, port_free, port_holder, run, terminate
from stslab.core.versions import pinned
from stslab.lab.roster import Learner, WorkshopRecord, workshop_dir

MARKER = ".stslab-room"  # in the room's folder: what `delete` may remove
INSTRUCTOR = "instructor"  # the instructor's login name at the hub
ACCOUNT_COMMENT = "stslab room {workshop} learner {name}"  # marks its Unix accounts (no ":")
START_TIMEOUT = 120.0  # the hub's own start; a learner's JupyterLab has the hub's start_timeout


@dataclass
class HubRecord:
    """What ``serve`` made and where the hub listens (``<state>/workshop/hub/hub.json``)."""

    workshop: str
    url: str
    root: str
    pid: int = 0
    instructor: str = ""  # the instructor's Unix account, which runs the console
    instructor_code_sha256: str = ""
    api_token: str = ""  # the hub's service token for `stslab` itself (stop, who is logged in)
    accounts: dict[str, str] = field(default_factory=dict)  # learner -> Unix account
    namespace: str = ""  # served on the cluster (`serve --kubernetes`): the hub's namespace

    def save(self) -> None:
        """Write the record atomically, readable by the instructor alone."""
        write_atomic(hub_dir() / "hub.json", json.dumps(asdict(self), indent=2) + "\n")
        (hub_dir() / "hub.json").chmod(0o600)

    @classmethod
    def load(cls) -> HubRecord | None:
        """The record, or None when there is none."""
        try:
            return cls(**json.loads((hub_dir() / "hub.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def running(self) -> bool:
        """True while the hub's process is alive."""
        return self.pid > 0 and pid_alive(self.pid)


def hub_dir() -> Path:
    """The hub's files, in the instructor's state directory."""
    return workshop_dir() / "hub"


def default_root(workshop: str) -> Path:
    """Where the room's accounts live unless ``--root`` says: ``/srv/stslab/<workshop>``."""
    return Path("/srv/stslab") / workshop


def account_of(workshop: str, learner: str) -> str:
    """The Unix account of ``learner``: ``<workshop>-<learner>``."""
    return f"{workshop}-{learner}"


# --- checks, before anything is made -------------------------------------------------------


def check_can_serve(rec: WorkshopRecord, ip: str, port: int, root: Path) -> None:
    """Refuse, in one line each, what would make ``serve`` fail half-way."""
    check_address(ip, port)
    if os.geteuid() != 0:
        raise UsageError(
            "serving a room needs root: each learner's JupyterLab runs as a Unix account of theirs",
            "run `sudo .venv/bin/stslab workshop serve` (or `sudo make serve`)",
        )
    try:
        metadata.version("jupyterhub")
    except metadata.PackageNotFoundError:
        raise UsageError(
            "JupyterHub is not installed", "run `make install` (or pip install 'stslab[hub]')"
        ) from None
    if checkout() is None:
        raise UsageError(
            "serve installs the kit for the learners from its source checkout, and this is a wheel",
            "run serve from a checkout of stslab",
        )
    for name in rec.learners:
        account = account_of(rec.workshop, name)
        if len(account) > 32:
            raise UsageError(
                f"the Unix account {account!r} would be longer than 32 characters",
                "use shorter learner names (workshop create --names) or workshop name",
            )
        _check_account_is_ours(account, rec.workshop, name)
    _check_root(root)


def check_address(ip: str, port: int) -> None:
    """Refuse a room served already, an ``--ip`` that is no address, a port bad or taken."""
    old = HubRecord.load()
    if old is not None and old.running():
        raise UsageError(
            f"the room is already served at {old.url} (pid {old.pid})",
            "stop it first with `stslab workshop serve --stop`",
        )
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise UsageError(
            f"--ip {ip!r} is not an address", "give this machine's address, e.g. --ip 127.0.0.1"
        ) from None
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port", "use 1024 to 65535, e.g. --port 8000")
    if not port_free(port, ip):
        holder = port_holder(port)
        raise UsageError(
            f"port {port} on {ip} is taken{' by ' + holder if holder else ''}",
            "pass a free one with --port",
        )


def _is_rooms(account: str, workshop: str, name: str) -> bool | None:
    """Whether ``account`` is this room's (its comment says so); None when there is none."""
    try:
        entry = pwd.getpwnam(account)
    except KeyError:
        return None
    return entry.pw_gecos == ACCOUNT_COMMENT.format(workshop=workshop, name=name)


def _check_account_is_ours(account: str, workshop: str, name: str) -> None:
    if _is_rooms(account, workshop, name) is False:
        raise UsageError(
            f"the Unix account {account!r} exists and is not this room's",
            "choose other learner names with `workshop create --names`",
        )


def _check_root(root: Path) -> None:
    """The room's folder: absent or ours, and every folder above it open to other accounts."""
    if root.exists() and not (root / MARKER).exists():
        raise UsageError(f"{root} exists and is not a room's folder", "pass another with --root")
    for parent in root.absolute().parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise UsageError(
                f"learners cannot enter {parent} (mode {parent.stat().st_mode & 0o777:o})",
                "pass a --root every account may enter, e.g. under /srv",
            )


def proxy_command() -> Path:
    """configurable-http-proxy, installed with npm into the versioned cache if missing."""
    version = pinned().proxy
    prefix = cache_dir() / "hub" / f"configurable-http-proxy-{version}"
    chp = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if chp.exists():
        return chp
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise UsageError(
            "JupyterHub's proxy (configurable-http-proxy) is missing, and npm to install it",
            "install Node.js and npm (apt-get install nodejs npm), then serve again",
        )
    tmp = prefix.with_name(prefix.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund"]
    try:
        run(
            [*cmd, f"configurable-http-proxy@{version}"],
            timeout=600,
            what=f"npm install configurable-http-proxy@{version}",
            fix="check npm's registry access, then serve again",
        )
    except StslabError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(prefix)
    return chp


# --- what the learners run -----------------------------------------------------------------


def _kit_digest(src: Path) -> str:
    """The learners' environment's key: the kit's files and JupyterHub's version."""
    return f"{kit_digest(src)}-{metadata.version('jupyterhub')}"


def _python() -> str:
    """A Python interpreter every account may run (the system's), for the learners' venv."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise UsageError(
        "no system python3 (/usr/bin/python3) for the learners' environment",
        "install it (apt-get install python3 python3-venv)",
    )


def build_venv(root: Path) -> Path:
    """``<root>/venv``: the kit and JupyterHub's singleuser server, remade when the kit changes."""
    src = checkout()
    assert src is not None  # check_can_serve refused a wheel
    venv, digest = root / "venv", _kit_digest(src)
    stamp = venv / ".stslab-kit"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    print("making the learners' Python environment (about a minute)", flush=True)
    steps = [
        [_python(), "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", str(src)]
        + [f"jupyterhub=={metadata.version('jupyterhub')}"],
    ]
    for cmd in steps:
        run(cmd, timeout=1200, what="the learners' environment", fix="fix it and serve again")
    stamp.write_text(digest + "\n")
    return venv


def _kubectl_dir(root: Path) -> Path:
    """Where learners find the pinned kubectl: ``<root>/cache`` is their binary cache."""
    return root / "cache" / "bin" / f"kubernetes-{pinned().kubernetes}"


def _copy_kubectl(root: Path) -> None:
    """The instructor's pinned kubectl, copied where learners may run it."""
    src = binary_dir("kubernetes", pinned().kubernetes) / "kubectl"
    dest = _kubectl_dir(root) / "kubectl"
    if src.is_file() and not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        dest.chmod(0o755)


def learner_env(root: Path, learner: Learner, home: Path) -> dict[str, str]:
    """The environment of a learner's JupyterLab, and of ``serve``'s set-up commands as them."""
    paths = [root / "venv" / "bin", _kubectl_dir(root), Path("/usr/local/bin"), Path("/usr/bin")]
    return {
        "HOME": str(home),
        "PATH": os.pathsep.join([*map(str, paths), "/bin"]),
        "KUBECONFIG": str(home / "kubeconfig"),
        "STSLAB_STATE": str(home / ".stslab"),
        "STSLAB_CACHE": str(root / "cache"),
        "STSLAB_LEARNER": learner.name,
        "LANG": "C.UTF-8",
    }


def _as(account: str, env: dict[str, str], cmd: list[str], what: str) -> None:
    """``cmd`` run by ``account`` with exactly ``env``; a failure says ``what`` failed."""
    full = ["runuser", "-u", account, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items())]
    run([*full, *cmd], timeout=300, cwd="/", what=what, fix="fix that, then serve again")


def provision(root: Path, rec: WorkshopRecord, learner: Learner) -> str:
    """One learner's Unix account and private home, with kubeconfig, labs and state."""
    account = account_of(rec.workshop, learner.name)
    home = root / "home" / learner.name
    if _is_rooms(account, rec.workshop, learner.name) is None:
        comment = ACCOUNT_COMMENT.format(workshop=rec.workshop, name=learner.name)
        cmd = ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash"]
        run([*cmd, "--comment", comment, "--user-group", account], timeout=60)
    entry = pwd.getpwnam(account)
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)
    kubeconfig = home / "kubeconfig"
    shutil.copyfile(learner.kubeconfig, kubeconfig)  # a new token after `create` again
    os.chown(kubeconfig, entry.pw_uid, entry.pw_gid)
    kubeconfig.chmod(0o600)
    env = learner_env(root, learner, home)
    stslab = str(root / "venv" / "bin" / "stslab")
    ns = learner.namespace
    # The labs in their namespace; an edit of theirs is kept when the room is served again.
    steps = [[stslab, "lab", str(home / "labs"), "--copy-only", "--namespace", ns]]
    if (home / ".stslab" / "existing").exists():  # served before: take the kubeconfig anew
        steps.append([stslab, "down", "--backend", "existing"])
    steps.append([stslab, "up", "--backend", "existing", "--context", ns, "--namespace", ns])
    for cmd in steps:
        _as(account, env, cmd, f"setting up learner {learner.name} ({cmd[1]})")
    return account


# --- the hub -------------------------------------------------------------------------------


def serve(rec: WorkshopRecord, *, ip: str, port: int, root: Path) -> tuple[HubRecord, str]:
    """Set the room up and start the hub; the record and the instructor's login code.

    Anything that fails removes what this call made (the accounts, the room's folder, the hub).
    """
    from stslab.ops.workshop import code_digest, login_code

    check_can_serve(rec, ip, port, root)
    chp = proxy_command()
    code = login_code()
    url = f"http://{ip}:{port}/"
    hub = HubRecord(
        rec.workshop,
        url,
        str(root.absolute()),
        instructor=pwd.getpwuid(os.getuid()).pw_name,
        instructor_code_sha256=code_digest(code),
        api_token=secrets.token_hex(32),
    )
    hub_dir().mkdir(parents=True, exist_ok=True)
    hub_dir().chmod(0o700)
    try:
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        (root / MARKER).write_text(f"the room of workshop {rec.workshop}\n")
        (root / "home").mkdir(mode=0o755, exist_ok=True)
        build_venv(root)
        _copy_kubectl(root)
        print(f"setting up {len(rec.learners)} learner account(s)", flush=True)
        hub.accounts = {name: account_of(rec.workshop, name) for name in rec.learners}
        hub.save()  # before any account exists: what to remove if this fails
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda x: provision(root, rec, x), rec.learners.values()))
        hub.pid = _start(hub, ip, port, chp)
        hub.save()
    except BaseException:
        remove(hub, failed=True)
        raise
    return hub, code


def _start(hub: HubRecord, ip: str, port: int, chp: Path) -> int:
    """Start JupyterHub in the background and wait until it answers; its pid."""
    settings = {
        "ip": ip,
        "port": port,
        "hub_port": free_port(),
        "proxy_api_port": free_port(),
        "proxy": str(chp),
        "root": hub.root,
        "state": str(workshop_dir().parent),
        "instructor": hub.instructor,
        "api_token": hub.api_token,
        "python": sys.executable,
    }
    write_atomic(hub_dir() / "settings.json", json.dumps(settings, indent=2) + "\n")
    (hub_dir() / "settings.json").chmod(0o600)
    config = hub_dir() / "jupyterhub_config.py"
    config.write_text(
        "# Written by `stslab workshop serve`: the settings are in settings.json beside it.\n"
        "from stslab.ops.hub_app import configure\n\nconfigure(c)  # noqa: F821\n"
    )
    hub_bin = Path(sys.executable).with_name("jupyterhub")
    env = {
        **os.environ,
        "STSLAB_HUB_SETTINGS": str(hub_dir() / "settings.json"),
        "STSLAB_STATE": str(workshop_dir().parent),  # where the hub reads the workshop record
    }
    with (hub_dir() / "hub.log").open("ab") as log:  # the hub keeps its own descriptor
        proc = subprocess.Popen(
            [str(hub_bin), "-f", str(config)],
            cwd=hub_dir(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the hub outlives this command
        )
    deadline = time.monotonic() + START_TIMEOUT
    health = f"http://{ip}:{port}/hub/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with opener.open(health, timeout=2) as r:
                if r.status == 200:
                    return proc.pid
        except OSError:
            time.sleep(0.5)
    terminate(proc.pid)
    tail = " | ".join((hub_dir() / "hub.log").read_text(errors="replace").strip().splitlines()[-3:])
    raise StslabError(f"JupyterHub did not start: {tail}", f"its log: {hub_dir() / 'hub.log'}")


def logged_in(hub: HubRecord) -> list[str]:
    """The learners whose JupyterLab is running (asked of the hub; [] when it does not answer)."""
    req = urllib.request.Request(
        hub.url.rstrip("/") + "/hub/api/users?state=active",
        headers={"Authorization": f"token {hub.api_token}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as r:
            users = json.load(r)
    except (OSError, ValueError):
        return []
    names = {v: k for k, v in hub.accounts.items()}
    return sorted(names[u["name"]] for u in users if u["name"] in names)


def stop(hub: HubRecord) -> None:
    """Stop the hub; it stops every learner's JupyterLab and its proxy as it goes."""
    if hub.running():  # on the cluster (`--kubernetes`) this is the forward
        terminate(hub.pid, timeout=60)
    if hub.namespace:  # its learners are no Unix accounts: stslab.ops.hub_kube.remove
        return
    for account in hub.accounts.values():  # whatever a learner left running
        run(["pkill", "-KILL", "-u", account], timeout=30, check=False)


def remove(hub: HubRecord, *, failed: bool = False) -> None:
    """Stop the hub, remove the learners' Unix accounts, the room's folder and the hub's files.

    ``failed`` (a ``serve`` that failed): keep the learners' finished Python environment for the
    next try, and the hub's log, which the error names.
    """
    stop(hub)
    for learner, account in hub.accounts.items():
        if _is_rooms(account, hub.workshop, learner):
            run(["userdel", account], timeout=60, check=False)
    root = Path(hub.root)
    if hub.root and (root / MARKER).exists():
        if failed and (root / "venv" / ".stslab-kit").exists():
            _empty(root, keep=("venv", MARKER))
        else:
            shutil.rmtree(root)
    if hub_dir().is_dir() and is_within(hub_dir(), workshop_dir()):
        if failed:
            _empty(hub_dir(), keep=("hub.log",))
        else:
            shutil.rmtree(hub_dir())


def _empty(folder: Path, keep: tuple[str, ...]) -> None:
    """Remove what ``folder`` holds but the entries named in ``keep``."""
    for child in folder.iterdir():
        if child.name not in keep:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
