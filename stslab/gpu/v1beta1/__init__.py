"""The kubelet device-plugin API, v1beta1: generated stubs (do not edit).

Origin: ``pkg/apis/deviceplugin/v1beta1/api.proto`` of the Go module ``k8s.io/kubelet`` v0.36.3,
the version matching ``KUBERNETES_VERSION`` (v1.36.3) in ``clusters/versions.env``; ``api.proto``
here is an unmodified copy, for reference. ``api_pb2.py``, ``api_pb2.pyi`` and
``api_pb2_grpc.py`` are generated from it by ``scripts/gen-deviceplugin.sh`` with grpcio-tools
1.85.1 (gencode for protobuf >= 7.35.1 and grpcio >= 1.85.1); the script's only change to the
output is the package-relative import in ``api_pb2_grpc.py``. When the pin changes, run the
script and commit the result: ``tests/test_gpu_plugin.py`` checks the committed files equal a
fresh generation.
"""
