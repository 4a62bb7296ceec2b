"""Features above one engine: the factory, the journal and its replay, sagas, event-log queries,
telemetry hooks and the causal trace. They use the runtime's public surface only (docs/architecture.md)."""
