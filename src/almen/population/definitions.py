"""Case definitions as data: a small grammar over the record tables, in the spirit of
OpenSAFELY's ehrQL, kept in a TOML file a user can replace (``--definitions FILE``).

The file has five kinds of entry (docs/case-finding.md, "The definition language"):

- ``[codelists.NAME]``: a versioned code list (ICPC-2, ATC, service codes or NPU lab
  codes) in a CSV file beside the definitions (``code,term[,group]``) or inline
  (``codes = [...]``), with its ``version`` and ``source``.
- ``[variables.NAME]``: one value per listed patient on the as-of date, of a ``kind``:
  ``condition`` (bool: an ICPC-2 code of the list active on the day: onset on or before,
  not ended; optional ``diagnosed_by`` and ``onset_within_months``), ``condition_groups``
  (int: distinct groups of the list active), ``drug`` (bool: an ATC code starting with one
  of the list in use), ``drugs`` (int: distinct drugs in use, of the list if given),
  ``drug_pairs`` (int: how many of the ``pairs`` of ATC prefixes are both in use),
  ``claims`` (int: claims with a service code of the list in the last ``months``),
  ``last_lab`` (float: the latest lab value of the list in the last ``months``; empty when
  the warehouse holds no lab results) and ``expression`` (a formula over other variables).
  ``age`` (on the day, by the birth-year rule) and ``sex`` are always there.
- ``[frailty]``: a cumulative deficit index in the manner of the eFI (Clegg et al. 2016):
  each deficit of the mapping file is present or not; ``efi`` = deficits present /
  deficits in the file, ``frailty`` its band (fit, mild, moderate, severe).
- ``[groups.NAME]``: a group of patients: ``where`` = a condition over the variables, with
  the reason as a template (``reason_en``, ``reason_da``) and, optionally, the share of a
  list the seed expects (``expected_share = [low, high]``), checked, never imposed. A group
  is a bool variable for the groups and indicators after it.
- ``[indicators.NAME]``: a proportion per clinic: ``denominator`` and ``numerator``
  conditions over the same variables and groups.

Conditions and formulas are Python expression syntax restricted to names, numbers,
strings, lists, ``and or not``, comparisons (``< <= > >= == != in``) and ``+ - * /``;
they are parsed with ``ast`` and compiled to Polars expressions, never evaluated as code.
"""

from __future__ import annotations

import ast
import calendar
import csv
import datetime as dt
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import ibis
import polars as pl

from almen.errors import InputError
from almen.reference import DATA_DIR

__all__ = [
    "BUILTINS",
    "DEFAULT_FILE",
    "FRAILTY_BANDS",
    "Codelist",
    "Definitions",
    "Group",
    "Indicator",
    "Variable",
    "compile_expression",
    "evaluate_groups",
    "features",
    "load",
    "months_before",
]

DEFAULT_FILE = DATA_DIR / "case_definitions.toml"
BUILTINS = ("age", "sex")
FRAILTY_BANDS = ("fit", "mild", "moderate", "severe")
SYSTEMS = ("icpc2", "atc", "service", "npu")
KINDS = {
    "condition": "icpc2",
    "condition_groups": "icpc2",
    "drug": "atc",
    "drugs": "atc",
    "drug_pairs": None,
    "claims": "service",
    "last_lab": "npu",
    "expression": None,
}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Codelist:
    """A versioned code list: codes with a term and, where the list groups them, a group."""

    name: str
    system: str
    version: str
    source: str
    codes: tuple[str, ...]
    groups: tuple[str | None, ...]
    file: str | None = None


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str
    codelist: Codelist | None = None
    months: int | None = None
    diagnosed_by: tuple[str, ...] | None = None
    pairs: tuple[tuple[str, str], ...] = ()
    expression: str | None = None
    minimum: int = 1  # a deficit from a count: present from this count


@dataclass(frozen=True)
class Group:
    name: str
    name_da: str
    name_en: str
    seed: str
    where: str
    reason_en: str
    reason_da: str
    expected_share: tuple[float, float] | None = None
    cites: tuple[str, ...] = ()  # the variables the reason names


@dataclass(frozen=True)
class Indicator:
    name: str
    name_da: str
    name_en: str
    seed: str
    denominator: str
    numerator: str


