"""The guide for new GPs (vejviser): the bodies around a clinic and when to contact them.

Seed 004 is PLO-Hovedstaden's guide for newly established GPs. ``reference/data/guide.toml``
holds it as data: one entry per body with what it does, when to contact it, the contact
details the seed prints and the seed section it comes from. A body exists in one of four
scopes (``SCOPES``): once for the country, in every region, in every municipality, or, as
far as the seed tells, in Region Hovedstaden only. For a body in every region the seed gives
the Hovedstaden details; for another region the guide shows the body in its general form and
says that the regional details are unknown.

``guide(load_guide(), region=..., topic=...)`` is the table the CLI (`almen guide`) and the
clinic's "Vejviser" page show. A body's ``concepts`` name what almen computes for the clinic
itself (its § 96 ceiling, its service overview, its statements, the local-agreement lines of
its statements, its cluster's indicators); the CLI and the web map them to a command and a
page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl

from almen.errors import ParameterError
from almen.reference import DATA_DIR, load_municipalities
from almen.tomlfile import TomlFile, read_toml

__all__ = [
    "CONCEPTS",
    "GUIDE_FILE",
    "SCOPES",
    "TOPICS",
    "Body",
    "Guide",
    "guide",
    "load_guide",
    "region_name",
]

GUIDE_FILE = DATA_DIR / "guide.toml"
# the region the seed describes; its details are in each body's [body.hovedstaden]
SEED_REGION = "Region Hovedstaden"
SCOPES = ("national", "every_region", "every_municipality", "hovedstaden")
TOPICS = (
    "organisation",
    "region",
    "municipality",
    "agreement",
    "collaboration",
    "education",
    "consultancy",
    "science",
    "colleagues",
)
# what almen computes for the clinic: the clinic's page or command for each
CONCEPTS = ("s96", "service_overview", "statements", "local_agreements", "quality_cluster")
TEXTS = ("name", "what", "when", "note")
CONTACTS = ("phone", "email", "address", "web")
_BODY_KEYS = {
    "id",
    "topic",
    "scope",
    "basis",
    "seed",
    "concepts",
    "hovedstaden",
    *CONTACTS,
    *(f"{t}_{lang}" for t in TEXTS for lang in ("da", "en")),
}
_LOCAL_KEYS = {*CONTACTS, *(f"{t}_{lang}" for t in TEXTS for lang in ("da", "en"))}


@dataclass(frozen=True, slots=True)
class Body:
    """One body of the guide. ``text`` holds ``name_da``, ``what_en`` and so on;
    ``contact`` phone, email, address and web; ``hovedstaden`` the seed's details for
    Region Hovedstaden that replace the general ones there (texts and contacts)."""

    id: str
    topic: str
    scope: str
    seed: str
    text: dict[str, str]
    contact: dict[str, str]
    concepts: tuple[str, ...] = ()
    basis: str = ""
    hovedstaden: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Guide:
    """The seed's sections (number → title) and its bodies, in the seed's order."""

    sections: dict[str, str]
    bodies: tuple[Body, ...]


def load_guide(path: Path | None = None) -> Guide:
    """The guide file (default: the shipped one), checked: every key known, every topic,
    scope and concept one of almen's, every seed section in ``[sections]``, the Danish and
    English name, what and when present, a basis for a body that exists everywhere. A
    fault is an ``InputError`` at its line and column."""
    f = read_toml(path or GUIDE_FILE)
    sections = f.data.get("sections")
    if not isinstance(sections, dict) or not sections:
        raise f.fail("the guide needs a [sections] table: the seed's section numbers and titles")
    raw = f.data.get("body")
    if not isinstance(raw, list) or not raw:
        raise f.fail("the guide has no [[body]] entries")
    bodies: list[Body] = []
    for b in raw:
        bodies.append(_body(f, b, {str(k) for k in sections}))
    ids = [b.id for b in bodies]
    if dup := sorted({i for i in ids if ids.count(i) > 1}):
        raise f.fail(f"body id {dup[0]!r} is used twice", dup[0])
    return Guide({str(k): str(v) for k, v in sections.items()}, tuple(bodies))


def _body(f: TomlFile, b: dict[str, object], sections: set[str]) -> Body:
    ident = str(b.get("id", ""))
    if not ident:
        raise f.fail("a [[body]] has no id", "[[body]]")
    f.check_keys(b, _BODY_KEYS, f"body {ident}")

    def one_of(key: str, allowed: tuple[str, ...]) -> str:
        value = str(b.get(key, ""))
        if value not in allowed:
            raise f.fail(f"body {ident}: {key} must be one of {', '.join(allowed)}, "
                         f"not {value!r}", value or ident)  # fmt: skip
        return value

    topic, scope = one_of("topic", TOPICS), one_of("scope", SCOPES)
    seed = str(b.get("seed", ""))
    if seed not in sections:
        raise f.fail(f"body {ident}: seed section {seed!r} is not in [sections]", seed or ident)
    concepts = b.get("concepts", [])
    if not isinstance(concepts, list) or any(c not in CONCEPTS for c in concepts):
        raise f.fail(f"body {ident}: concepts must be among {', '.join(CONCEPTS)}", ident)
    for key in ("name", "what", "when"):
        for lang in ("da", "en"):
            if not str(b.get(f"{key}_{lang}", "")).strip():
                raise f.fail(f"body {ident} has no {key}_{lang}", ident)
    if scope in ("every_region", "every_municipality") and not b.get("basis"):
        raise f.fail(f"body {ident} exists everywhere ({scope}): say why in basis", ident)
    local = b.get("hovedstaden", {})
    if not isinstance(local, dict):
        raise f.fail(f"body {ident}: [body.hovedstaden] must be a table", ident)
    f.check_keys(local, _LOCAL_KEYS, f"body.hovedstaden of {ident}")
    return Body(
        id=ident,
        topic=topic,
        scope=scope,
        seed=seed,
        text={k: str(b[k]) for k in _LOCAL_KEYS - set(CONTACTS) if k in b},
        contact={k: str(b[k]) for k in CONTACTS if k in b},
        concepts=tuple(str(c) for c in concepts),
        basis=str(b.get("basis", "")),
        hovedstaden={str(k): str(v) for k, v in local.items()},
    )


@cache
def _regions() -> tuple[str, ...]:
    """Today's regions, as the shipped municipalities name them (Hovedstaden first)."""
    names = set(load_municipalities()["region"].to_list())
    return (SEED_REGION, *sorted(names - {SEED_REGION}))


