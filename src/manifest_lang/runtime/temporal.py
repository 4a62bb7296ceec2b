"""Type checks of ``date`` / ``time`` / ``datetime`` / ``duration`` properties on writes.

Values: ``date`` is an ISO calendar date string (``2026-06-09``); ``time`` is ``HH:MM`` or
``HH:MM:SS`` (optional fraction); ``datetime``/``timestamp`` is epoch milliseconds, or an ISO-8601
date-time string; ``duration`` is a number of milliseconds. ``null`` passes (nullability is a
separate rule). A wrong value is the reference's ``E_TYPE_<T>`` write rejection.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from typing import Any

from .refusal import WriteRejected

TEMPORAL_TYPES = {
    "date": "date",
    "time": "time",
    "datetime": "datetime",
    "timestamp": "datetime",
    "duration": "duration",
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?")


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_date(v: Any) -> bool:
    if not isinstance(v, str) or not _DATE.fullmatch(v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: Any) -> bool:
    if _finite_number(v):
        return True
    if not isinstance(v, str) or len(v) < 10:
        return False
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_CHECKS = {
    "date": _is_date,
    "time": lambda v: isinstance(v, str) and _TIME.fullmatch(v) is not None,
    "datetime": _is_datetime,
    "duration": _finite_number,
}

#: kind -> predicate of a valid value (typed command inputs use them too)
TEMPORAL_CHECKS = _CHECKS


def check_temporal(kinds: dict[str, str], data: dict[str, Any]) -> None:
    """Raise ``WriteRejected`` for the first temporal property of ``data`` with a wrong value."""
    for prop, kind in kinds.items():
        if prop not in data:
            continue
        value = data[prop]
        if value is None or _CHECKS[kind](value):
            continue
        shown = json.dumps(value) if isinstance(value, (str, int, float, bool, list, dict)) else repr(value)
        raise WriteRejected(f"E_TYPE_{kind.upper()}", f'Property "{prop}" expects {kind}; got {shown}', prop)
