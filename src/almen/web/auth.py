"""Users, roles and scopes of the web app.

Roles (issue 7): ``national`` sees everything; ``region`` one region; ``cluster`` one
quality cluster (counts below 5 are never shown); ``clinic`` one clinic and the patients
on its list. Passwords are stored as argon2 hashes in the records store; demo users are
made by ``almen demo`` only.

Security (issue 15, OWASP ASVS level 1): passwords of at least 12 characters that are not
on the shipped list of 30,000 common passwords (zxcvbn's) nor the user name (2.1.1,
2.1.7); logins throttled per user and per address with a lockout (2.2.1); every login,
failed login, lockout, logout and account change in ``auth_event``; sessions kept server
side with idle and absolute timeouts, ended by logout, a password change or disabling
the user (3.3.1, 3.3.2, 3.3.3).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass

import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from almen.errors import NotFoundError, ParameterError
from almen.records import AuthEventRow, PortalKeyRow, ViewAuditRow, WebSessionRow, WebUserRow

__all__ = [
    "LOCK_AFTER_ADDRESS",
    "LOCK_AFTER_USER",
    "LOCK_MINUTES",
    "MIN_PASSWORD",
    "ROLES",
    "SHARED",
    "User",
    "add_portal",
    "add_shared_user",
    "add_user",
    "audit_view",
    "audit_views",
    "auth_events",
    "authenticate",
    "check_password",
    "clinics_in_scope",
    "end_session",
    "end_user_sessions",
    "get_user",
    "list_portals",
    "list_users",
    "locked_for",
    "portal_of",
    "record_event",
    "remove_user",
    "revoke_portal",
    "scopes_of",
    "session_user",
    "set_disabled",
    "set_password",
    "share_scope",
    "shared_users",
    "start_session",
]

MIN_PASSWORD, MAX_PASSWORD = 12, 128
LOCK_AFTER_USER = 5  # failed logins of one user name within LOCK_MINUTES: locked
LOCK_AFTER_ADDRESS = 20  # failed logins from one address within LOCK_MINUTES: locked
LOCK_MINUTES = 15

ROLES = ("national", "region", "cluster", "clinic")
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    scope: str | None
    name: str

    def label(self) -> str:
        return (
            f"{self.name or self.username} ({self.role}{': ' + self.scope if self.scope else ''})"
        )


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's frequency list (from leaked password
    sets), lower case."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(w.lower() for w in FREQUENCY_LISTS["passwords"])


def check_password(password: str, username: str = "") -> None:
    """ParameterError saying what is wrong with a new password (never repeating it)."""
    if len(password) < MIN_PASSWORD:
        raise ParameterError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ParameterError(f"a password has at most {MAX_PASSWORD} characters")
    low = password.lower()
    bare = low.strip("0123456789!?.,-_ ")
    common = _common_passwords()
    if low in common or bare in common or len(set(password)) < 4:
        raise ParameterError("this password is on the list of common passwords; choose another")
    if username and username.lower() in low:
        raise ParameterError("a password must not contain the user name")


def add_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    scope: str | None,
    name: str = "",
    *,
    known_scopes: dict[str, set[str]] | None = None,
) -> User:
    """Create or replace a user (the password is stored as an argon2 hash).
    ``known_scopes`` (role → the regions, clusters or clinics in the warehouse): a scope
    not among them is refused."""
    if role not in ROLES:
        raise ParameterError(f"role must be one of {', '.join(ROLES)}")
    if (role == "national") != (scope is None):
        raise ParameterError("the national role has no scope; every other role needs one")
    if not username or len(username) > 60 or not username.isprintable():
        raise ParameterError("a user name has 1-60 printable characters")
    if known_scopes is not None and scope is not None and scope not in known_scopes[role]:
        raise ParameterError(f"no {role} {scope!r} in the warehouse")
    check_password(password, username)
    with Session(engine) as s:
        s.merge(WebUserRow(username=username, password_hash=_hasher.hash(password), role=role,
                           scope=scope, name=name, disabled=False,
                           password_changed_at=_now()))  # fmt: skip
        s.commit()
    end_user_sessions(engine, username)
    record_event(engine, username, "", "user_saved")
    return User(username, role, scope, name)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _row(s: Session, username: str) -> WebUserRow:
    r = s.get(WebUserRow, username)
    if r is None:
        raise NotFoundError(f"no user {username!r}")
    return r


def set_password(engine: Engine, username: str, password: str) -> None:
    """A new password; every session of the user ends (ASVS 3.3.3)."""
    check_password(password, username)
    with Session(engine) as s:
        r = _row(s, username)
        r.password_hash = _hasher.hash(password)
        r.password_changed_at = _now()
        s.commit()
    end_user_sessions(engine, username)
    record_event(engine, username, "", "password_changed")


SHARED = "shared"  # a professional outside the clinic, reading one care plan


def share_scope(plan_id: int) -> str:
    return f"careplan:{plan_id}"


def add_shared_user(engine: Engine, plan_id: int, username: str, name: str, *, by: str) -> str:
    """A user who may read one care plan and nothing else (seed 002 §8.2: a plan "som kan
    deles med andre sundhedsprofessionelle"), e.g. a municipal nurse; role ``shared``,
    scope ``careplan:<id>``. Returns the password, made here and shown once. A user name
    that already exists with another role is refused."""
    if not username or len(username) > 60 or not username.isprintable():
        raise ParameterError("a user name has 1-60 printable characters")
    with Session(engine) as s:
        old = s.get(WebUserRow, username)
        if old is not None and (old.role, old.scope) != (SHARED, share_scope(plan_id)):
            raise ParameterError(f"the user name {username!r} is taken")
    password = secrets.token_urlsafe(18)
    with Session(engine) as s:
        s.merge(WebUserRow(username=username, password_hash=_hasher.hash(password), role=SHARED,
                           scope=share_scope(plan_id), name=name, disabled=False,
                           password_changed_at=_now()))  # fmt: skip
        s.commit()
    end_user_sessions(engine, username)
    record_event(engine, username, "", f"shared by {by}"[:40])
    return password


def shared_users(engine: Engine, plan_id: int) -> list[dict[str, object]]:
    """The users a plan is shared with: username, name, disabled."""
    with Session(engine) as s:
        q = select(WebUserRow).where((WebUserRow.role == SHARED)
                                     & (WebUserRow.scope == share_scope(plan_id)))  # fmt: skip
        return [{"username": r.username, "name": r.name, "disabled": bool(r.disabled)}
                for r in s.scalars(q.order_by(WebUserRow.username))]  # fmt: skip


def set_disabled(engine: Engine, username: str, disabled: bool) -> None:
    """Disable (no login, sessions ended) or enable a user."""
    with Session(engine) as s:
        _row(s, username).disabled = disabled
        s.commit()
    if disabled:
        end_user_sessions(engine, username)
    record_event(engine, username, "", "disabled" if disabled else "enabled")


def remove_user(engine: Engine, username: str) -> None:
    with Session(engine) as s:
        s.delete(_row(s, username))
        s.commit()
    end_user_sessions(engine, username)
    record_event(engine, username, "", "removed")


def list_users(engine: Engine) -> list[dict[str, object]]:
    """Every user with role, scope, name, whether disabled, when the password was set
    and the last login (no hash)."""
    with Session(engine) as s:
        last = dict(s.execute(select(AuthEventRow.username, func.max(AuthEventRow.at))
                              .where(AuthEventRow.event == "login")
                              .group_by(AuthEventRow.username)).all())  # fmt: skip
        return [
            {"username": r.username, "role": r.role, "scope": r.scope, "name": r.name,
             "disabled": bool(r.disabled), "password_changed_at": r.password_changed_at,
             "last_login": last.get(r.username)}
            for r in s.scalars(select(WebUserRow).order_by(WebUserRow.username))
        ]  # fmt: skip


# -- the audit of logins, throttling ------------------------------------------------------
def record_event(engine: Engine, username: str, address: str, event: str) -> None:
    with Session(engine) as s:
        s.add(AuthEventRow(at=_now(), username=username[:60], address=address[:64],
                           event=event))  # fmt: skip
        s.commit()


def auth_events(engine: Engine, username: str | None = None) -> list[dict[str, object]]:
    with Session(engine) as s:
        q = select(AuthEventRow).order_by(AuthEventRow.id)
        if username is not None:
            q = q.where(AuthEventRow.username == username)
        return [{"at": r.at, "username": r.username, "address": r.address, "event": r.event}
                for r in s.scalars(q)]  # fmt: skip


def locked_for(engine: Engine, username: str, address: str, now: dt.datetime | None = None) -> int:
    """Seconds until a login for ``username`` from ``address`` is allowed again (0: now).
    Locked when the user name had LOCK_AFTER_USER failed logins, or the address
    LOCK_AFTER_ADDRESS, within LOCK_MINUTES since its last successful login; the lock
    lasts LOCK_MINUTES from the last failure."""
    now = now or _now()
    since = now - dt.timedelta(minutes=LOCK_MINUTES)
    left = 0
    with Session(engine) as s:
        for col, value, limit in ((AuthEventRow.username, username, LOCK_AFTER_USER),
                                  (AuthEventRow.address, address, LOCK_AFTER_ADDRESS)):  # fmt: skip
            if not value:
                continue
            ok = s.scalar(select(func.max(AuthEventRow.at))
                          .where(col == value, AuthEventRow.event == "login"))  # fmt: skip
            start = max(since, ok) if ok is not None else since
            fails = s.execute(
                select(func.count(), func.max(AuthEventRow.at)).where(
                    col == value, AuthEventRow.event == "login_failed", AuthEventRow.at > start
                )
            ).one()
            if fails[0] >= limit:
                until = fails[1] + dt.timedelta(minutes=LOCK_MINUTES)
                left = max(left, int((until - now).total_seconds()) + 1)
    return left


# -- sessions ---------------------------------------------------------------------------
def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(engine: Engine, username: str) -> str:
    """A new session for the user; returns its token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with Session(engine) as s:
        s.add(WebSessionRow(token_hash=_hash(token), username=username, created_at=now,
                            last_seen=now))  # fmt: skip
        s.commit()
    return token


def session_user(
    engine: Engine, token: str, *, idle: dt.timedelta, absolute: dt.timedelta,
    now: dt.datetime | None = None,
) -> str | None:  # fmt: skip
    """The user name of a live session (its last-seen time moved on), else None; a
    session past a timeout is ended."""
    now = now or _now()
    with Session(engine) as s:
        r = s.get(WebSessionRow, _hash(token))
        if r is None or r.ended_at is not None:
            return None
        if now - r.last_seen > idle or now - r.created_at > absolute:
            r.ended_at = now
            s.commit()
            return None
        if (now - r.last_seen).total_seconds() >= 30:
            r.last_seen = now
            s.commit()
        return r.username


def end_session(engine: Engine, token: str) -> None:
    with Session(engine) as s:
        r = s.get(WebSessionRow, _hash(token))
        if r is not None and r.ended_at is None:
            r.ended_at = _now()
            s.commit()


def end_user_sessions(engine: Engine, username: str) -> int:
    """End every live session of the user; how many."""
    with Session(engine) as s:
        got = s.execute(update(WebSessionRow)
                        .where(WebSessionRow.username == username, WebSessionRow.ended_at.is_(None))
                        .values(ended_at=_now()))  # fmt: skip
        s.commit()
        return int(got.rowcount or 0)  # type: ignore[attr-defined]


def get_user(engine: Engine, username: str) -> User | None:
    """The user, None if unknown or disabled."""
    with Session(engine) as s:
        r = s.get(WebUserRow, username)
        return None if r is None or r.disabled else User(r.username, r.role, r.scope, r.name)


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user if the password matches and the user is not disabled, else None (the
    same work either way)."""
    with Session(engine) as s:
        r = s.get(WebUserRow, username)
        stored = r.password_hash if r is not None else _DUMMY
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if r is None or r.disabled:
            return None
        return User(r.username, r.role, r.scope, r.name)


_DUMMY = _hasher.hash(secrets.token_hex(16))


def scopes_of(areas: pl.DataFrame) -> dict[str, set[str]]:
    """role → the scopes the warehouse has (``areas``: provider_number, cluster, region)."""
    return {"region": set(areas["region"].drop_nulls().to_list()),
            "cluster": set(areas["cluster"].drop_nulls().to_list()),
            "clinic": set(areas["provider_number"].to_list())}  # fmt: skip


def clinics_in_scope(user: User, areas: pl.DataFrame) -> set[str]:
    """The provider numbers the user may see; ``areas``: provider_number, cluster, region."""
    if user.role == "national":
        return set(areas["provider_number"].to_list())
    col = {"region": "region", "cluster": "cluster", "clinic": "provider_number"}[user.role]
    return set(areas.filter(pl.col(col) == user.scope)["provider_number"].to_list())


def audit_view(engine: Engine, user: User, what: str, patient_id: int | None) -> None:
    """Write one view of patient-level data to the audit log."""
    with Session(engine) as s:
        s.add(ViewAuditRow(at=dt.datetime.now().replace(microsecond=0), username=user.username,
                           what=what, patient_id=patient_id))  # fmt: skip
        s.commit()


def audit_views_of(engine: Engine, user: User, what: str, patient_ids: list[int]) -> None:
    """Write one view per patient shown in a list (a drill-down), so each patient's own
    log (``audit_views``) holds it."""
    at = dt.datetime.now().replace(microsecond=0)
    with Session(engine) as s:
        s.add_all([ViewAuditRow(at=at, username=user.username, what=what, patient_id=pid)
                   for pid in patient_ids])  # fmt: skip
        s.commit()


def audit_log(engine: Engine, patient_id: int | None = None) -> list[tuple[str, str, int | None]]:
    with Session(engine) as s:
        q = select(ViewAuditRow).order_by(ViewAuditRow.id)
        if patient_id is not None:
            q = q.where(ViewAuditRow.patient_id == patient_id)
        return [(r.username, r.what, r.patient_id) for r in s.scalars(q)]


def audit_views(engine: Engine, patient_ids: list[int]) -> pl.DataFrame:
    """The views of these patients' data: at, username, what, patient_id (oldest first)."""
    out: dict[str, list[object]] = {"at": [], "username": [], "what": [], "patient_id": []}
    with Session(engine) as s:
        for i in range(0, len(patient_ids), 500):
            q = (select(ViewAuditRow).where(ViewAuditRow.patient_id.in_(patient_ids[i:i + 500]))
                 .order_by(ViewAuditRow.id))  # fmt: skip
            for r in s.scalars(q):
                out["at"].append(r.at)
                out["username"].append(r.username)
                out["what"].append(r.what)
                out["patient_id"].append(r.patient_id)
    schema = {"at": pl.Datetime, "username": pl.Utf8, "what": pl.Utf8, "patient_id": pl.Int64}
    return pl.DataFrame(out, schema=schema).sort("at", maintain_order=True)


# -- patient portals ----------------------------------------------------------------------
def add_portal(engine: Engine, name: str) -> str:
    """Register a patient portal and return its key, shown once; only the key's SHA-256
    hash is stored. The portal signs patients in (MitID) and sends their CPR number with
    each request; almen turns it into the pseudonym at the door."""
    name = name.strip()
    if not name or len(name) > 60:
        raise ParameterError("a portal needs a name of 1 to 60 characters")
    key = "almen-portal-" + secrets.token_urlsafe(32)
    with Session(engine) as s:
        if s.get(PortalKeyRow, name) is not None:
            raise ParameterError(f"there is already a portal {name!r}; revoke it first")
        s.add(PortalKeyRow(name=name, key_hash=_hash(key), created_at=_now()))
        s.commit()
    return key


def portal_of(engine: Engine, key: str) -> str | None:
    """The portal's name if ``key`` is a live portal key, else None."""
    with Session(engine) as s:
        r = s.scalars(select(PortalKeyRow).where(PortalKeyRow.key_hash == _hash(key))).first()
        return None if r is None else r.name


def revoke_portal(engine: Engine, name: str) -> None:
    """Remove a portal: its key stops working (its requests stay in the inboxes)."""
    with Session(engine) as s:
        r = s.get(PortalKeyRow, name)
        if r is None:
            raise NotFoundError(f"no portal {name!r}")
        s.delete(r)
        s.commit()


def list_portals(engine: Engine) -> list[dict[str, object]]:
    """Every portal: name and when its key was made (never the key)."""
    with Session(engine) as s:
        return [{"name": r.name, "created_at": r.created_at}
                for r in s.scalars(select(PortalKeyRow).order_by(PortalKeyRow.name))]  # fmt: skip
