"""The JSON API's answers, declared for the OpenAPI document (issue 15 item 8): one model
per operation, its rows typed column by column.

The models document; they do not filter: a route builds its answer from the engines'
tables, and ``tests/web/test_openapi.py`` validates real answers of every operation
against these models (unknown fields refused), so the document cannot drift from what the
API sends. Values that a table may lack are optional (NaN and infinity are sent as null);
dates and times are ISO text; patient pseudonyms and inbox ids are text (64-bit numbers
are beyond what a JavaScript number holds exactly).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InboxMessage(Out):
    at: str
    author: str
    to_patient: bool
    text: str


class Page(Out):
    page: int
    size: int
    total: int


class Detail(Out):
    detail: Any


class LoggedOut(Out):
    logged_out: bool


class UserSaved(Out):
    user: str
    role: str
    scope: str | None = None


class UserChanged(Out):
    user: str
    disabled: bool


class FhirBundle(BaseModel):
    """A FHIR R4B Bundle of type collection (built with fhir.resources): the Patient, its
    Conditions, MedicationStatements and Flags (see docs/fhir.md)."""

    model_config = ConfigDict(extra="allow")
    resource_type: str = Field(alias="resourceType")
    type: str
    entry: list[dict[str, Any]]


class PatientMessage(Out):
    at: str
    from_: str = Field(alias="from")
    text: str


class PatientRequest(Out):
    id: str
    kind: str
    reason: str
    received_at: str
    status: str
    clinic: str
    messages: list[PatientMessage]


class PatientRequests(Out):
    items: list[PatientRequest]


class Login(Out):
    user: str
    role: str
    scope: str | None = None
    csrf: str


class Me(Out):
    user: str
    role: str
    scope: str | None = None
    name: str
    csrf: str


class UserRow(Out):
    username: str | None = None
    role: str | None = None
    scope: str | None = None
    name: str | None = None
    disabled: bool | None = None
    password_changed_at: str | None = None
    last_login: str | None = None


class Users(Out):
    users: list[UserRow]


class HealthWarehouse(Out):
    generation: int
    loaded_at: str
    being_written: bool
    current: bool


class HealthRecordsPointingNowhere(Out):
    region: int
    cluster: int
    clinic: int
    patient: int


class HealthWarm(Out):
    started: bool
    finished: bool
    current: str | None = None
    ready: dict[str, Any]
    failed: dict[str, Any]


class Health(Out):
    status: str
    year: int
    warehouse: HealthWarehouse
    failed: dict[str, Any]
    records_pointing_nowhere: HealthRecordsPointingNowhere
    warm: HealthWarm


class ClinicsItem(Out):
    provider_number: str | None = None
    cluster: str | None = None
    municipality: str | None = None
    health_council: str | None = None
    region: str | None = None


class Clinics(Out):
    items: list[ClinicsItem]
    page: int
    size: int
    total: int


class ClinicsSettlementMonth(Out):
    run_id: str | None = None
    provider_number: str | None = None
    month: str | None = None
    listed: int | None = None
    capitation_dkk: float | None = None
    ffs_daytime_dkk: float | None = None
    ffs_ooh_dkk: float | None = None
    local_dkk: float | None = None
    mileage_km: float | None = None
    returned_lines: int | None = None
    returned_dkk: float | None = None
    total_dkk: float | None = None
    payment_date: str | None = None
    ffs_group2_dkk: float | None = None
    cover_dkk: float | None = None
    mileage_dkk: float | None = None
    flagged_lines: int | None = None


class ClinicsSettlement(Out):
    provider_number: str
    year: int
    months: list[ClinicsSettlementMonth]


class ClinicsDashboardReturnedByReasonRow(Out):
    rule: str | None = None
    reason_da: str | None = None
    reason_en: str | None = None
    lines: int | None = None
    dkk: float | None = None


class S96Ceiling(Out):
    provider_number: str
    region: str
    patient_years: float
    capitation_dkk: float
    ffs_dkk: float
    expenditure_dkk: float
    expected_dkk: float
    region_per_patient_dkk: float
    per_patient_dkk: float
    crude_ratio: float
    standardised_ratio: float
    ratio: float
    average_per_patient_dkk: float
    over: bool
    limit: float
    method: str
    ceiling_ffs_dkk: float | None = None
    ffs_year_dkk: float
    months: int
    statement_date: str
    effective_from: str | None = None
    why: str


class FindingsCount(Out):
    provider_number: str | None = None
    list_size: int | None = None
    definition: str | None = None
    count: int | None = None


class ClinicsDashboard(Out):
    provider_number: str
    latest_month: ClinicsSettlementMonth | None = None
    year_total_dkk: float
    returned_by_reason: list[ClinicsDashboardReturnedByReasonRow]
    s96: S96Ceiling | None = None
    case_finding: list[FindingsCount]


class ClinicsReturnedItem(Out):
    claim_id: int | None = None
    provider_number: str | None = None
    service_code: str | None = None
    service_date: str | None = None
    settlement_month: str | None = None
    amount_dkk: float | None = None
    rule: str | None = None
    reason_da: str | None = None
    reason_en: str | None = None
    source: str | None = None
    source_line: str | None = None
    ingest_id: str | None = None
    run_id: str | None = None


class ClinicsReturned(Out):
    items: list[ClinicsReturnedItem]
    page: int
    size: int
    total: int


class ClinicsS96StatementBandsRow(Out):
    age_band: int | None = None
    sex: str | None = None
    patient_years: float | None = None
    capitation_dkk: float | None = None
    ffs_dkk: float | None = None
    expenditure_dkk: float | None = None
    region_rate_dkk: float | None = None
    expected_dkk: float | None = None


class ClinicsS96Statement(Out):
    statement: S96Ceiling
    bands: list[ClinicsS96StatementBandsRow]


class ClinicsOverviewServicesRow(Out):
    service_code: str | None = None
    expected_lines: float | None = None
    expected_dkk: float | None = None
    lines: float | None = None
    dkk: float | None = None
    rate_per_1000: float | None = None
    expected_per_1000: float | None = None
    deviation: float | None = None
    contribution: float | None = None
    name_da: str | None = None


class ClinicsOverview(Out):
    services: list[ClinicsOverviewServicesRow]


class ClinicsLocalAgreementsLine(Out):
    month: str | None = None
    service_code: str | None = None
    name_da: str | None = None
    name_en: str | None = None
    lines: int | None = None
    units: float | None = None
    dkk: float | None = None
    provider_number: str | None = None


class ClinicsLocalAgreements(Out):
    provider_number: str
    year: int
    lines: list[ClinicsLocalAgreementsLine]


class GuideBody(Out):
    id: str
    topic: str
    name: str
    what: str
    when: str
    note: str
    phone: str
    email: str
    address: str
    web: str
    applies_to: str
    regional_details: str
    seed: str
    section: str
    concepts: str
    basis: str
    pages: str | None = None


class Guide(Out):
    region: str | None = None
    topic: str | None = None
    bodies: list[GuideBody]


class GuideClinic(Out):
    provider_number: str
    region: str
    municipality: str
    cluster: str


class ClinicsGuide(Out):
    clinic: GuideClinic
    concept_pages: dict[str, str]
    bodies: list[GuideBody]


class FrameMonth(Out):
    month: str | None = None
    insured: int | None = None
    ffs_dkk: float | None = None
    mileage_dkk: float | None = None
    area: str | None = None
    frame_dkk: float | None = None
    capitation_dkk: float | None = None
    expenditure_dkk: float | None = None
    difference_dkk: float | None = None
    frame_ytd_dkk: float | None = None
    expenditure_ytd_dkk: float | None = None
    ytd_ratio: float | None = None


class Frame(Out):
    months: list[FrameMonth]


class ClinicsFindingsItem(Out):
    patient_id: str | None = None
    definition: str | None = None
    reason: str | None = None


class ClinicsFindings(Out):
    """The clinic's own user: its patients (pseudonyms); everyone else: counts."""

    items: list[ClinicsFindingsItem] | list[FindingsCount]
    page: int
    size: int
    total: int


