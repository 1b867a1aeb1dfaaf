"""The package's layers: notebooks import one facade, and no layer imports one above it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "stslab"
# Lowest first. A module may import from its own layer and those before it.
LAYERS = ["core", "gpu", "cluster", "testing", "observe", "lab", "ops", "cli"]
# testing (the tests' stand-ins) sits beside the cluster layer: nothing in the library uses it.
NOT_FROM = {"testing": {"observe", "lab", "ops", "cli"}}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "stslab" or len(parts) == 1:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            # `from stslab.lab import check` names a module too
            found += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m.startswith("stslab.")]


def test_no_layer_imports_one_above_it() -> None:
    wrong = []
    for path in PKG.rglob("*.py"):
        if "v1beta1" in path.parts:
            continue
        rel = path.relative_to(PKG)
        mine = "cli" if rel.name == "cli.py" and len(rel.parts) == 1 else rel.parts[0]
        if mine not in LAYERS:
            continue
        for module in _imports(path):
            theirs = _layer(module)
            if theirs is None or theirs == mine:
                continue
            if LAYERS.index(theirs) > LAYERS.index(mine) or theirs in NOT_FROM.get(mine, ()):
                wrong.append(f"{rel} ({mine}) imports {module} ({theirs})")
            if theirs == "testing" and mine not in ("testing",):
                wrong.append(f"{rel} imports the tests' stand-in {module}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_notebooks_import_only_the_lab_facade() -> None:
    wrong = []
    for nb in sorted((ROOT / "labs").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            for line in "".join(cell["source"]).splitlines():
                m = re.match(r"\s*(?:from\s+(stslab[\w.]*)\s+import|import\s+(stslab[\w.]*))", line)
                if m and (m.group(1) or m.group(2)) != "stslab.lab":
                    wrong.append(f"{nb.name}: {line.strip()}")
    assert not wrong, "notebooks must import from stslab.lab only:\n" + "\n".join(wrong)


def test_the_facade_exports_what_it_lists() -> None:
    import stslab.lab

    missing = [n for n in stslab.lab.__all__ if not hasattr(stslab.lab, n)]
    assert not missing


def test_every_name_a_notebook_uses_is_defined() -> None:
    # ruff reads notebooks as one module, cells in order: an import renamed in one cell but
    # not in a later one shows up here, not in the middle of a headless run.
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run(
        [str(ruff), "check", "--select", "F821", "--output-format", "concise", str(ROOT / "labs")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_subprocess_call_has_a_timeout() -> None:
    """A stalled command (a mirror, a Docker engine, a tool) must never hang the kit."""
    calls = {"run", "call", "check_call", "check_output"}
    missing = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "subprocess"
                and node.func.attr in calls
                and not any(k.arg == "timeout" for k in node.keywords)
            ):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, f"subprocess calls without a timeout: {missing}"
