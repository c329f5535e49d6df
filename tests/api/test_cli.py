"""The `lienthong` command line, run as a real process over a SQLite file in a temporary dir."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine import demo
from engine.procedures import load_catalogue
from tests.conftest import WORKFLOWS
from tests.nodes import LIENTHONG, Run

TIMEOUT = 120  # seconds for an ordinary command; generous for a loaded CI machine
SERVE_TIMEOUT = 30  # `serve` must refuse at once: a server that starts instead fails here
DB_FILE = "lienthong.db"
CATALOGUE_SIZE = len(load_catalogue(WORKFLOWS / "catalogue"))
SHIPPED_PROCESSES = {
    "one_stop_standard",
    "one_stop_liaison_birth",
    "document_outgoing",
    "document_incoming",
}


def _env(data_dir: Path, *, demo_mode: bool) -> dict[str, str]:
    # Only the settings this test chooses: nothing inherited from the caller's LIENTHONG_*,
    # and no COLUMNS, so the console behaves as it does when piped into a log.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIENTHONG_") and k not in ("COLUMNS", "LINES")
    }
    env["LIENTHONG_DATA_DIR"] = str(data_dir)
    if demo_mode:
        env["LIENTHONG_DEMO"] = "1"
    return env


def _start(data_dir: Path, *args: str, demo_mode: bool = True) -> subprocess.Popen[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [LIENTHONG, *args],
        cwd=data_dir,
        env=_env(data_dir, demo_mode=demo_mode),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> Run:
    """Wait for a command; one still running after `timeout` is killed (its test then fails)."""
    args = tuple(str(a) for a in proc.args[1:])  # type: ignore[index]
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr += f"\n[test: killed, still running after {timeout}s]"
    return Run(args, proc.returncode, stdout, stderr)


def _run(data_dir: Path, *args: str) -> Run:
    return _finish(_start(data_dir, *args))


def _ok(run: Run) -> str:
    assert run.returncode == 0, (run.args, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    return run.stdout


def _copy_database(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob(f"{DB_FILE}*"):  # the file and any WAL left beside it
        shutil.copy(path, target / path.name)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class CliRuns:
    """Every command of this module, run once: results by name and the data dirs they used."""

    runs: dict[str, Run]
    dirs: dict[str, Path]


def _finish_all(started: dict[str, subprocess.Popen[str]]) -> dict[str, Run]:
    try:
        return {
            name: _finish(proc, SERVE_TIMEOUT if name == "serve" else TIMEOUT)
            for name, proc in started.items()
        }
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CliRuns:
    """`db upgrade` once, then the other commands on copies of that database.

    Independent commands run side by side (each on its own copy when it writes), so the
    module costs a few process start-ups rather than one per command.
    """
    base = tmp_path_factory.mktemp("cli")
    dirs = {"migrated": base / "migrated", "empty": base / "empty", "serve": base / "serve"}
    runs = {"upgrade": _run(dirs["migrated"], "db", "upgrade")}
    _ok(runs["upgrade"])
    for name in ("demo", "deploy", "sync"):
        dirs[name] = _copy_database(dirs["migrated"], base / name)
    first = {
        "demo_1": ("demo", ["demo"]),
        "deploy_1": ("deploy", ["workflows", "deploy"]),
        "sync_1": ("sync", ["procedures", "sync"]),
        "holidays_json": ("migrated", ["calendar", "holidays", "2026", "--json"]),
        "due": ("migrated", ["calendar", "due", "2026-02-13T09:00+07:00", "3"]),
        "due_yesterday": ("migrated", ["calendar", "due", "yesterday", "3"]),
        "holidays_1800": ("migrated", ["calendar", "holidays", "1800"]),
        "before_upgrade": ("empty", ["calendar", "holidays", "2026"]),
        "deploy_missing": ("migrated", ["workflows", "deploy", str(base / "no-such-dir")]),
    }
    started = {name: _start(dirs[where], *args) for name, (where, args) in first.items()}
    started["serve"] = _start(
        dirs["serve"], "serve", "--port", str(_free_port()), "--no-worker", demo_mode=False
    )
    runs |= _finish_all(started)
    second = {
        "demo_2": ("demo", ["demo"]),
        "deploy_2": ("deploy", ["workflows", "deploy"]),
    }
    runs |= _finish_all({n: _start(dirs[w], *a) for n, (w, a) in second.items()})
    return CliRuns(runs, dirs)


def test_db_upgrade_creates_the_sqlite_database_at_a_revision(cli: CliRuns) -> None:
    run = cli.runs["upgrade"]
    assert _ok(run).startswith("database at revision ")
    assert run.stdout.split()[-1] != "None"
    db = cli.dirs["migrated"] / DB_FILE
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"agencies", "users", "procedures", "calendar_days"} <= tables


def test_demo_seeds_once_then_leaves_the_data_as_is(cli: CliRuns) -> None:
    first = _ok(cli.runs["demo_1"])
    assert "demo data seeded" in first
    assert f"procedures added: {CATALOGUE_SIZE}" in first
    second = _ok(cli.runs["demo_2"])
    assert "database not empty: demo data left as is" in second
    assert "demo data seeded" not in second
    assert "procedures added: 0" in second
    with sqlite3.connect(cli.dirs["demo"] / DB_FILE) as conn:
        users = {row[0] for row in conn.execute("SELECT username FROM users")}
        agencies = conn.execute("SELECT count(*) FROM agencies").fetchone()[0]
    assert users == {u[0] for u in demo.USERS}
    assert agencies == len(demo.AGENCIES)


def test_workflows_deploy_second_run_says_unchanged(cli: CliRuns) -> None:
    first = _ok(cli.runs["deploy_1"]).splitlines()
    assert {line.split()[0] for line in first} == SHIPPED_PROCESSES
    assert all(" v1 deployed " in line for line in first), first
    second = _ok(cli.runs["deploy_2"]).splitlines()
    assert len(second) == len(first)
    assert all(" v1 unchanged " in line for line in second), second


def test_procedures_sync_loads_the_catalogue_into_an_empty_database(cli: CliRuns) -> None:
    assert _ok(cli.runs["sync_1"]).strip() == f"added {CATALOGUE_SIZE}, updated 0"
    with sqlite3.connect(cli.dirs["sync"] / DB_FILE) as conn:
        codes = {row[0] for row in conn.execute("SELECT code FROM procedures")}
    assert len(codes) == CATALOGUE_SIZE and "1.001193" in codes
    # `demo` runs the same sync on a database that has the catalogue already: nothing added.
    assert "procedures added: 0" in _ok(cli.runs["demo_2"])


def test_calendar_holidays_json_lists_tet_2026(cli: CliRuns) -> None:
    days = json.loads(_ok(cli.runs["holidays_json"]))
    assert isinstance(days, list)
    assert {"date": "2026-02-17", "name": "Tết Nguyên đán", "kind": "holiday"} in days
    dates = [d["date"] for d in days]
    assert dates == sorted(dates)
    assert {"2026-02-16", "2026-02-20", "2026-04-26", "2026-04-30", "2026-09-02"} <= set(dates)


def test_calendar_due_prints_the_deadline_after_tet(cli: CliRuns) -> None:
    assert _ok(cli.runs["due"]).strip() == "2026-02-25T09:00:00+07:00"


def test_bad_calendar_input_exits_1_with_an_error_sentence_and_no_traceback(
    cli: CliRuns,
) -> None:
    for name, word in (("due_yesterday", "yesterday"), ("holidays_1800", "1800")):
        run = cli.runs[name]
        assert run.returncode == 1, (name, run.stdout, run.stderr)
        assert run.stdout == ""
        assert "Traceback" not in run.stderr
        assert run.error_text.startswith("error: "), run.stderr
        assert word in run.error_text


def test_error_sentence_stays_on_one_line_when_stderr_is_piped(cli: CliRuns) -> None:
    for name in ("due_yesterday", "holidays_1800", "serve"):
        stderr = cli.runs[name].stderr
        assert len(stderr.strip().splitlines()) == 1, (name, stderr)


def test_serve_refuses_the_default_secret_outside_demo_mode(cli: CliRuns) -> None:
    run = cli.runs["serve"]
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    assert "LIENTHONG_SECRET_KEY" in run.error_text
    assert "Uvicorn running" not in run.stdout + run.stderr


def test_command_before_db_upgrade_exits_1_saying_to_run_it(cli: CliRuns) -> None:
    run = cli.runs["before_upgrade"]
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    assert run.error_text.startswith("error: ")
    assert "db upgrade" in run.error_text


def test_workflows_deploy_of_a_missing_directory_exits_1_naming_it(cli: CliRuns) -> None:
    run = cli.runs["deploy_missing"]
    assert run.returncode == 1
    assert "no-such-dir" in run.error_text


def test_dossier_commands_receive_show_list_stats(tmp_path: Path) -> None:
    data = tmp_path / "dossier-cli"
    data.mkdir()
    _ok(_run(data, "db", "upgrade"))
    _ok(_run(data, "demo"))
    received = json.loads(
        _ok(
            _run(
                data,
                "dossier",
                "receive",
                "--procedure",
                "1.001193",
                "--name",
                "Phạm Văn Cường",
                "--id-number",
                "001099000111",
                "--phone",
                "0900000000",
                "--as",
                "tiepnhan",
            )
        )
    )
    code = received["code"]
    assert code.endswith("-0001") and received["status"] == 2
    shown = json.loads(_ok(_run(data, "dossier", "show", code, "--as", "lanhdao")))
    assert shown["applicant"]["full_name"] == "Phạm Văn Cường"
    assert code in _ok(_run(data, "dossier", "list", "--as", "tiepnhan"))
    stats = json.loads(_ok(_run(data, "dossier", "stats", "--as", "lanhdao")))
    assert stats["open"] == 1
    bad = _run(
        data,
        "dossier",
        "receive",
        "--procedure",
        "1.001193",
        "--name",
        "X",
        "--id-number",
        "1",
        "--phone",
        "0",
        "--as",
        "tiepnhan",
    )
    assert (
        bad.returncode == 1
        and "Traceback" not in bad.stderr
        and "applicant.id_number" in bad.stderr
    )
    missing = _run(data, "dossier", "show", "000.01.20.H99-000101-0001", "--as", "tiepnhan")
    assert missing.returncode == 1 and "No dossier" in missing.stderr
