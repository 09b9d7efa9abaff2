"""README.md and docs/*.md point only at what the repository holds."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import REPO

LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)  # [name]: target
MARKDOWN_NAME = re.compile(r"`([\w./-]+\.md)`")  # a file named in code: `X.md`
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _tracked() -> set[str]:
    """Every file git tracks, and every folder that holds one (paths relative to the repo)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    paths = {f for f in files if f}
    paths |= {str(parent) for f in list(paths) for parent in PurePosixPath(f).parents}
    return paths - {"."}


def relative_links(text: str) -> list[str]:
    """The link targets of a markdown text that point into the repository."""
    targets = LINK.findall(text) + REFERENCE.findall(text)
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#|//)", t, re.I)]


def _in_repo(page: Path, target: str) -> str | None:
    """``target`` (relative to ``page``) as a path relative to the repository, or None."""
    path = target.split("#", 1)[0].split("?", 1)[0]
    if not path:
        return None  # an anchor in the same page
    resolved = (page.parent / path).resolve()
    try:
        return resolved.relative_to(REPO).as_posix()
    except ValueError:
        return f"../{path} (outside the repository)"


def test_the_link_finder_finds_what_a_reader_can_click():
    text = (
        '[a](docs/x.md) [![b](img.svg)](https://e.org) [c](#top) [d](../y.py#L3 "t")\n'
        "[ref]: z/w.md\n"
    )
    assert relative_links(text) == ["docs/x.md", "img.svg", "../y.py#L3", "z/w.md"]


def test_there_is_an_architecture_page_and_the_readme_links_it():
    assert (REPO / "docs" / "architecture.md").is_file()
    assert "docs/architecture.md" in relative_links((REPO / "README.md").read_text())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves_to_a_file_of_the_repository(page):
    tracked = _tracked()
    text = page.read_text(encoding="utf-8")
    broken = [
        target
        for target in relative_links(text)
        if (path := _in_repo(page, target)) is not None and path not in tracked
    ]
    assert not broken, f"{page.name} links to what the repository does not hold: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_markdown_file_named_in_code_is_in_the_repository(page):
    """`DESIGN.md` in backticks reads as a file of the course: it must be one."""
    tracked = _tracked()
    names = MARKDOWN_NAME.findall(page.read_text(encoding="utf-8"))
    missing = [
        n for n in names if n not in tracked and not any(t.endswith("/" + n) for t in tracked)
    ]
    assert not missing, f"{page.name} names files the repository does not hold: {missing}"