class MissingItem(Out):
    patient_id: str | None = None
    age: int | None = None
    sex: str | None = None


class ClinicsMissing(Out):
    """The clinic's own patients who miss an indicator (pseudonyms)."""

    items: list[MissingItem]
    page: int
    size: int
    total: int


class FindingsRow(Out):
    level: str | None = None
    area: str | None = None
    list_size: int | None = None
    definition: str | None = None
    patients: int | None = None


class Findings(Out):
    by: str
    rows: list[FindingsRow]


class IndicatorsRow(Out):
    provider_number: str | None = None
    indicator: str | None = None
    cluster: str | None = None
    region: str | None = None
    n: int | None = None
    x: int | None = None
    p: float | None = None
    p_std: float | None = None
    cluster_n: int | None = None
    cluster_x: int | None = None
    cluster_p: float | None = None
    region_n: int | None = None
    region_x: int | None = None
    region_p: float | None = None
    country_n: int | None = None
    country_x: int | None = None
    p0: float | None = None
    phi: float | None = None
    tau2: float | None = None
    z: float | None = None
    lower95: float | None = None
    upper95: float | None = None
    lower998: float | None = None
    upper998: float | None = None
    flag: str | None = None
    hidden: bool | None = None


class Indicators(Out):
    cluster: str
    rows: list[IndicatorsRow]


