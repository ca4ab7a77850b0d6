"""The days Danish general practice is closed in daytime, so out-of-hours covers them
(shared by synthetic Denmark and the access domain).

The official public holidays (``holidays`` package, Denmark: New Year's Day, Maundy
Thursday to Easter Monday, Ascension Day, Whit Sunday and Monday, Christmas Day and the
second day of Christmas) and Christmas Eve and New Year's Eve, which are not public
holidays but on which clinics are closed and the lægevagt runs all day (issue 18 item 5).
"""

from __future__ import annotations

import datetime as dt
import functools

import holidays

__all__ = ["closed_days"]


@functools.cache
def closed_days(year: int) -> frozenset[dt.date]:
    """Public holidays of ``year`` with 24 and 31 December (weekends not included).

    >>> sorted(d for d in closed_days(2025) if d.month == 12)
    [datetime.date(2025, 12, 24), datetime.date(2025, 12, 25), datetime.date(2025, 12, 26), datetime.date(2025, 12, 31)]
    """
    official = holidays.country_holidays("DK", years=year)
    return frozenset(official) | {dt.date(year, 12, 24), dt.date(year, 12, 31)}
