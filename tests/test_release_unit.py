"""Kubernetes releases: which ones `--kubernetes` takes, what each ships, the matrix's table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from stslab.core.errors import UsageError
from stslab.core.paths import binary_dir
from stslab.core.versions import minor, pinned, release
from stslab.lab import release as lab_release
from stslab.ops import matrix
from stslab.ops.runner import LabResult


def test_a_minor_names_its_release_and_none_is_the_pinned_one() -> None:
    assert release(None) == pinned().kubernetes
    assert pinned().kubernetes in pinned().releases
    for r in pinned().releases:
        assert release(minor(r)) == r
        assert release(r) == r
    assert [minor(r) for r in pinned().releases] == ["1.34", "1.35", "1.36", "1.37"]


@pytest.mark.parametrize("wanted", ["1.29", "banana", "1", "1.35.1", "", "v1.35.4.1"])
def test_an_unknown_release_is_one_line_naming_those_there_are(wanted: str) -> None:
    with pytest.raises(UsageError) as e:
        release(wanted)
    assert "1.34, 1.35, 1.36 (pinned), 1.37" in e.value.fix


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["up", "--kubernetes", "1.29"], "--kubernetes 1.29: stslab cannot run that release"),
        (["up", "--backend", "kind", "--kubernetes", "1.35"], "works only with the simulated"),
        (["labs", "matrix", "--kubernetes", "banana", "00"], "--kubernetes banana"),
    ],
)
def test_the_cli_refuses_a_release_before_anything_starts(
    args: list[str], says: str, isolated_state: Path
) -> None:
    res = subprocess.run(
        [str(Path(sys.executable).with_name("stslab")), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line
    assert not isolated_state.exists() or not any(isolated_state.rglob("cluster.json"))


def test_the_defaults_table_is_what_each_built_release_ships() -> None:
    """Each release in the cache: its kube-apiserver's --help says the gate's default."""
    checked = 0
    for r in pinned().releases:
        apiserver = binary_dir("kubernetes", r) / "kube-apiserver"
        if not apiserver.exists():
            continue
        text = subprocess.run(
            [str(apiserver), "--help"], capture_output=True, text=True, check=False
        ).stdout
        for gate, by_release in lab_release.DEFAULTS.items():
            m = re.search(rf"{gate}=true\|false \((\w+) - default=(\w+)\)", text)
            shipped = m.group(2) == "true" if m else True  # a GA gate is locked on, unlisted
            assert by_release[minor(r)] == shipped, f"{gate} in {r}: {m and m.group(0)}"
        checked += 1
    assert checked, "no release built: run `make binaries`"


def test_a_feature_the_cluster_lacks_says_it_is_skipped_in_one_line() -> None:
    off = lab_release.Feature("X", "the thing", ("07",), "on from 1.99", lambda api, ns: False)
    on, said = lab_release._state(None, "ns", off, "v1.35.4")
    assert on is False and lab_release.SKIPPED in said and "on from 1.99" in said
    unknown = lab_release.Feature("X", "the thing", ("07",), "", lambda api, ns: None)
    assert "could not be asked" in lab_release._state(None, "ns", unknown, "v1.35.4")[1]


def test_the_matrix_table_and_the_skips_it_counts(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(said)")
    cell.outputs = [nbformat.v4.new_output("stream", text=f"X is OFF: {lab_release.SKIPPED}.\n")]
    nb.cells = [cell]
    out = tmp_path / "07-updates.ipynb"
    nbformat.write(nb, out)
    cells = [
        matrix.Cell("v1.35.4", LabResult("07", out, out, True, 93.2), matrix.skipped_steps(out)),
        matrix.Cell("v1.36.3", LabResult("07", out, out, False, 12.0, "cell 9: boom"), 0),
    ]
    assert cells[0].skipped == 1
    matrix.write(cells, tmp_path)
    md = (tmp_path / "matrix.md").read_text()
    assert "| lab | v1.35.4 | v1.36.3 |" in md
    assert "| 07-updates | pass 93 s, 1 skipped | FAIL 12 s |" in md
    assert "- 07-updates on v1.36.3: cell 9: boom" in md
    assert (
        (tmp_path / "matrix.csv").read_text().splitlines()[1].startswith("07-updates,v1.35.4,pass")
    )
