"""The code cites the project's own documents, and only those (docs/architecture.md): every
``docs/<name>.md`` a comment, docstring or document names exists, every section of
docs/architecture.md cited by name is a heading there, and nothing cites a document from outside
the repository (the design notes the project started from)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    REPO / "README.md",
    *sorted(
        path
        for folder in ("kasir", "tests", "benchmarks", "docs", "forwarder")
        for path in (REPO / folder).rglob("*")
        if path.suffix in (".py", ".md", ".html", ".css", ".js") and "node_modules" not in path.parts
    ),
]
THIS = Path(__file__).resolve()

_CITED_DOC = re.compile(r"\bdocs/([a-z0-9_-]+\.md)\b")
# (docs/architecture.md, "Data path") and docs/architecture.md's "Data path"
_CITED_SECTION = re.compile(r'docs/architecture\.md(?:,|\'s)\s*"([^"]+)"')
_OUTSIDE = re.compile(r"\bDESIGN(?:\.md)?\s*§|\bDESIGN\.md\b|\.\./shared/")


def _texts() -> list[tuple[Path, str]]:
    return [(path, path.read_text(encoding="utf-8")) for path in SOURCES if path.resolve() != THIS]


def test_every_cited_document_exists() -> None:
    missing = sorted(
        f"{path.relative_to(REPO)}: docs/{name}"
        for path, text in _texts()
        for name in set(_CITED_DOC.findall(text))
        if not (REPO / "docs" / name).exists()
    )
    assert missing == []


def test_every_cited_section_of_the_architecture_is_a_heading() -> None:
    headings = set(re.findall(r"^#+ (.+)$", (REPO / "docs" / "architecture.md").read_text(encoding="utf-8"), re.M))
    missing = sorted(
        f"{path.relative_to(REPO)}: {section!r}"
        for path, text in _texts()
        # A citation may wrap across comment lines: read it as one line of words.
        for section in set(_CITED_SECTION.findall(re.sub(r"\s+", " ", text.replace("#", " "))))
        if section not in headings
    )
    assert missing == [], f"sections of docs/architecture.md: {sorted(headings)}"


def test_nothing_cites_a_document_outside_the_repository() -> None:
    found = sorted(
        f"{path.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path, text in _texts()
        for match in _OUTSIDE.finditer(text)
    )
    assert found == []
