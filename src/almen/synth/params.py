"""Parameters of synthetic Denmark, each with its source or marked as an assumption.

Public figures come from ``shared/research/danish-facts.md`` (section numbers in brackets).
Where no Danish figure was found the value is an assumption chosen to give the public
totals that *are* known; ``almen synth`` prints the result beside those totals.
"""

from __future__ import annotations

# --- people -------------------------------------------------------------------------
# an owner sets up in practice at an age drawn evenly from this range (assumption: no public
# figure found; the specialist training ends in the early thirties at the earliest)
ESTABLISH_AGE = (33, 46)
GROUP2_SHARE_ADULTS = 0.015  # assumption: about 1-2 % of adults choose insurance group 2

# --- doctors and clinics --------------------------------------------------------------
GPS_AT_SCALE_1 = 3_500  # about 3,500 GPs, 3,499 in 2023 [2.1]
SUPPLY_UNDERSERVED = 0.86  # assumption: capacity per citizen in PLO's 42 underserved kommuner
SUPPLY_OTHER = 1.04  # ... and elsewhere; together they make two in three clinics closed
SUPPLY_NOISE_SD = 0.08  # assumption: municipal variation around those levels

# clinic forms: (form, share of clinics, doctor-count choices, their probabilities)
# Solo is the commonest practice type and solo and partnership practices are about equally
# many (2019) [2.2]; numbers of the other forms were not found, so their shares are assumed.
CLINIC_FORMS: tuple[tuple[str, float, tuple[int, ...], tuple[float, ...]], ...] = (
    ("solo", 0.40, (1,), (1.0,)),
    ("partnership", 0.36, (2, 3, 4, 5, 6), (0.42, 0.30, 0.16, 0.08, 0.04)),
    ("collaboration", 0.12, (1, 2), (0.6, 0.4)),
    ("shared", 0.06, (2,), (1.0,)),
)
# region-run and tender clinics: more of them where capacity is short [2.5]
PUBLIC_CLINIC_SHARE_UNDERSERVED = 0.055
PUBLIC_CLINIC_SHARE_OTHER = 0.015
PUBLIC_CLINIC_DOCTORS = ((1, 2, 3, 4), (0.3, 0.35, 0.25, 0.1))

# doctor age: mean age about 52-53, about 30 % aged 60+ (2015-19) [2.3]
OWNER_AGE_MEAN, OWNER_AGE_SD = 53.0, 8.5
EMPLOYED_AGE_MEAN, EMPLOYED_AGE_SD = 46.0, 9.0
DOCTOR_AGE_MIN, DOCTOR_AGE_MAX = 32, 75
# solo owners are this many years older than partnership owners (assumption, set once:
# solo practice fell from 50 % of GPs in 1978 to 27 % in 2017 as the older cohorts left
# it last [2.2]; not fitted to the held-out figures of solo practice by age)
SOLO_AGE_SHIFT = 6.0

# list capacity: the old closing limit was 1,600 patients per capacity [2.4]
CLOSING_LIMIT_PER_FTE = 1_600
LIST_CAP_MEDIAN_PER_FTE = 1_700  # assumption: lists run above 1,600 where demand is high
LIST_CAP_SD = 0.10
# a person no clinic of their choice takes is placed by the region at the nearest clinic
# within REACH_KM that still has room under LIST_MAX_PER_FTE, and only when none has, at
# the nearest clinic over it (both assumptions: no public figure for either was found)
LIST_MAX_PER_FTE = 2_400  # 1.5 × the 1,600 closing limit
REACH_KM = 25.0
REACH_CLINICS = 40  # clinics asked within reach, nearest first
PREFERENCE_NOISE_SD = 0.35  # assumption: people do not always list with the nearest clinic
OWNER_FULL_TIME_SHARE = 0.97  # assumption: share of owners with a whole capacity (else 0.8)
# Closing: a clinic at or above the limit may close [2.4]; the further above, the likelier:
# P(close) = 1 / (1 + exp(-(load - CLOSE_LOAD_MID) / CLOSE_LOAD_WIDTH)), load = list /
# (1,600 × FTE). Below the limit only by dispensation, with CLOSE_PROB_BELOW at most.
# Both are assumptions chosen to give two in three clinics closed (2022) [2.4].
CLOSE_LOAD_MID = 0.92
CLOSE_LOAD_WIDTH = 0.15
CLOSE_PROB_BELOW = 0.20  # some close below it by dispensation [2.4]
CLUSTER_TARGET_CLINICS = 18  # assumption: a quality cluster has about 10-25 clinics

