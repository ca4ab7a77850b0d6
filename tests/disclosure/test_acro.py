"""ACRO (SACRO's output checker, PyPI ``acro``) over what almen publishes (issue 13).

ACRO checks a table against the records behind it: every cell must hold at least
``safe_threshold`` records, and zeros are disclosive. Set to almen's declared rule
(``almen.disclosure``: counts 0-7 are not published, so the threshold is 8), it is run
over every published cell of the case-finding counts (each level, each group, the list
sizes) and of the quality indicators (met and not met where x is published, n where n
is), with one record per patient in the cell. It must report no failure.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from almen import disclosure, population
from almen.population.indicators import funnel, indicator_counts
from almen.warehouse import Warehouse

acro_module = pytest.importorskip("acro")

DAY = dt.date(2025, 12, 31)


def _records(cells: pl.DataFrame, key: str, column: str, count: str) -> pd.DataFrame:
    """One record per patient of each cell (the records behind a published table)."""
    rep = cells.select(key, column, count).filter(pl.col(count) > 0)
    long = rep.select(
        pl.col(key).repeat_by(count).explode(), pl.col(column).repeat_by(count).explode()
    )
    return long.to_pandas()


@pytest.fixture(scope="module")
def checker():  # type: ignore[no-untyped-def]
    logging.getLogger("acro").setLevel(logging.WARNING)
    acro = acro_module.ACRO(suppress=False)
    acro.config["safe_threshold"] = disclosure.SUPPRESS_AT_MOST + 1  # almen's rule
    acro.config["zeros_are_disclosive"] = True
    return acro


def _check(acro, records: pd.DataFrame, key: str, column: str) -> list[str]:  # type: ignore[no-untyped-def]
    before = set(acro.results.get_keys())
    acro.crosstab(records[key], records[column])
    new = [k for k in acro.results.get_keys() if k not in before]
    return [acro.results.get(k).status for k in new]


def test_acro_passes_every_published_case_finding_cell(tiny_denmark: Path, checker) -> None:  # type: ignore[no-untyped-def]
    defs = population.load_definitions()
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        feats = population.warehouse_features(wh, as_of=DAY, definitions=defs)
        area = population.clinic_areas(wh)
    counts = population.clinic_counts(population.apply_definitions(feats, defs), feats)
    pub = population.published(counts, area)
    statuses = []
    for level in population.LEVELS:
        true = (
            population.aggregate(counts, area, level)
            .with_columns(pl.col("area").cast(pl.Utf8))
            .unpivot(index=["area"], on=["list_size", *population.DEFINITIONS])
            .rename({"variable": "definition", "value": "true"})
        )
        mine = pub.filter(pl.col("level") == level)
        sizes = mine.select("area", "definition", shown=pl.col("list_size")).unique(["area"])
        shown = pl.concat([
            mine.select("area", "definition", shown="patients"),
            sizes.with_columns(definition=pl.lit("list_size")),
        ])  # fmt: skip
        cells = true.join(shown, on=["area", "definition"]).filter(pl.col("shown").is_not_null())
        for _, part in cells.group_by(["definition"]):
            statuses += _check(checker, _records(part, "area", "definition", "true"), "area",
                               "definition")  # fmt: skip
    assert statuses and set(statuses) == {"pass"}, statuses


def test_acro_passes_every_published_indicator_cell(tiny_denmark: Path, checker) -> None:  # type: ignore[no-untyped-def]
    defs = population.load_definitions()
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        feats = population.warehouse_features(wh, as_of=DAY, definitions=defs)
        area = population.clinic_areas(wh).select("provider_number", "cluster", "region")
        ind = indicator_counts(feats, defs)
    pub = funnel(ind, area).select("provider_number", "indicator", shown_n="n", shown_x="x")
    true = ind.group_by("provider_number", "indicator").agg(pl.col("n").sum(), pl.col("x").sum())
    j = true.join(pub, on=["provider_number", "indicator"])
    statuses = []
    for (name,), part in j.group_by(["indicator"]):
        with_x = part.filter(pl.col("shown_x").is_not_null())
        outcome = pl.concat([
            with_x.select("provider_number", outcome=pl.lit("met"), count="x"),
            with_x.select("provider_number", outcome=pl.lit("not met"),
                          count=pl.col("n") - pl.col("x")),
        ])  # fmt: skip
        if len(outcome):
            statuses += _check(checker, _records(outcome, "provider_number", "outcome", "count"),
                               "provider_number", "outcome")  # fmt: skip
        with_n = part.filter(pl.col("shown_n").is_not_null()).with_columns(what=pl.lit(name))
        statuses += _check(checker, _records(with_n, "provider_number", "what", "n"),
                           "provider_number", "what")  # fmt: skip
    assert statuses and set(statuses) == {"pass"}, statuses


def test_acro_fails_the_rule_before_issue_13(checker) -> None:  # type: ignore[no-untyped-def]
    """The checker is not blind: the old rule published 5-7 and zeros, and ACRO fails them."""
    cells = pl.DataFrame({"area": ["a", "b"], "definition": ["g", "g"], "true": [6, 40]})
    assert "fail" in _check(checker, _records(cells, "area", "definition", "true"), "area",
                            "definition")  # fmt: skip
