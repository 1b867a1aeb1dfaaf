"""stslab's ZooKeeper image against the contract lab 05's manifest relies on (CONTRACT.md).

The image's own files (entry point, zkServer.sh, zkCli.sh, the pinned jars) are put together as
the node image does (:func:`~stslab.cluster.images.zookeeper.build_root`), then run on this
machine's Java as three members on loopback ports: the entry point writes zoo.cfg and myid from
the ZOO_* variables, the members elect a leader, a write on one is read on another, a write
without a quorum fails with the client's own error and a non-zero exit status. The kind tier
runs the same image in pods (lab 05).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stslab.cluster.images import zookeeper as zkimage
from stslab.core.errors import UsageError
from stslab.core.procs import pick_ports

pytestmark = pytest.mark.timeout(300)

JAVA = shutil.which("java")


def _need_java() -> None:
    if JAVA is None:
        pytest.skip("needs a Java runtime (apt-get install -y default-jre-headless)")


def test_lock_pins_every_jar_with_a_checksum() -> None:
    jars = zkimage.jars()
    names = {j.artifact for j in jars}
    # The server's own jars and what its pom marks provided/optional but it needs to start.
    assert {
        "zookeeper",
        "zookeeper-jute",
        "metrics-core",
        "snappy-java",
        "logback-classic",
    } <= names
    assert all(len(j.sha256) == 64 and j.size > 0 for j in jars)
    assert {j.version for j in jars if j.group == "org.apache.zookeeper"} == {zkimage.VERSION}


def test_a_jar_with_the_wrong_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_CACHE", str(tmp_path))
    jar = zkimage.jars()[2]  # a small one
    bad = zkimage.Jar(jar.group, jar.artifact, jar.version, "0" * 64, jar.size)
    with pytest.raises(UsageError, match="sha256"):
        zkimage.fetch(bad)
    assert not (tmp_path / "zookeeper/jars" / jar.file_name).exists()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_java()
    assert JAVA is not None
    r = tmp_path_factory.mktemp("zk-image") / "root"
    (r / "usr/bin").mkdir(parents=True)
    (r / "usr/bin/java").symlink_to(JAVA)
    return zkimage.build_root(r)


def _env(root: Path, member: Path) -> dict[str, str]:
    return os.environ | {
        "ZOO_HOME": str(root / "opt/zookeeper"),
        "PATH": f"{root}/usr/local/bin:{os.environ['PATH']}",
        "ZOO_CONF_DIR": str(member / "conf"),
        "ZOO_DATA_DIR": str(member / "data"),
        "ZOO_DATA_LOG_DIR": str(member / "datalog"),
    }


def test_entrypoint_writes_config_and_myid_once(root: Path, tmp_path: Path) -> None:
    env = _env(root, tmp_path) | {
        "ZOO_MY_ID": "2",
        "ZOO_SERVERS": "server.1=a:2888:3888;2181 server.2=b:2888:3888;2181",
        "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr,mntr",
    }
    entry = str(root / "docker-entrypoint.sh")
    out = subprocess.run(
        [entry, "echo", "ran"], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and out.stdout.strip() == "ran"  # then execs its arguments
    cfg = (tmp_path / "conf/zoo.cfg").read_text().splitlines()
    assert f"dataDir={tmp_path / 'data'}" in cfg and f"dataLogDir={tmp_path / 'datalog'}" in cfg
    assert "4lw.commands.whitelist=ruok,srvr,mntr" in cfg
    assert [ln for ln in cfg if ln.startswith("server.")] == [
        "server.1=a:2888:3888;2181",
        "server.2=b:2888:3888;2181",
    ]
    assert (tmp_path / "data/myid").read_text().strip() == "2"
    # A restarted container keeps what is there (the data volume's myid above all).
    env2 = env | {"ZOO_MY_ID": "3", "ZOO_SERVERS": "server.9=z:1:2;3"}
    subprocess.run([entry, "true"], env=env2, check=True, timeout=30)
    assert (tmp_path / "data/myid").read_text().strip() == "2"
    assert "server.9" not in (tmp_path / "conf/zoo.cfg").read_text()


def _srvr(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"srvr")
            chunks = []
            while data := s.recv(4096):
                chunks.append(data)
        return b"".join(chunks).decode()
    except OSError:
        return ""


def _mode(port: int) -> str:
    for line in _srvr(port).splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "down"


@pytest.fixture()
def ensemble(
    root: Path, tmp_path: Path
) -> Iterator[tuple[list[int], list[subprocess.Popen[bytes]]]]:
    ports = pick_ports(9, str(tmp_path))
    clients = ports[:3]
    servers = " ".join(
        f"server.{i + 1}=127.0.0.1:{ports[3 + i]}:{ports[6 + i]};{clients[i]}" for i in range(3)
    )
    procs = []
    for i in range(3):
        member = tmp_path / f"m{i}"
        member.mkdir()
        env = _env(root, member) | {
            "ZOO_MY_ID": str(i + 1),
            "ZOO_SERVERS": servers,
            "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr,mntr",
        }
        log = (member / "log").open("wb")
        procs.append(
            subprocess.Popen(
                [str(root / "docker-entrypoint.sh"), "zkServer.sh", "start-foreground"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        yield clients, procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def _cli(root: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "usr/local/bin/zkCli.sh"), "-server", f"127.0.0.1:{port}", *args],
        env=os.environ | {"ZOO_HOME": str(root / "opt/zookeeper")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_three_members_elect_replicate_and_refuse_writes_without_quorum(
    root: Path, ensemble: tuple[list[int], list[subprocess.Popen[bytes]]]
) -> None:
    clients, procs = ensemble
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        modes = sorted(_mode(p) for p in clients)
        if modes == ["follower", "follower", "leader"]:
            break
        time.sleep(0.5)
    assert modes == ["follower", "follower", "leader"]
    made = _cli(root, clients[0], "create", "/hello", "world")
    assert made.returncode == 0, made.stderr[-300:]
    got = _cli(root, clients[2], "get", "/hello")
    assert got.returncode == 0 and got.stdout.strip().splitlines()[-1] == "world"
    missing = _cli(root, clients[2], "get", "/nope")
    assert (
        missing.returncode != 0 and "Node does not exist: /nope" in missing.stdout + missing.stderr
    )
    # Two of three gone: the last one serves nobody, and a write fails with the client's error.
    for p in procs[1:]:
        p.kill()
        p.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "not currently serving" not in _srvr(clients[0]):
        time.sleep(0.5)
    assert "not currently serving" in _srvr(clients[0])
    lost = _cli(root, clients[0], "create", "/during", "x")
    assert lost.returncode != 0 and "ConnectionLoss" in lost.stdout + lost.stderr


def test_every_file_of_the_server_is_readable_by_its_user(root: Path) -> None:
    """The manifest runs ZooKeeper as uid 1000: no jar or script may be root's alone."""
    files = [p for p in (root / "opt/zookeeper").rglob("*") if p.is_file()]
    files += [p for p in (root / "usr/local/bin").iterdir() if p.is_file()]
    private = [p.name for p in files if not p.stat().st_mode & 0o004]
    assert files and not private, f"not readable by others: {private}"
