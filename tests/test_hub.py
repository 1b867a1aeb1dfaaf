"""The served room: `stslab workshop serve` on the session's simulated cluster, tried as a room.

The instructor (this root account) makes a workshop of two learners and serves it. A learner
logs in to the hub with their code, gets a JupyterLab of their own run as their Unix account,
and runs lab 00 in a kernel of that server against their namespace. Wrong, borrowed and expired
codes are refused; a server that cannot start says why on the learner's page; `serve` twice,
a taken port, a missing proxy and a folder learners cannot enter are refused in one line with
nothing made; `workshop delete` with a learner logged in stops their server and leaves nothing
of theirs on the host.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from kubernetes import client

from stslab.cli import main
from stslab.cluster.base import ClusterRecord
from stslab.core.procs import LOOPBACK, free_port
from stslab.lab.roster import WorkshopRecord, record_path
from stslab.ops import hub
from stslab.testing import hub_client

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="makes Unix accounts: needs root (as CI runs)"),
]


@dataclass
class Room:
    workshop: str
    state: Path
    root: Path
    codes: dict[str, str]  # learner -> login code
    kubeconfig: Path  # the instructor's
    instructor_code: str = ""  # printed by `serve`


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def made(kwok_cluster: ClusterRecord) -> Iterator[Room]:
    """A workshop of two learners, ann and bob (not yet served)."""
    tag = uuid.uuid4().hex[:4]
    shared = Path(tempfile.mkdtemp(prefix="stslab-room-"))
    shared.chmod(0o755)  # learners' accounts may enter, as under /srv
    instructor = Path(tempfile.mkdtemp(prefix="stslab-instructor-"))  # 0700: the instructor's
    kubeconfig = instructor / "kubeconfig"
    shutil.copyfile(kwok_cluster.kubeconfig, kubeconfig)
    room = Room(f"hub{tag}", instructor / "state", shared / "room", {}, kubeconfig)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STSLAB_STATE", str(room.state))
        names = f"ann{tag},bob{tag}"
        code, out, err = _cli(
            "workshop", "create", "--names", names, "--kubeconfig", str(kubeconfig),
            "--workshop", room.workshop, "--yes",
        )  # fmt: skip
        assert code == 0, err
        for learner in names.split(","):
            m = re.search(rf"^{learner}\s+\S+\s+([a-z2-9]{{4}}-[a-z2-9]{{4}})\s", out, re.M)
            assert m, out
            room.codes[learner] = m.group(1)
        yield room
        if record_path().exists():
            _cli("workshop", "delete", "--yes")
    shutil.rmtree(shared, ignore_errors=True)
    shutil.rmtree(instructor, ignore_errors=True)


@pytest.fixture(scope="module")
def served(made: Room) -> Iterator[tuple[Room, str]]:
    """The room served on a free loopback port; its URL."""
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STSLAB_STATE", str(made.state))
        code, out, err = _cli("workshop", "serve", "--port", str(port), "--root", str(made.root))
        assert code == 0, err
        assert f"the room is served at http://{LOOPBACK}:{port}/" in out
        m = re.search(r"you log in as 'instructor' with the code (\S+) ", out)
        assert m, out
        made.instructor_code = m.group(1)
        yield made, f"http://{LOOPBACK}:{port}"


STATUS = "print(subprocess.run(['stslab', 'status'], capture_output=True, text=True).stdout)"


def _runs_as(uid: int) -> bool:
    """True while some process of the Unix account ``uid`` is alive."""
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and p.stat().st_uid == uid:
                return True
        except OSError:
            continue
    return False


def test_bad_input_is_refused_before_anything_is_made(
    made: Room, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(made.state))
    serve = ("workshop", "serve", "--root", str(made.root))
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        code, _, err = _cli(*serve, "--port", str(taken.getsockname()[1]))
    assert code == 2 and "is taken" in err and "--port" in err and err.count("\n") == 1, err
    code, _, err = _cli(*serve, "--ip", "banana")
    assert code == 2 and "--ip 'banana' is not an address" in err and err.count("\n") == 1, err
    private = Path(tempfile.mkdtemp())  # 0700, as a home directory
    code, _, err = _cli("workshop", "serve", "--port", str(free_port()), "--root", f"{private}/r")
    assert code == 2 and f"learners cannot enter {private}" in err and err.count("\n") == 1, err
    private.rmdir()
    with monkeypatch.context() as mp:  # no proxy in the cache, and no npm to install it
        mp.setenv("STSLAB_CACHE", str(tmp_path / "empty-cache"))
        mp.setenv("PATH", str(tmp_path))
        code, _, err = _cli(*serve, "--port", str(free_port()))
    assert code == 2 and "configurable-http-proxy" in err and "npm" in err, err
    assert err.count("\n") == 1, err
    with monkeypatch.context() as mp:
        mp.setenv("STSLAB_STATE", str(tmp_path / "nobody"))
        code, _, err = _cli(*serve)
    assert code == 2 and "there is no workshop here" in err, err
    # Nothing was made: no folder, no accounts, no hub.
    assert not made.root.exists() and not hub.hub_dir().exists()
    for learner in made.codes:
        with pytest.raises(KeyError):
            pwd.getpwnam(hub.account_of(made.workshop, learner))


@pytest.mark.timeout(600)
def test_a_learner_logs_in_and_passes_lab_00_in_their_own_server(
    served: tuple[Room, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, base = served
    monkeypatch.setenv("STSLAB_STATE", str(room.state))
    ann, bob = sorted(room.codes)
    account = hub.account_of(room.workshop, ann)
    r = hub_client.login(base, ann, room.codes[ann])
    assert r.status_code == 200, hub_client.page_text(r)[-600:]
    served_hub = hub.HubRecord.load()
    assert served_hub is not None
    token = hub_client.user_token(base, served_hub.api_token, account)
    hub_client.wait_server(base, account, token)
    # Lab 00, run headless by the learner's own kernel: their account, kubeconfig and namespace.
    bob_home = room.root / "home" / bob
    code = (
        "import os, subprocess\n"
        "print('uid', os.getuid(), os.environ['KUBECONFIG'])\n"
        f"try:\n    os.listdir({str(bob_home)!r}); print('read bob')\n"
        "except PermissionError:\n    print('bob refused')\n"
        "r = subprocess.run(['stslab', 'labs', 'run', '00'], capture_output=True, text=True)\n"
        "print('rc', r.returncode); print(r.stdout[-800:], r.stderr[-800:])\n"
    )
    out = hub_client.execute(base, account, token, code)
    assert f"uid {pwd.getpwnam(account).pw_uid} {room.root}/home/{ann}/kubeconfig" in out, out
    assert "bob refused" in out, out
    assert "rc 0" in out and re.search(r"00-index\s+pass", out), out
    # Their copies of the labs run in their namespace, as the lab ran: the one their state names.
    params = (room.root / "home" / ann / "labs" / "01-stateless-vs-stateful.ipynb").read_text()
    assert f'namespace = \\"learner-{ann}\\"' in params
    out = hub_client.execute(base, account, token, "import subprocess\n" + STATUS)
    assert f"namespace learner-{ann}" in out, out


def test_the_instructor_gets_the_console_from_the_same_hub(
    served: tuple[Room, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, base = served
    monkeypatch.setenv("STSLAB_STATE", str(room.state))
    r = hub_client.login(base, hub.INSTRUCTOR, room.instructor_code)
    assert r.status_code == 200, hub_client.page_text(r)[-600:]
    served_hub = hub.HubRecord.load()
    assert served_hub is not None
    me = served_hub.instructor
    token = hub_client.user_token(base, served_hub.api_token, me)
    hub_client.wait_server(base, me, token)
    contents = hub_client.session().get(
        f"{base}/user/{me}/api/contents", headers={"Authorization": f"token {token}"}, timeout=10
    )
    assert "instructor.ipynb" in {f["name"] for f in contents.json()["content"]}
    # Its kernel reads the workshop's record, as the console does.
    code = "from stslab.lab import roster\nprint(sorted(roster.WorkshopRecord.load().learners))"
    out = hub_client.execute(base, me, token, code)
    assert str(sorted(room.codes)) in out, out
    # A learner's code is not the instructor's.
    ann = min(room.codes)
    assert hub_client.login(base, hub.INSTRUCTOR, room.codes[ann]).status_code == 403


def test_codes_are_checked(served: tuple[Room, str], monkeypatch: pytest.MonkeyPatch) -> None:
    room, base = served
    monkeypatch.setenv("STSLAB_STATE", str(room.state))
    ann, bob = sorted(room.codes)
    r = hub_client.login(base, ann, room.codes[bob])  # another learner's code
    assert r.status_code == 403 and "Invalid username or password" in hub_client.page_text(r)
    r = hub_client.login(base, "nobody", room.codes[bob])
    assert r.status_code == 403
    # An expired code says so (the record is read at each login).
    rec = WorkshopRecord.load()
    assert rec is not None
    kept = rec.learners[bob].expires
    rec.learners[bob].expires = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    rec.save()
    try:
        r = hub_client.login(base, bob, room.codes[bob])
        assert r.status_code == 403 and "your code expired" in hub_client.page_text(r), (
            hub_client.page_text(r)[-600:]
        )
    finally:
        rec.learners[bob].expires = kept
        rec.save()


def test_a_server_that_cannot_start_says_why(
    served: tuple[Room, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, base = served
    monkeypatch.setenv("STSLAB_STATE", str(room.state))
    _, bob = sorted(room.codes)
    kubeconfig = room.root / "home" / bob / "kubeconfig"
    kept = kubeconfig.read_bytes()
    kubeconfig.unlink()
    try:
        r = hub_client.login(base, bob, room.codes[bob])
        assert r.status_code == 500, r.status_code
        assert "has no set-up on this host" in hub_client.page_text(
            r
        ) and "workshop serve" in hub_client.page_text(r)
    finally:
        kubeconfig.write_bytes(kept)
    # And serving twice is refused, naming the running hub.
    code, _, err = _cli("workshop", "serve", "--root", str(room.root))
    assert code == 2 and f"already served at {base}/" in err and err.count("\n") == 1, err


def test_delete_with_a_learner_logged_in_leaves_nothing_of_theirs(
    served: tuple[Room, str], monkeypatch: pytest.MonkeyPatch, api: client.ApiClient
) -> None:
    room, base = served
    monkeypatch.setenv("STSLAB_STATE", str(room.state))
    ann, _ = sorted(room.codes)
    account = hub.account_of(room.workshop, ann)
    assert hub_client.session().get(f"{base}/hub/health", timeout=5).status_code == 200
    uid = pwd.getpwnam(account).pw_uid
    assert _runs_as(uid)  # their JupyterLab
    code, out, err = _cli("workshop", "delete", "--yes")
    assert code == 0, err
    assert f"telling 1 learner(s) still working: {ann}" in out, out
    for learner in room.codes:
        with pytest.raises(KeyError):
            pwd.getpwnam(hub.account_of(room.workshop, learner))
    assert not _runs_as(uid), "a process of the learner's is left"
    assert not room.root.exists() and not hub.hub_dir().exists()
    with pytest.raises(requests.ConnectionError):
        hub_client.session().get(f"{base}/hub/health", timeout=5)
    names = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
    assert not {f"learner-{n}" for n in room.codes} & names
