"""Features above one engine: durable work (worker, jobs, schedules, approvals), ..."""
