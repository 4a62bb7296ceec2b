"""HTTP pieces that do not run commands: auth, body envelope, OpenAPI from IR, SSE hub, trace tree."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from starlette.requests import Request

from manifest_lang.errors import ManifestError
from manifest_lang.http.auth import KeyOrTokenAuth, load_api_keys, sign_token, verify_token
from manifest_lang.http.body import split_command_body
from manifest_lang.http.model_index import ModelIndex
from manifest_lang.http.openapi import build_openapi
from manifest_lang.http.pages import trace_page
from manifest_lang.http.problems import PROBLEM_KINDS, ProblemError
from manifest_lang.http.sse import EventFilter, EventHub
from manifest_lang.workflows.trace import CommandRecord, build_trace, render_text


def _request(headers: dict[str, str], query: str = "", method: str = "GET") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request(
        {"type": "http", "method": method, "path": "/", "headers": raw, "query_string": query.encode()}
    )


# -- auth ------------------------------------------------------------------------------------------
def test_token_round_trip_and_rejections() -> None:
    token = sign_token("s3cret", "u1", role="chef", tenant_id="t1", now=1000.0, ttl_seconds=60)
    assert verify_token("s3cret", token, now=1030.0) == {
        "user": {"id": "u1", "role": "chef"},
        "tenantId": "t1",
    }
    for bad, now in ((token, 2000.0), (token[:-2] + "xx", 1030.0), ("garbage", 1030.0)):
        with pytest.raises(ProblemError) as info:
            verify_token("s3cret", bad, now=now)
        assert info.value.problem.status == 401
    with pytest.raises(ProblemError):
        verify_token("other", token, now=1030.0)


def test_api_keys_from_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text(
        json.dumps({"keys": {"k1": {"id": "ann", "role": "admin", "tenantId": "a"}}})
    )
    (tmp_path / "keys.toml").write_text('[k2.user]\nid = "bob"\nrole = "chef"\n[k2]\ntenantId = "b"\n')
    keys = {**load_api_keys(tmp_path / "keys.json"), **load_api_keys(tmp_path / "keys.toml")}
    assert keys["k1"] == {"user": {"id": "ann", "role": "admin"}, "tenantId": "a"}
    assert keys["k2"] == {"user": {"id": "bob", "role": "chef"}, "tenantId": "b"}
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ManifestError):
        load_api_keys(tmp_path / "bad.json")


def test_key_or_token_auth() -> None:
    auth = KeyOrTokenAuth(api_keys={"k1": {"user": {"id": "ann"}, "tenantId": "a"}}, secret="s")
    assert auth(_request({"X-API-Key": "k1"})) == {"user": {"id": "ann"}, "tenantId": "a"}
    token = sign_token("s", "bob", tenant_id="b")
    assert auth(_request({"Authorization": f"Bearer {token}"}))["user"] == {"id": "bob"}
    for headers in ({}, {"X-API-Key": "nope"}, {"Authorization": "Bearer x.y"}):
        with pytest.raises(ProblemError) as info:
            auth(_request(headers))
        assert info.value.problem.code == "UNAUTHENTICATED"
    assert KeyOrTokenAuth(allow_anonymous=True)(_request({})) == {}
    # links and EventSource cannot send headers: GET may carry the credential in the query
    assert auth(_request({}, f"access_token={token}"))["user"] == {"id": "bob"}
    assert auth(_request({}, "api_key=k1"))["tenantId"] == "a"
    with pytest.raises(ProblemError):
        auth(_request({}, "api_key=k1", method="POST"))


# -- body envelope ---------------------------------------------------------------------------------
def test_command_body_forms() -> None:
    bare = split_command_body({"quantity": 2}, frozenset({"quantity"}))
    assert bare.input == {"quantity": 2} and bare.override_requests == []
    override = {"constraintCode": "c", "reason": "r", "authorizedBy": "m"}
    env = split_command_body(
        {"input": {"quantity": 2}, "overrideRequests": [override]}, frozenset({"quantity"})
    )
    assert env.input == {"quantity": 2} and env.override_requests == [override]
    # a command whose parameter is literally named "input" gets the bare form
    assert split_command_body({"input": {"a": 1}}, frozenset({"input"})).input == {"input": {"a": 1}}
    for bad in (
        [1],
        {"input": {}, "overrideRequests": [{"reason": 1}]},
        {"input": {}, "overrideRequests": 3},
    ):
        with pytest.raises(ProblemError) as info:
            split_command_body(bad, frozenset())
        assert info.value.problem.status == 400


# -- OpenAPI from every conformance IR -------------------------------------------------------------
def test_openapi_for_every_conformance_ir(conformance_dir: Path) -> None:
    files = sorted((conformance_dir / "expected").glob("*.ir.json"))
    assert len(files) > 50
    for path in files:
        ir = json.loads(path.read_text())
        spec = build_openapi(ModelIndex(ir))
        assert spec["openapi"] == "3.1.0"
        for name, schema in spec["components"]["schemas"].items():
            Draft202012Validator.check_schema(schema), (path.name, name)
        for entity in ir["entities"]:
            assert f"/{entity['name']}" in spec["paths"], path.name
        json.dumps(spec)  # serialisable


def test_openapi_input_schema_follows_parameters(conformance_dir: Path) -> None:
    ir = json.loads((conformance_dir / "expected" / "61-tenant-isolation.ir.json").read_text())
    index = ModelIndex(ir)
    command = index.entity("invoice").commands["createInvoice"]
    assert command.allocating
    assert command.input_schema["required"] == ["amount", "description"]
    command.validate({"amount": 3, "description": "x"})
    for bad in (
        {"amount": "3", "description": "x"},
        {"amount": 3},
        {"amount": 3, "description": "x", "z": 1},
    ):
        with pytest.raises(ProblemError) as info:
            command.validate(bad)
        assert info.value.problem.code == "INVALID_INPUT"
    spec = build_openapi(index)
    assert "/Invoice/commands/createInvoice" in spec["paths"]


def test_problem_catalogue_is_stable() -> None:
    statuses = {k.code: k.status for k in PROBLEM_KINDS.values()}
    assert statuses["GUARD_FAILED"] == 422 and statuses["CONCURRENCY_CONFLICT"] == 409
    assert statuses["BODY_TOO_LARGE"] == 413 and statuses["POLICY_DENIED"] == 403
    assert PROBLEM_KINDS["GUARD_FAILED"].type == "urn:manifest:problem:guard-failed"


# -- SSE hub ---------------------------------------------------------------------------------------
def test_hub_fans_out_from_threads_with_filters_and_bounds() -> None:
    async def scenario() -> None:
        hub = EventHub(queue_size=3)
        hub.bind_loop(asyncio.get_running_loop())
        everything = hub.subscribe(EventFilter(tenant="a"))
        only_c1 = hub.subscribe(EventFilter(tenant="a", correlation_id="c1", entity="Item"))
        other_tenant = hub.subscribe(EventFilter(tenant="b"))

        def produce() -> None:
            for i in range(5):
                hub.publish(
                    {
                        "name": f"E{i}",
                        "correlationId": "c1" if i % 2 else "c2",
                        "subject": {"entity": "Item"},
                    },
                    tenant="a",
                )

        worker = threading.Thread(target=produce)
        worker.start()
        worker.join()
        await asyncio.sleep(0.05)
        assert [e["name"] for _, e in _drain(everything)] == ["E2", "E3", "E4"]  # oldest dropped
        assert everything.dropped == 2
        assert [e["name"] for _, e in _drain(only_c1)] == ["E1", "E3"]
        assert other_tenant.queue.empty()
        hub.unsubscribe(everything)
        assert hub.subscriber_count == 2

    asyncio.run(scenario())


def _drain(sub):  # type: ignore[no-untyped-def]
    items = []
    while not sub.queue.empty():
        items.append(sub.queue.get_nowait())
    return items


# -- trace tree ------------------------------------------------------------------------------------
def _event(name: str, ts: float, sid: str, index: int, causation: str | None, command: str) -> dict:
    event = {
        "name": name,
        "channel": name,
        "payload": {},
        "timestamp": ts,
        "emitIndex": index,
        "subject": {"entity": "Item", "command": command, "id": sid},
        "correlationId": "wf",
    }
    if causation:
        event["causationId"] = causation
    return event


def test_trace_nests_reactions_and_shows_warnings_and_overrides() -> None:
    override = {
        "name": "OverrideApplied",
        "channel": "system",
        "timestamp": 1.0,
        "payload": {"constraintCode": "lowStock", "reason": "party", "authorizedBy": "mgr"},
    }
    reserve = CommandRecord(
        "reserve",
        "Item",
        "i1",
        "ui-click",
        True,
        None,
        [override, _event("Reserved", 1.0, "i1", 0, "ui-click", "reserve")],
        [{"code": "lowStock", "severity": "warn", "passed": False, "message": "low"}],
    )
    react = CommandRecord(
        "restock",
        "Item",
        "i1",
        "Reserved",
        False,
        "Guard condition failed for command 'restock'",
        [],
        [],
        timestamp=2.0,
    )
    durable = [
        _event("Shipped", 3.0, "i2", 0, "Reserved:i1", "ship"),
        _event("Reserved", 1.0, "i1", 0, "ui-click", "reserve"),
    ]  # already known: not duplicated
    trace = build_trace("wf", [reserve, react], durable)
    data = trace.to_dict()
    assert data["commands"] == 3 and data["events"] == 3
    (root,) = trace.roots
    assert root.label == "ui-click"
    (reserve_node,) = root.children
    kinds = [c.kind for c in reserve_node.children]
    assert kinds == ["override", "event", "warning"]
    reserved_event = reserve_node.children[1]
    assert {c.label for c in reserved_event.children} == {"Item.restock (i1)", "Item.ship (i2)"}
    text = render_text(trace)
    assert "[failure] Guard condition failed" in text and "[override] lowStock by mgr: party" in text
    html = trace_page(trace)
    assert html.count('data-kind="command"') == 6  # svg node + table row per command
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_openapi_entity_named_like_a_builtin_schema() -> None:
    from manifest_lang.loading import load_ir

    ir = load_ir('entity Problem {\n  property required id: string\n  property title: string = ""\n}\n')
    spec = build_openapi(ModelIndex(ir))
    schemas = spec["components"]["schemas"]
    assert schemas["Problem"]["required"] == ["type", "title", "status", "code"]  # the RFC 9457 shape
    assert "title" in schemas["ProblemRow"]["properties"]
    get_op = spec["paths"]["/Problem/{id}"]["get"]
    assert get_op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProblemRow"
    }
