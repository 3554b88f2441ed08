"""Read a pickle that holds one plain string, without running pickle.

LiveCodeBench ships private tests as base64(zlib(pickle(json_text))). ``pickle.loads`` on
downloaded bytes can run arbitrary code, so this walks the opcode stream with
``pickletools.genops`` (which only parses) and accepts nothing but a string pushed once,
memo bookkeeping and framing.
"""

from __future__ import annotations

import base64
import binascii
import pickletools
import zlib

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
_HARMLESS_OPS = {"PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"}


class UnsafePickle(ValueError):
    """The bytes are not a pickle of a single string."""


def pickled_string(data: bytes) -> str:
    """The string a pickle of a single ``str`` holds; anything else is UnsafePickle."""
    value: str | None = None
    stopped = False
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if stopped:
                raise UnsafePickle("data after STOP")
            name = opcode.name
            if name in _STRING_OPS:
                if value is not None:
                    raise UnsafePickle("more than one value")
                value = arg
            elif name == "STOP":
                stopped = True
            elif name not in _HARMLESS_OPS:
                raise UnsafePickle(f"opcode {name} is not allowed")
    except UnsafePickle:
        raise
    except Exception as exc:  # pickletools raises ValueError and friends on bad bytes
        raise UnsafePickle(f"malformed pickle: {exc}") from None
    if not stopped or not isinstance(value, str):
        raise UnsafePickle("no string value")
    return value


def decode_compressed_tests(text: str) -> str:
    """base64 -> zlib -> pickle(str) -> the JSON text inside."""
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except (binascii.Error, zlib.error, UnicodeEncodeError, ValueError) as exc:
        raise UnsafePickle(f"not base64+zlib: {exc}") from None
    return pickled_string(raw)
