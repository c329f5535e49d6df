"""The run budget of a BPMN script: the guard its rewritten code calls, and what it may keep.

The sandbox (`engine.runtime.sandbox`) rewrites a script so that calls, arithmetic, loops
and built values go through a `Guard`. The guard counts steps and time between them, and
weighs values; because one call of a C builtin runs without a step and holds the GIL, the
builtins whose cost is not linear in the size of their arguments are handed in wrapped:

- `round` refuses more than `MAX_ROUND_DIGITS` digits (`round(5, -10**8)` computes 10**n);
- `sum` adds numbers only (a sum of lists or strings is quadratic);
- `int` refuses a string longer than `MAX_INT_BITS` allows before converting it, and a
  result larger than that (hexadecimal strings have no digit limit in Python);
- `set` and `dict` insert one item at a time under the deadline (crafted numbers share
  one hash, making each insert as slow as the set is large);
- `zip`, `map`, `enumerate` and `filter` charge each item they produce to the run, so a
  `zip` of a thousand copies of a list cannot build its tuples in one call.

Arithmetic refuses numbers over `MAX_INT_BITS` before computing with them. After a run,
`check_stored` refuses values that task data cannot keep (anything but JSON data).
"""

from __future__ import annotations

import builtins
import math
import operator
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = [
    "ALLOWED_METHODS",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_ROUND_DIGITS",
    "MAX_STEPS",
    "MAX_TOTAL_UNITS",
    "MAX_VALUE_UNITS",
    "SAFE_BUILTINS",
    "TIME_LIMIT_S",
    "Guard",
    "ScriptRejected",
    "check_stored",
]

MAX_STEPS = 100_000
TIME_LIMIT_S = 2.0
MAX_RANGE = 10_000
MAX_VALUE_UNITS = 1_000_000
MAX_TOTAL_UNITS = 5_000_000
MAX_INT_BITS = 10_000
MAX_ROUND_DIGITS = 400
MAX_DEPTH = 64


class ScriptRejected(ValueError):
    """A script uses something the sandbox does not allow, or ran past its budget."""


def _too_big() -> ScriptRejected:
    return ScriptRejected(f"number larger than {MAX_INT_BITS} bits")


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise ScriptRejected(f"range() of {len(r)} steps; at most {MAX_RANGE} are allowed")
    return r


def _round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ScriptRejected(f"round() to {ndigits} digits; at most {MAX_ROUND_DIGITS}")
    return round(number, ndigits)


def _sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    items = list(iterable)
    for item in (start, *items):
        if not isinstance(item, int | float):
            raise ScriptRejected(
                f"sum() adds numbers only, not {type(item).__name__}; build lists with a loop"
            )
    return sum(items, start)


def _int(value: Any = 0, /, base: Any = None) -> int:
    if isinstance(value, str):
        radix = 10 if base is None else base
        # Base 0 reads a prefix, maybe 0b: count as binary. Underscores may double the length.
        bits_per_digit = math.log2(radix) if isinstance(radix, int) and radix >= 2 else 1.0
        longest = 2 * math.ceil(MAX_INT_BITS / bits_per_digit) + 4
        if len(value.strip()) > longest:
            raise _too_big()
    result = int(value) if base is None else int(value, base)
    if result.bit_length() > MAX_INT_BITS:
        raise _too_big()
    return result


_BUILTIN_NAMES = (
    "abs all any bool dict enumerate filter float int isinstance len list map max min round "
    "set sorted str sum tuple zip"
)
SAFE_BUILTINS: dict[str, Any] = {n: getattr(builtins, n) for n in _BUILTIN_NAMES.split()}
SAFE_BUILTINS.update({"range": _bounded_range, "round": _round, "sum": _sum, "int": _int})
SAFE_BUILTINS.update({"True": True, "False": False, "None": None})

ALLOWED_METHODS: dict[type, frozenset[str]] = {
    dict: frozenset({"get", "keys", "values", "items"}),
    str: frozenset(
        {"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split"}
    ),
    list: frozenset({"count", "index"}),
}

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Mult": operator.mul,
    "Div": operator.truediv,
    "FloorDiv": operator.floordiv,
    "Mod": operator.mod,
    "Pow": operator.pow,
    "BitAnd": operator.and_,
    "BitOr": operator.or_,
    "BitXor": operator.xor,
}
_SET_OPS = frozenset({"Sub", "BitAnd", "BitOr", "BitXor"})
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


