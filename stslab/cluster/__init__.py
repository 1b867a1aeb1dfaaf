"""The lab cluster: its backends and what builds their parts.

:mod:`~stslab.cluster.lifecycle` is the face (``up``, ``down``, ``status``, ``connect``);
:mod:`~stslab.cluster.choose` picks a backend; one module per backend
(:mod:`~stslab.cluster.kwok`, :mod:`~stslab.cluster.containers` for kind and k3d,
:mod:`~stslab.cluster.existing`) on the contract in :mod:`~stslab.cluster.base`. The parts:
CoreDNS on loopback (:mod:`~stslab.cluster.dns`), lab nodes and simulated GPUs
(:mod:`~stslab.cluster.nodes`), a real kubelet node (:mod:`~stslab.cluster.kwok.realnode`), kind's
offline node image (:mod:`~stslab.cluster.images.kindnode`), OCI images without a registry
(:mod:`~stslab.cluster.images.oci`) and the GPU plugin's DaemonSet
(:mod:`~stslab.cluster.gpu_install`).
"""
