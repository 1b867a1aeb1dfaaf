"""Progress records and lab resets.

Recording is unit-tested on a private state dir; the reset runs against the live simulated
cluster with two lab namespaces made by hand (no full lab run).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cli import main
from stslab.cluster.base import ClusterRecord
from stslab.core.labels import LAB_LABEL
from stslab.lab import check, progress


@pytest.fixture(autouse=True)
def _no_current_lab() -> Iterator[None]:
    progress.end()
    progress._warned.clear()
    yield
    progress.end()
    progress._warned.clear()


def test_lab_of_namespace_and_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress.lab_of("lab-03") == "lab-03"
    assert progress.lab_of("learner-07-lab-01") == "lab-01"
    assert progress.lab_of("learner-ann") == "learner-ann"
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert progress.lab_of_notebook() is None
    monkeypatch.setenv("JPY_SESSION_NAME", "labs/03-pv-lifecycle.ipynb")  # as JupyterLab sets it
    assert progress.lab_of_notebook() == "lab-03"
    monkeypatch.setenv("JPY_SESSION_NAME", "scratch.ipynb")
    assert progress.lab_of_notebook() is None


def test_checks_outside_a_lab_are_not_recorded(isolated_state: Path) -> None:
    check.verdict(True, "fine", "bad", "hint")
    assert not progress.local_path().exists()


def test_checks_in_a_lab_are_recorded(
    isolated_state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STSLAB_LEARNER", "ann")
    progress.begin("lab-01")
    check.answer(["web-0"], ["web-0"], question="creation order", hint="h")
    with pytest.raises(check.CheckFailedError):
        check.verdict(False, "claims kept", "claims gone", "hint", exercise="claims kept")
    check.verdict(True, "claims kept", "claims gone", "hint", exercise="claims kept")
    check.verdict(True, "the set is Ready", "not Ready", "hint")  # the lab's own step
    progress.begin("lab-02")
    with pytest.raises(check.CheckFailedError):
        check.answer(..., 3, question="addresses", hint="h")
    records = progress.load_local()
    assert [(r.learner, r.lab, r.exercise, r.result) for r in records] == [
        ("ann", "lab-01", "creation order", "pass"),
        ("ann", "lab-01", "claims kept", "fail"),
        ("ann", "lab-01", "claims kept", "pass"),
        ("ann", "lab-01", "the set is Ready", "pass"),
        ("ann", "lab-02", "addresses", "fail"),
    ]
    assert [r.demo for r in records] == [False, False, False, True, False]
    s = progress.summary(records)
    kept = s[s.exercise == "claims kept"].iloc[0]
    assert kept.result == "pass" and kept.attempts == 2
    assert progress.overview(records).loc["ann"].to_dict() == {"lab-01": "2/2", "lab-02": "0/1"}
    capsys.readouterr()
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "claims kept" in out and "addresses" in out and "ann" in out
    assert main(["progress", "--learner", "bob"]) == 0
    assert "no results yet for learner 'bob'" in capsys.readouterr().out
    assert progress.clear_local("lab-01") == 4
    assert [r.lab for r in progress.load_local()] == ["lab-02"]


def test_a_failure_to_record_warns_once_and_never_breaks_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("STSLAB_STATE", str(blocker))  # the progress file cannot be made
    # A cluster that is not there: the ConfigMap update fails too.
    cfg = client.Configuration()
    cfg.host = "https://127.0.0.1:9"
    cfg.retries = 0
    progress.begin("lab-01", api=client.ApiClient(cfg), namespace="learner-x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check.verdict(True, "one", "", "")
        check.verdict(True, "two", "", "")
        with pytest.raises(check.CheckFailedError):
            check.verdict(False, "three", "bad", "hint")
    assert "PASS: one" in capsys.readouterr().out
    texts = [str(w.message) for w in caught if w.category is progress.ProgressWarning]
    assert len(texts) == 2, texts  # once for this machine, once for the cluster
    assert "on this machine" in texts[0] and "learner-x" in texts[1]


def test_reset_unknown_lab_lists_the_valid_ones(
    isolated_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["labs", "reset", "01", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "'99'" in err and "00, 01, 02" in err


@pytest.mark.cluster
def test_reset_removes_one_lab_and_leaves_the_other(
    kwok_cluster: ClusterRecord,
    api: client.ApiClient,
    state_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    monkeypatch.setenv("STSLAB_LEARNER", "reset-test")
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    for ns in ("lab-01", "lab-02"):
        try:
            core.create_namespace({"metadata": {"name": ns, "labels": {LAB_LABEL: ns}}})
        except ApiException as e:
            assert e.status == 409
        storage.create_storage_class(
            {
                "metadata": {"name": f"{ns}-fast", "labels": {LAB_LABEL: ns}},
                "provisioner": "kubernetes.io/host-path",
            }
        )
        progress.begin(ns)
        check.verdict(True, f"something in {ns}", "", "")
    progress.end()
    try:
        assert main(["labs", "reset", "01", "--backend", "kwok"]) == 0
        names = {n.metadata.name for n in core.list_namespace().items}
        assert "lab-01" not in names and "lab-02" in names
        classes = {c.metadata.name for c in storage.list_storage_class().items}
        assert "lab-01-fast" not in classes and "lab-02-fast" in classes
        mine = progress.load_local(learner="reset-test")
        assert [r.lab for r in mine] == ["lab-02"]
    finally:
        storage.delete_storage_class("lab-02-fast")
        core.delete_namespace("lab-02")
        progress.clear_local("lab-02")


def test_a_panel_step_left_to_the_learner_is_recorded_open(
    isolated_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stslab.lab.answers import Answers

    progress.begin("lab-01")
    Answers("lab-01", fast=False, backend_key="simulated").clicks("delete_web_1", panel=None)  # type: ignore[arg-type]
    assert "Your turn: use the panel above" in capsys.readouterr().out
    [rec] = progress.load_local(lab="lab-01")
    assert (rec.exercise, rec.result, rec.demo, rec.note) == (
        "delete_web_1",
        "open",
        True,
        "panel step",
    )
