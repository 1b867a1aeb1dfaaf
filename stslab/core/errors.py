"""The small, flat set of errors stslab raises.

Every error carries a one-line cause and the command or step that fixes it; the CLI prints
``error: <cause> — <fix>`` and exits nonzero.
"""

from __future__ import annotations


class StslabError(Exception):
    """Base error: ``cause`` says what is wrong, ``fix`` what to do about it."""

    exit_code = 1

    def __init__(self, cause: str, fix: str = "") -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.cause} — {self.fix}" if self.fix else self.cause

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it in a notebook: the one line, not a traceback."""
        return [f"error: {self}"]


class UsageError(StslabError):
    """Bad input from the user: an unknown backend, option or value."""

    exit_code = 2


class ToolMissingError(StslabError):
    """A program the chosen backend needs is not installed."""


class PortInUseError(StslabError):
    """A port the cluster wants to listen on is taken."""


class ClusterStateError(StslabError):
    """The lab cluster is not in the state the command needs (absent, already up, broken)."""


class WaitTimeoutError(StslabError):
    """Something did not reach the expected condition in time."""