_SET_VIEWS: tuple[type[Any], ...] = (type({}.keys()), type({}.items()))  # with set operations
_VIEWS = (*_SET_VIEWS, type({}.values()))


def _is_view(value: Any) -> bool:
    return isinstance(value, _SET_VIEWS)


class Guard:
    """One run's budget, and the checks the rewritten code calls."""

    def __init__(self) -> None:
        self._deadline = time.monotonic() + TIME_LIMIT_S
        self._steps = 0
        self._total = 0
        self._weights: dict[int, tuple[Any, int]] = {}  # id -> (value kept alive, units)
        self.builtins: dict[str, Any] = {
            **SAFE_BUILTINS,
            "set": self._set,
            "dict": self._dict,
            "zip": self._lazy(zip),
            "map": self._lazy(map),
            "enumerate": self._lazy(enumerate),
            "filter": self._lazy(filter),
            "isinstance": self._isinstance,
        }
        # `isinstance(x, dict)` names our wrapper: answer for the type it stands for.
        self._types = {id(self.builtins[n]): getattr(builtins, n) for n in ("set", "dict", "int")}
        self._callables = {id(f): f for f in self.builtins.values() if callable(f)}

    def step(self) -> None:
        """Count one step; raises ScriptRejected past the step or time budget."""
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise ScriptRejected(f"script ran more than {MAX_STEPS} steps")
        self._check_time()

    def _check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise ScriptRejected(f"script ran longer than {TIME_LIMIT_S:g} s")

    def _charge(self, units: int) -> None:
        self._total += units
        if self._total > MAX_TOTAL_UNITS:
            raise ScriptRejected(f"script built more than {MAX_TOTAL_UNITS} units of data")

    def expose(self, functions: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        """The functions a script may call, each call counted as a step (even from `map`)."""
        exposed = {name: self._counted(fn) for name, fn in functions.items()}
        self._callables.update({id(f): f for f in exposed.values()})
        return exposed

    def _counted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.step()
            return fn(*args, **kwargs)

        counted.__name__ = getattr(fn, "__name__", "function")
        return counted

    def _metered(self, items: Iterable[Any], width: int) -> Iterator[Any]:
        # Each item costs `width` units (a zip's tuple, a map's arguments) and a look at the clock.
        for item in items:
            self._charge(width)
            self._check_time()
            yield item

    def _lazy(self, make: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def lazy(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return self._metered(make(*args, **kwargs), max(len(args), 1))

        lazy.__name__ = make.__name__
        return lazy

    def _set(self, iterable: Iterable[Any] = (), /) -> set[Any]:
        result: set[Any] = set()
        for item in self._metered(iterable, 0):
            result.add(item)
        return result

    def _dict(self, source: Any = (), /, **kwargs: Any) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        pairs = source.items() if isinstance(source, dict) else source
        for key, value in self._metered(pairs, 0):
            result[key] = value
        result.update(kwargs)
        return result

    def _isinstance(self, value: Any, kinds: Any) -> bool:
        if isinstance(kinds, tuple):
            kinds = tuple(self._types.get(id(k), k) for k in kinds)
        return isinstance(value, self._types.get(id(kinds), kinds))

    def attr(self, obj: Any, name: str) -> Any:
        """`obj.name`, for an allowed method of a plain dict, str or list only."""
        if name not in ALLOWED_METHODS.get(type(obj), frozenset()):
            raise ScriptRejected(f"'{type(obj).__name__}.{name}' is not allowed")
        return getattr(obj, name)

    def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a function we handed in (or an allowed method) and weigh its result."""
        if id(func) not in self._callables and not self._allowed_method(func):
            raise ScriptRejected(
                f"'{getattr(func, '__name__', type(func).__name__)}' may not be called"
            )
        self.step()
        return self.box(func(*args, **kwargs))

    @staticmethod
    def _allowed_method(func: Any) -> bool:
        owner = getattr(func, "__self__", None)
        name = getattr(func, "__name__", None)
        return type(func).__name__ == "builtin_function_or_method" and name in ALLOWED_METHODS.get(
            type(owner), frozenset()
        )

    def binop(self, op: str, left: Any, right: Any) -> Any:
        """`left op right`, refusing results past the size budget before they are built."""
        if op == "Mod" and isinstance(left, str | bytes):
            raise ScriptRejected("'%' formatting is not allowed; use an f-string")
        self._check_numbers(op, left, right)
        if op == "Mult":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, _SIZED) and isinstance(n, int):
                    self._limit(self.weigh(seq) * max(n, 0))
        if op == "Add" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            self._limit(self.weigh(left) + self.weigh(right))
        if op in _SET_OPS and any(
            isinstance(v, set | frozenset) or _is_view(v) for v in (left, right)
        ):
            # A dict view hashes a whole list in one call: build the sets under the deadline.
            left, right = (
                v if isinstance(v, set | frozenset) else self._set(v) for v in (left, right)
            )
        result = _BINOPS[op](left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise _too_big()
        return self.box(result)

    @staticmethod
    def _check_numbers(op: str, left: Any, right: Any) -> None:
        # Before computing: one multiplication or division of huge numbers is one long C call.
        if not isinstance(left, int) or not isinstance(right, int):
            if any(isinstance(v, int) and v.bit_length() > MAX_INT_BITS for v in (left, right)):
                raise _too_big()
            return
        bits = (left.bit_length(), right.bit_length())
        if max(bits) > MAX_INT_BITS:
            raise _too_big()
        if op == "Mult" and sum(bits) > MAX_INT_BITS + 1:
            raise _too_big()
        if op == "Pow" and max(abs(left).bit_length() - 1, 0) * right > MAX_INT_BITS:
            raise _too_big()

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """Iterate, one step per item."""
        for item in iterable:
            self.step()
            yield item

    def box(self, value: Any) -> Any:
        """Weigh a new value against the value and run budgets; return it."""
        if id(value) in self._weights:
            return value
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise _too_big()
        units = self.weigh(value)
        self._limit(units)
        self._charge(units)
        return value

    def _limit(self, units: int) -> None:
        if units > MAX_VALUE_UNITS:
            raise ScriptRejected(
                f"value of {units} units (elements, characters); at most {MAX_VALUE_UNITS}"
            )

    def weigh(self, value: Any, depth: int = 0) -> int:
        """Units of a value counted as a tree: shared parts count each time they appear."""
        if isinstance(value, bool | float | type(None)):
            return 1
        if isinstance(value, int):
            return 1 + value.bit_length() // 64
        if isinstance(value, str | bytes):
            return 1 + len(value)
        known = self._weights.get(id(value))
        if known is not None:
            return known[1]
        if depth > MAX_DEPTH:
            raise ScriptRejected(f"value nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            items: Iterable[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list | tuple | set | frozenset) or type(value).__name__.startswith(
            "dict_"
        ):
            items = value
        else:
            return 1  # functions we handed in, lazy iterators, dates: no contents to count
        units = 1
        for item in items:
            units += self.weigh(item, depth + 1)
            if units > MAX_VALUE_UNITS:
                break
        self._weights[id(value)] = (value, units)
        return units


def check_stored(name: str, value: Any) -> None:
    """Check that task data can keep `value`: JSON data (dicts with string keys, lists,
    strings, numbers within bounds, finite floats, booleans, None).

    Raises ScriptRejected naming the variable and what it holds.
    """
    problem = _unstorable(value, 0, set())
    if problem is not None:
        raise ScriptRejected(
            f"variable '{name}' holds {problem}, which task data cannot keep; "
            "keep lists, dicts with string keys, strings, numbers, booleans or None"
        )


def _unstorable(value: Any, depth: int, seen: set[int]) -> str | None:
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None if value.bit_length() <= MAX_INT_BITS else "a number too large"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"the number {value}"
    if isinstance(value, Iterator):
        return "an iterator (of map, zip, filter or enumerate; make it a list with list())"
    if type(value) in (range, *_VIEWS):
        return f"a {type(value).__name__} (make it a list with list())"
    if type(value) not in (list, tuple, dict):  # a tuple is kept as a list
        return f"a {type(value).__name__}"
    if depth > MAX_DEPTH:
        return f"values nested deeper than {MAX_DEPTH} levels"
    if id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, dict):
        keys = [k for k in value if not isinstance(k, str)]
        if keys:
            return f"a dict with the key {keys[0]!r} (keys must be strings)"
        items: Iterable[Any] = value.values()
    else:
        items = value
    for item in items:
        problem = _unstorable(item, depth + 1, seen)
        if problem is not None:
            return problem
    return None
