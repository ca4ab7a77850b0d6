"""Returned claims (returregninger): the rules as data and the check that applies them.

The rule catalogue (``claim_return_rule.csv``: rule, priority, reasons in Danish and
English, source) and the per-service limits (``claim_rules.csv``: listing required, age and
sex, largest quantity, most per day and per year) ship as data in ``almen.reference``; a
user can replace both. ``check_claims`` applies every rule to every line in one pass and
gives each line the first rule it breaks, by priority, or none.

Seed 004 §5.2: fee-for-service claims are sent weekly and settled monthly; a claim that
breaks the agreement comes back to the clinic (returregning).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path

import ibis
import polars as pl

from almen.errors import InputError
from almen.reference import DATA_DIR

__all__ = [
    "LATE_MONTHS",
    "RULE_COLUMNS",
    "check_claims",
    "load_return_rules",
    "load_service_rules",
]

COVER_REASONS = ("acute", "substitute")
LATE_MONTHS = 6  # assumption: a line older than six months before its period comes back

RULE_COLUMNS: dict[str, type[pl.DataType]] = {
    "service_code": pl.Utf8,
    "requires_listed": pl.Boolean,
    "min_age": pl.Int16,
    "max_age": pl.Int16,
    "sex": pl.Utf8,
    "max_quantity": pl.Int32,
    "max_per_day": pl.Int32,
    "max_per_year": pl.Int32,
    "per_condition": pl.Boolean,
    "cover": pl.Boolean,
    "replaces": pl.Utf8,
}
# columns a user's rule file may leave out, and what their absence means
OPTIONAL_RULE_COLUMNS: dict[str, bool | None] = {
    "per_condition": False,
    "cover": False,
    "replaces": None,
}
PRICE_TOLERANCE_DKK = 0.005  # a claimed amount within half an øre of the price matches


@cache
def load_return_rules(path: Path | None = None) -> pl.DataFrame:
    """The rule catalogue: rule, priority, reason_da, reason_en, source."""
    p = path or DATA_DIR / "claim_return_rule.csv"
    return pl.read_csv(p).sort("priority")


def load_service_rules(path: Path | None = None) -> pl.DataFrame:
    """Per-service limits; a service without a row needs listing and has no other limit."""
    p = path or DATA_DIR / "claim_rules.csv"
    try:
        df = pl.read_csv(
            p, schema_overrides={"service_code": pl.Utf8, "sex": pl.Utf8, "replaces": pl.Utf8}
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"cannot read the claim rules: {exc}", source=str(p)) from None
    df = df.with_columns(
        [
            pl.lit(v, dtype=RULE_COLUMNS[c]).alias(c)
            for c, v in OPTIONAL_RULE_COLUMNS.items()
            if c not in df.columns
        ]
    )
    missing = [c for c in RULE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"claim rules lack columns {missing}", source=str(p), line=1)
    bad = df.filter(
        pl.col("replaces").is_not_null()
        & ~pl.col("replaces").str.contains(r"^[0-9A-Z]{4,5}:[A-Z][0-9]{2}$")
    )
    if len(bad):
        code = bad["service_code"][0]
        raise InputError(
            f"claim rules: replaces of {code} must be SERVICE:ICPC2, e.g. 0120:T90",
            source=str(p),
        )
    try:
        return df.select([pl.col(c).cast(t, strict=True) for c, t in RULE_COLUMNS.items()])
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"claim rules have a bad value: {exc}", source=str(p)) from None


def priced_claims(
    claims: ibis.Table,
    fees: ibis.Table,
    patients: ibis.Table,
    service_rules: ibis.Table,
) -> ibis.Table:
    """Claims joined with their price, their service's limits and their patient.

    ``price_dkk`` is the price on the service date that the region pays: for a group-2
    patient the group-2 fee (``insurance_group`` 2 rows of the schedule; laeger.dk
    "Honorarer": the doctor gets the group-2 fee and may charge a private fee besides),
    for everyone else, or where the schedule has no group-2 row, the group-1 price.
    """
    # one price table keyed by the group that pays by it: group-1 rows, group-2 rows,
    # and for a service with no group-2 row its group-1 rows again as group 2; so a line
    # is priced by one join whichever its patient's group (fallback is per service)
    fees = fees.select(
        f_code=fees.service_code.cast("string"),
        f_grp=fees.insurance_group.fill_null(1).cast("int8"),
        f_from=fees.valid_from.cast("date"),
        f_to=fees.valid_to.cast("date"),
        price_dkk=fees.price_dkk.cast("float64"),
        unit=fees.unit.cast("string"),
        daytime=fees.daytime.cast("boolean"),
        outside_frame=fees.outside_frame.cast("boolean"),
    )
    g1 = fees.filter(fees.f_grp == 1)
    g2 = fees.filter(fees.f_grp == 2)
    has_g2 = g2.select(h_code=g2.f_code).distinct()
    fallback = g1.anti_join(has_g2, g1.f_code == has_g2.h_code)
    fallback = fallback.mutate(f_grp=ibis.literal(2, "int8").cast("int8")).select(g1.columns)
    f = g1.union(g2).union(fallback)
    p = patients.select(
        p_id=patients.patient_id,
        birth_year=patients.birth_year,
        sex=patients.sex,
        listed_at=patients.provider_number,
        listed_from=patients.listed_from,
        insurance_group=patients.insurance_group,
    )
    c = claims.left_join(p, claims.patient_id == p.p_id)
    c = c.mutate(pay_grp=ibis.ifelse(c.insurance_group == 2, 2, 1).cast("int8"))
    c = c.left_join(
        f,
        [
            c.service_code == f.f_code,
            c.pay_grp == f.f_grp,
            c.service_date >= f.f_from,
            c.service_date <= f.f_to,
        ],
    ).drop("f_code", "f_grp", "f_from", "f_to", "pay_grp")
    r = service_rules.rename(r_code="service_code", rule_sex="sex")
    c = c.left_join(r, c.service_code == r.r_code).drop("r_code")
    return c.mutate(
        amount_dkk=(c.price_dkk * c.quantity).fill_null(0.0),
        age=(c.service_date.year() - c.birth_year - 1).cast("int16"),
    )


CHECKED_COLUMNS = (
    "claim_id",
    "ingest_id",
    "source_line",
    "provider_number",
    "patient_id",
    "service_code",
    "service_date",
    "settlement_month",
    "time_band",
    "quantity",
    "price_dkk",
    "amount_dkk",
    "unit",
    "daytime",
    "outside_frame",
    "age",
    "sex",
    "max_per_day",
    "max_per_year",
    "insurance_group",
    "claimed_dkk",
    "condition_code",
    "per_condition",
    "cover_reason",
    "covered",
    "price_mismatch",
    "rule",
)


def _row_rule(c: ibis.Table, as_of: dt.date) -> ibis.Value:
    year = c.service_date.year()
    # month numbers (year × 12 + month) compare faster than dates shifted by intervals
    month = year * 12 + c.service_date.month()
    period = c.settlement_month.year() * 12 + c.settlement_month.month()
    max_q = c.max_quantity.fill_null(ibis.ifelse(c.unit == "km", 500, 1))
    age_hi = year - c.birth_year  # the oldest the patient can be on the date
    return ibis.cases(
        (c.price_dkk.isnull(), "unknown_service"),
        (c.p_id.isnull(), "unknown_patient"),
        ((month > period) | (month < period - LATE_MONTHS), "outside_period"),
        (c.service_date > ibis.literal(as_of), "future_date"),
        ((c.quantity < 1) | (c.quantity > max_q), "invalid_quantity"),
        (
            c.requires_listed.fill_null(True)
            & (c.insurance_group == 1)
            & ~c.listed_ok
            & ~c.covered,
            "not_listed",
        ),
        (
            (c.min_age.notnull() & (age_hi < c.min_age))
            | (c.max_age.notnull() & (age_hi - 1 > c.max_age))
            | (c.rule_sex.notnull() & (c.rule_sex != c.sex)),
            "age_sex",
        ),
        else_=ibis.null(str),
    )


def _replaced_by_fee(
    claims: ibis.Table,
    service_rules: pl.DataFrame,
    row_checked: Callable[[ibis.Table], ibis.Table],
    limited: tuple[list[str], ibis.Table],
) -> ibis.Table | None:
    """The lines a yearly fee covers (``replaces`` = "0120:T90", always a service and a
    condition: the chronic-care fee covers that patient's annual control for T90 in the
    year of an accepted fee line),
    as (claim_id, rule "chronic_fee"); None when no rule replaces anything.

    ``limited``: the codes with a yearly limit and their lines that pass the row rules,
    already made for the yearly limits; when the fee codes are among them (K001 and K002
    are once a year), the accepted fee lines are taken from there instead of checking
    the fee lines again."""
    pairs = service_rules.filter(pl.col("replaces").is_not_null()).select(
        fee_code=pl.col("service_code"),
        r_code=pl.col("replaces").str.split(":").list.get(0),
        r_cond=pl.col("replaces").str.split(":").list.get(1),
    )
    if pairs.is_empty():
        return None
    pt = ibis.memtable(pairs.to_arrow())
    fee_codes = pairs["fee_code"].to_list()
    limited_codes, limited_ok = limited
    if set(fee_codes) <= set(limited_codes):
        fees = limited_ok.filter(limited_ok.service_code.isin(fee_codes))
    else:
        fees = row_checked(claims.filter(claims.service_code.isin(fee_codes)))
        fees = fees.filter(fees.rule.isnull())
    held = (
        fees.join(pt, fees.service_code == pt.fee_code)
        .select(
            h_pid=fees.patient_id,
            h_year=fees.service_date.year(),
            h_code=pt.r_code,
            h_cond=pt.r_cond,
        )
        .distinct()
    )
    lines = claims.filter(claims.service_code.isin(pairs["r_code"].unique().to_list()))
    hit = lines.join(
        held,
        [
            lines.patient_id == held.h_pid,
            lines.service_date.year() == held.h_year,
            lines.service_code == held.h_code,
            lines.condition_code == held.h_cond,
        ],
    )
    return hit.select(claim_id=lines.claim_id, rule=ibis.literal("chronic_fee")).distinct()


def check_claims(
    claims: ibis.Table,
    fees: ibis.Table,
    patients: ibis.Table,
    service_rules: pl.DataFrame,
    *,
    as_of: dt.date,
    same_day: ibis.Table | None = None,
    listing: ibis.Table | None = None,
) -> ibis.Table:
    """Every line of ``priced`` (from ``priced_claims``) with the first rule it breaks.

    Seed 004 §5.2 (claims settled monthly; lines that break the agreement come back).

    ``claims`` should hold every line of the year up to the period checked, so that the
    yearly limits count earlier months. The result has ``CHECKED_COLUMNS``.

    Rules, in priority order (``claim_return_rule.csv``):

    - unknown_service: no fee-schedule row for the code on the service date;
    - unknown_patient: the pseudonym is not in the patient table;
    - outside_period: dated after the settlement month, or more than ``LATE_MONTHS``
      months before it;
    - future_date: dated after ``as_of``;
    - invalid_quantity: quantity below 1 or above the service's ``max_quantity``
      (default 1 for services, 500 for km);
    - not_listed: the service requires listing, the patient is in group 1, and is not
      listed with the claiming clinic on the service date: neither in the patient
      table's current period nor in an ended period of the listing history ``listing``
      (so a March consultation stays accepted after the patient moves in June), and
      the line is not a cover: ``cover_reason`` acute or substitute on a service whose
      rule allows it (``cover``) is paid to the clinic that saw the patient and marked
      ``covered``;
    - age_sex: outside the service's ages or sex. Only the birth year is known, so a line
      comes back only when the age is certainly outside (age on the service date is
      year − birth year − 1 or year − birth year);
    - duplicate: another line has the same clinic, patient, service, date, time band and
      quantity and a lower claim_id;
    - per_day: more lines than ``max_per_day`` (no limit when empty) for the clinic,
      patient, service and day; lines are kept in order of time band, quantity, claim_id;
    - per_year: more lines than ``max_per_year`` for the patient and service in the
      calendar year, at any clinic; the earliest by date and claim_id are kept. A
      service with ``per_condition`` (0120) counts each ``condition_code`` apart;
    - chronic_fee: a line another service's yearly fee covers (``replaces``: the
      chronic-care fee K001 covers the annual control 0120 for T90 in the year the
      patient has an accepted K001 line).

    Not a rule: ``price_mismatch`` marks an accepted or returned line whose own amount
    (``claimed_dkk``) is not its price × quantity on the service date; the line is paid
    at the schedule's price, never at the amount sent.

    Lines that break a row rule do not count towards the frequency limits of others.
    Speed: the lines whose patient has another line of the same service that day (about
    2.5 % of lines) come from the same-day index ``same_day`` (``almen.claim_index``) or,
    without it, from one window over the raw claims; only those, and the services with a
    yearly limit, are
    priced and go through the frequency windows. The lines those rules return (few) are
    cached in the backend as a temporary table; the row rules are cheap and are
    recomputed by each query that reads the result.
    """
    rules_t = ibis.memtable(service_rules.to_arrow())
    ended = None
    if listing is not None:
        e = listing.filter(listing.listed_to.notnull())
        ended = e.select(
            h_pid=e.patient_id, h_prov=e.provider_number, h_from=e.listed_from, h_to=e.listed_to
        )

    def row_checked(lines: ibis.Table) -> ibis.Table:
        priced = priced_claims(lines, fees, patients, rules_t)
        if ended is None:
            priced = priced.mutate(listed_then=ibis.literal(False))
        else:
            hits = (
                lines.join(
                    ended,
                    [
                        lines.patient_id == ended.h_pid,
                        lines.provider_number == ended.h_prov,
                        lines.service_date >= ended.h_from,
                        lines.service_date <= ended.h_to,
                    ],
                )
                .select(h_id=lines.claim_id)
                .distinct()
            )
            priced = priced.left_join(hits, priced.claim_id == hits.h_id)
            priced = priced.mutate(listed_then=priced.h_id.notnull()).drop("h_id")
        listed_ok = (
            (priced.listed_at == priced.provider_number)
            & priced.listed_from.notnull()
            & (priced.listed_from <= priced.service_date)
        ) | priced.listed_then
        priced = priced.mutate(
            listed_ok=listed_ok,
            # seen for another GP (acute illness, or the own GP away): paid where the
            # service allows it, and shown as such
            covered=priced.cover_reason.isin(COVER_REASONS).fill_null(False)
            & priced.cover.fill_null(False)
            & (priced.insurance_group == 1)
            & ~listed_ok,
            price_mismatch=priced.claimed_dkk.notnull()
            & priced.price_dkk.notnull()
            & ((priced.claimed_dkk - priced.amount_dkk).abs() > PRICE_TOLERANCE_DKK),
        )
        return priced.mutate(rule=_row_rule(priced, as_of)).select(*CHECKED_COLUMNS)

    # a line can only be a duplicate or over a day limit if the same patient has another
    # line of the same service on the same day: the same-day index (claim_index) when
    # it is given, else one window over the lines
    if same_day is not None:
        ids = same_day.select(sd_id=same_day.claim_id)
        candidates = claims.semi_join(ids, claims.claim_id == ids.sd_id)
    else:
        per_patient_day = ibis.window(
            group_by=[claims.patient_id, claims.service_date, claims.service_code]
        )
        counted = claims.mutate(n_day=claims.count().over(per_patient_day))
        candidates = counted.filter(counted.n_day > 1).drop("n_day")
    multi = row_checked(candidates)
    multi = multi.filter(multi.rule.isnull())
    day_keys = [multi.patient_id, multi.service_date, multi.provider_number, multi.service_code]
    day_w = ibis.window(
        group_by=day_keys, order_by=[multi.time_band, multi.quantity, multi.claim_id]
    )
    same_line = (multi.time_band.lag().over(day_w) == multi.time_band) & (
        multi.quantity.lag().over(day_w) == multi.quantity
    )
    line_w = ibis.window(group_by=day_keys, order_by=[multi.time_band, multi.quantity])
    rn = ibis.dense_rank().over(line_w)  # distinct lines: duplicates do not count twice
    n_all = ibis.row_number().over(day_w)  # every line of the day, from 0
    # a service allowed more than once a day (0201: three phone consultations) repeats
    # the same line legitimately: every line counts towards its limit and none is a
    # duplicate; for the rest an identical second line is a duplicate (sent twice)
    repeatable = multi.max_per_day.notnull() & (multi.max_per_day >= 2)
    by_day = multi.mutate(
        rule=ibis.cases(
            (repeatable & (n_all >= multi.max_per_day), "per_day"),
            (~repeatable & same_line.fill_null(False), "duplicate"),
            (~repeatable & multi.max_per_day.notnull() & (rn >= multi.max_per_day), "per_day"),
            else_=ibis.null(str),
        )
    )
    by_day = by_day.filter(by_day.rule.notnull()).select("claim_id", "rule")

    limited_codes = service_rules.filter(pl.col("max_per_year").is_not_null())[
        "service_code"
    ].to_list()
    limited = row_checked(claims.filter(claims.service_code.isin(limited_codes or [""])))
    limited = limited.filter(limited.rule.isnull())
    limited_ok = limited
    # a service limited per condition (0120) counts each condition apart
    per_condition = ibis.ifelse(
        limited.per_condition.fill_null(False), limited.condition_code.fill_null(""), ""
    )
    limited = limited.mutate(limit_key=per_condition)
    year_w = ibis.window(
        group_by=[
            limited.patient_id,
            limited.service_code,
            limited.service_date.year(),
            limited.limit_key,
        ],
        order_by=[limited.service_date, limited.claim_id],
    )
    by_year = limited.mutate(rule=ibis.literal("per_year"), year_n=ibis.row_number().over(year_w))
    by_year = by_year.filter(by_year.year_n >= by_year.max_per_year).select("claim_id", "rule")
    day_ids = by_day.select(d_id=by_day.claim_id)
    by_year = by_year.anti_join(day_ids, by_year.claim_id == day_ids.d_id)
    grouped = by_day.union(by_year)
    replaced = _replaced_by_fee(claims, service_rules, row_checked, (limited_codes, limited_ok))
    if replaced is not None:
        taken = grouped.select(t_id=grouped.claim_id)
        grouped = grouped.union(replaced.anti_join(taken, replaced.claim_id == taken.t_id))
    grouped = grouped.select(g_id=ibis._.claim_id, g_rule=ibis._.rule).cache()
    c = row_checked(claims)
    out = c.left_join(grouped, c.claim_id == grouped.g_id)
    return out.mutate(rule=out.rule.coalesce(out.g_rule)).drop("g_id", "g_rule")
