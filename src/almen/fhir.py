"""FHIR R4 in and out, aligned with the Danish core profiles (hl7dk/dk-core).

Seed 002 §8.2 asks for a patient overview and a care plan "som kan deles med andre
sundhedsprofessionelle"; seed 003 for data that follows the patient. This module writes
the patient overview and the care plans as FHIR R4 Bundles a Danish system can read, and
reads a care plan back (docs/fhir.md).

- Code systems as DK Core names them: ICPC-2 ``urn:oid:1.2.208.176.2.31`` (not SKS
  ``urn:oid:1.2.208.176.2.4``, which is the SKS classification), ATC
  ``http://www.whocc.no/atc``, NPU ``http://npu-terminology.org``; the provider number
  (ydernummer) ``urn:oid:1.2.208.176.1.4`` and SOR ``urn:oid:1.2.208.176.1.1`` on the
  clinic's Organization (dk-core-organization).
- almen's own identifiers (the patient pseudonym, the doctor id, the service codes of the
  fee schedule, which have no national code system) are in the ``urn:almen:`` namespace,
  named as such: they are not for look-up in a national register.
- A ``collection`` Bundle, not a ``document``: the overview is a set of resources for a
  receiving system, not a signed clinical document with a Composition and an attester.
  Every entry has a ``urn:uuid:`` fullUrl (a UUID 5 of the resource's type and id, so the
  same export gives the same identifiers) and every reference inside it is that urn, so
  by the Bundle rules each resolves to an entry of the same Bundle.

The resources are checked on construction with fhir.resources' R4B models; the tests
check them independently against the official R4 JSON schema (tools/fhir-validator).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from almen.errors import InputError
from almen.population.patient import PatientOverview
from almen.records import Activity, CarePlan, Goal, Member

__all__ = [
    "ATC",
    "ICPC2",
    "KNOWN_SYSTEMS",
    "SKS",
    "bundle_problems",
    "care_plan_bundle",
    "care_plan_from_bundle",
    "patient_bundle",
]

ICPC2 = "urn:oid:1.2.208.176.2.31"  # DK Core, DkCoreCondition.code.coding[ICPC2code]
SKS = "urn:oid:1.2.208.176.2.4"  # SKS (not used for ICPC-2)
ATC = "http://www.whocc.no/atc"
NPU = "http://npu-terminology.org"
YDERNUMMER = "urn:oid:1.2.208.176.1.4"  # dk-core-organization identifier[Ydernummer]
SOR = "urn:oid:1.2.208.176.1.1"  # dk-core-sor-identifier
PSEUDONYM = "urn:almen:pseudonym"
DOCTOR = "urn:almen:doctor"
USER = "urn:almen:user"
SERVICE = "urn:almen:ydelse"  # the fee schedule's service codes (ydelsesnumre)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# every coding system almen writes (a coding with another system is a bug)
KNOWN_SYSTEMS = frozenset({ICPC2, ATC, NPU, SERVICE, CLINICAL, CATEGORY, ACT})
_NS = uuid.UUID("6f1c8a52-0d6e-5b7a-9c3e-a1b2c3d4e5f6")  # almen's UUID 5 namespace
ROLES = {"owner": "praktiserende læge", "employed": "ansat læge", "trainee": "uddannelseslæge"}


def _urn(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}/{key}')}"


def _clean(node: Any) -> Any:
    """Without empty values at any depth: FHIR JSON has no nulls, empty strings or
    empty arrays."""
    if isinstance(node, dict):
        out = {k: _clean(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != "" and v != {}}
    if isinstance(node, list):
        items = [_clean(v) for v in node]
        return [v for v in items if v is not None and v != {} and v != ""]
    return node


def _res(kind: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"fullUrl": _urn(kind, key), "resource": {"resourceType": kind, **_clean(fields)}}


def _ref(entry: dict[str, Any], display: str | None = None) -> dict[str, Any]:
    out = {"reference": entry["fullUrl"], "type": entry["resource"]["resourceType"]}
    return out | ({"display": display} if display else {})


def _finish(entries: list[dict[str, Any]]) -> dict[str, Any]:
    from fhir.resources.R4B.bundle import Bundle

    doc = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    Bundle.model_validate(doc)  # fhir.resources' check on construction
    return doc


def _organization(clinic: dict[str, Any]) -> dict[str, Any]:
    ids = [{"system": YDERNUMMER, "value": clinic["provider_number"]}]
    if clinic.get("sor_id"):
        ids.append({"use": "official", "system": SOR, "value": clinic["sor_id"]})
    return _res("Organization", f"clinic-{clinic['provider_number']}", identifier=ids,
                active=True, name=clinic.get("name") or None)  # fmt: skip


def _patient_entries(o: PatientOverview) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Patient, its clinic (Organization) and the clinic's doctors (Practitioner)."""
    out: list[dict[str, Any]] = []
    org = _organization(o.clinic) if o.clinic else None
    if org:
        out.append(org)
    docs = [
        _res(
            "Practitioner",
            f"doctor-{o.provider_number}-{d['doctor_id']}",
            identifier=[{"system": DOCTOR, "value": str(d["doctor_id"])}],
            gender={"M": "male", "F": "female"}.get(d["sex"], "unknown"),
            qualification=[
                {
                    "code": {"text": ROLES.get(d["role"], d["role"])},
                    "issuer": _ref(org) if org else None,
                }
            ],
        )
        for d in o.doctors
    ]
    gps = [_ref(org, o.clinic.get("name"))] if org and o.clinic else []
    gps += [_ref(d) for d, raw in zip(docs, o.doctors, strict=True) if raw["role"] == "owner"]
    pat = _res("Patient", f"patient-{o.patient_id}",
               identifier=[{"system": PSEUDONYM, "value": str(o.patient_id)}],
               gender={"M": "male", "F": "female"}.get(o.sex, "unknown"),
               birthDate=str(o.birth_year), generalPractitioner=gps,
               managingOrganization=_ref(org) if org else None)  # fmt: skip
    return pat, [pat, *out, *docs]


