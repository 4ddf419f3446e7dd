"""Links between the README and the user guide lead somewhere: the file exists and so does the heading."""

from __future__ import annotations

from pathlib import Path

import pytest
from readme_commands import ROOT, heading_anchors, relative_links

# Every Markdown page of the project: the README, the user guide and the pages beside the code. Found, not
# listed, so a new page is checked from its first commit.
_SKIP = {".git", ".venv", "node_modules", "mutants", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
PAGES = tuple(
    sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.md")
        if not _SKIP & set(path.relative_to(ROOT).parts)
    )
)


def _resolve(page: Path, target: str) -> Path:
    return (page.parent / target).resolve() if target else page


@pytest.mark.parametrize("page_name", PAGES)
def test_links_resolve(page_name: str) -> None:
    page = ROOT / page_name
    broken = []
    for target, anchor in relative_links(page.read_text(encoding="utf-8")):
        path = _resolve(page, target)
        if not path.exists():
            broken.append(f"{target} (no such file)")
            continue
        headings = heading_anchors(path.read_text(encoding="utf-8")) if path.suffix == ".md" else set()
        if anchor and path.suffix == ".md" and anchor not in headings:
            broken.append(f"{target}#{anchor} (no such heading)")
    assert not broken, f"{page_name} has broken links: {broken}"


def test_every_page_of_the_guide_is_checked() -> None:
    for page in (
        "README.md",
        "docs/README.md",
        "docs/credentials.md",
        "docs/reliability.md",
        "docs/gitops.md",
    ):
        assert page in PAGES, page
    assert len(PAGES) >= 12, PAGES


def test_link_checker_sees_links_and_headings() -> None:
    """The checker itself: a page with known links and headings is read as expected."""
    text = "# A `spec.baseModel` title\n\n## Same\n\n## Same\n\n[x](other.md#a-b) [y](#same-1) [u](https://e.x/)\n"
    assert relative_links(text) == [("other.md", "a-b"), ("", "same-1")]
    assert heading_anchors(text) == {"a-specbasemodel-title", "same", "same-1"}
