"""What of the sandbox interpreter can decide a verdict: its version and its libraries.

A program's verdict depends on the interpreter it runs in (HumanEval/50 passes or fails
with pandas present or not), not on where that interpreter lives. ``describe`` asks the
interpreter itself (``python -I``, as the slots run it) once per process.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from typing import Any

from harness.grading.sandbox.errors import SandboxError
from harness.store.keys import key_of

_PROBE = """
import importlib.metadata as md, json, platform, sys
names = json.loads(sys.argv[1])
dists = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name:
        dists[name.lower().replace("_", "-")] = dist.version
tops = md.packages_distributions()
modules = {}
for module in names:
    owners = sorted(set(tops.get(module, [])))
    modules[module] = {o.lower().replace("_", "-"): md.version(o) for o in owners} or None
print(json.dumps({"implementation": sys.implementation.name,
                  "version": platform.python_version(),
                  "distributions": dict(sorted(dists.items())), "modules": modules}))
"""


@cache
def describe(python: str, modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """The interpreter's implementation and version, every installed distribution's
    version, and the distribution versions behind ``modules`` (None: not installed)."""
    try:
        out = subprocess.run([python, "-I", "-c", _PROBE, json.dumps(list(modules))],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        return dict(json.loads(out))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise SandboxError(f"cannot describe the sandbox interpreter {python}: {exc}") from None


def verdict_identity(python: str, modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """The part of ``describe`` that goes into cache keys: version, the modules' library
    versions, and one digest of all installed libraries (any of them a program may
    import). Not the interpreter's path."""
    facts = describe(python, modules)
    return {"implementation": facts["implementation"], "version": facts["version"],
            "modules": facts["modules"],
            "libraries_sha256": key_of(facts["distributions"])}
