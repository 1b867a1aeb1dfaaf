"""The labs' text asks before it tells: no answer above its exercise, no hint shown before a try.

Read from the notebooks and ``labs/solutions/``; no cluster needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import yaml

from stslab.lab.seen_on_kind import seen_dir
from stslab.ops.runner import select

ROOT = Path(__file__).resolve().parents[1]
# hint="..." or hint=f"...": a literal hint, shown in the cell before the learner has tried.
HINT_LITERAL = re.compile(r"\bhint\s*=\s*f?[\"']")
KUBECTL_CALL = re.compile(r"lab\.kubectl\(\"(\w+)\", f?\"([^\"]*)\"\)")
STUCK = re.compile(r"lab\.stuck\(\"(\w+)\"\)")


def _labs() -> list[tuple[str, Any, dict[str, Any]]]:
    """Each lab with a ladder of hints: its number, notebook and kept solutions."""
    found = []
    for path in select([]):
        kept = ROOT / "labs/solutions" / f"lab-{path.name[:2]}.yaml"
        if kept.is_file():
            found.append(
                (path.name[:2], nbformat.read(path, as_version=4), yaml.safe_load(kept.read_text()))
            )
    return found


def renderings(answer: Any) -> list[str]:
    """How a kept answer would read if a cell gave it away (a list as prose, a dict's pairs)."""
    if isinstance(answer, str):
        return [answer] if len(answer) >= 6 and "\n" not in answer else []
    if isinstance(answer, list) and answer and all(isinstance(a, str) for a in answer):
        return [", ".join(answer), " ".join(answer)] if len(answer) > 1 else renderings(answer[0])
    if isinstance(answer, dict) and not {"by_backend", "fill", "edit"} & set(answer):
        return [f"{k}{sep}{v}" for k, v in answer.items() for sep in (": ", " is ", " → ", " - ")]
    return []


def _shown(cell: Any) -> str:
    """What a learner reads of a cell before running it: prose, a code's strings and comments."""
    if cell.cell_type == "markdown":
        return str(cell.source)
    return " ".join(re.findall(r"\"([^\"\n]*)\"", cell.source) + re.findall(r"#(.*)", cell.source))


def giveaways(nb: Any, kept: dict[str, Any]) -> list[str]:
    """Each prediction's kept answer that a cell above its exercise already states."""
    found = []
    for name, answer in kept.items():
        exercise = [i for i, c in enumerate(nb.cells) if f'lab.answer("{name}"' in c.source]
        for text in renderings(answer) if exercise else []:
            found += [
                f"{name}: {text!r} in cell {i}, above its exercise (cell {exercise[0]})"
                for i in range(exercise[0])
                if text.lower() in _shown(nb.cells[i]).lower()
            ]
    return found


def test_no_cell_states_an_answer_above_its_exercise() -> None:
    wrong = [f"lab {n}: {g}" for n, nb, kept in _labs() for g in giveaways(nb, kept)]
    assert not wrong, "\n".join(wrong)


def test_the_giveaway_check_finds_one() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Scale down: web-2, web-1 go"),
        nbformat.v4.new_code_cell('my_scale_down = lab.answer("my_scale_down", ...)'),
    ]
    assert giveaways(nb, {"my_scale_down": ["web-2", "web-1"]})
    nb.cells.reverse()  # told after the learner answered: fine
    assert not giveaways(nb, {"my_scale_down": ["web-2", "web-1"]})
    assert giveaways(nb, {"my_pairs": {"nginx": "stateless"}}) == []  # not asked: nothing to hide


def test_no_hint_is_shown_before_a_try() -> None:
    """A lab's hints live in its ladder (``lab.hint``); a cell may only point at the ladder."""
    wrong = [
        f"lab {n}, cell {i}: {line.strip()}"
        for n, nb, _ in _labs()
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for line in c.source.splitlines()
        if HINT_LITERAL.search(line)
    ]
    assert not wrong, "move these hints to labs/solutions/<lab>.yaml:\n" + "\n".join(wrong)


def test_every_way_to_a_ladder_leads_to_one() -> None:
    wrong = [
        f"lab {n}: lab.stuck({name!r}) but no ladder of that name"
        for n, nb, kept in _labs()
        for c in nb.cells
        for name in STUCK.findall(c.source)
        if name not in kept.get("hints", {})
    ]
    assert not wrong, "\n".join(wrong)


KINDS = {"pod", "pods", "pvc", "statefulset", "sts", "service", "pv", "node"}
TAINT = re.compile(r"^([\w./-]+)=([\w-]*):(\w+)$")  # key=value:Effect
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _instruction(nb: Any, cell: int) -> str:
    """The "Your turn" text a learner reads just above exercise ``cell``."""
    for i in range(cell - 1, -1, -1):
        if nb.cells[i].cell_type == "markdown":
            return str(nb.cells[i].source)
    return ""


