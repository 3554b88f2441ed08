"""Code that runs inside the sandbox's child process (standard library only).

The modules here are started as a script by a possibly different Python interpreter (a
venv with a benchmark's libraries), so they import nothing from ``harness`` and keep to
Python 3.8 syntax. ``_sbx_values`` is also imported by the harness to decode results.
"""
