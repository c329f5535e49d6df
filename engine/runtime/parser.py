"""Parse BPMN safely and check it against our conventions before it may be deployed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.errors import WorkflowError
from engine.runtime.lanes import parse_lane
from engine.runtime.scripts import ScriptRejected, check_script

__all__ = ["MAX_BPMN_BYTES", "ParsedProcess", "UserTaskInfo", "parse_bpmn"]

MAX_BPMN_BYTES = 5 * 1024 * 1024
FORM_PROPERTY = "formJsonSchemaFilename"


@dataclass(frozen=True)
class UserTaskInfo:
    id: str
    name: str
    lane: str
    form: str | None


@dataclass(frozen=True)
class ParsedProcess:
    process_id: str
    name: str
    sha256: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    user_tasks: tuple[UserTaskInfo, ...] = field(default=())
    service_operations: frozenset[str] = frozenset()


def _hardened_parser() -> etree.XMLParser:
    # No DTD, no entity expansion, no network, no huge trees: hostile XML fails fast. The
    # encoding is forced: the bytes checked for a DOCTYPE are the bytes parsed, whatever the
    # XML declaration claims (UTF-7 or UTF-16 could otherwise spell `<!DOCTYPE` unseen).
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        encoding="utf-8",
    )


# Byte-order marks, and the first bytes of `<?` without one (XML 1.0 appendix F), of the
# encodings other than UTF-8 that an editor may save: named so the refusal says which.
_OTHER_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\x00<", "UTF-32"),
    (b"<\x00\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
    (b"\x00<\x00?", "UTF-16"),
    (b"<\x00?\x00", "UTF-16"),
)


def _refuse_other_encoding(data: bytes, filename: str) -> None:
    """Refuse what is not UTF-8: a DOCTYPE in UTF-16 or UTF-32 has no ASCII bytes to find."""
    found = next((name for bom, name in _OTHER_ENCODINGS if data.startswith(bom)), None)
    at = 0
    if found is None:
        try:
            data.decode("utf-8")
            return
        except UnicodeDecodeError as e:
            at = e.start
    vi = f"tệp đang là {found}" if found else f"byte {at} không hợp lệ"
    en = f"it is {found}" if found else f"invalid byte at {at}"
    raise WorkflowError(
        f"{filename}: tệp BPMN phải được lưu ở mã UTF-8 ({vi}) / "
        f"the BPMN file must be saved as UTF-8 ({en}); save it again as UTF-8",
        code="bpmn_encoding",
    )


def _forbidden_dtd(filename: str) -> WorkflowError:
    return WorkflowError(
        f"{filename}: BPMN không được chứa DOCTYPE hoặc ENTITY / "
        "BPMN must not contain a DOCTYPE or entity declarations",
        code="bpmn_forbidden_dtd",
    )


def _parse_xml(data: bytes, filename: str) -> etree._ElementTree:
    if len(data) > MAX_BPMN_BYTES:
        raise WorkflowError(
            f"{filename}: tệp BPMN vượt quá {MAX_BPMN_BYTES // 1024 // 1024} MB / "
            f"BPMN file larger than {MAX_BPMN_BYTES // 1024 // 1024} MB",
            code="bpmn_too_large",
        )
    _refuse_other_encoding(data, filename)
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise _forbidden_dtd(filename)
    try:
        tree = etree.fromstring(data, parser=_hardened_parser()).getroottree()
    except etree.XMLSyntaxError as e:
        raise WorkflowError(
            f"{filename}: XML không hợp lệ / not well-formed XML: {e}", code="bpmn_malformed"
        ) from e
    if tree.docinfo.doctype:  # one after a prolog longer than the head read above
        raise _forbidden_dtd(filename)
    return tree


def _pick_process(parser: SpiffBpmnParser, tree: etree._ElementTree, filename: str) -> str:
    executable = tree.xpath("//bpmn:process[@isExecutable='true']/@id", namespaces=_BPMN_NS)
    candidates = list(executable) or list(parser.get_process_ids())
    if len(candidates) != 1:
        raise WorkflowError(
            f"{filename}: cần đúng một quy trình isExecutable=true, thấy {len(candidates)} / "
            f"exactly one executable process expected, found {len(candidates)}",
            code="bpmn_process_count",
        )
    return str(candidates[0])


_BPMN_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
_CODE_XPATH = {
    "exec": "//bpmn:scriptTask/bpmn:script",
    "eval": "//bpmn:conditionExpression | //bpmn:timeDate | //bpmn:timeDuration | //bpmn:timeCycle",
}


def _check_scripts(tree: etree._ElementTree, filename: str) -> None:
    # Refuse sandbox escapes at deploy time rather than as an incident months later.
    for mode, xpath in _CODE_XPATH.items():
        for node in tree.xpath(xpath, namespaces=_BPMN_NS):
            code = (node.text or "").strip()
            if not code:
                continue
            try:
                check_script(code, mode)
            except ScriptRejected as e:
                owner = node.getparent()
                where = owner.get("id") if owner is not None else "?"
                raise WorkflowError(
                    f"{filename}: mã trong '{where}' bị từ chối / code in '{where}' rejected: {e}",
                    code="bpmn_script_rejected",
                ) from e


def parse_bpmn(data: bytes, filename: str) -> ParsedProcess:
    """Parse and validate a BPMN file; raises WorkflowError naming what is wrong."""
    tree = _parse_xml(data, filename)
    _check_scripts(tree, filename)
    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_xml(tree, filename)
        process_id = _pick_process(parser, tree, filename)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (ValidationException, SpiffWorkflowException) as e:
        raise WorkflowError(
            f"{filename}: BPMN không hợp lệ / invalid BPMN: {e}", code="bpmn_invalid"
        ) from e
    except WorkflowError:
        raise
    except Exception as e:  # SpiffWorkflow raises bare exceptions for some malformed input
        raise WorkflowError(
            f"{filename}: BPMN không hợp lệ / invalid BPMN: {type(e).__name__}: {e}",
            code="bpmn_invalid",
        ) from e
    specs = [spec, *subprocess_specs.values()]
    return ParsedProcess(
        process_id=process_id,
        name=spec.description or process_id,
        sha256=hashlib.sha256(data).hexdigest(),
        spec=spec,
        subprocess_specs=subprocess_specs,
        user_tasks=tuple(_user_tasks(specs, filename)),
        service_operations=frozenset(_service_operations(specs)),
    )


def _user_tasks(specs: list[BpmnProcessSpec], filename: str) -> list[UserTaskInfo]:
    tasks = []
    for spec in specs:
        for ts in spec.task_specs.values():
            if not getattr(ts, "manual", False):
                continue
            if not ts.lane:
                raise WorkflowError(
                    f"{filename}: công việc '{ts.name}' không thuộc lane nào / "
                    f"user task '{ts.name}' is in no lane; lanes route tasks to inboxes",
                    code="bpmn_task_without_lane",
                )
            parse_lane(ts.lane)  # raises WorkflowError naming the lane
            props: dict[str, Any] = getattr(ts, "extensions", {}).get("properties", {})
            tasks.append(
                UserTaskInfo(
                    id=ts.name,
                    name=ts.bpmn_name or ts.name,
                    lane=ts.lane,
                    form=props.get(FORM_PROPERTY),
                )
            )
    return tasks


def _service_operations(specs: list[BpmnProcessSpec]) -> set[str]:
    return {
        ts.operation_name
        for spec in specs
        for ts in spec.task_specs.values()
        if hasattr(ts, "operation_name")
    }
