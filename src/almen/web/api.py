"""The JSON API: every engine result, for the signed-in user's scope (OpenAPI at
/openapi.json, docs at /docs). Lists are paged (``page`` from 1, ``size`` up to 500);
errors are ``{"detail": "..."}`` with 401, 403, 404, 409 or 422."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import (
    APIRouter,
    Body,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
)
from pydantic import BaseModel, Field

from almen import records
from almen.errors import InputError, NotFoundError, ParameterError
from almen.export import MEDIA_TYPES, Result, to_bytes
from almen.web import models as out
from almen.web.app import Ctx, clean, forget_user, login_user, logout_user, rows
from almen.web.auth import audit_view, audit_views, audit_views_of

router = APIRouter(prefix="/api")
PageQ = Annotated[int, Query(ge=1, le=100_000, description="page, from 1")]
SizeQ = Annotated[int, Query(ge=1, le=500, description="rows per page")]
CsrfH = Annotated[str | None, Header(alias="X-CSRF-Token")]
INT64 = {"ge": -(2**63), "le": 2**63 - 1}
PatientP = Annotated[int, Path(description="patient pseudonym", **INT64)]
RequestP = Annotated[int, Path(description="inbox request id", ge=1, le=2**63 - 1)]
PlanP = Annotated[int, Path(description="care plan id", ge=1, le=2**31 - 1)]


def ctx(request: Request) -> Ctx:
    return Ctx(request)


C = Annotated[Ctx, Depends(ctx)]


FormatQ = Annotated[
    Literal["csv", "json", "parquet"] | None,
    Query(alias="format", description="the whole table as a file (csv, json or parquet) "
          "instead of a page"),
]  # fmt: skip


def download(parts: dict[str, pl.DataFrame], fmt: str, name: str, **meta: Any) -> Response:
    """The whole result as a file, through ``almen.export`` (as the CLI's --format)."""
    body = to_bytes(Result(parts, meta), fmt)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def paged(df: pl.DataFrame, page: int, size: int) -> dict[str, Any]:
    return {"items": rows(df.slice((page - 1) * size, size)), "page": page, "size": size,
            "total": len(df)}  # fmt: skip


# -- session ----------------------------------------------------------------------------
class Login(BaseModel):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)


@router.post("/login", response_model=None, responses=out.answers(out.Login, 200))
def login(c: C, body: Login) -> dict[str, Any]:
    """Log in; sets the session cookie and returns the CSRF token for later calls."""
    user = login_user(c.request, c.records, body.username, body.password)
    return {"user": user.username, "role": user.role, "scope": user.scope, "csrf": c.csrf()}


@router.post("/logout", response_model=None, responses=out.answers(out.LoggedOut, 200))
def logout(c: C, csrf: CsrfH = None) -> dict[str, Any]:
    """End the session on the server (a saved cookie no longer works)."""
    c.check_csrf(csrf)
    logout_user(c.request, c.records)
    return {"logged_out": True}


@router.get("/me", response_model=None, responses=out.answers(out.Me, 200))
def me(c: C) -> dict[str, Any]:
    u = c.need_user()
    return {"user": u.username, "role": u.role, "scope": u.scope, "name": u.name, "csrf": c.csrf()}


# -- users (the national role) -----------------------------------------------------------
class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)
    role: Literal["national", "region", "cluster", "clinic"]
    scope: str | None = Field(None, max_length=100)
    name: str = Field("", max_length=100)


@router.get("/users", response_model=None, responses=out.answers(out.Users, 200))
def users(c: C) -> dict[str, Any]:
    """Every user (never a password hash): national role only."""
    from almen.web.auth import list_users

    c.need_role("national")
    return {"users": [{k: clean(v) for k, v in u.items()} for u in list_users(c.records)]}


@router.post("/users", response_model=None, responses=out.answers(out.UserSaved, 200))
def user_save(c: C, body: NewUser, csrf: CsrfH = None) -> dict[str, Any]:
    """Add or replace a user; the scope must exist in the warehouse and the password
    follow the rules (12 characters or more, not a common password)."""
    from almen.web.auth import add_user

    c.need_role("national")
    c.check_csrf(csrf)
    u = add_user(c.records, body.username, body.password, body.role, body.scope, body.name,
                 known_scopes=c.services.known_scopes())  # fmt: skip
    return {"user": u.username, "role": u.role, "scope": u.scope}


@router.post(
    "/users/{username}/{action}", response_model=None, responses=out.answers(out.UserChanged, 200)
)
def user_change(
    c: C, username: str, action: Literal["disable", "enable"], csrf: CsrfH = None
) -> dict[str, Any]:
    """Disable (sessions end) or enable a user."""
    from almen.web.auth import set_disabled

    c.need_role("national")
    c.check_csrf(csrf)
    set_disabled(c.records, username, action == "disable")
    c.request.app.state.users.pop(username, None)
    return {"user": username, "disabled": action == "disable"}


