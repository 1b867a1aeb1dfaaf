"""Serving the fake GPU plugin on a unix socket and registering it with the kubelet.

The device-plugin handshake: the plugin serves its DevicePlugin service on a socket in the
kubelet's device-plugin directory, then calls ``Register`` on the kubelet's ``kubelet.sock`` in
the same directory with the API version, its socket's file name and the resource name. The
kubelet then connects back and calls ``ListAndWatch``. A restarting kubelet wipes the directory
and creates a new ``kubelet.sock``; the plugin notices, serves on a fresh socket and registers
again.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType, TracebackType

import grpc

from stslab.core.errors import StslabError, UsageError
from stslab.gpu.config import GpuConfig
from stslab.gpu.plugin import FakeGpuPlugin, plugin_options
from stslab.gpu.v1beta1 import api_pb2, api_pb2_grpc

API_VERSION = "v1beta1"
# Unix sockets only: never let an http_proxy setting route a channel anywhere else.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]

log = logging.getLogger(__name__)


class RegistrationError(StslabError):
    """The kubelet is absent, did not answer, or refused the plugin."""


def check_socket_dir(path: Path) -> None:
    """Raise :class:`UsageError` unless ``path`` is a directory the plugin can create sockets in."""
    fix = (
        "pass --socket-dir the kubelet's device-plugin directory (/var/lib/kubelet/device-plugins)"
    )
    if not path.exists():
        raise UsageError(f"the socket directory {path} does not exist", fix)
    if not path.is_dir():
        raise UsageError(f"the socket directory {path} is not a directory", fix)
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"the socket directory {path} is not writable", fix + " as its owner")


def socket_identity(path: Path) -> tuple[int, int, int] | None:
    """Which file ``path`` is (device, inode, change time), if it is a socket; None otherwise."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns) if stat.S_ISSOCK(st.st_mode) else None


def register(config: GpuConfig) -> None:
    """Call the kubelet's ``Register``; raise :class:`RegistrationError` if that fails."""
    sock = config.kubelet_socket
    request = api_pb2.RegisterRequest(
        version=API_VERSION,
        endpoint=config.socket_path.name,
        resource_name=config.resource,
        options=plugin_options(),
    )
    with grpc.insecure_channel(f"unix:{sock}", options=CHANNEL_OPTIONS) as channel:
        try:
            api_pb2_grpc.RegistrationStub(channel).Register(
                request, timeout=config.register_timeout, wait_for_ready=True
            )
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise RegistrationError(
                    f"the kubelet did not answer on {sock} within {config.register_timeout:g}s",
                    "check that the kubelet runs on this node and uses this directory "
                    "(restart it if it hangs), or pass the right --socket-dir",
                ) from None
            raise RegistrationError(
                f"the kubelet refused to register {config.resource}: {e.details()}",
                "is another plugin serving this resource? see the kubelet's log",
            ) from None


