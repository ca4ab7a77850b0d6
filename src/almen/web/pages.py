"""Server-rendered pages (Jinja2), Danish first with English at ?lang=en. Charts are
Plotly figures rendered by /static/plotly.min.js, which the app serves itself."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any

import plotly.graph_objects as go
import polars as pl
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from almen import i18n, records
from almen.errors import NotFoundError, ParameterError, UserError
from almen.web.api import PatientP, RequestP
from almen.web.app import STATIC, Ctx, login_user, logout_user, rows
from almen.web.auth import audit_view, audit_views_of

router = APIRouter(include_in_schema=False)
MAX_SCENARIO_BYTES = 100_000
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

EXAMPLE = """name = "Mere til kronikerydelser"
[change_percent]
"0120" = 10.0
"""


@pass_context
def _fmt(context: Any, v: Any) -> str:
    return i18n.fmt(v, context.get("lang", "da"))


@pass_context
def _code(context: Any, v: Any, kind: str) -> str:
    return i18n.code(context.get("lang", "da"), kind, v)


@pass_context
def _audit_what(context: Any, v: str) -> str:
    return i18n.audit_what(context.get("lang", "da"), v)


@pass_context
def _month(context: Any, v: Any) -> str:
    if isinstance(v, str):
        v = dt.date.fromisoformat(v[:10])
    return i18n.month(v, context.get("lang", "da"))


templates.env.filters.update(fmt=_fmt, code=_code, month=_month, audit_what=_audit_what)


def _fig(fig: go.Figure) -> str:
    return fig.to_json().replace("</", "<\\/")


def _council_links(c: Ctx, need: pl.DataFrame) -> list[str]:
    """Per row of ``need`` (by municipality ``area``): the link to its health council, so
    a click on the municipality's bar opens it (``charts.js``)."""
    hc = dict(c.services.municipalities().select("code", "health_council").iter_rows())
    return [f"/council/{hc.get(a, '')}" for a in need["area"]]


UNDER = 0.9  # capacity below 90 % of need: underserved on the map's third layer


def _map(c: Ctx, need: pl.DataFrame) -> str:
    """A municipality choropleth from the shipped DAGI boundaries with three layers (the
    buttons above it): capacity against need (Denmark = 1), citizens without free choice,
    and underserved municipalities — measured (capacity below ``UNDER`` of need), on PLO's
    2019 list of municipalities at risk (``reference.load_underserved``), or both. Every
    value is in the hover; a click opens the municipality's health council."""
    from almen.reference import load_underserved

    lang = lang_of(c)
    g = partial(i18n.gettext, lang)
    hc = c.services.municipalities().select(pl.col("code").alias("area"), "health_council")
    plo = set(load_underserved()["code"].to_list())
    m = need.join(hc, on="area", how="left").with_columns(
        free=pl.col("without_free_choice").fill_null(0),
        kind=(pl.col("relative_capacity") < UNDER).cast(pl.Int8)
        + 2 * pl.col("area").is_in(list(plo)).cast(pl.Int8),
    )
    kinds = [g(f"ui.underserved_{k}") for k in range(4)]
    hover = [f"<b>{n}</b><br>{g('ui.ratio')}: {i18n.number(r, lang, 2)}"
             f"<br>{g('ui.no_free_choice')}: {i18n.number(w, lang)}<br>{kinds[k]}"
             for n, r, w, k in zip(m["name"], m["relative_capacity"], m["free"], m["kind"],
                                   strict=True)]  # fmt: skip
    common = {"geojson": c.services.boundaries(), "featureidkey": "properties.code",
              "locations": m["area"].to_list(), "text": hover, "marker_line_width": 0.3,
              "customdata": [f"/council/{h}" for h in m["health_council"]],
              "hovertemplate": "%{text}<extra></extra>"}  # fmt: skip
    steps = ["#f0f0f0", "#f4a582", "#92c5de", "#b2182b"]  # neither, measured, PLO, both
    fig = go.Figure([
        go.Choropleth(z=m["relative_capacity"].to_list(), colorscale="RdBu", zmin=0.0, zmax=2.0,
                      colorbar={"title": {"text": g("ui.ratio")}}, name=g("ui.map_ratio"),
                      **common),
        go.Choropleth(z=m["free"].to_list(), colorscale="Reds", visible=False,
                      colorbar={"title": {"text": g("ui.no_free_choice")}},
                      name=g("ui.no_free_choice"), **common),
        go.Choropleth(z=m["kind"].to_list(), zmin=-0.5, zmax=3.5, visible=False,
                      colorscale=[[b / 4, col] for i, col in enumerate(steps) for b in (i, i + 1)],
                      colorbar={"tickvals": [0, 1, 2, 3], "ticktext": kinds},
                      name=g("ui.map_underserved"), **common),
    ])  # fmt: skip
    names = [g("ui.map_ratio"), g("ui.no_free_choice"), g("ui.map_underserved")]
    fig.update_layout(updatemenus=[{
        "type": "buttons", "direction": "right", "x": 0, "y": 1.08, "xanchor": "left",
        "buttons": [{"label": n, "method": "update",
                     "args": [{"visible": [j == i for j in range(3)]}]}
                    for i, n in enumerate(names)],
    }])  # fmt: skip
    fig.update_geos(fitbounds="locations", visible=False)
    fig.update_layout(height=480, margin={"t": 40, "r": 10, "b": 10, "l": 10})
    return _fig(fig)


def ctx(request: Request) -> Ctx:
    return Ctx(request)


C = Annotated[Ctx, Depends(ctx)]


def lang_of(c: Ctx) -> str:
    """The page's language: ``?lang=`` if given, else the session's, else Danish."""
    lang = c.request.query_params.get("lang") or c.request.session.get("lang") or "da"
    return lang if lang in i18n.LANGS else "da"


