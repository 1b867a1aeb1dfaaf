"""Lab regression: each lab runs headless (papermill) on the live simulated cluster.

The checks inside the labs are the assertions; here we also make sure each live view left its
last frame as an image, that no check failed, and that the lab cleaned up after itself.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord
from stslab.ops import proving
from stslab.ops.runner import reset_labs, run_lab, select


def _outputs(path: Path) -> tuple[str, int]:
    nb = nbformat.read(path, as_version=4)
    text, images = "", 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text += out.get("text", "")
            images += "image/png" in out.get("data", {})
    return text, images


@pytest.mark.cluster
@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06", "07", "08"])
def test_lab_runs_headless_and_cleans_up(
    number: str,
    kwok_cluster: ClusterRecord,
    api: client.ApiClient,
    state_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    core = client.CoreV1Api(api)
    ns = f"lab-{number}"
    # Leftovers of an interrupted earlier run: the lab must start clean anyway.
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "leftover"}})

    [path] = select([number])
    # --prove: each prediction's check is tried with a kept wrong answer, and each exercise
    # cell (with the cell acting on it) runs twice.
    result = run_lab(path, backend="kwok", fast=True, build=tmp_path, prove=True)
    assert result.ok, result.error
    text, images = _outputs(result.output)
    assert "FAIL:" not in text
    predictions = proving.predictions(nbformat.read(path, as_version=4))
    proved = {v for v in predictions if f"proved: a wrong answer to {v} fails" in text}
    unjudged = {v for v in predictions if f"not judged on this backend: {v}" in text}
    assert proved | unjudged == set(predictions), set(predictions) - proved - unjudged
    assert unjudged <= {"my_write_without_quorum_succeeds"}  # a real ZooKeeper's, on kind
    assert "kubectl: not found" not in text and "Unable to connect" not in text  # `!kubectl`
    assert text.count("PASS:") >= 5
    # Each live view keeps its final frame (lab 08's challenges show none: the learner looks).
    views = sum("live_" in c.source for c in nbformat.read(path, as_version=4).cells)
    assert images >= min(2, views)
    # Nothing is left behind: namespace, claims, volumes, classes, host directories.
    assert ns not in {n.metadata.name for n in core.list_namespace().items}
    assert not [
        pv
        for pv in core.list_persistent_volume().items
        if (pv.spec.claim_ref and pv.spec.claim_ref.namespace == ns)
        or (pv.metadata.labels or {}).get("stslab.dev/lab") == ns
    ]
    assert (
        not client.StorageV1Api(api).list_storage_class(label_selector=f"stslab.dev/lab={ns}").items
    )
    assert not (Path(kwok_cluster.extra["volumes"]) / f"stslab-{ns}").exists()
    assert not core.list_node(label_selector=f"stslab.dev/lab={ns}").items  # machines it added
    resource = client.ResourceV1Api(api)  # DRA objects lab 06 published
    assert not resource.list_resource_slice(label_selector=f"stslab.dev/lab={ns}").items
    assert not resource.list_device_class(label_selector=f"stslab.dev/lab={ns}").items


def test_lab_without_a_cluster_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / "no-cluster"))
    [path] = select(["02"])
    result = run_lab(path, backend=None, fast=True, build=tmp_path / "build")
    assert not result.ok
    assert "there is no lab cluster" in result.error and "stslab up" in result.error


def _acting_exercises() -> list[tuple[str, str]]:
    return [
        (path.name[:2], name)
        for path in select([])
        for name in proving.actions(nbformat.read(path, as_version=4))
    ]


@pytest.mark.cluster
@pytest.mark.parametrize(("number", "exercise"), _acting_exercises())
def test_a_wrong_action_fails_its_check(
    number: str,
    exercise: str,
    kwok_cluster: ClusterRecord,
    state_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lab up to an acting exercise's check, given its kept wrong answer: the check fails.

    (Wrong predictions are proved in passing by the headless runs above.)
    """
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    [path] = select([number])
    ns = f"lab-{number}-wrong"
    try:
        result = run_lab(
            path,
            backend="kwok",
            fast=True,
            build=tmp_path,
            namespace=ns,
            parameters={"timeout": 45},
            wrong=exercise,
        )
    finally:
        reset_labs([number], backend="kwok", namespace=ns)
    assert not result.ok
    # It failed at the exercise or after it, at a check or at the wait its hint names.
    nb = nbformat.read(result.output, as_version=4)
    [failed] = [
        i
        for i, c in enumerate(nb.cells)
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    assert failed >= proving.actions(nb)[exercise], result.error
    assert "CheckFailedError" in result.error or "WaitTimeoutError" in result.error, result.error
