"""Tenant isolation: the fail-closed gate, stamping on create, filtering on every read."""

from __future__ import annotations

import json
from itertools import count

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.memory import MemoryStore

from .test_conformance_runtime import CONFORMANCE_DIR


def _engines() -> tuple[RuntimeEngine, RuntimeEngine, RuntimeEngine]:
    ir = json.loads((CONFORMANCE_DIR / "expected" / "61-tenant-isolation.ir.json").read_text())
    store = MemoryStore()
    ids = count(1)

    def make(context: dict[str, object]) -> RuntimeEngine:
        return RuntimeEngine(ir, context, store_provider=store, generate_id=lambda: f"inv-{next(ids)}")

    return make({"tenantId": "t1"}), make({"tenantId": "t2"}), make({})


def test_commands_need_a_tenant() -> None:
    _, _, anonymous = _engines()
    result = anonymous.run_command("createInvoice", {"amount": 1, "description": "x"}, entity_name="Invoice")
    assert result.error == "MISSING_TENANT_CONTEXT: tenant-scoped command invoked without context.tenantId"


def test_created_rows_are_stamped_and_invisible_to_other_tenants() -> None:
    t1, t2, _ = _engines()
    created = t1.run_command("createInvoice", {"amount": 10, "description": "a"}, entity_name="Invoice")
    assert created.success and created.instance is not None
    invoice_id = created.instance["id"]
    assert created.instance["tenantId"] == "t1"
    assert t1.get_instance("Invoice", invoice_id) is not None
    assert t2.get_instance("Invoice", invoice_id) is None
    assert t2.get_all_instances("Invoice") == []
    assert t2.find_instances("Invoice", {"amount": 10}) == []
    # Another tenant cannot run a command against the row either.
    attempt = t2.run_command(
        "createInvoice", {"amount": 99, "description": "b"}, entity_name="Invoice", instance_id=invoice_id
    )
    assert not attempt.success
    assert t1.get_instance("Invoice", invoice_id)["amount"] == 10
