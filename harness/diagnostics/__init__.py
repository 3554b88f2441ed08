"""PRM diagnostics computed from stored runs (the Bellman error of a PRM on the simulator)."""
