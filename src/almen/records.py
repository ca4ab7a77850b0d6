"""The operational records store: what users write (care plans), apart from the warehouse.

SQLAlchemy over SQLite by default (``records.sqlite`` in the data directory), or any
database by URL (``ALMEN_RECORDS_URL``). The warehouse is rebuilt from extracts; the
records store keeps what people type, so a later web page can edit it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
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

from almen.errors import NotFoundError, ParameterError, StorageError

__all__ = [
    "ACTIVITY_STATUSES",
    "GOAL_STATUSES",
    "RECORDS_FILE",
    "Activity",
    "AuditRow",
    "AuthEventRow",
    "CarePlan",
    "CarePlanRow",
    "CarePlanVersionRow",
    "FeeScenarioRow",
    "Goal",
    "Member",
    "MessageRow",
    "PortalKeyRow",
    "RequestRow",
    "ViewAuditRow",
    "WebSessionRow",
    "WebUserRow",
    "add_care_plan",
    "care_plan",
    "care_plan_history",
    "care_plans",
    "connect",
    "plan_dict",
    "update_care_plan",
]

RECORDS_FILE = "records.sqlite"
# FHIR R4 CarePlan.status (the plan), Goal.lifecycleStatus, CarePlan.activity.detail.status
STATUSES = ("draft", "active", "on-hold", "completed", "revoked")
CLOSED = ("completed", "revoked")  # a closed plan is not changed any more
GOAL_STATUSES = ("proposed", "planned", "accepted", "active", "on-hold", "completed",
                 "cancelled", "rejected")  # fmt: skip
ACTIVITY_STATUSES = ("not-started", "scheduled", "in-progress", "on-hold", "completed",
                     "cancelled", "stopped")  # fmt: skip


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
    # issue 20: a plan with a life (JSON lists; see CarePlan)
    provider_number: Mapped[str] = mapped_column(String(12), default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    care_team: Mapped[str] = mapped_column(Text, default="[]")
    goals: Mapped[str] = mapped_column(Text, default="[]")
    activities: Mapped[str] = mapped_column(Text, default="[]")
    addresses: Mapped[str] = mapped_column(Text, default="[]")
    period_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class CarePlanVersionRow(Base):
    """Every version of a care plan as it was saved: who, when, and the whole plan."""

    __tablename__ = "care_plan_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(Integer, ForeignKey("care_plan.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    username: Mapped[str] = mapped_column(String(60))
    snapshot: Mapped[str] = mapped_column(Text)


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
class Goal:
    """A goal of a care plan (FHIR Goal): what, its lifecycle status, when it is due."""

    description: str
    status: str = "proposed"
    due: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity of a care plan (FHIR CarePlan.activity.detail): what, its status, and
    who carries it out (a care-team member's name, or empty)."""

    description: str
    status: str = "not-started"
    performer: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """A member of the care team: a name and a role (e.g. "hjemmesygeplejerske")."""

    name: str
    role: str = ""


@dataclass(frozen=True, slots=True)
class CarePlan:
    """A shared care plan (seed 002 §8.2): status, author, care team, goals, activities,
    the conditions it addresses (ICPC-2 codes) and its period; ``version`` counts the
    saved changes (each kept in ``care_plan_history``)."""

    id: int
    patient_id: int
    title: str
    description: str
    status: str
    created_at: dt.datetime
    provider_number: str = ""
    author: str = ""
    care_team: tuple[Member, ...] = ()
    goals: tuple[Goal, ...] = ()
    activities: tuple[Activity, ...] = ()
    addresses: tuple[str, ...] = ()
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    version: int = 1
    updated_at: dt.datetime | None = None


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
        "care_plan": {"provider_number": "VARCHAR(12) NOT NULL DEFAULT ''",
                      "author": "VARCHAR(200) NOT NULL DEFAULT ''",
                      "care_team": "TEXT NOT NULL DEFAULT '[]'",
                      "goals": "TEXT NOT NULL DEFAULT '[]'",
                      "activities": "TEXT NOT NULL DEFAULT '[]'",
                      "addresses": "TEXT NOT NULL DEFAULT '[]'",
                      "period_start": "DATE", "period_end": "DATE",
                      "version": "INTEGER NOT NULL DEFAULT 1", "updated_at": "TIMESTAMP"},
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


