"""A learner's YAML before the server sees it: placeholders, bad YAML, missing fields — one line.
And the kubectl a lab's kernel and `stslab env` put on PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from stslab.core.kube import kubectl_env
from stslab.lab import learner_yaml
from stslab.lab.check import CheckFailedError
from stslab.lab.learner_yaml import parse, unwritten
from stslab.ops.runner import discover


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("kind: Service\nspec:\n  clusterIP: ???\n", "scratch: replace each ??? with yours"),
        ("kind: Service\n  spec: [\n", "scratch: not YAML — line 2: "),
        ("", "scratch: the YAML is empty"),
        ("- a\n- b\n", "scratch: every document needs apiVersion, kind and metadata.name"),
        ("kind: Service\nmetadata: {name: x}\n", "every document needs apiVersion, kind"),
    ],
)
def test_what_is_wrong_before_the_server_is_asked(
    text: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CheckFailedError) as failed:
        parse(text, "scratch")
    assert said in failed.value.what and "\n" not in failed.value.what
    assert capsys.readouterr().out.startswith("FAIL: ")


def test_a_whole_manifest_parses_into_its_documents() -> None:
    docs = parse(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n"
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: b}\n",
        "x",
    )
    assert [d["kind"] for d in docs] == ["Service", "StatefulSet"]
    assert unwritten("a: ???") and not unwritten("a: b") and not unwritten(None)


def test_kubectl_env_puts_the_pinned_kubectl_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stslab.core.paths import binary_dir
    from stslab.core.versions import pinned

    monkeypatch.setenv("STSLAB_CACHE", str(tmp_path / "cache"))
    assert kubectl_env("/k/config", "/usr/bin") == {"KUBECONFIG": "/k/config"}  # not built
    kubectl = binary_dir("kubernetes", pinned().kubernetes) / "kubectl"
    kubectl.parent.mkdir(parents=True)
    kubectl.write_text("#!/bin/sh\n")
    env = kubectl_env("/k/config", "/usr/bin")
    assert env["PATH"] == f"{kubectl.parent}{os.pathsep}/usr/bin"
    assert kubectl_env("/k/config", env["PATH"]) == {"KUBECONFIG": "/k/config"}  # once only


def test_every_lab_runs_kubectl_and_has_yaml_to_write() -> None:
    for number, path in discover().items():
        if number == "00":
            continue
        cells = json.loads(path.read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        ran = any("!kubectl" in s or "lab.kubectl(" in s or "lab.fix(" in s for s in code)
        assert ran, f"{path.name} never runs kubectl"
        if any("lab.fix(" in s for s in code):
            continue  # fix-it challenges: the learner's own commands, any YAML theirs to bring
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "learner-yaml" in c.metadata.get("tags", [])]
        assert tagged, f"{path.name} has nothing for the learner to write"
        assert all("???" in c.source for c in tagged)  # a skeleton, not the answer


def test_a_kept_fill_completes_the_learners_skeleton() -> None:
    skeleton = "reclaimPolicy: ???\nvolumeBindingMode: ???\n"
    text = learner_yaml.filled(skeleton, ["Retain", "Immediate"], "x")
    assert text == "reclaimPolicy: Retain\nvolumeBindingMode: Immediate\n"
    with pytest.raises(ValueError, match="2 placeholders, 1 values"):
        learner_yaml.filled(skeleton, ["Retain"], "x")


def test_the_hint_ladder_climbs_to_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    from stslab.lab.answers import Answers

    lab = Answers("lab-01", fast=False, backend_key="simulated")  # no cluster to read hints
    lab.hint("my_order")
    first = capsys.readouterr().out
    assert first.startswith("hint 1 of 2: ") and "again for a stronger one" in first
    lab.hint("my_order")
    assert capsys.readouterr().out.startswith("hint 2 of 2: ")
    lab.hint("my_order")
    assert capsys.readouterr().out == "the answer to my_order:\n[web-0, web-1, web-2]\n"
    lab.hint("no_such")
    listed = capsys.readouterr().out
    assert listed.startswith("hints in this lab: ") and '"my_classes", ' in listed


def test_a_wrong_prediction_points_at_its_ladder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stslab.lab import check

    mine = ["web-0", "web-2", "web-1"]
    monkeypatch.setattr(check, "_asked", {})
    check.asked("my_order", mine)
    with pytest.raises(CheckFailedError) as failed:
        check.answer(mine, ["web-0", "web-1", "web-2"], question="creation order", hint="h")
    assert failed.value.hint.endswith(
        'stuck? lab.hint("my_order") gives a hint, a stronger one, then the answer'
    )
    check.answer(["web-0"], ["web-0"], question="q", hint="h")  # a right one says nothing of hints
    assert "stuck?" not in capsys.readouterr().out.splitlines()[-1]
