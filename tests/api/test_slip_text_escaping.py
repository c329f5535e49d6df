"""Slips print what the desk typed: an applicant's name, the missing documents and a refusal
reason with <, & and > come out literally on each database, and an <img> among them neither
reads a local file nor makes the server fetch a URL (reportlab parses paragraphs as markup)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from engine.dossiers.slips import SLIP_KINDS, SlipData, render_slip
from tests.api.test_dossier_documents import _receive, _text
from tests.conftest import Api


class Listener:
    """A local HTTP server that records every request and answers with a PNG image."""

    def __init__(self, png: bytes) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "local.png"
    Image.new("RGB", (8, 8), "red").save(path)
    return path


@pytest.fixture
def listener(png: Path) -> Iterator[Listener]:
    listener = Listener(png.read_bytes())
    thread = threading.Thread(target=listener.server.serve_forever, daemon=True)
    thread.start()
    yield listener
    listener.server.shutdown()
    listener.server.server_close()
    thread.join()


def _words(text: str) -> str:
    return " ".join(text.split())


def _has_no_image(pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True)
    rows = out.stdout.decode().splitlines()[2:]  # after the header and its rule
    assert rows == [], rows
    assert b"/Subtype /Image" not in pdf and b"/XObject" not in pdf


def test_slips_print_markup_in_name_missing_items_and_reason_literally(
    api: Api, listener: Listener, png: Path, tmp_path: Path
) -> None:
    name = f'Trần <Thị> B & C > D <img src="{listener.url}/name.png" width="10" height="10"/>'
    missing = [
        "Bản sao <giấy> chứng sinh",
        f'Tờ khai <img src="{png}" width="10" height="10"/>',
        "CCCD & sổ hộ khẩu > 1 bản",
    ]
    reason = 'Không cư trú <tại> xã & <img src="/etc/hostname" width=10 height=10/>'
    h = api.login("tiepnhan")
    applicant = {"full_name": name, "id_number": "001190012345", "phone": "0912345678"}
    accepted = _receive(api, applicant=applicant)
    waiting = _receive(api, applicant=applicant, complete=False, missing_documents=missing)
    refused = _receive(api, applicant=applicant, complete=False, refusal_reason=reason)
    assert accepted["applicant"]["full_name"] == name  # stored as typed
    slips = [
        (accepted["code"], "receipt", [name]),
        (accepted["code"], "control", [name]),
        (waiting["code"], "supplement", [name, *missing]),
        (refused["code"], "refusal", [name, reason]),
    ]
    for code, kind, expected in slips:
        r = api.client.get(f"/api/v1/dossiers/{code}/slips/{kind}", headers=h)
        assert r.status_code == 200, (kind, r.text)
        text = _text(r.content)
        assert SLIP_KINDS[kind][1] in text
        for value in expected:
            assert _words(value) in text, (kind, value, text)
        _has_no_image(r.content, tmp_path)
    assert listener.paths == []  # the server fetched nothing


def test_every_field_of_every_slip_is_plain_text(tmp_path: Path) -> None:
    # Fields the desk does not type (agency and official names, the control rows) too.
    mark = "<b>x</b> & <i>y</i> > <img src=/etc/hostname width=9 height=9/>"
    now = datetime.now(UTC)
    data = SlipData(
        agency_name=f"UBND {mark}",
        code=f"000.01.20.H99 {mark}",
        applicant={"full_name": f"Lê {mark}", "id_number": mark, "phone": mark},
        procedure_name=f"Thủ tục {mark}",
        procedure_code=mark,
        received_at=now,
        due_at=now,
        missing_documents=[mark],
        refusal_reason=mark,
        apology_reason=mark,
        new_due_at=now,
        official=f"Cán bộ {mark}",
        rows=[dict.fromkeys(("step", "by", "started", "finished", "allowed", "used"), mark)],
    )
    # Code, name, id number, phone, procedure name and code, official: on every slip; then
    # the missing item, the refusal or apology reason, or the six cells of a control row.
    expected = {"receipt": 7, "supplement": 8, "refusal": 8, "apology": 8, "control": 13}
    for kind in SLIP_KINDS:
        pdf = render_slip(kind, data)
        text = _text(pdf)
        assert "UBND <B>X</B> & <I>Y</I> > <IMG" in text, (kind, text)  # in capitals
        assert f"Lê {mark}" in text and f"Cán bộ {mark}" in text, (kind, text)
        assert text.count("<b>x</b> & <i>y</i>") == expected[kind], (kind, text)
        _has_no_image(pdf, tmp_path)
