"""Approvals, async commands with the job queue, retry policies and schedules."""

from __future__ import annotations

import pytest

from manifest_lang.expr.budget import EvaluationLimits
from manifest_lang.runtime.jobs import MemoryJobQueue

from .helpers import make_engine
from .test_reactions import engine_for


def test_approval_gate_until_every_required_stage_approves() -> None:
    engine = engine_for("68-approval-workflow")
    engine.create_instance("PurchaseOrder", {"id": "po1", "amount": 20000})
    blocked = engine.run_command("submit", {}, entity_name="PurchaseOrder", instance_id="po1")
    assert blocked.error == "Command 'submit' requires approval 'submitApproval'"
    assert blocked.approval_required == {
        "approvalName": "submitApproval",
        "pendingStages": ["manager", "director"],
        "requestKey": "PurchaseOrder:po1:submitApproval",
    }
    with pytest.raises(ValueError):
        engine.approve_stage(
            "PurchaseOrder", "po1", "submitApproval", "manager", {"id": "u", "role": "clerk"}
        )
    engine.approve_stage("PurchaseOrder", "po1", "submitApproval", "manager", {"id": "m", "role": "manager"})
    still = engine.run_command("submit", {}, entity_name="PurchaseOrder", instance_id="po1")
    assert still.approval_required is not None and still.approval_required["pendingStages"] == ["director"]
    engine.approve_stage(
        "PurchaseOrder", "po1", "submitApproval", "director", {"id": "d", "role": "director"}
    )
    done = engine.run_command("submit", {}, entity_name="PurchaseOrder", instance_id="po1")
    assert done.success and engine.get_instance("PurchaseOrder", "po1")["status"] == "submitted"
    # The grant was consumed by that execution.
    assert engine.get_approval_request("PurchaseOrder", "po1", "submitApproval") is None


def test_small_orders_need_only_the_manager_and_requests_expire() -> None:
    engine = engine_for("68-approval-workflow")
    engine.create_instance("PurchaseOrder", {"id": "po2", "amount": 50})
    blocked = engine.run_command("submit", {}, entity_name="PurchaseOrder", instance_id="po2")
    assert blocked.approval_required["pendingStages"] == ["manager"]  # type: ignore[index]
    request = engine.get_approval_request("PurchaseOrder", "po2", "submitApproval")
    assert request is not None and request["expiresAt"] == 1 + 72 * 3_600_000
    assert engine.expire_approvals(now=10**12) == ["PurchaseOrder:po2:submitApproval"]
    denied = engine.deny_approval("PurchaseOrder", "po2", "submitApproval", "boss", "no budget")
    assert denied["status"] == "denied"


def test_async_command_is_validated_enqueued_then_drained() -> None:
    engine = engine_for("69-async-commands")
    engine.create_instance("Order", {"id": "o1"})
    missing = engine.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    assert missing.error is not None and missing.error.startswith("MISSING_JOB_QUEUE")
    engine.job_queue = MemoryJobQueue()
    queued = engine.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    assert queued.success and queued.result["status"] == "pending"
    assert engine.get_instance("Order", "o1")["status"] == "pending"  # not executed yet
    [done] = engine.drain_jobs()
    assert done.success
    assert [e.name for e in done.emitted_events] == ["OrderProcessed", "processOrderCompleted"]
    order = engine.get_instance("Order", "o1")
    assert order is not None and (order["status"], order["total"]) == ("processing", 5)
    assert engine.job_queue.jobs()[0]["status"] == "completed"
    refused = engine.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    assert refused.guard_failure is not None  # validated before enqueueing
    assert engine.drain_jobs() == []


RETRY = """
entity Doc {
  property required id: string
  property version: number = 1
  property body: string = ""
  versionProperty version
  command edit(expected: number, body: string) {
    retry {
      maxAttempts: 3
      backoff: exponential
      delay: 100
      retryOn: "CONCURRENCY_CONFLICT"
    }
    mutate version = expected
    mutate body = body
  }
}
store Doc in memory
"""


def test_an_async_command_whose_checks_overrun_the_budget_fails_cleanly() -> None:
    engine = engine_for("69-async-commands")
    engine.limits = EvaluationLimits(max_expression_depth=64, max_evaluation_steps=1)
    engine.job_queue = MemoryJobQueue()
    engine.create_instance("Order", {"id": "o1"})
    result = engine.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    assert not result.success and result.error == "Evaluation budget exceeded: steps limit 1 reached"
    assert engine.job_queue.jobs() == []


def test_retry_policy_reports_attempts_and_delays() -> None:
    slept: list[float] = []
    engine = make_engine(RETRY, sleep=slept.append)
    created = engine.create_instance("Doc", {"id": "d1"})
    assert created is not None
    stale = engine.run_command("edit", {"expected": 7, "body": "x"}, entity_name="Doc", instance_id="d1")
    assert not stale.success and stale.concurrency_conflict is not None
    assert stale.retry == {
        "attempts": 3,
        "exhausted": True,
        "delaysMs": [100.0, 200.0],
        "lastErrorCode": "CONCURRENCY_CONFLICT",
    }
    assert slept == [100.0, 200.0]
    fresh = engine.run_command("edit", {"expected": 1, "body": "y"}, entity_name="Doc", instance_id="d1")
    assert fresh.success and fresh.retry == {"attempts": 1, "exhausted": False, "delaysMs": []}


def test_schedules_run_their_command_with_evaluated_params() -> None:
    engine = engine_for("76-scheduled-commands")
    assert [s["name"] for s in engine.get_schedules()][:2] == ["dailyBackup", "frequentCleanup"]
    result = engine.run_schedule("morningDigest", correlation_id="sched-1")
    assert result.success and result.correlation_id == "sched-1"
    assert "source" not in engine.get_context()
    assert engine.run_schedule("nope").error == "Schedule 'nope' not found"