PAGE_SIZE = 50


@pass_context
def _paged(context: Any, items: list[Any], table_id: str) -> tuple[list[Any], dict[str, Any]]:
    """One page of a table's rows (``?<id>_page=N``, 50 a page, or ``all``) and what the
    pager says: shown, total, page, pages. Nothing is cut without saying so."""
    q = context["request"].query_params.get(f"{table_id}_page", "1")
    total = len(items)
    pages = max(1, -(-total // PAGE_SIZE))
    if q == "all":
        return items, {"shown": total, "total": total, "page": "all", "pages": pages}
    page = min(max(int(q), 1), pages) if q.isdigit() else 1
    part = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return part, {"shown": len(part), "total": total, "page": page, "pages": pages}


templates.env.globals["paged"] = _paged


def _download(kw: dict[str, Any], table_id: str, form: str) -> Response:
    """A table of the page as a file: every row (not one page), every column, the
    same rows the page shows (``?_download=<id>&format=csv|json``)."""
    value: Any = kw
    for part in table_id.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, list) or (value and not isinstance(value[0], dict)):
        raise HTTPException(404, f"no table {table_id!r} on this page")
    name = table_id.replace(".", "-")
    if form == "json":
        return JSONResponse({"table": table_id, "total": len(value), "rows": value})
    if form != "csv":
        raise HTTPException(422, "format must be csv or json")
    return Response(pl.DataFrame(value, infer_schema_length=None).write_csv(),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})  # fmt: skip


def render(c: Ctx, name: str, title: str, status: int = 200, **kw: Any) -> Response:
    if status == 200 and (table_id := c.request.query_params.get("_download")):
        return _download(kw, table_id, c.request.query_params.get("format", "csv"))
    lang = lang_of(c)
    if c.request.session.get("lang") != lang:
        c.request.session["lang"] = lang  # only a change rewrites the session cookie
    t = dict(i18n.prefixed(lang, "ui."), cols=i18n.prefixed(lang, "col."))
    return templates.TemplateResponse(
        c.request,
        name,
        {
            "user": c.user,
            "lang": lang,
            "t": t,
            "title": title,
            "csrf": c.csrf(),
            "year": c.services.year,
            "years": _years(c),
            **kw,
        },
        status_code=status,
    )


def _years(c: Ctx) -> list[int]:
    """The years a signed-in user can choose between (none before login)."""
    if c.user is None:
        return []
    try:
        return c.request.app.state.services.years()
    except UserError:  # a busy or missing warehouse: no choice of year
        return []


ERRORS = (403, 404, 405, 409, 413, 422, 429, 500, 503)