@dataclass(frozen=True)
class Frailty:
    deficits: tuple[Variable, ...]
    thresholds: tuple[float, float, float]  # upper bounds of fit, mild, moderate
    source: str
    file: str


@dataclass(frozen=True)
class Definitions:
    """A parsed definitions file: code lists, variables, frailty, groups, indicators."""

    path: Path
    version: str
    codelists: dict[str, Codelist]
    variables: dict[str, Variable]
    groups: dict[str, Group]
    indicators: dict[str, Indicator]
    frailty: Frailty | None = None
    names: frozenset[str] = field(default_factory=frozenset)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self.groups)

    def __getitem__(self, name: str) -> Group:
        return self.groups[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.groups.get(name, default)

    def max_months(self) -> int:
        """The longest claim or lab look-back any variable uses."""
        ms = [v.months for v in self._all_variables() if v.months]
        return max(ms, default=12)

    def _all_variables(self) -> list[Variable]:
        return [*self.variables.values(), *(self.frailty.deficits if self.frailty else ())]


# -- loading -------------------------------------------------------------------------


def _err(path: Path, where: str, message: str) -> InputError:
    return InputError(f"case definitions, {where}: {message}", source=str(path))


def _read_codelist_file(path: Path, where: str, src: Path) -> tuple[list[str], list[str | None]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise _err(src, where, f"cannot read the code list {path.name}: {exc.strerror}") from None
    if not rows or "code" not in rows[0]:
        raise _err(src, where, f"code list {path.name} needs a header with a 'code' column")
    codes = [r["code"].strip() for r in rows]
    for i, c in enumerate(codes, start=2):
        if not c:
            raise _err(src, where, f"code list {path.name} line {i}: empty code")
    return codes, [(r.get("group") or None) for r in rows]


def _codelist(name: str, spec: dict[str, Any], base: Path, src: Path) -> Codelist:
    where = f"[codelists.{name}]"
    system = spec.get("system")
    if system not in SYSTEMS:
        raise _err(src, where, f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    for key in ("version", "source"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise _err(src, where, f"needs a {key} (a code list is versioned, with its source)")
    if "file" in spec:
        p = base / spec["file"]
        if not p.exists():
            p = DATA_DIR / spec["file"]
        codes, groups = _read_codelist_file(p, where, src)
    elif isinstance(spec.get("codes"), list) and spec["codes"]:
        codes, groups = [str(c) for c in spec["codes"]], [None] * len(spec["codes"])
    else:
        raise _err(src, where, "needs a file or a non-empty list of codes")
    return Codelist(name, system, spec["version"], spec["source"], tuple(codes), tuple(groups),
                    spec.get("file"))  # fmt: skip


def _variable(name: str, spec: dict[str, Any], lists: dict[str, Codelist], src: Path,
              where: str) -> Variable:  # fmt: skip
    kind = spec.get("kind")
    if kind not in KINDS:
        raise _err(src, where, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    cl = None
    if "codelist" in spec:
        cl = lists.get(spec["codelist"])
        if cl is None:
            raise _err(src, where, f"unknown code list {spec['codelist']!r}")
        if KINDS[kind] and cl.system != KINDS[kind]:
            raise _err(src, where, f"a {kind} variable needs a {KINDS[kind]} code list, "
                                   f"not {cl.system} ({cl.name})")  # fmt: skip
    elif kind in ("condition", "condition_groups", "drug", "claims", "last_lab"):
        raise _err(src, where, f"a {kind} variable needs a codelist")
    months = spec.get("months", spec.get("onset_within_months"))
    if kind in ("claims", "last_lab") and not (isinstance(months, int) and months > 0):
        raise _err(src, where, "needs months, a whole number of months to look back")
    if months is not None and not (isinstance(months, int) and months > 0):
        raise _err(src, where, f"months must be a positive whole number, not {months!r}")
    pairs: tuple[tuple[str, str], ...] = ()
    if kind == "drug_pairs":
        raw = spec.get("pairs")
        if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) == 2 for p in raw):
            raise _err(src, where, "pairs must be a list of [ATC prefix, ATC prefix]")
        pairs = tuple((str(a), str(b)) for a, b in raw)
    if kind == "expression" and not isinstance(spec.get("expression"), str):
        raise _err(src, where, 'an expression variable needs expression = "..."')
    by = spec.get("diagnosed_by")
    return Variable(name, kind, cl, months, tuple(by) if by else None, pairs,
                    spec.get("expression"), int(spec.get("minimum", 1)))  # fmt: skip


def _frailty(spec: dict[str, Any], lists: dict[str, Codelist], base: Path, src: Path) -> Frailty:
    """The deficits file: deficit, source (condition, drug, claims, drugs), codes (space
    separated; for drugs: none), minimum (count from which the deficit is present),
    months (claims look-back), note."""
    p = base / spec.get("deficits", "efi_deficits.csv")
    if not p.exists():
        p = DATA_DIR / spec.get("deficits", "efi_deficits.csv")
    try:
        rows = pl.read_csv(p, infer_schema=False).to_dicts()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _err(src, "[frailty]", f"cannot read the deficits file: {exc}") from None
    kinds = {"condition": ("condition", "icpc2"), "drug": ("drug", "atc"),
             "claims": ("claims", "service"), "drugs": ("drugs", "atc")}  # fmt: skip
    deficits = []
    for i, r in enumerate(rows, start=2):
        where = f"{p.name} line {i}"
        if r.get("source") not in kinds:
            raise _err(src, where, f"source must be one of {', '.join(kinds)}")
        kind, system = kinds[r["source"]]
        codes = tuple((r.get("codes") or "").split())
        cl = (Codelist(f"efi_{r['deficit']}", system, str(spec.get("version", "")), p.name, codes,
                       (None,) * len(codes)) if codes else None)  # fmt: skip
        if cl is None and kind != "drugs":
            raise _err(src, where, "needs codes")
        months = int(r["months"]) if r.get("months") else (12 if kind == "claims" else None)
        deficits.append(Variable(f"efi__{r['deficit']}", kind, cl, months,
                                 minimum=int(r.get("minimum") or 1)))  # fmt: skip
    if not deficits:
        raise _err(src, "[frailty]", "the deficits file is empty")
    th = spec.get("bands", [0.12, 0.24, 0.36])
    if not (isinstance(th, list) and len(th) == 3 and th == sorted(th)):
        raise _err(
            src, "[frailty]", "bands must be three rising upper bounds (fit, mild, moderate)"
        )
    return Frailty(tuple(deficits), (float(th[0]), float(th[1]), float(th[2])),
                   str(spec.get("source", "")), p.name)  # fmt: skip


@cache
def load(path: Path | None = None) -> Definitions:
    """Read and check a definitions file (default: the shipped one). Every name a
    condition uses must be defined above it; errors name the file and the entry."""
    src = path or DEFAULT_FILE
    try:
        data = tomllib.loads(src.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"cannot read the case definitions: {exc.strerror}", source=str(src)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"the case definitions are not valid TOML: {exc}", source=str(src)
        ) from None
    base = src.parent
    lists = {n: _codelist(n, s, base, src) for n, s in data.get("codelists", {}).items()}
    names: set[str] = set(BUILTINS)
    variables: dict[str, Variable] = {}
    for n, s in data.get("variables", {}).items():
        where = f"[variables.{n}]"
        if not _NAME.fullmatch(n) or n in names:
            raise _err(src, where, "a name must be new, lower case, letters, digits and _")
        v = _variable(n, s, lists, src, where)
        if v.expression is not None:
            compile_expression(v.expression, names, src=src, where=where)
        variables[n] = v
        names.add(n)
    frailty = None
    if "frailty" in data:
        frailty = _frailty(data["frailty"], lists, base, src)
        names |= {"efi", "efi_deficits", "frailty"}
    groups: dict[str, Group] = {}
    for n, s in data.get("groups", {}).items():
        where = f"[groups.{n}]"
        if not _NAME.fullmatch(n) or n in names:
            raise _err(src, where, "a group's name must be new, lower case, letters, digits and _")
        for key in ("name_da", "name_en", "seed", "where"):
            if not isinstance(s.get(key), str):
                raise _err(src, where, f"needs {key}")
        compile_expression(s["where"], names, src=src, where=where)
        cites = tuple(dict.fromkeys(re.findall(r"\{([a-z_][a-z0-9_]*)\}",
                                               s.get("reason_en", "") + s.get("reason_da", ""))))  # fmt: skip
        unknown = [c for c in cites if c not in names]
        if unknown:
            raise _err(src, where, f"the reason names unknown variables {unknown}")
        share = s.get("expected_share")
        if share is not None and not (isinstance(share, list) and len(share) == 2):
            raise _err(src, where, "expected_share must be [low, high]")
        groups[n] = Group(n, s["name_da"], s["name_en"], s["seed"], s["where"],
                          s.get("reason_en", s["name_en"]), s.get("reason_da", s["name_da"]),
                          (float(share[0]), float(share[1])) if share else None, cites)  # fmt: skip
        names.add(n)
    indicators: dict[str, Indicator] = {}
    for n, s in data.get("indicators", {}).items():
        where = f"[indicators.{n}]"
        for key in ("name_da", "name_en", "seed", "denominator", "numerator"):
            if not isinstance(s.get(key), str):
                raise _err(src, where, f"needs {key}")
        for key in ("denominator", "numerator"):
            compile_expression(s[key], names, src=src, where=f"{where} {key}")
        indicators[n] = Indicator(n, s["name_da"], s["name_en"], s["seed"], s["denominator"],
                                  s["numerator"])  # fmt: skip
    if not groups:
        raise _err(src, "file", "defines no groups")
    return Definitions(src, str(data.get("version", "")), lists, variables, groups, indicators,
                       frailty, frozenset(names))  # fmt: skip


# -- expressions ---------------------------------------------------------------------

_CMP: dict[type, str] = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
                         ast.Eq: "eq", ast.NotEq: "ne"}  # fmt: skip
_ARITH: dict[type, str] = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv"}


def compile_expression(text: str, names: Iterable[str], *, src: Path | None = None,
                       where: str = "expression") -> pl.Expr:  # fmt: skip
    """A condition or formula of the grammar as a Polars expression over columns named
    like the variables. Raises InputError naming the entry and the column of the fault."""
    known = set(names)
    path = src or DEFAULT_FILE

    def fail(node: ast.AST | None, message: str) -> InputError:
        col = (
            f" (column {node.col_offset + 1})"
            if node is not None and hasattr(node, "col_offset")
            else ""
        )
        return _err(path, where, f"{message}{col} in {text!r}")

    def const(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = const(node.operand)
            if isinstance(v, int | float):
                return -v
        raise fail(node, "expected a number or a string")

    def go(node: ast.AST) -> pl.Expr:
        if isinstance(node, ast.BoolOp):
            parts = [go(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return ~go(node.operand)
            if isinstance(node.op, ast.USub):
                return -go(node.operand)
            raise fail(node, "unsupported operator")
        if isinstance(node, ast.Compare):
            acc: pl.Expr | None = None
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    if not isinstance(right, ast.List | ast.Tuple):
                        raise fail(right, "'in' needs a list of values")
                    e = go(left).is_in([const(x) for x in right.elts])
                    part = ~e if isinstance(op, ast.NotIn) else e
                elif type(op) in _CMP:
                    part = getattr(go(left), _CMP[type(op)])(go(right))
                else:
                    raise fail(node, "unsupported comparison")
                acc = part if acc is None else acc & part
                left = right
            assert acc is not None
            return acc
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return getattr(go(node.left), _ARITH[type(node.op)])(go(node.right))
        if isinstance(node, ast.Name):
            if node.id not in known:
                raise fail(node, f"unknown name {node.id!r}")
            return pl.col(node.id)
        if isinstance(node, ast.Constant):
            return pl.lit(const(node))
        raise fail(node, f"not allowed here: {type(node).__name__}")

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _err(path, where, f"cannot parse {text!r} (column {exc.offset})") from None
    return go(tree.body)


# -- evaluation ----------------------------------------------------------------------


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (the month's last day if it is shorter)."""
    m = day.year * 12 + day.month - 1 - months
    y, mo = divmod(m, 12)
    return dt.date(y, mo + 1, min(day.day, calendar.monthrange(y, mo + 1)[1]))


def _atc_match(col: ibis.Value, prefixes: Iterable[str]) -> ibis.Value:
    out: ibis.Value = ibis.literal(False)
    for p in prefixes:
        out = out | col.startswith(p)
    return out


def _needed(defs: Definitions, wanted: Iterable[str] | None) -> set[str]:
    """The variables (and deficits) that ``wanted`` groups and indicators depend on."""
    if wanted is None:
        extra = {"efi", "efi_deficits", "frailty"} if defs.frailty else set()
        return {v.name for v in defs._all_variables()} | set(defs.groups) | extra
    exprs = [defs.groups[w].where for w in wanted if w in defs.groups]
    exprs += [e for w in wanted if w in defs.indicators
              for e in (defs.indicators[w].denominator, defs.indicators[w].numerator)]  # fmt: skip
    exprs += [w for w in wanted if w in defs.variables]
    need: set[str] = set()
    todo = list(exprs)
    while todo:
        e = todo.pop()
        for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", e):
            if n in need:
                continue
            if n in defs.variables:
                need.add(n)
                expr = defs.variables[n].expression
                if expr:
                    todo.append(expr)
            elif n in defs.groups:
                need.add(n)
                todo.append(defs.groups[n].where)
                todo.extend(defs.groups[n].cites)
            elif n in ("efi", "efi_deficits", "frailty") and defs.frailty:
                need |= {"efi", "efi_deficits", "frailty", *(d.name for d in defs.frailty.deficits)}
    for w in wanted:
        if w in defs.groups:
            need.add(w)
            need |= set(defs.groups[w].cites)
    return need


def features(
    defs: Definitions,
    patient: ibis.Table,
    condition: ibis.Table,
    medication: ibis.Table,
    claim: ibis.Table,
    lab: ibis.Table | None = None,
    *,
    as_of: dt.date,
    provider_number: str | None = None,
    wanted: Iterable[str] | None = None,
    claim_months: int | None = None,
) -> pl.DataFrame:
    """One row per listed group-1 patient on ``as_of``: patient_id, provider_number, age,
    sex and every variable the definitions declare (or only those ``wanted`` groups and
    indicators need), computed in the database; deficits and ``efi``/``frailty`` when
    the file has a frailty index. ``claim_months`` replaces every claim look-back (1 for
    a monthly measure)."""
    need = _needed(defs, list(wanted) if wanted is not None else None)
    allvars = [v for v in defs._all_variables() if v.name in need]
    p = patient.filter(
        (patient.insurance_group == 1)
        & patient.provider_number.notnull()
        & (patient.listed_from.isnull() | (patient.listed_from <= as_of))
    )
    if provider_number is not None:
        p = p.filter(p.provider_number == provider_number)
    p = p.select("patient_id", "provider_number", "birth_year", "sex")

    base = p.to_polars().with_columns(age=(as_of.year - pl.col("birth_year") - 1).cast(pl.Int16))
    ids = p.patient_id if provider_number is not None else None
    parts: list[tuple[pl.DataFrame, list[pl.Expr]]] = []
    cvars = [v for v in allvars if v.kind in ("condition", "condition_groups")]
    if cvars:
        c = condition.filter(condition.onset_date <= as_of)
        if "end_date" in condition.columns:
            c = c.filter(c.end_date.isnull() | (c.end_date >= as_of))
        parts.append(_condition_part(c if ids is None else c.semi_join(p, "patient_id"),
                                     cvars, as_of))  # fmt: skip
    mvars = [v for v in allvars if v.kind in ("drug", "drugs", "drug_pairs")]
    if mvars:
        m = medication.filter(
            (medication.start_date <= as_of)
            & (medication.end_date.isnull() | (medication.end_date >= as_of))
        )
        parts.append(_medication_part(m if ids is None else m.semi_join(p, "patient_id"), mvars))
    kvars = [v for v in allvars if v.kind == "claims"]
    if kvars:
        months = {v.name: (claim_months or v.months or 12) for v in kvars}
        first = months_before(as_of, max(months.values()))
        cl = claim.filter((claim.service_date > first) & (claim.service_date <= as_of))
        parts.append(_claim_part(cl if ids is None else cl.semi_join(p, "patient_id"),
                                 kvars, months, as_of))  # fmt: skip
    lvars = [v for v in allvars if v.kind == "last_lab"]
    for v in lvars:
        if lab is None:  # the warehouse holds no lab results
            base = base.with_columns(pl.lit(None, dtype=pl.Float64).alias(v.name))
            continue
        assert v.codelist is not None and v.months is not None
        since = months_before(as_of, v.months)
        lr = lab.filter(lab.code.isin(list(v.codelist.codes)) & (lab.sample_date > since)
                        & (lab.sample_date <= as_of))  # fmt: skip
        if ids is not None:
            lr = lr.semi_join(p, "patient_id")
        w = ibis.window(group_by=lr.patient_id, order_by=ibis.desc(lr.sample_date))
        lr = lr.mutate(_rn=ibis.row_number().over(w)).filter(lambda t: t._rn == 0)
        last = lr.select("patient_id", **{v.name: lr.value.cast("float64")}).to_polars()
        parts.append((last, [pl.col(v.name)]))
    # the aggregates are joined here, not in the database: one small query per table
    lazy = base.lazy()
    for frame, exprs in parts:
        lazy = lazy.join(frame.lazy(), on="patient_id", how="left").with_columns(*exprs)
    names = [v.name for v in (*cvars, *mvars, *kvars, *lvars)]
    f = lazy.select("patient_id", "provider_number", "sex", "age", *names).collect()
    return _derive(defs, f, need)


def _flag(v: Variable, present: pl.Expr) -> pl.Expr:
    """A boolean variable (a condition or drug) is False where the patient has no row; a
    count is 0."""
    if v.kind in ("condition", "drug"):
        return present.fill_null(False).alias(v.name)
    return present.fill_null(0).cast(pl.Int64).alias(v.name)


def _condition_part(
    c: ibis.Table, cvars: list[Variable], as_of: dt.date
) -> tuple[pl.DataFrame, list[pl.Expr]]:
    """Conditions per patient in one pass: each code maps (a small joined table) to a
    bit mask of the plain condition variables that list it and, per condition_groups
    variable, to the bit of its group; the masks are OR-ed per patient and read here.
    Variables with a diagnosed_by or months filter are aggregated as such."""
    plain = [v for v in cvars if v.kind == "condition" and not v.diagnosed_by and not v.months]
    special = [v for v in cvars if v.kind == "condition" and v not in plain]
    grouped = [v for v in cvars if v.kind == "condition_groups"]
    codes = sorted({code for v in cvars for code in (v.codelist.codes if v.codelist else ())})
    rows: dict[str, list[object]] = {"code": list(codes)}
    read: list[pl.Expr] = []
    for k in range(0, len(plain), 62):
        chunk = plain[k : k + 62]
        sets = [set(v.codelist.codes) if v.codelist else set() for v in chunk]
        rows[f"_m{k}"] = [sum(1 << i for i, s in enumerate(sets) if code in s) for code in codes]
        read += [_flag(v, (pl.col(f"_m{k}") & (1 << i)) != 0) for i, v in enumerate(chunk)]
    aggs: dict[str, ibis.Value] = {}
    for j, v in enumerate(grouped):
        assert v.codelist is not None
        group_of = {code: g or code for code, g in zip(v.codelist.codes, v.codelist.groups,
                                                        strict=True)}  # fmt: skip
        labels = sorted(set(group_of.values()))
        if len(labels) > 62:  # too many groups for one mask: count them distinctly
            aggs[v.name] = c.code.cases(*group_of.items(), else_=None).nunique()
            read.append(_flag(v, pl.col(v.name)))
            continue
        bit = {g: 1 << i for i, g in enumerate(labels)}
        rows[f"_g{j}"] = [bit.get(group_of.get(code, ""), 0) for code in codes]
        read.append(_flag(v, pl.col(f"_g{j}").bitwise_count_ones()))
    joined = c.join(ibis.memtable(pl.DataFrame(rows, schema_overrides={
        n: pl.Int64 for n in rows if n != "code"})), "code")  # fmt: skip
    for name in rows:
        if name != "code":
            aggs[name] = joined[name].bit_or()
    for v in special:
        assert v.codelist is not None
        hit = joined.code.isin(list(v.codelist.codes))
        if v.diagnosed_by:
            hit = hit & joined.diagnosed_by.isin(list(v.diagnosed_by))
        if v.months:
            hit = hit & (joined.onset_date > months_before(as_of, v.months))
        aggs[v.name] = hit.any()
        read.append(_flag(v, pl.col(v.name)))
    frame = joined.group_by("patient_id").aggregate(**aggs).to_polars()
    return frame, read


def _medication_part(m: ibis.Table, mvars: list[Variable]) -> tuple[pl.DataFrame, list[pl.Expr]]:
    """Drugs in use per patient: any of a list, how many, and risky pairs."""
    out: dict[str, ibis.Value] = {}
    for v in mvars:
        if v.kind == "drug":
            assert v.codelist is not None
            out[v.name] = _atc_match(m.atc, v.codelist.codes).any()
        elif v.kind == "drugs":
            # (patient_id, atc) is the medication key: rows are distinct drugs
            out[v.name] = (ibis.ifelse(_atc_match(m.atc, v.codelist.codes), 1, 0).sum()
                           if v.codelist else m.count())  # fmt: skip
        else:
            total: ibis.Value = ibis.literal(0)
            for a, b in v.pairs:
                total = total + (m.atc.startswith(a).any() & m.atc.startswith(b).any()).cast(
                    "int32"
                )
            out[v.name] = total
    frame = m.group_by("patient_id").aggregate(**out).to_polars()
    return frame, [_flag(v, pl.col(v.name)) for v in mvars]


def _claim_part(
    cl: ibis.Table, kvars: list[Variable], months: dict[str, int], as_of: dt.date
) -> tuple[pl.DataFrame, list[pl.Expr]]:
    """Claims per patient: each service code maps (a small joined table) to a 0/1 flag
    per claims variable, summed per patient; a variable with a shorter look-back than
    the scan counts only its own months."""
    codes = sorted({c for v in kvars for c in (v.codelist.codes if v.codelist else ())})
    rows: dict[str, list[object]] = {"service_code": list(codes)}
    for i, v in enumerate(kvars):
        listed = set(v.codelist.codes) if v.codelist else set()
        rows[f"_f{i}"] = [int(code in listed) for code in codes]
    joined = cl.join(ibis.memtable(pl.DataFrame(rows, schema_overrides={
        n: pl.Int32 for n in rows if n != "service_code"})), "service_code")  # fmt: skip
    longest = max(months.values())
    out: dict[str, ibis.Value] = {}
    for i, v in enumerate(kvars):
        flag = joined[f"_f{i}"]
        if months[v.name] < longest:
            since = months_before(as_of, months[v.name])
            flag = ibis.ifelse(joined.service_date > since, flag, 0)
        out[v.name] = flag.sum()
    frame = joined.group_by("patient_id").aggregate(**out).to_polars()
    return frame, [_flag(v, pl.col(v.name)) for v in kvars]


def _derive(defs: Definitions, f: pl.DataFrame, need: set[str]) -> pl.DataFrame:
    """Deficits to booleans, the frailty index and band, then the expression variables
    in file order."""
    if defs.frailty and "efi" in need:
        fr = defs.frailty
        present = []
        for d in fr.deficits:
            col = pl.col(d.name)
            present.append(col if d.kind in ("condition", "drug") else col >= d.minimum)
        f = f.with_columns(*[p.alias(d.name) for p, d in zip(present, fr.deficits, strict=True)])
        f = f.with_columns(
            efi_deficits=pl.sum_horizontal(*[pl.col(d.name).cast(pl.Int32) for d in fr.deficits])
        ).with_columns(efi=pl.col("efi_deficits") / len(fr.deficits))
        a, b, c = fr.thresholds
        f = f.with_columns(
            frailty=pl.when(pl.col("efi") <= a).then(pl.lit("fit"))
            .when(pl.col("efi") <= b).then(pl.lit("mild"))
            .when(pl.col("efi") <= c).then(pl.lit("moderate"))
            .otherwise(pl.lit("severe"))
        ).drop([d.name for d in fr.deficits])  # fmt: skip
    for v in defs.variables.values():
        if v.expression is not None and v.name in need:
            f = f.with_columns(compile_expression(v.expression, defs.names).alias(v.name))
    return f


def evaluate_groups(defs: Definitions, f: pl.DataFrame) -> pl.DataFrame:
    """``f`` with one bool column per group (in file order, so a group may use an
    earlier one)."""
    for g in defs.groups.values():
        if g.name in f.columns:
            continue
        try:
            f = f.with_columns(
                compile_expression(g.where, defs.names).fill_null(False).alias(g.name)
            )
        except pl.exceptions.ColumnNotFoundError:
            continue  # a group the caller did not ask for
    return f
