"""`lienthong edxml validate`: JSON report and exit codes 0 valid, 1 invalid, 2 unreadable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from api.cli import app
from engine.exchange.edxml import Organization, build_document
from signing.keys import load_pkcs12
from signing.xmldsig import sign_package
from tests.engine.exchange.samples import DOCUMENT_SAMPLE, make_package
from tests.engine.exchange.test_edxml import BILLION_LAUGHS
from tests.pki import PASSWORD, TestPki

LIENTHONG = shutil.which("lienthong", path=str(Path(sys.executable).parent)) or "lienthong"
runner = CliRunner()


def _validate(*args: str | Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["edxml", "validate", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-edxml")
    pki = TestPki.generate("rsa")
    package = build_document(make_package())
    signed = sign_package(package, load_pkcs12(pki.pkcs12(pki.seal), PASSWORD))
    to = Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ")
    paths = {
        "valid": package,
        "signed": signed,
        "invalid": build_document(make_package(subject="x" * 501, to=(to, to))),
        "not-xml": b"%PDF-1.4 this is not a package",
        "hostile": BILLION_LAUGHS,
        "seal.pem": pki.seal.pem,
        "official.pem": pki.official.pem,
    }
    for name, data in paths.items():
        (base / name).write_bytes(data)
    return {name: base / name for name in paths} | {"missing": base / "nope.edxml"}


def test_valid_package_exits_0_with_an_empty_error_list(files: dict[str, Path]) -> None:
    # Signed: checked against the certificate it carries, with no --cert needed.
    assert _validate(files["signed"]) == (0, {"valid": True, "errors": []})
    assert _validate(files["valid"], "--unsigned") == (0, {"valid": True, "errors": []})
    assert _validate(DOCUMENT_SAMPLE, "--unsigned") == (0, {"valid": True, "errors": []})


def test_an_unsigned_package_is_invalid_unless_asked_for_the_structure_only(
    files: dict[str, Path],
) -> None:
    code, body = _validate(files["valid"])
    assert code == 1 and [(e["code"], e["path"]) for e in body["errors"]] == [
        ("S.Signature", "Signature")
    ]
    assert "chưa được ký" in body["errors"][0]["message"]


def test_a_package_changed_after_signing_is_invalid_without_cert(files: dict[str, Path]) -> None:
    root = etree.fromstring(files["signed"].read_bytes())
    (subject,) = root.xpath("//*[local-name()='Subject']")
    subject.text = "Nội dung đã bị sửa sau khi ký"
    changed = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    path = files["signed"].with_name("changed")
    path.write_bytes(changed)
    code, body = _validate(path)
    assert code == 1 and [e["code"] for e in body["errors"]] == ["S.Signature"]


def test_invalid_package_exits_1_and_lists_every_error(files: dict[str, Path]) -> None:
    code, body = _validate(files["invalid"], "--unsigned")
    assert code == 1 and body["valid"] is False
    assert {(e["code"], e["path"]) for e in body["errors"]} == {
        ("R.MessageHeader.Subject", "MessageHeader/Subject"),
        ("R.MessageHeader.To.OrganId", "MessageHeader/To[2]/OrganId"),
    }
    assert all(set(e) == {"code", "path", "message"} for e in body["errors"])
    assert any("Trích yếu dài quá 500 ký tự" in e["message"] for e in body["errors"])


@pytest.mark.parametrize(
    ("name", "code"),
    [("missing", "X.Unreadable"), ("not-xml", "X.Malformed"), ("hostile", "X.Doctype")],
)
def test_unreadable_input_exits_2(files: dict[str, Path], name: str, code: str) -> None:
    exit_code, body = _validate(files[name])
    assert exit_code == 2
    assert body["valid"] is False and [e["code"] for e in body["errors"]] == [code]


def test_cert_option_checks_the_signature(files: dict[str, Path]) -> None:
    assert _validate(files["signed"], "--cert", files["seal.pem"]) == (
        0,
        {"valid": True, "errors": []},
    )
    code, body = _validate(files["signed"], "--cert", files["official.pem"])
    assert code == 1 and [e["code"] for e in body["errors"]] == ["S.Signature"]
    code, body = _validate(files["valid"], "--cert", files["seal.pem"])
    assert code == 1 and "chưa được ký" in body["errors"][0]["message"]


def test_an_unreadable_certificate_exits_2(files: dict[str, Path]) -> None:
    assert _validate(files["valid"], "--cert", files["not-xml"])[0] == 2


def test_human_output_names_each_problem(files: dict[str, Path]) -> None:
    ok = runner.invoke(app, ["edxml", "validate", str(files["signed"])])
    assert ok.exit_code == 0 and "hợp lệ / valid" in ok.stdout
    bad = runner.invoke(app, ["edxml", "validate", str(files["invalid"]), "--unsigned"])
    assert bad.exit_code == 1
    assert "R.MessageHeader.To.OrganId MessageHeader/To[2]/OrganId" in bad.stdout


def test_the_installed_command_runs(files: dict[str, Path]) -> None:
    done = subprocess.run(
        [LIENTHONG, "edxml", "validate", str(files["hostile"]), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["errors"][0]["code"] == "X.Doctype"
