"""Every return rule as one hand-written SQL query (DuckDB): the baseline of issue 14
item 5, and an implementation of the rules written apart from almen's Ibis engine
(``settlement/rules.py``), from the rule table and docs/settlement.md.

    rule_per_line(con, year=2025, through_month=12, as_of=date(2026, 1, 31))

gives (claim_id, rule) for every claim line sent for January..``through_month`` of
``year``: the rule the line is returned by, or NULL when it is paid. The per-service
limits come from ``claim_rules.csv`` (the same input almen reads), registered as the
table ``service_rule``. The order of the rules, as documented: the row rules in turn
(unknown service, unknown patient, outside the period, future date, quantity, not
listed, age or sex), then, among lines no row rule returns, the same-day rules
(duplicate, per day), the yearly limit (per condition where the service says so) and
lines a chronic-care fee replaces.

Written for the intent of each rule rather than copied from the engine: where the two
differ on real data, a test on the tiny Denmark (tests/functional/test_rules_sql.py)
fails and names the lines.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from almen.settlement.rules import COVER_REASONS, LATE_MONTHS

__all__ = ["RULES_SQL", "rule_per_line"]

RULES_SQL = """
WITH lines AS (
  SELECT * FROM claim
  WHERE settlement_month >= DATE '{year}-01-01' AND settlement_month <= DATE '{last}'
),
fee AS (
  SELECT service_code, coalesce(insurance_group, 1) AS grp, valid_from, valid_to,
         price_dkk, unit
  FROM fee_schedule
),
-- the price a line is paid at: its patient's group's fee, or the group-1 fee where the
-- service has no group-2 fee
price AS (
  SELECT * FROM fee
  UNION ALL
  SELECT service_code, 2 AS grp, valid_from, valid_to, price_dkk, unit FROM fee
  WHERE grp = 1 AND service_code NOT IN (SELECT service_code FROM fee WHERE grp = 2)
),
ended AS ({ended}),
row_checked AS (
  SELECT l.claim_id, l.patient_id, l.provider_number, l.service_code, l.service_date,
         l.time_band, l.quantity, l.condition_code,
         r.max_per_day, r.max_per_year, coalesce(r.per_condition, false) AS per_condition,
         CASE
           WHEN pr.price_dkk IS NULL THEN 'unknown_service'
           WHEN p.patient_id IS NULL THEN 'unknown_patient'
           WHEN year(l.service_date) * 12 + month(l.service_date)
                  > year(l.settlement_month) * 12 + month(l.settlement_month)
             OR year(l.service_date) * 12 + month(l.service_date)
                  < year(l.settlement_month) * 12 + month(l.settlement_month) - {late}
             THEN 'outside_period'
           WHEN l.service_date > DATE '{as_of}' THEN 'future_date'
           WHEN l.quantity < 1 OR l.quantity > coalesce(
                  r.max_quantity, CASE WHEN pr.unit = 'km' THEN 500 ELSE 1 END)
             THEN 'invalid_quantity'
           WHEN coalesce(r.requires_listed, true) AND p.insurance_group = 1
                AND NOT listed.ok
                AND NOT (listed.cover_ok AND coalesce(r.cover, false))
             THEN 'not_listed'
           WHEN (r.min_age IS NOT NULL AND year(l.service_date) - p.birth_year < r.min_age)
             OR (r.max_age IS NOT NULL AND year(l.service_date) - p.birth_year - 1 > r.max_age)
             OR (r.sex IS NOT NULL AND r.sex <> p.sex)
             THEN 'age_sex'
         END AS row_rule
  FROM lines l
  LEFT JOIN patient p ON p.patient_id = l.patient_id
  LEFT JOIN price pr
    ON pr.service_code = l.service_code
   AND pr.grp = CASE WHEN p.insurance_group = 2 THEN 2 ELSE 1 END
   AND l.service_date BETWEEN pr.valid_from AND pr.valid_to
  LEFT JOIN service_rule r ON r.service_code = l.service_code
  -- listed with this clinic on the day: now (from its start) or in an ended period
  CROSS JOIN LATERAL (
    SELECT coalesce(p.provider_number = l.provider_number AND p.listed_from <= l.service_date,
                    false)
           OR EXISTS (SELECT 1 FROM ended e
                      WHERE e.patient_id = l.patient_id
                        AND e.provider_number = l.provider_number
                        AND l.service_date BETWEEN e.listed_from AND e.listed_to) AS ok,
           coalesce(l.cover_reason IN ({covers}), false) AS cover_ok
  ) listed
),
ok AS (SELECT * FROM row_checked WHERE row_rule IS NULL),
-- the same service for the same patient, day and clinic: a second identical line is
-- sent twice (duplicate) unless the service may repeat; beyond max_per_day per_day
by_day AS (
  SELECT claim_id,
         CASE
           WHEN max_per_day >= 2 THEN
             CASE WHEN row_number() OVER day_all > max_per_day THEN 'per_day' END
           WHEN lag(time_band) OVER day_all = time_band
                AND lag(quantity) OVER day_all = quantity THEN 'duplicate'
           WHEN max_per_day IS NOT NULL AND dense_rank() OVER day_lines > max_per_day
             THEN 'per_day'
         END AS rule
  FROM ok
  WINDOW day_all AS (PARTITION BY patient_id, service_date, provider_number, service_code
                     ORDER BY time_band, quantity, claim_id),
         day_lines AS (PARTITION BY patient_id, service_date, provider_number, service_code
                       ORDER BY time_band, quantity)
),
day_returned AS (SELECT claim_id, rule FROM by_day WHERE rule IS NOT NULL),
-- at most max_per_year a calendar year per patient (per condition where the service
-- says so), in date order; lines the same-day rules return still count
by_year AS (
  SELECT claim_id, 'per_year' AS rule
  FROM (
    SELECT claim_id, max_per_year,
           row_number() OVER (
             PARTITION BY patient_id, service_code, year(service_date),
                          CASE WHEN per_condition THEN coalesce(condition_code, '') ELSE '' END
             ORDER BY service_date, claim_id) AS n
    FROM ok WHERE max_per_year IS NOT NULL
  )
  WHERE n > max_per_year
    AND claim_id NOT IN (SELECT claim_id FROM day_returned)
),
-- a paid chronic-care fee covers that patient's annual control for its condition
-- in the year
held AS (
  SELECT DISTINCT o.patient_id, year(o.service_date) AS y,
         split_part(r.replaces, ':', 1) AS code, split_part(r.replaces, ':', 2) AS cond
  FROM ok o JOIN service_rule r ON r.service_code = o.service_code
  WHERE r.replaces IS NOT NULL
),
replaced AS (
  SELECT DISTINCT l.claim_id, 'chronic_fee' AS rule
  FROM lines l JOIN held h
    ON h.patient_id = l.patient_id AND h.y = year(l.service_date)
   AND h.code = l.service_code AND h.cond = l.condition_code
  WHERE l.claim_id NOT IN (SELECT claim_id FROM day_returned)
    AND l.claim_id NOT IN (SELECT claim_id FROM by_year)
),
grouped AS (
  SELECT * FROM day_returned UNION ALL SELECT * FROM by_year UNION ALL SELECT * FROM replaced
)
SELECT c.claim_id, coalesce(c.row_rule, g.rule) AS rule
FROM row_checked c LEFT JOIN grouped g USING (claim_id)
"""

_NO_LISTING = (
    "SELECT NULL::BIGINT AS patient_id, NULL::VARCHAR AS provider_number, "
    "NULL::DATE AS listed_from, NULL::DATE AS listed_to WHERE false"
)


def rule_per_line(
    con: duckdb.DuckDBPyConnection,
    *,
    year: int,
    through_month: int = 12,
    as_of: dt.date,
    service_rules: pl.DataFrame,
) -> pl.DataFrame:
    """(claim_id, rule) of every line sent for ``year`` up to ``through_month``, from a
    DuckDB connection to a warehouse file (read only is enough)."""
    con.register("service_rule", service_rules.to_arrow())
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    ended = (
        "SELECT patient_id, provider_number, listed_from, listed_to FROM listing "
        "WHERE listed_to IS NOT NULL"
        if "listing" in tables
        else _NO_LISTING
    )
    last = dt.date(year, through_month, 1)
    sql = RULES_SQL.format(
        year=year,
        last=last.isoformat(),
        as_of=as_of.isoformat(),
        late=LATE_MONTHS,
        covers=", ".join(f"'{c}'" for c in COVER_REASONS),
        ended=ended,
    )
    try:
        out = pl.from_arrow(con.execute(sql).arrow().read_all())
    finally:
        con.unregister("service_rule")
    assert isinstance(out, pl.DataFrame)
    return out
