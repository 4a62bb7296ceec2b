"""Durable approvals (fixtures 68 and 111): requests in the store, decisions over HTTP with the
approver's role checked, the command in the same transaction as the final approval, timeouts
and escalation fired by the worker, every decision an outbox event in the trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from manifest_lang import Worker
from manifest_lang.http.app import create_app

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "fixtures"
PO = (FIXTURES / "68-approval-workflow.manifest").read_text()
ESCALATE = (FIXTURES / "111-approval-escalate.manifest").read_text()
WITH_INPUT = """
entity Refund {
  property required id: string
  property amount: number = 0
  command pay(amount: number) {
    mutate amount = amount
  }
  approval payApproval {
    command: pay
    stages {
      lead {
        policy: user.role == "lead"
        required: 1
      }
    }
  }
}
"""
HOUR = 3600.0


def who(user: str, role: str) -> dict[str, str]:
    return {"X-User-Id": user, "X-User-Role": role}


def client(store: Any, model: str = PO) -> TestClient:
    return TestClient(create_app(model, store=store, auth="headers"), raise_server_exceptions=False)


def events(store: Any) -> list[dict[str, Any]]:
    if hasattr(store, "outbox_rows"):
        from manifest_lang.workflows.trace import durable_events

        return [e for e in durable_events(store, "") or []] or [
            store._decode(r[0]) for r in store._fetch(f"SELECT event FROM {store.tables.outbox} ORDER BY seq")
        ]
    return [e["event"] for e in store.outbox]


def test_approve_over_http_runs_the_command_once(store: Any) -> None:
    with client(store) as http:
        assert (
            http.post(
                "/PurchaseOrder", json={"id": "po1", "amount": 500}, headers=who("c", "clerk")
            ).status_code
            == 201
        )
        refused = http.post("/PurchaseOrder/po1/commands/submit", json={}, headers=who("c", "clerk"))
        assert refused.status_code == 409 and refused.json()["code"] == "APPROVAL_REQUIRED"
        pending = http.get("/approvals/PurchaseOrder/po1", headers=who("c", "clerk")).json()["items"]
        assert [(r["approval"], r["pendingStages"]) for r in pending] == [("submitApproval", ["manager"])]
        # A clerk is not a manager: the stage policy refuses, and nothing is recorded.
        url = "/approvals/PurchaseOrder/po1/submitApproval/stages/manager/approve"
        denied = http.post(url, headers=who("c", "clerk"))
        assert denied.status_code == 403 and denied.json()["code"] == "APPROVER_NOT_ALLOWED"
        ok = http.post(url, headers=who("m1", "manager"))
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert body["request"]["status"] == "approved" and body["result"]["success"]
        assert body["request"]["decisions"][0] | {"at": 0} == {
            "stage": "manager",
            "decision": "approved",
            "by": "m1",
            "role": "manager",
            "at": 0,
        }
        assert http.get("/PurchaseOrder/po1", headers=who("c", "clerk")).json()["status"] == "submitted"
        again = http.post(url, headers=who("m1", "manager"))
        assert again.status_code == 404 and again.json()["code"] == "APPROVAL_NOT_FOUND"
        assert http.get("/approvals/PurchaseOrder/po1", headers=who("c", "clerk")).json()["items"] == []
        names = [e["name"] for e in events(store)]
        assert names.count("OrderSubmitted") == 1
        for name in ("ApprovalRequested", "ApprovalStageApproved", "ApprovalGranted"):
            assert names.count(name) == 1, names
        # Every decision is in the trace of the request's correlation id, with the command.
        cid = body["request"]["correlationId"]
        trace = http.get(f"/trace/{cid}", headers={**who("c", "clerk"), "Accept": "application/json"}).json()
        text = str(trace)
        assert "ApprovalStageApproved" in text and "OrderSubmitted" in text


def test_two_stages_when_the_amount_is_large(store: Any) -> None:
    with client(store) as http:
        http.post("/PurchaseOrder", json={"id": "po2", "amount": 20_000}, headers=who("c", "clerk"))
        http.post("/PurchaseOrder/po2/commands/submit", json={}, headers=who("c", "clerk"))
        base = "/approvals/PurchaseOrder/po2/submitApproval/stages"
        first = http.post(f"{base}/manager/approve", headers=who("m1", "manager")).json()
        assert first["request"]["status"] == "pending" and first["request"]["pendingStages"] == ["director"]
        assert "result" not in first
        assert http.get("/PurchaseOrder/po2", headers=who("c", "clerk")).json()["status"] == "draft"
        wrong = http.post(f"{base}/manager/approve", headers=who("m2", "manager"))
        assert wrong.status_code == 409 and wrong.json()["code"] == "APPROVAL_STAGE_INVALID"
        final = http.post(f"{base}/director/approve", headers=who("d1", "director")).json()
        assert final["request"]["status"] == "approved" and final["result"]["success"]
        assert http.get("/PurchaseOrder/po2", headers=who("c", "clerk")).json()["status"] == "submitted"


def test_deny_ends_the_request(store: Any) -> None:
    with client(store) as http:
        http.post("/PurchaseOrder", json={"id": "po3"}, headers=who("c", "clerk"))
        http.post("/PurchaseOrder/po3/commands/submit", json={}, headers=who("c", "clerk"))
        clerk = http.post("/approvals/PurchaseOrder/po3/submitApproval/deny", headers=who("c", "clerk"))
        assert clerk.status_code == 403 and clerk.json()["code"] == "APPROVER_NOT_ALLOWED"
        r = http.post(
            "/approvals/PurchaseOrder/po3/submitApproval/stages/manager/deny",
            json={"reason": "no"},
            headers=who("m", "manager"),
        )
        assert r.status_code == 200 and r.json()["request"]["status"] == "denied"
        assert r.json()["request"]["decisions"][-1] | {"at": 0} == {
            "decision": "denied",
            "stage": "manager",
            "by": "m",
            "role": "manager",
            "at": 0,
            "reason": "no",
        }
        gone = http.post("/approvals/PurchaseOrder/po3/submitApproval/deny", headers=who("m", "manager"))
        assert gone.status_code == 404
        assert "ApprovalDenied" in [e["name"] for e in events(store)]
        missing = http.get("/approvals/PurchaseOrder/nope", headers=who("c", "clerk"))
        assert missing.status_code == 404


class Clock:
    def __init__(self) -> None:
        self.at = 2_000_000_000.0

    def __call__(self) -> float:
        return self.at


def test_on_timeout_cancel_is_fired_by_the_worker(store: Any) -> None:
    clock = Clock()
    now_ms = lambda: int(clock.at * 1000)  # noqa: E731
    worker = Worker(PO, store, clock=clock, engine_options={"now": now_ms})
    app = worker.services.engine({"user": {"id": "c", "role": "clerk"}}, idempotency_store=None)
    app.create_instance("PurchaseOrder", {"id": "po4"})
    assert not app.run_command("submit", {}, entity_name="PurchaseOrder", instance_id="po4").success
    assert worker.run_once() == []
    clock.at += 72 * HOUR
    [report] = worker.run_once()
    assert report.kind == "approval_timeout" and report.status == "done"
    request = store.approval_load("PurchaseOrder:po4:submitApproval")
    assert request["status"] == "expired" and request["timeoutAction"] == "cancel"
    assert "ApprovalExpired" in [e["name"] for e in events(store)]


def test_escalate_then_expire(store: Any) -> None:
    clock = Clock()
    worker = Worker(ESCALATE, store, clock=clock, engine_options={"now": lambda: int(clock.at * 1000)})
    app = worker.services.engine({"user": {"id": "c", "role": "clerk"}}, idempotency_store=None)
    app.create_instance("PurchaseOrder", {"id": "po5"})
    app.run_command("submit", {}, entity_name="PurchaseOrder", instance_id="po5")
    clock.at += 24 * HOUR
    assert [r.status for r in worker.run_once()] == ["done"]
    request = store.approval_load("PurchaseOrder:po5:submitApproval")
    assert (request["status"], request["escalatedTo"], request["escalations"]) == (
        "pending",
        "director-queue",
        1,
    )
    assert request["expiresAt"] == int(clock.at * 1000) + 48 * 3_600_000
    clock.at += 47 * HOUR
    assert worker.run_once() == []
    clock.at += 1 * HOUR
    worker.run_once()
    assert store.approval_load("PurchaseOrder:po5:submitApproval")["status"] == "expired"
    names = [e["name"] for e in events(store)]
    assert names.count("ApprovalEscalated") == 1 and names.count("ApprovalExpired") == 1


def test_the_final_approval_runs_the_command_with_the_refused_input(store: Any) -> None:
    with client(store, WITH_INPUT) as http:
        http.post("/Refund", json={"id": "r1"}, headers=who("c", "clerk"))
        refused = http.post("/Refund/r1/commands/pay", json={"amount": 42}, headers=who("c", "clerk"))
        assert refused.status_code == 409
        [request] = http.get("/approvals/Refund/r1", headers=who("c", "clerk")).json()["items"]
        assert request["input"] == {"amount": 42}
        ok = http.post("/approvals/Refund/r1/payApproval/stages/lead/approve", headers=who("l", "lead"))
        assert ok.status_code == 200 and ok.json()["result"]["success"], ok.text
        assert http.get("/Refund/r1", headers=who("c", "clerk")).json()["amount"] == 42


def test_two_final_approvals_at_once_run_the_command_once(store: Any) -> None:
    import threading

    from manifest_lang.workflows.approvals import ApprovalDecisionError, ApprovalDesk
    from manifest_lang.workflows.services import WorkServices

    services = WorkServices(PO, store)
    app = services.engine({"user": {"id": "c", "role": "clerk"}}, idempotency_store=None)
    desk = ApprovalDesk(services)
    outcomes: list[str] = []
    for round_ in range(5):
        po = f"race{round_}"
        app.create_instance("PurchaseOrder", {"id": po})
        assert not app.run_command("submit", {}, entity_name="PurchaseOrder", instance_id=po).success
        barrier = threading.Barrier(2)

        def approve(user: str, po: str = po, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                decision = desk.approve(
                    {"user": {"id": user, "role": "manager"}},
                    "PurchaseOrder",
                    po,
                    "submitApproval",
                    "manager",
                )
                outcomes.append("approved" if decision.result and decision.result["success"] else "refused")
            except ApprovalDecisionError as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=approve, args=(u,)) for u in ("m1", "m2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert app.get_instance("PurchaseOrder", po)["status"] == "submitted"
    submitted = [e for e in events(store) if e["name"] == "OrderSubmitted"]
    assert len(submitted) == 5, outcomes  # one command per request, whoever won each race
    assert outcomes.count("approved") == 5
