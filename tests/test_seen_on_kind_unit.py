"""Steps seen on kind: kept there when asked, shown (labelled) where no container runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stslab.core.errors import UsageError
from stslab.lab import seen_on_kind
from stslab.lab.seen_on_kind import KEEP_ENV, SeenOnKind


def test_a_kind_run_keeps_what_it_saw_and_the_simulated_backend_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEEP_ENV, str(tmp_path))
    SeenOnKind("lab-99", runs_containers=True).keep("write", **{"zk-0 create /x": "ok"})
    kept = json.loads((tmp_path / "lab-99.json").read_text())
    assert kept["meta"]["backend"] == "kind" and kept["steps"] == {
        "write": {"zk-0 create /x": "ok"}
    }

    monkeypatch.setattr(seen_on_kind, "seen_dir", lambda: tmp_path)
    shown = SeenOnKind("lab-99", runs_containers=False).show("write")
    out = capsys.readouterr().out
    assert shown == {"zk-0 create /x": "ok"}
    assert out.startswith("▶ Recorded on kind (Kubernetes v1.") and "zk-0 create /x: ok" in out


def test_a_kind_run_without_the_variable_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEEP_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    SeenOnKind("lab-99", runs_containers=True).keep("write", a=1)
    assert not list(tmp_path.iterdir())


def test_a_missing_recording_or_step_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen_on_kind, "seen_dir", lambda: tmp_path)
    with pytest.raises(UsageError) as missing:
        SeenOnKind("lab-98", runs_containers=False)
    assert "record_kind.py" in missing.value.fix and "\n" not in str(missing.value)
    (tmp_path / "lab-98.json").write_text(json.dumps({"meta": {}, "steps": {}}))
    with pytest.raises(UsageError, match="has no step 'write'"):
        SeenOnKind("lab-98", runs_containers=False).show("write")
