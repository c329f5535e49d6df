"""The BPMN script sandbox: an allow-list of Python, rewritten to run under a budget.

A script or expression is parsed, every node is checked against an allow-list (no
`def`, `lambda`, `class`, `import`, `while`, `try`, `with`, generators, `global`, walrus,
subscript or attribute assignment), and the tree is rewritten so that what could escape
or run away goes through a guard:

- `x.name` reads only the methods in `ALLOWED_METHODS`, and only on a plain `dict`, `str`
  or `list` (no frames, code objects, types or functions are reachable);
- every call must reach a callable we handed in (the safe builtins, the environment's
  functions, an allowed method), and counts as a step;
- every `for` and comprehension step counts as a step; `range` is capped;
- arithmetic and every built value (literals, comprehensions, f-strings, call results)
  are weighed: no value may hold more than `MAX_VALUE_UNITS` units (elements, characters)
  counted as a tree, and one run may build at most `MAX_TOTAL_UNITS`;
- a run stops after `MAX_STEPS` steps or `TIME_LIMIT_S` seconds.

Without loops other than bounded `for`, recursion or functions, a script's running time
is bounded by its steps and the size of its values, so no `sys.settrace` is needed.
"""

from __future__ import annotations

import ast
import builtins
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from types import CodeType
from typing import Any

__all__ = [
    "ALLOWED_METHODS",
    "GUARD_NAME",
    "MAX_RANGE",
    "MAX_STEPS",
    "MAX_TOTAL_UNITS",
    "MAX_VALUE_UNITS",
    "SAFE_BUILTINS",
    "TIME_LIMIT_S",
    "Guard",
    "ScriptRejected",
    "check_script",
    "compile_script",
]

MAX_STEPS = 100_000
TIME_LIMIT_S = 2.0
MAX_RANGE = 10_000
MAX_VALUE_UNITS = 1_000_000
MAX_TOTAL_UNITS = 5_000_000
MAX_INT_BITS = 10_000
MAX_DEPTH = 64
GUARD_NAME = "__lienthong_sandbox__"


class ScriptRejected(ValueError):
    """A script uses something the sandbox does not allow, or ran past its budget."""


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise ScriptRejected(f"range() of {len(r)} steps; at most {MAX_RANGE} are allowed")
    return r


_BUILTIN_NAMES = (
    "abs all any bool dict enumerate filter float int isinstance len list map max min round "
    "set sorted str sum tuple zip"
)
SAFE_BUILTINS: dict[str, Any] = {n: getattr(builtins, n) for n in _BUILTIN_NAMES.split()}
SAFE_BUILTINS["range"] = _bounded_range
SAFE_BUILTINS.update({"True": True, "False": False, "None": None})

ALLOWED_METHODS: dict[type, frozenset[str]] = {
    dict: frozenset({"get", "keys", "values", "items"}),
    str: frozenset(
        {"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split"}
    ),
    list: frozenset({"count", "index"}),
}
_METHOD_NAMES = frozenset().union(*ALLOWED_METHODS.values())

_NODE_NAMES = (
    # structure
    "Module Expression Expr Assign AugAssign If For Break Continue Pass Assert "
    # values
    "Name Load Store Constant List Tuple Dict Set ListComp SetComp DictComp comprehension "
    "Subscript Slice Attribute Call keyword IfExp JoinedStr FormattedValue "
    # operators (no shifts: `1 << n` is the cheapest huge number)
    "BoolOp And Or UnaryOp Not USub UAdd Invert BinOp Add Sub Mult Div FloorDiv Mod Pow "
    "BitAnd BitOr BitXor Compare Eq NotEq Lt LtE Gt GtE In NotIn Is IsNot"
)
_ALLOWED_NODES: tuple[type[ast.AST], ...] = tuple(getattr(ast, n) for n in _NODE_NAMES.split())
# Built-in names a script may not call or read: every builtin we do not hand in.
_REFUSED_BUILTINS = frozenset(n for n in dir(builtins) if n not in SAFE_BUILTINS)
_FORMAT_SPEC = re.compile(r"[<>^=+\- #0-9,_.%a-zA-Z]*")
_LONG_NUMBER = re.compile(r"[0-9]{3,}")


