"""The web app (issue 7): FastAPI over the warehouse and the records store.

`create_app(settings)` builds it; `almen serve` runs it with Uvicorn. Security: argon2
password hashes, a signed session cookie (HttpOnly, SameSite=Lax), a CSRF token for
every form and every state-changing API call (header ``X-CSRF-Token``), strict security
headers, roles with scopes on every route, and an audit line for every view of patient
data.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from almen import records
from almen.config import Settings
from almen.errors import (
    AccessDeniedError,
    ConflictError,
    InputError,
    NotFoundError,
    ParameterError,
    UserError,
)
from almen.warehouse import BusyError
from almen.web import auth
from almen.web.auth import User, clinics_in_scope, get_user
from almen.web.services import Services

__all__ = ["Ctx", "clean", "create_app", "rows"]

SECRET_FILE = "web-secret"
STATIC = Path(__file__).parent / "static"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _secret(settings: Settings) -> str:
    """The session-signing key: a file in the data directory, made on first use."""
    path = settings.data / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    settings.data.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


def clean(v: Any) -> Any:
    """A value made JSON-safe (NaN and infinity → None, dates → ISO text)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe rows (NaN and infinity become null, dates ISO text, and
    patient pseudonyms text: they are 64-bit, beyond what JavaScript numbers hold)."""
    return [
        {k: str(v) if k == "patient_id" and v is not None else clean(v) for k, v in r.items()}
        for r in df.iter_rows(named=True)
    ]


USER_TTL = 5.0  # seconds a looked-up user or session is kept (a change elsewhere, such as
# `almen user disable` or a password change, takes effect within it; logout at once)


def _session(request: Request, engine: Engine, token: str) -> str | None:
    """The user name of the cookie's server-side session, if it is live."""
    cache: dict[str, tuple[float, str | None]] = request.app.state.sessions
    now = time.monotonic()
    hit = cache.get(token)
    if hit is not None and now - hit[0] < USER_TTL:
        return hit[1]
    st: Settings = request.app.state.settings
    name = auth.session_user(
        engine, token, idle=timedelta(minutes=st.session_idle_minutes),
        absolute=timedelta(hours=st.session_max_hours),
    )  # fmt: skip
    cache[token] = (now, name)
    return name


def address(request: Request) -> str:
    """The client's address (from a trusted proxy's X-Forwarded-For under Uvicorn)."""
    return request.client.host if request.client is not None else ""


def login_user(request: Request, engine: Engine, username: str, password: str) -> User:
    """Check a login: 429 while the user or address is locked out, 401 for a wrong
    password; every outcome in the auth log. A new server-side session on success."""
    where = address(request)
    wait = auth.locked_for(engine, username, where)
    if wait:
        auth.record_event(engine, username, where, "login_refused_locked")
        raise HTTPException(429, f"too many failed logins; try again in {wait // 60 + 1} "
                            "minutes", headers={"Retry-After": str(wait)})  # fmt: skip
    user = auth.authenticate(engine, username, password)
    if user is None:
        auth.record_event(engine, username, where, "login_failed")
        if auth.locked_for(engine, username, where):
            auth.record_event(engine, username, where, "lockout")
        raise HTTPException(401, "wrong user name or password")
    auth.record_event(engine, username, where, "login")
    old = request.session.get("sid")
    if old:
        auth.end_session(engine, str(old))
    lang = request.session.get("lang", "da")
    request.session.clear()
    request.session.update({"sid": auth.start_session(engine, username), "lang": lang})
    return user


def logout_user(request: Request, engine: Engine) -> None:
    """End the server-side session (the cookie is worth nothing after this)."""
    token = request.session.get("sid")
    if token:
        name = _session(request, engine, str(token)) or ""
        auth.end_session(engine, str(token))
        request.app.state.sessions.pop(str(token), None)
        auth.record_event(engine, name, address(request), "logout")
    request.session.clear()


