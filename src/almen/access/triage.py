"""Triage of patient requests in the clinic: severity, handler, channel and target time.

Seed 003 ("Tilgængelighed til klinikken", "Prioritering af den praktiserende læges
tid"): requests are sorted by severity so that the greatest need is served fastest;
staff and digital channels (e-consultation, video, online booking, home monitoring)
take what the doctor need not; seed 002 §9.2: controls delegated to staff.

The rules are data: ``reference/data/triage_rule.csv`` (a clinic can give its own table
with ``--rules``). Each row: rule_id, priority (lower first), reason (or ``*``),
min_age, max_age, sex (M/F), flag (the patient must have it), keyword (phrases separated
by ``|``; one must occur in the free text, not negated: see ``find_phrase``), severity,
handler, channel, digital_ok
(the patient's preferred digital channel may replace the channel), target_hours and
source. The first rule by priority whose conditions all hold decides, and the decision
names it. A table must end in a catch-all (reason ``*`` and no other condition), so
every request gets a decision.

Target times are comparable with NHS Pathways' primary-care dispositions (speak to a
clinician within 2, 6 or 12 hours): acute 2 h, same day 6-12 h, within days 12-72 h,
routine up to two weeks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from almen.days import closed_days
from almen.errors import InputError, ParameterError
from almen.ingest.csv_reader import open_extract

__all__ = [
    "CHANNELS",
    "FLAGS",
    "HANDLERS",
    "REASONS",
    "SEVERITIES",
    "Decision",
    "OpeningHours",
    "Request",
    "Rule",
    "Target",
    "TriageRules",
    "default_rules",
    "find_phrase",
    "load_rules",
    "target_time",
    "tokens",
    "triage",
]

SEVERITIES = ("acute", "same_day", "within_days", "routine")  # most severe first
HANDLERS = ("doctor", "nurse", "secretary", "self_care")
CHANNELS = ("phone", "video", "e_consultation", "consultation", "home_visit")
DIGITAL = ("phone", "video", "e_consultation")
FLAGS = ("chronic", "special_effort", "housebound")
REASONS = (
    "chest_pain", "breathing", "suicidal", "fever", "abdominal_pain", "injury",
    "urinary_symptoms", "mental_health", "rash", "musculoskeletal", "cold_symptoms",
    "medication", "test_results", "chronic_control", "home_monitoring",
    "child_vaccination", "pregnancy", "certificate", "administrative", "other",
)  # fmt: skip
COLUMNS = ("rule_id", "priority", "reason", "min_age", "max_age", "sex", "flag", "keyword",
           "severity", "handler", "channel", "digital_ok", "target_hours", "source")  # fmt: skip
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "reference" / "data" / "triage_rule.csv"


# Danish negation cues and the words that end their reach (seed 003's triage, issue 22:
# "ikke selvmordstruet" is no red flag, "ingen feber men ondt i brystet" is one)
NEGATIONS = frozenset({"ikke", "ingen", "intet", "uden", "aldrig", "ej", "hverken", "nej",
                       "ingenting", "benægter", "afkræfter"})  # fmt: skip
CLAUSE_ENDS = frozenset({"men", "dog", "alligevel", "derimod", "bortset"})
NEGATION_REACH = 3  # words before a phrase that a cue reaches
PHRASE_GAP = 2  # words allowed between the words of a phrase ("ondt i hele brystet")
_TOKEN = re.compile(r"[0-9a-zæøåéü]+|[.!?;,:()]")


def tokens(text: str) -> list[str]:
    """Lower-case words and punctuation of ``text`` (punctuation ends a clause)."""
    return _TOKEN.findall(text.lower())


def _word_matches(word: str, pattern: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


def find_phrase(words: list[str], phrase: tuple[str, ...]) -> bool:
    """Whether ``phrase`` (words; ``brystsmert*`` a prefix) occurs in ``words``, each word
    after the previous within ``PHRASE_GAP`` other words and no punctuation between, and
    is not negated: no cue of ``NEGATIONS`` among the ``NEGATION_REACH`` words before it
    in the same clause (punctuation and ``men`` end a clause). A cue inside the phrase is
    part of it ("vil ikke leve", "får ikke luft").

    >>> find_phrase(tokens("jeg har ondt i hele brystet"), ("ondt", "i", "brystet"))
    True
    >>> find_phrase(tokens("ingen brystsmerter"), ("brystsmert*",))
    False
    >>> find_phrase(tokens("ingen feber, men brystsmerter"), ("brystsmert*",))
    True
    """
    for start, word in enumerate(words):
        if not _word_matches(word, phrase[0]):
            continue
        at = start
        for pattern in phrase[1:]:
            nxt = _next_word(words, at, pattern)
            if nxt is None:
                break
            at = nxt
        else:
            if not _negated(words, start):
                return True
    return False


def _next_word(words: list[str], at: int, pattern: str) -> int | None:
    """The index of the first word after ``at`` matching ``pattern`` within
    ``PHRASE_GAP`` other words and before any punctuation, or None."""
    for nxt in range(at + 1, min(at + PHRASE_GAP + 2, len(words))):
        if not words[nxt][0].isalnum():
            return None
        if _word_matches(words[nxt], pattern):
            return nxt
    return None


def _negated(words: list[str], start: int) -> bool:
    for w in reversed(words[max(0, start - NEGATION_REACH) : start]):
        if not w[0].isalnum() or w in CLAUSE_ENDS:
            return False
        if w in NEGATIONS:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Request:
    """A patient's request. ``text`` is matched for keywords only and never stored in
    logs or messages; ``flags`` come from the records (chronic, special_effort, ...)."""

    reason: str
    age: int
    sex: str
    flags: frozenset[str] = frozenset()
    text: str = ""
    preferred_channel: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    priority: int
    reason: str
    min_age: int | None
    max_age: int | None
    sex: str | None
    flag: str | None
    keywords: tuple[tuple[str, ...], ...]  # phrases of words
    severity: str
    handler: str
    channel: str
    digital_ok: bool
    target_hours: float
    source: str

    def matches(self, r: Request, words: list[str]) -> bool:
        return (
            (self.reason == "*" or self.reason == r.reason)
            and (self.min_age is None or r.age >= self.min_age)
            and (self.max_age is None or r.age <= self.max_age)
            and (self.sex is None or r.sex == self.sex)
            and (self.flag is None or self.flag in r.flags)
            and (not self.keywords or any(find_phrase(words, k) for k in self.keywords))
        )

    @property
    def catch_all(self) -> bool:
        return self.reason == "*" and not any(
            (self.min_age is not None, self.max_age is not None, self.sex, self.flag,
             self.keywords)
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decision:
    severity: str
    handler: str
    channel: str
    target_hours: float
    rule_id: str
    source: str


@dataclass(frozen=True)
class TriageRules:
    rules: tuple[Rule, ...]  # by priority
    source: str


def _rule(v: dict[str, str], line: int, src: str) -> Rule:
    """One row of a rule table, checked cell by cell."""

    def bad(col: str, msg: str) -> InputError:
        return InputError(msg, source=src, line=line, column=col)

    def whole(col: str, lo: int, hi: int) -> int | None:
        if v[col] == "":
            return None
        try:
            n = int(v[col])
        except ValueError:
            raise bad(col, f"{col} must be a whole number") from None
        if not lo <= n <= hi:
            raise bad(col, f"{col} must be between {lo} and {hi}")
        return n

    def one_of(col: str, allowed: tuple[str, ...], empty_ok: bool = False) -> str | None:
        if v[col] == "" and empty_ok:
            return None
        if v[col] not in allowed:
            raise bad(col, f"{col} must be one of {', '.join(allowed)}")
        return v[col]

    if not v["rule_id"]:
        raise bad("rule_id", "rule_id is empty")
    priority = whole("priority", 0, 1_000_000)
    if priority is None:
        raise bad("priority", "priority is empty")
    lo, hi = whole("min_age", 0, 130), whole("max_age", 0, 130)
    if lo is not None and hi is not None and lo > hi:
        raise bad("max_age", "max_age is below min_age")
    if v["digital_ok"].lower() not in ("true", "false"):
        raise bad("digital_ok", "digital_ok must be true or false")
    try:
        target = float(v["target_hours"])
    except ValueError:
        raise bad("target_hours", "target_hours must be a number") from None
    if not 0 < target <= 24 * 90:
        raise bad("target_hours", "target_hours must be above 0 and at most 90 days")
    reason = v["reason"]
    if reason != "*" and reason not in REASONS:
        raise bad("reason", f"unknown reason; use * or one of {', '.join(REASONS)}")
    return Rule(
        rule_id=v["rule_id"],
        priority=priority,
        reason=reason,
        min_age=lo,
        max_age=hi,
        sex=one_of("sex", ("M", "F"), empty_ok=True),
        flag=one_of("flag", FLAGS, empty_ok=True),
        keywords=tuple(tuple(k.lower().split()) for k in v["keyword"].split("|") if k.strip()),
        severity=str(one_of("severity", SEVERITIES)),
        handler=str(one_of("handler", HANDLERS)),
        channel=str(one_of("channel", CHANNELS)),
        digital_ok=v["digital_ok"].lower() == "true",
        target_hours=target,
        source=v["source"],
    )


def load_rules(path: Path) -> TriageRules:
    """Read and check a rule table; a bad cell is an ``InputError`` at its line and column."""
    ext = open_extract(path, {c: (c,) for c in COLUMNS}, COLUMNS, strict_fields=True)
    src = ext.source
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for line, values in ext.rows:
        v = {c: values[i].strip() for c, i in ext.columns.items()}
        rid = v["rule_id"]
        if rid in seen:
            raise InputError(
                f"rule_id {rid!r} is also on line {seen[rid]}", source=src, line=line,
                column="rule_id",
            )  # fmt: skip
        seen[rid] = line
        rules.append(_rule(v, line, src))
    if not rules:
        raise InputError("the rule table has no rules", source=src)
    ordered = tuple(sorted(rules, key=lambda r: r.priority))
    if not ordered[-1].catch_all:
        raise InputError(
            "the rule with the highest priority number must be a catch-all (reason * and "
            f"no other condition), so that every request gets a decision; it is "
            f"{ordered[-1].rule_id!r}",
            source=src,
        )
    return TriageRules(ordered, src)


@cache
def default_rules() -> TriageRules:
    return load_rules(DEFAULT_RULES)


def triage(request: Request, rules: TriageRules | None = None) -> Decision:
    """The decision of the first rule (by priority) whose conditions all hold.

    Two adjustments of its channel: a preferred digital channel replaces it when the
    rule allows (``digital_ok``; seed 003, digital channels), and a consultation at the
    clinic becomes a home visit for a patient flagged ``housebound`` (seed 002 §3: home
    visits for the patients who cannot come; seed 003). Severity, handler, target time
    and the deciding rule stay the rule's."""
    table = rules or default_rules()
    words = tokens(request.text)
    for rule in table.rules:
        if rule.matches(request, words):
            channel = rule.channel
            if rule.digital_ok and request.preferred_channel in DIGITAL:
                channel = str(request.preferred_channel)
            if channel == "consultation" and "housebound" in request.flags:
                channel = "home_visit"
            return Decision(
                rule.severity, rule.handler, channel, rule.target_hours, rule.rule_id, rule.source
            )
    raise AssertionError("unreachable: the table ends in a catch-all")  # pragma: no cover


