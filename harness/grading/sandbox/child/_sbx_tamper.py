"""What a BigCodeBench program must not change in its test process, and the check.

``snapshot()`` records, before the program runs, every attribute of the unittest modules,
of the classes they define, of the sandbox's own child modules, ``builtins`` and a few
process-level functions (``sys.exit``, ``os._exit``, ``atexit``...), with the code objects
of the functions among them. ``changed`` compares the live objects with it and names what
differs, including attributes added to those classes and functions whose code was swapped.
It uses only what it is passed, so patched builtins or module globals cannot blind it; it
is a defence against Python-level tampering, not against a program that rewrites the
interpreter's memory (ctypes).
"""

import builtins
import operator
import sys
import types

_WATCHED_MODULES = ("unittest", "unittest.case", "unittest.suite", "unittest.result",
                    "unittest.loader", "unittest.util", "unittest.signals", "unittest.runner",
                    "unittest.main", "unittest.async_case", "builtins", "atexit",
                    "_sbx_unittest", "_sbx_tamper", "_sbx_wire", "_sbx_io", "_sbx_job",
                    "_sbx_values")
_PROCESS_MODULES = ("builtins", "atexit")
_WATCHED_ATTRS = {"sys": ("exit", "excepthook", "_getframe", "settrace", "setprofile",
                          "modules"),
                  "os": ("_exit", "write", "close", "dup2", "fork")}
_IGNORED = {"builtins": ("exit", "quit", "_")}
MISSING = object()
_code_of = operator.attrgetter("__code__")


def _code(value):
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    return value.__code__ if isinstance(value, types.FunctionType) else None


def _entries(label, mapping, keys, out):
    ignored = _IGNORED.get(label, ())
    for key in keys:
        if key in ignored or key not in mapping:
            continue
        value = mapping[key]
        out.append((f"{label}.{key}", mapping, key, value, _code(value)))


def snapshot(process):
    """(entries, class key sets): what ``changed`` compares against. ``process``: also
    builtins and the process-level functions (which a test may patch for its duration)."""
    entries, keysets = [], []
    for name in _WATCHED_MODULES:
        module = sys.modules.get(name)
        if not process and name in _PROCESS_MODULES:
            continue
        if module is None:
            continue
        mapping = module.__dict__
        _entries(name, mapping, list(mapping), entries)
        for key, value in list(mapping.items()):
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                label = f"{name}.{key}"
                _entries(label, value.__dict__, list(value.__dict__), entries)
                keysets.append((label, value.__dict__, frozenset(value.__dict__)))
    for name, keys in _WATCHED_ATTRS.items() if process else ():
        _entries(name, sys.modules[name].__dict__, keys, entries)
    return tuple(entries), tuple(keysets)


def changed(entries, keysets, missing, code_of, is_function):
    """Labels of what differs from the snapshot. Touches nothing but its arguments."""
    out = []
    for label, mapping, key, value, code in entries:
        now = mapping.get(key, missing)
        if now is not value:
            out.append(label)
        elif code is not None and is_function(now) and code_of(now) is not code:
            out.append(label + ".__code__")
    for label, mapping, keys in keysets:
        for key in mapping:
            if key not in keys:
                out.append(f"{label}.{key} (added)")
    return out


def checker(process):
    """A function that runs ``changed`` on a snapshot, built from objects taken now (so a
    later patch of this module, its globals or builtins does not reach it)."""
    fresh = types.FunctionType(changed.__code__, {"__builtins__": builtins.__dict__.copy()})
    state = snapshot(process)
    function_type = types.FunctionType

    def is_function(value):
        return type(value) is function_type

    def check():
        return fresh(state[0], state[1], MISSING, _code_of, is_function)
    return check