def region_name(text: str) -> str:
    """``text`` as one of today's regions ("Hovedstaden", "region hovedstaden" →
    "Region Hovedstaden"); a ``ParameterError`` lists them otherwise."""
    want = text.strip().lower().removeprefix("region ").strip()
    for r in _regions():
        if r.lower().removeprefix("region ") == want:
            return r
    raise ParameterError(f"no region {text!r}; the regions are {', '.join(_regions())}")


def _topic(text: str) -> str:
    if text not in TOPICS:
        raise ParameterError(f"no topic {text!r}; the topics are {', '.join(TOPICS)}")
    return text


def guide(
    g: Guide, *, region: str | None = None, topic: str | None = None, lang: str = "da"
) -> pl.DataFrame:
    """The guide as a table, one row per body, in the seed's order.

    Without ``region``: every body in its general form, Hovedstaden-only ones included
    (``applies_to`` says where each exists). With ``region``: the bodies that exist there;
    a body in every region carries the seed's details in Region Hovedstaden
    (``regional_details`` "seed") and its general form elsewhere ("unknown": seed 004
    describes Hovedstaden only); a national body has "national" (or "seed" where the seed
    adds Hovedstaden's own help, as its data consultants for sundhed.dk). Columns: id, topic, name,
    what, when, note, phone, email, address, web, applies_to, regional_details, seed
    (the section, "004 §5.3"), section (its title), concepts (comma-separated), basis.
    """
    if lang not in ("da", "en"):
        raise ParameterError(f"language must be da or en, not {lang!r}")
    where = region_name(region) if region is not None else None
    want = _topic(topic) if topic is not None else None
    out = []
    for b in g.bodies:
        if want is not None and b.topic != want:
            continue
        if b.scope == "hovedstaden" and where not in (None, SEED_REGION):
            continue
        local = b.hovedstaden if where == SEED_REGION else {}
        if b.scope == "national":
            details = "seed" if local else "national"  # the seed's regional help, say
        elif where is None:
            details = "seed" if b.scope == "hovedstaden" else "general"
        else:
            details = "seed" if where == SEED_REGION else "unknown"
        text = {k: local.get(f"{k}_{lang}", b.text.get(f"{k}_{lang}", "")) for k in TEXTS}
        contact = {k: local.get(k, b.contact.get(k, "")) for k in CONTACTS}
        out.append({
            "id": b.id, "topic": b.topic, **text, **contact,
            "applies_to": SEED_REGION if b.scope == "hovedstaden" else b.scope,
            "regional_details": details, "seed": f"004 §{b.seed}",
            "section": g.sections[b.seed], "concepts": ",".join(b.concepts), "basis": b.basis,
        })  # fmt: skip
    cols = ["id", "topic", *TEXTS, *CONTACTS, "applies_to", "regional_details", "seed",
            "section", "concepts", "basis"]  # fmt: skip
    return pl.DataFrame(out, schema=dict.fromkeys(cols, pl.Utf8))
