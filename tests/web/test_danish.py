"""Issue 17 item 1: Danish first. Every page each role sees is scanned, as rendered,
for numbers and dates written the English way and for codes left untranslated; the
message catalogs are complete in both languages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from almen import guide, i18n, population
from almen.access.inbox import SOURCES
from almen.access.triage import CHANNELS, HANDLERS, REASONS, SEVERITIES
from almen.population.definitions import FRAILTY_BANDS
from almen.web.auth import ROLES
from tests.web.conftest import Site, role_pages

# 177,952 or 3,969,123 (a single "1,093" is a Danish ratio with three decimals)
ENGLISH_THOUSANDS = re.compile(r"\b\d{1,3}(?:,\d{3}){2,}\b|\b\d{2,3},\d{3}\b")
# 0.96, 56.00 (1.600 is Danish; §5.3 and "afsnit 5.3" are sections)
ENGLISH_DECIMAL = re.compile(r"(?<!§)(?<!afsnit )\b\d+\.\d{1,2}\b|(?<!§)\b0\.\d+\b")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # frail_elderly, chest_pain, same_day


class _Text(HTMLParser):
    """The text a reader sees: no scripts, styles or attributes; option labels count."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(p.parts)


def english_leftovers(text: str) -> list[str]:
    found = []
    for name, rx in (("thousands", ENGLISH_THOUSANDS), ("decimal", ENGLISH_DECIMAL),
                     ("ISO date", ISO_DATE), ("code", SNAKE)):  # fmt: skip
        found += [f"{name}: {m.group(0)!r} in …{text[max(0, m.start() - 30) : m.end() + 30]}…"
                  for m in rx.finditer(text)]  # fmt: skip
    return found


def test_the_scan_catches_what_it_is_for() -> None:
    """The scanner itself: English numbers, ISO dates and codes are caught, Danish ones
    pass (the 1.600-reglen, 0,96, 2. december 2026)."""
    assert (
        english_leftovers("177,952 and 0.96 and 56.00 on 2025-01-01 frail_elderly")
        and len(english_leftovers("177,952 and 0.96 and 56.00 on 2025-01-01 frail_elderly")) == 5
    )
    assert english_leftovers("1.600-reglen, 177.952 kr., 0,96, 56,00, 2. december 2026") == []
    assert english_leftovers("vejviseren, afsnit 5.1; §2.4") == []
    assert len(english_leftovers("afsnittet 5.1 koster 0.96")) == 2


def test_numbers_money_and_dates_are_danish() -> None:
    assert i18n.fmt(177952) == "177.952"
    assert i18n.fmt(3969123.4) == "3.969.123"
    assert i18n.fmt(0.96) == "0,96"
    assert i18n.fmt("2025-03-31") == "31. mar. 2025"
    assert i18n.fmt(0.96, "en") == "0.96" and i18n.fmt(177952, "en") == "177,952"
    assert i18n.month(__import__("datetime").date(2025, 1, 1)) == "januar 2025"


def test_both_catalogs_hold_every_message_and_every_code() -> None:
    da, en = i18n.catalog("da"), i18n.catalog("en")
    assert set(da) == set(en), set(da) ^ set(en)
    assert all(v.strip() for v in [*da.values(), *en.values()])
    kinds = {"triage_reason": REASONS, "severity": SEVERITIES, "handler": HANDLERS,
             "channel": CHANNELS, "indicator": tuple(population.load_definitions().indicators),
             "definition": population.load_definitions().group_names, "sex": ("F", "M"),
             "frailty": FRAILTY_BANDS,
             "status": ("new", "assigned", "done"), "method": ("standardised", "crude"),
             "source": SOURCES, "role": ROLES, "guide_topic": guide.TOPICS,
             "guide_scope": (*guide.SCOPES[:3], "Region Hovedstaden"),
             "guide_concept": guide.CONCEPTS,
             "guide_details": ("national", "seed", "general", "unknown")}  # fmt: skip
    missing = [f"code.{k}.{v}" for k, vs in kinds.items() for v in vs if f"code.{k}.{v}" not in da]
    assert missing == []
    # the Danish catalog is Danish: it translates the codes rather than repeating them
    assert sum(da[f"code.triage_reason.{r}"] != r for r in REASONS) == len(REASONS)


@pytest.mark.parametrize("user", ["nat", "reg", "klynge", "klinik"])
def test_every_page_a_role_sees_reads_danish(site: Site, as_user, user: str) -> None:  # type: ignore[no-untyped-def]
    u = as_user(user)
    if user == "klinik":  # an inbox row and a triage flash to read as well
        u.http.post(f"/clinic/{site.clinic}/inbox", data={"patient_id": str(site.patient),
                    "reason": "chest_pain", "csrf": u.csrf})  # fmt: skip
    bad: dict[str, list[str]] = {}
    for path in role_pages(site)[user]:
        r = u.http.get(path)
        assert r.status_code == 200, (path, r.status_code)
        if left := english_leftovers(visible(r.text)):
            bad[path] = left
    if user == "nat":  # a fee scenario's result, winners and losers
        r = u.http.post("/fees", data={"scenario": 'name = "x"\n[change_percent]\n"0120" = 10.0\n',
                                       "csrf": u.csrf})  # fmt: skip
        assert r.status_code == 200
        if left := english_leftovers(visible(r.text)):
            bad["/fees (result)"] = left
    assert bad == {}


def test_roles_audit_entries_and_chart_titles_follow_the_language(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """The header names the role in the page's language, the access log's entries are
    translated (they are stored as codes), and the out-of-hours chart's axes and series
    come from the catalog (Danish and English)."""
    u = as_user("klinik")
    u.http.get(f"/clinic/{site.clinic}/patient/{site.patient}")
    audit = visible(u.http.get(f"/clinic/{site.clinic}/audit?lang=da").text)
    assert f"(klinik: {site.clinic})" in audit and "Patientside set" in audit
    assert "patient page" not in audit
    en = visible(u.http.get(f"/clinic/{site.clinic}/audit?lang=en").text)
    assert f"(clinic: {site.clinic})" in en and "Patient page viewed" in en
    u.http.get("/?lang=da")
    reg = as_user("reg")
    for lang, words in (("da", ("time på døgnet", "kontakter pr. time", "læger på vagt")),
                        ("en", ("hour of the day", "contacts per hour", "doctors on duty"))):  # fmt: skip
        html = reg.http.get(f"/region/{site.region}?lang={lang}").text
        fig = html[html.index('id="fig-ooh">') :]
        fig = fig[: fig.index("</script>")].encode().decode("unicode_escape")
        assert all(w in fig for w in words), (lang, words)
    reg.http.get("/?lang=da")
