"""Running `lienthong` in-process against a test database, and what its answers must look like."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import Result

__all__ = ["Cli", "fails", "ok"]

Cli = Callable[..., Result]


def ok(result: Result) -> Any:
    """The command succeeded; its JSON output."""
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def fails(result: Result, *words: str, exit_code: int = 1) -> None:
    """Refused with one sentence (Vietnamese / English), never a traceback."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    text = " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    if exit_code == 1:
        assert text.startswith("error: ") and " / " in text, text
    for w in words:
        assert w in text, text
