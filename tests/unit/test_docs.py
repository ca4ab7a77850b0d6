"""Docs generated from code are up to date."""

from __future__ import annotations

from pathlib import Path

from almen.schema_docs import render_schema_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_schema_reference_is_current_when_schema_changes() -> None:
    """docs/reference/schema.md equals `almen schema` output (regenerate it if this fails)."""
    assert (ROOT / "docs/reference/schema.md").read_text(
        encoding="utf-8"
    ) == render_schema_markdown()


def test_every_reference_file_is_in_data_sources() -> None:
    """Each shipped reference file is named in docs/data-sources.md."""
    text = (ROOT / "docs/data-sources.md").read_text(encoding="utf-8")
    data = ROOT / "src/almen/reference/data"
    for f in data.rglob("*.*"):
        assert f.name in text, f.name
