"""The ZooKeeper manifests pass a server-side dry run, and their anti-affinity matches the pods."""

from __future__ import annotations

import pytest
from kubernetes import client, dynamic

from stslab.core.paths import project_root
from stslab.lab.manifests import load

pytestmark = pytest.mark.cluster
DOCS = load("clusters/zookeeper/zookeeper.yaml")


def test_anti_affinity_selector_matches_the_pod_labels() -> None:
    sts = next(d for d in DOCS if d["kind"] == "StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    term = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ][0]
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    assert term["topologyKey"] == "kubernetes.io/hostname"
    pdb = next(d for d in DOCS if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_manifests_pass_a_server_side_dry_run(api: client.ApiClient, namespace: str) -> None:
    dyn = dynamic.DynamicClient(api)
    for doc in DOCS:
        res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        out = res.create(body=doc, namespace=namespace, query_params=[("dryRun", "All")])
        assert out.metadata.name == doc["metadata"]["name"]
    assert not client.AppsV1Api(api).list_namespaced_stateful_set(namespace).items  # dry run


def test_a_forbidden_edit_gets_the_servers_message(api: client.ApiClient, namespace: str) -> None:
    dyn = dynamic.DynamicClient(api)
    sts = next(d for d in DOCS if d["kind"] == "StatefulSet")
    res = dyn.resources.get(api_version="apps/v1", kind="StatefulSet")
    res.create(body=sts, namespace=namespace)
    edited = res.get(name="zk", namespace=namespace).to_dict()
    edited["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5Gi"
    with pytest.raises(dynamic.exceptions.UnprocessibleEntityError) as err:
        res.replace(body=edited, namespace=namespace)
    assert "updates to statefulset spec for fields other than" in err.value.body


def test_the_image_is_pinned_by_tag_and_digest() -> None:
    sts = next(d for d in DOCS if d["kind"] == "StatefulSet")
    image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
    name, _, digest = image.partition("@")
    assert name.startswith("zookeeper:3.9.") and len(digest) == len("sha256:") + 64
    images = (project_root() / "clusters/images.txt").read_text()
    assert image in images.splitlines()  # preloaded for offline workshops as pinned
