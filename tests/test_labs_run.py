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
from stslab.ops.runner import run_lab, select


def _outputs(path: Path) -> tuple[str, int]:
    nb = nbformat.read(path, as_version=4)
    text, images = "", 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text += out.get("text", "")
            images += "image/png" in out.get("data", {})
    return text, images


@pytest.mark.cluster
@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06", "07"])
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
    result = run_lab(path, backend="kwok", fast=True, build=tmp_path)
    assert result.ok, result.error
    text, images = _outputs(result.output)
    assert "FAIL:" not in text
    assert "kubectl: not found" not in text and "Unable to connect" not in text  # `!kubectl`
    assert text.count("PASS:") >= 5
    assert images >= 2  # each live view keeps its final frame
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


@pytest.mark.cluster
def test_lab01_panel_check_fails_for_the_wrong_member(
    kwok_cluster: ClusterRecord, state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lab 01 up to its panel exercise, with web-0 deleted instead of web-1: its check fails."""
    from stslab.lab.context import Lab

    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    [path] = select(["01"])
    nb = nbformat.read(path, as_version=4)
    [asked] = [i for i, c in enumerate(nb.cells) if 'lab.clicks("delete_web_1"' in c.source]
    nb.cells[asked].source = 'panel.delete("web-0")   # the wrong member'
    nb.cells = nb.cells[: asked + 2]  # up to the check after it
    wrong = tmp_path / "src" / path.name
    wrong.parent.mkdir()
    nbformat.write(nb, wrong)
    ns = "lab-01-wrong"
    try:
        result = run_lab(wrong, backend="kwok", fast=True, build=tmp_path, namespace=ns)
    finally:
        Lab(ns, "kwok").cleanup()
    assert not result.ok
    assert "web-1 being deleted and made again did not happen" in (result.error or ""), result.error
