"""Schedules (fixture 76): due times from cron (croniter), interval and every; one firing per
due time across workers; catch-up runs the latest missed due time once; the configured context."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from manifest_lang import Worker
from manifest_lang.errors import CompileError
from manifest_lang.workflows.schedules import ScheduleError, next_due, previous_due, upcoming

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "fixtures"

TICKS = """
event Ticked: "tick" { at: number }
command tick(at: number) {
  emit Ticked
}
schedule everyMinute interval "1m" run tick(at: now())
"""


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def fired(store: Any) -> list[str]:
    return sorted(i.id for i in store.list_work(kind="schedule", limit=1000))


def test_due_times_of_each_trigger() -> None:
    now = ts("2026-03-04T10:17:30")
    assert previous_due({"kind": "cron", "cron": "0 9 * * *"}, now) == ts("2026-03-04T09:00:00")
    assert next_due({"kind": "cron", "cron": "0 9 * * *"}, now) == ts("2026-03-05T09:00:00")
    assert previous_due({"kind": "cron", "cron": "*/5 * * * *"}, ts("2026-03-04T10:15:00")) == ts(
        "2026-03-04T10:15:00"
    )
    assert previous_due({"kind": "interval", "durationMs": 300_000}, now) == ts("2026-03-04T10:15:00")
    assert next_due({"kind": "every", "durationMs": 300_000}, ts("2026-03-04T10:15:00")) == ts(
        "2026-03-04T10:20:00"
    )
    paris = previous_due({"kind": "cron", "cron": "0 9 * * *"}, now, "Europe/Paris")
    assert paris == ts("2026-03-04T08:00:00")  # 09:00 in Paris is 08:00 UTC in March


def test_each_due_time_fires_once_across_workers(store: Any) -> None:
    clock = Clock(ts("2026-03-04T10:00:30"))
    workers = [Worker(TICKS, store, clock=clock) for _ in range(3)]
    for w in workers:
        assert w.run_once() == []  # first sight: the first due time is the next one
    clock.at = ts("2026-03-04T10:01:05")
    reports = [r for w in workers for r in w.run_once()]
    assert [(r.kind, r.status) for r in reports] == [("schedule", "done")]
    assert fired(store) == [f"schedule:everyMinute:{int(ts('2026-03-04T10:01:00') * 1000)}"]


def test_catch_up_runs_only_the_latest_missed_due_time(store: Any) -> None:
    clock = Clock(ts("2026-03-04T10:00:30"))
    worker = Worker(TICKS, store, clock=clock)
    worker.run_once()
    clock.at = ts("2026-03-04T10:07:10")  # seven due times passed while nothing ran
    assert [r.status for r in worker.run_once()] == ["done"]
    assert fired(store) == [f"schedule:everyMinute:{int(ts('2026-03-04T10:07:00') * 1000)}"]
    assert [r["nextDue"] for r in store.schedule_rows()] == [ts("2026-03-04T10:08:00")]


def test_schedules_run_in_the_configured_context(store: Any) -> None:
    model = """
event Stamped: "stamp" { by: string  tenant: string }
command stamp(by: string, tenant: string) {
  emit Stamped
}
schedule stamper interval "1m" run stamp(by: user.id, tenant: context.tenantId)
"""
    clock = Clock(ts("2026-03-04T10:00:30"))
    context = {"tenantId": "t1", "user": {"id": "cron-bot"}}
    worker = Worker(model, store, clock=clock, schedule_context=context)
    worker.run_once()
    clock.at += 60
    [report] = worker.run_once()
    assert report.status == "done"
    [event] = store.get_work(report.id).result["emittedEvents"]
    assert event["payload"] == {"by": "cron-bot", "tenant": "t1"}


def test_fixture_76_lists_every_trigger(store: Any) -> None:
    source = (FIXTURES / "76-scheduled-commands.manifest").read_text()
    now = ts("2026-03-04T10:17:30")
    worker = Worker(source, store, clock=Clock(now))
    worker.run_once()
    rows = {r["schedule"]: r for r in upcoming(worker.model, store.schedule_state(), now)}
    assert rows["dailyBackup"]["nextDue"] == ts("2026-03-05T00:00:00")
    assert rows["frequentCleanup"]["nextDue"] == ts("2026-03-04T10:20:00")
    assert rows["morningDigest"]["lastDue"] == ts("2026-03-04T09:00:00")
    assert rows["archiveOldOrders"]["command"] == "Order.archive"
    assert {r["schedule"] for r in store.schedule_rows()} == set(rows)


def test_a_bad_cron_expression_or_zone_fails_at_start(store: Any) -> None:
    bad = 'command c() { }\nschedule s cron "61 * * * *" run c'
    try:
        Worker(bad, store)
    except (ScheduleError, CompileError) as exc:
        assert "cron" in str(exc).lower() or "schedule" in str(exc).lower()
    else:
        pytest.fail("an invalid cron expression was accepted")
    with pytest.raises(ScheduleError, match="time zone"):
        Worker(TICKS, store, schedule_timezone="Mars/Olympus")
