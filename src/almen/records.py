"""The operational records store: what users write (care plans), apart from the warehouse.

SQLAlchemy over SQLite by default (``records.sqlite`` in the data directory), or any
database by URL (``ALMEN_RECORDS_URL``). The warehouse is rebuilt from extracts; the
records store keeps what people type, so a later web page can edit it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from almen.errors import ParameterError, StorageError

__all__ = [
    "RECORDS_FILE",
    "AuditRow",
    "AuthEventRow",
    "CarePlan",
    "CarePlanRow",
    "FeeScenarioRow",
    "MessageRow",
    "PortalKeyRow",
    "RequestRow",
    "ViewAuditRow",
    "WebSessionRow",
    "WebUserRow",
    "add_care_plan",
    "care_plans",
    "connect",
]

RECORDS_FILE = "records.sqlite"
STATUSES = ("draft", "active", "completed", "revoked")


class Base(DeclarativeBase):
    pass


class CarePlanRow(Base):
    """A shared care plan (seed 002 §8.2: "en fælles plan for patientens forløb")."""

    __tablename__ = "care_plan"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class RequestRow(Base):
    """A patient's request in the clinic's inbox, with its triage decision (seed 003)."""

    __tablename__ = "triage_request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_number: Mapped[str] = mapped_column(String(12), index=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, index=True)
    reason: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    age: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(1))
    flags: Mapped[str] = mapped_column(String(200), default="")
    preferred_channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    severity: Mapped[str] = mapped_column(String(20))
    severity_rank: Mapped[int] = mapped_column(Integer)
    handler: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    rule_id: Mapped[str] = mapped_column(String(60))
    target_hours: Mapped[float] = mapped_column(Float)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)
    target_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(60), nullable=True)
    # how it arrived: "clinic" (by phone or at the desk) or a patient channel
    # (``access.inbox.PATIENT_KINDS``) through the patient-facing API
    source: Mapped[str] = mapped_column(String(30), default="clinic")
    patient_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[str] = mapped_column(Text, default="")  # the drug, the time, the answers


class MessageRow(Base):
    """A message on a request: the clinic's reply to the patient, or the patient's own."""

    __tablename__ = "triage_message"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("triage_request.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    author: Mapped[str] = mapped_column(String(60))  # a user name, or "patient"
    to_patient: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text)


class FeeScenarioRow(Base):
    """A fee scenario compared on the web page, kept so its result has an address
    (``/fees/{id}``): to page through, download and send to a colleague."""

    __tablename__ = "fee_scenario"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(100))  # the file name, or "scenariet"
    text: Mapped[str] = mapped_column(Text)
    budget_neutral: Mapped[bool] = mapped_column(Boolean, default=False)


class PortalKeyRow(Base):
    """A patient portal (an app or web page where patients sign in with MitID) allowed to
    send requests to the patient-facing API: its name and the SHA-256 hash of its key."""

    __tablename__ = "patient_portal"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditRow(Base):
    """Who did what to a request, and when (every change to the inbox)."""

    __tablename__ = "triage_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("triage_request.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(200), default="")


class WebUserRow(Base):
    """A user of the web app: an argon2 password hash, a role and its scope (the region,
    cluster or clinic the user may see; none for the national role)."""

    __tablename__ = "web_user"
    username: Mapped[str] = mapped_column(String(60), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str | None] = mapped_column(String(100), nullable=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WebSessionRow(Base):
    """A signed-in session (server side: the cookie holds only its random token, stored
    here as a SHA-256 hash). Ended by logout, a password change, disabling the user, or
    the idle and absolute timeouts."""

    __tablename__ = "web_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AuthEventRow(Base):
    """Every login, failed login, lockout, logout and account change (ASVS 2.2.1, 7.1):
    who, from which address, when. Never a password."""

    __tablename__ = "auth_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True, default="")
    event: Mapped[str] = mapped_column(String(30))


class ViewAuditRow(Base):
    """Every view of patient-level data in the web app: who, when, which patient, how."""

    __tablename__ = "view_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    username: Mapped[str] = mapped_column(String(60), index=True)
    what: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)


@dataclass(frozen=True, slots=True)
class CarePlan:
    id: int
    patient_id: int
    title: str
    description: str
    status: str
    created_at: dt.datetime


def connect(data_dir: Path, url: str | None = None) -> Engine:
    """The records store: ``url`` if given, else SQLite in ``data_dir``; tables created."""
    target = url or f"sqlite:///{data_dir / RECORDS_FILE}"
    try:
        if target.startswith("sqlite"):
            # several users at once: wait for a writer instead of failing, and let readers
            # read while one writes (write-ahead log)
            engine = create_engine(target, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(target, pool_pre_ping=True)
        Base.metadata.create_all(engine)
        _add_new_columns(engine)
    except Exception as exc:  # drivers raise many types
        raise StorageError(f"cannot open the records store: {type(exc).__name__}") from None
    if url is None:
        _owner_only(data_dir / RECORDS_FILE)
    return engine


def _owner_only(path: Path) -> None:
    """Password hashes, care plans and inbox text: readable by the owner only (0600)."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except OSError:  # absent, or not ours to change
            pass


