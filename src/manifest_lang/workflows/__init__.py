"""Features above one engine: the factory, the journal and its replay, sagas, event-log queries,
telemetry hooks, the causal trace, and the durable work (worker, jobs, schedules, approvals, shared
rate limits). They use the runtime's public surface only (docs/architecture.md)."""