def forget_user(app: Any, name: str) -> None:
    """Drop a user and its sessions from the look-up caches: a change made in this app
    (a share ended) takes effect at once, not within USER_TTL."""
    app.state.users.pop(name, None)
    sessions: dict[str, tuple[float, str | None]] = app.state.sessions
    for token in [t for t, (_at, n) in sessions.items() if n == name]:
        sessions.pop(token, None)


def _user(app: Any, engine: Engine, name: str) -> User | None:
    cache: dict[str, tuple[float, User | None]] = app.state.users
    now = time.monotonic()
    hit = cache.get(name)
    if hit is not None and now - hit[0] < USER_TTL:
        return hit[1]
    user = get_user(engine, name)
    cache[name] = (now, user)
    return user


def _services_of_year(request: Request, strict: bool = True) -> Services:
    """The services of the year the user chose (``?year=``, kept in the session like the
    language), else of the app's year; each year's are made once, on first use. A year
    without settled statements is a 404; a remembered year that is gone is forgotten."""
    app = request.app
    base: Services = app.state.services
    asked = request.query_params.get("year")
    year = asked or request.session.get("year")
    if not year or str(year) == str(base.year):
        request.session.pop("year", None)
        return base
    if not str(year).isdigit() or int(year) not in base.years():
        if asked and strict:
            raise HTTPException(404, f"no settled statements for the year {asked}")
        request.session.pop("year", None)
        return base
    request.session["year"] = int(year)
    with app.state.years_lock:
        if int(year) not in app.state.by_year:
            app.state.by_year[int(year)] = Services(base.settings, year=int(year))
        return app.state.by_year[int(year)]


