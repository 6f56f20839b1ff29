"""The docs keep up with the code: every declared setting is documented, every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authsvc.config import declared

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target); the target ends at whitespace or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_every_declared_setting_is_in_configuration_md() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name, _, _ in declared() if f"`{name}`" not in text]
    assert missing == [], f"add these settings to docs/configuration.md: {missing}"


def _relative_links() -> list[tuple[Path, str]]:
    found = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # http:, mailto:, … and anchors within the page
            found.append((page, target))
    return found


@pytest.mark.parametrize(
    ("page", "target"),
    _relative_links(),
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_relative_links_point_at_existing_files(page: Path, target: str) -> None:
    path = target.split("#", 1)[0]
    assert (page.parent / path).exists(), f"{page.relative_to(ROOT)} links to missing {target}"