@router.get("/health", response_model=None, responses=out.answers(out.Health, 200))
def health(c: C) -> dict[str, Any]:
    """Whether the app is up and right (no login needed; names, timings and counts
    only, no data): ``ok`` only when no part failed to load, the results are from the
    warehouse as it is now, and no user, care plan or inbox request points to a region,
    cluster, clinic or patient the warehouse no longer has; else ``stale`` (the
    warehouse changed or is being written) or ``degraded``."""
    wh = c.services.health()
    warm = c.services.warm_state.as_dict()
    try:
        missing: dict[str, int] | str = c.services.missing_references(records.references(c.records))
    except Exception as exc:  # reported by type only, as the warm-up's failures
        missing = type(exc).__name__
    healthy = (wh["current"] and not warm["failed"]
               and isinstance(missing, dict) and not any(missing.values()))  # fmt: skip
    status = "ok" if healthy else ("stale" if not wh["current"] else "degraded")
    return {"status": status, "year": c.services.year, "warehouse": wh,
            "failed": warm["failed"], "records_pointing_nowhere": missing,
            "warm": warm}  # fmt: skip


# -- clinics and settlement -------------------------------------------------------------
@router.get("/clinics", response_model=None, responses=out.answers(out.Clinics, 200))
def clinics(c: C, page: PageQ = 1, size: SizeQ = 100) -> dict[str, Any]:
    """The clinics in the user's scope with their cluster, municipality and region."""
    scope = c.scope_clinics()
    areas = c.services.areas().filter(pl.col("provider_number").is_in(list(scope)))
    return paged(areas.sort("provider_number"), page, size)


@router.get(
    "/clinics/{provider_number}/settlement",
    response_model=None,
    responses=out.answers(out.ClinicsSettlement, 200),
)
def settlement(c: C, provider_number: str, fmt: FormatQ = None) -> dict[str, Any] | Response:
    """The clinic's monthly statements of the year (capitation, fee-for-service, local,
    returned, total, payment date); ``format`` gives them as a file."""
    c.need_clinic_money(provider_number)
    s = c.services.statements().filter(pl.col("provider_number") == provider_number)
    if fmt is not None:
        return download({"statement": s.sort("month")}, fmt,
                        f"afregning-{provider_number}-{c.services.year}",
                        provider_number=provider_number, year=c.services.year)  # fmt: skip
    return {
        "provider_number": provider_number,
        "year": c.services.year,
        "months": rows(s.sort("month")),
    }


@router.get(
    "/clinics/{provider_number}/dashboard",
    response_model=None,
    responses=out.answers(out.ClinicsDashboard, 200),
)
def dashboard(c: C, provider_number: str) -> Response:
    """What the clinic page shows at a glance: the latest month's statement, returned
    claims by reason, the § 96 figures and the sizes of the case-finding groups
    (aggregates only; made once per clinic and kept)."""
    c.need_clinic_money(provider_number)

    def make(_: object) -> bytes:
        s = c.services
        st = s.statements().filter(pl.col("provider_number") == provider_number).sort("month")
        ret = s.returned().filter(pl.col("provider_number") == provider_number)
        reasons = (
            ret.group_by("rule", "reason_da", "reason_en")
            .agg(lines=pl.len(), dkk=pl.col("amount_dkk").sum())
            .sort("lines", descending=True)
        )
        cei = s.ceiling().filter(pl.col("provider_number") == provider_number)
        groups = _published_counts(c, provider_number)
        body = {
            "provider_number": provider_number,
            "latest_month": rows(st.tail(1))[0] if len(st) else None,
            "year_total_dkk": float(st["total_dkk"].sum()) if len(st) else 0.0,
            "returned_by_reason": rows(reasons),
            "s96": rows(cei)[0] if len(cei) else None,
            "case_finding": rows(groups),
        }
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode()

    body = c.services.cached(("dashboard", c.services.year, provider_number), make)
    return Response(body, media_type="application/json")


@router.get(
    "/clinics/{provider_number}/returned",
    response_model=None,
    responses=out.answers(out.ClinicsReturned, 200),
)
def returned(
    c: C, provider_number: str, page: PageQ = 1, size: SizeQ = 100, fmt: FormatQ = None
) -> dict[str, Any] | Response:
    """Returned claim lines with the rule, the reason (Danish and English) and the file
    and line they came from; ``format`` gives every line as a file."""
    c.need_clinic_money(provider_number)
    r = c.services.returned().filter(pl.col("provider_number") == provider_number)
    if fmt is not None:
        return download({"returned": r.sort("claim_id")}, fmt,
                        f"returregninger-{provider_number}-{c.services.year}",
                        provider_number=provider_number, year=c.services.year)  # fmt: skip
    return paged(r.sort("claim_id"), page, size)


