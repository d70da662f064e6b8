"""Live robot logs: Redis pub/sub helpers and the SSE stream."""
