"""One year of claims that follow the fee schedule."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from almen.days import closed_days
from almen.synth import params as P

__all__ = [
    "CHRONIC_FEES",
    "CONTROL_CONDITIONS",
    "ClaimCodes",
    "Claims",
    "SentClaims",
    "clinic_day_weights",
    "contact_rates",
    "generate_claims",
    "month_start",
    "send_claims",
]

EPOCH = dt.date(1970, 1, 1)

# GP contacts per person per year by age (knots) before normalisation to 41 million.
# No Danish table by age was found; the shape follows the Norwegian profile [§5] and the
# Danish points (women 30-59 have 74 % more contacts than men; 60+ most).
RATE_AGE_KNOTS = np.array([0, 5, 15, 25, 45, 65, 75, 85, 100])
RATE_MALE = np.array([6.0, 3.0, 2.5, 3.5, 5.0, 7.5, 10.5, 12.5, 12.5])
RATE_FEMALE = np.array([5.5, 3.0, 4.5, 7.5, 7.5, 8.5, 11.0, 12.5, 12.5])

# channel mix by age band (0-17, 18-64, 65-79, 80+): consultation, phone, e-mail, video,
# home visit. About half consultations, 40 % phone, a few % e-mail and home visits in
# 2008 [§1.5], with e-consultation grown since (35.7 % of citizens used it in 2019).
CHANNELS = ("consultation", "phone", "email", "video", "home_visit")
CHANNEL_CODES = ("0101", "0201", "0105", "0125", "0411")
CHANNEL_MIX = np.array(
    [
        [0.55, 0.38, 0.05, 0.02, 0.00],
        [0.47, 0.40, 0.10, 0.03, 0.00],
        [0.51, 0.39, 0.08, 0.01, 0.01],
        [0.47, 0.33, 0.05, 0.00, 0.15],
    ]
)
PROCEDURE_CODES = ("2104", "2105", "2108", "2109", "2111", "2112", "2113", "2117", "2119")
TIME_BANDS = ("day", "evening", "ooh")
OPTIONAL_CODES = ("2151", "K001", "K002", "F101", "F201", "F301")
# conditions with a yearly control (0120), by the morbidity flag and its ICPC-2 code on
# the claim line; the chronic-care fee replaces the control of type 2 diabetes and COPD
CONTROL_CONDITIONS = (
    ("type2_diabetes", "T90"),
    ("copd", "R95"),
    ("ischaemic_heart_disease", "K76"),
    ("heart_failure", "K77"),
    ("hypertension", "K86"),
    ("asthma", "R96"),
)
CHRONIC_FEES = {"type2_diabetes": "K001", "copd": "K002"}


@dataclass(slots=True)
class Claims:
    person: np.ndarray  # int64 person index
    code: np.ndarray  # int16 index into ClaimCodes.codes
    date: np.ndarray  # int32 days since epoch
    band: np.ndarray  # int8 index into TIME_BANDS
    condition: np.ndarray | None = None  # int8 index into CONTROL_CONDITIONS, −1 none

    def __len__(self) -> int:
        return len(self.person)

    def conditions(self) -> np.ndarray:
        if self.condition is None:
            return np.full(len(self.person), -1, dtype=np.int8)
        return self.condition


@dataclass(slots=True)
class SentClaims:
    """Claims as a clinic sends them: with the claiming clinic, the settlement month
    (days since epoch of its first day), a cover reason (True: acute, a patient listed
    elsewhere) and the errors ``send_claims`` put in."""

    claims: Claims
    provider: np.ndarray  # int32 clinic index
    month: np.ndarray  # int32 days since epoch of the settlement month's first day
    cover: np.ndarray  # bool: acute cover for another GP's patient
    injected: dict[str, int]  # error kind → lines made so


class ClaimCodes:
    """Service codes used by the generator, checked against the year's fee schedule."""

    def __init__(self, available: set[str]) -> None:
        wanted = (
            *CHANNEL_CODES, "0204", "2101", "2102", *PROCEDURE_CODES,
            "0120", "0121", "6101", "L002", "V201", "V101", "V411", "V125",
        )  # fmt: skip
        missing = [c for c in wanted if c not in available]
        if missing:
            raise ValueError(f"the fee schedule lacks service codes the generator uses: {missing}")
        # used only where the year's schedule has them (2151 was closed by Aftale25)
        optional = [c for c in OPTIONAL_CODES if c in available]
        self.codes = [*wanted, *optional]
        self.index = {c: i for i, c in enumerate(self.codes)}

    def __getitem__(self, code: str) -> int:
        return self.index[code]


