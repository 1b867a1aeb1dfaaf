"""``stslab lab DIR``: the labs copied once; a learner's edits never overwritten."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from stslab.cli import main
from stslab.commands.lab_folder import RECORD, copy_labs, kit_files


def test_copies_once_then_keeps_edits_and_brings_older_copies_up(tmp_path: Path) -> None:
    dest = tmp_path / "labs"
    first = copy_labs(dest)
    names = [p.name for p in kit_files()]
    assert sorted(first.new) == sorted(names) and "00-index.ipynb" in names
    assert copy_labs(dest).new == []  # nothing new the second time
    edited, stale = dest / "01-stateless-vs-stateful.ipynb", dest / "CONCEPTS.md"
    edited.write_text(edited.read_text() + " ")  # the learner's work
    stale.write_text("an older copy of the kit's\n")  # as copied by an older kit...
    record = json.loads((dest / RECORD).read_text())
    record["CONCEPTS.md"] = hashlib.sha256(stale.read_bytes()).hexdigest()
    (dest / RECORD).write_text(json.dumps(record))
    again = copy_labs(dest)
    assert again.kept == [edited.name] and edited.read_text().endswith(" ")
    assert again.updated == ["CONCEPTS.md"] and stale.read_text() != "an older copy of the kit's\n"
    (dest / "00-index.ipynb").unlink()  # deleted: copied afresh
    assert copy_labs(dest).new == ["00-index.ipynb"]


def test_the_command_says_what_it_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "mine"
    assert main(["lab", str(dest), "--copy-only"]) == 0
    note = dest / "02-headless-dns.ipynb"
    note.write_text(note.read_text() + "\n")
    assert main(["lab", str(dest), "--copy-only"]) == 0
    out = capsys.readouterr().out
    assert "kept your edits to 02-headless-dns.ipynb" in out


def test_a_file_in_the_way_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("")
    assert main(["lab", str(tmp_path / "f"), "--copy-only"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "is a file, not a folder" in err and "\n" not in err


def test_a_workshop_learners_copies_run_in_their_namespace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "labs"
    assert main(["lab", str(dest), "--copy-only", "--namespace", "learner-ann"]) == 0
    for nb in sorted(dest.glob("0*.ipynb")):
        [params] = [
            c
            for c in nbformat.read(nb, as_version=4).cells
            if "parameters" in c.metadata.get("tags", [])
        ]
        assert 'namespace = "learner-ann"' in params.source, nb.name
    # Served again: nothing is taken for the learner's edit, and their edits stay.
    edited = dest / "03-pv-lifecycle.ipynb"
    edited.write_text(edited.read_text() + " ")
    again = copy_labs(dest, "learner-ann")
    assert again.new == again.updated == [] and again.kept == [edited.name]
    assert main(["lab", str(dest), "--copy-only", "--namespace", "Not_A_Name"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a namespace name" in err and "\n" not in err
