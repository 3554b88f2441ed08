"""Step-level evaluation of PRMs against human step labels (ProcessBench, PRM800K)."""
