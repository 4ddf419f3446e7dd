"""Links between the README and the user guide lead somewhere: the file exists and so does the heading."""

from __future__ import annotations

from pathlib import Path

import pytest
from readme_commands import ROOT, heading_anchors, relative_links

# The README and the pages of the user guide this suite looks after.
PAGES = (
    "README.md",
    "docs/README.md",
    "docs/conditions.md",
    "docs/configuration.md",
    "docs/credentials.md",
    "docs/troubleshooting.md",
    "docs/reference/tuningjob.md",
    "docs/reference/tunedmodel.md",
    "docs/reference/tuningtenant.md",
    "docs/multi-tenancy.md",
)

# Pages other contributors are still writing. A link to one is checked like any other once the file exists;
# until then only its name is checked against this list.
PENDING = frozenset({"bench/RESULTS.md", "docs/gitops.md", "docs/reliability.md"})


def _resolve(page: Path, target: str) -> Path:
    return (page.parent / target).resolve() if target else page


@pytest.mark.parametrize("page_name", PAGES)
def test_links_resolve(page_name: str) -> None:
    page = ROOT / page_name
    broken = []
    for target, anchor in relative_links(page.read_text(encoding="utf-8")):
        path = _resolve(page, target)
        if not path.exists():
            if str(path.relative_to(ROOT)) not in PENDING:
                broken.append(f"{target} (no such file)")
            continue
        headings = heading_anchors(path.read_text(encoding="utf-8")) if path.suffix == ".md" else set()
        if anchor and path.suffix == ".md" and anchor not in headings:
            broken.append(f"{target}#{anchor} (no such heading)")
    assert not broken, f"{page_name} has broken links: {broken}"


def test_link_checker_sees_links_and_headings() -> None:
    """The checker itself: a page with known links and headings is read as expected."""
    text = "# A `spec.baseModel` title\n\n## Same\n\n## Same\n\n[x](other.md#a-b) [y](#same-1) [u](https://e.x/)\n"
    assert relative_links(text) == [("other.md", "a-b"), ("", "same-1")]
    assert heading_anchors(text) == {"a-specbasemodel-title", "same", "same-1"}