def _condition(pat: dict[str, Any], pid: int, d: dict[str, Any]) -> dict[str, Any]:
    ended = d.get("end")
    return _res(
        "Condition", f"condition-{pid}-{d['code']}",
        clinicalStatus={"coding": [{"system": CLINICAL,
                                    "code": "resolved" if ended else "active"}]},
        category=[{"coding": [{"system": CATEGORY, "code": "problem-list-item"}]}],
        code={"coding": [{"system": ICPC2, "code": d["code"], "display": d.get("name_da")
                          or d.get("name")}], "text": d.get("name_da") or d.get("name")},
        subject=_ref(pat),
        onsetDateTime=d["onset"].isoformat() if d.get("onset") else None,
        abatementDateTime=ended.isoformat() if ended else None,
    )  # fmt: skip


def patient_bundle(o: PatientOverview) -> dict[str, Any]:
    """The patient overview as a FHIR R4 collection Bundle (JSON): Patient, the clinic as
    Organization and its doctors as Practitioner, Condition (ICPC-2), MedicationStatement
    (ATC), Encounter (the contacts) and each care plan with its Goals and CareTeam."""
    pat, entries = _patient_entries(o)
    org = next((e for e in entries if e["resource"]["resourceType"] == "Organization"), None)
    conds = {d["code"]: _condition(pat, o.patient_id, d) for d in o.diagnoses}
    entries += conds.values()
    for m in o.drugs:
        entries.append(_res(
            "MedicationStatement", f"medication-{o.patient_id}-{m['atc']}", status="active",
            medicationCodeableConcept={"coding": [{"system": ATC, "code": m["atc"]}]},
            subject=_ref(pat), effectivePeriod={"start": m["start"].isoformat()},
        ))  # fmt: skip
    for i, e in enumerate(o.encounters):
        virtual = e["channel"] in ("phone", "e-mail", "video")
        entries.append(_res(
            "Encounter", f"encounter-{o.patient_id}-{i}", status="finished",
            **{"class": {"system": ACT, "code": "VR" if virtual
                         else ("HH" if "home" in e["channel"] else "AMB")}},
            type=[{"coding": [{"system": SERVICE, "code": e["code"]}], "text": e["channel"]}],
            subject=_ref(pat), serviceProvider=_ref(org) if org else None,
            period={"start": e["date"].isoformat(), "end": e["date"].isoformat()},
        ))  # fmt: skip
    for plan in o.care_plans:
        # a plan may address a condition the card does not hold on the overview's date
        # (ended, or not recorded): it comes along with the code the plan names
        for code in plan.addresses:
            if code not in conds:
                conds[code] = _condition(pat, o.patient_id, {"code": code, "name": code})
                entries.append(conds[code])
        entries += _plan_entries(plan, pat, conds)
    return _finish(entries)


