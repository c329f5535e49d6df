"""`lienthong document …` on each database refuses what `POST /api/v1/documents` refuses, with
one sentence and nothing stored; ids no document has and unwritable `--out` paths are a
sentence too, never an unexpected error."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from click.testing import Result

from engine.calendar import VN_TZ
from tests.cli import Cli, fails, ok
from tests.conftest import Api


def _enter(run: Cli, *extra: str, number: str = "12", subject: str = "Về việc thử") -> Result:
    yesterday = datetime.now(VN_TZ).date() - timedelta(days=1)
    return run(
        "document", "enter", "--as", "vanthu", "--number", number, "--notation", "UBND-VP",
        "--issued", yesterday.isoformat(), "--issuer-code", "000.00.00.H99",
        "--issuer-name", "UBND tỉnh Lam Sơn", "--subject", subject, *extra,
    )  # fmt: skip


def _total(api: Api) -> int:
    return int(api.client.get("/api/v1/documents", headers=api.login("vanthu")).json()["total"])


def test_enter_applies_the_apis_field_limits(api: Api, cli: Cli) -> None:
    fails(_enter(cli, number="12345678901234"), "--number (code_number)", "11 characters")
    fails(_enter(cli, subject="x" * 600), "--subject (subject)", "500 characters")
    fails(_enter(cli, subject="   "), "--subject (subject)")
    fails(_enter(cli, "--notation", "N" * 31), "--notation (notation)")
    fails(_enter(cli, "--issuer-code", "X" * 36), "--issuer-code (issuer.code)")
    assert _total(api) == 0


def test_enter_applies_the_arrival_rules(api: Api, cli: Cli) -> None:
    now = datetime.now(VN_TZ)
    too_old = now.year - 2
    fails(_enter(cli, "--received-at", "2026-01-01T08:00"), "--received-at (received_at)")
    fails(
        _enter(cli, "--received-at", (now + timedelta(hours=1)).isoformat()),
        "received_at",
        "in the future",
    )
    fails(
        _enter(
            cli, "--received-at", f"{too_old}-12-31T10:00:00+07:00",
            "--issued", f"{too_old}-12-30",
        ),
        f"a document received in {too_old}",
    )  # fmt: skip
    fails(_enter(cli, "--issued", "2099-12-31"), "issued_date", "in the future")
    assert _total(api) == 0
    earlier = (now - timedelta(minutes=5)).replace(microsecond=0)
    doc = ok(_enter(cli, "--received-at", earlier.isoformat()))
    assert datetime.fromisoformat(doc["arrival_at"]) == earlier
    assert doc["arrival_number"] == "01"


def test_enter_flags_the_same_number_written_differently(api: Api, cli: Cli) -> None:
    first = ok(_enter(cli))
    again = ok(_enter(cli, "--notation", "ubnd-vp", number="012"))
    assert again["duplicate_of"] == first["id"]
    listed = cli("document", "list", "--as", "vanthu", "--q", "12/ubnd")
    assert listed.exit_code == 0 and "2 of 2" in listed.stdout, listed.stdout


def test_ids_no_document_has_are_not_found(api: Api, cli: Cli) -> None:
    for document_id in ("99999999999999999999", str(2**31), str(2**63), "0"):
        shown = cli("document", "show", document_id, "--as", "vanthu")
        fails(shown, f"No document {document_id}")
        r = api.client.get(f"/api/v1/documents/{document_id}", headers=api.login("vanthu"))
        assert r.status_code == 404, r.text
    fails(cli("document", "list", "--as", "vanthu", "--offset", str(2**64)), exit_code=2)


def test_register_names_an_unwritable_out_path(api: Api, cli: Cli, tmp_path: Path) -> None:
    year = str(datetime.now(VN_TZ).year)
    register = ("document", "register", "incoming", "--as", "vanthu", "--year", year)
    missing = "/nonexistent/dir/r.csv"
    fails(cli(*register, "--out", missing), missing, "No such file or directory")
    folder = tmp_path / "so-den.csv"
    folder.mkdir()
    fails(cli(*register, "--out", str(folder)), str(folder), "Is a directory")
    written = cli(*register, "--out", str(tmp_path / "so-den-2.csv"))
    assert written.exit_code == 0 and (tmp_path / "so-den-2.csv").is_file(), written.stderr