def _check_plan(plan: CarePlan) -> None:
    """A plan as it may be saved: ParameterError naming the field otherwise."""
    if plan.status not in STATUSES:
        raise ParameterError(f"status must be one of {', '.join(STATUSES)}, not {plan.status!r}")
    if not plan.title.strip():
        raise ParameterError("a care plan needs a title")
    if len(plan.title) > 200 or len(plan.author) > 200:
        raise ParameterError("title and author are at most 200 characters")
    for i, g in enumerate(plan.goals, 1):
        if not g.description.strip():
            raise ParameterError(f"goal {i}: a goal needs a description")
        if g.status not in GOAL_STATUSES:
            raise ParameterError(f"goal {i}: status must be one of {', '.join(GOAL_STATUSES)}")
    for i, a in enumerate(plan.activities, 1):
        if not a.description.strip():
            raise ParameterError(f"activity {i}: an activity needs a description")
        if a.status not in ACTIVITY_STATUSES:
            raise ParameterError(
                f"activity {i}: status must be one of {', '.join(ACTIVITY_STATUSES)}"
            )
    for i, m in enumerate(plan.care_team, 1):
        if not m.name.strip():
            raise ParameterError(f"care team member {i}: a member needs a name")
    for code in plan.addresses:
        if not re.fullmatch(r"[A-Z]\d{2}", code):
            raise ParameterError(f"addresses: {code!r} is not an ICPC-2 code (e.g. T90)")
    if plan.period_start and plan.period_end and plan.period_end < plan.period_start:
        raise ParameterError("the period ends before it starts")


def _snapshot(plan: CarePlan) -> str:
    return json.dumps(plan_dict(plan), ensure_ascii=False, sort_keys=True)


def plan_dict(plan: CarePlan) -> dict[str, Any]:
    """A plan as plain JSON values (the API's form, and each history version's)."""
    return {
        "id": plan.id, "patient_id": str(plan.patient_id), "title": plan.title,
        "description": plan.description, "status": plan.status,
        "created_at": plan.created_at.isoformat(), "provider_number": plan.provider_number,
        "author": plan.author,
        "care_team": [{"name": m.name, "role": m.role} for m in plan.care_team],
        "goals": [{"description": g.description, "status": g.status,
                   "due": g.due.isoformat() if g.due else None} for g in plan.goals],
        "activities": [{"description": a.description, "status": a.status,
                        "performer": a.performer} for a in plan.activities],
        "addresses": list(plan.addresses),
        "period_start": plan.period_start.isoformat() if plan.period_start else None,
        "period_end": plan.period_end.isoformat() if plan.period_end else None,
        "version": plan.version,
        "updated_at": plan.updated_at.isoformat() if plan.updated_at else None,
    }  # fmt: skip


def _row_fields(plan: CarePlan) -> dict[str, Any]:
    d = plan_dict(plan)
    return {
        "title": plan.title.strip(), "description": plan.description, "status": plan.status,
        "provider_number": plan.provider_number, "author": plan.author,
        "care_team": json.dumps(d["care_team"], ensure_ascii=False),
        "goals": json.dumps(d["goals"], ensure_ascii=False),
        "activities": json.dumps(d["activities"], ensure_ascii=False),
        "addresses": json.dumps(d["addresses"]), "period_start": plan.period_start,
        "period_end": plan.period_end, "version": plan.version, "updated_at": plan.updated_at,
    }  # fmt: skip


def add_care_plan(
    engine: Engine,
    patient_id: int,
    title: str,
    description: str = "",
    status: str = "active",
    *,
    by: str = "",
    **fields: Any,
) -> CarePlan:
    """Save a new plan (version 1, kept in the history) written by user ``by``; ``fields``
    are the other CarePlan fields (author, care_team, goals, activities, addresses,
    period_start, period_end, provider_number)."""
    now = dt.datetime.now().replace(microsecond=0)
    draft = CarePlan(0, patient_id, title.strip(), description, status, now, **fields)
    _check_plan(draft)
    with Session(engine) as s:
        row = CarePlanRow(patient_id=patient_id, created_at=now, **_row_fields(draft))
        s.add(row)
        s.flush()
        plan = _plan(row)
        s.add(CarePlanVersionRow(plan_id=row.id, version=1, at=now, username=by,
                                 snapshot=_snapshot(plan)))  # fmt: skip
        s.commit()
        return plan


