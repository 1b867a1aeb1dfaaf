"""kubectl in the labs: a command the learner writes, run as written, judged by the cluster after.

A kubectl exercise is a cell such as::

    lab.kubectl("scale_scratch", "kubectl -n lab-01 scale statefulset scratch --replicas=???")

The learner replaces ``???`` (or runs the same command in a terminal, on the lab's kubeconfig:
``eval $(stslab env)``). The command runs with the pinned kubectl on the lab cluster, in the lab's
namespace; the next check reads the cluster, not the command, so a terminal works the same.
What cannot work is refused in one line before anything runs: another program, another namespace,
a command still holding ``???``. A command kubectl refuses (an unknown flag, a wrong resource) is
one FAIL line in kubectl's own words.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from stslab.core.procs import run
from stslab.lab.check import stuck, verdict
from stslab.lab.seen_on_kind import SeenOnKind

PLACEHOLDER = "???"
# Flags that name a namespace: the lab's is the only one a lab's kubectl may use.
NAMESPACE_FLAGS = ("-n", "--namespace")
# Flags that change nothing in what a recorded command printed.
TERMINAL_FLAGS = ("-i", "-t", "-it", "-ti", "--stdin", "--tty")


def unwritten(command: str | None) -> bool:
    """Whether the learner has yet to write the command (``None``, or ``???`` still in it)."""
    return command is None or PLACEHOLDER in command


def argv(command: str, namespace: str, exercise: str) -> list[str]:
    """The command's arguments after ``kubectl``, in the lab's namespace; refused in one line.

    ``-n``/``--namespace`` must name the lab's namespace (added when missing); ``-A`` and
    ``--all-namespaces`` are refused: a lab acts on its own namespace only.
    """
    try:
        words = shlex.split(command)
    except ValueError as e:
        _refuse(exercise, f"the command does not parse ({e})", "check its quotes")
    if words[:1] != ["kubectl"]:
        _refuse(exercise, f"{command!r} is not a kubectl command", "start it with `kubectl`")
    args = words[1:]
    given = [
        a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else "")
        for i, a in enumerate(args)
        if a in NAMESPACE_FLAGS or a.startswith("--namespace=")
    ]
    if any(a in ("-A", "--all-namespaces") for a in args) or [n for n in given if n != namespace]:
        _refuse(
            exercise,
            f"the command acts outside namespace {namespace}",
            f"this lab works in {namespace}: use `-n {namespace}` (or leave -n out)",
        )
    return args if given else ["-n", namespace, *args]


def run_kubectl(
    command: str,
    namespace: str,
    exercise: str,
    *,
    timeout: float = 120,
    cwd: Path | None = None,
) -> str:
    """Run the learner's ``command`` (see :func:`argv`); print and return what kubectl printed.

    ``KUBECONFIG`` and ``PATH`` are the kernel's, which a :class:`~stslab.lab.Lab` points at the
    lab cluster and the pinned kubectl. A failure is FAIL in kubectl's words, with the ladder.
    ``cwd``: where ``-f FILE`` is read (the lab's folder of files).
    """
    args = argv(command, namespace, exercise)
    print("$ " + shlex.join(["kubectl", *args]))
    done = run(["kubectl", *args], timeout=timeout, check=False, env=dict(os.environ), cwd=cwd)
    if done.stdout.strip():
        print(done.stdout.rstrip())
    if not done.ok:
        said = (done.stderr or done.stdout).strip().splitlines()
        last = said[-1] if said else f"exit {done.returncode}"
        verdict(
            False,
            "",
            f"{exercise}: kubectl refused it — {last}",
            stuck(exercise),
            exercise=exercise,
        )
    return str(done.stdout)


def from_kind(command: str, kept: Any, namespace: str, exercise: str, recorded: SeenOnKind) -> str:
    """A container's command on a backend that runs none: what the kept command printed on kind.

    The learner's command is parsed and refused as :func:`argv` would; it must then be the
    kept one (give or take ``-n`` and ``-it``), since only that one was run on kind. Returns
    what it printed there, shown labelled as a recording.
    """
    mine = _same_words(argv(command, namespace, exercise))
    if not isinstance(kept, str) or mine != _same_words(argv(kept, namespace, exercise)):
        verdict(
            False,
            "",
            f"{exercise}: no container runs on the simulated backend, and kind ran only "
            f"the kept command, not {command!r}",
            stuck(exercise),
            exercise=exercise,
        )
    print("$ " + command)
    return str(recorded.show(exercise)["printed"])


def account_may_not(command: str, namespace: str, exercise: str, recorded: SeenOnKind) -> str:
    """A command that reads every namespace, on a workshop account that may read only its own.

    The command is parsed and refused as :func:`argv` would; then what the kept command printed
    on kind is shown, labelled. The lab does the command's work on the learner's own objects.
    """
    argv(command, namespace, exercise)
    print(
        f"$ {command}\nNot run: it reads every namespace's pods, and a workshop account may read "
        "only its own. What it printed on kind:"
    )
    return str(recorded.show(exercise)["printed"])


def _same_words(args: list[str]) -> list[str]:
    """The arguments without the namespace and terminal flags (they print nothing different)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in NAMESPACE_FLAGS:
            skip = True
        elif not a.startswith("--namespace=") and a not in TERMINAL_FLAGS:
            out.append(a)
    return out


def _refuse(exercise: str, what: str, fix: str) -> None:
    verdict(False, "", f"{exercise}: {what}", f"{fix}; {stuck(exercise)}", exercise=exercise)
