"""Durable async commands: enqueued in the caller's transaction, run by a worker, retried with
the command's policy, dead-lettered after the last attempt; completion events once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from manifest_lang import Worker
from manifest_lang.workflows.jobs import StoreJobQueue

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "fixtures"

ASYNC = """
entity Order {
  property required id: string
  property status: string = "pending"
  property total: number = 0
  property version: number = 1
  versionProperty version

  async command processOrder(amount: number) {
    guard self.status == "pending"
    mutate status = "processing"
    mutate total = amount
    emit OrderProcessed
  }

  async command reprice(expected: number, amount: number) {
    retry {
      maxAttempts: 3
      backoff: exponential
      delay: 1000
      maxDelay: 1500
      retryOn: "CONCURRENCY_CONFLICT"
    }
    mutate version = expected
    mutate total = amount
  }
}

event OrderProcessed: "order.processed" {
  orderId: string
  total: number
}
"""


class Clock:
    def __init__(self, at: float = 2_000_000_000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def setup(store: Any, clock: Clock | None = None) -> tuple[Worker, Any]:
    worker = Worker(ASYNC, store, clock=clock or Clock())
    app = worker.services.engine({"user": {"id": "u1", "role": "clerk"}}, idempotency_store=None)
    app.create_instance("Order", {"id": "o1"})
    return worker, app


def outbox_names(store: Any) -> list[str]:
    if hasattr(store, "outbox_rows"):
        rows = store.outbox_rows("pending", 1000)
        return [r["name"] for r in rows]
    return [e["event"]["name"] for e in store.outbox]


def test_an_async_command_enqueues_and_a_worker_runs_it_once(store: Any) -> None:
    worker, app = setup(store)
    result = app.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    assert result.success and result.result["status"] == "pending"
    job_id = result.result["jobId"]
    assert app.get_instance("Order", "o1")["status"] == "pending"  # nothing ran yet
    assert StoreJobQueue(store).get(job_id)["status"] == "pending"
    [report] = worker.run_once()
    assert (report.id, report.status) == (job_id, "done")
    assert app.get_instance("Order", "o1")["total"] == 5
    view = StoreJobQueue(store).get(job_id)
    assert view["status"] == "completed" and view["attempts"] == 1
    assert outbox_names(store).count("processOrderCompleted") == 1
    assert outbox_names(store).count("OrderProcessed") == 1
    assert worker.run_once() == []


def test_the_job_runs_as_the_caller(store: Any) -> None:
    worker, app = setup(store)
    job_id = app.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1").result[
        "jobId"
    ]
    item = store.get_work(job_id)
    assert item.payload["context"]["user"] == {"id": "u1", "role": "clerk"}


def test_a_guard_failure_ends_the_job_failed_with_the_failure_event(store: Any) -> None:
    worker, app = setup(store)
    first = app.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    second = app.run_command("processOrder", {"amount": 7}, entity_name="Order", instance_id="o1")
    reports = worker.run_once()
    assert [r.status for r in reports] == ["done", "failed"]
    assert StoreJobQueue(store).get(second.result["jobId"])["status"] == "failed"
    assert StoreJobQueue(store).get(first.result["jobId"])["status"] == "completed"
    assert outbox_names(store).count("processOrderFailed") == 1
    assert app.get_instance("Order", "o1")["total"] == 5


def test_retry_policy_backs_off_then_dead_letters(store: Any) -> None:
    clock = Clock()
    worker, app = setup(store, clock)
    job_id = app.run_command(
        "reprice", {"expected": 7, "amount": 9}, entity_name="Order", instance_id="o1"
    ).result["jobId"]
    [r1] = worker.run_once()
    item = store.get_work(job_id)
    assert r1.status == "pending" and item.due_at == clock.at + 1.0  # delay 1000 ms
    assert item.last_error.startswith("CONCURRENCY_CONFLICT")
    assert worker.run_once() == []  # not due yet
    clock.at += 1.0
    [r2] = worker.run_once()
    assert r2.status == "pending" and store.get_work(job_id).due_at == clock.at + 1.5  # 2000 capped at 1500
    clock.at += 1.5
    [r3] = worker.run_once()
    assert r3.status == "dead" and r3.attempt == 3
    assert StoreJobQueue(store).get(job_id)["status"] == "dead"
    assert outbox_names(store).count("repriceFailed") == 1
    assert store.work_counts()["job"]["dead"] == 1


def test_a_retry_that_succeeds(store: Any) -> None:
    clock = Clock()
    worker, app = setup(store, clock)
    job_id = app.run_command(
        "reprice", {"expected": 2, "amount": 9}, entity_name="Order", instance_id="o1"
    ).result["jobId"]
    assert worker.run_once()[0].status == "pending"
    app.update_instance("Order", "o1", {"total": 1})  # bumps the version to the one expected
    clock.at += 1.0
    assert worker.run_once()[0].status == "done"
    assert app.get_instance("Order", "o1")["total"] == 9
    assert StoreJobQueue(store).get(job_id)["attempts"] == 2


def test_a_rerun_after_a_crash_applies_once(store: Any) -> None:
    """The worker dies after the command committed but before the job finished: the item is
    taken over and the command answers from its idempotency record."""
    clock = Clock()
    worker, app = setup(store, clock)
    job_id = app.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1").result[
        "jobId"
    ]
    [item] = store.claim_work("dead-worker", kinds=["job"], limit=1, lease_seconds=1, now=clock.at)
    from manifest_lang.workflows.jobs import run_job
    from manifest_lang.workflows.worker import ItemRun

    run_job(ItemRun(item, worker, clock.at))  # the command commits; the finish never happens
    assert app.get_instance("Order", "o1")["status"] == "processing"
    clock.at += 5
    [report] = worker.run_once()
    assert report.status == "done" and report.attempt == 2  # answered from the record, not a guard failure
    assert StoreJobQueue(store).get(job_id)["status"] == "completed"
    assert outbox_names(store).count("OrderProcessed") == 1


def test_a_repeated_request_with_one_idempotency_key_enqueues_once(store: Any) -> None:
    from manifest_lang.workflows.services import work_idempotency

    worker, _ = setup(store)
    app = worker.services.engine({}, idempotency_store=work_idempotency(store))
    first = app.run_command(
        "processOrder", {"amount": 5}, entity_name="Order", instance_id="o1", idempotency_key="k"
    )
    again = app.run_command(
        "processOrder", {"amount": 5}, entity_name="Order", instance_id="o1", idempotency_key="k"
    )
    assert first.result["jobId"] == again.result["jobId"]
    assert len(store.list_work(kind="job")) == 1


def test_fixture_69_runs_through_the_worker(store: Any) -> None:
    source = (FIXTURES / "69-async-commands.manifest").read_text()
    worker = Worker(source, store)
    app = worker.services.engine({}, idempotency_store=None)
    app.create_instance("Order", {"id": "o1"})
    job = app.run_command("processOrder", {"amount": 42}, entity_name="Order", instance_id="o1")
    assert job.success and worker.run_once()[0].status == "done"
    assert app.get_instance("Order", "o1") == {"id": "o1", "status": "processing", "total": 42}


def test_a_worker_that_lost_its_lease_applies_nothing(store: Any) -> None:
    """The stalled worker runs the command after its item was taken over: on the SQL stores the
    job's finish is in the command's transaction, fenced by the lease, so the command rolls
    back; in memory it applies and the new holder answers from the record. Either way: once."""
    from manifest_lang.workflows.jobs import run_job
    from manifest_lang.workflows.worker import ItemRun

    clock = Clock()
    worker, app = setup(store, clock)
    app.run_command("processOrder", {"amount": 5}, entity_name="Order", instance_id="o1")
    [stale] = store.claim_work("w-old", kinds=["job"], limit=1, lease_seconds=1, now=clock.at)
    store.reap_work(now=clock.at + 2)
    [fresh] = store.claim_work("w-new", kinds=["job"], limit=1, lease_seconds=30, now=clock.at + 2)
    try:
        run_job(ItemRun(stale, worker, clock.at, "w-old"))
    except Exception as exc:
        assert "no longer held" in str(exc)
    outcome = run_job(ItemRun(fresh, worker, clock.at + 2, "w-new"))
    if not outcome.committed:
        assert store.finish_work(fresh, "w-new", outcome, now=clock.at + 3)
    assert store.get_work(fresh.id).status == "done"
    assert app.get_instance("Order", "o1")["total"] == 5
    assert outbox_names(store).count("OrderProcessed") == 1
    assert outbox_names(store).count("processOrderCompleted") == 1
