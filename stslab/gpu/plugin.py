"""The DevicePlugin service of a fake GPU: the devices, their health, and what a pod gets.

The kubelet calls it over gRPC once the plugin has registered (see :mod:`stslab.gpu.server`):
``ListAndWatch`` tells it which devices exist and whether they are healthy (the node's capacity
and allocatable follow), ``GetPreferredAllocation`` and ``Allocate`` run when a container that
requests the resource is admitted and created.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import grpc

from stslab.core.errors import UsageError
from stslab.gpu.config import GpuConfig
from stslab.gpu.v1beta1 import api_pb2, api_pb2_grpc

HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"
VISIBLE_DEVICES_ENV = "NVIDIA_VISIBLE_DEVICES"
MODEL_ENV = "STSLAB_GPU_MODEL"
# Where a device's file appears inside the container.
CONTAINER_DEVICE_DIR = "/dev/stslab-gpu"


class FakeGpuPlugin(api_pb2_grpc.DevicePluginServicer):
    """The DevicePlugin gRPC service for ``config.count`` fake GPUs, all Healthy at first.

    :meth:`set_health` changes a device's health; every open ``ListAndWatch`` stream then sends
    the full list again, as a real plugin does when a GPU fails. :meth:`close` ends the streams.
    """

    def __init__(self, config: GpuConfig) -> None:
        self.config = config
        self._health = dict.fromkeys(config.device_ids, HEALTHY)
        self._changed = threading.Condition()
        self._generation = 0  # bumped on every health change
        self._closed = False

    # --- the devices -------------------------------------------------------------------------

    def devices(self) -> list[api_pb2.Device]:
        """The current device list, in id order."""
        with self._changed:
            return [api_pb2.Device(ID=i, health=h) for i, h in self._health.items()]

    def set_health(self, device_id: str, healthy: bool) -> bool:
        """Mark a device Healthy or Unhealthy; True when that changed its health."""
        self._require_known([device_id])
        health = HEALTHY if healthy else UNHEALTHY
        with self._changed:
            if self._health[device_id] == health:
                return False
            self._health[device_id] = health
            self._generation += 1
            self._changed.notify_all()
        return True

    def close(self) -> None:
        """End every open ``ListAndWatch`` stream (before the server stops)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def reopen(self) -> None:
        """Accept ``ListAndWatch`` streams again after :meth:`close`."""
        with self._changed:
            self._closed = False

    def apply_unhealthy(self, device_ids: Iterable[str]) -> list[str]:
        """Make exactly ``device_ids`` Unhealthy and every other device Healthy.

        Unknown ids are returned (and otherwise ignored); streams get one new list at most.
        """
        wanted = set(device_ids)
        with self._changed:
            new = {d: UNHEALTHY if d in wanted else HEALTHY for d in self._health}
            if new != self._health:
                self._health = new
                self._generation += 1
                self._changed.notify_all()
        return sorted(wanted - set(self._health))

    def create_device_files(self) -> list[Path]:
        """Write one small file per device under the state dir; return the paths it created.

        The directories it had to make come first in the list, so removing the paths in reverse
        order undoes it.
        """
        created = _make_dirs(self.config.devices_dir)
        for device_id in self.config.device_ids:
            path = self.config.device_file(device_id)
            if not path.exists():
                created.append(path)
            path.write_text(
                f"stslab fake GPU {device_id}: {self.config.model} ({self.config.resource})\n"
            )
        return created

    def unknown(self, device_ids: Iterable[str]) -> list[str]:
        """The ids in ``device_ids`` this plugin does not have."""
        return [d for d in device_ids if d not in self._health]

    def _require_known(self, device_ids: Iterable[str]) -> None:
        bad = self.unknown(device_ids)
        if bad:
            raise UsageError(f"no device {', '.join(bad)}", f"this plugin has {self._id_range()}")

    def _id_range(self) -> str:
        ids = self.config.device_ids
        return ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"

    def _abort_unknown(self, device_ids: Iterable[str], context: grpc.ServicerContext) -> None:
        bad = self.unknown(device_ids)
        if bad:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown {self.config.resource} device ids: {', '.join(bad)} "
                f"(this plugin has {self._id_range()})",
            )

    # --- the DevicePlugin service ------------------------------------------------------------

    def GetDevicePluginOptions(  # noqa: N802 - the gRPC method's name
        self, request: api_pb2.Empty, context: grpc.ServicerContext
    ) -> api_pb2.DevicePluginOptions:
        """GetPreferredAllocation is implemented; PreStartContainer is not needed."""
        return plugin_options()

    def ListAndWatch(  # noqa: N802
        self, request: api_pb2.Empty, context: grpc.ServicerContext
    ) -> Iterator[api_pb2.ListAndWatchResponse]:
        """Send the device list now and again after every health change, until either side ends."""

        def wake() -> None:
            with self._changed:
                self._changed.notify_all()

        context.add_callback(wake)  # the RPC ended: the kubelet went away or the server stops
        sent = [-1]  # the generation last sent

        def news() -> bool:
            return self._generation != sent[0] or self._closed or not context.is_active()

        while True:
            with self._changed:
                self._changed.wait_for(news)
                if self._closed or not context.is_active():
                    return
                sent[0] = self._generation
                devices = [api_pb2.Device(ID=i, health=h) for i, h in self._health.items()]
            yield api_pb2.ListAndWatchResponse(devices=devices)

    def GetPreferredAllocation(  # noqa: N802
        self, request: api_pb2.PreferredAllocationRequest, context: grpc.ServicerContext
    ) -> api_pb2.PreferredAllocationResponse:
        """Per container: the must-include devices, then the lowest-numbered available ones."""
        responses = []
        for req in request.container_requests:
            self._abort_unknown([*req.available_deviceIDs, *req.must_include_deviceIDs], context)
            responses.append(
                api_pb2.ContainerPreferredAllocationResponse(
                    deviceIDs=preferred(
                        req.available_deviceIDs, req.must_include_deviceIDs, req.allocation_size
                    )
                )
            )
        return api_pb2.PreferredAllocationResponse(container_responses=responses)

    def Allocate(  # noqa: N802
        self, request: api_pb2.AllocateRequest, context: grpc.ServicerContext
    ) -> api_pb2.AllocateResponse:
        """Per container: the visible-devices and model variables, and each device's file."""
        responses = []
        for req in request.container_requests:
            self._abort_unknown(req.devices_ids, context)
            responses.append(self.container_allocation(list(req.devices_ids)))
        return api_pb2.AllocateResponse(container_responses=responses)

    def PreStartContainer(  # noqa: N802
        self, request: api_pb2.PreStartContainerRequest, context: grpc.ServicerContext
    ) -> api_pb2.PreStartContainerResponse:
        """Nothing to do: a fake GPU needs no reset (and the kubelet is told not to call this)."""
        return api_pb2.PreStartContainerResponse()

    def container_allocation(self, device_ids: list[str]) -> api_pb2.ContainerAllocateResponse:
        """What a container given ``device_ids`` gets: variables and read-only device files."""
        return api_pb2.ContainerAllocateResponse(
            envs={VISIBLE_DEVICES_ENV: ",".join(device_ids), MODEL_ENV: self.config.model},
            mounts=[
                api_pb2.Mount(
                    container_path=f"{CONTAINER_DEVICE_DIR}/{d}",
                    host_path=str(self.config.device_file(d)),
                    read_only=True,
                )
                for d in device_ids
            ],
        )


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p``, returning the directories it created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def plugin_options() -> api_pb2.DevicePluginOptions:
    """The options this plugin registers with and reports."""
    return api_pb2.DevicePluginOptions(
        pre_start_required=False, get_preferred_allocation_available=True
    )


def device_index(device_id: str) -> int:
    """``gpu-3`` → 3 (the order devices are preferred in)."""
    return int(device_id.rsplit("-", 1)[1])


def preferred(available: Iterable[str], must_include: Iterable[str], size: int) -> list[str]:
    """``must_include`` (in its order), then the lowest-numbered ``available``: ``size`` in all.

    Never fewer than ``must_include``; fewer than ``size`` only when not enough are available.
    """
    chosen = list(dict.fromkeys(must_include))
    for d in sorted(set(available) - set(chosen), key=device_index):
        if len(chosen) >= size:
            break
        chosen.append(d)
    return chosen
