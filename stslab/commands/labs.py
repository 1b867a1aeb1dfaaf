"""``stslab labs``: run the labs headless (papermill), list them, or reset them to their start."""

from __future__ import annotations

import argparse
from pathlib import Path

from stslab.commands.parsing import Commands, Parser, backend_arg


def add_labs(sub: Commands[Parser]) -> None:
    """Add ``labs run``, ``labs list`` and ``labs reset`` to the command line."""
    labs = sub.add_parser("labs", help="run the labs headless, or list them")
    labs_sub = labs.add_subparsers(dest="labs_command", required=True, parser_class=Parser)
    p = labs_sub.add_parser("run", help="execute labs with papermill; nonzero exit on any failure")
    p.set_defaults(func=_labs_run)
    backend_arg(p)
    p.add_argument(
        "numbers", nargs="*", metavar="NN", help="labs to run, or notebooks (default: all)"
    )
    p.add_argument("--full", action="store_true", help="run at learner speed (no fast mode)")
    p.add_argument("--build", type=Path, help="where executed notebooks go (default build/labs)")
    p.add_argument(
        "--prove",
        action="store_true",
        help="also prove each check fails for a kept wrong answer; run exercise cells twice",
    )
    p = labs_sub.add_parser(
        "matrix",
        help="every lab headless on each Kubernetes release, each on a simulated cluster of its "
        "own; the table goes to build/matrix/matrix.md",
    )
    p.set_defaults(func=_labs_matrix)
    p.add_argument("numbers", nargs="*", metavar="NN", help="labs to run (default: all)")
    p.add_argument(
        "--kubernetes",
        metavar="MINOR,...",
        default="",
        help="releases, comma-separated (default: every one stslab can build)",
    )
    p.add_argument("--no-prove", action="store_true", help="leave out the wrong-answer proofs")
    p.add_argument("--build", type=Path, help="where the runs and table go (default build/matrix)")
    labs_sub.add_parser("list", help="list the labs").set_defaults(func=_labs_list)
    p = labs_sub.add_parser(
        "reset", help="return labs to their start: namespace, volumes, cluster objects, progress"
    )
    p.set_defaults(func=_labs_reset)
    backend_arg(p)
    p.add_argument("numbers", nargs="+", metavar="NN", help="labs to reset")
    p.add_argument(
        "--namespace", help="the namespace the lab ran in, if not lab-NN (a learner's own)"
    )


def _labs_list(args: argparse.Namespace) -> int:
    from stslab.ops import runner as labs

    for number, path in labs.discover().items():
        print(f"{number}  {path.name}")
    return 0


def _named_backend(args: argparse.Namespace) -> str | None:
    """``--backend`` if it names one; None (the labs choose) if absent or ``auto``."""
    return args.backend if args.backend and args.backend != "auto" else None


def _labs_reset(args: argparse.Namespace) -> int:
    from stslab.ops import runner as labs

    backend = _named_backend(args)
    for ns in labs.reset_labs(args.numbers, backend=backend, namespace=args.namespace):
        print(f"reset: {ns} is back at its start (and its progress cleared)")
    return 0


def _labs_matrix(args: argparse.Namespace) -> int:
    from stslab.ops import matrix

    releases = [r.strip() for r in args.kubernetes.split(",") if r.strip()]
    cells = matrix.run_matrix(releases, args.numbers, build=args.build, prove=not args.no_prove)
    print(matrix.table(cells))
    return 0 if all(c.result.ok for c in cells) else 1


def _labs_run(args: argparse.Namespace) -> int:
    from stslab.ops import runner as labs

    results = labs.run_labs(
        args.numbers,
        backend=_named_backend(args),
        fast=not args.full,
        build=args.build,
        prove=args.prove,
    )
    print(labs.table(results))
    return 0 if all(r.ok for r in results) else 1
