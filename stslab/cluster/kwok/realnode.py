"""A real node beside the simulated ones: Debian's containerd and a real kubelet, as processes.

The kubelet is built from the same Kubernetes version as the control plane
(``scripts/build-binaries.sh kubelet``); containerd, runc, the CNI plugins and busybox come from
Debian (:data:`~.realnode_setup.APT_PACKAGES`). Images are made locally (:mod:`~..images.oci`),
never pulled. It needs root and cgroup v1 or v2. Its fixed names and addresses, and its
configuration files, are in :mod:`~.realnode_setup`.

Layout of ``dir``::

    containerd.toml, containerd.sock   containerd's config and API socket (CRI plugin on)
    containerd/                        containerd's root and state
    runc/                              runc's state
    cni/net.d/, cni/ipam/              the bridge network's config and its address leases
    kubelet/                           the kubelet's --root-dir (device-plugins/ is in it)
    kubelet.yaml, resolv.conf, pki/    the kubelet's configuration and serving certificate
    dns/                               the node's CoreDNS: Corefile, pid, log
    pod-logs/                          container logs (kubectl logs reads them)
    images/                            the image archive imported into containerd
    logs/, pids/                       each process's log and pid
    sysctl.json                        kernel settings before the kubelet changed them

Isolation and cleanup. containerd and the kubelet share one private mount namespace, held by a
``sleep`` process. There a tmpfs covers ``/run`` (containerd's shims put their sockets in
``/run/containerd/s`` whatever the config says; network namespaces go to ``/run/netns``),
``/var/log`` (the kubelet's ``/var/log/containers`` links) and ``/var/lib`` (CNI's cache). The
kubelet serves device plugins at the fixed ``/var/lib/kubelet/device-plugins``: that is
bind-mounted from ``dir/kubelet/device-plugins``, where plugins on the host find it. Every
mount they make (container root filesystems, volumes, network namespaces) lives only in that
namespace, so when its last process ends, the mounts go with it.

Network. Pods get veths on our own bridge :data:`BRIDGE` (:data:`POD_CIDR`; no masquerading,
no forwarding: pods reach each other and the node, nothing else). The bridge's address
:data:`NODE_IP` is the node's InternalIP (the kubelet refuses a loopback one), where the
kubelet listens and the apiserver calls it for exec and logs.

:meth:`RealNode.stop` ends the pods' processes (by their cgroups) and the namespace's
processes, removes the bridge and the kubelet's cgroups, and restores the kernel settings the
kubelet changes at start (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops, ...).

The kubelet registers with the taint :data:`TAINT`, so only pods that tolerate it (and select
the node) run here; lab pods keep going to the simulated nodes.

DNS. The lab's CoreDNS listens on the host's 127.0.0.1, which a pod (in its own network
namespace) cannot reach. So the node runs a second CoreDNS (:mod:`~.dns`, same Corefile,
same apiserver) on ``NODE_IP:53``, and the kubelet gives pods ``clusterDNS: [NODE_IP]`` and
``clusterDomain: cluster.local``: their resolv.conf has that nameserver, the search domains
``<ns>.svc.cluster.local svc.cluster.local cluster.local`` and ``ndots:5``, as on any cluster.
Answers may name kwok's made-up pod IPs (10.244.x); nothing here sends traffic to them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stslab.cluster.dns import CoreDNS
from stslab.cluster.images import oci as ociimage
from stslab.cluster.kwok.realnode_setup import (
    BRIDGE,
    BUSYBOX_ALIASES,
    BUSYBOX_IMAGE,
    CGROUP_FS,
    DNS_PORT,
    HIDDEN_DIRS,
    KERNEL_TUNABLES,
    KUBELET_PLUGIN_DIR,
    LABEL,
    NODE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    check_dir,
    cni_config,
    containerd_config,
    coredns_binary,
    kubelet_binary,
    kubelet_config,
    require,
)
from stslab.core.errors import (
    ClusterStateError,
    PortInUseError,
    StslabError,
)
from stslab.core.kube import wait_until
from stslab.core.procs import free_port, pid_alive, pid_cmdline, port_free, run, terminate


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _mnt_ns(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return ""


@dataclass
class RealNode:
    """containerd + kubelet for one node named ``name``, state and logs in ``dir``."""

    dir: Path
    kubeconfig: Path
    name: str = NODE_NAME
    context: str = ""  # of the kubeconfig, for CoreDNS; empty: its current context
    kubelet_port: int = 0
    healthz_port: int = 0
    dns_ready_port: int = 0
    _popen: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    # -- paths ---------------------------------------------------------------------------
    @property
    def socket(self) -> Path:
        """The API socket of containerd (the CRI endpoint)."""
        return self.dir / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's --root-dir."""
        return self.dir / "kubelet"

    @property
    def device_plugin_dir(self) -> Path:
        """Where device plugins put their sockets (and the kubelet its ``kubelet.sock``)."""
        return self.kubelet_root / "device-plugins"

    @property
    def cgroup_root(self) -> str:
        """The kubelet's cgroupRoot: every pod's cgroup lies below it."""
        return f"/stslab-{self.name}"

    @property
    def dns(self) -> CoreDNS:
        """The node's CoreDNS, on the bridge address where its pods reach it."""
        return CoreDNS(
            binary=coredns_binary(),
            workdir=self.dir / "dns",
            port=DNS_PORT,
            ready_port=self.dns_ready_port,
            host=NODE_IP,
        )

    def log(self, proc: str) -> Path:
        """A process's log file."""
        return self.dir / "logs" / f"{proc}.log"

    def _pid_file(self, proc: str) -> Path:
        return self.dir / "pids" / f"{proc}.pid"

    def pid(self, proc: str) -> int | None:
        """The pid of ``namespace``, ``containerd`` or ``kubelet`` if it is running."""
        try:
            pid = int(self._pid_file(proc).read_text())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    # -- start -----------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start CoreDNS, containerd and the kubelet; on a failure stop what started, and raise."""
        require()
        check_dir(self.dir)
        if any(self.pid(p) for p in ("namespace", "containerd", "kubelet")):
            raise ClusterStateError(
                f"the real node {self.name} in {self.dir} is already running", "stop it first"
            )
        if _link_exists(BRIDGE):
            raise ClusterStateError(
                f"network interface {BRIDGE} exists: another real node runs on this machine",
                f"stop it, or remove the bridge (`ip link del {BRIDGE}`)",
            )
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        subs = ("logs", "pids", "pki", "pod-logs", "images", "cni/ipam", "volume-plugins", "dns")
        for sub in subs:
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.kubelet_port = self.kubelet_port or free_port()
        self.healthz_port = self.healthz_port or free_port()
        self.dns_ready_port = self.dns_ready_port or free_port()
        containerd_conf = self.dir / "containerd.toml"
        containerd_conf.write_text(containerd_config(self.dir, self.socket))
        cni = self.dir / "cni/net.d/10-stslab.conflist"
        cni.parent.mkdir(parents=True, exist_ok=True)
        cni.write_text(json.dumps(cni_config(self.dir), indent=2))
        kubelet_conf = self.dir / "kubelet.yaml"
        kubelet_conf.write_text(
            "# Written by stslab: the real node's kubelet.\n"
            + yaml.safe_dump(
                kubelet_config(
                    self.dir, self.socket, self.kubelet_port, self.healthz_port, self.cgroup_root
                )
            )
        )
        self._save_kernel_tunables()
        self._make_cgroup_root()
        # The bridge with the node's address, before the kubelet reports it as its InternalIP.
        for ip in (
            ["link", "add", BRIDGE, "type", "bridge"],
            ["addr", "add", f"{NODE_IP}/24", "dev", BRIDGE],
            ["link", "set", BRIDGE, "up"],
        ):
            run(["ip", *ip], timeout=60, what=f"`ip {' '.join(ip)}`")
        # The pods' DNS: CoreDNS in the host's network namespace, on the bridge address.
        if not port_free(DNS_PORT, NODE_IP):
            raise PortInUseError(
                f"port {DNS_PORT} on {NODE_IP} is in use (a DNS server on every address?)",
                f"stop what listens on port {DNS_PORT} (`ss -lntup 'sport = :{DNS_PORT}'`)",
            )
        self.dns.start(self.kubeconfig, self.context)
        enter = ["nsenter", f"--target={self._start_namespace()}", "--mount", "--"]
        self._spawn("containerd", [*enter, "containerd", "--config", str(containerd_conf)])
        wait_until(
            lambda: self._ctr("version") is not None,  # raises until containerd answers
            timeout=timeout,
            what="containerd answering",
            hint=f"see {self.log('containerd')}",
        )
        self.import_images()
        self._spawn(
            "kubelet",
            [
                *enter,
                str(kubelet_binary()),
                f"--config={kubelet_conf}",
                f"--kubeconfig={self.kubeconfig}",
                f"--root-dir={self.kubelet_root}",
                f"--cert-dir={self.dir / 'pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={LABEL}=true",
                "--v=2",
            ],
        )
        wait_until(
            self._kubelet_healthy,
            timeout=timeout,
            what="the kubelet's /healthz",
            hint=f"see {self.log('kubelet')}",
        )

    def _start_namespace(self) -> int:
        """Start the node's private mount namespace (see the module's doc); return its pid.

        Held by a ``sleep``: tmpfs over :data:`HIDDEN_DIRS`, and the kubelet's fixed
        device-plugin directory bind-mounted from :attr:`device_plugin_dir`.
        """
        plugins = self.device_plugin_dir
        plugins.mkdir(parents=True, exist_ok=True)
        mounts = (
            f"set -e; for d in {' '.join(HIDDEN_DIRS)}; do "
            "mount -t tmpfs -o mode=0755,size=64m stslab-node-tmpfs $d; done; "
            # the kubelet's device-plugin socket path is fixed (v1beta1.KubeletSocket)
            f"mkdir -p {KUBELET_PLUGIN_DIR}; mount --bind '{plugins}' {KUBELET_PLUGIN_DIR}; "
            "exec sleep infinity"
        )
        ns = self._spawn(
            "namespace",
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", mounts],
        )
        wait_until(
            lambda: str(plugins) in Path(f"/proc/{ns}/mountinfo").read_text(),
            timeout=10,
            what="the real node's mount namespace",
            hint=f"see {self.log('namespace')}",
        )
        return ns

    def _spawn(self, proc: str, cmd: list[str]) -> int:
        with self.log(proc).open("ab") as log:
            p = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self._popen[proc] = p
        self._pid_file(proc).write_text(str(p.pid))
        time.sleep(0.1)
        if p.poll() is not None:
            raise StslabError(
                f"{proc} exited at once (exit {p.returncode})", f"see {self.log(proc)}"
            )
        return p.pid

    def _ctr(self, *args: str, what: str = "", fix: str = "") -> str:
        """``ctr`` against our containerd, run inside the node's mount namespace (its fifos).

        Returns its output; a failure raises with its last lines (``what`` names it).
        """
        ns = self.pid("namespace")
        if ns is None:
            raise ClusterStateError("the real node's mount namespace is gone", "start it again")
        cmd = ["nsenter", f"--target={ns}", "--mount", "--", "ctr", "-a", str(self.socket)]
        what = what or f"ctr {args[0]}"
        return run([*cmd, "-n", "k8s.io", *args], timeout=120, what=what, fix=fix)

    def _kubelet_healthy(self) -> bool:
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.healthz_port}/healthz", timeout=2) as r:
            return bool(r.status == 200)

    def import_images(self) -> None:
        """Build busybox and pause images from Debian's static busybox and import them."""
        images = self.dir / "images"
        rootfs = images / "rootfs"
        if not rootfs.exists():
            ociimage.busybox_rootfs(rootfs)
        archive = ociimage.write_archive(
            rootfs,
            [
                ociimage.Image(names=[BUSYBOX_IMAGE, *BUSYBOX_ALIASES]),
                ociimage.Image(names=[PAUSE_IMAGE], cmd=(), entrypoint=ociimage.PAUSE_COMMAND),
            ],
            images / "images.tar",
        )
        fix = f"see {self.log('containerd')}"
        self._ctr("images", "import", str(archive), what="importing the images", fix=fix)

    # -- kernel settings and cgroups ---------------------------------------------------------
    def _save_kernel_tunables(self) -> None:
        path = self.dir / "sysctl.json"
        if path.exists():  # a crashed run: keep the values from before the first kubelet
            return
        values = {k: Path("/proc/sys", k).read_text().strip() for k in KERNEL_TUNABLES}
        path.write_text(json.dumps(values, indent=2))

    def _restore_kernel_tunables(self) -> None:
        path = self.dir / "sysctl.json"
        if not path.exists():
            return
        for key, value in json.loads(path.read_text()).items():
            target = Path("/proc/sys", key)
            if target.read_text().strip() != value:
                target.write_text(value)
        path.unlink()

    def _cgroup_dirs(self) -> list[Path]:
        """Our cgroup root in every mounted hierarchy (v1: one per controller; v2: one)."""
        if (CGROUP_FS / "cgroup.controllers").exists():  # unified (v2) hierarchy
            return [CGROUP_FS / self.cgroup_root.lstrip("/")]
        # v1, including a hybrid host's "unified" v2 tree, where the kubelet mirrors its cgroups
        return [
            h / self.cgroup_root.lstrip("/")
            for h in sorted(CGROUP_FS.iterdir())
            if h.is_dir() and not h.is_symlink()
        ]

    def _make_cgroup_root(self) -> None:
        for d in self._cgroup_dirs():
            d.mkdir(exist_ok=True)
            if d.parent.name == "cpuset":  # a v1 cpuset cgroup starts with no cpus or mems
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((d.parent / f).read_text())

    def _cgroup_pids(self) -> set[int]:
        pids: set[int] = set()
        for d in self._cgroup_dirs():
            for procs in d.rglob("cgroup.procs") if d.exists() else []:
                try:
                    pids |= {int(p) for p in procs.read_text().split()}
                except OSError:
                    continue
        return pids

    def _remove_cgroups(self) -> None:
        for d in self._cgroup_dirs():
            if not d.exists():
                continue
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                sub.rmdir()
            d.rmdir()

    # -- stop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """End every process, mount, interface and cgroup the node made (idempotent).

        Does nothing unless this node's directory shows it started (pid files, or the saved
        kernel settings): the bridge and the cgroup root have fixed names, and a node that
        never started must not remove another one's.
        """
        if not self.started():
            return
        kubelet = self.pid("kubelet")
        if kubelet:
            terminate(kubelet)
        # The pods' processes (sandboxes and containers) are in cgroups below our root.
        for _ in range(3):
            pods = self._cgroup_pids()
            for pid in pods:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not pods:
                break
            time.sleep(0.3)
        ns = self.pid("namespace")
        containerd = self.pid("containerd")
        if containerd:
            terminate(containerd)
        if ns:
            # containerd's shims stay in the namespace after containerd: end them, then it.
            inside = _mnt_ns(ns)
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and int(entry.name) != ns and inside:
                    if _mnt_ns(int(entry.name)) == inside:
                        terminate(int(entry.name), timeout=3)
            terminate(ns)
        for p in self._popen.values():
            if p.poll() is None:
                p.wait(timeout=5)
        self._popen.clear()
        self.dns.stop()
        if _link_exists(BRIDGE):
            # A pod's veth goes with its network namespace, once nothing holds that any more.
            ports = Path("/sys/class/net", BRIDGE, "brif")
            try:
                wait_until(lambda: not any(ports.iterdir()), timeout=10, what="pod veths gone")
            except StslabError:
                for veth in ports.iterdir():
                    run(["ip", "link", "del", veth.name], timeout=60, check=False)
            run(["ip", "link", "del", BRIDGE], timeout=60, what=f"`ip link del {BRIDGE}`")
        wait_until(lambda: not self._cgroup_pids(), timeout=10, what="the pods' processes ending")
        self._remove_cgroups()
        for proc in ("kubelet", "containerd", "namespace"):
            self._pid_file(proc).unlink(missing_ok=True)
        self._restore_kernel_tunables()

    def started(self) -> bool:
        """True when this node started and was not fully stopped since (or crashed)."""
        pids = self.dir / "pids"
        return (self.dir / "sysctl.json").exists() or (pids.is_dir() and any(pids.glob("*.pid")))

    def leftovers(self) -> list[str]:
        """What of this node still exists on the machine: processes, mounts, links (for tests)."""
        out = []
        needle = str(self.dir)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                cmd = pid_cmdline(int(entry.name))
                if any(needle in part for part in cmd) and pid_alive(int(entry.name)):
                    out.append(f"process {entry.name}: {' '.join(cmd)[:120]}")
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if needle in line or "stslab-node-tmpfs" in line:
                out.append(f"mount: {line}")
        if _link_exists(BRIDGE):
            out.append(f"interface {BRIDGE}")
        out += [f"cgroup {d}" for d in self._cgroup_dirs() if d.exists()]
        return out
