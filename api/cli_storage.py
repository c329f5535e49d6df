"""`lienthong storage`: check (fixity), sweep (orphans and crash leftovers), migrate to S3."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from engine.storage_sweep import SWEEP_GRACE_MAX_HOURS, SWEEP_GRACE_MIN_HOURS

__all__ = ["storage_app"]

storage_app = typer.Typer(help="Object store / kho tệp", no_args_is_help=True)


def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from api.cli import err

    with Progress(
        label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@storage_app.command("check")
def storage_check(
    as_json: Annotated[bool, typer.Option("--json", help="JSON report")] = False,
) -> None:
    """Re-hash every stored object; exit 1 when any is missing or corrupt."""
    from api.cli import _errors, _state, out
    from engine.fixity import check_store

    with _errors():
        state = _state()
        state.objects.ping()
        with contextmanager(_progress)("checking") as progress:
            report = check_store(state.sessions, state.objects, progress)
    result = {
        "checked": report.checked,
        "ok": report.ok,
        "missing": report.missing,
        "corrupt": report.corrupt,
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        out.print(
            f"checked {report.checked}: {report.ok} ok, {len(report.missing)} missing, {len(report.corrupt)} corrupt"
        )
        for key in report.missing:
            out.print(f"missing: {key}")
        for key in report.corrupt:
            out.print(f"corrupt: {key}")
    if not report.healthy:
        raise typer.Exit(1)


@storage_app.command("sweep")
def storage_sweep(
    grace_hours: Annotated[
        float | None,
        typer.Option(
            help=f"Spare objects younger than this many hours, {SWEEP_GRACE_MIN_HOURS} to "
            f"{SWEEP_GRACE_MAX_HOURS} (default: LIENTHONG_SWEEP_GRACE_HOURS)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="List what would go, delete nothing")] = False,
) -> None:
    """Remove objects that no committed file references, and what killed uploads left (spool
    files, partial writes, unfinished S3 multipart uploads), after a grace period."""
    from datetime import timedelta

    from api.cli import _errors, _fail, _state, out
    from engine.storage_sweep import sweep, sweep_leftovers

    if grace_hours is not None and not (
        math.isfinite(grace_hours) and SWEEP_GRACE_MIN_HOURS <= grace_hours <= SWEEP_GRACE_MAX_HOURS
    ):
        raise _fail(
            f"--grace-hours phải từ {SWEEP_GRACE_MIN_HOURS} đến {SWEEP_GRACE_MAX_HOURS}: chờ ngắn "
            f"hơn có thể xoá tệp của một lần tải lên chưa ghi xong / --grace-hours must be "
            f"{SWEEP_GRACE_MIN_HOURS} to {SWEEP_GRACE_MAX_HOURS}: a shorter grace may delete the "
            "object of an upload whose row has not committed yet"
        )
    with _errors():
        state = _state()
        state.objects.ping()  # as `check` does: on S3, refuses a main bucket without versioning
        grace = timedelta(
            hours=grace_hours if grace_hours is not None else state.settings.sweep_grace_hours
        )
        tmp_dir = state.settings.tmp_dir
        leftovers = sweep_leftovers(
            state.sessions, state.objects, tmp_dir, grace=grace, dry_run=dry_run
        )
        removed = sweep(state.sessions, state.objects, grace=grace, dry_run=dry_run)
    verb = "would remove " if dry_run else "removed "
    for key in removed:
        out.print(verb + key)
    out.print(f"{len(removed)} orphan object(s) {'found' if dry_run else 'removed'}")
    for item in leftovers:
        out.print(f"{verb}{item.name} ({item.size} bytes)", highlight=False)
    size = sum(item.size for item in leftovers)
    out.print(
        f"{len(leftovers)} crash leftover(s) {'found' if dry_run else 'removed'}, {size} bytes"
    )


@storage_app.command("migrate")
def storage_migrate(
    to: Annotated[str, typer.Option("--to", help="Target store: s3")],
) -> None:
    """Copy every object from the local store to S3 and verify it; run again to resume."""
    from api.app import build_store
    from api.cli import _errors, _fail, _state, err, out
    from engine.storage_migrate import migrate_store

    if to != "s3":
        raise _fail("Chỉ hỗ trợ --to s3 / only --to s3 is supported")
    with _errors():
        state = _state()
        source = build_store(state.settings, "local")
        target = build_store(state.settings, "s3")
        target.ping()
        with contextmanager(_progress)("copying") as progress:
            report = migrate_store(state.sessions, source, target, progress)
    out.print(
        f"{report.total} object(s): {report.copied} copied, {report.already_there} already there, {len(report.failed)} failed"
    )
    for line in report.failed:
        err.print(line, highlight=False)
    if report.failed:
        raise typer.Exit(1)
    if report.total:
        out.print("set LIENTHONG_OBJECT_STORE=s3 to serve from S3")
