"""`lienthong sign` and `lienthong verify` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pki import PASSWORD, TestPki
from tests.signing.conftest import require_tool
from tests.signing.images import opaque_png, seal_png, signature_png
from tests.signing.pdfs import make_pdf, pdfsig

LIENTHONG = shutil.which("lienthong", path=str(Path(sys.executable).parent)) or "lienthong"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LIENTHONG, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-signing")
    pki = TestPki.generate("rsa")
    (base / "root.pem").write_bytes(pki.root.pem)
    pki.write_pkcs12(base / "official.p12", pki.official)
    pki.write_pkcs12(base / "seal.p12", pki.seal)
    (base / "in.pdf").write_bytes(make_pdf(text="Quyet dinh so 12/QD-UBND"))
    (base / "signature.png").write_bytes(signature_png())
    (base / "seal.png").write_bytes(seal_png())
    (base / "opaque.png").write_bytes(opaque_png())
    return {
        "dir": base,
        "root": base / "root.pem",
        "p12": base / "official.p12",
        "seal_p12": base / "seal.p12",
        "pdf": base / "in.pdf",
        "signature": base / "signature.png",
        "seal": base / "seal.png",
        "opaque": base / "opaque.png",
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


def _verified(material: dict[str, Path], path: Path) -> list[dict]:
    checked = _run("verify", path, "--trust", material["root"], "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [entry] = json.loads(checked.stdout)
    return list(entry["signatures"])


def test_each_appearance_signs_a_pdf_that_verifies_here_and_in_pdfsig(
    material: dict[str, Path],
) -> None:
    require_tool("pdfsig")
    base, p12, seal = material["dir"], material["p12"], material["seal_p12"]
    signer = base / "look-signer.pdf"
    done = _run(
        "sign", material["pdf"], signer, "--pkcs12", p12, "--password", PASSWORD,
        "--appearance", "signer", "--image", material["signature"],
        "--title", "KT. CHỦ TỊCH", "--title", "PHÓ CHỦ TỊCH", "--reason", "Phê duyệt",
        "--location", "Phủ Lý",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sealed = base / "look-seal.pdf"
    done = _run(
        "sign", signer, sealed, "--pkcs12", seal, "--password", PASSWORD,
        "--appearance", "seal", "--image", material["seal"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = base / "look-text.pdf"
    done = _run(
        "sign", material["pdf"], text, "--pkcs12", seal, "--password", PASSWORD,
        "--appearance", "text", "--stamp-line", "Số: 12/QĐ-UBND",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    assert [s["signer"] for s in _verified(material, signer)] == ["Nguyễn Văn Ánh"]
    both = _verified(material, sealed)
    assert [s["signer"] for s in both] == ["Nguyễn Văn Ánh", "Ủy ban nhân dân tỉnh Hà Nam"]
    assert all(s["indication"] == "TOTAL_PASSED" for s in both)
    assert [s["signer"] for s in _verified(material, text)] == ["Ủy ban nhân dân tỉnh Hà Nam"]
    for path, count in ((signer, 1), (sealed, 2), (text, 1)):
        poppler = pdfsig(str(path))
        assert poppler.valid == [True] * count, poppler.output
        assert b"/SigImg" in path.read_bytes() or path == text


def _refused(*args: str | Path) -> str:
    done = _run(*args)
    assert done.returncode != 0, done.stdout
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def test_appearance_mistakes_are_one_sentence_errors(material: dict[str, Path]) -> None:
    base = material["dir"]
    sign = ("sign", material["pdf"], base / "never.pdf", "--pkcs12", material["p12"])
    key = ("--password", PASSWORD)
    assert "--image" in _refused(*sign, *key, "--appearance", "signer")
    assert "--image" in _refused(*sign, *key, "--appearance", "seal")
    assert "--image" in _refused(
        *sign, *key, "--appearance", "text", "--image", material["signature"]
    )
    assert "--image" in _refused(*sign, *key, "--image", material["signature"])
    assert "missing.png" in _refused(
        *sign, *key, "--appearance", "signer", "--image", base / "missing.png"
    )
    assert "PNG" in _refused(*sign, *key, "--appearance", "signer", "--image", material["opaque"])
    assert "blue" in _refused(*sign, *key, "--appearance", "signer", "--image", material["seal"])
    assert "red" in _refused(*sign, *key, "--appearance", "seal", "--image", material["signature"])
    assert "cannot be read" in _refused(
        *sign, *key, "--appearance", "signer", "--image", material["root"]
    )
    # a seal overlaps the signer's image: an unsigned document has none
    assert "signer" in _refused(*sign, *key, "--appearance", "seal", "--image", material["seal"])
    assert "--box" in _refused(
        *sign, *key, "--appearance", "signer", "--image", material["signature"], "--box", "1,2"
    )
    assert "only 1 pages" in _refused(
        *sign, *key, "--appearance", "signer", "--image", material["signature"], "--page", "3"
    )
    assert "--title" in _refused(*sign, *key, "--appearance", "text", "--title", "CHỦ TỊCH")
    assert "--stamp-line" in _refused(*sign, *key, "--stamp-line", "Số: 1")
    assert not (base / "never.pdf").exists()