@router.get(
    "/clinics/{provider_number}/ceiling",
    response_model=None,
    responses=out.answers(out.S96Ceiling, 200),
)
def ceiling(c: C, provider_number: str,
            through_month: Annotated[int, Query(ge=1, le=12)] = 12) -> dict[str, Any]:  # fmt: skip
    """§ 96: the clinic's daytime expenditure per listed patient against its region,
    on January to ``through_month`` (an early warning before the year ends)."""
    c.need_clinic_money(provider_number)
    rep = c.services.ceiling(through_month).filter(pl.col("provider_number") == provider_number)
    if rep.is_empty():
        raise HTTPException(404, "no § 96 figures for this clinic")
    return rows(rep)[0]


@router.get(
    "/clinics/{provider_number}/s96-statement",
    response_model=None,
    responses=out.answers(out.ClinicsS96Statement, 200),
)
def s96_statement(c: C, provider_number: str, fmt: FormatQ = None) -> dict[str, Any] | Response:
    """The clinic's § 96 statement as the region draws it up: ratio, region average,
    ceiling and its date, and the standardisation table by age band and sex (the
    clinic's own figures, for its owner); ``format`` gives it as a file."""
    c.need_clinic_money(provider_number)
    try:
        report, bands = c.services.s96_statement(provider_number)
    except NotFoundError:
        raise HTTPException(404, "no § 96 figures for this clinic") from None
    if fmt is not None:
        return download({"statement": report, "bands": bands}, fmt,
                        f"s96-{provider_number}-{c.services.year}",
                        provider_number=provider_number, year=c.services.year)  # fmt: skip
    return {"statement": rows(report)[0], "bands": rows(bands)}


@router.get(
    "/clinics/{provider_number}/overview",
    response_model=None,
    responses=out.answers(out.ClinicsOverview, 200),
)
def overview(c: C, provider_number: str, fmt: FormatQ = None) -> dict[str, Any] | Response:
    """The service overview: each service per 1,000 listed against the region's."""
    c.need_clinic_money(provider_number)
    ov = c.services.overview(provider_number)
    if fmt is not None:
        return download({"overview": ov}, fmt, f"ydelsesoverblik-{provider_number}",
                        provider_number=provider_number, year=c.services.year)  # fmt: skip
    return {"services": rows(ov)}


@router.get(
    "/clinics/{provider_number}/local-agreements",
    response_model=None,
    responses=out.answers(out.ClinicsLocalAgreements, 200),
)
def local_agreements(c: C, provider_number: str, fmt: FormatQ = None) -> dict[str, Any] | Response:
    """The local-agreement lines of the clinic's statements (seed 004 §5.1: paid outside
    the frame and § 96) by month and service; each month's dkk is the statement's
    local_dkk. ``format`` gives them as a file."""
    c.need_clinic_money(provider_number)
    lines = c.services.local_lines(provider_number)
    if fmt is not None:
        return download({"local": lines}, fmt, f"lokale-aftaler-{provider_number}-{c.services.year}",
                        provider_number=provider_number, year=c.services.year)  # fmt: skip
    return {"provider_number": provider_number, "year": c.services.year, "lines": rows(lines)}


LangQ = Annotated[Literal["da", "en"], Query(description="language of the texts")]


@router.get("/guide", response_model=None, responses=out.answers(out.Guide, 200))
def guide(
    c: C, region: str | None = None, topic: str | None = None, lang: LangQ = "da",
    fmt: FormatQ = None,
) -> dict[str, Any] | Response:  # fmt: skip
    """The guide for new GPs (seed 004): the bodies around a clinic, what they do, when to
    contact them, how, and the seed section; ``region`` gives that region's bodies (the
    regional details are the seed's in Region Hovedstaden, unknown elsewhere)."""
    from almen import guide as vejviser
    from almen.web.guide import guide_file

    c.need_user()
    table = vejviser.guide(guide_file(), region=region, topic=topic, lang=lang)
    if fmt is not None:
        return download({"guide": table}, fmt, "vejviser", region=region, topic=topic)
    return {"region": region, "topic": topic, "bodies": rows(table)}


@router.get(
    "/clinics/{provider_number}/guide",
    response_model=None,
    responses=out.answers(out.ClinicsGuide, 200),
)
def clinic_guide(
    c: C, provider_number: str, topic: str | None = None, lang: LangQ = "da",
    fmt: FormatQ = None,
) -> dict[str, Any] | Response:  # fmt: skip
    """The guide for this clinic's region, each concept almen computes with the page that
    computes it for the clinic (``pages``; ``concept_pages`` maps them all)."""
    from almen.web.guide import clinic_guide as for_clinic

    clinic, table, pages = for_clinic(c, provider_number, topic, lang)
    if fmt is not None:
        return download({"guide": pl.DataFrame(table, infer_schema_length=None)}, fmt,
                        f"vejviser-{provider_number}", **clinic)  # fmt: skip
    return {"clinic": clinic, "concept_pages": pages, "bodies": table}


