"""Date/time built-ins over epoch milliseconds, always in UTC.

Calling convention: see ``builtins_base``. Timestamps follow JS ``Date``: valid within ±8.64e15 ms,
fractional milliseconds truncated toward zero, proleptic Gregorian calendar (negative years too).
Calendar arithmetic is done with integer day counts, so no platform ``datetime`` limits apply.
"""

from __future__ import annotations

import re
from typing import Any

from manifest_lang.expr.builtins_base import Builtin, BuiltinHost, arg, is_number
from manifest_lang.expr.values import NAN, UNDEFINED, js_add, js_mul, js_sub

_MS_PER_SECOND = 1000
_MS_PER_MINUTE = 60_000
_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
_MAX_TIME = 8.64e15
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME_RE = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})")


def _time_clip(ts: Any) -> int | None:
    """JS TimeClip: the integral time value, or None when the Date would be invalid."""
    if type(ts) is int:
        return ts if -_MAX_TIME <= ts <= _MAX_TIME else None
    if ts != ts or not -_MAX_TIME <= ts <= _MAX_TIME:
        return None
    return int(ts)


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month 1-12, day) of a day count since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= 1 if month <= 2 else 0
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _component(args: list[Any], pick: Any) -> Any:
    """A UTC component of a timestamp; a non-number passes through, an invalid Date gives NaN."""
    ts = arg(args, 0)
    if not is_number(ts):
        return ts
    t = _time_clip(ts)
    if t is None:
        return NAN
    return pick(t)


def year(host: BuiltinHost, args: list[Any]) -> Any:
    return _component(args, lambda t: _civil_from_days(t // _MS_PER_DAY)[0])


def month(host: BuiltinHost, args: list[Any]) -> Any:
    return _component(args, lambda t: _civil_from_days(t // _MS_PER_DAY)[1])


def day(host: BuiltinHost, args: list[Any]) -> Any:
    return _component(args, lambda t: _civil_from_days(t // _MS_PER_DAY)[2])


def hours(host: BuiltinHost, args: list[Any]) -> Any:
    return _component(args, lambda t: t % _MS_PER_DAY // _MS_PER_HOUR)


def minutes(host: BuiltinHost, args: list[Any]) -> Any:
    return _component(args, lambda t: t % _MS_PER_HOUR // _MS_PER_MINUTE)


def seconds(host: BuiltinHost, args: list[Any]) -> Any:
    return _component(args, lambda t: t % _MS_PER_MINUTE // _MS_PER_SECOND)


def date_of(host: BuiltinHost, args: list[Any]) -> str | None:
    """``YYYY-MM-DD`` (the year unpadded, as the reference prints it); invalid -> null."""
    ts = arg(args, 0)
    t = _time_clip(ts) if is_number(ts) else None
    if t is None:
        return None
    y, m, d = _civil_from_days(t // _MS_PER_DAY)
    return f"{y}-{m:02d}-{d:02d}"


def time_of(host: BuiltinHost, args: list[Any]) -> str | None:
    ts = arg(args, 0)
    t = _time_clip(ts) if is_number(ts) else None
    if t is None:
        return None
    ms = t % _MS_PER_DAY
    h, mi, s = ms // _MS_PER_HOUR, ms % _MS_PER_HOUR // _MS_PER_MINUTE, ms % _MS_PER_MINUTE // _MS_PER_SECOND
    return f"{h:02d}:{mi:02d}:{s:02d}"


def _parse_date(text: Any) -> int | None:
    """Days since the epoch of a strict ``YYYY-MM-DD`` calendar date, else None."""
    if type(text) is not str:
        return None
    m = _DATE_RE.fullmatch(text)
    if m is None:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
        return None
    return _days_from_civil(y, mo, d)


def _parse_time(text: Any) -> int | None:
    """Milliseconds into the day of a strict ``HH:MM:SS`` (00:00:00-23:59:59), else None."""
    if type(text) is not str:
        return None
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h > 23 or mi > 59 or s > 59:
        return None
    return h * _MS_PER_HOUR + mi * _MS_PER_MINUTE + s * _MS_PER_SECOND


def datetime_of(host: BuiltinHost, args: list[Any]) -> int | None:
    """Epoch ms (UTC) of a date and an optional time; anything invalid -> null."""
    days = _parse_date(arg(args, 0))
    if days is None:
        return None
    time_arg = arg(args, 1)
    ms = 0 if time_arg is UNDEFINED else _parse_time(time_arg)
    if ms is None:
        return None
    return days * _MS_PER_DAY + ms


def _finite(v: Any) -> bool:
    return is_number(v) and v == v and v not in (float("inf"), float("-inf"))


def add_duration(host: BuiltinHost, args: list[Any]) -> Any:
    ts, d = arg(args, 0), arg(args, 1)
    return js_add(ts, d) if _finite(ts) and _finite(d) else None


def duration_between(host: BuiltinHost, args: list[Any]) -> Any:
    a, b = arg(args, 0), arg(args, 1)
    return js_sub(b, a) if _finite(a) and _finite(b) else None


def _duration(factor: int) -> Builtin:
    def build(host: BuiltinHost, args: list[Any]) -> Any:
        n = arg(args, 0)
        return js_mul(n, factor) if _finite(n) else None  # doubles: no exact ints past 2**53

    return build


DATE_BUILTINS: dict[str, Builtin] = {
    "year": year,
    "month": month,
    "day": day,
    "hours": hours,
    "minutes": minutes,
    "seconds": seconds,
    "dateOf": date_of,
    "timeOf": time_of,
    "datetimeOf": datetime_of,
    "addDuration": add_duration,
    "durationBetween": duration_between,
    "durationDays": _duration(_MS_PER_DAY),
    "durationHours": _duration(_MS_PER_HOUR),
    "durationMinutes": _duration(_MS_PER_MINUTE),
    "durationSeconds": _duration(_MS_PER_SECOND),
}
