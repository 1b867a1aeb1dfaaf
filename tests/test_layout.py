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
# The cli layer is the top-level stslab/cli.py and its command groups in stslab/commands/.
CLI_PACKAGES = {"commands"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "stslab" or len(parts) == 1:
        return None
    if parts[1] in CLI_PACKAGES:
        return "cli"
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
        mine = "cli" if mine in CLI_PACKAGES else mine
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


# What runs a command to its end; only stslab.core.procs.run may call these.
SUBPROCESS_RUNNERS = {"run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def _runner_misuse(tree: ast.Module) -> list[tuple[int, str]]:
    """Calls of subprocess's run-to-the-end functions, and run-and-raise wrappers around Popen.

    A wrapper: a function that captures a child's output (``stdout=subprocess.PIPE`` or
    ``.communicate()``) and raises. ``Popen`` of a long-running process (a daemon, output to
    its log) is fine.
    """
    modules = {"subprocess"}  # names the subprocess module goes by here
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "subprocess"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "subprocess":
            names = {a.name for a in node.names} & SUBPROCESS_RUNNERS
            found += [(node.lineno, f"imports subprocess.{n}") for n in sorted(names)]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr in SUBPROCESS_RUNNERS
        ):
            found.append((node.lineno, f"uses subprocess.{node.attr}"))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside = list(ast.walk(node))
            captures = any(
                (isinstance(n, ast.Attribute) and n.attr == "communicate")
                or (
                    isinstance(n, ast.Attribute)
                    and n.attr == "PIPE"
                    and isinstance(n.value, ast.Name)
                    and n.value.id in modules
                )
                for n in inside
            )
            if captures and any(isinstance(n, ast.Raise) for n in inside):
                found.append((node.lineno, f"{node.name}() runs a command and raises"))
    return sorted(found)


def test_commands_run_only_through_procs_run() -> None:
    """One runner (stslab.core.procs.run): one timeout rule, one error type, one output trim."""
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sorted(PKG.rglob("*.py"))
        if path != PKG / "core" / "procs.py"
        for line, what in _runner_misuse(ast.parse(path.read_text()))
    ]
    assert not wrong, "run commands with stslab.core.procs.run:\n" + "\n".join(wrong)


def test_the_runner_check_finds_what_it_should() -> None:
    caught = _runner_misuse(
        ast.parse(
            "import subprocess as sp\n"
            "from subprocess import check_output\n"
            "sp.run(['ls'], timeout=1)\n"
            "def docker(*args):\n"
            "    p = sp.Popen(['docker', *args], stdout=sp.PIPE)\n"
            "    out, _ = p.communicate(timeout=9)\n"
            "    if p.returncode:\n"
            "        raise RuntimeError(out)\n"
            "def daemon():\n"
            "    p = sp.Popen(['dockerd'], stdout=open('log', 'wb'))\n"
            "    if p.poll() is not None:\n"
            "        raise RuntimeError('exited')\n"
        )
    )
    assert [line for line, _ in caught] == [2, 3, 4]


BACKEND_NAMES = {"kwok", "kind", "k3d", "existing"}


def _compares_a_backend_name(node: ast.AST) -> bool:
    """``x == "kind"``, ``"kwok" != x``, ``x in ("kind", "k3d")``: a test of a backend's name."""
    if not isinstance(node, ast.Compare):
        return False
    if not all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
        return False  # {"apiVersion", "kind"} <= set(d) asks about a manifest's fields
    sides = [node.left, *node.comparators]
    names: set[str] = set()
    for side in sides:
        elements = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
        names |= {
            e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)
        }
    return bool(names & BACKEND_NAMES)


def test_only_the_backends_test_a_backend_name() -> None:
    """Lab, view and command code asks a backend what it can do, never which one it is."""
    wrong = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "cluster" or "v1beta1" in rel.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and _compares_a_backend_name(node):
                wrong.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "ask the backend (stslab/cluster/base.py) instead:\n" + "\n".join(wrong)


def test_the_backend_name_check_finds_what_it_should() -> None:
    found = [
        _compares_a_backend_name(ast.parse(src, mode="eval").body)
        for src in (
            'b.name != "kwok"',
            'name in ("kind", "k3d")',
            '"kind" == x',
            'v == "pods"',
            '{"apiVersion", "kind"} <= set(d)',
        )
    ]
    assert found == [True, True, True, False, False]
