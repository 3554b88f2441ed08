"""Plain-typed JSON encoding of Python values that crosses the sandbox boundary.

The child encodes what a program returned; the harness decodes it into fresh objects of
the same plain types and compares those, so a program cannot smuggle in an object whose
``__eq__`` lies. Only exact built-in types (and numpy scalars/arrays, and a few
``collections`` containers) encode as themselves; anything else, including a subclass of
``int`` or ``list``, becomes an opaque ``unsupported`` marker that equals nothing.

JSON arrays are lists; every other non-JSON-native value is an object with a ``$`` tag.
"""

import json
import math
import sys

MAX_DEPTH = 200


class Unsupported:
    """A value the child could not encode faithfully; never equal to anything."""

    __slots__ = ("type_name",)

    def __init__(self, type_name):
        self.type_name = type_name

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<unsupported {self.type_name}>"


def _float(x):
    if math.isfinite(x):
        return x
    return {"$": "float", "v": repr(x)}


def _numpy_types():
    np = sys.modules.get("numpy")
    if np is None:
        return None, None
    return np, (np.generic, np.ndarray)


def encode(value, depth=0):
    """A JSON-able tree for ``value``; see the module docstring."""
    if depth > MAX_DEPTH:
        return {"$": "unsupported", "type": "too-deep"}
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return _float(value)
    d = depth + 1
    if t is list:
        return [encode(v, d) for v in list.__iter__(value)]
    if t is tuple:
        return {"$": "tuple", "v": [encode(v, d) for v in tuple.__iter__(value)]}
    if t is dict:
        return {"$": "dict", "v": [[encode(k, d), encode(v, d)] for k, v in dict.items(value)]}
    if t is set or t is frozenset:
        return {"$": t.__name__, "v": [encode(v, d) for v in t.__iter__(value)]}
    if t is complex:
        return {"$": "complex", "v": [_float(value.real), _float(value.imag)]}
    if t is bytes:
        return {"$": "bytes", "v": value.hex()}
    collections = sys.modules.get("collections")
    if collections is not None:
        if t is collections.OrderedDict or t is collections.defaultdict \
                or t is collections.Counter:
            items = [[encode(k, d), encode(v, d)] for k, v in dict.items(value)]
            return {"$": t.__name__, "v": items}
        if t is collections.deque:
            return {"$": "deque", "v": [encode(v, d) for v in list(value)]}
    np, np_types = _numpy_types()
    if np is not None and isinstance(value, np_types) and t.__module__ == "numpy":
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufcU?":
                return {"$": "unsupported", "type": f"numpy.ndarray[{value.dtype}]"}
            return {"$": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape),
                    "v": encode(value.tolist(), d)}
        if value.dtype.kind in "biufc?":
            return {"$": "np", "dtype": str(value.dtype), "v": encode(value.item(), d)}
    return {"$": "unsupported", "type": f"{t.__module__}.{t.__qualname__}"}


def dumps(value):
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def _decode_float(text):
    if text not in ("nan", "inf", "-inf"):
        raise ValueError(f"bad float tag {text!r}")
    return float(text)


def decode(tree):
    """The Python value for an encoded tree (trusted side: the harness or the child's
    own inputs). Unknown tags raise ValueError."""
    if tree is None or isinstance(tree, (bool, int, str, float)):
        return tree
    if isinstance(tree, list):
        return [decode(v) for v in tree]
    if not isinstance(tree, dict):
        raise ValueError(f"not an encoded value: {type(tree).__name__!r}")
    tag = tree.get("$")
    v = tree.get("v")
    if tag == "float":
        return _decode_float(v)
    if tag == "tuple":
        return tuple(decode(x) for x in v)
    if tag == "dict":
        return {decode(k): decode(x) for k, x in v}
    if tag == "set":
        return {decode(x) for x in v}
    if tag == "frozenset":
        return frozenset(decode(x) for x in v)
    if tag == "complex":
        return complex(decode(v[0]), decode(v[1]))
    if tag == "bytes":
        return bytes.fromhex(v)
    if tag in ("OrderedDict", "defaultdict", "Counter", "deque"):
        import collections
        if tag == "deque":
            return collections.deque(decode(x) for x in v)
        pairs = [(decode(k), decode(x)) for k, x in v]
        if tag == "defaultdict":
            out = collections.defaultdict(None)
            out.update(pairs)
            return out
        return getattr(collections, tag)(pairs)
    if tag == "np":
        import numpy
        return numpy.dtype(tree["dtype"]).type(decode(v))
    if tag == "ndarray":
        import numpy
        data = decode(v)
        return numpy.array(data, dtype=tree["dtype"]).reshape(tree["shape"])
    if tag == "unsupported":
        return Unsupported(str(tree.get("type")))
    raise ValueError(f"unknown value tag {tag!r}")
