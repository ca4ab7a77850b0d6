"""Triage of patient requests in the clinic: severity, handler, channel and target time.

Seed 003 ("Tilgængelighed til klinikken", "Prioritering af den praktiserende læges
tid"): requests are sorted by severity so that the greatest need is served fastest;
staff and digital channels (e-consultation, video, online booking, home monitoring)
take what the doctor need not; seed 002 §9.2: controls delegated to staff.

The rules are data: ``reference/data/triage_rule.csv`` (a clinic can give its own table
with ``--rules``). Each row: rule_id, priority (lower first), reason (or ``*``),
min_age, max_age, sex (M/F), flag (the patient must have it), keyword (words separated
by ``|``; one must occur in the free text), severity, handler, channel, digital_ok
(the patient's preferred digital channel may replace the channel), target_hours and
source. The first rule by priority whose conditions all hold decides, and the decision
names it. A table must end in a catch-all (reason ``*`` and no other condition), so
every request gets a decision.

Target times are comparable with NHS Pathways' primary-care dispositions (speak to a
clinician within 2, 6 or 12 hours): acute 2 h, same day 6-12 h, within days 12-72 h,
routine up to two weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from almen.errors import InputError
from almen.ingest.csv_reader import open_extract

__all__ = [
    "CHANNELS",
    "FLAGS",
    "HANDLERS",
    "REASONS",
    "SEVERITIES",
    "Decision",
    "Request",
    "Rule",
    "TriageRules",
    "default_rules",
    "load_rules",
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
    keywords: tuple[str, ...]
    severity: str
    handler: str
    channel: str
    digital_ok: bool
    target_hours: float
    source: str

    def matches(self, r: Request, text: str) -> bool:
        return (
            (self.reason == "*" or self.reason == r.reason)
            and (self.min_age is None or r.age >= self.min_age)
            and (self.max_age is None or r.age <= self.max_age)
            and (self.sex is None or r.sex == self.sex)
            and (self.flag is None or self.flag in r.flags)
            and (not self.keywords or any(k in text for k in self.keywords))
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
        keywords=tuple(k.strip().lower() for k in v["keyword"].split("|") if k.strip()),
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
    text = request.text.lower()
    for rule in table.rules:
        if rule.matches(request, text):
            channel = rule.channel
            if rule.digital_ok and request.preferred_channel in DIGITAL:
                channel = str(request.preferred_channel)
            if channel == "consultation" and "housebound" in request.flags:
                channel = "home_visit"
            return Decision(
                rule.severity, rule.handler, channel, rule.target_hours, rule.rule_id, rule.source
            )
    raise AssertionError("unreachable: the table ends in a catch-all")  # pragma: no cover
