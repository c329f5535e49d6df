"""BPMN uploads that used to answer 500: a UTF-16 file and a very long file name."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import ProcessDefinition
from tests.bpmn_builder import chain, user_task
from tests.cli import Cli, fails
from tests.conftest import Api


def _bpmn(process_id: str) -> bytes:
    return chain(process_id, [user_task("t", "[reception@case]")])


def _utf16(process_id: str) -> bytes:
    return (
        _bpmn(process_id).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    )


def test_utf16_upload_is_a_clear_422(api: Api) -> None:
    r = api.client.post(
        "/api/v1/definitions",
        files={"file": ("u16.bpmn", _utf16("u16"), "application/xml")},
        headers=api.login("thietke"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bpmn_encoding"
    assert "UTF-8" in r.json()["detail"] and "mã UTF-8" in r.json()["detail"]


def test_utf16_file_in_a_deployed_directory_is_a_sentence_not_a_crash(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "u16.bpmn").write_bytes(_utf16("u16"))
    fails(cli("workflows", "deploy", str(tmp_path / "flows")), "u16.bpmn", "UTF-8")


def test_form_file_that_is_not_json_is_a_sentence_not_a_crash(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flows" / "forms").mkdir(parents=True)
    (tmp_path / "flows" / "forms" / "f.json").write_bytes('{"a": 1'.encode("utf-16"))
    fails(cli("workflows", "deploy", str(tmp_path / "flows")), "f.json", "JSON")


def test_long_upload_name_is_cut_keeping_the_extension(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    name = "quy-trinh-" + "x" * 300 + ".bpmn"
    r = api.client.post(
        "/api/v1/definitions",
        files={"file": (name, _bpmn("long_name"), "application/xml")},
        headers=api.login("thietke"),
    )
    assert r.status_code == 201, r.text
    stored = r.json()["filename"]
    assert len(stored) == 255 and stored.startswith("quy-trinh-xxx") and stored.endswith(".bpmn")
    with sessions.begin() as s:
        row = s.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == "long_name"))
        assert row is not None and row.filename == stored
