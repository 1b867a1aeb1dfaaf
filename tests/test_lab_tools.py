"""Pieces of the labs that need no cluster: DNS output parsing, the session demo, the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from stslab.core.errors import UsageError
from stslab.lab.nslookup import parse
from stslab.lab.session_demo import run_demo
from stslab.ops import proving
from stslab.ops.runner import discover, select

DEBIAN = """Server:\t\t127.0.0.1
Address:\t127.0.0.1#35353

Name:\tweb.lab.svc.cluster.local
Address: 10.244.0.3
Name:\tweb.lab.svc.cluster.local
Address: 10.244.0.2
"""
BUSYBOX = """Server:    10.96.0.10
Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local

Name:      web.lab.svc.cluster.local
Address 1: 10.244.1.5 web-0.web.lab.svc.cluster.local
Address 2: 10.244.2.7 web-1.web.lab.svc.cluster.local
"""
SRV = """_web._tcp.web.lab.svc.cluster.local\tservice = 0 50 80 web-1.web.lab.svc.cluster.local.
_web._tcp.web.lab.svc.cluster.local\tservice = 0 50 80 web-0.web.lab.svc.cluster.local.
"""


def test_parse_nslookup_outputs() -> None:
    assert parse(DEBIAN) == ["10.244.0.2", "10.244.0.3"]
    assert parse(BUSYBOX) == ["10.244.1.5", "10.244.2.7"]
    assert parse("** server can't find x: NXDOMAIN") == []
    assert parse(SRV, "SRV") == [
        "web-0.web.lab.svc.cluster.local",
        "web-1.web.lab.svc.cluster.local",
    ]


def test_session_problem_is_real() -> None:
    own, shared = run_demo(shared_store=False, requests=4), run_demo(shared_store=True, requests=4)
    assert own.lost == 2 and shared.lost == 0
    assert {r["replica"] for r in own.rows} == {"replica-a", "replica-b"}


def test_runner_selects_labs_by_number() -> None:
    labs = discover()
    assert list(labs)[:3] == ["00", "01", "02"]
    assert select(["1"]) == [labs["01"]]
    assert select(["02-headless-dns"]) == [labs["02"]]
    with pytest.raises(UsageError, match="no lab '99'"):
        select(["99"])


def test_every_lab_has_parameters_and_tagged_concepts() -> None:
    import json
    import re

    for number, path in discover().items():
        nb = json.loads(path.read_text())
        tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
        assert "parameters" in tags, path.name
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        concepts = re.findall(
            r"Concept: (S\d+)", "".join("".join(c["source"]) for c in nb["cells"])
        )
        features = re.findall(
            r"Feature: (F\d+)", "".join("".join(c["source"]) for c in nb["cells"])
        )
        challenges = re.findall(
            r"Challenge: (C\d+)", "".join("".join(c["source"]) for c in nb["cells"])
        )
        if number != "00":
            assert concepts or features or challenges, f"{path.name} tags nothing it teaches"
            assert all(1 <= int(c[1:]) <= 24 for c in concepts)


def test_concept_table_matches_the_labs_tags() -> None:
    import json
    import re

    from stslab.ops.runner import labs_dir

    table = (labs_dir() / "CONCEPTS.md").read_text()
    listed = dict(re.findall(r"^\| (S\d+) \|.*\| ([^|]+) \|$", table, flags=re.M))
    assert sorted(listed, key=lambda s: int(s[1:])) == [f"S{i}" for i in range(1, 25)]
    for number, path in discover().items():
        nb = json.loads(path.read_text())
        text = "".join("".join(c["source"]) for c in nb["cells"])
        for concept in set(re.findall(r"Concept: (S\d+)", text)):
            assert number in listed[concept], f"{concept} is taught in {path.name}"


def test_feature_table_matches_the_labs_tags() -> None:
    """F1–F8 (StatefulSet features since the article) each tagged where CONCEPTS.md says."""
    import json
    import re

    from stslab.ops.runner import labs_dir

    table = (labs_dir() / "CONCEPTS.md").read_text()
    listed = dict(re.findall(r"^\| (F\d+) \|.*\| ([^|]+) \|$", table, flags=re.M))
    assert sorted(listed) == [f"F{i}" for i in range(1, 9)]
    tagged: dict[str, set[str]] = {}
    for number, path in discover().items():
        text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        for feature in re.findall(r"Feature: (F\d+)", text):
            tagged.setdefault(feature, set()).add(number)
    assert set(tagged) == set(listed)
    for feature, labs in tagged.items():
        assert all(n in listed[feature] for n in labs), feature


def test_challenge_table_matches_the_labs_tags() -> None:
    """C1–C6 (lab 08's fix-it challenges) each listed in CONCEPTS.md and tagged once."""
    import json
    import re

    from stslab.ops.runner import labs_dir

    listed = re.findall(r"^\| (C\d+) \|", (labs_dir() / "CONCEPTS.md").read_text(), flags=re.M)
    tagged = [
        challenge
        for path in discover().values()
        for c in json.loads(path.read_text())["cells"]
        for challenge in re.findall(r"Challenge: (C\d+)", "".join(c["source"]))
    ]
    assert listed == tagged == [f"C{i}" for i in range(1, len(listed) + 1)]
    assert len(listed) >= 6


def test_a_notebook_shows_stslab_errors_as_one_line(tmp_path: Path) -> None:
    """The cell's error output is the one line with the fix, as papermill records it."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from stslab.lab.context import one_line_errors\n"
            "one_line_errors()\n"
            "from stslab.core.kube import wait_until\n"
            "wait_until(lambda: False, timeout=0.2, what='the thing')"
        )
    ]
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(papermill.PapermillExecutionError):
        papermill.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False)
    (error,) = [o for o in nbformat.read(out, 4).cells[-1].outputs if o.output_type == "error"]
    assert error.traceback == ["error: the thing did not happen within 0s"]


def test_every_kept_solution_matches_an_exercise() -> None:
    """Each ``lab.answer("name", ...)`` has its solution in labs/solutions, and vice versa."""
    import json
    import re

    import yaml

    from stslab.ops.runner import labs_dir

    for number, path in discover().items():
        cells = json.loads(path.read_text())["cells"]
        asked = set()
        for c in cells:
            source = "".join(c["source"])
            asked |= set(re.findall(r'lab\.(?:answer|clicks|written|kubectl|fix)\("(\w+)"', source))
        kept_file = labs_dir() / "solutions" / f"lab-{number}.yaml"
        kept = yaml.safe_load(kept_file.read_text()) if kept_file.is_file() else {}
        ladders = kept.pop("hints", {})
        wrong = kept.pop("wrong", {})
        assert asked == set(kept), f"{path.name}: asked {sorted(asked)}, kept {sorted(kept)}"
        # every exercise has a wrong answer that the tests prove its check fails for
        assert set(wrong) == asked, f"{path.name}: wrong answers for {sorted(wrong)}"
        assert all(wrong[n] != kept[n] for n in asked), path.name
        nb = nbformat.read(path, as_version=4)
        assert set(proving.predictions(nb)) | set(proving.actions(nb)) == asked, path.name
        # every exercise (predictions, YAML, panel clicks) has its hint ladder: two rungs before
        # the answer
        assert set(ladders) == asked, f"{path.name}: hints for {sorted(ladders)}"
        assert all(len(rungs) == 2 for rungs in ladders.values()), path.name
        # no lab gives a solution away in its cells (they are kept apart, in labs/solutions)
        assert not [c for c in cells if "if fast:" in "".join(c["source"])], path.name


def test_a_proof_fails_the_lab_when_a_wrong_answer_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proof cell of --prove, run as a kernel would run it, with a check that can and one
    that cannot fail; what it judges is not recorded as the learner's progress."""
    from types import SimpleNamespace

    from stslab.lab import check, progress

    class Kernel:
        def transform_cell(self, source: str) -> str:
            return source

    def run(check_source: str) -> None:
        cell = proving.proof("my_n", 4, SimpleNamespace(source=check_source))
        space = {"get_ipython": Kernel, "my_n": 3, "check": check, "observed": 3}
        exec(cell, space)
        assert space["my_n"] == 3  # the learner's answer is back

    recorded: list[Any] = []
    monkeypatch.setattr(progress, "_current", progress.Current("lab-01", "ann"))
    monkeypatch.setattr(progress, "_append_local", recorded.extend)
    run('check.answer(my_n, observed, question="n", hint="h")')
    assert "proved: a wrong answer to my_n fails its check" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="a wrong answer to my_n passed its check: 4"):
        run('check.answer(observed, observed, question="n", hint="h")')  # ignores my_n
    run("pass  # judged only on real containers")
    assert "not judged on this backend: my_n" in capsys.readouterr().out
    assert recorded == []
    check.answer(3, 3, question="n", hint="h")  # outside a proof, a check is recorded
    assert [r.result for r in recorded] == ["pass"]