class PluginServer:
    """A :class:`FakeGpuPlugin` served on its unix socket and registered with the kubelet.

    :meth:`start` checks the directories, writes the device files, serves and registers; if any
    step fails it removes whatever it made (socket, device files) and raises a one-line
    :class:`~stslab.core.errors.StslabError`. :meth:`watch` re-registers after a kubelet restart and
    applies the health file; :meth:`stop` ends the streams and removes the socket.
    """

    def __init__(self, config: GpuConfig, plugin: FakeGpuPlugin | None = None) -> None:
        self.config = config
        self.plugin = plugin or FakeGpuPlugin(config)
        self._server: grpc.Server | None = None
        self._socket_id: tuple[int, int, int] | None = None  # the socket file we bound
        self._kubelet_id: tuple[int, int, int] | None = None  # the kubelet.sock we registered with
        self._created: list[Path] = []
        self._bad_ids: list[str] = []
        self.registrations = 0  # more than 1 after kubelet restarts

    def __enter__(self) -> PluginServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Check, write the device files, serve, register; on failure leave nothing behind."""
        cfg = self.config
        check_socket_dir(cfg.socket_dir)
        if socket_identity(cfg.kubelet_socket) is None:
            raise RegistrationError(
                f"there is no kubelet socket at {cfg.kubelet_socket}",
                "run the plugin on a node whose kubelet has the device-plugin directory there, "
                "or pass the right --socket-dir",
            )
        try:
            try:
                self._created = self.plugin.create_device_files()
            except OSError as e:
                raise UsageError(
                    f"cannot write the device files in {cfg.devices_dir}: {e.strerror}",
                    "pass --state-dir a writable directory",
                ) from None
            self.plugin.reopen()
            self._serve()
            self._register()
        except BaseException:
            self.stop()
            for path in reversed(self._created):
                _remove(path)
            self._created = []
            raise
        self.sync_health()

    def _serve(self) -> None:
        path = self.config.socket_path
        if socket_identity(path) is not None:
            path.unlink()  # left by an earlier run that did not stop cleanly
        elif path.exists() or path.is_symlink():
            raise UsageError(f"{path} exists and is not a socket", "remove it, then start again")
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="gpu"))
        api_pb2_grpc.add_DevicePluginServicer_to_server(self.plugin, server)
        try:
            server.add_insecure_port(f"unix:{path}")
        except RuntimeError as e:
            raise UsageError(f"cannot listen on {path} ({e})", "check the socket directory") from e
        server.start()
        self._server = server
        self._socket_id = socket_identity(path)
        log.info(
            "serving %d %s (%s) on %s",
            self.config.count,
            self.config.resource,
            self.config.model,
            path,
        )

    def _register(self) -> None:
        kubelet_sock = self.config.kubelet_socket
        kubelet = socket_identity(kubelet_sock)
        register(self.config)
        self._kubelet_id = kubelet
        self.registrations += 1
        log.info("registered %s with the kubelet at %s", self.config.resource, kubelet_sock)

    def _stop_server(self, grace: float | None) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait()
        path = self.config.socket_path
        if self._socket_id is not None and socket_identity(path) == self._socket_id:
            path.unlink()
        self._socket_id = None

    def stop(self, grace: float = 1.0) -> None:
        """End the ``ListAndWatch`` streams, stop serving and remove the socket (idempotent)."""
        self.plugin.close()
        running = self._server is not None
        self._stop_server(grace)
        if running:
            log.info("stopped; removed %s", self.config.socket_path)

    def check_kubelet(self) -> bool:
        """Serve and register again if the kubelet restarted; True when it registered anew.

        A new ``kubelet.sock`` (or this plugin's socket gone, which a restarting kubelet
        deletes) means a new kubelet that does not know the plugin. Raises
        :class:`RegistrationError` if the new kubelet does not take the registration.
        """
        kubelet = socket_identity(self.config.kubelet_socket)
        if kubelet is None:
            return False  # restarting: wait for its new socket
        socket_ok = self._socket_id is not None and socket_identity(self.config.socket_path) == (
            self._socket_id
        )
        if kubelet == self._kubelet_id and socket_ok:
            return False
        log.info("the kubelet restarted (new %s); registering again", self.config.kubelet_socket)
        if not socket_ok:
            self._stop_server(None)
            self._serve()
        self._register()
        return True

    def sync_health(self) -> None:
        """Report the devices listed in the health file Unhealthy and all others Healthy."""
        try:
            ids = self.config.health_file.read_text().split()
        except FileNotFoundError:
            ids = []
        except OSError as e:
            log.warning("cannot read %s: %s", self.config.health_file, e.strerror)
            return
        bad = self.plugin.apply_unhealthy(ids)
        if bad and bad != self._bad_ids:
            log.warning("%s names unknown devices: %s", self.config.health_file, ", ".join(bad))
        self._bad_ids = bad

    def watch(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: every ``kubelet_poll`` seconds check the kubelet and health."""
        while not stop.wait(self.config.kubelet_poll):
            try:
                self.check_kubelet()
            except StslabError as e:
                log.warning("%s; trying again", e)
            self.sync_health()


def _remove(path: Path) -> None:
    try:
        path.rmdir() if path.is_dir() else path.unlink()
    except OSError:
        pass  # not ours to force: a directory someone else put files in


def run_plugin(config: GpuConfig, stop: threading.Event | None = None) -> None:
    """Run the plugin in the foreground until SIGTERM or SIGINT (or ``stop`` is set).

    Raises a one-line :class:`~stslab.core.errors.StslabError` if it cannot start; shuts down
    cleanly (socket removed) otherwise.
    """
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("%s: shutting down", signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        with PluginServer(config) as server:
            server.watch(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
