"""The restricted script engine: BPMN scripts see only the functions we hand them.

Scripts and expressions are checked against the sandbox's allow-list before they run
(`engine.runtime.sandbox`), at deployment and again on every run, and run under a step,
time and size budget. Service tasks call Python functions registered by name; a failure
becomes an error naming the task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.task import Task

from engine.runtime.budget import check_stored
from engine.runtime.sandbox import (
    GUARD_NAME,
    SAFE_BUILTINS,
    Guard,
    ScriptRejected,
    check_script,
    compile_script,
)

__all__ = [
    "SAFE_BUILTINS",
    "ServiceCall",
    "ServiceRegistry",
    "ScriptRejected",
    "check_script",
    "make_script_engine",
]


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
    """Runs checked, rewritten code with the safe builtins, our functions and a fresh Guard."""

    def __init__(self, functions: dict[str, Any], services: ServiceRegistry, context: Any) -> None:
        super().__init__(dict(functions))
        self._services = services
        self._context = context

    def _reserved(self) -> dict[str, Any]:
        # Put last, so task data can neither replace the guard nor the builtins.
        guard = Guard()
        return {"__builtins__": guard.builtins, **guard.expose(self.globals), GUARD_NAME: guard}

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_script(expression, "eval")
        scope = {**(external_context or {}), **context, **self._reserved()}
        return eval(code, scope)  # noqa: S307  # checked and rewritten by the sandbox

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        external = dict(external_context or {})
        self.check_for_overwrite(context, external)
        code = compile_script(script, "exec")
        reserved = self._reserved()
        before = dict(context)
        context.update(external)
        context.update(reserved)
        try:
            exec(code, context)  # noqa: S102  # checked and rewritten by the sandbox
        finally:
            self._remove_globals_and_functions_from_context(context, {**external, **reserved})
        _check_assigned(context, before)
        return True


def _check_assigned(context: dict[str, Any], before: dict[str, Any]) -> None:
    """Refuse what a script assigned that task data cannot keep (a `range`, a `map`, a set).

    The refused names get their old values back, so the incident can still be saved.
    Raises ScriptRejected naming the first refused variable.
    """
    refused: ScriptRejected | None = None
    for name, value in list(context.items()):
        if name in before and before[name] is value:
            continue
        try:
            check_stored(name, value)
        except ScriptRejected as e:
            refused = refused or e
            if name in before:
                context[name] = before[name]
            else:
                del context[name]
    if refused is not None:
        raise refused


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
