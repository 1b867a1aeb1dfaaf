"""A machine a lab switched off is switched on again by cleanup, even after an interrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord
from stslab.cluster.nodes import NODE_LEASES, SWITCHED_OFF, worker_name
from stslab.core.labels import SWITCHED_OFF_ANNOTATION
from stslab.lab import Lab

pytestmark = pytest.mark.cluster


def test_cleanup_switches_on_what_an_interrupted_lab_switched_off(
    kwok_cluster: ClusterRecord, state_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    lab = Lab("lab-power", "kwok", timeout=60)
    node = worker_name(3)
    leases = client.CoordinationV1Api(lab.api)
    lab.power_node(node, on=False)  # ...and the lab is interrupted here: nothing switches it on
    annotations = lab.core.read_node(node).metadata.annotations or {}
    assert annotations[SWITCHED_OFF_ANNOTATION] == "lab-power"
    assert leases.read_namespaced_lease(node, NODE_LEASES).spec.holder_identity == SWITCHED_OFF

    Lab("lab-power", "kwok", timeout=60).cleanup()  # the next run starts, then cleans up
    annotations = lab.core.read_node(node).metadata.annotations or {}
    assert SWITCHED_OFF_ANNOTATION not in annotations
    try:  # kwok holds the lease again (or has yet to make it anew)
        holder = leases.read_namespaced_lease(node, NODE_LEASES).spec.holder_identity
    except client.ApiException as e:
        assert e.status == 404
    else:
        assert holder != SWITCHED_OFF