# --- out of hours ----------------------------------------------------------------------
# fixed-staffed consultation sites per region (VIVE 2018, table 3.4) [4]
OOH_SITES = {
    "Region Nordjylland": 5,
    "Region Midtjylland": 7,
    "Region Syddanmark": 5,
    "Region Sjælland": 6,
    "Region Hovedstaden": 5,
}
# Region Sjælland: 330,000 contacts in 2023 on about 850,000 citizens [4]
OOH_CONTACTS_PER_PERSON = 0.39
# regions whose out-of-hours service is run by PLO doctors who claim fees (not H, not Sj)
OOH_PLO_REGIONS = ("Region Nordjylland", "Region Midtjylland", "Region Syddanmark")

# --- contacts -------------------------------------------------------------------------
CONTACTS_AT_SCALE_1 = 41_000_000  # about 41 million contacts a year [1.5]
CONTACT_HETEROGENEITY_SHAPE = 1.1  # assumption: gamma frailty; gives ~85 % with a contact
MORBIDITY_CONTACT_FACTOR = 0.22  # assumption: log-rate rise per chronic condition
PRACTICE_STYLE_SD = 0.12  # assumption: clinic factor on contact rates, so a few pass § 96
EVENING_SHARE = 0.05  # assumption: share of contacts after 16 in the clinic's own hours

# --- claims as a region receives them (issue 16) -----------------------------------
# 0120 annual control: one a year per condition with a relevant need (seed 001); the
# probability a patient with the condition gets it that year (assumption)
ANNUAL_CONTROL_SHARE = {"type2_diabetes": 0.75, "copd": 0.75, "ischaemic_heart_disease": 0.75,
                        "heart_failure": 0.75, "hypertension": 0.3, "asthma": 0.3}  # fmt: skip
# chronic-care fee (kronikerhonorar) for type 2 diabetes and COPD: claimed once a year
# for most of those patients instead of the condition's annual control (Aftale25, seed
# 001 "Kronikerhonorarerne er øget"); the share is an assumption
CHRONIC_FEE_SHARE = 0.8
# consultations of a patient listed elsewhere: acute illness away from home, or the own
# GP away (laeger.dk "FAQ om ydelser"); share of consultations (assumption)
COVER_SHARE = 0.004
# claim errors injected so that every return rule fires (assumption: no public figure
# of how often each rule returns a line was found). Shares of all lines, except
# per_year (share of annual controls sent twice in the year)
CLAIM_ERRORS = {
    "not_listed": 0.002,  # another clinic's patient claimed without a cover reason
    "age_sex": 0.0003,  # cervical cytology (women 23-64) claimed for a man
    "outside_period": 0.001,  # a line sent for the month before its service date
    "duplicate": 0.001,  # the same line sent twice
    "per_year": 0.02,  # an annual control sent twice for the same condition
}

# --- prevention under the prophylaxis agreement (issue 18 item 5) ------------------------
# child examinations at the GP: 5 weeks, 5 months and 1, 2, 3, 4 and 5 years (Sundhedsstyrelsen,
# "Vejledning om forebyggende sundhedsydelser til børn og unge"); (age in years, lines)
CHILD_EXAMINATIONS = ((5 / 52, 1), (5 / 12, 1), (1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1), (5.0, 1))
CHILD_EXAMINATION_TAKE_UP = 0.90  # assumption: share of children seen at each examination
# childhood vaccination programme (Statens Serum Institut): DiTeKiPol/Hib/HepB with
# pneumococcal vaccine at 3, 5 and 12 months (two injections, two lines), MMR at 15 months
# and 4 years, the DiTeKiPol booster at 5 years, HPV at 12 years in two doses
CHILD_VACCINATIONS = ((0.25, 2), (5 / 12, 2), (1.0, 2), (1.25, 1), (4.0, 1), (5.0, 1),
                      (12.0, 1), (12.5, 1))  # fmt: skip
CHILD_VACCINATION_TAKE_UP = 0.92  # assumption: coverage about 90-96 % in SSI's reports
# pregnancy: three examinations at the GP (weeks 6-10, 25 and 32; Sundhedsstyrelsen,
# "Anbefalinger for svangreomsorgen"); mothers' ages ~ N(31, 5) within 18-45 (assumption)
PREGNANCY_EXAMINATIONS = 3
PREGNANCY_EXAMINATION_TAKE_UP = 0.95  # assumption
MOTHER_AGE_MEAN, MOTHER_AGE_SD = 31.0, 5.0