class PatientView(Out):
    at: str | None = None
    username: str | None = None
    what: str | None = None
    patient_id: str | None = None


class ClinicsAudit(Out):
    items: list[PatientView]
    page: int
    size: int
    total: int


class PatientsAudit(Out):
    patient_id: str
    views: list[PatientView]


class PatientsCareplans(Out):
    items: list[CarePlan]


class CapacityNeedRow(Out):
    area: str | None = None
    residents: int | None = None
    need_weighted: float | None = None
    clinics: int | None = None
    fte: float | None = None
    listed: int | None = None
    closed: int | None = None
    fte_per_10000_need: float | None = None
    listed_per_fte: float | None = None
    share_closed: float | None = None
    relative_capacity: float | None = None
    without_free_choice: int | None = None
    listed_region_or_tender: int | None = None
    need_index: float | None = None
    name: str | None = None
    region: str | None = None


class CapacityNeed(Out):
    rows: list[CapacityNeedRow]


class CapacityWorkforceRow(Out):
    intake: int | None = None
    year: int | None = None
    p05: float | None = None
    median: float | None = None
    p95: float | None = None
    p_reach: float | None = None
    fte_p05: float | None = None
    fte_median: float | None = None
    fte_p95: float | None = None
    women: float | None = None
    owners: float | None = None
    employed: float | None = None
    returned: float | None = None


class CapacityWorkforce(Out):
    rows: list[CapacityWorkforceRow]


class CapacityDistributeRow(Out):
    area: str | None = None
    need: float | None = None
    capacity: float | None = None
    voluntary: int | None = None
    served: float | None = None
    unmet: float | None = None
    list_voluntary: float | None = None
    shortfall_share: float | None = None
    forced: int | None = None
    list_forced: float | None = None
    name: str | None = None
    region: str | None = None


class CapacityDistribute(Out):
    new: int
    rows: list[CapacityDistributeRow]


class CapacityLimitsItem(Out):
    provider_number: str | None = None
    municipality: str | None = None
    fte: float | None = None
    listed: int | None = None
    need_index: float | None = None
    vulnerable_share: float | None = None
    underserved: bool | None = None
    years_established: int | None = None
    old_limit: float | None = None
    new_limit: float | None = None
    may_close_old: bool | None = None
    may_close_new: bool | None = None


class CapacityLimits(Out):
    items: list[CapacityLimitsItem]
    page: int
    size: int
    total: int


