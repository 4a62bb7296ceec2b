"""The two Manifest blocks of complex-workflows.md, verbatim: they compile and run, and show why
examples/catering adjusts them (each assertion below is one adjustment of its README)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.results import OverrideRequest

SHARED = Path(os.environ.get("MANIFEST_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
DOCUMENT = SHARED / "seed" / "complex-workflows.md"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    if not DOCUMENT.is_file():
        if IN_CI:
            pytest.fail(f"seed document missing at {DOCUMENT}")
        pytest.skip(f"seed document missing at {DOCUMENT}")
    found = re.findall(r"```manifest\n(.*?)```", DOCUMENT.read_text(encoding="utf-8"), re.S)
    return {re.search(r"entity (\w+)", b).group(1): b for b in found}  # type: ignore[union-attr]


def engine_for(source: str, user: dict[str, Any] | None = None) -> RuntimeEngine:
    result = compile_source(source)
    assert result.ir is not None and [d for d in result.diagnostics if d.severity == "error"] == []
    return RuntimeEngine(result.ir, {"user": user or {"id": "u", "role": "manager"}})


def test_the_document_has_the_two_blocks(blocks: dict[str, str]) -> None:
    assert sorted(blocks) == ["InventoryItem", "PrepTask"]


def test_inventory_block_warns_and_blocks_as_documented(blocks: dict[str, str]) -> None:
    engine = engine_for(blocks["InventoryItem"])
    engine.create_instance(
        "InventoryItem", {"id": "i", "tenantId": "t", "quantityAvailable": 10, "parLevel": 8}
    )
    opts = {"entity_name": "InventoryItem", "instance_id": "i"}
    warned = engine.run_command("reserve", {"quantity": 5, "eventId": "e"}, **opts)
    assert warned.success
    assert [(o.code, o.passed) for o in warned.constraint_outcomes or []] == [
        ("warnBelowPar", False),
        ("blockStockout", True),
    ]
    blocked = engine.run_command("reserve", {"quantity": 50, "eventId": "e"}, **opts)
    assert blocked.error == "Insufficient stock for reservation"


def test_inventory_block_cannot_be_overridden_and_lacks_two_commands(blocks: dict[str, str]) -> None:
    engine = engine_for(blocks["InventoryItem"], {"id": "boss", "role": "admin"})
    engine.create_instance("InventoryItem", {"id": "i", "tenantId": "t", "quantityAvailable": 1})
    opts = {"entity_name": "InventoryItem", "instance_id": "i"}
    # A2: blockStockout is not overrideable, so Pattern 5's override request is ignored
    result = engine.run_command(
        "reserve",
        {"quantity": 5, "eventId": "e"},
        **opts,
        override_requests=[OverrideRequest("blockStockout", "urgent", "boss")],
    )
    assert result.error == "Insufficient stock for reservation"
    assert not [e for e in engine.get_event_log() if e.name == "OverrideApplied"]
    # A3: Pattern 1 compensates with releaseReservation and Pattern 5 calls restock
    for name in ("releaseReservation", "restock"):
        assert engine.run_command(name, {"quantity": 1}, **opts).error == f"Command '{name}' not found"


def test_preptask_block_double_claim_hits_the_guard_not_the_transition(blocks: dict[str, str]) -> None:
    engine = engine_for(blocks["PrepTask"])
    engine.create_instance(
        "PrepTask", {"id": "t", "tenantId": "x", "eventId": "e", "name": "n", "dueByDate": 1}
    )
    opts = {"entity_name": "PrepTask", "instance_id": "t"}
    first = engine.run_command("claim", {"userId": "a"}, **opts)
    assert first.success
    assert [o.code for o in first.constraint_outcomes or [] if not o.passed] == ["warnOverdue"]
    second = engine.run_command("claim", {"userId": "b"}, **opts)
    # P1: the document promises the transition error; the guard runs first
    assert second.error == "Guard condition failed for command 'claim'"
    assert engine.evaluate_computed("PrepTask", "t", "percentComplete") == 0
