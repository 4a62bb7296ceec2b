"""Features above one engine: durable sagas (this branch; more arrive with the layout of issue 13)."""
