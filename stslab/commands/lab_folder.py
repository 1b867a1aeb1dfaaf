"""``stslab lab [DIR]``: the labs copied into a folder of the learner's, then JupyterLab there.

A kit installed with pip keeps its notebooks inside site-packages, where a learner should not
work. ``stslab lab`` copies them (and the concepts table they link to) into ``DIR`` once, and
on later runs brings in only what is new or changed in the kit: a notebook the learner has
edited is never overwritten. A small record in the folder (:data:`RECORD`) holds the digest of
each file as copied, which is how an edit is told from an older copy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stslab.cluster.existing import NAME_RE
from stslab.commands.parsing import Commands, Parser
from stslab.core.errors import UsageError
from stslab.core.files import write_atomic
from stslab.core.paths import project_root

RECORD = ".stslab-copied.json"
DEFAULT_DIR = Path("stslab-labs")


@dataclass
class Copied:
    """What :func:`copy_labs` did, by file name."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the learner's edits, left alone


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kit_files() -> list[Path]:
    """The files a learner works with: the notebooks and the concepts table."""
    labs = project_root() / "labs"
    return sorted(labs.glob("[0-9][0-9]-*.ipynb")) + [labs / "CONCEPTS.md"]


# The parameters cell's namespace line, as it sits in a notebook's JSON (quotes escaped).
_NAMESPACE_LINE = re.compile(rb'namespace = \\"lab-\d\d\\"')


def _content(src: Path, namespace: str | None) -> bytes:
    """What the learner's copy of ``src`` holds: the kit's file, its namespace set if asked."""
    data = src.read_bytes()
    if namespace and src.suffix == ".ipynb":
        data = _NAMESPACE_LINE.sub(f'namespace = \\"{namespace}\\"'.encode(), data, count=1)
    return data


def copy_labs(dest: Path, namespace: str | None = None) -> Copied:
    """Copy the kit's labs into ``dest``; a file the learner changed since is kept as it is.

    ``namespace``: the copies' parameters cell names it instead of the lab's own ``lab-NN``
    (a workshop learner's namespace, the one their account may use).
    """
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is a file, not a folder", "name a folder for the labs")
    dest.mkdir(parents=True, exist_ok=True)
    record_path = dest / RECORD
    try:
        record: dict[str, str] = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    done = Copied()
    for src in kit_files():
        content = _content(src, namespace)
        target, theirs = dest / src.name, hashlib.sha256(content).hexdigest()
        if not target.exists():
            done.new.append(src.name)
        elif (mine := _digest(target)) == theirs:
            record[src.name] = theirs
            continue
        elif record.get(src.name) == mine:  # an older copy of ours, untouched: bring it up
            done.updated.append(src.name)
        else:
            done.kept.append(src.name)
            continue
        target.write_bytes(content)
        record[src.name] = theirs
    write_atomic(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return done


def add_lab(sub: Commands[Parser]) -> None:
    """Add ``lab [DIR]`` to the command line."""
    p = sub.add_parser("lab", help="copy the labs into a folder of yours and open JupyterLab there")
    p.set_defaults(func=_lab)
    p.add_argument(
        "dir", nargs="?", type=Path, default=DEFAULT_DIR, help="the folder (default ./stslab-labs)"
    )
    p.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    p.add_argument("--copy-only", action="store_true", help="copy the labs; do not open JupyterLab")
    p.add_argument("--namespace", help="the labs run in this namespace (a workshop account's own)")


def _lab(args: argparse.Namespace) -> int:
    dest: Path = args.dir.resolve()
    if args.namespace is not None and not NAME_RE.match(args.namespace):
        raise UsageError(
            f"--namespace {args.namespace!r} is not a namespace name",
            "use lowercase letters, digits and '-' (your workshop namespace, e.g. learner-ann)",
        )
    done = copy_labs(dest, args.namespace)
    if done.new or done.updated:
        print(f"copied {len(done.new)} new and {len(done.updated)} updated files into {dest}")
    if done.kept:
        print(
            f"kept your edits to {', '.join(done.kept)} (the kit's copy is newer; to take it, "
            "move yours aside and run `stslab lab` again)"
        )
    if args.copy_only:
        return 0
    print(f"Opening JupyterLab on http://127.0.0.1:{args.port}/ (the URL with its token follows)")
    cmd = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1"]
    cmd += [f"--ServerApp.port={args.port}", "--no-browser", f"--ServerApp.root_dir={dest}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    # JupyterLab takes this process over: it runs until stopped (Ctrl-C), as `make lab`'s does.
    os.execv(sys.executable, [*cmd, str(dest / "00-index.ipynb")])
    return 0  # not reached
