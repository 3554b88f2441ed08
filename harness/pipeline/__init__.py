"""The run pipeline: stages over shards, the runner that orders them, executors."""
