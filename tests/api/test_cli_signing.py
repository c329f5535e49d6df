"""`lienthong sign` and `lienthong verify` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pki import PASSWORD, TestPki
from tests.signing.pdfs import make_pdf

LIENTHONG = shutil.which("lienthong", path=str(Path(sys.executable).parent)) or "lienthong"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LIENTHONG, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-signing")
    pki = TestPki.generate("rsa")
    (base / "root.pem").write_bytes(pki.root.pem)
    pki.write_pkcs12(base / "official.p12", pki.official)
    (base / "in.pdf").write_bytes(make_pdf(text="Quyet dinh so 12/QD-UBND"))
    return {
        "dir": base,
        "root": base / "root.pem",
        "p12": base / "official.p12",
        "pdf": base / "in.pdf",
    }


def test_signed_pdf_verifies_as_total_passed_with_the_trusted_root(
    material: dict[str, Path],
) -> None:
    out = material["dir"] / "signed.pdf"
    signed = _run(
        "sign",
        material["pdf"],
        out,
        "--pkcs12",
        material["p12"],
        "--password",
        PASSWORD,
        "--appearance",
        "text",
        "--stamp-line",
        "Số: 12/QĐ-UBND",
        "--reason",
        "Phê duyệt",
    )
    assert signed.returncode == 0, signed.stderr
    checked = _run("verify", out, "--trust", material["root"], "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [entry] = json.loads(checked.stdout)
    [sig] = entry["signatures"]
    assert sig["indication"] == "TOTAL_PASSED" and sig["intact"] and sig["trusted"]
    assert sig["level"] == "B-B" and sig["signed_at"]


def test_without_the_root_it_is_indeterminate_and_exit_1(material: dict[str, Path]) -> None:
    out = material["dir"] / "signed2.pdf"
    assert (
        _run(
            "sign", material["pdf"], out, "--pkcs12", material["p12"], "--password", PASSWORD
        ).returncode
        == 0
    )
    checked = _run("verify", out, "--json")
    assert checked.returncode == 1
    assert json.loads(checked.stdout)[0]["signatures"][0]["indication"] == "INDETERMINATE"


def test_unsigned_unreadable_and_wrong_password_are_sentences_not_tracebacks(
    material: dict[str, Path],
) -> None:
    unsigned = _run("verify", material["pdf"], "--json")
    assert unsigned.returncode == 1 and json.loads(unsigned.stdout)[0]["signatures"] == []
    junk = material["dir"] / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    unreadable = _run("verify", junk, material["pdf"], "--json")
    assert unreadable.returncode == 2
    assert json.loads(unreadable.stdout)[0]["error"]
    wrong = _run(
        "sign",
        material["pdf"],
        material["dir"] / "x.pdf",
        "--pkcs12",
        material["p12"],
        "--password",
        "sai",
    )
    assert (
        wrong.returncode == 1
        and "Traceback" not in wrong.stderr
        and wrong.stderr.startswith("error:")
    )
    no_key = _run("sign", material["pdf"], material["dir"] / "y.pdf")
    assert no_key.returncode == 1 and "--pkcs12" in no_key.stderr
