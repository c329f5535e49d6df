"""Build small BPMN documents for tests: a chain of nodes in lanes, with SpiffWorkflow extensions."""

from __future__ import annotations

from dataclasses import dataclass, field

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)


@dataclass
class Node:
    id: str
    xml: str
    lane: str | None = None
    extra_ids: list[str] = field(default_factory=list)


def user_task(id: str, lane: str, name: str | None = None) -> Node:
    return Node(id, f'<bpmn:userTask id="{id}" name="{name or id}"/>', lane)


def script_task(id: str, script: str, lane: str | None = None) -> Node:
    return Node(
        id,
        f'<bpmn:scriptTask id="{id}"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>',
        lane,
    )


def service_task(
    id: str, operation: str, params: dict[str, str] | None = None, lane: str | None = None
) -> Node:
    ps = "".join(
        f'<spiffworkflow:parameter id="{k}" type="str" value="{v}"/>'
        for k, v in (params or {}).items()
    )
    return Node(
        id,
        f'<bpmn:serviceTask id="{id}"><bpmn:extensionElements>'
        f'<spiffworkflow:serviceTaskOperator id="{operation}" resultVariable="{id}_result">'
        f"<spiffworkflow:parameters>{ps}</spiffworkflow:parameters>"
        f"</spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>",
        lane,
    )


def timer_catch(id: str, expression: str, lane: str | None = None) -> Node:
    return Node(
        id,
        f'<bpmn:intermediateCatchEvent id="{id}"><bpmn:timerEventDefinition id="{id}_def">'
        f"<bpmn:timeDate>{expression}</bpmn:timeDate></bpmn:timerEventDefinition>"
        f"</bpmn:intermediateCatchEvent>",
        lane,
    )


def chain(
    process_id: str,
    nodes: list[Node],
    *,
    boundary: str = "",
    lanes_extra: dict[str, list[str]] | None = None,
) -> bytes:
    """start → nodes… → end, each node in its lane; `boundary` is extra XML inside the process."""
    lanes: dict[str, list[str]] = {}
    first_lane = next((n.lane for n in nodes if n.lane), "admin")
    for n in nodes:
        if n.lane:
            lanes.setdefault(n.lane, []).append(n.id)
    for lane, ids in (lanes_extra or {}).items():
        lanes.setdefault(lane, []).extend(ids)
    lanes.setdefault(first_lane, []).extend(["start", "end"])
    lane_xml = "".join(
        f'<bpmn:lane id="lane{i}" name="{name}">'
        + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs)
        + "</bpmn:lane>"
        for i, (name, refs) in enumerate(lanes.items())
    )
    ids = ["start", *(n.id for n in nodes), "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))
    )
    body = "".join(n.xml for n in nodes)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} id="d_{process_id}" '
        f'targetNamespace="https://lienthong.vn/test"><bpmn:process id="{process_id}" isExecutable="true">'
        f'<bpmn:laneSet id="ls">{lane_xml}</bpmn:laneSet><bpmn:startEvent id="start"/>{body}'
        f'<bpmn:endEvent id="end"/>{flows}{boundary}</bpmn:process></bpmn:definitions>'
    ).encode()
