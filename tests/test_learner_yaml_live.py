"""A learner's YAML judged by the live API server (dry run), then applied server-side, twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord
from stslab.lab.check import CheckFailedError
from stslab.lab.context import Lab

pytestmark = pytest.mark.cluster

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: scratch
spec:
  clusterIP: None
  selector: {app: scratch}
  ports: [{name: web, port: 80}]
"""
SET = """apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: scratch
spec:
  serviceName: scratch
  replicas: 1
  selector: {matchLabels: {app: scratch}}
  persistentVolumeClaimRetentionPolicy: {whenScaled: WHEN, whenDeleted: Delete}
  template:
    metadata: {labels: {app: scratch}}
    spec:
      containers: [{name: nginx, image: registry.k8s.io/nginx-slim:0.24}]
"""


@pytest.fixture
def lab(
    kwok_cluster: ClusterRecord, state_root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lab]:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    lab = Lab("learner-yaml", "kwok", timeout=60)
    try:
        yield lab
    finally:
        lab.cleanup()


def test_the_server_judges_the_learners_yaml_in_its_own_words(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = client.AppsV1Api(lab.api)
    with pytest.raises(CheckFailedError) as refused:
        lab.written("scratch_yaml", SERVICE + "---\n" + SET.replace("WHEN", "Remove"))
    said = refused.value.what
    assert said.startswith("the API server refuses StatefulSet scratch: ")
    assert 'Unsupported value: "Remove"' in said and "\n" not in said
    with pytest.raises(CheckFailedError, match="serves no kind Statefulset in apps/v1"):
        lab.written("x", SET.replace("kind: StatefulSet", "kind: Statefulset"))

    docs = lab.written("scratch_yaml", SERVICE + "---\n" + SET.replace("WHEN", "Delete"))
    assert "PASS: the API server accepts Service scratch, StatefulSet scratch (dry run)" in (
        capsys.readouterr().out
    )
    assert not apps.list_namespaced_stateful_set(lab.namespace).items  # a dry run stores nothing

    lab.apply_all(docs)
    lab.apply_all(docs)  # server-side apply: the second time changes nothing
    sts = apps.read_namespaced_stateful_set("scratch", lab.namespace)
    assert sts.spec.persistent_volume_claim_retention_policy.when_scaled == "Delete"
    assert sts.metadata.generation == 1
    assert sts.metadata.labels["stslab.dev/lab"] == lab.namespace
