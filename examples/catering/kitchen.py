"""The kitchen every example runs in: the catering model, a deterministic clock and ids, seed data.

``kitchen()`` returns a ``RuntimeFactory`` over one memory store, so every engine it hands out
(one per user or request, as the document's ``createInventoryRuntime``) sees the same rows.
The clock and the ids are deterministic so that each example prints the same thing every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from manifest_lang import loading
from manifest_lang.workflows.factory import RuntimeFactory

HERE = Path(__file__).resolve().parent
TENANT = "capsule-kitchen"
CHEF = {"id": "chef-maria", "role": "chef"}
COOK = {"id": "cook-sam", "role": "cook"}
MANAGER = {"id": "manager-jane", "role": "manager"}
#: the document's example timestamps start here (2024-02-13T16:00:00Z)
T0 = 1_707_840_000_000


@cache
def load_model(name: str = "catering") -> Any:
    """The compiled model of ``examples/catering/<name>.manifest`` (compiled once per process)."""
    return loading.load_model(HERE / f"{name}.manifest")


class StepClock:
    """``now()`` that starts at ``start`` and moves ``step`` ms forward on every reading."""

    def __init__(self, start: int = T0, step: int = 100) -> None:
        self.current = start
        self.step = step

    def __call__(self) -> int:
        value = self.current
        self.current += self.step
        return value


class SequentialIds:
    """``generate_id()`` giving ``id-1``, ``id-2``, ... (what a test harness injects)."""

    def __init__(self, prefix: str = "id") -> None:
        self.prefix = prefix
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"


def kitchen(
    store: Any = None, *, model: str = "catering", seeded: bool = False, **options: Any
) -> RuntimeFactory:
    """A factory over ``store`` (a fresh memory store by default) with a deterministic clock;
    ``seeded=True`` also creates the rows of ``seed()``."""
    options.setdefault("now", StepClock())
    options.setdefault("generate_id", SequentialIds())
    options.setdefault("event_log_size", 10_000)
    factory = RuntimeFactory(load_model(model), store, **options)
    if seeded:
        seed(factory)
    return factory


def engine_for(factory: RuntimeFactory, user: Mapping[str, Any] = CHEF) -> Any:
    return factory.engine(tenant_id=TENANT, user=user)


ITEMS = [
    {
        "id": "item-flour",
        "name": "Flour type 00",
        "quantityOnHand": 50,
        "quantityAvailable": 50,
        "parLevel": 20,
    },
    {"id": "item-butter", "name": "Butter", "quantityOnHand": 20, "quantityAvailable": 20, "parLevel": 15},
    {"id": "item-cream", "name": "Cream", "quantityOnHand": 12, "quantityAvailable": 12, "parLevel": 4},
]
STATIONS = [
    {"id": "station-hot-line", "name": "Hot line", "capacity": 2},
    {"id": "station-cold-prep", "name": "Cold prep", "capacity": 1},
]


def seed(factory: RuntimeFactory, *, event_id: str = "evt-42") -> Any:
    """Inventory, stations, two claimed prep tasks of ``event_id`` and their ingredients."""
    engine = engine_for(factory, MANAGER)
    for item in ITEMS:
        _create(engine, "InventoryItem", item)
    for station in STATIONS:
        _create(engine, "Station", station)
    tasks = [
        {"id": "task-1", "name": "Laminate croissant dough", "stationId": "station-hot-line"},
        {"id": "task-2", "name": "Whip chantilly", "stationId": "station-cold-prep"},
    ]
    for task in tasks:
        _create(
            engine,
            "PrepTask",
            {**task, "eventId": event_id, "status": "claimed", "claimedBy": CHEF["id"], "quantityTotal": 10},
        )
    ingredients = [
        ("task-1", "item-flour", 5),
        ("task-1", "item-butter", 3),
        ("task-2", "item-cream", 2),
    ]
    for n, (task_id, item_id, quantity) in enumerate(ingredients, start=1):
        _create(
            engine,
            "PrepTaskIngredient",
            {"id": f"ing-{n}", "prepTaskId": task_id, "inventoryItemId": item_id, "quantity": quantity},
        )
    return engine


def _create(engine: Any, entity: str, data: Mapping[str, Any]) -> dict[str, Any]:
    row = engine.create_instance(entity, {"tenantId": TENANT, **data})
    if row is None:
        raise RuntimeError(f"seed row {entity}#{data.get('id')} was rejected by the model")
    return dict(row)


def instance(factory: RuntimeFactory, entity: str, id: str) -> dict[str, Any]:
    row = engine_for(factory, MANAGER).get_instance(entity, id)
    if row is None:
        raise KeyError(f"{entity}#{id} does not exist")
    return dict(row)
