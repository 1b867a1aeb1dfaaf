"""Run the labs headless with papermill (``stslab labs run``).

For maintainers, and for instructors checking a workshop's cluster before class.

Each lab gets its parameters injected (backend, its own namespace ``lab-NN``, fast mode), runs
top to bottom, and is written executed to the build directory; its checks are its assertions.

``stslab labs reset NN`` returns labs to their starting point (:func:`reset_labs`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stslab.core.errors import StslabError, UsageError
from stslab.core.paths import HEADLESS_ENV, WRONG_ENV, build_dir, project_root
from stslab.core.procs import environment
from stslab.ops import proving


@dataclass
class LabResult:
    """How one headless run went."""

    number: str
    path: Path
    output: Path
    ok: bool
    seconds: float
    error: str = ""


def labs_dir() -> Path:
    """Where the numbered notebooks live."""
    return project_root() / "labs"


def discover() -> dict[str, Path]:
    """Numbered labs by their number (``"01"`` → ``labs/01-....ipynb``)."""
    return {p.name[:2]: p for p in sorted(labs_dir().glob("[0-9][0-9]-*.ipynb"))}


def select(numbers: list[str]) -> list[Path]:
    """The labs named by number (``1``, ``01`` or ``01-stateless...``), all when empty.

    A notebook's path (``my-labs/01-stateless-vs-stateful.ipynb``, a learner's copy) names itself.
    """
    found = discover()
    if not numbers:
        return list(found.values())
    out = []
    for n in numbers:
        if n.endswith(".ipynb") and Path(n).name[:2] in found:
            if not Path(n).is_file():
                raise UsageError(f"there is no notebook {n}", "check the path")
            out.append(Path(n).resolve())
            continue
        key = n.split("-")[0].zfill(2)
        if key not in found:
            raise UsageError(f"there is no lab {n!r}", f"choose from {', '.join(found)}")
        out.append(found[key])
    return out


def run_lab(
    path: Path,
    *,
    backend: str | None,
    fast: bool,
    build: Path,
    timeout: float = 600,
    namespace: str | None = None,
    parameters: Mapping[str, object] | None = None,
    prove: bool = False,
    wrong: str | None = None,
    start_timeout: float = 60,
) -> LabResult:
    """Execute one lab with papermill; never raises for a failing lab.

    ``namespace`` replaces the lab's own ``lab-NN`` (a learner's namespace on a shared cluster);
    ``parameters`` are further values for the lab's parameters cell (``timeout``, ...).
    ``prove`` adds the proofs of :mod:`stslab.ops.proving` (wrong predictions fail their checks,
    exercise cells run twice); ``wrong`` runs the lab up to exercise ``wrong``'s check with its
    kept wrong answer (that run should fail). ``start_timeout`` bounds the kernel's start (many
    kernels starting at once on a busy machine need longer than the default minute).
    """
    import papermill as pm

    number = path.name[:2]
    build.mkdir(parents=True, exist_ok=True)
    out = build / path.name
    source = path
    if prove:
        source = proving.proving_copy(path, build / "proving" / path.name)
    if wrong:
        source = proving.up_to_check(path, wrong, build / "wrong" / path.name)
    params: dict[str, object] = {
        "backend": backend,
        "namespace": namespace or f"lab-{number}",
        "fast": fast,
    }
    params |= dict(parameters or {})
    start = time.monotonic()
    # The kernel learns its notebook as under JupyterLab (progress files results by lab), and
    # that no one is there to click (the panels draw pictures instead of widgets).
    env = {"JPY_SESSION_NAME": str(path), HEADLESS_ENV: "1", WRONG_ENV: wrong or ""}
    try:
        with environment(**env):
            pm.execute_notebook(
                str(source),
                str(out),
                parameters=params,
                kernel_name="python3",
                cwd=str(path.parent),
                progress_bar=False,
                execution_timeout=timeout,
                start_timeout=start_timeout,
            )
    except pm.PapermillExecutionError as e:
        return LabResult(
            number,
            path,
            out,
            False,
            time.monotonic() - start,
            f"cell {e.exec_count}: {e.ename}: {e.evalue}".splitlines()[0][:200],
        )
    return LabResult(number, path, out, True, time.monotonic() - start)


def run_labs(
    numbers: list[str],
    *,
    backend: str | None = None,
    fast: bool = True,
    build: Path | None = None,
    prove: bool = False,
) -> list[LabResult]:
    """Run the selected labs one after another, printing a line as each ends.

    On a shared cluster (a workshop account) every lab runs in the account's own namespace.
    """
    build = build or build_dir() / "labs"
    paths = select(numbers)
    namespace = home_namespace(backend)
    results = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        result = run_lab(
            path, backend=backend, fast=fast, build=build, prove=prove, namespace=namespace
        )
        results.append(result)
        if not result.ok:
            # A failed lab stops before its cleanup: undo what it made (its namespace, the
            # nodes it pooled or cordoned), so that the next lab starts on a clean cluster.
            try:
                reset_labs([result.number], backend=backend, namespace=namespace)
            except Exception as e:  # noqa: BLE001 - the failure itself is what matters
                print(f"  (could not reset lab {result.number}: {e})", flush=True)
    return results


def home_namespace(backend: str | None) -> str | None:
    """The namespace a shared cluster's account works in, or None (labs use ``lab-NN``)."""
    from stslab.cluster.lifecycle import open_cluster

    try:
        cluster = open_cluster(backend)
    except StslabError:  # no cluster: each lab says so itself
        return None
    return cluster.record.namespace if cluster.shared and cluster.record.namespace else None


def reset_labs(
    numbers: list[str], *, backend: str | None = None, namespace: str | None = None
) -> list[str]:
    """Return labs to their starting point; return the namespaces reset.

    For each lab: what :meth:`stslab.lab.Lab.cleanup` removes (its namespace, claims, volumes,
    labelled cluster objects, machines it added, cordons) and its progress records, here and,
    on a shared cluster, in the learner's progress ConfigMap. Other labs are left alone.
    ``namespace`` resets a lab run in another namespace (a learner's, on a shared cluster).
    """
    from stslab.cluster.lifecycle import open_cluster
    from stslab.lab import progress
    from stslab.lab.context import reset

    if not numbers:
        raise UsageError("say which labs to reset", f"choose from {', '.join(discover())}")
    if namespace and len(numbers) > 1:
        raise UsageError("--namespace resets one lab at a time", "name a single lab")
    paths = select(numbers)  # unknown numbers fail here, before anything is removed
    cluster = open_cluster(backend, patient=True)
    done = []
    for path in paths:
        lab = f"lab-{path.name[:2]}"
        ns = namespace or lab
        reset(ns, cluster=cluster)
        progress.clear_local(lab)
        if cluster.shared:
            progress.clear_cluster(cluster.api, cluster.record.namespace, lab)
        done.append(ns)
    return done


def table(results: list[LabResult]) -> str:
    """The per-lab pass/fail/time table."""
    lines = [f"{'LAB':<34}{'RESULT':<8}{'TIME':>8}"]
    for r in results:
        lines.append(
            f"{r.path.stem:<34}{'pass' if r.ok else 'FAIL':<8}{r.seconds:>7.1f}s"
            + (f"   {r.error}" if r.error else "")
        )
    return "\n".join(lines)
