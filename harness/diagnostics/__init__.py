"""PRM diagnostics computed from stored runs: Bellman error, calibration."""
