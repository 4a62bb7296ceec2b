"""Best practice 5: events committed in the same transaction as the state change (outbox).

The document wraps each command in a Prisma transaction and copies the events into an outbox
table. Here a store with ``record_outbox`` does it for every command: the unit of work the engine
commits holds the instance rows *and* the outbox rows, so either both are stored or neither is.
A relay (``manifest relay``) then publishes pending rows; this example claims them by hand to
show what it would publish.

Run: python -m examples.catering.bp5_outbox
"""

from __future__ import annotations

from typing import Any

from manifest_lang.stores.memory import MemoryStore

from .kitchen import CHEF, T0, TENANT, kitchen


def outbox_rows(store: Any) -> list[dict[str, Any]]:
    """What the document's ``tx.outbox.createMany`` stored, read back from the store."""
    rows = []
    for claimed in store.claim_outbox(100, now=T0):
        event = claimed.event
        rows.append(
            {
                "eventName": claimed.name,
                "channel": claimed.channel,
                "payload": event.get("payload"),
                "correlationId": event.get("correlationId"),
                "causationId": event.get("causationId"),
                "emitIndex": event.get("emitIndex"),
                "timestamp": event.get("timestamp"),
            }
        )
    return rows


def reserve_twice(engine: Any) -> Any:
    """A reservation that succeeds, then one that is blocked; returns the blocked result."""
    options = {
        "entity_name": "InventoryItem",
        "instance_id": "item-flour",
        "correlation_id": "event-prep-evt-42",
    }
    engine.run_command(
        "reserve", {"quantity": 5, "eventId": "evt-42"}, causation_id="user-action-1", **options
    )
    return engine.run_command("reserve", {"quantity": 500, "eventId": "evt-42"}, **options)


def main() -> None:
    store = MemoryStore(record_outbox=True)
    factory = kitchen(store, seeded=True)
    blocked = reserve_twice(factory.engine(tenant_id=TENANT, user=CHEF))
    print("blocked command:", blocked.error, "(nothing stored, nothing in the outbox)")
    for row in outbox_rows(store):
        print(row)


if __name__ == "__main__":
    main()