def _describe(node: ast.AST) -> str:
    line = getattr(node, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{type(node).__name__}{where}"


class _Checker(ast.NodeVisitor):
    """Raise ScriptRejected at the first node outside the allow-list."""

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            raise ScriptRejected(f"{_describe(node)} is not allowed in BPMN scripts")
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            raise ScriptRejected(f"name '{node.id}' is not allowed")
        if node.id in _REFUSED_BUILTINS:
            raise ScriptRejected(
                f"'{node.id}' is not available in BPMN scripts{_line(node)}; builtins: "
                + ", ".join(sorted(n for n, v in SAFE_BUILTINS.items() if callable(v)))
            )

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise ScriptRejected(f"constant {type(node.value).__name__} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not isinstance(node.ctx, ast.Load):
            raise ScriptRejected(f"assigning attribute '{node.attr}' is not allowed")
        if node.attr not in _METHOD_NAMES:
            raise ScriptRejected(
                f"attribute '{node.attr}' is not allowed; allowed: {', '.join(sorted(_METHOD_NAMES))}"
            )
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            raise ScriptRejected(f"assigning to an item is not allowed{_line(node)}")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            _check_target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise ScriptRejected(f"augmented assignment only to a name{_line(node)}")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        _check_target(node.target)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            raise ScriptRejected("async comprehensions are not allowed")
        _check_target(node.target)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name | ast.Attribute):
            raise ScriptRejected(f"only named functions may be called{_line(node)}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ScriptRejected(f"*arguments are not allowed{_line(node)}")
        if any(k.arg is None for k in node.keywords):
            raise ScriptRejected(f"**arguments are not allowed{_line(node)}")
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        self.visit(node.value)
        spec = node.format_spec
        if spec is None:
            return
        text = "".join(
            v.value
            for v in getattr(spec, "values", [])
            if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
        parts = getattr(spec, "values", [])
        if (
            len(parts) != sum(isinstance(v, ast.Constant) for v in parts)
            or not _FORMAT_SPEC.fullmatch(text)
            or _LONG_NUMBER.search(text)
        ):
            raise ScriptRejected(
                f"format spec '{text}' is not allowed; use a constant with widths below 100"
            )


def _line(node: ast.AST) -> str:
    line = getattr(node, "lineno", None)
    return f" (line {line})" if line else ""


def _check_target(target: ast.expr) -> None:
    if isinstance(target, ast.Name):
        return
    if isinstance(target, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Name) for e in target.elts
    ):
        return
    raise ScriptRejected(f"only names may be assigned, not {type(target).__name__}{_line(target)}")


def _guard(method: str, *args: ast.expr, node: ast.AST) -> ast.Call:
    call = ast.Call(
        func=ast.Attribute(
            value=ast.Name(id=GUARD_NAME, ctx=ast.Load()), attr=method, ctx=ast.Load()
        ),
        args=list(args),
        keywords=[],
    )
    return ast.copy_location(call, node)


class _Rewriter(ast.NodeTransformer):
    """Route attribute reads, calls, arithmetic, loops and built values through the guard."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = self.visit(node.value)
        return _guard("attr", value, ast.Constant(node.attr), node=node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = self.visit(node.func)
        args = [self.visit(a) for a in node.args]
        keywords = [ast.keyword(arg=k.arg, value=self.visit(k.value)) for k in node.keywords]
        call = _guard("call", func, *args, node=node)
        call.keywords = keywords
        return call

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        op = ast.Constant(type(node.op).__name__)
        return _guard("binop", op, self.visit(node.left), self.visit(node.right), node=node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        assert isinstance(node.target, ast.Name)  # the checker allowed only names
        name = node.target.id
        op = ast.Constant(type(node.op).__name__)
        value = _guard(
            "binop", op, ast.Name(id=name, ctx=ast.Load()), self.visit(node.value), node=node
        )
        return ast.copy_location(
            ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value), node
        )

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node.value = self.visit(node.value)  # the format spec stays a constant JoinedStr
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        node.iter = _guard("iterate", node.iter, node=node.iter)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.iter = _guard("iterate", node.iter, node=node.iter)
        return node

    def _boxed(self, node: ast.expr) -> ast.AST:
        self.generic_visit(node)
        if isinstance(getattr(node, "ctx", ast.Load()), ast.Store):
            return node
        return _guard("box", node, node=node)

    visit_List = visit_Tuple = visit_Set = visit_Dict = _boxed
    visit_ListComp = visit_SetComp = visit_DictComp = visit_JoinedStr = _boxed


@lru_cache(maxsize=1024)
def check_script(source: str, mode: str) -> None:
    """Check a script (`exec`) or expression (`eval`) against the allow-list.

    Raises ScriptRejected naming the construct that is not allowed.
    """
    _checked_tree(source, mode)


def _checked_tree(source: str, mode: str) -> ast.AST:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as e:
        raise ScriptRejected(f"syntax error: {e.msg} (line {e.lineno})") from e
    _Checker().visit(tree)
    return tree


@lru_cache(maxsize=1024)
def compile_script(source: str, mode: str) -> CodeType:
    """Check and rewrite a script; the code must run with a `Guard` as `GUARD_NAME`.

    Raises ScriptRejected naming the construct that is not allowed.
    """
    tree = _Rewriter().visit(_checked_tree(source, mode))
    ast.fix_missing_locations(tree)
    return compile(tree, "<bpmn script>", mode)


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
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


class Guard:
    """One run's budget, and the checks the rewritten code calls."""

    def __init__(self) -> None:
        self._callables = {id(f): f for f in SAFE_BUILTINS.values() if callable(f)}
        self._deadline = time.monotonic() + TIME_LIMIT_S
        self._steps = 0
        self._total = 0
        self._weights: dict[int, tuple[Any, int]] = {}  # id -> (value kept alive, units)

    def step(self) -> None:
        """Count one step; raises ScriptRejected past the step or time budget."""
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise ScriptRejected(f"script ran more than {MAX_STEPS} steps")
        if time.monotonic() > self._deadline:
            raise ScriptRejected(f"script ran longer than {TIME_LIMIT_S:g} s")

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
        if op == "Mult":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, _SIZED) and isinstance(n, int):
                    self._limit(self.weigh(seq) * max(n, 0))
        if op == "Add" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            self._limit(self.weigh(left) + self.weigh(right))
        if (
            op == "Pow"
            and isinstance(left, int)
            and isinstance(right, int)
            and max(abs(left).bit_length() - 1, 0) * right > MAX_INT_BITS
        ):
            raise ScriptRejected(f"number larger than {MAX_INT_BITS} bits")
        result = _BINOPS[op](left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise ScriptRejected(f"number larger than {MAX_INT_BITS} bits")
        return self.box(result)

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """Iterate, one step per item."""
        for item in iterable:
            self.step()
            yield item

    def box(self, value: Any) -> Any:
        """Weigh a new value against the value and run budgets; return it."""
        if id(value) in self._weights:
            return value
        units = self.weigh(value)
        self._limit(units)
        self._total += units
        if self._total > MAX_TOTAL_UNITS:
            raise ScriptRejected(f"script built more than {MAX_TOTAL_UNITS} units of data")
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
