"""`lienthong document` and `lienthong exchange` from a shell, on a fresh demo database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.api.test_cli import Run, _ok, _run


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-documents")
    _ok(_run(d, "db", "upgrade"))
    _ok(_run(d, "demo"))
    return d


def _enter(d: Path, *extra: str, user: str = "vanthu") -> Run:
    return _run(
        d,
        "document",
        "enter",
        "--as",
        user,
        "--number",
        "15",
        "--notation",
        "UBND-VP",
        "--issued",
        "2026-11-20",
        "--issuer-code",
        "000.00.00.H99",
        "--issuer-name",
        "UBND tỉnh Lam Sơn",
        "--subject",
        "Về việc kiểm tra công tác văn thư",
        *extra,
    )


def _fails(run: Run, *words: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr and run.stderr.startswith("error:")
    for w in words:
        assert w in run.stderr, run.stderr


def test_clerk_enters_lists_shows_and_exports_the_incoming_register(data_dir: Path) -> None:
    first = json.loads(_ok(_enter(data_dir)))
    second = json.loads(_ok(_enter(data_dir)))
    assert (first["arrival_number"], second["arrival_number"]) == ("01", "02")
    assert second["duplicate_of"] == first["id"]
    listed = _ok(_run(data_dir, "document", "list", "--as", "vanthu", "--direction", "incoming"))
    assert "2 of 2" in listed and "15/UBND-VP" in listed
    shown = json.loads(_ok(_run(data_dir, "document", "show", str(first["id"]), "--as", "vanthu")))
    assert shown["timeline"][0]["kind"] == "created"
    year = first["year"]
    out = data_dir / "so-den.csv"
    _ok(
        _run(
            data_dir, "document", "register", "incoming", "--as", "vanthu",
            "--year", str(year), "--out", str(out),
        )
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in rows] == ["Số đến", "01", "02"]
    xlsx = data_dir / "so-den.xlsx"
    _ok(
        _run(
            data_dir, "document", "register", "incoming", "--as", "vanthu",
            "--year", str(year), "--out", str(xlsx),
        )
    )  # fmt: skip
    assert xlsx.read_bytes()[:2] == b"PK"


def test_bad_document_commands_exit_1_with_a_sentence(data_dir: Path) -> None:
    _fails(_enter(data_dir, user="chuyenvien"), "văn thư")
    _fails(_enter(data_dir, "--secrecy", "3"), "clearance")
    bad_date = _run(
        data_dir, "document", "enter", "--as", "vanthu", "--number", "1", "--issued", "20/11/2026",
        "--issuer-code", "X", "--issuer-name", "X", "--subject", "X",
    )  # fmt: skip
    _fails(bad_date, "YYYY-MM-DD")
    _fails(_run(data_dir, "document", "show", "999999", "--as", "vanthu"), "999999")
    _fails(
        _run(
            data_dir, "document", "register", "sideways", "--as", "vanthu", "--year", "2026",
            "--out", str(data_dir / "x.csv"),
        ),
        "direction",
    )  # fmt: skip
    _fails(
        _run(
            data_dir, "document", "register", "incoming", "--as", "vanthu", "--year", "2026",
            "--out", str(data_dir / "x.txt"),
        ),
        ".csv",
    )  # fmt: skip


def test_exchange_peers_are_added_listed_and_removed(data_dir: Path, tmp_path: Path) -> None:
    node = json.loads(_ok(_run(data_dir, "exchange", "node", "--json")))
    assert node["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    pem = tmp_path / "peer.pem"
    pem.write_text(node["certificate_pem"])
    add = ("exchange", "peer", "add", "so-y-te", "https://vb.soyte.example.vn", "--cert", str(pem))
    _ok(_run(data_dir, *add, "--agency", "000.00.20.H98"))
    listed = json.loads(_ok(_run(data_dir, "exchange", "peer", "list", "--json")))
    assert [(p["name"], p["agencies"]) for p in listed] == [("so-y-te", ["000.00.20.H98"])]
    # An agency this node serves cannot belong to a peer; a bad URL is refused.
    _fails(_run(data_dir, *add, "--agency", "000.01.20.H99"), "000.01.20.H99")
    _fails(
        _run(data_dir, "exchange", "peer", "add", "x", "ftp://x", "--cert", str(pem),
             "--agency", "000.00.21.H98"),
        "http",
    )  # fmt: skip
    _fails(_run(data_dir, "exchange", "peer", "remove", "so-y-te"), "--yes")
    _ok(_run(data_dir, "exchange", "peer", "remove", "so-y-te", "--yes"))
    assert json.loads(_ok(_run(data_dir, "exchange", "peer", "list", "--json"))) == []
