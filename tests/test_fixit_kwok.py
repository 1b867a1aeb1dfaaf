"""Lab 08 on the live simulated cluster: challenges broken afresh, hints, bad input.

(The whole lab, each kept fix and each kept wrong fix run in tests/test_labs_run.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import ClusterRecord
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until
from stslab.core.paths import lab_files_dir
from stslab.lab import Lab, fixit

pytestmark = pytest.mark.cluster


def test_a_challenge_broken_twice_starts_afresh_and_its_hint_reads_the_cluster(
    kwok_cluster: ClusterRecord,
    state_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    lab = Lab("lab-08-again", "kwok", timeout=60, lab="lab-08")
    policy = client.PolicyV1Api(lab.api)
    try:
        first = fixit.start(lab, "budget")
        # the learner deletes the budget (the shortcut): the check says why that fails
        policy.delete_namespaced_pod_disruption_budget("quorum", lab.namespace)
        ok, shown = first.goal()
        assert not ok and "the budget quorum is gone" in shown
        again = fixit.start(lab, "budget")  # the breaking cell run again: the same broken state
        assert not again.goal()[0]
        assert len(lab.core.list_namespaced_pod(lab.namespace).items) == 3
        capsys.readouterr()
        lab.hint("fix_budget")
        out = capsys.readouterr().out
        assert "your cluster now: budget quorum: minAvailable 3" in out
        assert "disruptionsAllowed 0" in out and "hint 1 of 2" in out
    finally:
        lab.cleanup()


def test_a_namespace_deleted_mid_challenge_is_one_line(
    kwok_cluster: ClusterRecord, state_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    lab = Lab("lab-08-gone", "kwok", timeout=60, lab="lab-08")
    try:
        broken = fixit.start(lab, "selector")
        lab.core.delete_namespace(lab.namespace)
        wait_until(
            lambda: lab.namespace not in {n.metadata.name for n in lab.core.list_namespace().items},
            timeout=60,
            what="the namespace going",
        )
        ok, shown = broken.goal()
        assert not ok and shown.startswith("the namespace lab-08-gone is gone")
        with pytest.raises(ClusterStateError, match="run the lab from the top"):
            fixit.start(lab, "selector")
    finally:
        lab.cleanup()
    assert not lab_files_dir(lab.namespace).exists()
