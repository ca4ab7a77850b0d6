"""The patient-facing API: requests from a patient portal into the clinic's inbox.

A patient portal (an app or web page such as the Min Læge app, seed 001 "PLO-IT") signs
the patient in with MitID and sends the patient's CPR number with each call, under its
portal key (``Authorization: Bearer <key>``, made by ``almen portal add``). The CPR
number is turned into the pseudonym at the door (``ingest.pseudonymise``, the same key as
the extracts) and never stored or logged; the request goes to the clinic the patient is
listed with, triaged as a request taken at the desk is (``access.triage``).

Four channels (``access.inbox.PATIENT_KINDS``): an e-consultation and a booking request
(seed 003 "Tilgængelighed til klinikken": "online booking"), a prescription renewal and a
questionnaire (seed 001: "receptfornyelse", "spørge- og måleskemaer i Min Læge-appen").
The patient reads the clinic's replies and may write back while the request is open.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request
from pydantic import BaseModel, Field

from almen.web import models as out
from almen.web.app import Ctx

__all__ = ["router"]

router = APIRouter(prefix="/api/patient", tags=["patient portal"])

Kind = Literal["e_consultation", "booking_request", "prescription_renewal", "questionnaire"]
REASON_OF_KIND = {"prescription_renewal": "medication"}  # the reason when none is given
CHANNEL_OF_KIND = {"e_consultation": "e_consultation", "booking_request": "consultation",
                   "prescription_renewal": "e_consultation",
                   "questionnaire": "e_consultation"}  # fmt: skip


class Portal:
    """The calling portal (from its key) and the app's services and records store."""

    def __init__(self, request: Request, authorization: str | None) -> None:
        from almen.web.auth import portal_of

        self.ctx = Ctx(request)
        scheme, _, key = (authorization or "").partition(" ")
        name = portal_of(self.ctx.records, key.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            raise HTTPException(401, "a patient portal's key is needed (Authorization: Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        self.name = name
        self.settings = request.app.state.settings

    def patient(self, cpr: str) -> tuple[int, str]:
        """The pseudonym of the patient with this CPR number and the clinic the patient is
        listed with (404 if none). The number is not kept, logged or repeated."""
        from almen.ingest.pseudonymise import CprError, load_key, parse_cpr, pseudonymise

        try:
            cpr10 = parse_cpr(cpr)[0]
        except CprError as exc:
            raise HTTPException(422, str(exc)) from None
        pid = pseudonymise(cpr10, load_key(self.settings.pseudonym_key, self.settings.data))
        clinic = self.ctx.services.listed_with(pid)
        if clinic is None:
            raise HTTPException(404, "this patient is not on any clinic's list")
        return pid, clinic


def portal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Portal:
    return Portal(request, authorization)


P = Annotated[Portal, Depends(portal)]
CPR = Field(min_length=10, max_length=11, description="the patient's CPR number (from MitID)")


class PatientRequestIn(BaseModel):
    cpr: str = CPR
    kind: Kind
    reason: str | None = Field(None, max_length=40,
                               description="one of the triage reasons; default by kind")  # fmt: skip
    text: str = Field("", max_length=2000, description="what the patient writes")
    name: str | None = Field(None, max_length=200, description="the patient's name (MitID)")
    drug: str | None = Field(None, max_length=200, description="prescription renewal: the drug")
    wanted_time: str | None = Field(None, max_length=200,
                                    description="booking request: when the patient can come")  # fmt: skip
    answers: dict[str, str] | None = Field(None, max_length=50,
                                           description="questionnaire: question → answer")  # fmt: skip


class PatientIn(BaseModel):
    cpr: str = CPR


class PatientMessageIn(BaseModel):
    cpr: str = CPR
    text: str = Field(min_length=1, max_length=2000)


def _details(body: PatientRequestIn) -> str:
    parts: dict[str, Any] = {}
    if body.drug:
        parts["drug"] = body.drug
    if body.wanted_time:
        parts["wanted_time"] = body.wanted_time
    if body.answers:
        parts["answers"] = body.answers
    return json.dumps(parts, ensure_ascii=False) if parts else ""


def _public(item: Any, msgs: list[Any]) -> dict[str, Any]:
    """A request as the patient sees it: no triage rule, no staff names."""
    return {
        "id": str(item.id), "kind": item.source, "reason": item.reason,
        "received_at": item.received_at.isoformat(), "status": item.status,
        "clinic": item.provider_number,
        "messages": [{"at": m.at.isoformat(), "from": "clinic" if m.to_patient else "patient",
                      "text": m.text} for m in msgs],
    }  # fmt: skip


@router.post(
    "/requests",
    status_code=201,
    response_model=None,
    responses=out.answers(out.PatientRequest, 201),
)
def send_request(p: P, body: PatientRequestIn) -> dict[str, Any]:
    """A patient's e-consultation, booking request, prescription renewal or questionnaire:
    triaged with the patient's age, sex and flags from the records and put in the inbox
    of the clinic the patient is listed with."""
    from almen.access import Request as TriageRequest
    from almen.access.inbox import submit

    pid, clinic = p.patient(body.cpr)
    reason = body.reason or REASON_OF_KIND.get(body.kind, "other")
    if body.kind == "prescription_renewal" and not body.drug:
        raise HTTPException(422, "a prescription renewal names the drug")
    if body.kind == "questionnaire" and not body.answers:
        raise HTTPException(422, "a questionnaire has answers")
    age, sex, flags = p.ctx.services.patient_facts(pid)
    req = TriageRequest(reason, age, sex, frozenset(flags), body.text, CHANNEL_OF_KIND[body.kind])
    item = submit(p.ctx.records, clinic, pid, req, actor=f"portal:{p.name}", source=body.kind,
                  patient_name=body.name, details=_details(body))  # fmt: skip
    return _public(item, [])


@router.post("/requests/mine", response_model=None, responses=out.answers(out.PatientRequests, 200))
def my_requests(p: P, body: PatientIn) -> dict[str, Any]:
    """The patient's own requests, newest first, with the clinic's replies (a POST, so the
    CPR number travels in the body and never in a URL or a log)."""
    from almen.access.inbox import messages, patient_requests

    pid, _ = p.patient(body.cpr)
    items = patient_requests(p.ctx.records, pid)
    msgs = messages(p.ctx.records, [i.id for i in items])
    return {"items": [_public(i, msgs[i.id]) for i in items]}


@router.post(
    "/requests/{request_id}/messages",
    status_code=201,
    response_model=None,
    responses=out.answers(out.PatientMessage, 201),
)
def write_back(
    p: P,
    request_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: PatientMessageIn,
) -> dict[str, Any]:
    """The patient writes on an open request of their own (409 when it is closed)."""
    from almen.access.inbox import patient_requests, reply

    pid, _ = p.patient(body.cpr)
    if request_id not in {i.id for i in patient_requests(p.ctx.records, pid)}:
        raise HTTPException(404, f"no request {request_id} of this patient")
    m = reply(p.ctx.records, request_id, body.text, actor="patient", to_patient=False)
    return {"at": m.at.isoformat(), "from": "patient", "text": m.text}