@router.get("/frame", response_model=None, responses=out.answers(out.Frame, 200))
def frame(c: C) -> dict[str, Any]:
    """The budget frame month by month (Denmark and regions; a region user its own)."""
    c.need_role("national", "region")
    return {"months": rows(c.own_region(c.services.frame(), "area"))}


@router.post("/fees/compare", response_model=None, responses=out.answers(out.FeesCompare, 200))
def fees_compare(
    c: C,
    csrf: CsrfH = None,
    scenario: Annotated[str, Body(media_type="text/plain", max_length=100_000)] = "",
    budget_neutral: bool | None = None,
) -> dict[str, Any]:
    """Re-price the year's activity under a fee scenario (TOML in the body, format in
    docs/settlement.md): totals, and the clinics that win and lose most."""
    c.need_role("national", "region")
    c.check_csrf(csrf)
    res = c.services.compare_fees(scenario, budget_neutral=budget_neutral)
    pc = res["per_clinic"].sort("change_dkk")
    return {"scenario": res["scenario"], "totals": {k: clean(v) for k, v in res["totals"].items()},
            "losers": rows(pc.head(10)), "winners": rows(pc.tail(10).reverse())}  # fmt: skip


# -- population -------------------------------------------------------------------------
@router.get(
    "/clinics/{provider_number}/findings",
    response_model=None,
    responses=out.answers(out.ClinicsFindings, 200),
)
def clinic_findings(
    c: C, provider_number: str, page: PageQ = 1, size: SizeQ = 100
) -> dict[str, Any]:
    """Case finding: a clinic user gets its patients in each group (pseudonyms, audited);
    others get the clinic's counts, small ones suppressed."""
    u = c.need_clinic(provider_number)
    found, _ = c.services.findings()
    if u.role == "clinic":
        mine = found.filter(pl.col("provider_number") == provider_number).sort(
            "definition", "patient_id"
        )
        audit_view(c.records, u, f"findings list of {provider_number}", None)
        return paged(mine.select("patient_id", "definition", "reason"), page, size)
    return paged(_published_counts(c, provider_number), page, size)


def _published_counts(c: Ctx, provider_number: str) -> pl.DataFrame:
    """A clinic's case-finding counts as they leave it (``population.published``, audited
    with every level): provider_number, list_size, definition, count."""
    pub = c.services.published_findings()
    one = pub.filter((pl.col("level") == "clinic") & (pl.col("area") == provider_number))
    return one.select(provider_number="area", list_size="list_size", definition="definition",
                      count="patients")  # fmt: skip


@router.get("/findings", response_model=None, responses=out.answers(out.Findings, 200))
def findings_by_area(
    c: C,
    by: Annotated[str, Query(pattern="^(cluster|municipality|health_council|region)$")] = "region",
) -> dict[str, Any]:
    """Counts of the special-effort groups by area within the user's scope, as published
    (0-7 hidden, the rest rounded to 5; docs/disclosure.md)."""
    c.need_role("national", "region", "cluster")
    mine = c.services.areas().filter(pl.col("provider_number").is_in(list(c.scope_clinics())))
    areas = set(mine[by].cast(pl.Utf8).to_list())
    pub = c.services.published_findings()
    agg = pub.filter((pl.col("level") == by) & pl.col("area").is_in(list(areas))).sort("area")
    return {"by": by, "rows": rows(agg)}


@router.get(
    "/clinics/{provider_number}/indicators/{indicator}/missing",
    response_model=None,
    responses=out.answers(out.ClinicsMissing, 200),
)
def clinic_missing(
    c: C, provider_number: str, indicator: str, page: PageQ = 1, size: SizeQ = 100
) -> dict[str, Any]:
    """The drill-down of an indicator: the clinic's own patients (pseudonyms) in its
    denominator who miss its numerator. For the clinic's own user only; audited."""
    u, who = c.missing_patients(provider_number, indicator)
    out = paged(who.select("patient_id", "age", "sex"), page, size)
    audit_views_of(c.records, u, f"missing:{indicator}",
                   [int(i["patient_id"]) for i in out["items"]])  # fmt: skip
    return out


@router.get("/indicators", response_model=None, responses=out.answers(out.Indicators, 200))
def indicators(c: C, cluster: str | None = None, region: str | None = None) -> dict[str, Any]:
    """Quality indicators per clinic against the cluster and the region, with funnel
    limits; counts below 5, and cells that would reveal them, are null."""
    c.need_user()
    if (cluster is None) == (region is None):
        raise HTTPException(422, "give one of cluster or region")
    key, value = ("cluster", cluster) if cluster is not None else ("region", region)
    res = c.services.indicators().filter(pl.col(key) == value)
    if res.is_empty():
        raise HTTPException(404, f"no {key} {value!r}")
    res = res.filter(pl.col("provider_number").is_in(list(c.scope_clinics())))
    if res.is_empty():
        raise HTTPException(403, f"this {key} is outside your scope")
    # already as published: counts through almen.disclosure, shares from them
    return {key: value, "rows": rows(res.sort("indicator", "provider_number"))}


