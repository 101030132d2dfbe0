"""Engine: the per-host pipeline and the runners that call it with bounded concurrency."""
