"""What every part of the ``stslab`` command line shares: its parser class and common options.

Every command's parser sets ``func`` (:data:`Handler`), the handler :func:`stslab.cli.main`
calls with the parsed arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from stslab.cluster.choose import CHOICES
from stslab.core.errors import UsageError

# What a subcommand's parser sets as ``func`` (``set_defaults``): it runs the command.
Handler = Callable[[argparse.Namespace], int]
# The ``add_subparsers`` action of a parser: where a command group adds its commands.
Commands = argparse._SubParsersAction  # annotations only: ``Commands[Parser]``


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that say how to get help."""

    def error(self, message: str) -> NoReturn:
        """Raise a one-line :class:`~stslab.core.errors.UsageError` instead of exiting."""
        raise UsageError(message, f"see `{self.prog} --help`")


def backend_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--backend``: which lab cluster the command acts on."""
    p.add_argument(
        "--backend",
        choices=CHOICES,
        metavar="{" + ",".join(CHOICES) + "}",
        help="which lab cluster (default: STSLAB_BACKEND, else auto)",
    )