def _year_days(year: int) -> np.ndarray:
    start = (dt.date(year, 1, 1) - EPOCH).days
    n = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
    return np.arange(start, start + n, dtype=np.int32)


@functools.cache
def clinic_day_weights(year: int) -> tuple[np.ndarray, np.ndarray]:
    """Days of ``year`` and their relative clinic activity (0 on weekends and holidays).

    Mondays busiest, Fridays quietest; winter about 25 % above summer; the summer holiday
    (weeks 28-31) and the days after Christmas low. All assumptions shaped after common
    knowledge of Danish practice; no published daily profile was found.
    """
    days = _year_days(year)
    closed = closed_days(year)
    w = np.zeros(len(days))
    for i, d in enumerate(days):
        date = EPOCH + dt.timedelta(days=int(d))
        if date.weekday() >= 5 or date in closed:
            continue
        weekday = (1.3, 1.05, 1.0, 0.95, 0.8)[date.weekday()]
        season = 1.0 + 0.12 * np.cos(2 * np.pi * (date.timetuple().tm_yday - 20) / 365.0)
        week = date.isocalendar().week
        dip = 0.65 if 28 <= week <= 31 else (0.6 if date.month == 12 and date.day > 26 else 1.0)
        w[i] = weekday * season * dip
    w = w / w.sum()
    days.flags.writeable = False  # cached: shared by every region
    w.flags.writeable = False
    return days, w


def contact_rates(
    age: np.ndarray,
    female: np.ndarray,
    n_chronic: np.ndarray,
    target_total: float,
    area: np.ndarray | None = None,
) -> np.ndarray:
    """Expected contacts per person (before the person's own random frailty).

    rate = base(age, sex) × exp(0.22 × number of chronic conditions) × area factor (1
    when ``area`` is None), scaled so the expected national total is ``target_total``.
    """
    base = np.where(
        female,
        np.interp(age, RATE_AGE_KNOTS, RATE_FEMALE),
        np.interp(age, RATE_AGE_KNOTS, RATE_MALE),
    )
    rate = base * np.exp(P.MORBIDITY_CONTACT_FACTOR * n_chronic)
    if area is not None:
        rate = rate * area
    return rate * (target_total / rate.sum())


