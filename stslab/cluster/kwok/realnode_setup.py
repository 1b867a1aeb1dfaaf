"""What a real node needs, where it keeps what, and the files it is configured with.

:mod:`stslab.cluster.kwok.realnode` runs the node; this module holds its fixed names and addresses,
the check of the machine's requirements, and the configurations of containerd, the CNI bridge
and the kubelet (see that module for why each is so).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from stslab.cluster.images import oci as ociimage
from stslab.core.errors import ToolMissingError, UsageError
from stslab.core.paths import binary_dir, is_within
from stslab.core.versions import pinned

NODE_NAME = "real-node-1"
BRIDGE = "stslab-br0"
POD_CIDR = "10.245.0.0/24"  # not kwok's 10.244.0.0/16 nor the Services' 10.96.0.0/16
NODE_IP = "10.245.0.1"
DNS_PORT = 53  # pods' resolv.conf cannot name another port
CLUSTER_DOMAIN = "cluster.local"
CNI_BIN = Path("/usr/lib/cni")
LABEL = "stslab.dev/real-node"
# Lab pods keep landing on simulated nodes unless they tolerate this and select the node.
TAINT = {"key": LABEL, "value": "true", "effect": "NoSchedule"}
BUSYBOX_IMAGE = "stslab.local/busybox:1"
PAUSE_IMAGE = "stslab.local/pause:1"
# The labs' manifests name busybox:1.28; this is Debian's busybox (1.35) under that name.
BUSYBOX_ALIASES = ("docker.io/library/busybox:1.28",)
APT_PACKAGES = "containerd runc containernetworking-plugins busybox-static"
APT_FIX = f"apt-get install -y --no-install-recommends {APT_PACKAGES}"
# The kubelet sets these (KubeletConfiguration protectKernelDefaults=false); stop restores them.
KERNEL_TUNABLES = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
CGROUP_FS = Path("/sys/fs/cgroup")
# Covered by a tmpfs in the node's mount namespace (see above).
HIDDEN_DIRS = ("/run", "/var/log", "/var/lib")
# Where the kubelet serves kubelet.sock for device plugins, whatever its --root-dir.
KUBELET_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
# A unix socket's path has at most 107 bytes; the longest the node makes is the kubelet's
# temporary pod-resources socket, ``<dir>/kubelet/pod-resources/<10 digits>``.
MAX_DIR_LEN = 107 - len("/kubelet/pod-resources/1234567890")


def kubelet_binary() -> Path:
    """The kubelet built for the pinned Kubernetes version."""
    return binary_dir("kubelet", pinned().kubernetes) / "kubelet"


def coredns_binary() -> Path:
    """The CoreDNS the simulated cluster uses (the node runs a second one for its pods)."""
    return binary_dir("coredns", pinned().coredns) / "coredns"


def missing_requirements() -> list[tuple[str, str]]:
    """(what, fix) for everything a real node needs that this machine lacks."""
    out = []
    if os.geteuid() != 0:
        out.append(("root", "run as root: containerd, runc, mounts and bridges need it"))
    if not kubelet_binary().is_file():
        out.append((f"kubelet {pinned().kubernetes}", "run `scripts/build-binaries.sh kubelet`"))
    if not coredns_binary().is_file():
        out.append((f"coredns {pinned().coredns}", "run `make binaries`"))
    for tool in ("containerd", "containerd-shim-runc-v2", "ctr", "runc"):
        if shutil.which(tool) is None:
            out.append((tool, APT_FIX))
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_BIN / plugin).is_file():
            out.append((f"CNI plugin {plugin}", APT_FIX))
    if not ociimage.BUSYBOX.is_file():
        out.append(("static busybox", APT_FIX))
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            out.append((tool, "apt-get install -y util-linux iproute2"))
    return out


def require() -> None:
    """Raise :class:`ToolMissingError` naming everything missing, and the fixes."""
    missing = missing_requirements()
    if missing:
        names = ", ".join(w for w, _ in missing)
        fixes = list(dict.fromkeys(fix for _, fix in missing))
        raise ToolMissingError(f"a real node needs: {names}", "; ".join(fixes))


def check_dir(d: Path) -> None:
    """Raise :class:`UsageError` when a real node cannot keep its state in ``d``."""
    if len(str(d)) > MAX_DIR_LEN:
        raise UsageError(
            f"the real node's directory {d} is too long for the unix sockets in it",
            f"use one of at most {MAX_DIR_LEN} characters (`stslab up`: a shorter STSLAB_STATE)",
        )
    hidden = [h for h in HIDDEN_DIRS if is_within(d, Path(h))]
    if hidden:
        raise UsageError(
            f"the real node's directory {d} lies under {hidden[0]}",
            "which the node's processes see as an empty tmpfs; pick another directory",
        )


def containerd_config(d: Path, socket: Path) -> str:
    """Containerd's configuration for a node whose state is in ``d``, serving on ``socket``."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
# Written by stslab: containerd for the real node, nothing shared with a system containerd.
version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{socket}"
[debug]
  address = ""
[metrics]
  address = ""
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Never ask runc for a lower OOM score than containerd's own: lowering it needs
  # CAP_SYS_RESOURCE, which sandboxed CI machines may withhold even from root.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{d}/cni/net.d"
"""


def cni_config(d: Path) -> dict[str, Any]:
    """The pods' network: our bridge, addresses from :data:`POD_CIDR`, no forwarding, no NAT."""
    return {
        "cniVersion": "1.0.0",
        "name": "stslab-real-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                # The bridge already has NODE_IP (start() adds it); no forwarding, no NAT.
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "dataDir": str(d / "cni/ipam"),
                },
            },
            {"type": "loopback"},
        ],
    }


def kubelet_config(
    d: Path, socket: Path, port: int, healthz_port: int, cgroup_root: str
) -> dict[str, Any]:
    """The kubelet's configuration; it also writes the pods' ``resolv.conf`` into ``d``."""
    resolv = d / "resolv.conf"
    # What pods with dnsPolicy Default (and host-network pods) get; ClusterFirst pods get
    # clusterDNS below with the search domains. Both name the node's CoreDNS: the host's
    # resolver is never handed to a pod.
    resolv.write_text(
        "# Written by stslab: the real node's CoreDNS (cluster.local names only).\n"
        f"nameserver {NODE_IP}\n"
    )
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # A lab node on a loopback-only control plane: the apiserver calls the kubelet
        # without a client certificate (exec, logs), so any caller that reaches the kubelet
        # port may do anything. Only this machine and its pods can reach NODE_IP.
        "authentication": {
            "anonymous": {"enabled": True},
            "webhook": {"enabled": False},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failCgroupV1": False,  # Kubernetes >= 1.35 refuses cgroup v1 hosts otherwise
        "failSwapOn": False,
        "resolvConf": str(resolv),
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "podLogsDir": str(d / "pod-logs"),
        "volumePluginDir": str(d / "volume-plugins"),
        "registerWithTaints": [TAINT],
        "maxPods": 20,
        # Images cannot be pulled again here: never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%"},
        # No KUBE-FIREWALL / canary chains in the host's iptables (kube-proxy is not here).
        "makeIPTablesUtilChains": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
    }
