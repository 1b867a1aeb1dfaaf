"""Lab 00 executed headless (papermill) against the live simulated cluster."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from stslab.cluster.base import ClusterRecord

pytestmark = pytest.mark.cluster
LAB = Path(__file__).resolve().parent.parent / "labs" / "00-index.ipynb"


def _stream_text(nb_path: Path) -> str:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def _run(out: Path, **params: object) -> None:
    pm.execute_notebook(
        str(LAB),
        str(out),
        parameters=params,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(LAB.parent),
    )


def test_index_lab_reports_the_cluster(
    kwok_cluster: ClusterRecord, state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    _run(tmp_path / "00.ipynb", backend="kwok", expect_nodes=3)
    text = _stream_text(tmp_path / "00.ipynb")
    assert "backend: kwok, state: running" in text
    assert "OK: 3 Ready node(s), 24 GPU(s) allocatable in total" in text


def test_index_lab_check_fails_when_nodes_are_missing(
    kwok_cluster: ClusterRecord, state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    with pytest.raises(pm.PapermillExecutionError, match="NOT OK: 3 Ready node"):
        _run(tmp_path / "00.ipynb", backend="kwok", expect_nodes=5)


def test_index_lab_outputs_stay_stable_under_nbval(
    kwok_cluster: ClusterRecord, state_root: Path
) -> None:
    import os
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-sanitize-with",
            str(here / "nbval-sanitize.cfg"),
            str(LAB),
        ],
        env=dict(os.environ, STSLAB_STATE=str(state_root)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=here.parent,
    )
    assert res.returncode == 0, res.stdout[-2000:]
    assert " passed" in res.stdout


def test_index_lab_checks_the_learners_prediction(
    kwok_cluster: ClusterRecord, state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prediction cell given a right answer passes, and a wrong one fails."""
    import nbformat

    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    nb = nbformat.read(LAB, as_version=4)
    blank = 'lab.answer("my_workers", ...)'
    [asked] = [i for i, c in enumerate(nb.cells) if blank in c.source]
    source = nb.cells[asked].source

    def run(answer: int) -> Path:
        nb.cells[asked].source = source.replace(blank, f'lab.answer("my_workers", {answer})')
        src = tmp_path / f"given-{answer}.ipynb"
        nbformat.write(nb, src)
        out = tmp_path / f"out-{answer}.ipynb"
        pm.execute_notebook(
            str(src), str(out), kernel_name="python3", progress_bar=False, cwd=str(LAB.parent)
        )
        return out

    assert "PASS: Ready worker nodes: 3" in _stream_text(run(3))
    with pytest.raises(pm.PapermillExecutionError, match="Ready worker nodes: 2 is not"):
        run(2)
