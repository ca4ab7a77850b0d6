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
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
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


USER_TTL = 30.0  # seconds a looked-up user is kept (a changed role takes effect after it)


def _user(app: Any, engine: Engine, name: str) -> User | None:
    cache: dict[str, tuple[float, User | None]] = app.state.users
    now = time.monotonic()
    hit = cache.get(name)
    if hit is not None and now - hit[0] < USER_TTL:
        return hit[1]
    user = get_user(engine, name)
    cache[name] = (now, user)
    return user


class Ctx:
    """What a route needs: the services, the records store and the signed-in user."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.services: Services = request.app.state.services
        self.records: Engine = request.app.state.records
        name = request.session.get("user")
        self.user: User | None = _user(request.app, self.records, name) if name else None

    def need_user(self) -> User:
        if self.user is None:
            raise HTTPException(401, "log in first")
        return self.user

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


class SecurityHeaders:
    """Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): the security
    headers on every response, and no caching of API answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.common = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

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

    app = FastAPI(
        lifespan=lifespan,
        title="almen",
        version="0.1.0",
        description="Danish general practice: settlement, population, capacity and access. "
        "Log in at /login; every route answers for the signed-in user's scope.",
    )
    app.state.services = services
    app.state.records = records.connect(settings.data, settings.records_url)
    app.state.users = {}
    app.add_middleware(
        SessionMiddleware,
        secret_key=_secret(settings),
        session_cookie="almen_session",
        same_site="lax",
        https_only=False,  # loopback demo; put the app behind TLS in production
        max_age=8 * 3600,
    )

    app.add_middleware(SecurityHeaders)

    status = {NotFoundError: 404, ParameterError: 422, InputError: 422,
              AccessDeniedError: 403, ConflictError: 409}  # fmt: skip

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        if isinstance(exc, BusyError):  # a command is writing the warehouse
            return JSONResponse({"detail": str(exc)}, status_code=503,
                                headers={"Retry-After": "5"})  # fmt: skip
        code = next((c for t, c in status.items() if isinstance(exc, t)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 401 and not request.url.path.startswith("/api/"):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip

    from almen.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    return app