class Ctx:
    """What a route needs: the services, the records store and the signed-in user."""

    def __init__(self, request: Request, strict: bool = True) -> None:
        """``strict``: a ``?year=`` without statements is a 404 (not for an error page)."""
        self.request = request
        self.services: Services = _services_of_year(request, strict)
        self.records: Engine = request.app.state.records
        token = request.session.get("sid")
        name = _session(request, self.records, str(token)) if token else None
        self.user: User | None = _user(request.app, self.records, name) if name else None

    def need_user(self) -> User:
        """The signed-in user; 401 if none, 403 if the user's region, cluster or clinic
        is no longer in the warehouse (records that point nowhere are not served)."""
        if self.user is None:
            raise HTTPException(401, "log in first")
        u = self.user
        if u.role == "shared":
            raise HTTPException(403, "a shared user reads its care plan only")
        if u.scope is not None and u.scope not in self.services.known_scopes()[u.role]:
            raise HTTPException(403, f"your {u.role} is no longer in the warehouse; ask an "
                                "administrator to change your access")  # fmt: skip
        return u

    def need_role(self, *roles: str) -> User:
        u = self.need_user()
        if u.role not in roles:
            raise HTTPException(403, f"the {u.role} role cannot see this")
        return u

    def scope_clinics(self) -> set[str]:
        return clinics_in_scope(self.need_user(), self.services.areas())

    def own_region(self, df: pl.DataFrame, column: str = "region") -> pl.DataFrame:
        """``df`` as the user may see it: a region user only the rows of its region."""
        u = self.need_user()
        return df.filter(pl.col(column) == u.scope) if u.role == "region" else df

    def need_clinic(self, provider_number: str) -> User:
        """The user may see this clinic (403 otherwise; 404 only for those who may see
        every clinic)."""
        u = self.need_user()
        if u.role == "clinic" and provider_number == u.scope:
            return u
        if provider_number not in self.scope_clinics():
            known = provider_number in set(self.services.areas()["provider_number"].to_list())
            if u.role == "national" and not known:
                raise HTTPException(404, f"no clinic {provider_number}")
            raise HTTPException(403, "this clinic is outside your scope")
        return u

    def need_clinic_money(self, provider_number: str) -> User:
        """The clinic's money and claims (settlement, returned claims, § 96, service
        overview): the clinic itself, its region and the country; a cluster sees its
        clinics' indicators and case-finding counts only (403)."""
        u = self.need_user()
        if u.role == "cluster":
            raise HTTPException(
                403, "a cluster sees its clinics' indicators and case-finding counts only"
            )
        return self.need_clinic(provider_number)

    def need_patient(self, patient_id: int) -> User:
        """Patient-level data: only a clinic user, only for a patient on its list."""
        u = self.need_role("clinic")
        if self.services.listed_with(patient_id) != u.scope:
            raise HTTPException(403, "this patient is not on your list")
        return u

    def need_plan_reader(self, plan_id: int) -> tuple[User, Any]:
        """(user, plan) for one who may read care plan ``plan_id``: the clinic of the
        plan's patient, or a user it was shared with (role shared, its scope this plan);
        403 for anyone else, 404 for an unknown plan (to those who may read plans)."""
        from almen.errors import NotFoundError
        from almen.web.auth import share_scope

        if self.user is None:
            raise HTTPException(401, "log in first")
        u = self.user
        if u.role == "shared":
            if u.scope != share_scope(plan_id):
                raise HTTPException(403, "this care plan is not shared with you")
        elif u.role != "clinic":
            raise HTTPException(403, f"the {u.role} role cannot see this")
        try:
            plan = records.care_plan(self.records, plan_id)
        except NotFoundError:
            raise HTTPException(404 if u.role == "clinic" else 403, "no such care plan") from None
        if u.role == "clinic":
            self.need_patient(plan.patient_id)
        return u, plan

    def need_plan_owner(
        self, plan_id: int, what: str = "changes its care plans"
    ) -> tuple[User, Any]:
        """``need_plan_reader`` for the plan's own clinic only (403 for a shared user)."""
        u, plan = self.need_plan_reader(plan_id)
        if u.role != "clinic":
            raise HTTPException(403, f"only the clinic {what}")
        return u, plan

    def missing_patients(self, provider_number: str, indicator: str) -> tuple[User, Any]:
        """(user, patients) of an indicator's drill-down: the clinic's own user only, its
        patients in the denominator who miss the numerator (404 for no such indicator)."""
        from almen.errors import NotFoundError

        u = self.need_clinic(provider_number)
        if u.role != "clinic":
            raise HTTPException(403, "only the clinic sees its own patients")
        try:
            return u, self.services.missing(provider_number, indicator)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None

    def open_requests(self, provider_number: str) -> list[Any]:
        """The clinic's open inbox requests for patients still on its list (a request
        for a patient who left the list or the warehouse is not served; /api/health
        counts those whose patient is gone)."""
        from almen.access.inbox import queue

        listed = set(self.services.list_of(provider_number))
        return [i for i in queue(self.records, provider_number) if i.patient_id in listed]

    def csrf(self) -> str:
        token = self.request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            self.request.session["csrf"] = token
        return str(token)

    def check_csrf(self, given: str | None) -> None:
        expected = self.request.session.get("csrf")
        if not expected or not given or not secrets.compare_digest(str(expected), given):
            raise HTTPException(403, "missing or wrong CSRF token")


