"""SpiffWorkflow's serializer without the process spec.

The spec is stored once per definition version; putting it in every instance would cost
more than half of each instance's bytes and serialisation time. We keep SpiffWorkflow's
own converters for everything else and only replace the top-level workflow converter.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

__all__ = ["SERIALIZER_VERSION", "dumps", "loads"]

# Our format: SpiffWorkflow's serialisation version, minus the spec. Bump the suffix when
# our own wrapping changes and add a migration beside this module.
SERIALIZER_VERSION = f"{SPIFF_SERIALIZER_VERSION}-nospec.1"


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(  # type: ignore[override]
        self,
        dct: dict[str, Any],
        spec: BpmnProcessSpec | None = None,
        subprocess_specs: dict[str, BpmnProcessSpec] | None = None,
    ) -> BpmnWorkflow:
        if spec is None:
            raise ValueError("a spec-less workflow needs its spec to be restored")
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_SERIALIZER = _make_serializer()


def dumps(workflow: BpmnWorkflow) -> str:
    """Serialise a workflow's state (not its spec) to JSON."""
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        return json.dumps(registry.convert(workflow), cls=_SERIALIZER._encoder_cls)
    finally:
        registry._encoder_mode = False


def loads(
    state: str,
    spec: BpmnProcessSpec,
    subprocess_specs: dict[str, BpmnProcessSpec],
    version: str = SERIALIZER_VERSION,
) -> BpmnWorkflow:
    """Restore a workflow from `dumps` output and its stored spec."""
    dct = json.loads(state, cls=_SERIALIZER.json_decoder_cls)
    spiff_version = version.split("-", 1)[0]
    if spiff_version != SPIFF_SERIALIZER_VERSION and spiff_version in MIGRATIONS:
        MIGRATIONS[spiff_version](dct)
    workflow: BpmnWorkflow = _SERIALIZER.registry.restore(
        dct, spec=spec, subprocess_specs=subprocess_specs
    )
    return workflow
