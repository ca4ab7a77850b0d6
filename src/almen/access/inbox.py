"""The clinic's inbox: requests triaged on arrival, queued by severity and target time,
assigned and completed, every change audited (seed 003 "Tilgængelighed til klinikken").

Stored in the operational records store (``almen.records``: SQLite by default,
PostgreSQL by URL). Assigning and completing are single conditional UPDATEs
(``... WHERE status = 'new'``), so two people cannot take the same request: the second
gets a ``ConflictError``. The free text is stored for the clinic but never put in a log
or an error message.

Requests arrive from the clinic (taken by phone or at the desk) or from the patient
through a patient portal (``PATIENT_KINDS``): an e-consultation, a booking request, a
prescription renewal or a questionnaire, the channels of the Min Læge app (seed 001
"PLO-IT": "receptfornyelse", "spørge- og måleskemaer i Min Læge-appen"; seed 003
"Tilgængelighed til klinikken": "online booking"). Staff reply to the patient and close
a request with a message; the patient reads the replies and may write back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from almen.access.triage import (
    CHANNELS,
    FLAGS,
    REASONS,
    SEVERITIES,
    Request,
    TriageRules,
    target_time,
    triage,
)
from almen.errors import ConflictError, NotFoundError, ParameterError
from almen.records import AuditRow, MessageRow, RequestRow

__all__ = [
    "PATIENT_KINDS",
    "AuditEntry",
    "InboxItem",
    "Message",
    "assign",
    "audit_trail",
    "complete",
    "get",
    "messages",
    "patient_requests",
    "queue",
    "reply",
    "submit",
]

STATUSES = ("new", "assigned", "done")
SOURCES = ("clinic", "e_consultation", "booking_request", "prescription_renewal", "questionnaire")
PATIENT_KINDS = SOURCES[1:]
MAX_MESSAGE = 2000


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    provider_number: str
    patient_id: int
    reason: str
    severity: str
    handler: str
    channel: str
    rule_id: str
    received_at: dt.datetime
    target_at: dt.datetime
    status: str
    assigned_to: str | None
    text: str = ""  # what the patient wrote (never in logs or messages)
    age: int | None = None
    sex: str | None = None
    source: str = "clinic"
    patient_name: str | None = None
    details: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    at: dt.datetime
    author: str
    to_patient: bool
    text: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    action: str
    detail: str


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _item(r: RequestRow) -> InboxItem:
    return InboxItem(
        r.id, r.provider_number, r.patient_id, r.reason, r.severity, r.handler, r.channel,
        r.rule_id, r.received_at, r.target_at, r.status, r.assigned_to, r.text or "", r.age,
        r.sex, r.source or "clinic", r.patient_name, r.details or "",
    )  # fmt: skip


def submit(
    engine: Engine,
    provider_number: str,
    patient_id: int,
    request: Request,
    *,
    actor: str,
    rules: TriageRules | None = None,
    now: dt.datetime | None = None,
    source: str = "clinic",
    patient_name: str | None = None,
    details: str = "",
) -> InboxItem:
    """Triage ``request`` and put it in the clinic's inbox; ``source`` says how it came."""
    if source not in SOURCES:
        raise ParameterError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    if request.reason not in REASONS:
        raise ParameterError(f"unknown reason {request.reason!r}; one of {', '.join(REASONS)}")
    if request.sex not in ("M", "F"):
        raise ParameterError("sex must be M or F")
    if not 0 <= request.age <= 130:
        raise ParameterError("age must be between 0 and 130")
    unknown = set(request.flags) - set(FLAGS)
    if unknown:
        raise ParameterError(f"unknown flag(s) {sorted(unknown)}; known: {', '.join(FLAGS)}")
    if request.preferred_channel not in (None, *CHANNELS):
        raise ParameterError(f"preferred channel must be one of {', '.join(CHANNELS)}")
    d = triage(request, rules)
    at = now or _now()
    due = target_time(at, d)
    with Session(engine) as s:
        row = RequestRow(
            provider_number=provider_number,
            patient_id=patient_id,
            reason=request.reason,
            text=request.text,
            age=request.age,
            sex=request.sex,
            flags=",".join(sorted(request.flags)),
            preferred_channel=request.preferred_channel,
            severity=d.severity,
            severity_rank=SEVERITIES.index(d.severity),
            handler=d.handler,
            channel=d.channel,
            rule_id=d.rule_id,
            target_hours=d.target_hours,
            received_at=at,
            target_at=due.at,
            status="new",
            source=source,
            patient_name=(patient_name or "").strip() or None,
            details=details,
        )
        s.add(row)
        s.flush()
        s.add(AuditRow(request_id=row.id, at=at, actor=actor, action="submitted",
                       detail=f"{source}: {d.severity}/{d.handler}/{d.channel} by rule "
                              f"{d.rule_id}"
                              + ("; clinic closed: out-of-hours (lægevagt/1813)"
                                 if due.route == "out_of_hours" else "")))  # fmt: skip
        s.commit()
        return _item(row)