def _plan_entries(
    plan: CarePlan, pat: dict[str, Any], conds: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """A CarePlan with its Goals and CareTeam; ``addresses`` refer to the Conditions in
    ``conds`` (by ICPC-2 code), so they must be in the same Bundle."""
    # ids are local to an installation: the provider number keeps one installation's
    # plan 1 apart from another's in the UUID 5
    key = f"careplan-{plan.provider_number}-{plan.id}"
    goals = [
        _res(
            "Goal",
            f"{key}-goal-{i}",
            lifecycleStatus=g.status,
            description={"text": g.description},
            subject=_ref(pat),
            target=[{"dueDate": g.due.isoformat()}] if g.due else None,
        )
        for i, g in enumerate(plan.goals)
    ]
    team = (
        [
            _res(
                "CareTeam",
                f"{key}-team",
                status="active",
                subject=_ref(pat),
                participant=[
                    {"role": [{"text": m.role}] if m.role else None, "member": {"display": m.name}}
                    for m in plan.care_team
                ],
            )
        ]
        if plan.care_team
        else []
    )
    author = (
        {"identifier": {"system": USER, "value": plan.author}, "display": plan.author}
        if plan.author
        else None
    )
    period = {k: v.isoformat() for k, v in (("start", plan.period_start),
                                             ("end", plan.period_end)) if v}  # fmt: skip
    cp = _res(
        "CarePlan", key,
        identifier=[{"system": "urn:almen:careplan", "value": str(plan.id)}],
        status=plan.status, intent="plan", title=plan.title,
        description=plan.description or None, subject=_ref(pat), period=period or None,
        created=plan.created_at.date().isoformat(), author=author,
        careTeam=[_ref(t) for t in team], addresses=[_ref(conds[c]) for c in plan.addresses],
        goal=[_ref(g) for g in goals],
        activity=[{"detail": {"status": a.status, "description": a.description,
                              "performer": [{"display": a.performer}] if a.performer else None}}
                  for a in plan.activities],
        meta={"versionId": str(plan.version),
              "lastUpdated": (plan.updated_at or plan.created_at).astimezone().isoformat()},
    )  # fmt: skip
    return [cp, *goals, *team]


def care_plan_bundle(plan: CarePlan, o: PatientOverview) -> dict[str, Any]:
    """One care plan as a Bundle: the CarePlan, its Goals, CareTeam, the Conditions it
    addresses and the Patient with the clinic (to share it outside the clinic)."""
    pat, entries = _patient_entries(o)
    known = {d["code"]: d for d in o.diagnoses}
    conds = {
        c: _condition(pat, o.patient_id, known.get(c, {"code": c, "name": c}))
        for c in plan.addresses
    }
    return _finish([*entries, *conds.values(), *_plan_entries(plan, pat, conds)])


def _resources(bundle: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any], dict[str, Any]]]:
    for i, e in enumerate(bundle.get("entry") or []):
        if isinstance(e, dict) and isinstance(e.get("resource"), dict):
            yield i, e, e["resource"]


