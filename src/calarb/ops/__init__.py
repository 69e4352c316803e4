"""calarb.ops: operating the engine: latency recorder (metrics, dashboard and alerts later)."""