@router.get(
    "/patients/{patient_id}", response_model=None, responses=out.answers(out.FhirBundle, 200)
)
def patient(c: C, patient_id: PatientP) -> dict[str, Any]:
    """The patient overview as a FHIR R4B Bundle (clinic users, own list; audited)."""
    from almen.fhir import patient_bundle

    u = c.need_patient(patient_id)
    o = c.services.patient(patient_id)
    o.care_plans = records.care_plans(c.records, patient_id)
    audit_view(c.records, u, "patient overview (FHIR)", patient_id)
    return patient_bundle(o)


PLAN_STATUS = "^(draft|active|on-hold|completed|revoked)$"


class MemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(default="", max_length=200)


class GoalIn(BaseModel):
    description: str = Field(min_length=1, max_length=2000)
    status: str = Field(default="proposed", max_length=20)
    due: dt.date | None = None


class ActivityIn(BaseModel):
    description: str = Field(min_length=1, max_length=2000)
    status: str = Field(default="not-started", max_length=20)
    performer: str = Field(default="", max_length=200)


class CarePlanIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    status: str = Field(default="active", pattern=PLAN_STATUS)
    author: str = Field(default="", max_length=200)
    care_team: list[MemberIn] = Field(default_factory=list, max_length=50)
    goals: list[GoalIn] = Field(default_factory=list, max_length=50)
    activities: list[ActivityIn] = Field(default_factory=list, max_length=100)
    addresses: list[str] = Field(default_factory=list, max_length=50)
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class CarePlanChange(BaseModel):
    """The fields to change; those left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    status: str | None = Field(default=None, pattern=PLAN_STATUS)
    author: str | None = Field(default=None, max_length=200)
    care_team: list[MemberIn] | None = Field(default=None, max_length=50)
    goals: list[GoalIn] | None = Field(default=None, max_length=50)
    activities: list[ActivityIn] | None = Field(default=None, max_length=100)
    addresses: list[str] | None = Field(default=None, max_length=50)
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class ShareIn(BaseModel):
    username: str = Field(min_length=1, max_length=60)
    name: str = Field(default="", max_length=100)


def _plan_fields(body: BaseModel, *, only_set: bool) -> dict[str, Any]:
    """A plan body as ``records`` fields (members, goals and activities as records')."""
    data = body.model_dump(exclude_unset=only_set)
    out: dict[str, Any] = {}
    for k, v in data.items():
        if k == "care_team" and v is not None:
            v = tuple(records.Member(**m) for m in v)
        elif k == "goals" and v is not None:
            v = tuple(records.Goal(**g) for g in v)
        elif k == "activities" and v is not None:
            v = tuple(records.Activity(**a) for a in v)
        elif k == "addresses" and v is not None:
            v = tuple(c.strip().upper() for c in v)
        out[k] = v
    return out


@router.get(
    "/clinics/{provider_number}/audit",
    response_model=None,
    responses=out.answers(out.ClinicsAudit, 200),
)
def clinic_audit(
    c: C, provider_number: str, page: PageQ = 1, size: SizeQ = 100, fmt: FormatQ = None
) -> dict[str, Any] | Response:
    """Who viewed the data of this clinic's patients, what and when (the clinic's own
    users only); ``format`` gives the whole log as a file."""
    u = c.need_role("clinic")
    if u.scope != provider_number:
        raise HTTPException(403, "a clinic sees the audit of its own patients only")
    log = audit_views(c.records, c.services.list_of(provider_number))
    if fmt is not None:
        return download({"audit": log}, fmt, f"adgangslog-{provider_number}",
                        provider_number=provider_number)  # fmt: skip
    return paged(log.sort("at", descending=True, maintain_order=True), page, size)


@router.get(
    "/patients/{patient_id}/audit",
    response_model=None,
    responses=out.answers(out.PatientsAudit, 200),
)
def patient_audit(c: C, patient_id: PatientP, fmt: FormatQ = None) -> dict[str, Any] | Response:
    """Every view of one patient's data (what a patient may ask the clinic for), as
    JSON or a file."""
    c.need_patient(patient_id)
    log = audit_views(c.records, [patient_id])
    if fmt is not None:
        return download({"audit": log}, fmt, f"adgangslog-patient-{patient_id}",
                        patient_id=str(patient_id))  # fmt: skip
    return {"patient_id": str(patient_id), "views": rows(log)}


@router.get(
    "/patients/{patient_id}/careplans",
    response_model=None,
    responses=out.answers(out.PatientsCareplans, 200),
)
def careplans(c: C, patient_id: PatientP) -> dict[str, Any]:
    u = c.need_patient(patient_id)
    audit_view(c.records, u, "care plans", patient_id)
    return {"items": [records.plan_dict(p) for p in records.care_plans(c.records, patient_id)]}


def _saved(fn: Any, *args: Any, **kw: Any) -> records.CarePlan:
    try:
        plan: records.CarePlan = fn(*args, **kw)
    except ParameterError as exc:
        raise HTTPException(422, str(exc)) from None
    return plan


def _add_plan(c: Ctx, u: Any, patient_id: int, fields: dict[str, Any]) -> records.CarePlan:
    """A new plan from ``fields`` (records' CarePlan fields) by the clinic's user ``u``."""
    f = dict(fields)
    return _saved(records.add_care_plan, c.records, patient_id, f.pop("title"),
                  f.pop("description"), f.pop("status"), by=u.username,
                  provider_number=u.scope or "", **f)  # fmt: skip


@router.post(
    "/patients/{patient_id}/careplans",
    status_code=201,
    response_model=None,
    responses=out.answers(out.CarePlan, 201),
)
def add_careplan(
    c: C, patient_id: PatientP, body: CarePlanIn, csrf: CsrfH = None
) -> dict[str, Any]:
    """A new care plan (version 1) for a patient on the clinic's list."""
    u = c.need_patient(patient_id)
    c.check_csrf(csrf)
    p = _add_plan(c, u, patient_id, _plan_fields(body, only_set=False))
    audit_view(c.records, u, "care plan added", patient_id)
    return records.plan_dict(p)


@router.patch("/careplans/{plan_id}", response_model=None, responses=out.answers(out.CarePlan, 200))
def change_careplan(
    c: C, plan_id: PlanP, body: CarePlanChange, csrf: CsrfH = None
) -> dict[str, Any]:
    """Change a plan (its clinic only): a new version, kept in the history; a completed
    or revoked plan is closed (422)."""
    u, plan = c.need_plan_owner(plan_id, "changes its care plans")
    c.check_csrf(csrf)
    p = _saved(records.update_care_plan, c.records, plan_id, by=u.username,
               **_plan_fields(body, only_set=True))  # fmt: skip
    audit_view(c.records, u, "care plan changed", plan.patient_id)
    return records.plan_dict(p)


@router.get("/careplans/{plan_id}", response_model=None, responses=out.answers(out.CarePlan, 200))
def read_careplan(c: C, plan_id: PlanP) -> dict[str, Any]:
    """One plan, for its clinic or a professional it is shared with; every read is
    written to the patient's access log, which the clinic sees."""
    u, plan = c.need_plan_reader(plan_id)
    audit_view(c.records, u, "care plan read", plan.patient_id)
    return records.plan_dict(plan)


@router.get(
    "/careplans/{plan_id}/history",
    response_model=None,
    responses=out.answers(out.CarePlanHistory, 200),
)
def careplan_history(c: C, plan_id: PlanP) -> dict[str, Any]:
    """Every saved version of a plan: who, when, what changed, and the plan as it was."""
    u, plan = c.need_plan_reader(plan_id)
    audit_view(c.records, u, "care plan history", plan.patient_id)
    return {"plan_id": plan_id, "items": records.care_plan_history(c.records, plan_id)}


@router.get(
    "/careplans/{plan_id}/fhir", response_model=None, responses=out.answers(out.FhirBundle, 200)
)
def careplan_fhir(c: C, plan_id: PlanP) -> dict[str, Any]:
    """The plan as a FHIR R4 Bundle: CarePlan, Goals, CareTeam, the Conditions it
    addresses, the Patient (pseudonym) and the clinic (docs/fhir.md)."""
    from almen.fhir import care_plan_bundle

    u, plan = c.need_plan_reader(plan_id)
    o = c.services.patient(plan.patient_id)
    audit_view(c.records, u, "care plan read (FHIR)", plan.patient_id)
    return care_plan_bundle(plan, o)


@router.post(
    "/patients/{patient_id}/careplans/fhir",
    status_code=201,
    response_model=None,
    responses=out.answers(out.CarePlan, 201),
)
def import_careplan(
    c: C, patient_id: PatientP, body: dict[str, Any], csrf: CsrfH = None
) -> dict[str, Any]:
    """A care plan from a FHIR Bundle (one CarePlan with its Goals, CareTeam and the
    Conditions it addresses) for a patient on the clinic's list; 422 naming the entry
    and element that cannot be read."""
    from almen.fhir import care_plan_from_bundle

    u = c.need_patient(patient_id)
    c.check_csrf(csrf)
    try:
        f = care_plan_from_bundle(body)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from None
    p = _add_plan(c, u, patient_id, f)
    audit_view(c.records, u, "care plan imported (FHIR)", patient_id)
    return records.plan_dict(p)


@router.get(
    "/careplans/{plan_id}/shares",
    response_model=None,
    responses=out.answers(out.CarePlanShares, 200),
)
def careplan_shares(c: C, plan_id: PlanP) -> dict[str, Any]:
    """Whom the plan is shared with (the clinic only)."""
    from almen.web.auth import shared_users

    _u, _plan = c.need_plan_owner(plan_id, "sees whom its plans are shared with")
    return {"plan_id": plan_id,
            "items": [{"plan_id": plan_id, **x} for x in shared_users(c.records, plan_id)]}  # fmt: skip


@router.post(
    "/careplans/{plan_id}/shares",
    status_code=201,
    response_model=None,
    responses=out.answers(out.CarePlanShare, 201),
)
def share_careplan(c: C, plan_id: PlanP, body: ShareIn, csrf: CsrfH = None) -> dict[str, Any]:
    """Share the plan with a named professional outside the clinic: a user who can read
    this plan only (role shared); the password is in the answer, once."""
    from almen.web.auth import add_shared_user

    u, plan = c.need_plan_owner(plan_id, "shares its care plans")
    c.check_csrf(csrf)
    try:
        password = add_shared_user(c.records, plan_id, body.username, body.name, by=u.username)
    except ParameterError as exc:
        raise HTTPException(422, str(exc)) from None
    audit_view(c.records, u, f"shared:{body.username}", plan.patient_id)
    return {"plan_id": plan_id, "username": body.username, "name": body.name,
            "disabled": False, "password": password}  # fmt: skip


@router.delete(
    "/careplans/{plan_id}/shares/{username}",
    response_model=None,
    responses=out.answers(out.CarePlanShare, 200),
)
def unshare_careplan(c: C, plan_id: PlanP, username: str, csrf: CsrfH = None) -> dict[str, Any]:
    """End a share: the user is disabled and its sessions end."""
    from almen.web.auth import set_disabled, shared_users

    u, plan = c.need_plan_owner(plan_id, "ends its shares")
    c.check_csrf(csrf)
    if username not in {x["username"] for x in shared_users(c.records, plan_id)}:
        raise HTTPException(404, "the plan is not shared with this user")
    set_disabled(c.records, username, True)
    forget_user(c.request.app, username)
    audit_view(c.records, u, f"unshared:{username}", plan.patient_id)
    return {"plan_id": plan_id, "username": username, "disabled": True}


# -- capacity ---------------------------------------------------------------------------
@router.get("/capacity/need", response_model=None, responses=out.answers(out.CapacityNeed, 200))
def need(c: C) -> dict[str, Any]:
    """Per municipality: need index, need-weighted residents, FTE, capacity relative to
    Denmark, citizens without free choice and listed with region or tender clinics."""
    c.need_role("national", "region")
    return {"rows": rows(c.own_region(c.services.need_by_municipality()))}


@router.get(
    "/capacity/workforce", response_model=None, responses=out.answers(out.CapacityWorkforce, 200)
)
def workforce(c: C, intake: Annotated[list[int] | None, Query()] = None) -> dict[str, Any]:
    """GPs year by year to 2035 (Monte Carlo, 2,000 runs) under each intake."""
    c.need_role("national", "region")
    intakes = tuple(sorted(set(intake or [350, 400])))
    if len(intakes) > 4 or any(not 0 <= n <= 2000 for n in intakes):
        raise HTTPException(422, "give up to 4 intakes between 0 and 2,000")
    return {"rows": rows(c.services.workforce(intakes))}


@router.get(
    "/capacity/distribute", response_model=None, responses=out.answers(out.CapacityDistribute, 200)
)
def distribution(c: C, new: Annotated[int, Query(ge=0, le=5000)] = 100) -> dict[str, Any]:
    """Where ``new`` capacities go (HiGHS), voluntary and forced side by side."""
    c.need_role("national", "region")
    t = c.own_region(c.services.distribution(new))
    return {"new": new, "rows": rows(t.sort("voluntary", descending=True))}


@router.get("/capacity/limits", response_model=None, responses=out.answers(out.CapacityLimits, 200))
def limits(c: C, page: PageQ = 1, size: SizeQ = 100) -> dict[str, Any]:
    """Closing limits per clinic in scope: the old 1,600 per doctor and the need-based."""
    c.need_role("national", "region")
    t = c.services.limits().filter(pl.col("provider_number").is_in(list(c.scope_clinics())))
    return paged(t.sort("provider_number"), page, size)


# -- access -----------------------------------------------------------------------------
class RequestIn(BaseModel):
    patient_id: int = Field(ge=-(2**63), le=2**63 - 1)
    reason: str = Field(max_length=40)
    age: int | None = Field(None, ge=0, le=130, description="default: from the records")
    sex: str | None = Field(None, pattern="^(M|F)$", description="default: from the records")
    flags: list[str] | None = Field(
        None, max_length=3, description="default: chronic and special_effort from the records"
    )
    text: str = Field(default="", max_length=2000)
    preferred_channel: str | None = None


@router.get(
    "/clinics/{provider_number}/inbox",
    response_model=None,
    responses=out.answers(out.ClinicsInbox, 200),
)
def inbox(c: C, provider_number: str) -> dict[str, Any]:
    """The clinic's open requests, most severe first (for patients on its list)."""
    u = c.need_role("clinic")
    c.need_clinic(provider_number)
    from almen.access.inbox import messages

    items = c.open_requests(provider_number)
    msgs = messages(c.records, [i.id for i in items])
    audit_view(c.records, u, f"inbox of {provider_number}", None)
    return {"items": [_item(i, msgs[i.id]) for i in items]}


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def _item(i: Any, msgs: list[Any] | None = None) -> dict[str, Any]:
    """An inbox request as JSON: ids as strings (a 64-bit pseudonym is beyond what a
    JavaScript number holds exactly), times as ISO text, its messages oldest first."""
    d = {k: _iso(getattr(i, k)) for k in i.__slots__}
    d["id"], d["patient_id"] = str(d["id"]), str(d["patient_id"])
    d["messages"] = [{k: _iso(getattr(m, k)) for k in m.__slots__} for m in msgs or []]
    return d


@router.post(
    "/clinics/{provider_number}/inbox",
    status_code=201,
    response_model=None,
    responses=out.answers(out.InboxItem, 201),
)
def submit_request(
    c: C, provider_number: str, body: RequestIn, csrf: CsrfH = None
) -> dict[str, Any]:
    """Triage a request and put it in the clinic's inbox."""
    from almen.access import Request as TriageRequest
    from almen.access.inbox import submit

    u = c.need_role("clinic")
    c.need_clinic(provider_number)
    c.check_csrf(csrf)
    if c.services.listed_with(body.patient_id) != provider_number:
        raise HTTPException(403, "this patient is not on your list")
    age, sex, flags = body.age, body.sex, body.flags
    if age is None or sex is None or flags is None:  # what the caller left out
        rec_age, rec_sex, rec_flags = c.services.patient_facts(body.patient_id)
        age, sex = rec_age if age is None else age, sex or rec_sex
        flags = sorted(rec_flags) if flags is None else flags
    req = TriageRequest(body.reason, age, sex, frozenset(flags), body.text,
                        body.preferred_channel)  # fmt: skip
    return _item(submit(c.records, provider_number, body.patient_id, req, actor=u.username))


class InboxActionIn(BaseModel):
    to: str | None = Field(None, max_length=60, description="assign: to whom (default: you)")
    message: str | None = Field(None, max_length=2000,
                                description="reply: the message; complete: a closing message")  # fmt: skip


@router.post(
    "/inbox/{request_id}/{action}", response_model=None, responses=out.answers(out.InboxItem, 200)
)
def inbox_action(c: C, request_id: RequestP, action: Literal["assign", "reply", "complete"],
                 csrf: CsrfH = None, to: str | None = None,
                 body: InboxActionIn | None = None) -> dict[str, Any]:  # fmt: skip
    """``assign`` (to a name), ``reply`` (a message to the patient) or ``complete`` (with
    an optional closing message) a request of the user's clinic."""
    from almen.access.inbox import assign, complete, get, messages, reply

    u = c.need_role("clinic")
    c.check_csrf(csrf)
    if get(c.records, request_id).provider_number != u.scope:
        raise HTTPException(403, "this request belongs to another clinic")
    b = body or InboxActionIn(to=None, message=None)
    if action == "assign":
        item = assign(c.records, request_id, b.to or to or u.username, actor=u.username)
    elif action == "reply":
        if not b.message:
            raise HTTPException(422, "a reply needs a message")
        reply(c.records, request_id, b.message, actor=u.username)
        item = get(c.records, request_id)
    else:
        item = complete(c.records, request_id, actor=u.username, message=b.message)
    return _item(item, messages(c.records, [request_id])[request_id])


@router.get("/ooh/plan", response_model=None, responses=out.answers(out.OohPlan, 200))
def ooh_plan(c: C, region: str) -> dict[str, Any]:
    """Out-of-hours staffing per site and hour, the phone line, the coordinator doctors
    (seed 002 §3), demand by hour."""
    u = c.need_role("national", "region")
    if u.role == "region" and region != u.scope:
        raise HTTPException(403, "this region is outside your scope")
    p = c.services.ooh_plan(region)
    return {"region": region, "demand_by_hour": rows(p["demand_by_hour"]),
            "phone": rows(p["phone"]), "coordinator": rows(p["coordinator"]),
            "plan": rows(p["plan"])}  # fmt: skip
