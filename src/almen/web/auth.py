"""Users, roles and scopes of the web app.

Roles (issue 7): ``national`` sees everything; ``region`` one region; ``cluster`` one
quality cluster (counts below 5 are never shown); ``clinic`` one clinic and the patients
on its list. Passwords are stored as argon2 hashes in the records store; demo users are
made by ``almen demo`` only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from almen.errors import ParameterError
from almen.records import ViewAuditRow, WebUserRow

__all__ = [
    "ROLES",
    "User",
    "add_user",
    "audit_view",
    "authenticate",
    "clinics_in_scope",
    "get_user",
]

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


def add_user(
    engine: Engine, username: str, password: str, role: str, scope: str | None, name: str = ""
) -> User:
    """Create or replace a user (the password is stored as an argon2 hash)."""
    if role not in ROLES:
        raise ParameterError(f"role must be one of {', '.join(ROLES)}")
    if (role == "national") != (scope is None):
        raise ParameterError("the national role has no scope; every other role needs one")
    if len(password) < 8:
        raise ParameterError("a password needs at least 8 characters")
    with Session(engine) as s:
        s.merge(WebUserRow(username=username, password_hash=_hasher.hash(password), role=role,
                           scope=scope, name=name))  # fmt: skip
        s.commit()
    return User(username, role, scope, name)


def get_user(engine: Engine, username: str) -> User | None:
    with Session(engine) as s:
        r = s.get(WebUserRow, username)
        return None if r is None else User(r.username, r.role, r.scope, r.name)


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user if the password matches, else None (the same work either way)."""
    with Session(engine) as s:
        r = s.get(WebUserRow, username)
        stored = r.password_hash if r is not None else _DUMMY
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if r is None:
            return None
        return User(r.username, r.role, r.scope, r.name)


_DUMMY = _hasher.hash(secrets.token_hex(16))


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


def audit_log(engine: Engine, patient_id: int | None = None) -> list[tuple[str, str, int | None]]:
    with Session(engine) as s:
        q = select(ViewAuditRow).order_by(ViewAuditRow.id)
        if patient_id is not None:
            q = q.where(ViewAuditRow.patient_id == patient_id)
        return [(r.username, r.what, r.patient_id) for r in s.scalars(q)]