def queue(
    engine: Engine, provider_number: str, *, status: tuple[str, ...] = ("new", "assigned")
) -> list[InboxItem]:
    """The clinic's open requests: most severe first, then the earliest target time."""
    with Session(engine) as s:
        rows = s.scalars(
            select(RequestRow)
            .where(RequestRow.provider_number == provider_number, RequestRow.status.in_(status))
            .order_by(RequestRow.severity_rank, RequestRow.target_at, RequestRow.id)
        )
        return [_item(r) for r in rows]


def _change(
    engine: Engine, request_id: int, *, actor: str, action: str, from_status: tuple[str, ...],
    values: dict[str, object], detail: str, message: str | None = None,
) -> InboxItem:  # fmt: skip
    at = _now()
    with Session(engine) as s:
        res = s.execute(
            update(RequestRow)
            .where(RequestRow.id == request_id, RequestRow.status.in_(from_status))
            .values(**values)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            s.rollback()
            row = s.get(RequestRow, request_id)
            if row is None:
                raise NotFoundError(f"no request {request_id}")
            raise ConflictError(
                f"request {request_id} is {row.status}"
                + (f" (assigned to {row.assigned_to})" if row.assigned_to else "")
                + f"; cannot mark it {action}"
            )
        s.add(AuditRow(request_id=request_id, at=at, actor=actor, action=action, detail=detail))
        if message:
            s.add(MessageRow(request_id=request_id, at=at, author=actor, to_patient=True,
                             text=message))  # fmt: skip
        s.commit()
        row = s.get(RequestRow, request_id)
        assert row is not None
        return _item(row)


def assign(engine: Engine, request_id: int, to: str, *, actor: str) -> InboxItem:
    """Give a new request to ``to``; a request already assigned or done is a conflict."""
    if not to.strip():
        raise ParameterError("assign to whom?")
    return _change(engine, request_id, actor=actor, action="assigned", from_status=("new",),
                   values={"status": "assigned", "assigned_to": to}, detail=f"to {to}")  # fmt: skip


def complete(
    engine: Engine, request_id: int, *, actor: str, message: str | None = None
) -> InboxItem:
    """Mark a request done (from new or assigned), with an optional closing message to the
    patient; done twice is a conflict."""
    message = _message(message) if message and message.strip() else None
    return _change(engine, request_id, actor=actor, action="completed",
                   from_status=("new", "assigned"), values={"status": "done"},
                   detail="with a message" if message else "", message=message)  # fmt: skip


def _message(text: str) -> str:
    text = text.strip()
    if not text:
        raise ParameterError("a message needs some text")
    if len(text) > MAX_MESSAGE:
        raise ParameterError(f"a message has at most {MAX_MESSAGE} characters")
    return text


def reply(
    engine: Engine, request_id: int, text: str, *, actor: str, to_patient: bool = True
) -> Message:
    """Add a message to an open request: the clinic's reply (``to_patient``) or the
    patient's own (``actor`` "patient", ``to_patient`` False). A closed request takes no
    more messages (a conflict: the patient writes a new request)."""
    text = _message(text)
    at = _now()
    with Session(engine) as s:
        row = s.get(RequestRow, request_id)
        if row is None:
            raise NotFoundError(f"no request {request_id}")
        if row.status == "done":
            raise ConflictError(f"request {request_id} is done; it takes no more messages")
        s.add(MessageRow(request_id=request_id, at=at, author=actor, to_patient=to_patient,
                         text=text))  # fmt: skip
        s.add(AuditRow(request_id=request_id, at=at, actor=actor,
                       action="replied" if to_patient else "patient wrote", detail=""))  # fmt: skip
        s.commit()
    return Message(at, actor, to_patient, text)


def messages(engine: Engine, request_ids: list[int]) -> dict[int, list[Message]]:
    """The messages of each request, oldest first."""
    out: dict[int, list[Message]] = {i: [] for i in request_ids}
    if not request_ids:
        return out
    with Session(engine) as s:
        rows = s.scalars(
            select(MessageRow)
            .where(MessageRow.request_id.in_(request_ids))
            .order_by(MessageRow.request_id, MessageRow.id)
        )
        for r in rows:
            out[r.request_id].append(Message(r.at, r.author, r.to_patient, r.text))
    return out


def get(engine: Engine, request_id: int) -> InboxItem:
    """One request, as it is now."""
    with Session(engine) as s:
        row = s.get(RequestRow, request_id)
        if row is None:
            raise NotFoundError(f"no request {request_id}")
        return _item(row)


def patient_requests(engine: Engine, patient_id: int) -> list[InboxItem]:
    """A patient's own requests, newest first (what the patient portal shows)."""
    with Session(engine) as s:
        rows = s.scalars(
            select(RequestRow)
            .where(RequestRow.patient_id == patient_id)
            .order_by(RequestRow.received_at.desc(), RequestRow.id.desc())
        )
        return [_item(r) for r in rows]


def audit_trail(engine: Engine, request_id: int) -> list[AuditEntry]:
    with Session(engine) as s:
        rows = s.scalars(
            select(AuditRow).where(AuditRow.request_id == request_id).order_by(AuditRow.id)
        )
        return [AuditEntry(r.at, r.actor, r.action, r.detail) for r in rows]
