"""Every label, annotation and resource name stslab puts on cluster objects, in one place.

Cleanup, reset, workshops and the live views all select by these keys, so a key spelled in one
module and read in another must be the same string: import it from here.
"""

# Objects a lab made carry the lab's namespace under this label (cleanup selects by it).
LAB_LABEL = "stslab.dev/lab"
# A node a lab cordoned, annotated with that lab's namespace so cleanup uncordons only its own.
CORDON_ANNOTATION = "stslab.dev/cordoned-by"
# A node whose machine a lab switched off (a machine failing): the lab's namespace, so cleanup
# switches it on again even when the lab was interrupted before it did.
SWITCHED_OFF_ANNOTATION = "stslab.dev/switched-off-by"
# A real node a lab put into one of its pools (kind): the lab's namespace, so cleanup takes it
# out again; and the GPUs it advertised before, to give them back.
POOLED_ANNOTATION = "stslab.dev/pooled-by"
POOLED_GPUS_ANNOTATION = "stslab.dev/pooled-gpus-before"
# Node pools a lab adds (GPU and CPU machines); the value is "<namespace>-<pool>".
POOL_LABEL = "stslab.dev/pool"
# Lab nodes stslab created or labelled (zones, GPUs).
MANAGED_LABEL = "stslab.dev/lab-node"
# Objects of a cluster someone else runs that stslab itself made (existing backend).
OWNED_LABEL = "stslab.dev/owned"
# Workshop accounts and learner progress.
PROGRESS_LABEL = "stslab.dev/progress"
LEARNER_LABEL = "stslab.dev/learner"
# The cluster-scoped kinds a workshop learner may make, named after their namespace and carrying
# LEARNER_LABEL (the workshop's admission policy, stslab.ops.confinement, refuses them otherwise).
LEARNER_OWNED_KINDS = ("Node", "PersistentVolume", "StorageClass", "DeviceClass", "ResourceSlice")
# A learner's own machines are also tainted LEARNER_LABEL=<name>:NoSchedule (pools.learner_taint).
WORKSHOP_LABEL = "stslab.dev/workshop"
# A simulated cluster's ConfigMap (kube-public) saying where its DNS answers on this machine.
DNS_INFO = "stslab-dns"
# Per-pod knobs of the simulated kubelet (clusters/kwok/stages.yaml reads them).
READY_DELAY_ANNOTATION = "stslab.dev/ready-delay-ms"
NEVER_READY_ANNOTATION = "stslab.dev/never-ready"
# Helper pods the labs start (nslookup).
TOOL_LABEL = "stslab.dev/tool"

ZONE_LABEL = "topology.kubernetes.io/zone"
GPU_RESOURCE = "nvidia.com/gpu"