def mismatches(text: str, command: str) -> list[str]:
    """What the kept ``command`` does that the instruction ``text`` does not ask for."""
    words = command.split()[1:]  # after kubectl
    wrong = [] if words[0] in text.lower() else [f"the verb {words[0]!r}"]
    for w in words[1:]:
        if w.startswith("--replicas="):
            n = int(w.split("=", 1)[1])
            if not re.search(rf"\b({n}|{NUMBERS.get(n, n)}) replicas?\b", text):
                wrong.append(f"{n} replicas")
        elif "{" in w:  # a name only the running lab knows (the node that failed)
            continue
        elif taint := TAINT.match(w):
            wrong += [f"the taint's {part!r}" for part in taint.groups() if f"`{part}`" not in text]
        elif not w.startswith("-") and w not in KINDS and f"`{w}`" not in text:
            wrong.append(f"the name {w!r}")
    return wrong


def test_every_lab_has_the_learner_type_kubectl_and_explain() -> None:
    missing = [
        f"lab {n}: no {tag} exercise"
        for n, nb, _ in _labs()
        if n != "00"  # the index: one prediction, no StatefulSet yet
        for tag in ("learner-kubectl", "learner-explain")
        if not [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    ]
    assert not missing, "\n".join(missing)


SECTION = re.compile(r"^## (\d+)\.", re.M)


def test_every_section_asks_the_learner_why() -> None:
    """Each numbered section has a "why?" of its own (tag ``learner-explain``) before the next."""
    missing = []
    for n, nb, _ in _labs():
        if n == "00":  # the index: a tour, not sections of a lab
            continue
        section = None
        asked: dict[str, bool] = {}
        for c in nb.cells:
            for number in SECTION.findall(c.source) if c.cell_type == "markdown" else []:
                section = number
                asked.setdefault(section, False)
            if section and "learner-explain" in c.metadata.get("tags", []):
                asked[section] = True
        missing += [f"lab {n} §{s}" for s, yes in asked.items() if not yes]
    assert not missing, "no why? in " + ", ".join(missing)


def test_each_kubectl_instruction_asks_what_its_solution_does() -> None:
    """The "Your turn" text and the command a headless run types agree (06 §4 once did not)."""
    wrong = []
    for n, nb, kept in _labs():
        for i, c in enumerate(nb.cells):
            for name, template in KUBECTL_CALL.findall(c.source):
                command = kept[name]
                if isinstance(command, dict):  # fill-ins for the cell's own command
                    command = template.replace("???", " ".join(command["fill"]))
                bad = mismatches(_instruction(nb, i), command)
                wrong += [f"lab {n} {name}: the text does not ask for {b}" for b in bad]
    assert not wrong, "\n".join(wrong)


def test_the_instruction_check_finds_a_drift() -> None:
    text = "**Your turn** — scale `vm` from 4 to 2: press −1 twice"
    assert mismatches(text, "kubectl scale statefulset vm --replicas=2") == ["2 replicas"]
    assert mismatches(text, "kubectl scale statefulset web --replicas=4") == [
        "the name 'web'",
        "4 replicas",
    ]


SHOWN_ON_KIND = re.compile(r"on_kind\.show\(\"([^\"]+)\"\)")
RECORDED_KUBECTL = re.compile(r'lab\.kubectl\("(\w+)",[^\n]*recorded=on_kind')
KEPT_ON_KIND = re.compile(r"on_kind\.keep\(\"([^\"]+)\"")
FOLDED = re.compile(r"<details>.*?</details>", re.S)


def test_no_step_is_skipped_where_containers_are_missing() -> None:
    # A step that needs a container shows the same step as recorded on kind, never "Skipped".
    for path in select([]):
        nb = nbformat.read(path, as_version=4)
        for i, c in enumerate(nb.cells):
            assert "Skipped" not in c.source, f"{path.name} cell {i} skips a step"


def test_every_step_shown_from_kind_was_kept_there() -> None:
    for path in select([]):
        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        shown = set(SHOWN_ON_KIND.findall(source))
        assert shown == set(KEPT_ON_KIND.findall(source)), path.name
        shown |= set(RECORDED_KUBECTL.findall(source))  # kubectl that needs a container
        if not shown:
            continue
        kept = json.loads((seen_dir() / f"lab-{path.name[:2]}.json").read_text())
        assert kept["meta"]["backend"] == "kind" and kept["meta"]["kubernetes"].startswith("v1.")
        missing = shown - set(kept["steps"])
        assert not missing, f"{path.name}: not recorded on kind: {missing}"


def test_each_lab_says_how_long_and_its_intro_is_short() -> None:
    for path in select([]):
        if path.name.startswith("00"):
            continue
        head = nbformat.read(path, as_version=4).cells[0].source
        assert re.search(r"^⏱ about \d+ min$", head, re.M), f"{path.name}: no ⏱ line"
        words = len(FOLDED.sub("", head).split())
        assert words <= 150, f"{path.name}: intro of {words} words (fold notes into <details>)"


def test_the_instruction_check_reads_a_taint() -> None:
    text = "taint it with the key `node.kubernetes.io/out-of-service`, the value `nodeshutdown`"
    command = "kubectl taint node {failed} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
    assert mismatches(text, command) == ["the taint's 'NoExecute'"]
