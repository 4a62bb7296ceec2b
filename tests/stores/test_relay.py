"""Relay logic on every store: order per instance, backoff, dead-letter, the single-relay lease.

``RecordingPublisher`` is a real ``Publisher`` that keeps messages in a list (and can be told
to refuse some entries); the brokers themselves are exercised in tests/reliability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from manifest_lang.outbox.relay import Backoff, PublishOutcome, Relay, group_by_instance
from manifest_lang.outbox.types import OutboxRow
from manifest_lang.stores.base import UnitOfWork

from .test_store_contract import event_entry


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.refuse: set[str] = set()

    def publish(self, groups: Sequence[Sequence[OutboxRow]]) -> PublishOutcome:
        outcome: PublishOutcome = {}
        for group in groups:
            for row in group:
                if row.entry_id in self.refuse:
                    outcome[row.seq] = ConnectionError("broker refused " + row.entry_id)
                    break
                self.sent.append(row.entry_id)
                outcome[row.seq] = None
        return outcome

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fill(store: Any, commits: int) -> None:
    for i in range(commits):
        store.commit(UnitOfWork(outbox=[event_entry(f"A{i}", "A"), event_entry(f"B{i}", "B")]))


def test_relay_publishes_everything_in_commit_order(store: Any) -> None:
    fill(store, 5)
    publisher = RecordingPublisher()
    relay = Relay(store, publisher, batch_size=4, clock=Clock())
    first = relay.run_once()
    assert (first.claimed, first.published, first.pending) == (4, 4, 6)
    while relay.run_once().claimed:
        pass
    # Order is per instance (instances are published side by side).
    assert [e for e in publisher.sent if e[0] == "A"] == [f"A{i}" for i in range(5)]
    assert [e for e in publisher.sent if e[0] == "B"] == [f"B{i}" for i in range(5)]
    assert publisher.sent[:4] == ["A0", "A1", "B0", "B1"]  # the first batch: the 4 oldest rows
    assert store.outbox_counts().to_dict() == {"pending": 0, "published": 10, "failed": 0, "dead": 0}


def test_a_failing_event_holds_back_its_instance_then_is_dead_lettered(store: Any) -> None:
    fill(store, 3)
    publisher = RecordingPublisher()
    publisher.refuse.add("A0")
    clock = Clock()
    relay = Relay(store, publisher, max_attempts=3, backoff=Backoff(base_seconds=10, factor=2), clock=clock)
    stats = relay.run_once()
    assert (stats.published, stats.failed, stats.deferred) == (3, 1, 2)
    assert publisher.sent == ["B0", "B1", "B2"]
    clock.now += 9  # still backing off: A's events wait, in order
    assert relay.run_once().claimed == 0
    clock.now += 1
    assert relay.run_once().failed == 1  # attempt 2; next delay 20 s
    clock.now += 19
    assert relay.run_once().claimed == 0
    clock.now += 1
    third = relay.run_once()
    assert third.dead == 1 and third.published == 0
    # A0 is dead: A1 and A2 flow again, in order, and nothing published out of order before.
    assert relay.run_once().published == 2
    assert publisher.sent == ["B0", "B1", "B2", "A1", "A2"]
    assert store.outbox_counts().to_dict() == {"pending": 0, "published": 5, "failed": 0, "dead": 1}


def test_a_second_relay_waits_for_the_lease(store: Any) -> None:
    fill(store, 1)
    clock = Clock()
    one = Relay(store, RecordingPublisher(), lease_ttl_seconds=5, clock=clock, holder="one")
    two = Relay(store, RecordingPublisher(), lease_ttl_seconds=5, clock=clock, holder="two")
    assert one.run_once().published == 2
    fill_more = UnitOfWork(outbox=[event_entry("C0", "C")])
    store.commit(fill_more)
    blocked = two.run_once()
    assert not blocked.lease_held and blocked.claimed == 0
    clock.now += 6  # "one" died without releasing: its lease runs out
    assert two.run_once().published == 1


def test_grouping_and_backoff() -> None:
    rows = [
        OutboxRow(s, f"e{s}", "E", inst, "c", "n", {}, 0, 0)
        for s, inst in [(3, "x"), (1, "y"), (2, "x"), (4, "y")]
    ]
    assert [[r.seq for r in g] for g in group_by_instance(rows)] == [[1, 4], [2, 3]]
    b = Backoff(base_seconds=0.5, factor=2, max_seconds=3)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_running_relay_renews_its_lease_before_it_runs_out(store: Any) -> None:
    clock = Clock()
    one = Relay(store, RecordingPublisher(), lease_ttl_seconds=9, clock=clock, holder="one")
    two = Relay(store, RecordingPublisher(), lease_ttl_seconds=9, clock=clock, holder="two")
    assert one.run_once().lease_held  # t=1000: lease until 1009, renewed from t=1003 on
    clock.now = 1002.0
    assert one.run_once().lease_held
    clock.now = 1004.0
    assert one.run_once().lease_held  # renewed: until 1013
    clock.now = 1010.0
    assert not two.run_once().lease_held
    clock.now = 1013.5
    assert two.run_once().lease_held
    one.release()  # not the holder any more: two keeps it
    assert not Relay(store, RecordingPublisher(), clock=clock, holder="three").run_once().lease_held
