"""Schedules that fire once per due time across every worker.

Due times:
- ``cron "<expr>"``: the cron expression's times (``croniter``, the ``[worker]`` extra), in the
  worker's time zone (``Worker(..., schedule_timezone="Europe/Paris")``; UTC by default);
- ``interval "<d>"`` and ``every N <unit>``: multiples of the duration since the Unix epoch
  (UTC), so every worker computes the same due times without asking the others.

Each worker, about once a second, computes each schedule's latest due time at or before now and
calls ``store.advance_schedule``: in one transaction, the schedule's row moves to that due time
and a work item (kind ``schedule``, dedupe key ``schedule:<name>:<due ms>``) is created, only if
the row held an earlier due time. So a due time fires exactly once, whichever worker sees it
first, and the firing itself runs as any work item (retried after a crash, with the idempotency
key of its item).

Catch-up: after downtime only the **latest** missed due time fires, once; the ones before it are
skipped (never a burst). A schedule seen for the first time starts at its next due time.

Context: a schedule runs with ``source: "schedule"`` and ``scheduleName`` in the context, merged
over the worker's ``schedule_context`` (``{"tenantId": ..., "user": {...}}``, or
``{"<schedule name>": {...}}`` per schedule).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ..errors import ManifestError
from ..runtime.jobs import schedule_params
from ..stores.work import DONE, FAILED, PENDING, WorkItem, WorkOutcome, item_key
from .item_engine import item_engine
from .kinds import ItemRun, WorkKind, register_kind

SCHEDULE = "schedule"


class ScheduleError(ManifestError):
    code = "SCHEDULE_ERROR"


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ScheduleError("cron schedules need croniter: pip install 'manifest-lang[worker]'") from None
    return croniter


def _zone(name: str | None) -> Any:
    if not name or name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def previous_due(trigger: dict[str, Any], now: float, tz: str | None = None) -> float | None:
    """The latest due time (epoch seconds) at or before ``now``; None for an unknown trigger."""
    kind = trigger.get("kind")
    if kind == "cron":
        cron = _croniter()
        start = datetime.fromtimestamp(now, _zone(tz))
        if cron.match(trigger["cron"], start.replace(microsecond=0)) and start.microsecond == 0:
            return float(int(now))
        return float(cron(trigger["cron"], start).get_prev(float))
    duration = trigger.get("durationMs")
    if kind in ("interval", "every") and isinstance(duration, int | float) and duration > 0:
        step = duration / 1000
        return math.floor(now / step) * step
    return None


def next_due(trigger: dict[str, Any], after: float, tz: str | None = None) -> float | None:
    """The first due time strictly after ``after``."""
    kind = trigger.get("kind")
    if kind == "cron":
        cron = _croniter()
        return float(cron(trigger["cron"], datetime.fromtimestamp(after, _zone(tz))).get_next(float))
    duration = trigger.get("durationMs")
    if kind in ("interval", "every") and isinstance(duration, int | float) and duration > 0:
        step = duration / 1000
        return (math.floor(after / step) + 1) * step
    return None


def check_triggers(model: Any, tz: str | None = None) -> None:
    """Raise ``ScheduleError`` for a cron expression croniter rejects (at worker start)."""
    for name, schedule in model.schedules.items():
        trigger = schedule.ir.get("trigger") or {}
        if trigger.get("kind") == "cron":
            cron = _croniter()
            if not cron.is_valid(str(trigger.get("cron"))):
                raise ScheduleError(f"schedule {name}: invalid cron expression {trigger.get('cron')!r}")
    _zone(tz)


def firing(name: str, due: float) -> WorkItem:
    marker = f"schedule:{name}:{int(round(due * 1000))}"
    return WorkItem(
        id=marker, kind=SCHEDULE, payload={"schedule": name, "dueAt": due}, due_at=due, dedupe_key=marker
    )


def tick(worker: Any, now: float) -> None:
    """Create the firing of each schedule whose due time has come (once across workers)."""
    tz = worker.schedule_timezone
    seen = worker.tick_state.setdefault(SCHEDULE, {})
    for name, schedule in worker.model.schedules.items():
        due = previous_due(schedule.ir.get("trigger") or {}, now, tz)
        # One transaction per new due time and worker, not one per tick: this worker already
        # settled (fired, or saw fired) every due time up to ``seen[name]``.
        if due is not None and due > seen.get(name, float("-inf")):
            following = next_due(schedule.ir.get("trigger") or {}, due, tz)
            worker.store.advance_schedule(name, due, firing(name, due), now=now, next_due=following)
            seen[name] = due


def schedule_context(worker: Any, name: str) -> dict[str, Any]:
    configured = worker.schedule_context
    per_schedule = configured.get(name)
    base = (
        per_schedule
        if isinstance(per_schedule, dict)
        else {k: v for k, v in configured.items() if k not in worker.model.schedules}
    )
    return {**base, "source": "schedule", "scheduleName": name}


def run_schedule(run: ItemRun) -> WorkOutcome:
    name = str(run.item.payload["schedule"])
    schedule = run.worker.model.schedules.get(name)
    if schedule is None:
        return WorkOutcome(FAILED, error=f"Schedule '{name}' not found")
    engine, finisher = item_engine(
        run, schedule_context(run.worker, name), lambda result, now: WorkOutcome(DONE, result=result)
    )
    params = schedule_params(engine, schedule)
    result = engine.run_command(
        schedule.command_name,
        params,
        entity_name=schedule.entity_name,
        correlation_id=run.item.id,
        causation_id=f"schedule:{name}",
        idempotency_key=item_key(run.item),
    )
    if result.success and finisher is not None and finisher.finished is not None:
        return finisher.finished
    if (result.error or "").startswith("IDEMPOTENCY_IN_PROGRESS"):
        return WorkOutcome(PENDING, error=result.error, retry_at=run.worker.clock() + 1.0)
    status = DONE if result.success else FAILED
    return WorkOutcome(status, result=result.to_dict(), error=result.error)


def upcoming(model: Any, state: dict[str, float], now: float, tz: str | None = None) -> list[dict[str, Any]]:
    """Each schedule's trigger, last fired due time and next due time (``manifest worker schedules``)."""
    rows = []
    for name, schedule in model.schedules.items():
        trigger = schedule.ir.get("trigger") or {}
        rows.append(
            {
                "schedule": name,
                "command": ".".join(p for p in (schedule.entity_name, schedule.command_name) if p),
                "trigger": trigger,
                "lastDue": state.get(name),
                "nextDue": next_due(trigger, now, tz),
            }
        )
    return rows


def _prepare(worker: Any) -> None:
    check_triggers(worker.model, worker.schedule_timezone)


register_kind(WorkKind(SCHEDULE, run_schedule, group="schedules", ticker=tick, prepare=_prepare))
