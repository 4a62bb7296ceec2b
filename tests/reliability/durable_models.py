"""Models and a load process for the durable-work reliability tests.

    python durable_models.py ratelimit --db URL --count N --start-at T
runs ``limited`` commands as fast as it can and prints how many were admitted.
"""

from __future__ import annotations

import argparse
import sys
import time

JOBS = """
entity Account {
  property required id: string
  property applied: number = 0
  async command apply(n: number) {
    mutate applied = self.applied + 1
    emit Applied
  }
}
event Applied: "applied" { n: number }
"""

TICKS = """
event Ticked: "tick" { at: number }
command tick(at: number) {
  emit Ticked
}
schedule everySecond interval "1s" run tick(at: now())
"""

LIMITED = """
event Sent: "sent" { n: number }
command limited(n: number) {
  rateLimit {
    maxRequests: 50
    windowMs: 60000
    scope: global
  }
  emit Sent
}
"""

APPROVAL = """
entity PurchaseOrder {
  property required id: string
  property amount: number = 0
  property status: string = "draft"
  property submissions: number = 0
  command submit() {
    mutate status = "submitted"
    mutate submissions = self.submissions + 1
    emit OrderSubmitted
  }
  approval submitApproval {
    command: submit
    stages {
      manager {
        policy: user.role == "manager"
        required: 1
      }
    }
  }
}
event OrderSubmitted: "order.submitted" { orderId: string }
"""


def ratelimit(db: str, count: int, start_at: float) -> None:
    from manifest_lang.stores.urls import open_store
    from manifest_lang.workflows.services import WorkServices

    store = open_store(db)
    services = WorkServices(LIMITED, store)
    while time.time() < start_at:
        time.sleep(0.005)
    admitted = denied = 0
    for n in range(count):
        engine = services.engine({"user": {"id": "u"}}, idempotency_store=None)
        result = engine.run_command("limited", {"n": n})
        if result.success:
            admitted += 1
        elif result.rate_limit_denial is not None:
            denied += 1
        else:
            print(f"unexpected: {result.error}", file=sys.stderr)
    print(f"{admitted} {denied}")
    store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ratelimit"])
    p.add_argument("--db", required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--start-at", type=float, default=0.0)
    a = p.parse_args()
    ratelimit(a.db, a.count, a.start_at)
