"""Async commands over HTTP: 202 with the job id and ``Location: /jobs/{id}``; ``GET /jobs/{id}``
shows status, attempts and the result; another tenant's job is not found."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from manifest_lang.http.app import create_app

MODEL = """
entity Order {
  property required id: string
  property tenantId: string = ""
  property status: string = "pending"
  property total: number = 0
  async command processOrder(amount: number) {
    guard self.status == "pending"
    mutate status = "processing"
    mutate total = amount
  }
}
"""


def headers(tenant: str = "t1") -> dict[str, str]:
    return {"X-User-Id": "u1", "X-User-Role": "clerk", "X-Tenant-Id": tenant}


def test_async_command_answers_202_and_the_worker_finishes_it(store: Any) -> None:
    app = create_app(
        MODEL, store=store, auth="headers", with_worker=True, worker_options={"poll_interval": 0.05}
    )
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.post("/Order", json={"id": "o1"}, headers=headers()).status_code == 201
        response = http.post(
            "/Order/o1/commands/processOrder",
            json={"amount": 12},
            headers={**headers(), "Idempotency-Key": "k1"},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["result"]["jobId"]
        assert response.headers["location"] == f"/jobs/{job_id}"
        again = http.post(
            "/Order/o1/commands/processOrder",
            json={"amount": 12},
            headers={**headers(), "Idempotency-Key": "k1"},
        )
        assert again.status_code == 202 and again.json()["result"]["jobId"] == job_id
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            job = http.get(f"/jobs/{job_id}", headers=headers()).json()
            if job["status"] == "completed":
                break
            time.sleep(0.05)
        assert job["status"] == "completed" and job["attempts"] == 1 and job["commandName"] == "processOrder"
        assert http.get("/Order/o1", headers=headers()).json()["total"] == 12
        other = http.get(f"/jobs/{job_id}", headers=headers("t2"))
        assert other.status_code == 404 and other.json()["code"] == "JOB_NOT_FOUND"
        assert http.get("/jobs/nope", headers=headers()).status_code == 404
        assert len(store.list_work(kind="job")) == 1  # one key, one job
