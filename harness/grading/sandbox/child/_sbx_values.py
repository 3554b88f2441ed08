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
# JSON renders ints in decimal, which Python limits to 4300 digits; beyond this size an
# int travels as hex (linear time both ways).
BIG_INT_BITS = 12000


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


_BIG = 1 << BIG_INT_BITS
_SIMPLE = frozenset({str, bool, type(None)})


def _all_simple(items):
    """True when every item of a list is a str, bool, None, a JSON-sized int or a finite
    float (the common case of long outputs, copied without per-item encoding)."""
    simple = _SIMPLE
    big = _BIG
    for v in list.__iter__(items):
        t = type(v)
        if t is int:
            if not -big < v < big:
                return False
        elif t is float:
            if v - v != 0:  # inf or nan
                return False
        elif t not in simple:
            return False
    return True


class Digest:
    """Stands for an output too large to ship (``DIGEST_ITEMS`` items or more): equal
    only to a Digest of the same canonical content."""

    __slots__ = ("hex", "n")

    def __init__(self, hex_digest, n):
        self.hex = hex_digest
        self.n = n

    def __eq__(self, other):
        return type(other) is Digest and other.hex == self.hex

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        return f"<digest of {self.n} items {self.hex[:12]}>"


DIGEST_ITEMS = 200000


def digest_tree(value):
    """A tagged tree holding the sha256 of ``value``'s items' reprs (plain types have a
    canonical repr; a program's own objects only fool a digest it could not know)."""
    import hashlib
    h = hashlib.sha256(type(value).__name__.encode())
    items = list(value)
    for start in range(0, len(items), 4096):  # repr of a slice runs at C speed
        h.update(repr(items[start:start + 4096])[1:-1].encode("utf-8", "surrogatepass"))
        h.update(b",")
    return {"$": "digest", "v": h.hexdigest(), "n": len(value)}


def encode_output(value):
    """``encode`` for a program's return value. A very long list or tuple of containers
    (whose tagged tree would take gigabytes) travels as a digest, compared for exact
    equality only; long lists of plain scalars, floats included, travel as values."""
    t = type(value)
    if (t is list or t is tuple) and len(value) >= DIGEST_ITEMS \
            and not (t is list and _all_simple(value)):
        return digest_tree(value)
    return encode(value)


_DIGEST_ITEM_TYPES = frozenset({int, str, float, bool, type(None)})


def _normal_item(x):
    """A list item as Python's ``==`` sees it: bools and integral floats are ints."""
    t = type(x)
    if t is float:
        if x - x != 0:
            raise ValueError("not finite")
        return int(x) if x.is_integer() else x
    if t is bool:
        return int(x)
    return x


def output_digest(value):
    """sha256 of a canonical text for ``value`` such that, for two plain values, equal
    digests mean ``a == b`` and ``a == b`` means equal digests; None for a value outside
    what it covers (then it travels as itself). Covers strs, ints and flat lists of
    ints, floats (finite), bools, strs and None: the shape of the very long outputs some
    tasks expect (megabytes each), which as digests need not be encoded, shipped, decoded
    and compared item by item."""
    import hashlib
    t = type(value)
    try:
        if t is str:
            text = "s" + value
        elif t is int:
            text = "i" + hex(value)
        elif t is list:
            types = set(map(type, value))
            if not types <= _DIGEST_ITEM_TYPES:
                return None
            if float in types or bool in types:
                value = list(map(_normal_item, value))
            text = "l" + repr(value)
        else:
            return None
    except ValueError:  # a non-finite float, or an int past str()'s digit limit
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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
    if t is int and value.bit_length() > BIG_INT_BITS:
        return {"$": "int", "v": hex(value)}
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return _float(value)
    d = depth + 1
    if t is list:
        if _all_simple(value):
            return list(value)
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


def tag_hook(obj):
    """``json.loads`` object_hook: turns a tagged object (whose contents are already
    decoded) into its value; other objects (a result frame's own structure) pass through.
    Unknown tags raise ValueError."""
    if "$" not in obj:
        return obj
    tag = obj["$"]
    v = obj.get("v")
    if tag == "tuple":
        return tuple(v)
    if tag == "dict":
        return {k: x for k, x in v}
    if tag == "set":
        return set(v)
    if tag == "frozenset":
        return frozenset(v)
    if tag == "float":
        return _decode_float(v)
    if tag == "int":
        return int(v, 16)
    if tag == "complex":
        return complex(v[0], v[1])
    if tag == "bytes":
        return bytes.fromhex(v)
    if tag in ("OrderedDict", "defaultdict", "Counter", "deque"):
        import collections
        if tag == "deque":
            return collections.deque(v)
        if tag == "defaultdict":
            out = collections.defaultdict(None)
            out.update((k, x) for k, x in v)
            return out
        # from a mapping: Counter(iterable) would count the pairs themselves
        return getattr(collections, tag)(dict((k, x) for k, x in v))
    if tag == "np":
        import numpy
        return numpy.dtype(obj["dtype"]).type(v)
    if tag == "ndarray":
        import numpy
        return numpy.array(v, dtype=obj["dtype"]).reshape(obj["shape"])
    if tag == "unsupported":
        return Unsupported(str(obj.get("type")))
    if tag == "digest":
        return Digest(str(v), int(obj.get("n", 0)))
    raise ValueError(f"unknown value tag {tag!r}")


def loads(text):
    """Decode JSON text holding encoded values (at any depth) into Python values."""
    return json.loads(text, object_hook=tag_hook)


def decode(tree):
    """The Python value for an already-parsed encoded tree."""
    if isinstance(tree, list):
        return [decode(v) for v in tree]
    if isinstance(tree, dict):
        return tag_hook({k: decode(v) for k, v in tree.items()})
    return tree
