"""prm-harness: measure what a process reward model buys in test-time scaling.

Importing this package must stay cheap: no torch, no transformers, no vLLM. Heavy
back-ends are imported inside the functions that need them.
"""

__version__ = "0.1.0"