def _categorical(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per element; ``probs[rows[i]]`` is element i's distribution."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(rows))
    out = np.zeros(len(rows), dtype=np.int8)
    for k in range(probs.shape[1] - 1):
        out += u > cum[rows, k]
    return out


def generate_claims(
    persons: np.ndarray,
    rates: np.ndarray,
    age: np.ndarray,
    female: np.ndarray,
    has: dict[str, np.ndarray],
    n_chronic: np.ndarray,
    codes: ClaimCodes,
    year: int,
    rng: np.random.Generator,
) -> Claims:
    """Claims of the persons with indices ``persons`` (one region at a time).

    Contacts are Poisson with a gamma-distributed personal rate (a negative binomial,
    so some people have none); each gets a channel by age, a date by the clinic-day
    weights and a time band. Add-ons follow: blood samples and minor procedures on
    consultations, a yearly specific preventive effort (0120) for chronic patients,
    preventive home visits for the frail old, cervical cytology, talking therapy for
    depression and anxiety, and influenza vaccination under a local agreement in autumn.
    """
    days, w = clinic_day_weights(year)
    a = age[persons]
    f = female[persons]
    nc = n_chronic[persons]
    shape = P.CONTACT_HETEROGENEITY_SHAPE
    lam = rates[persons] * rng.gamma(shape, 1.0 / shape, len(persons))
    count = rng.poisson(lam)
    who = np.repeat(persons, count)
    who_age = np.repeat(a, count)
    band_row = np.digitize(who_age, [18, 65, 80]).astype(np.int8)
    channel = _categorical(rng, CHANNEL_MIX, band_row)
    chan_code = np.array([codes[c] for c in CHANNEL_CODES], dtype=np.int16)
    code = chan_code[channel]
    phone = channel == 1
    code[phone & (rng.random(len(code)) < 0.06)] = codes["0204"]
    date = rng.choice(days, size=len(who), p=w)
    band = np.where((channel <= 1) & (rng.random(len(who)) < P.EVENING_SHARE), 1, 0).astype(np.int8)

    parts = [Claims(who, code, date, band)]
    consult = np.flatnonzero(channel == 0)
    nc_c = np.repeat(nc, count)[consult]
    blood = consult[rng.random(len(consult)) < 0.10 + 0.05 * np.minimum(nc_c, 4)]
    parts.append(_same_day(who, date, blood, codes["2101"]))
    proc = consult[rng.random(len(consult)) < 0.02]
    proc_codes = np.array([codes[c] for c in PROCEDURE_CODES], dtype=np.int16)
    parts.append(
        Claims(who[proc], proc_codes[rng.integers(0, len(proc_codes), len(proc))], date[proc],
               np.zeros(len(proc), dtype=np.int8))
    )  # fmt: skip

    def yearly(
        mask: np.ndarray, p: np.ndarray | float, code_name: str, dd: np.ndarray, ww: np.ndarray
    ) -> None:
        pick = persons[mask & (rng.random(len(persons)) < p)]
        parts.append(
            Claims(pick, np.full(len(pick), codes[code_name], dtype=np.int16),
                   rng.choice(dd, size=len(pick), p=ww), np.zeros(len(pick), dtype=np.int8))
        )  # fmt: skip

    chronic_care = (
        has["diabetes"] | has["copd"] | has["ischaemic_heart_disease"] | has["heart_failure"]
    )[persons]
    # the yearly control (0120) per condition with its code on the line; for type 2
    # diabetes and COPD most patients have the chronic-care fee instead (Aftale25)
    for k, (flag, _icpc) in enumerate(CONTROL_CONDITIONS):
        sick = has[flag][persons]
        fee = CHRONIC_FEES.get(flag)
        with_fee = np.zeros(len(persons), dtype=bool)
        n_before = len(parts)
        if fee is not None and fee in codes.index:
            with_fee = sick & (rng.random(len(persons)) < P.CHRONIC_FEE_SHARE)
            yearly(with_fee, 1.0, fee, days, w)
        yearly(sick & ~with_fee, P.ANNUAL_CONTROL_SHARE[flag], "0120", days, w)
        for part in parts[n_before:]:
            part.condition = np.full(len(part.person), k, dtype=np.int8)
    yearly(a >= 75, np.where(nc >= 3, 0.16, 0.06), "0121", days, w)
    yearly(f & (a >= 23) & (a <= 64), 0.22, "2102", days, w)
    autumn = np.array([(EPOCH + dt.timedelta(days=int(d))).month >= 10 for d in days])
    w_autumn = np.where(autumn, w, 0.0)
    yearly(a >= 65, 0.55, "L002", days, w_autumn / w_autumn.sum())
    _preventive(parts, persons, a, f, codes, days, w, rng)
    if "2151" in codes.index:  # before Aftale25: instruction in clinical forms, chronic care
        yearly(chronic_care, 0.5, "2151", days, w)

    mood = (has["depression"] | has["anxiety"])[persons]
    therapy = persons[mood & (rng.random(len(persons)) < 0.35)]
    sessions = 1 + rng.poisson(2.0, len(therapy))
    t_who = np.repeat(therapy, sessions)
    parts.append(
        Claims(t_who, np.full(len(t_who), codes["6101"], dtype=np.int16),
               rng.choice(days, size=len(t_who), p=w), np.zeros(len(t_who), dtype=np.int8))
    )  # fmt: skip
    return _concat(parts)


def in_year_share(age_on_1_january: np.ndarray, at_age_years: float) -> np.ndarray:
    """The chance that a child aged ``age_on_1_january`` (birth day uniform over its birth
    year) reaches the age ``at_age_years`` in this calendar year: max(0, 1 − |t − (a + 1)|).
    Worked example: a child aged 0 on 1 January reaches 5 months (t = 0.42) this year with
    chance 0.42 (born after 1 August last year) and 15 months (t = 1.25) with 0.75."""
    return np.maximum(0.0, 1.0 - np.abs(at_age_years - (age_on_1_january + 1.0)))


def _preventive(
    parts: list[Claims],
    persons: np.ndarray,
    a: np.ndarray,
    f: np.ndarray,
    codes: ClaimCodes,
    days: np.ndarray,
    w: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Child examinations (F101), childhood vaccinations (F301) and pregnancy
    examinations (F201) under the prophylaxis agreement, where the schedule has them.

    A scheduled event at age t happens this year with ``in_year_share`` × participation;
    pregnancies are as many as the children aged 0 among ``persons`` (last year's births
    as this year's), their mothers drawn among women 18-45 by an age curve."""
    young = np.flatnonzero(a <= 13)

    def schedule(code: str, events: tuple[tuple[float, int], ...], take: float) -> None:
        if code not in codes.index:
            return
        for t, lines in events:
            p = in_year_share(a[young].astype(np.float64), t) * take
            hit = young[rng.random(len(young)) < p]
            who = np.repeat(persons[hit], lines)
            parts.append(
                Claims(who, np.full(len(who), codes[code], dtype=np.int16),
                       np.repeat(rng.choice(days, size=len(hit), p=w), lines),
                       np.zeros(len(who), dtype=np.int8))
            )  # fmt: skip

    schedule("F101", P.CHILD_EXAMINATIONS, P.CHILD_EXAMINATION_TAKE_UP)
    schedule("F301", P.CHILD_VACCINATIONS, P.CHILD_VACCINATION_TAKE_UP)
    if "F201" not in codes.index:
        return
    births = int((a == 0).sum())
    women = np.flatnonzero(f & (a >= 18) & (a <= 45))
    if births == 0 or len(women) == 0:
        return
    mu, sd = P.MOTHER_AGE_MEAN, P.MOTHER_AGE_SD
    weight = np.exp(-0.5 * ((a[women] - mu) / sd) ** 2)
    mothers = rng.choice(women, size=min(births, len(women)), replace=False,
                         p=weight / weight.sum())  # fmt: skip
    n_exams = rng.binomial(P.PREGNANCY_EXAMINATIONS, P.PREGNANCY_EXAMINATION_TAKE_UP,
                           len(mothers))  # fmt: skip
    who = np.repeat(persons[mothers], n_exams)
    parts.append(
        Claims(who, np.full(len(who), codes["F201"], dtype=np.int16),
               rng.choice(days, size=len(who), p=w), np.zeros(len(who), dtype=np.int8))
    )  # fmt: skip


def _concat(parts: list[Claims]) -> Claims:
    return Claims(
        person=np.concatenate([c.person for c in parts]).astype(np.int64),
        code=np.concatenate([c.code for c in parts]).astype(np.int16),
        date=np.concatenate([c.date for c in parts]).astype(np.int32),
        band=np.concatenate([c.band for c in parts]).astype(np.int8),
        condition=np.concatenate([c.conditions() for c in parts]).astype(np.int8),
    )


def _take(c: Claims, rows: np.ndarray) -> Claims:
    return Claims(c.person[rows], c.code[rows], c.date[rows], c.band[rows], c.conditions()[rows])


def send_claims(
    c: Claims,
    provider: np.ndarray,
    n_clinics: int,
    female: np.ndarray,
    codes: ClaimCodes,
    rng: np.random.Generator,
) -> SentClaims:
    """The lines as the clinics send them: the patient's own clinic (``provider`` per
    line), a few consultations of patients listed elsewhere as acute cover
    (``P.COVER_SHARE``), and the errors of ``P.CLAIM_ERRORS`` so that every return rule
    has lines to return: another clinic's patient without a cover reason, cervical
    cytology for a man, a line sent for the month before its date, a line sent twice,
    an annual control sent twice in the year."""
    n = len(c)
    provider = provider.astype(np.int32).copy()
    month = month_start(c.date)
    cover = np.zeros(n, dtype=bool)
    injected: dict[str, int] = {}
    errors = P.CLAIM_ERRORS

    def elsewhere(rows: np.ndarray) -> None:  # another clinic than the patient's own
        if n_clinics > 1:
            shift = rng.integers(1, n_clinics, len(rows)).astype(np.int32)
            provider[rows] = (provider[rows] + shift) % n_clinics

    consult = np.flatnonzero(c.code == codes["0101"])
    acute = consult[rng.random(len(consult)) < P.COVER_SHARE]
    elsewhere(acute)
    cover[acute] = True
    injected["cover"] = len(acute)
    free = np.ones(n, dtype=bool)  # a line gets one change at most
    free[acute] = False

    def pick(share: float, mask: np.ndarray | None = None) -> np.ndarray:
        ok = free if mask is None else free & mask
        rows = np.flatnonzero(ok & (rng.random(n) < share))
        free[rows] = False
        return rows

    listed_only = np.isin(c.code, [codes[k] for k in ("0101", "0201", "0105", "0125")])
    rows = pick(errors["not_listed"], listed_only)
    elsewhere(rows)
    injected["not_listed"] = len(rows)
    men = ~female[c.person]
    rows = pick(errors["age_sex"], men & (c.code == codes["0101"]))
    c.code[rows] = codes["2102"]
    injected["age_sex"] = len(rows)
    rows = pick(errors["outside_period"], month > month.min())
    month[rows] = month_start(month[rows] - 1)  # the month before
    injected["outside_period"] = len(rows)
    once_a_day = np.isin(c.code, [codes["0101"], codes["0125"]])
    dup = pick(errors["duplicate"], once_a_day)
    controls = pick(errors["per_year"], c.code == codes["0120"])
    year_start, year_end = c.date.min(), c.date.max()
    again = _take(c, controls)
    # the same control later in the year (or earlier, for one late in December)
    later = again.date + 30
    again.date = np.where(later <= year_end, later, np.maximum(again.date - 30, year_start))
    injected["duplicate"] = len(dup)
    injected["per_year"] = len(controls)
    extra = [_take(c, dup), again]
    return SentClaims(
        claims=_concat([c, *extra]),
        provider=np.concatenate([provider, provider[dup], provider[controls]]),
        month=np.concatenate([month, month[dup], month_start(again.date)]),
        cover=np.concatenate([cover, cover[dup], cover[controls]]),
        injected=injected,
    )


def month_start(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of each day's month."""
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int32)


def _same_day(who: np.ndarray, date: np.ndarray, rows: np.ndarray, code: int) -> Claims:
    return Claims(who[rows], np.full(len(rows), code, dtype=np.int16), date[rows],
                  np.zeros(len(rows), dtype=np.int8))  # fmt: skip
