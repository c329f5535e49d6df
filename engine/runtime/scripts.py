"""The restricted script engine: BPMN scripts see only the functions we hand them.

Scripts and expressions are checked before they run: no imports, no names or attributes
starting with an underscore (the usual way out of a sandbox), and a small set of builtins.
Service tasks call Python functions registered by name; a failure becomes an error naming
the task.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.task import Task

__all__ = [
    "SAFE_BUILTINS",
    "ServiceCall",
    "ServiceRegistry",
    "ScriptRejected",
    "check_script",
    "make_script_engine",
]

SAFE_BUILTINS: dict[str, Any] = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in [
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "enumerate",
        "filter",
        "float",
        "int",
        "len",
        "list",
        "map",
        "max",
        "min",
        "range",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "isinstance",
    ]
}
SAFE_BUILTINS.update({"True": True, "False": False, "None": None})


class ScriptRejected(ValueError):
    """A script uses something the sandbox does not allow."""


@lru_cache(maxsize=1024)
def check_script(source: str, mode: str) -> None:
    """Refuse imports, underscore names and attributes; raises ScriptRejected saying why."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as e:
        raise ScriptRejected(f"syntax error: {e.msg} (line {e.lineno})") from e
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRejected("import is not allowed in BPMN scripts")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ScriptRejected(f"attribute '{node.attr}' is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ScriptRejected(f"name '{node.id}' is not allowed")
        if isinstance(node, ast.Global | ast.Nonlocal | ast.AsyncFunctionDef | ast.Await):
            raise ScriptRejected(f"{type(node).__name__} is not allowed")


@dataclass(frozen=True)
class ServiceCall:
    """What a service function receives besides its parameters."""

    task_id: str
    task_name: str
    data: dict[str, Any]
    context: Any


ServiceFunction = Callable[..., Any]


class ServiceRegistry:
    """Python functions that BPMN service tasks may call, by operation name."""

    def __init__(self) -> None:
        self._functions: dict[str, ServiceFunction] = {}

    def register(self, name: str) -> Callable[[ServiceFunction], ServiceFunction]:
        """Decorator: make `fn(call: ServiceCall, **params)` callable as operation `name`."""

        def deco(fn: ServiceFunction) -> ServiceFunction:
            self._functions[name] = fn
            return fn

        return deco

    def names(self) -> frozenset[str]:
        """The registered operation names."""
        return frozenset(self._functions)

    def get(self, name: str) -> ServiceFunction | None:
        """The function registered as `name`, if any."""
        return self._functions.get(name)


class _RestrictedEnvironment(TaskDataEnvironment):
    def __init__(self, functions: dict[str, Any], services: ServiceRegistry, context: Any) -> None:
        super().__init__({"__builtins__": SAFE_BUILTINS, **functions})
        self._services = services
        self._context = context

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        check_script(expression, "eval")
        return super().evaluate(expression, context, external_context)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        check_script(script, "exec")
        return bool(super().execute(script, context, external_context))


class _Engine(PythonScriptEngine):
    environment: _RestrictedEnvironment

    def call_service(self, task: Task, **kwargs: Any) -> str:
        name = kwargs["operation_name"]
        fn = self.environment._services.get(name)
        if fn is None:
            raise WorkflowTaskException(
                f"no service function named '{name}' is registered", task=task
            )
        params = {k: v["value"] for k, v in kwargs.get("operation_params", {}).items()}
        call = ServiceCall(
            task_id=str(task.id),
            task_name=task.task_spec.name,
            data=task.data,
            context=self.environment._context,
        )
        try:
            result = fn(call, **params)
        except Exception as e:
            raise WorkflowTaskException(f"{type(e).__name__}: {e}", task=task, exception=e) from e
        return json.dumps(result, default=str)


def make_script_engine(
    functions: dict[str, Any], services: ServiceRegistry, context: Any = None
) -> PythonScriptEngine:
    """A script engine exposing only `functions` to scripts and `services` to service tasks."""
    return _Engine(environment=_RestrictedEnvironment(functions, services, context))
