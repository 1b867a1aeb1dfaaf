"""The kubelet's side of the device-plugin API, without a kubelet: for tests and demos.

:class:`FakeKubelet` serves the real ``Registration`` gRPC service on ``kubelet.sock`` in a
directory, records every ``RegisterRequest``, and connects back to a registered plugin the way
the kubelet does::

    with FakeKubelet(socket_dir) as kubelet, PluginServer(GpuConfig(socket_dir=socket_dir, ...)):
        request = kubelet.wait_for_registration()
        with kubelet.connect(request) as plugin:
            devices = next(plugin.ListAndWatch(api_pb2.Empty(), timeout=5)).devices
"""

from __future__ import annotations

import queue
from concurrent import futures
from pathlib import Path
from types import TracebackType

import grpc

from stslab.core.errors import WaitTimeoutError
from stslab.gpu.config import extended_resource_problem
from stslab.gpu.server import API_VERSION, CHANNEL_OPTIONS, socket_identity
from stslab.gpu.v1beta1 import api_pb2, api_pb2_grpc


class _Registration(api_pb2_grpc.RegistrationServicer):
    def __init__(self, kubelet: FakeKubelet) -> None:
        self.kubelet = kubelet

    def Register(  # noqa: N802 - the gRPC method's name
        self, request: api_pb2.RegisterRequest, context: grpc.ServicerContext
    ) -> api_pb2.Empty:
        # The kubelet's own checks: a version it supports, an extended resource name.
        if request.version != API_VERSION:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"unsupported API version {request.version!r}"
            )
        problem = extended_resource_problem(request.resource_name)
        if problem:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"invalid resource name {request.resource_name!r}: it {problem}",
            )
        if self.kubelet.refuse:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, self.kubelet.refuse)
        self.kubelet.requests.append(request)
        self.kubelet._arrived.put(request)
        return api_pb2.Empty()


class PluginClient:
    """A connection to a plugin's socket: the DevicePlugin stub's calls, and :meth:`close`."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._channel = grpc.insecure_channel(f"unix:{socket_path}", options=CHANNEL_OPTIONS)
        stub = api_pb2_grpc.DevicePluginStub(self._channel)
        self.GetDevicePluginOptions = stub.GetDevicePluginOptions
        self.ListAndWatch = stub.ListAndWatch
        self.GetPreferredAllocation = stub.GetPreferredAllocation
        self.Allocate = stub.Allocate
        self.PreStartContainer = stub.PreStartContainer

    def close(self) -> None:
        """Close the channel (ending any stream still open on it)."""
        self._channel.close()

    def __enter__(self) -> PluginClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FakeKubelet:
    """A Registration service on ``<socket_dir>/kubelet.sock`` that records what registers.

    ``refuse`` makes it turn every registration down with that message (as a kubelet does
    when another plugin already serves the resource).
    """

    def __init__(self, socket_dir: Path, *, refuse: str = "") -> None:
        self.socket_dir = socket_dir
        self.refuse = refuse
        self.requests: list[api_pb2.RegisterRequest] = []
        self._arrived: queue.Queue[api_pb2.RegisterRequest] = queue.Queue()
        self._server: grpc.Server | None = None

    @property
    def socket_path(self) -> Path:
        """The kubelet's socket."""
        return self.socket_dir / "kubelet.sock"

    def start(self) -> None:
        """Serve Registration on ``kubelet.sock``."""
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="kubelet")
        )
        api_pb2_grpc.add_RegistrationServicer_to_server(_Registration(self), server)
        server.add_insecure_port(f"unix:{self.socket_path}")
        server.start()
        self._server = server

    def stop(self) -> None:
        """Stop serving and remove ``kubelet.sock``."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(None).wait()
        if socket_identity(self.socket_path) is not None:
            self.socket_path.unlink()

    def restart(self) -> None:
        """Restart as the kubelet does: stop, delete every socket in the directory, serve anew."""
        self.stop()
        for path in self.socket_dir.iterdir():
            if socket_identity(path) is not None:
                path.unlink()
        self.start()

    def wait_for_registration(self, timeout: float = 5.0) -> api_pb2.RegisterRequest:
        """The next registration to arrive; :class:`WaitTimeoutError` if none does in time."""
        try:
            return self._arrived.get(timeout=timeout)
        except queue.Empty:
            raise WaitTimeoutError(
                f"no device plugin registered on {self.socket_path} within {timeout:g}s",
                "is the plugin running with this --socket-dir?",
            ) from None

    def connect(self, request: api_pb2.RegisterRequest) -> PluginClient:
        """Connect to the plugin that sent ``request``, at ``<socket_dir>/<endpoint>``."""
        return PluginClient(self.socket_dir / request.endpoint)

    def __enter__(self) -> FakeKubelet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
