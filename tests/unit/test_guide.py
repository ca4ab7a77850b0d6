"""The guide for new GPs (seed 004, issue 23): the data, its citations and its regions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from almen import guide as vejviser
from almen.errors import InputError, ParameterError

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
HEADING = re.compile(r"^\s*(\d+(?:\.\d+)?)\.?\s+(\S.*?)\s*$")


def _raw() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(vejviser.GUIDE_FILE.read_text(encoding="utf-8"))


def test_every_entry_cites_a_section_of_the_seed() -> None:
    """Seed 004 (every section): each body names the section it comes from, and that
    section is one of the seed's, read straight from the file (not through the loader,
    which checks the same)."""
    raw = _raw()
    sections = raw["sections"]
    assert len(raw["body"]) >= 30
    for b in raw["body"]:
        assert b["seed"] in sections, b["id"]
    # every numbered section of the seed that describes a body is cited by one
    cited = {b["seed"] for b in raw["body"]}
    uncited = set(sections) - cited - {"1", "2", "6", "7", "11"}  # intro and chapter heads
    assert not uncited, uncited


def test_the_sections_are_the_seeds_headings() -> None:
    """The [sections] table is seed 004's table of contents: compared with the seed's own
    headings where the seed is at hand (../shared/seeds beside the repository)."""
    files = sorted(SEED.glob("004_*.txt")) if SEED.is_dir() else []
    if not files:
        pytest.skip("seed 004 is not beside the repository")
    want = {}
    for line in files[0].read_text(encoding="utf-8").splitlines():
        m = HEADING.match(line)
        if m and m.group(1) not in want and len(m.group(2)) < 80:
            want[m.group(1)] = m.group(2).strip()
    got = _raw()["sections"]
    for number, title in got.items():
        assert number in want, number
        assert want[number].startswith(title[:12]), (number, want[number], title)


def test_a_region_gets_the_bodies_that_exist_there() -> None:
    """Seed 004 §2.2 (a PLO-R in every region), §2.4 (PLO-K and KLU in every
    municipality), §3.2-3.4 (Hovedstaden's own arrangements): Hovedstaden gets the seed's
    details; another region gets the bodies that exist everywhere, marked unknown, and
    not the Hovedstaden-only ones; national bodies read the same everywhere."""
    g = vejviser.load_guide()
    h = vejviser.guide(g, region="Hovedstaden").to_dicts()
    s = vejviser.guide(g, region="region syddanmark").to_dicts()
    by_h, by_s = {r["id"]: r for r in h}, {r["id"]: r for r in s}
    assert (
        by_h["plo_r"]["name"] == "PLO-Hovedstaden" and by_h["plo_r"]["regional_details"] == "seed"
    )
    assert by_h["region_practice_office"]["phone"] == "38 66 50 00"
    assert by_s["plo_r"]["name"] == "PLO-Regionalt (PLO-R)"
    assert by_s["plo_r"]["regional_details"] == "unknown" and by_s["plo_r"]["email"] == ""
    only_h = {b.id for b in g.bodies if b.scope == "hovedstaden"}
    assert {"recruitment", "cvi", "kap_h", "riv"} <= only_h
    assert only_h <= set(by_h) and not only_h & set(by_s)
    for b in g.bodies:
        if b.scope == "national":
            assert by_s[b.id]["regional_details"] == "national", b.id
            if not b.hovedstaden:
                assert by_h[b.id] == by_s[b.id]
        elif b.scope != "hovedstaden":
            assert by_s[b.id]["regional_details"] == "unknown", b.id
    # without a region: every body, in its general form
    everything = vejviser.guide(g)
    assert len(everything) == len(g.bodies)
    assert set(everything["applies_to"]) == {"national", "every_region", "every_municipality",
                                             "Region Hovedstaden"}  # fmt: skip


def test_topics_languages_and_the_concepts_almen_computes() -> None:
    """Seed 004 §5.1-5.3 and §2.5: each concept almen computes (§ 96, the service
    overview, the statements, local agreements, the quality cluster) belongs to a body;
    a topic filters; English has its own texts."""
    g = vejviser.load_guide()
    concepts = {k for b in g.bodies for k in b.concepts}
    assert concepts == set(vejviser.CONCEPTS)
    agreement = vejviser.guide(g, topic="agreement")
    assert set(agreement["topic"]) == {"agreement"} and "s96" in set(agreement["id"])
    da, en = vejviser.guide(g, lang="da"), vejviser.guide(g, lang="en")
    assert (da["what"] != en["what"]).all() and (da["id"] == en["id"]).all()


def test_bad_region_topic_or_file_says_what_and_where(tmp_path: Path) -> None:
    g = vejviser.load_guide()
    with pytest.raises(ParameterError, match="the regions are Region Hovedstaden"):
        vejviser.guide(g, region="Atlantis")
    with pytest.raises(ParameterError, match="the topics are organisation"):
        vejviser.guide(g, topic="golf")
    text = vejviser.GUIDE_FILE.read_text(encoding="utf-8")
    bad = tmp_path / "guide.toml"
    bad.write_text(text.replace('seed = "7.4"', 'seed = "7.9"'), encoding="utf-8")
    with pytest.raises(InputError) as err:
        vejviser.load_guide(bad)
    line = text[: text.index('seed = "7.4"')].count("\n") + 1
    assert err.value.line == line and "7.9" in str(err.value)
    bad.write_text(text.replace('basis = "Samarbejdsudvalget', 'x_basis = "S'), encoding="utf-8")
    with pytest.raises(InputError, match="unknown key 'x_basis'"):
        vejviser.load_guide(bad)
