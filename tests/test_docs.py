"""The README is a front page, and the README and docs/ link only to what exists.

Every relative link in README.md and docs/*.md must name a file in the repository, and every
``#anchor`` (in the same file, or ``other.md#anchor``) must match a heading of the target file
as GitHub names it: lowercase, punctuation dropped except ``-`` and ``_``, spaces to ``-``, and
``-1``, ``-2`` … after a heading that repeats. No cluster is needed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 150
# Each reader's guide, linked from the README's front page.
READER_DOCS = ("learners.md", "instructors.md", "maintainers.md", "internals.md")

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^\s<>()]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", re.IGNORECASE)
SCHEME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def where(self, root: Path) -> str:
        return f"{self.source.relative_to(root)}:{self.line}: ({self.target})"


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _blank(match: re.Match[str]) -> str:
    """The same number of lines, without the text, so line numbers stay right."""
    return "\n" * match.group(0).count("\n")


def _fenced(text: str) -> Iterator[tuple[str, bool]]:
    """Each line, and whether it belongs to a fenced code block (its fences included)."""
    fence: str | None = None
    for line in text.splitlines():
        if fence is None:
            opened = FENCE.match(line)
            if opened:
                fence = opened.group(1)
            yield line, fence is not None
        else:
            closing = line.strip()
            if len(closing) >= len(fence) and set(closing) == {fence[0]}:
                fence = None
            yield line, True


def _without_code(text: str) -> str:
    """The text with fenced blocks and code spans blanked: links there are not links."""
    prose = "\n".join("" if code else line for line, code in _fenced(text))
    return CODE_SPAN.sub(_blank, prose)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading with this text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def headings(text: str) -> list[str]:
    return [m.group(1) for line, code in _fenced(text) if not code and (m := HEADING.match(line))]


def anchors_of(text: str) -> set[str]:
    seen: dict[str, int] = {}
    found = set(HTML_ANCHOR.findall(text))
    for heading in headings(text):
        slug = github_slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    return frozenset(anchors_of(path.read_text(encoding="utf-8")))


def links(path: Path) -> Iterator[Link]:
    text = _without_code(path.read_text(encoding="utf-8"))
    for pattern in (INLINE_LINK, REFERENCE_DEF):
        for m in pattern.finditer(text):
            line = text.count("\n", 0, m.start(1)) + 1
            yield Link(path, line, m.group(1))


def problems(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with the relative links of one Markdown file, one line each."""
    wrong = []
    for link in links(path):
        if not link.target or SCHEME.match(link.target):
            continue  # a web address: not checked here
        file_part, _, anchor = link.target.partition("#")
        file_part = unquote(file_part)
        if file_part:
            base = root if file_part.startswith("/") else path.parent
            target = (base / file_part.lstrip("/")).resolve()
            if not target.is_relative_to(root.resolve()):
                wrong.append(f"{link.where(root)} points outside the repository")
                continue
            if not target.exists():
                wrong.append(f"{link.where(root)} names a file that does not exist")
                continue
        else:
            target = path.resolve()
        if anchor and target.suffix == ".md" and unquote(anchor) not in anchors(target):
            wrong.append(
                f"{link.where(root)} names no heading of {target.relative_to(root.resolve())}"
            )
    return wrong


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Two commands", "two-commands"),
        ("The `stslab` command", "the-stslab-command"),
        ("Backends: where the lab cluster runs", "backends-where-the-lab-cluster-runs"),
        ("The simulated cluster, in detail", "the-simulated-cluster-in-detail"),
        ("kind's offline node image", "kinds-offline-node-image"),
        ("Headless runs: `stslab labs run`", "headless-runs-stslab-labs-run"),
        ("stslab — learn StatefulSets", "stslab--learn-statefulsets"),
        ("snake_case and [a link](x.md)", "snake_case-and-a-link"),
    ],
)
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_a_repeated_heading_is_numbered_and_code_is_not_a_heading() -> None:
    text = "# Notes\n\n## Notes\n\n```sh\n# not a heading\n```\n\n## Notes\n"
    assert anchors_of(text) == {"notes", "notes-1", "notes-2"}


def test_the_checker_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "tool.py").write_text("")
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Fake GPUs\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n## A section\n\n"
        "[fine](#a-section) [fine](other.md#fake-gpus) [fine](../tool.py) [web](https://x.io/#y)\n"
        "[no file](tool.py) [no heading](other.md#benchmarks) [no heading here](#nope)\n"
        "`[in code](missing.md)` and a table | [a cell](../missing.md) |\n\n"
        "```md\n[in a fence](missing.md)\n```\n\n[ref]: ../../outside.md\n"
    )
    wrong = problems(page, tmp_path)
    assert wrong == [
        "docs/page.md:6: (tool.py) names a file that does not exist",
        "docs/page.md:6: (other.md#benchmarks) names no heading of docs/other.md",
        "docs/page.md:6: (#nope) names no heading of docs/page.md",
        "docs/page.md:7: (../missing.md) names a file that does not exist",
        "docs/page.md:13: (../../outside.md) points outside the repository",
    ], "\n".join(wrong)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    wrong = problems(path)
    assert not wrong, "\n".join(wrong)


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, at most {README_MAX_LINES}: move the detail to docs/"
    )
    assert "make lab" in README.read_text(encoding="utf-8")
    assert "make test" in README.read_text(encoding="utf-8")


def test_the_readme_sends_each_reader_to_their_guide() -> None:
    targets = {link.target.partition("#")[0] for link in links(README)}
    missing = [name for name in READER_DOCS if f"docs/{name}" not in targets]
    assert not missing, f"README.md does not link to {', '.join(missing)}"
    for name in READER_DOCS:
        assert (DOCS / name).exists(), f"docs/{name} is missing"


def test_the_sections_others_add_figures_to_exist() -> None:
    assert "benchmarks" in anchors(DOCS / "maintainers.md")
    assert "fake-gpus" in anchors(DOCS / "internals.md")