def _add_new_columns(engine: Engine) -> None:
    """Columns added since a store was made (``create_all`` makes only missing tables)."""
    from sqlalchemy import inspect, text

    added = {
        "web_user": {"disabled": "BOOLEAN NOT NULL DEFAULT FALSE",
                     "password_changed_at": "TIMESTAMP"},
        "triage_request": {"source": "VARCHAR(30) NOT NULL DEFAULT 'clinic'",
                           "patient_name": "VARCHAR(200)",
                           "details": "TEXT NOT NULL DEFAULT ''"},
    }  # fmt: skip
    with engine.begin() as con:
        for table, columns in added.items():
            have = {c["name"] for c in inspect(con).get_columns(table)}
            for name, decl in columns.items():
                if name not in have:
                    con.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {decl}"))


def _sqlite_pragmas(conn: object, _record: object) -> None:
    cur = conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def add_care_plan(
    engine: Engine, patient_id: int, title: str, description: str = "", status: str = "active"
) -> CarePlan:
    if status not in STATUSES:
        raise ParameterError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if not title.strip():
        raise ParameterError("a care plan needs a title")
    with Session(engine) as s:
        row = CarePlanRow(
            patient_id=patient_id,
            title=title.strip(),
            description=description,
            status=status,
            created_at=dt.datetime.now().replace(microsecond=0),
        )
        s.add(row)
        s.commit()
        return _plan(row)


def care_plans(engine: Engine, patient_id: int) -> list[CarePlan]:
    with Session(engine) as s:
        rows = s.scalars(
            select(CarePlanRow).where(CarePlanRow.patient_id == patient_id).order_by(CarePlanRow.id)
        )
        return [_plan(r) for r in rows]


def _plan(r: CarePlanRow) -> CarePlan:
    return CarePlan(r.id, r.patient_id, r.title, r.description, r.status, r.created_at)


def references(engine: Engine) -> dict[str, list[Any]]:
    """What the records point to in the warehouse: the users' scopes by role, the
    patients of care plans and inbox requests, and the clinics of inbox requests (for
    ``/api/health`` to report the ones that no longer exist)."""
    with Session(engine) as s:
        users = s.execute(select(WebUserRow.role, WebUserRow.scope)).all()
        plans = s.scalars(select(CarePlanRow.patient_id).distinct()).all()
        reqs = s.execute(select(RequestRow.provider_number, RequestRow.patient_id)).all()
    return {
        "region": sorted({sc for r, sc in users if r == "region" and sc}),
        "cluster": sorted({sc for r, sc in users if r == "cluster" and sc}),
        "clinic": sorted({sc for r, sc in users if r == "clinic" and sc} | {p for p, _ in reqs}),
        "patient": sorted(set(plans) | {pid for _, pid in reqs}),
    }
