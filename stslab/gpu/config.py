"""What a fake GPU device plugin advertises and where it keeps its sockets and device files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from stslab.core.errors import UsageError

DEFAULT_RESOURCE = "nvidia.com/gpu"
DEFAULT_MODEL = "stslab-fake-a100"
# Where the kubelet looks for device-plugin sockets (its kubelet.sock is there too).
DEFAULT_SOCKET_DIR = Path("/var/lib/kubelet/device-plugins")
# The fake device files; in a pod it must be a hostPath at the same path, because the kubelet
# hands the file's host path to the container runtime.
DEFAULT_STATE_DIR = Path("/var/lib/stslab-gpu")
MAX_DEVICES = 64
# The plugin's container image, tagged with the stslab version it runs.
IMAGE_REPO = "stslab/fake-gpu-plugin"
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107


def plugin_image() -> str:
    """The plugin image of this stslab version."""
    from stslab import __version__

    return f"{IMAGE_REPO}:{__version__}"


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def extended_resource_problem(name: str) -> str:
    """Why ``name`` is not a valid extended resource name, or "" when it is one.

    The rules are the API server's: ``<domain>/<name>`` (a native resource has no domain), not
    in the ``kubernetes.io`` domain, not starting with ``requests.``, and ``requests.<name>``
    (what a ResourceQuota calls it) must be a qualified name — a DNS subdomain of at most 253
    characters, a slash, and a name of at most 63 letters, digits, ``-``, ``_`` or ``.`` that
    starts and ends with a letter or digit.
    """
    if "/" not in name:
        return "has no domain (a name without one is a native resource such as cpu)"
    if "kubernetes.io/" in name:
        return "is in the kubernetes.io domain, which is reserved for native resources"
    if name.startswith("requests."):
        return "starts with `requests.`, which is reserved for quota names"
    domain, _, short = f"requests.{name}".partition("/")
    if "/" in short:
        return "has more than one slash"
    if not short or len(short) > 63 or not _QUALIFIED_NAME.fullmatch(short):
        return (
            f"has a bad name part {short!r} (1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit)"
        )
    if len(domain) > 253 or not _DNS_SUBDOMAIN.fullmatch(domain):
        return f"has a bad domain {domain.removeprefix('requests.')!r} (a lower-case DNS name)"
    return ""


def socket_name(resource: str) -> str:
    """The plugin's socket file name, e.g. ``stslab-nvidia.com-gpu.sock`` for nvidia.com/gpu."""
    return f"stslab-{resource.replace('/', '-')}.sock"


@dataclass(frozen=True)
class GpuConfig:
    """A fake GPU device plugin: ``count`` devices ``gpu-0``..``gpu-<count-1>`` of ``resource``.

    ``socket_dir`` is the kubelet's device-plugin directory (the plugin's socket goes there and
    ``kubelet.sock`` is expected there); ``state_dir`` holds one fake device file per device.
    ``register_timeout`` bounds the wait for the kubelet's answer; ``kubelet_poll`` is how often
    the plugin checks whether the kubelet restarted (and so must be registered with again).
    """

    resource: str = DEFAULT_RESOURCE
    count: int = 8
    model: str = DEFAULT_MODEL
    socket_dir: Path = DEFAULT_SOCKET_DIR
    state_dir: Path = DEFAULT_STATE_DIR
    register_timeout: float = 5.0
    kubelet_poll: float = 1.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`UsageError` for a value the kubelet or the plugin could not use."""
        problem = extended_resource_problem(self.resource)
        if problem:
            raise UsageError(
                f"--resource {self.resource!r} is not a valid extended resource name: it {problem}",
                "use <domain>/<name> outside kubernetes.io, e.g. nvidia.com/gpu",
            )
        if not 1 <= self.count <= MAX_DEVICES:
            raise UsageError(f"--count {self.count} is out of range", f"use 1 to {MAX_DEVICES}")
        if not self.model or not self.model.isprintable():
            raise UsageError(f"--model {self.model!r} is empty or unprintable", "name a model")
        if self.register_timeout <= 0 or self.kubelet_poll <= 0:
            raise UsageError("timeouts and intervals must be positive", "use a number above 0")
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise UsageError(
                f"the socket path {self.socket_path} is longer than the {MAX_SOCKET_PATH} bytes "
                "a unix socket allows",
                "use a shorter --socket-dir",
            )

    @property
    def socket_path(self) -> Path:
        """The plugin's own unix socket."""
        return self.socket_dir / socket_name(self.resource)

    @property
    def kubelet_socket(self) -> Path:
        """The kubelet's Registration socket."""
        return self.socket_dir / "kubelet.sock"

    @property
    def device_ids(self) -> list[str]:
        """``gpu-0`` .. ``gpu-<count-1>``."""
        return [f"gpu-{i}" for i in range(self.count)]

    @property
    def devices_dir(self) -> Path:
        """Where the fake device files are, on the host."""
        return self.state_dir / "devices"

    def device_file(self, device_id: str) -> Path:
        """The fake device file of one device, on the host."""
        return self.devices_dir / device_id

    @property
    def health_file(self) -> Path:
        """Device ids listed in this file (whitespace-separated) are reported Unhealthy."""
        return self.state_dir / "unhealthy"
