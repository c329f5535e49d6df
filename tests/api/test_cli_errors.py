"""Bad settings and options make the real `lienthong` process say one sentence and exit ≠ 0:
never a traceback, never a secret from the environment."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import S3Buckets
from tests.nodes import LIENTHONG, Run

TIMEOUT = 120  # seconds for one command on a loaded CI machine
SERVE_TIMEOUT = 30  # `serve` must refuse at once: a server that starts instead fails here
SECRET_KEY = "app-" + secrets.token_hex(12)
S3_SECRET_KEY = "s3-" + secrets.token_hex(12)
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+ (INFO|WARNING) ")


def _env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    # Only the settings the test chooses, the secrets among them; no COLUMNS, as in a log.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIENTHONG_") and k not in ("COLUMNS", "LINES")
    }
    return (
        env
        | {
            "LIENTHONG_DATA_DIR": str(data_dir),
            "LIENTHONG_SECRET_KEY": SECRET_KEY,
            "LIENTHONG_S3_ACCESS_KEY": "lienthong-admin",
            "LIENTHONG_S3_SECRET_KEY": S3_SECRET_KEY,
            "LIENTHONG_S3_SECURE": "false",
        }
        | extra
    )


def _run(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
    command: tuple[str, ...] | None = None,
) -> Run:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [*(command or (LIENTHONG,)), *args],
            cwd=data_dir if data_dir.is_dir() else data_dir.parent,
            env=_env(data_dir, env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`lienthong {' '.join(args)}` still running after {timeout} s: {e.stderr!r}")
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def _refused(run: Run, *names: str) -> str:
    """The one sentence a refused command printed, after checking its shape."""
    assert run.returncode != 0, run
    output = run.stdout + run.stderr
    assert "Traceback" not in output, run
    assert SECRET_KEY not in output and S3_SECRET_KEY not in output, run
    # `serve` logs as it starts (and urllib3 its retries) before it refuses: log records only.
    lines = [
        line for line in run.stderr.splitlines() if line.strip() and not LOG_RECORD.match(line)
    ]
    assert len(lines) == 1 and not run.stdout.strip(), run
    assert lines[0].startswith("error: "), run
    for name in names:
        assert name in run.text, (name, run)
    return lines[0]


# -- settings and options, each run once, side by side -----------------------------------

# name: (arguments, environment, words the sentence must hold)
CASES: dict[str, tuple[tuple[str, ...], dict[str, str], tuple[str, ...]]] = {
    "database_url_unreadable": (
        ("dossier", "list", "--as", "tiepnhan"),
        {"LIENTHONG_DATABASE_URL": f"postgresql+psycopg://u:{S3_SECRET_KEY}@127.0.0.1:port/db"},
        ("LIENTHONG_DATABASE_URL", "cannot be read"),
    ),
    "upload_limit_zero": (
        ("calendar", "holidays", "2025"),
        {"LIENTHONG_MAX_UPLOAD_MB": "0"},
        ("LIENTHONG_MAX_UPLOAD_MB", "must be ≥ 1"),
    ),
    "port_not_a_number": (
        ("serve", "--no-worker"),
        {"LIENTHONG_PORT": "abc"},
        ("LIENTHONG_PORT", "whole number"),
    ),
    "two_bad_variables": (
        ("serve", "--no-worker"),
        {"LIENTHONG_PORT": "99999", "LIENTHONG_TOKEN_TTL_HOURS": "nan"},
        ("LIENTHONG_PORT", "≤ 65535", "LIENTHONG_TOKEN_TTL_HOURS", "finite"),
    ),
    "unknown_object_store": (
        ("storage", "check"),
        {"LIENTHONG_OBJECT_STORE": "gcs"},
        ("LIENTHONG_OBJECT_STORE", "'local' or 's3'"),
    ),
    "endpoint_with_scheme_serve": (
        ("serve", "--no-worker"),
        {"LIENTHONG_OBJECT_STORE": "s3", "LIENTHONG_S3_ENDPOINT": "http://127.0.0.1:1"},
        ("LIENTHONG_S3_ENDPOINT", "host:port", "LIENTHONG_S3_SECURE"),
    ),
    "endpoint_with_scheme_migrate": (
        ("storage", "migrate", "--to", "s3"),
        {"LIENTHONG_S3_ENDPOINT": "https://s3.example.gov.vn"},
        ("LIENTHONG_S3_ENDPOINT", "host:port"),
    ),
    "endpoint_with_path_check": (
        ("storage", "check"),
        {"LIENTHONG_OBJECT_STORE": "s3", "LIENTHONG_S3_ENDPOINT": "127.0.0.1:9000/lienthong"},
        ("LIENTHONG_S3_ENDPOINT", "host:port with no path"),
    ),
    "endpoint_with_bad_port": (
        ("storage", "check"),
        {"LIENTHONG_OBJECT_STORE": "s3", "LIENTHONG_S3_ENDPOINT": "127.0.0.1:abc"},
        ("LIENTHONG_S3_ENDPOINT", "host:port"),
    ),
    "sweep_grace_setting_zero": (
        ("storage", "sweep"),
        {"LIENTHONG_SWEEP_GRACE_HOURS": "0"},
        ("LIENTHONG_SWEEP_GRACE_HOURS", "must be ≥ 1"),
    ),
    "sweep_grace_setting_inf": (
        ("storage", "sweep"),
        {"LIENTHONG_SWEEP_GRACE_HOURS": "inf"},
        ("LIENTHONG_SWEEP_GRACE_HOURS", "finite"),
    ),
    "debug_not_a_boolean": (
        ("calendar", "holidays", "2025"),
        {"LIENTHONG_DEBUG": "maybe"},
        ("LIENTHONG_DEBUG",),
    ),
    **{
        f"sweep_grace_option_{value}": (
            ("storage", "sweep", "--grace-hours", value),
            {},
            ("--grace-hours", "must be 1 to 100000"),
        )
        for value in ("nan", "inf", "-inf", "1e300", "0", "-1", "0.5")
    },
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every case of CASES, each in its own empty data dir: settings fail before the database."""
    base = tmp_path_factory.mktemp("cli-errors")

    def one(name: str) -> Run:
        args, env, _ = CASES[name]
        (base / name).mkdir()
        return _run(base / name, *args, env=env)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip(CASES, pool.map(one, CASES), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_setting_or_option_exits_with_one_sentence_naming_it(
    runs: dict[str, Run], name: str
) -> None:
    run = runs[name]
    sentence = _refused(run, *CASES[name][2])
    assert run.returncode == 1, run
    assert len(sentence) < 500, sentence
    assert "Uvicorn running" not in run.text


# -- the last resort: an error nothing expected -----------------------------------------


def _broken(message: str) -> tuple[str, ...]:
    """A `lienthong` whose holiday listing breaks from within (a bug) with `message`."""
    code = (
        "import sys, api.cli, engine.workdays\n"
        "def boom(*args, **kwargs):\n"
        f"    raise RuntimeError({message!r})\n"
        "engine.workdays.list_holidays = boom\n"
        "api.cli.main()\n"
    )
    return (sys.executable, "-c", code)


def test_a_data_dir_that_is_a_file_is_one_sentence_naming_the_setting(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file where the data directory should be")
    sentence = _refused(
        _run(not_a_dir, "dossier", "list", "--as", "tiepnhan"), "LIENTHONG_DATA_DIR"
    )
    assert "cannot create the folder" in sentence


def test_unexpected_error_is_one_sentence_naming_its_type(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "log").write_text("a file where the log folder should be")
    run = _run(data_dir, "calendar", "holidays", "2025", command=_broken("boom"))
    sentence = _refused(run, "unexpected error (RuntimeError)")
    assert "LIENTHONG_DEBUG=1" in sentence  # the log could not be written: say how to see more


def test_unexpected_error_with_debug_prints_the_traceback_without_locals(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run = _run(
        data_dir,
        "calendar",
        "holidays",
        "2025",
        command=_broken("boom"),
        env={"LIENTHONG_DEBUG": "1"},
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: ")
    assert "Traceback" in run.stderr and "RuntimeError: boom" in run.stderr
    assert SECRET_KEY not in run.stderr and S3_SECRET_KEY not in run.stderr


def test_unexpected_error_writes_its_traceback_to_the_log_not_the_terminal(
    tmp_path: Path,
) -> None:
    # A command that breaks from within (a bug) and whose message holds a secret.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run = _run(data_dir, "calendar", "holidays", "2025", command=_broken(f"leaked {SECRET_KEY}"))
    log = data_dir / "log" / "errors.log"
    sentence = _refused(run, "unexpected error (RuntimeError)", str(log))
    assert "leaked" not in sentence
    logged = log.read_text(encoding="utf-8")
    assert "Traceback" in logged and "in boom" in logged


# -- serve refuses an unusable S3 store before it serves ---------------------------------


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir after `lienthong db upgrade`, copied by each serve test."""
    path = tmp_path_factory.mktemp("cli-errors-migrated")
    run = _run(path, "db", "upgrade")
    assert run.returncode == 0, run
    return path


def _serve_on_s3(migrated: Path, tmp_path: Path, buckets: S3Buckets, **s3: str) -> Run:
    data_dir = tmp_path / "data"
    shutil.copytree(migrated, data_dir)
    env = {
        "LIENTHONG_OBJECT_STORE": "s3",
        "LIENTHONG_S3_ENDPOINT": buckets.server.endpoint,
        "LIENTHONG_S3_ACCESS_KEY": buckets.server.access_key,
        "LIENTHONG_S3_SECRET_KEY": buckets.server.secret_key,
        "LIENTHONG_S3_REGION": "us-east-1",
        "LIENTHONG_S3_BUCKET": buckets.bucket,
        "LIENTHONG_S3_ARCHIVE_BUCKET": buckets.archive,
        "LIENTHONG_PORT": str(_closed_port()),
    } | {f"LIENTHONG_S3_{k.upper()}": v for k, v in s3.items()}
    run = _run(data_dir, "serve", "--no-worker", env=env, timeout=SERVE_TIMEOUT)
    assert buckets.server.secret_key not in run.stdout + run.stderr
    assert "Uvicorn running" not in run.text
    assert run.seconds < SERVE_TIMEOUT
    return run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_an_unreachable_s3_exits_1_saying_it_cannot_reach_it(
    migrated: Path, tmp_path: Path, s3_buckets: S3Buckets
) -> None:
    endpoint = f"127.0.0.1:{_closed_port()}"
    run = _serve_on_s3(migrated, tmp_path, s3_buckets, endpoint=endpoint)
    sentence = _refused(run, "cannot reach S3", endpoint, "LIENTHONG_S3_ENDPOINT")
    assert run.returncode == 1, sentence


def test_serve_with_a_wrong_s3_key_exits_1_naming_the_access_key(
    migrated: Path, tmp_path: Path, s3_buckets: S3Buckets
) -> None:
    run = _serve_on_s3(migrated, tmp_path, s3_buckets, secret_key=S3_SECRET_KEY)
    sentence = _refused(run, "refused the access key", "LIENTHONG_S3_ACCESS_KEY")
    assert run.returncode == 1, sentence


@pytest.mark.parametrize("setting", ["bucket", "archive_bucket"])
def test_serve_with_a_missing_bucket_exits_1_naming_the_bucket(
    migrated: Path, tmp_path: Path, s3_buckets: S3Buckets, setting: str
) -> None:
    missing = f"{s3_buckets.bucket}-missing-{setting.replace('_', '-')}"
    run = _serve_on_s3(migrated, tmp_path, s3_buckets, **{setting: missing})
    sentence = _refused(run, f"bucket {missing} does not exist", f"LIENTHONG_S3_{setting.upper()}")
    assert run.returncode == 1, sentence