class TooLargeError(HTTPException):
    """A request body over the limit (an HTTPException, so that FastAPI's body parsing
    passes it on instead of turning it into 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is larger than {limit:,} bytes")


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over ``limit`` bytes, by its Content-Length
    before anything is read, or while it streams in (chunked uploads)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send, self.limit)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLargeError(self.limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except TooLargeError:
            if not started:
                await _too_large(send, self.limit)


async def _too_large(send: Send, limit: int) -> None:
    import json

    body = json.dumps({"detail": f"the request is larger than {limit:,} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): the security
    headers on every response, and no caching of API answers."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        headers = dict(HEADERS)
        if hsts:  # served over TLS: browsers use https only for a year
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        self.common = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.common if k not in have]
                if api and b"cache-control" not in have:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings, *, year: int = 2025, warm: bool = False) -> FastAPI:
    """The web app over ``settings``' warehouse and records store, showing ``year``;
    ``warm``: compute the shared results in the background from start-up."""
    services = Services(settings, year=year)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            services.start_warm()
        yield
        services.close()  # stops the warm-up and its queries
        for other in app.state.by_year.values():
            other.close()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # /docs is served by pages.py from the bundled Swagger UI (no CDN)
        redoc_url=None,
        title="almen",
        version="0.1.0",
        description="Danish general practice: settlement, population, capacity and access. "
        "Log in at /login; every route answers for the signed-in user's scope.",
    )
    app.state.services = services
    app.state.by_year = {}  # the services of other years (``?year=``), made on first use
    app.state.years_lock = threading.Lock()
    app.state.settings = settings
    app.state.records = records.connect(settings.data, settings.records_url)
    app.state.users = {}
    app.state.sessions = {}
    app.add_middleware(
        SessionMiddleware,
        secret_key=_secret(settings),
        session_cookie="almen_session",
        same_site="lax",
        https_only=settings.https,  # Secure cookies behind TLS (ALMEN_HTTPS)
        max_age=int(settings.session_max_hours * 3600),
    )
    app.add_middleware(SecurityHeaders, hsts=settings.https)
    if settings.trusted_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        hosts = [h.strip() for h in settings.trusted_hosts.split(",") if h.strip()]
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)

    from fastapi.exceptions import RequestValidationError

    from almen.web import api, pages, patient_api

    def page(request: Request) -> bool:
        """A page (answered with an error page), not the API (answered with JSON)."""
        return not request.url.path.startswith(("/api/", "/openapi.json", "/static/"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # where and what is wrong, never the value sent (it may be a password)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]  # fmt: skip
        if page(request):
            return pages.error_page(request, 422, errors)
        return JSONResponse({"detail": errors}, status_code=422)

    status = {NotFoundError: 404, ParameterError: 422, InputError: 422,
              AccessDeniedError: 403, ConflictError: 409}  # fmt: skip

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        if isinstance(exc, BusyError):  # a command is writing the warehouse
            busy = (pages.error_page(request, 503, str(exc)) if page(request)
                    else JSONResponse({"detail": str(exc)}, status_code=503))  # fmt: skip
            busy.headers["Retry-After"] = "5"
            return busy
        code = next((c for t, c in status.items() if isinstance(exc, t)), 400)
        if page(request):
            return pages.error_page(request, code, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(StarletteHTTPException)  # also a path that matches no route
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and page(request):
            return RedirectResponse("/login", status_code=303)
        if page(request) and exc.status_code >= 400:
            got = pages.error_page(request, exc.status_code, exc.detail)
            got.headers.update(getattr(exc, "headers", None) or {})
            return got
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(500)
    async def server_error(request: Request, exc: Exception) -> Response:
        if page(request):
            return pages.error_page(request, 500, None)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.include_router(api.router)
    app.include_router(patient_api.router)
    app.include_router(pages.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


OPEN = {"/api/login", "/api/health"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with its security declared: a session cookie for every
    operation but login and health, and the CSRF header for every one that changes
    something."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)  # fmt: skip
    doc.setdefault("components", {})["securitySchemes"] = {
        "session": {"type": "apiKey", "in": "cookie", "name": "almen_session",
                    "description": "set by POST /api/login"},
        "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                 "description": "the csrf value that POST /api/login and GET /api/me return"},
        "portal": {"type": "http", "scheme": "bearer",
                   "description": "a patient portal's key (almen portal add)"},
    }  # fmt: skip
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            if path.startswith("/api/patient/"):
                op["security"] = [{"portal": []}]
            elif path in OPEN:
                op["security"] = []
            elif method in ("post", "put", "patch", "delete"):
                op["security"] = [{"session": [], "csrf": []}]
            else:
                op["security"] = [{"session": []}]
    app.openapi_schema = doc
    return doc