def error_page(request: Request, status: int, detail: Any) -> Response:
    """A page's error as a page in the user's language (the API answers JSON): what
    happened in plain words and the way on; a stale form (a CSRF token that no longer
    matches) says to reload. The English detail is shown on English pages only (it
    never holds a patient value)."""
    from urllib.parse import urlsplit

    c = Ctx(request, strict=False)
    key = "csrf" if "CSRF" in str(detail) else str(status if status in ERRORS else 500)
    lang = lang_of(c)
    ref = urlsplit(request.headers.get("referer", ""))
    back = ref.path if ref.netloc == request.url.netloc and ref.path.startswith("/") else None
    return render(c, "error.html", i18n.gettext(lang, f"err.{key}.title"), status=status,
                  code=status, text=i18n.gettext(lang, f"err.{key}.text"), back=back,
                  detail=detail if lang == "en" and isinstance(detail, str) else None)  # fmt: skip


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    return Response(_plotly_js(), media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip


SWAGGER_FILES = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>almen API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""


@router.get("/docs")
def api_docs() -> Response:
    """The API's interactive documentation: Swagger UI from the swagger-ui-py
    package, served by the app itself so that it works under the app's CSP (no CDN,
    no inline script)."""
    return HTMLResponse(DOCS_PAGE)


@router.get("/redoc")
def redoc() -> Response:
    """Redoc is not bundled (no Python package ships it); the same spec is at /docs."""
    return RedirectResponse("/docs", status_code=307)


@cache
def _swagger(name: str) -> str:
    import swagger_ui

    return (Path(swagger_ui.__file__).parent / "static" / name).read_text(encoding="utf-8")


@router.get("/static/swagger/{name}")
def swagger_static(name: str) -> Response:
    if name not in SWAGGER_FILES:
        raise HTTPException(404, "not found")
    return Response(_swagger(name), media_type=SWAGGER_FILES[name],
                    headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip


# Plotly's geo charts load a world base map (world_110m.json) from its CDN, which the
# CSP refuses and the maps do not draw (geo.visible is false): the app serves an empty
# topology under that name, and the DAGI municipalities are the map.
EMPTY_TOPOLOGY = {"type": "Topology", "arcs": [], "objects": {
    k: {"type": "GeometryCollection", "geometries": []}
    for k in ("coastlines", "land", "ocean", "lakes", "rivers", "countries", "subunits")}}  # fmt: skip


@router.get("/static/topojson/{name}")
def topojson(name: str) -> Response:
    if name != "world_110m.json":
        raise HTTPException(404, "not found")
    return JSONResponse(EMPTY_TOPOLOGY, headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if name not in ("charts.js", "docs.js", "layout.js", "style.css") or not path.exists():
        raise HTTPException(404, "not found")
    media = "application/javascript" if name.endswith(".js") else "text/css"
    return Response(path.read_text(encoding="utf-8"), media_type=media)


@router.get("/login")
def login_page(c: C) -> Response:
    return render(c, "login.html", "almen", error=None)


@router.post("/login")
def login_form(
    c: C, username: Annotated[str, Form()], password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    c.check_csrf(csrf)
    try:
        login_user(c.request, c.records, username, password)
    except HTTPException as exc:
        msg = ("For mange forkerte forsøg; prøv igen om lidt" if exc.status_code == 429
               else "Forkert brugernavn eller adgangskode")  # fmt: skip
        return render(c, "login.html", "almen", error=msg)
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(c: C, csrf: Annotated[str, Form()] = "") -> Response:
    c.check_csrf(csrf)
    logout_user(c.request, c.records)
    return RedirectResponse("/login", status_code=303)


# -- user administration (the national role) --------------------------------------------
def _users_page(c: Ctx, message: str = "", error: bool = False) -> Response:
    from almen.web.auth import ROLES, list_users

    return render(c, "users.html", "almen: brugere", users=list_users(c.records), roles=ROLES,
                  message=message, error=error)  # fmt: skip


@router.get("/admin/users")
def users_page(c: C) -> Response:
    c.need_role("national")
    return _users_page(c)


@router.post("/admin/users")
def users_add(
    c: C, username: Annotated[str, Form(max_length=60)], role: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=200)], scope: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=100)] = "", csrf: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    from almen.web.auth import add_user

    c.need_role("national")
    c.check_csrf(csrf)
    try:
        add_user(c.records, username, password, role, scope.strip() or None, name,
                 known_scopes=c.services.known_scopes())  # fmt: skip
    except UserError as exc:
        return _users_page(c, exc.message, error=True)
    return _users_page(c, f"{username} gemt" if _lang(c) == "da" else f"{username} saved")


@router.post("/admin/users/{username}/{action}")
def users_change(
    c: C, username: str, action: str, csrf: Annotated[str, Form()] = "",
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:  # fmt: skip
    """Disable, enable, remove a user or set a new password (every change ends the
    user's sessions but enable)."""
    from almen.web.auth import remove_user, set_disabled, set_password

    c.need_role("national")
    c.check_csrf(csrf)
    if action not in ("disable", "enable", "remove", "password"):
        raise HTTPException(404, "no such action")
    if action in ("disable", "remove") and username == c.need_user().username:
        return _users_page(c, "you cannot disable or remove yourself", error=True)
    try:
        if action == "remove":
            remove_user(c.records, username)
        elif action == "password":
            set_password(c.records, username, password)
        else:
            set_disabled(c.records, username, action == "disable")
    except UserError as exc:
        return _users_page(c, exc.message, error=True)
    c.request.app.state.users.pop(username, None)
    done = {"disable": "disabled", "enable": "enabled", "remove": "removed",
            "password": "password changed"}[action]  # fmt: skip
    return _users_page(c, f"{username}: {done}")


@router.get("/clinic/{provider_number}/audit")
def clinic_audit_page(c: C, provider_number: str) -> Response:
    """Who viewed the data of the clinic's patients, and when (the clinic's own users)."""
    from almen.web.auth import audit_views

    u = c.need_role("clinic")
    if u.scope != provider_number:
        raise HTTPException(403, "a clinic sees the audit of its own patients only")
    log = audit_views(c.records, c.services.list_of(provider_number))
    log = log.sort("at", descending=True, maintain_order=True)
    return render(c, "audit.html", f"almen: adgangslog {provider_number}",
                  rows=rows(log), clinic=provider_number)  # fmt: skip


def _lang(c: Ctx) -> str:
    return lang_of(c)


def s96_why(r: dict[str, Any], limit: float, lang: str) -> str:
    """The clinic's § 96 result in one sentence (seed 004 §5.3): method, ratio against
    the limit and the expenditure against what it is compared with."""
    std = r["method"] == "standardised"
    expected = r["expected_dkk"] if std else r["region_per_patient_dkk"] * r["patient_years"]
    return i18n.gettext(lang, "ui.s96_why").format(
        method=i18n.code(lang, "method", r["method"]),
        ratio=i18n.number(r["ratio"], lang, 3), cmp="≥" if r["over"] else "<",
        limit=i18n.number(1 + limit, lang, 2), expenditure=i18n.number(r["expenditure_dkk"], lang),
        expected=i18n.number(expected, lang),
        basis=i18n.gettext(lang, "ui.s96_expected" if std else "ui.s96_regional"),
    )  # fmt: skip


def finding_reason(r: dict[str, Any], definitions: Any, lang: str) -> str:
    """Why a patient was found, in ``lang``: the group's reason template (``reason_da`` or
    ``reason_en`` in the definitions) filled with the values the finding cites, numbers
    as ``lang`` writes them and the frailty band translated."""
    g = definitions.get(r["definition"])
    if g is None:
        return str(r.get("reason", ""))
    values: dict[str, str] = {}
    for k in g.cites:
        v = r.get(k)
        if k == "frailty":
            values[k] = i18n.code(lang, "frailty", v)
        elif isinstance(v, float):
            values[k] = i18n.number(v, lang, 2)
        else:
            values[k] = i18n.number(v, lang)
    return (g.reason_da if lang == "da" else g.reason_en).format(**values)


@router.get("/")
def home(c: C) -> Response:
    if c.user is not None and c.user.role == "shared" and c.user.scope:
        return RedirectResponse(f"/careplan/{c.user.scope.split(':')[1]}", status_code=303)
    u = c.need_user()
    target = {"national": "/national", "region": f"/region/{u.scope}",
              "cluster": f"/cluster/{u.scope}", "clinic": f"/clinic/{u.scope}"}[u.role]  # fmt: skip
    return RedirectResponse(target, status_code=303)


@router.get("/national")
def national(c: C) -> Response:
    c.need_role("national")
    s = c.services
    regions = sorted(set(s.areas()["region"].to_list()))
    need = s.need_by_municipality()
    region = c.request.query_params.get("region") or None
    if region is not None:  # the filter: one region's municipalities
        if region not in regions:
            raise HTTPException(404, f"no region {region!r}")
        need = need.filter(pl.col("region") == region)
    ranked = need.sort("relative_capacity")
    f_need = go.Figure(go.Bar(x=ranked["name"].to_list(), y=ranked["relative_capacity"].to_list(),
                              customdata=_council_links(c, ranked)))  # fmt: skip
    f_need.update_layout(
        yaxis_title=i18n.gettext(lang_of(c), "ui.axis_capacity_need"), xaxis_tickangle=-60
    )
    top = need.sort("without_free_choice", descending=True).head(15)
    f_choice = go.Figure(go.Bar(x=top["without_free_choice"].to_list(), y=top["name"].to_list(),
                                orientation="h", customdata=_council_links(c, top)))  # fmt: skip
    wf = s.workforce()
    f_wf = go.Figure()
    for n in sorted(set(wf["intake"].to_list())):
        part = wf.filter(pl.col("intake") == n)
        f_wf.add_trace(
            go.Scatter(
                x=part["year"].to_list(),
                y=part["median"].to_list(),
                name=i18n.gettext(lang_of(c), "ui.reach_series").format(n),
            )
        )
    f_wf.add_hline(y=5000, line_dash="dash")
    f_wf.update_xaxes(tickformat="d", separatethousands=False)  # years: 2030, not 2.030
    reach = {f"{n}": float(wf.filter((pl.col("intake") == n) & (pl.col("year") == 2035))["p_reach"][0])
             for n in sorted(set(wf["intake"].to_list()))}  # fmt: skip
    fr = s.frame().filter(pl.col("area") == "Danmark")
    f_frame = go.Figure([go.Bar(x=[str(m) for m in fr["month"]], y=fr["frame_dkk"].to_list(), name=i18n.gettext(lang_of(c), "ui.frame_series")),
                         go.Bar(x=[str(m) for m in fr["month"]], y=fr["expenditure_dkk"].to_list(), name=i18n.gettext(lang_of(c), "ui.expenditure_series"))])  # fmt: skip
    return render(c, "national.html", region or "Danmark", region=region, figs={"need": _fig(f_need), "choice": _fig(f_choice),
                  "map": _map(c, need),
                  "workforce": _fig(f_wf), "frame": _fig(f_frame)}, regions=regions, reach=reach,
                  no_choice=int(need["without_free_choice"].fill_null(0).sum()))  # fmt: skip


@router.get("/region/{region}")
def region_page(c: C, region: str) -> Response:
    u = c.need_role("national", "region")
    if u.role == "region" and u.scope != region:
        raise HTTPException(403, "this region is outside your scope")
    s = c.services
    if region not in set(s.areas()["region"].to_list()):
        raise HTTPException(404, f"no region {region!r}")
    need = s.need_by_municipality().filter(pl.col("region") == region).sort("relative_capacity")
    f_cov = go.Figure(go.Bar(x=need["name"].to_list(), y=need["relative_capacity"].to_list(),
                             customdata=_council_links(c, need)))  # fmt: skip
    ooh = s.ooh_plan(region)
    by_hour = ooh["demand_by_hour"]
    docs = ooh["plan"].group_by("hour").agg(pl.col("doctors").sum() / 7).sort("hour")
    g = partial(i18n.gettext, lang_of(c))
    f_ooh = go.Figure([
        go.Bar(x=by_hour["hour"].to_list(), y=by_hour["mean"].to_list(), name=g("ui.axis_contacts")),
        go.Scatter(x=docs["hour"].to_list(), y=docs["doctors"].to_list(),
                   name=g("ui.axis_doctors_on_duty"), yaxis="y2"),
    ])  # fmt: skip
    f_ooh.update_layout(xaxis_title=g("ui.axis_hour"), yaxis_title=g("ui.axis_contacts_per_hour"),
                        yaxis2={"overlaying": "y", "side": "right", "title": g("ui.axis_doctors")})  # fmt: skip
    new = max(1, round(100 * s.gp_share()))  # 100 nationally, scaled to the warehouse
    dist = s.distribution(new).filter(pl.col("region") == region).sort("voluntary", descending=True)
    lim = s.limits().filter(pl.col("provider_number").is_in(list(c.scope_clinics())))
    plan = ooh["plan"]
    staff = (
        plan.group_by("site")
        .agg(
            doctor_hours=pl.col("doctors").sum(),
            hours_without=(pl.col("closed") & (pl.col("mean") > 0)).sum(),
            max_load=pl.col("load_per_doctor").max(),
        )
        .sort("site")
    )
    mine = s.areas().filter(pl.col("region") == region)
    clusters = sorted(set(mine["cluster"].to_list()))
    councils = sorted(set(mine["health_council"].to_list()))
    return render(c, "region.html", region, figs={"coverage": _fig(f_cov), "ooh": _fig(f_ooh),
                                                  "map": _map(c, need)},
                  dist=rows(dist), new=new, staff=rows(staff), clusters=clusters,
                  councils=councils,
                  limits={"old": int(lim["may_close_old"].sum()), "new": int(lim["may_close_new"].sum()),
                          "n": len(lim)})  # fmt: skip


@router.get("/council/{council}")
def council_page(c: C, council: str) -> Response:
    """A health council: coverage of its municipalities, the distribution model's
    proposal for them and the closing limits of its clinics (out of hours is planned
    per region: see the region page)."""
    u = c.need_role("national", "region")
    s = c.services
    members = s.areas().filter(pl.col("health_council") == council)
    if members.is_empty():
        raise HTTPException(404, f"no health council {council!r}")
    region = members["region"][0]
    if u.role == "region" and u.scope != region:
        raise HTTPException(403, "this health council is outside your scope")
    munis = s.municipalities().filter(pl.col("health_council") == council)["code"].to_list()
    need = s.need_by_municipality().filter(pl.col("area").is_in(munis)).sort("relative_capacity")
    f_cov = go.Figure(go.Bar(x=need["name"].to_list(), y=need["relative_capacity"].to_list()))
    f_choice = go.Figure(go.Bar(x=need["name"].to_list(),
                                y=need["without_free_choice"].fill_null(0).to_list()))  # fmt: skip
    new = max(1, round(100 * s.gp_share()))  # 100 nationally, scaled to the warehouse
    dist = (
        s.distribution(new).filter(pl.col("area").is_in(munis)).sort("voluntary", descending=True)
    )
    lim = s.limits().filter(pl.col("provider_number").is_in(members["provider_number"].to_list()))
    return render(c, "council.html", f"Sundhedsråd {council}", region=region, new=new,
                  figs={"coverage": _fig(f_cov), "choice": _fig(f_choice), "map": _map(c, need)},
                  dist=rows(dist),
                  limits={"old": int(lim["may_close_old"].sum()), "new": int(lim["may_close_new"].sum()),
                          "n": len(lim)})  # fmt: skip


@router.get("/cluster/{cluster}")
def cluster_page(c: C, cluster: str) -> Response:
    u = c.need_user()
    s = c.services
    members = s.areas().filter(pl.col("cluster") == cluster)
    if members.is_empty():
        raise HTTPException(404, f"no cluster {cluster!r}")
    scope = c.scope_clinics()
    if not set(members["provider_number"].to_list()) & scope or u.role == "clinic":
        raise HTTPException(403, "this cluster is outside your scope")
    ind = s.indicators().filter(pl.col("cluster") == cluster)
    lang = lang_of(c)
    flags = {f: i18n.code(lang, "funnel_flag", f) for f in ("high", "low", "watch")}
    parts = {k: rows(ind.filter(pl.col("indicator") == k).sort("provider_number")
                     .with_columns(pl.col("flag").replace(flags)))
             for k in sorted(set(ind["indicator"].to_list()))}  # fmt: skip
    shown = ind.filter(pl.col("p").is_not_null())
    fig = go.Figure()
    for k in sorted(set(shown["indicator"].to_list())):
        part = shown.filter(pl.col("indicator") == k)
        links = [
            f"/clinic/{pn}" if u.role in ("national", "region") and pn in scope else None
            for pn in part["provider_number"]
        ]  # a cluster user has no clinic pages
        fig.add_trace(go.Bar(x=part["provider_number"].to_list(), y=part["p"].to_list(),
                             name=i18n.code(lang_of(c), "indicator", k), customdata=links))  # fmt: skip
    figs = {"indicators": _fig(fig)}
    for k in parts:
        figs[f"funnel.{k}"] = _fig(funnel_figure(ind.filter(pl.col("indicator") == k), lang_of(c)))
    return render(c, "cluster.html", f"Klynge {cluster}", indicators=parts, figs=figs,
                  clinics=sorted(members["provider_number"].to_list()),
                  can_open=u.role == "national")  # fmt: skip


def funnel_figure(part: pl.DataFrame, lang: str) -> go.Figure:
    """A funnel plot of one indicator: the cluster's clinics (published n and standardised
    share) against the national share and its 95 % and 99.8 % limits over n (arcsine
    scale with the indicator's τ², as ``population.indicators.funnel``)."""
    import math

    import numpy as np

    fig = go.Figure()
    known = part.filter(pl.col("p_std").is_not_null() & pl.col("n").is_not_null())
    if part.is_empty() or part["p0"][0] is None:
        return fig
    p0, tau2 = float(part["p0"][0]), float(part["tau2"][0] or 0.0)
    top = max(int(float(part["n"].fill_null(0).max() or 10)), 10) * 1.2  # type: ignore[arg-type]
    n = np.linspace(5, top, 120)
    t = math.asin(math.sqrt(p0))
    for z, dash, key in ((1.959964, "dash", "ui.funnel_limits95"),
                         (3.090232, "dot", "ui.funnel_limits998")):  # fmt: skip
        sd = np.sqrt(1 / (4 * n) + tau2)
        for sign in (-1, 1):
            y = np.sin(np.clip(t + sign * z * sd, 0, math.pi / 2)) ** 2
            fig.add_trace(go.Scatter(x=n.tolist(), y=y.tolist(), mode="lines",
                                     line={"dash": dash, "color": "#555"},
                                     name=i18n.gettext(lang, key), showlegend=sign > 0))  # fmt: skip
    fig.add_trace(go.Scatter(x=[5, top], y=[p0, p0], mode="lines", line={"color": "#000"},
                             name=i18n.gettext(lang, "ui.funnel_national")))  # fmt: skip
    fig.add_trace(go.Scatter(x=known["n"].to_list(), y=known["p_std"].to_list(), mode="markers",
                             text=known["provider_number"].to_list(),
                             name=i18n.gettext(lang, "ui.funnel_clinics")))  # fmt: skip
    fig.update_layout(xaxis_title=i18n.gettext(lang, "ui.funnel_n"),
                      yaxis_title=i18n.gettext(lang, "ui.funnel_share"),
                      yaxis_tickformat=".0%", separators=",." if lang == "da" else ".,")  # fmt: skip
    return fig


@router.get("/clinic/{provider_number}")
def clinic_page(c: C, provider_number: str) -> Response:
    u = c.need_clinic_money(provider_number)
    s = c.services
    st = s.statements().filter(pl.col("provider_number") == provider_number).sort("month")
    if st.is_empty():
        raise HTTPException(404, "no settlement for this clinic")
    month = rows(st.tail(1))[0]
    f_m = go.Figure(go.Bar(x=[str(m) for m in st["month"]], y=st["total_dkk"].to_list()))
    ret = s.returned().filter(pl.col("provider_number") == provider_number)
    reasons = ret.group_by("reason_da").agg(lines=pl.len(), dkk=pl.col("amount_dkk").sum()).rename(
        {"reason_da": "reason"}).sort("lines", descending=True)  # fmt: skip
    cei = s.ceiling().filter(pl.col("provider_number") == provider_number)
    ceiling = None
    if not cei.is_empty():
        r = cei.row(0, named=True)
        from almen.settlement import ceiling_rule

        ceiling = {
            "ratio": r.get("ratio"),
            "why": s96_why(r, ceiling_rule(s.year)[1], lang_of(c)),
            "over": bool(r["over"]),
        }
    ov = s.overview(provider_number)
    findings = inbox = quality = None
    if u.role == "clinic":
        found, _ = s.findings()
        mine = found.filter(pl.col("provider_number") == provider_number).sort("definition")
        defs = s.definitions()
        findings = [{"patient": f"{r['patient_id']}", "definition": r["definition"],
                     "reason": finding_reason(r, defs, lang_of(c))}
                    for r in mine.iter_rows(named=True)]  # fmt: skip
        audit_view(c.records, u, f"clinic page of {provider_number} (findings)", None)
        inbox = _inbox(c, provider_number)
        quality = rows(s.indicators().filter(pl.col("provider_number") == provider_number)
                       .select("indicator", "n", "x", "p", "cluster_p", "flag")
                       .sort("indicator"))  # fmt: skip
    from almen.access.triage import CHANNELS, REASONS

    flash = c.request.session.pop("flash", None)
    local = rows(s.local_lines(provider_number).drop("provider_number"))
    return render(c, "clinic.html", f"Klinik {provider_number}", month=month, figs={"months": _fig(f_m)},
                  statements=rows(st), local=local, reasons=rows(reasons), ceiling=ceiling,
                  overview=rows(ov), findings=findings, quality=quality, inbox=inbox,
                  pn=provider_number, request_reasons=REASONS, channels=CHANNELS,
                  flash=flash)  # fmt: skip


@router.get("/clinic/{provider_number}/vejviser")
def guide_page(c: C, provider_number: str) -> Response:
    """The guide for new GPs (seed 004) for this clinic: the bodies of its region by
    topic (the whole guide on one page, one download), and each concept almen computes
    linked to the clinic's page for it."""
    from almen.guide import TOPICS
    from almen.web.guide import clinic_guide

    clinic, guide, pages = clinic_guide(c, provider_number, None, lang_of(c))
    title = i18n.gettext(lang_of(c), "ui.guide_title").format(provider_number)
    return render(c, "guide.html", title, clinic=clinic, guide=guide, pages=pages,
                  topics=TOPICS, pn=provider_number)  # fmt: skip


def _inbox(c: Ctx, provider_number: str) -> list[dict[str, Any]]:
    """The clinic's open requests as the page shows them: the patient's name where the
    request holds it (a patient portal sends it), else the pseudonym; what the patient
    wrote and sent (the drug, the time, the answers) and the messages so far."""
    from almen.access.inbox import messages

    items = c.open_requests(provider_number)
    msgs = messages(c.records, [i.id for i in items])
    return [{"id": i.id, "severity": i.severity, "handler": i.handler, "channel": i.channel,
             "reason": i.reason, "target_at": i.target_at, "status": i.status,
             "assigned_to": i.assigned_to, "patient": str(i.patient_id), "age": i.age,
             "sex": i.sex, "text": i.text, "source": i.source, "name": i.patient_name,
             "details": json.loads(i.details) if i.details else {}, "messages": msgs[i.id]}
            for i in items]  # fmt: skip


@router.get("/clinic/{provider_number}/indicators/{indicator}/missing")
def missing_page(c: C, provider_number: str, indicator: str) -> Response:
    """The drill-down of an indicator: the clinic's own patients in its denominator who
    miss its numerator, each linked to the patient page. For the clinic's own user only;
    audited (the same rule as the API's drill-down)."""
    u, who = c.missing_patients(provider_number, indicator)
    # every patient listed is logged as viewed (the page shows them all, or sends them all)
    audit_views_of(c.records, u, f"missing:{indicator}",
                   who["patient_id"].to_list())  # fmt: skip
    spec = c.services.definitions().indicators[indicator]
    name = spec.name_da if lang_of(c) == "da" else spec.name_en
    return render(c, "missing.html", f"{name}: {provider_number}", pn=provider_number,
                  indicator=indicator, indicator_name=name, as_of=c.services.as_of,
                  missing=rows(who.select("patient_id", "age", "sex").sort("patient_id")))  # fmt: skip


@router.get("/clinic/{provider_number}/s96")
def s96_page(c: C, provider_number: str) -> Response:
    """The clinic's § 96 statement as a printable page (print or save as PDF), with its
    CSV and JSON beside it."""
    from almen.printable import s96_html

    c.need_clinic_money(provider_number)
    try:
        report, bands = c.services.s96_statement(provider_number)
    except NotFoundError:
        raise HTTPException(404, "no § 96 figures for this clinic") from None
    base = f"/api/clinics/{provider_number}/s96-statement?format="
    page = s96_html(report.row(0, named=True), bands, year=c.services.year, lang=_lang(c),
                    downloads={"CSV": base + "csv", "JSON": base + "json"})  # fmt: skip
    return HTMLResponse(page)


@router.post("/clinic/{provider_number}/inbox")
def inbox_form(
    c: C, provider_number: str, patient_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
    reason: Annotated[str, Form(max_length=40)], text: Annotated[str, Form(max_length=2000)] = "",
    preferred_channel: Annotated[str, Form(max_length=40)] = "",
    housebound: Annotated[str | None, Form()] = None, csrf: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """A request taken by phone or at the desk: triaged with the patient's age, sex and
    flags from the records (seed 003 "Prioritering af den praktiserende læges tid") and
    put in the inbox; the page says which rule decided."""
    from almen.access import Request as TriageRequest
    from almen.access.inbox import submit

    u = c.need_role("clinic")
    c.need_clinic(provider_number)
    c.check_csrf(csrf)
    back = RedirectResponse(f"/clinic/{provider_number}#inbox", status_code=303)
    if c.services.listed_with(patient_id) != provider_number:
        c.request.session["flash"] = "error:not_listed"
        return back
    age, sex, flags = c.services.patient_facts(patient_id)
    if housebound:
        flags.add("housebound")
    req = TriageRequest(reason, age, sex, frozenset(flags), text, preferred_channel or None)
    try:
        item = submit(c.records, provider_number, patient_id, req, actor=u.username)
    except UserError:
        c.request.session["flash"] = "error:invalid"
        return back
    audit_view(c.records, u, "inbox request submitted", patient_id)
    c.request.session["flash"] = f"ok:{item.id}:{item.severity}:{item.handler}:{item.rule_id}"
    return back


@router.post("/clinic/{provider_number}/inbox/{request_id}/{action}")
def inbox_action_form(
    c: C, provider_number: str, request_id: RequestP,
    action: str, csrf: Annotated[str, Form()] = "",
    message: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """Take a request (assign it to oneself), reply to the patient, or close it with an
    optional message to the patient."""
    from almen.access.inbox import assign, complete, reply

    u = c.need_role("clinic")
    c.need_clinic(provider_number)
    c.check_csrf(csrf)
    mine = {i.id for i in c.open_requests(provider_number)}
    if request_id not in mine:
        raise HTTPException(404, "no open request with that id in this clinic's inbox")
    if action == "assign":
        assign(c.records, request_id, u.username, actor=u.username)
    elif action == "reply":
        if not message.strip():
            c.request.session["flash"] = "error:empty_reply"
        else:
            reply(c.records, request_id, message, actor=u.username)
            c.request.session["flash"] = f"replied:{request_id}"
    elif action == "complete":
        complete(c.records, request_id, actor=u.username, message=message or None)
    else:
        raise HTTPException(404, "action must be assign, reply or complete")
    return RedirectResponse(f"/clinic/{provider_number}#inbox", status_code=303)


@router.get("/clinic/{provider_number}/patient/{patient_id}")
def patient_page(c: C, provider_number: str, patient_id: PatientP) -> Response:
    c.need_clinic(provider_number)
    u = c.need_patient(patient_id)
    o = c.services.patient(patient_id)
    audit_view(c.records, u, "patient page", patient_id)
    return render(c, "patient.html", f"Patient {patient_id}", o=o,
                  plans=records.care_plans(c.records, patient_id))  # fmt: skip


@router.post("/clinic/{provider_number}/patient/{patient_id}/careplan")
def careplan_form(
    c: C, provider_number: str, patient_id: PatientP, title: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "", csrf: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    c.need_clinic(provider_number)
    u = c.need_patient(patient_id)
    c.check_csrf(csrf)
    try:
        plan = records.add_care_plan(c.records, patient_id, title, description, "draft",
                                     by=u.username, provider_number=provider_number,
                                     author=u.name or u.username)  # fmt: skip
    except ParameterError as exc:
        raise HTTPException(422, str(exc)) from None
    audit_view(c.records, u, "care plan added", patient_id)
    return RedirectResponse(f"/careplan/{plan.id}", status_code=303)


def _lines(text: str, n: int) -> list[list[str]]:
    """The lines of a text box, each split at ``|`` into ``n`` trimmed parts (missing
    parts empty); empty lines are left out."""
    out = []
    for line in text.splitlines():
        if line.strip():
            parts = [x.strip() for x in line.split("|")][:n]
            out.append(parts + [""] * (n - len(parts)))
    return out


def _day_or_none(text: str, what: str) -> dt.date | None:
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ParameterError(f"{what}: not a date (YYYY-MM-DD): {text.strip()!r}") from None


@router.get("/careplan/{plan_id}")
def careplan_page(c: C, plan_id: Annotated[int, FastPath(ge=1, le=2**31 - 1)]) -> Response:
    """One care plan: for its clinic (with the form to change it, its history and whom
    it is shared with) or a professional it is shared with (to read); every view is
    written to the patient's access log."""
    from almen.web.auth import shared_users

    u, plan = c.need_plan_reader(plan_id)
    audit_view(c.records, u, "care plan read", plan.patient_id)
    clinic = u.role == "clinic"
    flash = c.request.session.pop("flash", None)
    return render(c, "careplan.html", f"{plan.title}", plan=plan, clinic=clinic,
                  statuses=records.STATUSES, history=records.care_plan_history(c.records, plan_id),
                  shares=shared_users(c.records, plan_id) if clinic else [],
                  flash=flash)  # fmt: skip


@router.post("/careplan/{plan_id}")
def careplan_change_form(
    c: C, plan_id: Annotated[int, FastPath(ge=1, le=2**31 - 1)],
    title: Annotated[str, Form(max_length=200)], status: Annotated[str, Form(max_length=20)],
    description: Annotated[str, Form(max_length=5000)] = "",
    author: Annotated[str, Form(max_length=200)] = "",
    goals: Annotated[str, Form(max_length=20000)] = "",
    activities: Annotated[str, Form(max_length=20000)] = "",
    care_team: Annotated[str, Form(max_length=20000)] = "",
    addresses: Annotated[str, Form(max_length=2000)] = "",
    period_start: Annotated[str, Form(max_length=10)] = "",
    period_end: Annotated[str, Form(max_length=10)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """The plan's form: goals one a line as "what | status | due date", activities as
    "what | status | who", the care team as "name | role", the ICPC-2 codes it
    addresses separated by spaces."""
    u, plan = c.need_plan_owner(plan_id, "changes its care plans")
    c.check_csrf(csrf)
    try:
        changes = {
            "title": title, "status": status, "description": description, "author": author,
            "goals": tuple(records.Goal(d, st or "proposed", _day_or_none(due, f"goal {d!r}"))
                           for d, st, due in _lines(goals, 3)),
            "activities": tuple(records.Activity(d, st or "not-started", who)
                                for d, st, who in _lines(activities, 3)),
            "care_team": tuple(records.Member(n, r) for n, r in _lines(care_team, 2)),
            "addresses": tuple(x.upper() for x in addresses.replace(",", " ").split()),
            "period_start": _day_or_none(period_start, "period start"),
            "period_end": _day_or_none(period_end, "period end"),
        }  # fmt: skip
        records.update_care_plan(c.records, plan_id, by=u.username, **changes)
    except ParameterError as exc:
        c.request.session["flash"] = f"error:{exc}"
        return RedirectResponse(f"/careplan/{plan_id}", status_code=303)
    audit_view(c.records, u, "care plan changed", plan.patient_id)
    c.request.session["flash"] = "saved:"
    return RedirectResponse(f"/careplan/{plan_id}", status_code=303)


@router.post("/careplan/{plan_id}/share")
def careplan_share_form(
    c: C, plan_id: Annotated[int, FastPath(ge=1, le=2**31 - 1)],
    username: Annotated[str, Form(max_length=60)], name: Annotated[str, Form(max_length=100)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Share the plan with a named professional: the new user's password is shown once."""
    from almen.web.auth import add_shared_user

    u, plan = c.need_plan_owner(plan_id, "shares its care plans")
    c.check_csrf(csrf)
    try:
        password = add_shared_user(c.records, plan_id, username.strip(), name, by=u.username)
    except ParameterError as exc:
        c.request.session["flash"] = f"error:{exc}"
        return RedirectResponse(f"/careplan/{plan_id}", status_code=303)
    audit_view(c.records, u, f"shared:{username.strip()}", plan.patient_id)
    c.request.session["flash"] = f"shared:{username.strip()}:{password}"
    return RedirectResponse(f"/careplan/{plan_id}", status_code=303)


@router.get("/fees")
def fees_page(c: C) -> Response:
    c.need_role("national", "region")
    return render(c, "fees.html", "Honorarscenarier", scenario=EXAMPLE, result=None, error=None)


@router.post("/fees")
def fees_form(
    c: C, scenario: Annotated[str, Form(max_length=100_000)] = "",
    upload: Annotated[UploadFile | None, File()] = None, csrf: Annotated[str, Form()] = "",
    budget_neutral: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    """Compare a fee scenario: the text in the box, or an uploaded TOML file if one is
    chosen (the file then fills the box, so it can be edited and run again)."""
    c.need_role("national", "region")
    c.check_csrf(csrf)
    name = "scenariet"
    if upload is not None and upload.filename:
        raw = upload.file.read(MAX_SCENARIO_BYTES + 1)
        name = Path(upload.filename).name[:100]
        error = None
        if len(raw) > MAX_SCENARIO_BYTES:
            error = f"{name}: the file is larger than {MAX_SCENARIO_BYTES:,} bytes"
        else:
            try:
                scenario = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = f"{name}: not UTF-8 text (byte {exc.start + 1})"
        if error is not None:
            return render(c, "fees.html", "Honorarscenarier", scenario=scenario, result=None,
                          error=error)  # fmt: skip
    try:
        c.services.compare_fees(scenario, source=name,
                                budget_neutral=True if budget_neutral else None)  # fmt: skip
    except UserError as exc:
        return render(c, "fees.html", "Honorarscenarier", scenario=scenario, result=None,
                      error=str(exc))  # fmt: skip
    from sqlalchemy.orm import Session

    with Session(c.records) as db:  # kept, so the result has an address
        row = records.FeeScenarioRow(username=c.need_user().username, source=name,
                                     text=scenario, budget_neutral=bool(budget_neutral),
                                     created_at=dt.datetime.now().replace(microsecond=0))  # fmt: skip
        db.add(row)
        db.commit()
        run = row.id
    return RedirectResponse(f"/fees/{run}#result", status_code=303)


@router.get("/fees/{run}")
def fees_result(c: C, run: Annotated[int, FastPath(ge=1, le=2**31 - 1)]) -> Response:
    """A compared fee scenario (``POST /fees`` redirects here): the change per clinic, all
    winners and all losers (paged, 50 a page), each table as CSV or JSON, the scenario in
    the box to edit and run again."""
    from sqlalchemy.orm import Session

    c.need_role("national", "region")
    with Session(c.records) as db:
        row = db.get(records.FeeScenarioRow, run)
        got = None if row is None else (row.text, row.source, row.budget_neutral)
    if got is None:
        raise HTTPException(404, f"no fee scenario {run}")
    scenario, name, neutral = got
    res = c.services.compare_fees(scenario, source=name, budget_neutral=True if neutral else None)
    pc = res["per_clinic"].sort("change_dkk")
    fig = go.Figure(go.Histogram(x=pc["change_pct"].drop_nulls().to_list(), nbinsx=40))
    g = partial(i18n.gettext, lang_of(c))
    fig.update_layout(xaxis_title=g("ui.axis_change_pct"), yaxis_title=g("ui.axis_clinics"))
    result = {"scenario": res["scenario"], "totals": res["totals"], "run": run,
              "winners": rows(pc.filter(pl.col("change_dkk") > 0).reverse()),
              "losers": rows(pc.filter(pl.col("change_dkk") < 0)),
              "clinics": rows(pc.sort("provider_number"))}  # fmt: skip
    return render(c, "fees.html", "Honorarscenarier", scenario=scenario, result=result,
                  figs={"fees": _fig(fig)}, error=None)  # fmt: skip