def update_care_plan(engine: Engine, plan_id: int, *, by: str, **changes: Any) -> CarePlan:
    """Change a plan (any CarePlan field but id, patient, created and version): the new
    version is saved and kept in the history with who and when. A completed or revoked
    plan is closed: NotFoundError for an unknown plan, ParameterError for a closed one or
    an invalid change."""
    from dataclasses import fields as dc_fields
    from dataclasses import replace

    fixed = {"id", "patient_id", "created_at", "version", "updated_at"}
    allowed = {f.name for f in dc_fields(CarePlan)} - fixed
    unknown = set(changes) - allowed
    if unknown:
        raise ParameterError(f"cannot change {', '.join(sorted(unknown))} of a care plan")
    now = dt.datetime.now().replace(microsecond=0)
    with Session(engine) as s:
        row = s.get(CarePlanRow, plan_id)
        if row is None:
            raise NotFoundError(f"no care plan {plan_id}")
        old = _plan(row)
        if old.status in CLOSED:
            raise ParameterError(f"the care plan is {old.status}: a closed plan is not changed")
        new = replace(old, **changes, version=old.version + 1, updated_at=now)
        _check_plan(new)
        for k, v in _row_fields(new).items():
            setattr(row, k, v)
        s.add(CarePlanVersionRow(plan_id=plan_id, version=new.version, at=now, username=by,
                                 snapshot=_snapshot(new)))  # fmt: skip
        s.commit()
        return new


def care_plan(engine: Engine, plan_id: int) -> CarePlan:
    """One plan; NotFoundError if there is none."""
    with Session(engine) as s:
        row = s.get(CarePlanRow, plan_id)
        if row is None:
            raise NotFoundError(f"no care plan {plan_id}")
        return _plan(row)


def care_plan_history(engine: Engine, plan_id: int) -> list[dict[str, Any]]:
    """Every saved version of a plan, oldest first: version, at, username, the fields
    that changed from the version before, and the whole plan as it was."""
    with Session(engine) as s:
        q = (select(CarePlanVersionRow).where(CarePlanVersionRow.plan_id == plan_id)
             .order_by(CarePlanVersionRow.version))  # fmt: skip
        out: list[dict[str, Any]] = []
        before: dict[str, Any] = {}
        for r in s.scalars(q):
            snap = json.loads(r.snapshot)
            changed = sorted(k for k in snap if k not in ("version", "updated_at")
                             and before and snap[k] != before.get(k))  # fmt: skip
            out.append({"version": r.version, "at": r.at.isoformat(), "username": r.username,
                        "changed": changed, "plan": snap})  # fmt: skip
            before = snap
        return out


def care_plans(engine: Engine, patient_id: int) -> list[CarePlan]:
    with Session(engine) as s:
        rows = s.scalars(
            select(CarePlanRow).where(CarePlanRow.patient_id == patient_id).order_by(CarePlanRow.id)
        )
        return [_plan(r) for r in rows]


def _plan(r: CarePlanRow) -> CarePlan:
    team = tuple(Member(**m) for m in json.loads(r.care_team or "[]"))
    goals = tuple(
        Goal(
            g["description"], g["status"], dt.date.fromisoformat(g["due"]) if g.get("due") else None
        )
        for g in json.loads(r.goals or "[]")
    )
    acts = tuple(Activity(**a) for a in json.loads(r.activities or "[]"))
    return CarePlan(r.id, r.patient_id, r.title, r.description, r.status, r.created_at,
                    provider_number=r.provider_number or "", author=r.author or "",
                    care_team=team, goals=goals, activities=acts,
                    addresses=tuple(json.loads(r.addresses or "[]")),
                    period_start=r.period_start, period_end=r.period_end,
                    version=r.version or 1, updated_at=r.updated_at)  # fmt: skip


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