class ClinicsInbox(Out):
    items: list[InboxItem]


class OohPlanDemandByHourRow(Out):
    hour: int | None = None
    mean: float | None = None


class OohPlanPhoneRow(Out):
    weekday: int | None = None
    hour: int | None = None
    calls: float | None = None
    aht_minutes: float | None = None
    traffic: float | None = None
    agents: int | None = None
    service_level: float | None = None
    abandons: float | None = None
    occupancy: float | None = None
    rostered: int | None = None


class OohPlanPlanRow(Out):
    site: str | None = None
    weekday: int | None = None
    hour: int | None = None
    mean: float | None = None
    closed: bool | None = None
    moved_to: str | None = None
    load_in: float | None = None
    planned: float | None = None
    doctors: int | None = None
    load_per_doctor: float | None = None


class OohPlan(Out):
    region: str
    demand_by_hour: list[OohPlanDemandByHourRow]
    phone: list[OohPlanPhoneRow]
    coordinator: list[OohPlanPhoneRow]
    plan: list[OohPlanPlanRow]


class FeesCompareTotals(Out):
    base_dkk: float
    scenario_dkk: float
    scaling: float
    capitation_dkk: float
    to_capitation_dkk: float
    unplaced_dkk: float


class FeeChangeRow(Out):
    provider_number: str | None = None
    form: str | None = None
    region: str | None = None
    underserved: bool | None = None
    patient_years: float | None = None
    need_units: float | None = None
    base_ffs: float | None = None
    scen_ffs: float | None = None
    base_cap: float | None = None
    scen_cap: float | None = None
    base_dkk: float | None = None
    scenario_dkk: float | None = None
    change_dkk: float | None = None
    change_pct: float | None = None


class FeesCompare(Out):
    scenario: str
    totals: FeesCompareTotals
    losers: list[FeeChangeRow]
    winners: list[FeeChangeRow]


class CarePlanMember(Out):
    name: str
    role: str


class CarePlanGoal(Out):
    description: str
    status: str
    due: str | None = None


class CarePlanActivity(Out):
    description: str
    status: str
    performer: str


class CarePlan(Out):
    """A care plan (FHIR CarePlan statuses): see ``almen.records.CarePlan``."""

    id: int
    patient_id: str
    title: str
    description: str
    status: str
    created_at: str
    provider_number: str
    author: str
    care_team: list[CarePlanMember]
    goals: list[CarePlanGoal]
    activities: list[CarePlanActivity]
    addresses: list[str]
    period_start: str | None = None
    period_end: str | None = None
    version: int
    updated_at: str | None = None


class CarePlanVersion(Out):
    version: int
    at: str
    username: str
    changed: list[str]
    plan: CarePlan


class CarePlanHistory(Out):
    plan_id: int
    items: list[CarePlanVersion]


class CarePlanShare(Out):
    """A professional outside the clinic who may read one plan (role shared); the
    password is shown once, when the share is made."""

    plan_id: int
    username: str
    name: str | None = None
    disabled: bool = False
    password: str | None = None


class CarePlanShares(Out):
    plan_id: int
    items: list[CarePlanShare]


class InboxItem(Out):
    id: str
    provider_number: str
    patient_id: str
    reason: str
    severity: str
    handler: str
    channel: str
    rule_id: str
    received_at: str
    target_at: str
    status: str
    assigned_to: str | None = None
    text: str
    age: int | None = None
    sex: str | None = None
    source: str
    patient_name: str | None = None
    details: str
    messages: list[InboxMessage]


def answers(model: type[BaseModel], code: int = 200) -> dict[int | str, dict[str, Any]]:
    """An operation's documented answers: ``model`` on success, ``{"detail": ...}`` on an
    error (401, 403, 404, 409, 422; 503 while the warehouse is being written)."""
    return {code: {"model": model},
            "4XX": {"model": Detail, "description": "what is wrong, never a patient value"},
            "503": {"model": Detail, "description": "busy: try again (Retry-After)"}}  # fmt: skip
