"""The parser's DOCTYPE check sees any encoding: a DTD spelt in UTF-16, UTF-32 or UTF-7 is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.errors import WorkflowError
from engine.runtime.parser import parse_bpmn
from tests.bpmn_builder import chain, user_task
from tests.cli import Cli, fails

# Well-formed, so only the DTD check stands between it and the BPMN parser.
HOSTILE = (
    '<?xml version="1.0" encoding="{enc}"?>'
    '<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&e;'
    "</bpmn:definitions>"
)


def _refused(data: bytes) -> WorkflowError:
    t0 = time.monotonic()
    with pytest.raises(WorkflowError) as caught:
        parse_bpmn(data, "hostile.bpmn")
    assert time.monotonic() - t0 < 1.0
    return caught.value


@pytest.mark.parametrize(
    ("codec", "declared", "named"),
    [
        ("utf-16", "UTF-16", "UTF-16"),  # with a byte-order mark
        ("utf-16-le", "UTF-16", "UTF-16"),  # without one
        ("utf-16-be", "UTF-16", "UTF-16"),
        ("utf-32", "UTF-32", "UTF-32"),
        ("utf-32-be", "UTF-32", "UTF-32"),
    ],
)
def test_doctype_in_a_wide_encoding_is_refused_as_not_utf8(
    codec: str, declared: str, named: str
) -> None:
    error = _refused(HOSTILE.format(enc=declared).encode(codec))
    assert error.code == "bpmn_encoding"
    assert named in error.message and " / " in error.message and "UTF-8" in error.message


def test_a_declared_encoding_cannot_hide_a_doctype_from_the_check() -> None:
    # UTF-7 spells `<` as `+ADw-`: no `<!DOCTYPE` bytes, yet libxml2 would decode one.
    hidden = HOSTILE.format(enc="UTF-7").replace("<!", "+ADw-!").encode("ascii")
    assert b"<!DOCTYPE" not in hidden
    assert _refused(hidden).code in ("bpmn_malformed", "bpmn_forbidden_dtd")


def test_doctype_after_a_long_prolog_is_refused() -> None:
    late = b'<?xml version="1.0"?><!--' + b"x" * 5000 + b'--><!DOCTYPE x SYSTEM "e.dtd"><x/>'
    assert _refused(late).code == "bpmn_forbidden_dtd"


def test_a_utf8_bpmn_with_a_byte_order_mark_still_parses() -> None:
    doc = chain("bom_flow", [user_task("t", "[reception@case]")])
    assert parse_bpmn(b"\xef\xbb\xbf" + doc, "bom.bpmn").process_id == "bom_flow"


def test_cli_deploy_refuses_a_utf16_doctype_in_a_sentence(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hostile.bpmn").write_bytes(HOSTILE.format(enc="UTF-16").encode("utf-16"))
    fails(cli("workflows", "deploy", str(tmp_path / "flows")), "hostile.bpmn", "UTF-8")
