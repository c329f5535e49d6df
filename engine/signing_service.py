"""The BPMN service task `sign`: the agency's seal signature on a file of the case.

Processes call it, for example, to seal the result a one-stop dossier returns:

    <spiffworkflow:serviceTaskOperator id="sign" resultVariable="result_file_id">
      <spiffworkflow:parameters>
        <spiffworkflow:parameter id="file_id" type="str" value="result_file_id"/>
        <spiffworkflow:parameter id="text" type="str" value="result_number"/>
      </spiffworkflow:parameters>
    </spiffworkflow:serviceTaskOperator>

It signs with the seal key of the agency that decides the case (the data's
`competent_agency`, else the agency the case belongs to) and returns the new
version's id (None when the case has no file to sign).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.agencies import get_agency
from engine.errors import InvalidInputError, WorkflowError
from engine.runtime.scripts import ServiceCall
from engine.runtime.services import DEFAULT_SERVICES, StepContext
from engine.signing_files import seal_stored_file
from engine.signing_keys import SigningConfig, agency_seal_key
from storage.models import StoredFile, WorkflowInstance
from storage.objects import ObjectStore

__all__ = ["configure_signing"]


@dataclass(frozen=True)
class _Adapters:
    store: ObjectStore
    config: SigningConfig


_configured: list[_Adapters] = []


def configure_signing(store: ObjectStore, config: SigningConfig) -> None:
    """Give processes of this server process the object store and signing settings."""
    _configured[:] = [_Adapters(store, config)]


def _of_the_case(row: StoredFile | None, business_key: str | None) -> bool:
    if row is None or not business_key:
        return False
    if row.owner_type == "dossier":
        return row.owner_id == business_key
    return row.owner_type == "document" and f"VB-{row.owner_id}" == business_key


@DEFAULT_SERVICES.register("sign")
def sign(
    call: ServiceCall, file_id: Any = None, text: Any = None, required: Any = True
) -> str | None:
    """Seal `file_id` — a file of this case — with the key of the agency that decides the
    case (`competent_agency` in the data, else the case's agency; text stamp); the new
    version's id. Without a seal key: an incident, or, when not `required`, the file
    stays as it is."""
    if not file_id:
        return None
    if not _configured:
        raise WorkflowError(
            "Máy chủ chưa cấu hình ký số cho quy trình / signing is not configured in this process",
            code="signing_not_configured",
        )
    ctx: StepContext = call.context
    instance = ctx.session.get(WorkflowInstance, ctx.instance_id)
    assert instance is not None
    if not _of_the_case(ctx.session.get(StoredFile, str(file_id)), instance.business_key):
        raise InvalidInputError(
            f"Tệp {file_id} không thuộc hồ sơ/văn bản này / file {file_id} does not belong to "
            "this case",
            details=[{"field": "file_id", "message": "not a file of this case"}],
        )
    # The agency that decides the case seals its result: with non-boundary reception it is
    # not the desk that received the dossier (the instance's agency).
    competent = call.data.get("competent_agency")
    agency_id = get_agency(ctx.session, str(competent)).id if competent else instance.agency_id
    if not required and agency_seal_key(ctx.session, agency_id) is None:
        return str(file_id)
    adapters = _configured[0]
    label = str(text or "").strip() or "Ký số của cơ quan"
    view = seal_stored_file(
        ctx.session, adapters.store, adapters.config, agency_id, str(file_id), label
    )
    return view.id
