"""What every benchmark shares: the machine description, and publishing a run.

    machine(**extra)        Python, platform, CPUs, plus the fields a benchmark adds
    version_of(dist)        an installed distribution's version, or None
    publish(name, result, section)
                            bench/results/<name>.json, and `section` between the
                            `<!-- name:start -->` / `<!-- name:end -->` markers of
                            bench/README.md (appended at the end when the markers are missing)

`section` is the text between the markers, or a function of the current text between them
(None when missing) for a benchmark that keeps part of its section as written. The README
is re-read just before it is written, and both files are replaced atomically: other
benchmarks refresh their own sections of it, maybe at the same time.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["BENCH", "README", "RESULTS", "machine", "markers", "publish", "version_of"]

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH / "README.md"


def version_of(dist: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine(**extra: Any) -> dict[str, Any]:
    """The machine and Python a run was on, plus the benchmark's own fields."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        **extra,
    }


def markers(name: str) -> tuple[str, str]:
    """The README markers of a benchmark's section."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with open(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish(
    name: str,
    result: dict[str, Any],
    section: str | Callable[[str | None], str],
    *,
    results_dir: Path = RESULTS,
    readme: Path = README,
) -> tuple[Path, Path]:
    """Write `results_dir/<name>.json` and refresh the README section; returns both paths."""
    results = results_dir / f"{name}.json"
    _write_atomically(results, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    start, end = markers(name)
    current = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    found = start in current and end in current.partition(start)[2]
    if found:
        head, _, rest = current.partition(start)
        inner, _, tail = rest.partition(end)
    else:
        head, inner, tail = current.rstrip("\n") + "\n\n", None, "\n"
    body = section(inner) if callable(section) else section
    if not body.startswith("\n"):
        body = "\n" + body
    if not body.endswith("\n"):
        body += "\n"
    _write_atomically(readme, f"{head}{start}{body}{end}{tail}")
    return results, readme
