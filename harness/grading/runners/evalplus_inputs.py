"""MBPP+ stores some inputs in JSON-friendly form; evalplus turns them back into the
tuples, sets and complex numbers the functions expect before calling them. This module
applies the same conversions (which tasks get which conversion is a property of the
released dataset files)."""

from __future__ import annotations

from typing import Any

# task number -> conversion applied to each input (a list of positional arguments)
_ARGS_TO_TUPLES = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579,
                   596, 616, 630, 726, 740, 744, 809}
_NESTED_LISTS_TO_TUPLES = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614,
                           780}
_FIRST_ARG_ITEMS_TO_TUPLES = {75, 413, 444, 753}
_SECOND_ARG_TO_TUPLE = {106, 750}
_FIRST_ARG_TO_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_NESTED_THEN_ARGS_TO_TUPLES = {259, 401, 445}
_ALL_LISTS_TO_TUPLES = {580, 615, 791}


def _deep_tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_deep_tuple(v) for v in value)
    return value


def _convert(number: int, args: Any) -> Any:
    if number in _ARGS_TO_TUPLES:
        return [tuple(a) for a in args]
    if number in _NESTED_LISTS_TO_TUPLES:
        return [[tuple(x) for x in a] for a in args]
    if number in _FIRST_ARG_ITEMS_TO_TUPLES:
        return [[tuple(x) for x in args[0]], args[1]]
    if number in _SECOND_ARG_TO_TUPLE:
        return [args[0], tuple(args[1])]
    if number == 115:
        return [[set(x) if isinstance(x, list) and x else {} for x in args[0]]]
    if number == 124:
        return (float(args[0]), complex(args[1]))
    if number in _FIRST_ARG_TO_TUPLE:
        return [tuple(args[0]), args[1]]
    if number in _NESTED_THEN_ARGS_TO_TUPLES:
        return [tuple(tuple(x) for x in a) for a in args]
    if number == 278:
        return [tuple(tuple(x) if isinstance(x, list) else x for x in args[0])]
    if number == 307:
        return [tuple(args[0]), args[1], args[2]]
    if number == 722:
        return [{k: tuple(v) for k, v in args[0].items()}, *args[1:]]
    if number == 252:
        return [complex(args[0])]
    if number in _ALL_LISTS_TO_TUPLES:
        return _deep_tuple(args)
    return args


def mbpp_inputs(task_id: str, inputs: list[Any]) -> list[Any]:
    """The inputs of MBPP+ task ``task_id`` as evalplus passes them to the function."""
    number = int(task_id.rsplit("/", 1)[-1])
    return [_convert(number, args) for args in inputs]
