"""JupyterLab in a browser page (Playwright), as a learner drives it: for tests and benchmarks.

``PROGRESS`` is evaluated in the page: the outputs' text, and how many cells ran and are still
queued or running. :func:`run_all` clicks Run → Run All Cells; :func:`open_notebook` waits for a
notebook's cells and its kernel.
"""

from __future__ import annotations

import time
from typing import Any

# Where the run is: outputs' text, and whether any cell is still queued or running ([*]).
PROGRESS = """() => {
  const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))
    .map((p) => p.textContent.trim());
  return {
    text: Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output'))
      .map((o) => o.textContent).join('\\n'),
    busy: prompts.filter((p) => p.includes('*')).length,
    ran: prompts.filter((p) => /\\[\\d+\\]/.test(p)).length,
    cells: prompts.length,
  };
}"""


def open_notebook(page: Any, url: str, cells: int, timeout_ms: int = 90_000) -> None:
    """Go to a notebook's URL; wait for its ``cells`` cells and an idle kernel."""
    page.goto(url, timeout=timeout_ms)
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-Notebook .jp-Cell').length >= n",
        arg=cells,
        timeout=timeout_ms,
    )
    # The kernel must be up before Run All, or the run waits on a kernel dialog.
    idle = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
    page.wait_for_selector(idle, timeout=timeout_ms)


def run_all(page: Any) -> dict[str, Any]:
    """Run → Run All Cells; where it progresses.

    Seen once on a cold machine: the click landed and no cell was queued (the kernel stayed
    idle), so if nothing starts, click again.
    """
    progress: dict[str, Any] = {}
    for _attempt in range(3):
        page.click(".jp-Notebook .jp-Cell >> nth=0")
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        started_run = time.monotonic()
        while time.monotonic() - started_run < 15:
            progress = page.evaluate(PROGRESS)
            if progress["ran"] or progress["busy"]:
                return progress
            page.wait_for_timeout(500)
    return progress
