"""A private Docker engine for the kind tier of our tests, when no engine is running.

It uses its own socket, data root and bridge range, so it never touches a user's Docker: its
images (the offline kind node image) persist in the stslab cache between runs, and
:meth:`PrivateDockerd.stop` stops exactly the daemon it started. Its default runtime is
``stslab-runc`` (see ``clusters/kind-node/files/usr/local/bin/stslab-runc``), so privileged
kind nodes start on hosts whose root lacks CAP_SYS_RESOURCE.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from stslab.core.errors import ToolMissingError, UsageError
from stslab.core.paths import cache_dir, project_root
from stslab.core.procs import Result, run

RUNC_WRAPPER = Path("clusters/kind-node/files/usr/local/bin/stslab-runc")
KIND_BRIDGE = "stslab-kind0"
FORWARD_RULE = ["-i", KIND_BRIDGE, "-o", KIND_BRIDGE, "-j", "ACCEPT"]
DOCKERD_FIX = "install Debian's Docker engine: `apt-get install -y docker.io` (and run as root)"


class PrivateDockerd:
    """``dockerd`` on ``<run_dir>/docker.sock`` with its data in the stslab cache."""

    def __init__(self, run_dir: Path | None = None, data_root: Path | None = None) -> None:
        self.run_dir = run_dir or Path("/run/stslab-docker")
        self.data_root = data_root or cache_dir() / "docker"
        self.sock = self.run_dir / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.forward_rule = False

    @property
    def host(self) -> str:
        """The value for ``DOCKER_HOST``."""
        return f"unix://{self.sock}"

    def start(self, timeout: float = 60) -> str:
        """Start the daemon and wait until it answers; return its ``DOCKER_HOST``."""
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise ToolMissingError("dockerd (a Docker engine) is not installed", DOCKERD_FIX)
        if os.geteuid() != 0:
            raise UsageError("starting a Docker engine needs root", "run as root, or start Docker")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        runtime = project_root() / RUNC_WRAPPER
        pidfile = self.run_dir / "docker.pid"
        if pidfile.is_file():  # left by a daemon that did not stop cleanly?
            pid = int(pidfile.read_text().strip() or 0)
            if pid and Path(f"/proc/{pid}").exists():
                raise UsageError(
                    f"a private dockerd (pid {pid}) already runs on {self.sock}",
                    f"use it (DOCKER_HOST={self.host}) or stop it first",
                )
            pidfile.unlink()
        log = (self.run_dir / "dockerd.log").open("wb")
        self.proc = subprocess.Popen(
            [
                dockerd,
                f"--host={self.host}",
                f"--data-root={self.data_root}",
                f"--exec-root={self.run_dir / 'exec'}",
                f"--pidfile={pidfile}",
                # No default bridge (docker0), so a user's engine can run beside it.
                "--bridge=none",
                # Leave the host's firewall and forwarding alone: kind's nodes talk over their
                # own bridge, and the API server is published on loopback by docker-proxy.
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                f"--add-runtime=stslab-runc={runtime}",
                "--default-runtime=stslab-runc",
                "--oom-score-adjust=0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        env = {"DOCKER_HOST": self.host}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.run_dir / "dockerd.log").read_text(errors="replace")[-300:]
                raise UsageError(f"dockerd exited at start: {tail.strip()}", DOCKERD_FIX)
            if run(["docker", "info"], env=env, timeout=10, check=False).ok:
                self._kind_network(env)
                return self.host
            time.sleep(0.5)
        self.stop()
        raise UsageError(f"dockerd did not answer within {timeout:.0f}s", DOCKERD_FIX)

    def _kind_network(self, env: dict[str, str]) -> None:
        """Make kind's network ourselves, on a bridge we name, and let its traffic through.

        kind reuses a network called ``kind``. With the firewall left to the host, bridged
        traffic between nodes passes the host's FORWARD chain when br_netfilter is loaded; if
        that chain drops by default, one rule for our bridge (removed by :meth:`stop`) lets the
        nodes talk.
        """

        def docker(*args: str) -> Result:
            return run(["docker", *args], env=env, timeout=600, check=False)

        bridge_opt = "com.docker.network.bridge.name"
        have = docker(
            "network", "inspect", "kind", "--format", f'{{{{index .Options "{bridge_opt}"}}}}'
        )
        if have.returncode == 0 and have.stdout.strip() != KIND_BRIDGE:
            docker("network", "rm", "kind")  # kind's own, from an earlier run (fails if in use)
        if have.returncode != 0 or have.stdout.strip() != KIND_BRIDGE:
            docker(
                "network",
                "create",
                "--driver=bridge",
                f"--opt={bridge_opt}={KIND_BRIDGE}",
                "--opt=com.docker.network.bridge.enable_ip_masquerade=false",
                "kind",
            )
        policy = run(["iptables", "-S", "FORWARD"], timeout=30, check=False)
        if "-P FORWARD DROP" in policy.stdout:
            run(
                ["iptables", "-I", "FORWARD", *FORWARD_RULE], timeout=30, what="iptables -I FORWARD"
            )
            self.forward_rule = True

    def stop(self) -> None:
        """Stop the daemon this object started (its containers stop with it).

        dockerd leaves its networks' bridges behind; ours goes too (the network itself stays in
        the engine's data and gets a new bridge at the next start).
        """
        if self.forward_rule:
            run(["iptables", "-D", "FORWARD", *FORWARD_RULE], timeout=30, check=False)
            self.forward_rule = False
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if Path("/sys/class/net", KIND_BRIDGE).exists():
            run(["ip", "link", "delete", KIND_BRIDGE], timeout=30, check=False)
