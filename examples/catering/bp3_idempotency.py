"""Best practice 3: an idempotency key on user-initiated actions - same key, same result, once.

Run: python -m examples.catering.bp3_idempotency
"""

from __future__ import annotations

from manifest_lang.runtime.idempotency import MemoryIdempotencyStore

from .kitchen import CHEF, TENANT, instance, kitchen


def main() -> None:
    factory = kitchen(idempotency_store=MemoryIdempotencyStore(), seeded=True)
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    options = {
        "entity_name": "InventoryItem",
        "instance_id": "item-flour",
        "idempotency_key": "reserve-flour-evt-42",
    }
    first = engine.run_command("reserve", {"quantity": 5, "eventId": "evt-42"}, **options)
    again = engine.run_command("reserve", {"quantity": 5, "eventId": "evt-42"}, **options)
    print("first :", first.success, [e.name for e in first.emitted_events])
    print("again :", again.success, "same result:", again.to_dict() == first.to_dict())
    print("reserved once:", instance(factory, "InventoryItem", "item-flour")["quantityReserved"])
    print("events in the log:", [e.name for e in factory.events()])


if __name__ == "__main__":
    main()
