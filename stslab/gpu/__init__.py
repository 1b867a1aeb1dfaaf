"""A fake GPU for the lab clusters: a real kubelet device plugin whose devices are files.

:class:`GpuConfig` says what it advertises (``nvidia.com/gpu`` × 8 by default),
:class:`FakeGpuPlugin` is the DevicePlugin gRPC service, :class:`PluginServer` serves it on a
unix socket and registers it with the kubelet, and :func:`run_plugin` is ``stslab gpu plugin``.
:mod:`stslab.cluster.gpu_install` ships it to kind and k3d clusters as a DaemonSet;
:mod:`stslab.testing.fake_kubelet` plays the kubelet in tests. The API stubs are in
:mod:`stslab.gpu.v1beta1`.
"""

from stslab.gpu.config import GpuConfig
from stslab.gpu.plugin import FakeGpuPlugin
from stslab.gpu.server import PluginServer, RegistrationError, run_plugin

__all__ = ["FakeGpuPlugin", "GpuConfig", "PluginServer", "RegistrationError", "run_plugin"]