def bundle_problems(bundle: dict[str, Any]) -> list[str]:
    """What is wrong with a Bundle by the Bundle rules and almen's code systems: a
    fullUrl that is not a ``urn:uuid:`` or is repeated, a literal reference that does
    not resolve to an entry, a coding without a system almen knows. Empty when sound."""
    problems: list[str] = []
    urls = [e.get("fullUrl") for _i, e, _r in _resources(bundle)]
    for i, u in enumerate(urls):
        if not (isinstance(u, str) and u.startswith("urn:uuid:")):
            problems.append(f"entry[{i}].fullUrl is not a urn:uuid: {u!r}")
    if len(set(urls)) != len(urls):
        problems.append("fullUrl repeated")

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref not in urls:
                problems.append(f"{path}.reference {ref!r} resolves to no entry")
            for c in node.get("coding") or [] if isinstance(node.get("coding"), list) else []:
                if c.get("system") not in KNOWN_SYSTEMS:
                    problems.append(f"{path}.coding system {c.get('system')!r} is not known")
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for j, v in enumerate(node):
                walk(v, f"{path}[{j}]")

    for i, _e, r in _resources(bundle):
        walk(r, f"entry[{i}].resource")
    return problems


def _day(text: Any, where: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        raise InputError(f"{where}: not a date: {text!r}") from None


def care_plan_from_bundle(bundle: dict[str, Any], source: str = "bundle") -> dict[str, Any]:
    """The fields of the one CarePlan in a Bundle (status, title, description, author,
    care team, goals, activities, the ICPC-2 codes of the Conditions it addresses,
    period), to save with ``records.add_care_plan``. InputError naming the entry and the
    element where the Bundle cannot be read as a care plan."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("not a FHIR Bundle", source=source)
    by_url = {e.get("fullUrl"): (i, r) for i, e, r in _resources(bundle)}
    plans = [(i, r) for i, _e, r in _resources(bundle) if r.get("resourceType") == "CarePlan"]
    if len(plans) != 1:
        raise InputError(f"the Bundle holds {len(plans)} CarePlans; one is needed", source=source)
    at, cp = plans[0]

    def target(ref: Any, kind: str, where: str) -> dict[str, Any]:
        url = ref.get("reference") if isinstance(ref, dict) else None
        hit = by_url.get(url)
        if hit is None or hit[1].get("resourceType") != kind:
            raise InputError(f"{where}: the reference {url!r} is not a {kind} of the Bundle",
                             source=source)  # fmt: skip
        return hit[1]

    where = f"entry[{at}] CarePlan"
    goals = []
    for j, ref in enumerate(cp.get("goal") or []):
        g = target(ref, "Goal", f"{where}.goal[{j}]")
        due = next((t.get("dueDate") for t in g.get("target") or [] if t.get("dueDate")), None)
        goals.append(Goal((g.get("description") or {}).get("text", ""),
                          g.get("lifecycleStatus", "proposed"),
                          _day(due, f"{where}.goal[{j}] target.dueDate")))  # fmt: skip
    addresses = []
    for j, ref in enumerate(cp.get("addresses") or []):
        c = target(ref, "Condition", f"{where}.addresses[{j}]")
        codes = [x["code"] for x in (c.get("code") or {}).get("coding") or []
                 if x.get("system") == ICPC2 and x.get("code")]  # fmt: skip
        if not codes:
            raise InputError(f"{where}.addresses[{j}]: the Condition has no ICPC-2 code "
                             f"({ICPC2})", source=source)  # fmt: skip
        addresses.append(codes[0])
    team = []
    for j, ref in enumerate(cp.get("careTeam") or []):
        t = target(ref, "CareTeam", f"{where}.careTeam[{j}]")
        for p in t.get("participant") or []:
            role = " ".join(r.get("text", "") for r in p.get("role") or []).strip()
            team.append(Member((p.get("member") or {}).get("display", ""), role))
    activities = []
    for a in cp.get("activity") or []:
        d = a.get("detail") or {}
        who = " ".join(x.get("display", "") for x in d.get("performer") or []).strip()
        activities.append(Activity(d.get("description", ""), d.get("status", "not-started"),
                                   who))  # fmt: skip
    author = cp.get("author") or {}
    period = cp.get("period") or {}
    return {
        "title": cp.get("title") or "",
        "description": cp.get("description") or "",
        "status": cp.get("status") or "draft",
        "author": author.get("display") or (author.get("identifier") or {}).get("value", ""),
        "care_team": tuple(team),
        "goals": tuple(goals),
        "activities": tuple(activities),
        "addresses": tuple(addresses),
        "period_start": _day(period.get("start"), f"{where}.period.start"),
        "period_end": _day(period.get("end"), f"{where}.period.end"),
    }
