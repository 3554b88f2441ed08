"""Task adapters, one module per benchmark (installed as ``harness.tasks``)."""
