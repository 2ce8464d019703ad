"""The documentation holds together: README.md is a short front page, the manual is docs/*.md, and no link is dead.

README.md is what a newcomer reads in five minutes; the manual lives in docs/ pages it links to. A
page nobody links to, a link to a moved file or a renamed heading, and a front page that grows back
into a manual all happen silently on GitHub, so they are checked here. Anchors follow GitHub's rules
(lower case, punctuation dropped, spaces to hyphens, a repeated heading gets -1, -2...). A small
parser instead of a Markdown library: only fences, headings, code spans and inline links matter.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 200
"""The front page's budget: past it, the text belongs in a docs/ page."""

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img\s[^>]*\bsrc=\"([^\"]+)\"")


def pages() -> list[Path]:
    """README.md and every page of the manual (docs/_incoming and other folders are drafts, not pages)."""
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks (a fence's `# comment` is no heading, its `[a](b)` no link)."""
    out, fenced = [], False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of the file's headings: the second "Deploy" is #deploy-1."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(f"{base}-{count}" if count else base)
    return found


def links(path: Path) -> list[str]:
    """Every inline link target in the file's prose (code spans hold examples, not links)."""
    return [link or image for line in prose(path) for link, image in LINK.findall(CODE_SPAN.sub("", line))]


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) and not target.startswith("//")


def test_slug_follows_githubs_rules() -> None:
    assert slug("`generate_text` — `POST` (roles `user`, `admin`); `GET` describes the schema") == (
        "generate_text--post-roles-user-admin-get-describes-the-schema"
    )
    assert slug("The demo web app (`web/`)") == "the-demo-web-app-web"
    assert slug("Region, timeouts, memory") == "region-timeouts-memory"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    """A link to a file names one that exists; a link with #anchor names a heading of that file."""
    dead = []
    for target in filter(relative, links(page)):
        path_part, _, anchor = target.partition("#")
        file = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not file.exists():
            dead.append(f"{target}: no file {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            dead.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not dead, f"dead links in {page.relative_to(ROOT)}:\n" + "\n".join(dead)


def test_readme_links_every_docs_page() -> None:
    """A page of the manual that README.md does not link to is a page nobody finds."""
    linked = {(ROOT / unquote(t.partition("#")[0])).resolve() for t in links(README) if relative(t)}
    orphans = [p.relative_to(ROOT).as_posix() for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not orphans, f"README.md links none of: {orphans}"


def test_readme_stays_a_front_page() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (budget {README_MAX_LINES}): move the detail into a docs/ page"


def test_readme_says_the_two_commands_and_the_first_call() -> None:
    """What a newcomer needs before any link: the two commands, a screenshot, a call against the local stack."""
    text = README.read_text()
    assert "make dev" in text and "make test" in text
    assert re.search(r"!\[[^\]]+\]\(docs/[^)]+\.png\)", text)
    assert "signInWithPassword" in text and "/us-central1/generate_text" in text


def test_client_matrix_markers_are_on_the_openai_page() -> None:
    """tests/test_client_matrix.py rewrites the section between these markers; it must live in exactly one page."""
    holders = [p.relative_to(ROOT).as_posix() for p in pages() if "<!-- client-matrix:start -->" in p.read_text()]
    assert holders == ["docs/openai.md"]
