"""YAML in the labs: what a learner writes, and what a lab applies.

A learner's YAML is parsed, then judged by the API server in a dry run, in one line each; what a
lab applies is shown in the notebook (:func:`show`).

    docs = lab.written("scratch_yaml", '''
    apiVersion: apps/v1
    kind: StatefulSet
    ...
    ''')                 # PASS: the API server accepts StatefulSet scratch (dry run) — or FAIL
    lab.apply_all(docs)  # a separate cell: server-side apply, so it can be run again

A skeleton marks what is left to write with ``???``; such a text is unanswered (headless runs
take the kept solution instead: a whole text, or ``{fill: [...]}``, the values for the skeleton's
``???`` in order, where the skeleton holds values only the running lab knows).
"""

from __future__ import annotations

from html import escape
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from stslab.core.apply import apply
from stslab.core.kube import server_said
from stslab.lab.check import stuck, verdict

PLACEHOLDER = "???"


def unwritten(text: Any) -> bool:
    """Whether a learner's YAML still holds a ``???`` placeholder."""
    return isinstance(text, str) and PLACEHOLDER in text


def solved(skeleton: str, kept: Any, exercise: str) -> Any:
    """The kept solution for ``skeleton``: a whole text, or ``{fill: [...]}`` put in its ``???``.

    A fill keeps what only the running lab knows (its namespace, a node's name) out of the
    kept file: the skeleton already names it.
    """
    if isinstance(kept, dict) and "fill" in kept:
        return filled(skeleton, kept["fill"], exercise)
    return kept


def filled(skeleton: str, values: list[Any], exercise: str) -> str:
    """``skeleton`` with its ``???`` replaced by ``values``, in order."""
    parts = skeleton.split(PLACEHOLDER)
    if len(parts) - 1 != len(values):
        raise ValueError(f"{exercise}: {len(parts) - 1} placeholders, {len(values)} values kept")
    out = parts[0]
    for value, rest in zip(values, parts[1:], strict=True):
        out += str(value) + rest
    return out


def parse(text: str, exercise: str) -> list[dict[str, Any]]:
    """The documents of ``text``; a one-line FAIL where it is not YAML or not a manifest."""
    hint = "indent with spaces, one document per object, `---` between them"
    if unwritten(text):
        verdict(
            False, "", f"{exercise}: replace each {PLACEHOLDER} with yours", hint, exercise=exercise
        )
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        verdict(False, "", f"{exercise}: not YAML — {where}{problem}", hint, exercise=exercise)
    if not docs:
        verdict(False, "", f"{exercise}: the YAML is empty", hint, exercise=exercise)
    for d in docs:
        if not isinstance(d, dict) or not {"apiVersion", "kind"} <= set(d):
            verdict(
                False,
                "",
                f"{exercise}: every document needs apiVersion, kind and metadata.name",
                "start from the skeleton in the cell",
                exercise=exercise,
            )
    return docs


def dry_run(
    api: client.ApiClient, namespace: str, docs: list[dict[str, Any]], exercise: str
) -> None:
    """PASS if the API server would accept every document; else FAIL with its own message."""
    names = []
    for d in docs:
        what = f"{d.get('kind')} {(d.get('metadata') or {}).get('name', '?')}"
        try:
            apply(api, d, namespace, dry_run=True)
        except ApiException as e:
            verdict(
                False,
                "",
                f"the API server refuses {what}: {server_said(e)}",
                stuck(exercise),
                exercise=exercise,
            )
        except ResourceNotFoundError:
            verdict(
                False,
                "",
                f"the API server serves no kind {d.get('kind')} in {d.get('apiVersion')}",
                "check apiVersion and kind (kubectl api-resources lists them)",
                exercise=exercise,
            )
        names.append(what)
    verdict(True, f"the API server accepts {', '.join(names)} (dry run)", "", "", exercise=exercise)


SHOWN_OPEN_LINES = 12  # a manifest this short is shown unfolded


def show(manifest: dict[str, Any]) -> None:
    """Show, in a notebook, the manifest just applied, as YAML (folded when it is long)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    text = yaml.safe_dump(manifest, sort_keys=False)
    what = f"{manifest.get('kind', '?')}/{manifest.get('metadata', {}).get('name', '?')}"
    lines = text.count("\n")
    state = " open" if lines <= SHOWN_OPEN_LINES else ""
    html_ = (
        f"<details{state}><summary><code>kubectl apply --server-side -f -</code> {escape(what)}"
        f" ({lines} lines of YAML)</summary><pre>{escape(text)}</pre></details>"
    )
    display({"text/html": html_, "text/plain": f"applied {what}:\n{text}"}, raw=True)  # type: ignore[no-untyped-call]