@dataclass(frozen=True)
class OpeningHours:
    """A clinic's opening hours: the same times on each open weekday (0 = Monday); closed
    on public holidays, Christmas Eve and New Year's Eve (``almen.days``)."""

    open_at: dt.time = dt.time(8, 0)
    close_at: dt.time = dt.time(16, 0)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self) -> None:
        if not self.open_at < self.close_at:
            raise ParameterError("opening hours: the clinic must open before it closes")
        if not self.weekdays or any(not 0 <= d <= 6 for d in self.weekdays):
            raise ParameterError("opening hours: weekdays must be 0 (Monday) to 6")

    def open_on(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in closed_days(day.year)

    def is_open(self, t: dt.datetime) -> bool:
        return self.open_on(t.date()) and self.open_at <= t.time() < self.close_at


@dataclass(frozen=True)
class Target:
    """When a request must be dealt with, and by whom: the clinic or out-of-hours."""

    at: dt.datetime
    route: str  # "clinic" or "out_of_hours"


def target_time(
    received: dt.datetime, decision: Decision, hours: OpeningHours | None = None
) -> Target:
    """The target time of a triaged request, respecting the clinic's opening hours
    (issue 22 item 2; seed 003 "Tilgængelighed til klinikken").

    - An acute request while the clinic is open: the clinic, within its target hours and
      before the clinic closes (``min(received + target, closing)``).
    - An acute request while it is closed: out-of-hours (lægevagt or 1813) at
      ``received + target``; it cannot wait for the morning.
    - Every other request under a day (same day, 6-12 h): its target hours are counted
      in opening hours only, from the next opening if it arrives when closed. Friday
      15:00 + 12 h with hours 8-16 is Tuesday 11:00 (1 h on Friday, 8 on Monday, 3 on
      Tuesday), not Saturday 03:00.
    - A target of a day or more (within days, routine): calendar time, as a patient
      reads "within three days"; if it falls while the clinic is closed, it moves to the
      closing time of the next open day.
    """
    h = hours or OpeningHours()
    due = dt.timedelta(hours=decision.target_hours)
    if decision.severity == "acute":
        if h.is_open(received):
            closing = dt.datetime.combine(received.date(), h.close_at)
            return Target(min(received + due, closing), "clinic")
        return Target(received + due, "out_of_hours")
    if decision.target_hours >= 24:
        at = received + due
        if h.is_open(at):
            return Target(at, "clinic")
        day = at.date() if at.time() < h.open_at else at.date() + dt.timedelta(days=1)
        while not h.open_on(day):
            day += dt.timedelta(days=1)
        return Target(dt.datetime.combine(day, h.close_at), "clinic")
    t, left = received, due
    for _ in range(3 * 366):  # at most 90 days of target; holidays cannot close a year
        day = t.date()
        if h.open_on(day):
            start = max(t, dt.datetime.combine(day, h.open_at))
            end = dt.datetime.combine(day, h.close_at)
            if start < end:
                if left <= end - start:
                    return Target(start + left, "clinic")
                left -= end - start
        t = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0))
    raise ParameterError("the clinic's opening hours leave no time to meet the target")
