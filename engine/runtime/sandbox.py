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
is bounded by its steps and the size of its values, so no `sys.settrace` is needed, as
long as no single call runs long: the guard, the builtins it wraps for that reason and the
check of what a script leaves in task data live in `engine.runtime.budget`.
"""

from __future__ import annotations

import ast
import builtins
import re
from functools import lru_cache
from types import CodeType

from engine.runtime.budget import (
    ALLOWED_METHODS,
    MAX_RANGE,
    MAX_STEPS,
    MAX_TOTAL_UNITS,
    MAX_VALUE_UNITS,
    SAFE_BUILTINS,
    TIME_LIMIT_S,
    Guard,
    ScriptRejected,
)

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

GUARD_NAME = "__lienthong_sandbox__"
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
