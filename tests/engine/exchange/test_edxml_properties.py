"""Properties of edXML packages: build → serialise → parse gives back the same value,
well-formed packages validate clean, and validation never raises on any bytes."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calendar import VN_TZ
from engine.exchange.edxml import (
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentId,
    DocumentPackage,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
    build_document,
    build_status,
    parse_document,
    parse_status,
)
from engine.exchange.validation import validate
from tests.engine.exchange.samples import DOCUMENT_SAMPLE

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY"
    "àảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
    "0123456789 .,;:/-()"
)
_ANY = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs"))


def _text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Non-empty text without surrounding blanks (parsing strips them), XML-safe."""
    raw = st.text(VIETNAMESE, min_size=1, max_size=max_size) | st.text(
        _ANY, min_size=1, max_size=max_size
    )
    return raw.map(str.strip).filter(bool)


def _opt(s: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | s


_CODE = st.from_regex(r"\d{3}\.\d{2}\.\d{2}\.[GHK]\d{2}", fullmatch=True)
_DATE = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2099, 12, 31))
_STAMP = st.datetimes(
    min_value=dt.datetime(1990, 1, 2),
    max_value=dt.datetime(2099, 12, 30),
    timezones=st.sampled_from([VN_TZ, dt.UTC, dt.timezone(dt.timedelta(hours=-5))]),
).map(lambda t: t.replace(microsecond=0))
_NOTATION = st.from_regex(r"[A-ZĐ]{1,4}(-[A-ZĐ]{1,5}){0,2}(/[A-Z]{1,3})?", fullmatch=True)
_DOCUMENT_ID = st.builds(
    DocumentId,
    _CODE,
    _DATE,
    st.integers(1, 99999).map(str),
    _NOTATION,
)
_DOCUMENT_ID_TEXT = _DOCUMENT_ID.map(str)


def _tuple(s: st.SearchStrategy[object], **kw: int) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(s, **kw).map(tuple)


_ORG = st.builds(
    Organization,
    organ_id=_CODE,
    organ_name=_text(),
    organization_in_charge=_opt(_text()),
    organ_add=_opt(_text()),
    email=_opt(st.emails()),
    telephone=_opt(st.from_regex(r"0\d{9}", fullmatch=True)),
    fax=_opt(st.from_regex(r"0\d{9}", fullmatch=True)),
    website=_opt(_text()),
)
_STAFF = st.builds(
    StaffInfo,
    department=_opt(_text()),
    staff=_opt(_text()),
    email=_opt(st.emails()),
    mobile=_opt(st.from_regex(r"09\d{8}", fullmatch=True)),
)
_RESPONSE_FOR = st.builds(
    ResponseFor,
    organ_id=_CODE,
    code=_text(),
    promulgation_date=_opt(_DATE),
    document_id=_DOCUMENT_ID_TEXT,
)
_HEADER = st.builds(
    MessageHeader,
    from_=_ORG,
    to=_tuple(_ORG, min_size=1, max_size=4, unique_by=lambda o: o.organ_id),  # type: ignore[attr-defined]
    document_id=_DOCUMENT_ID_TEXT,
    code=st.builds(Code, code_number=st.integers(1, 9999).map(str), code_notation=_NOTATION),
    promulgation_info=st.builds(PromulgationInfo, place=_text(), promulgation_date=_DATE),
    document_type=st.builds(
        DocumentType,
        type=st.integers(1, 99).map(str),
        type_detail=_opt(st.integers(0, 9).map(str)),
        type_name=_opt(_text()),
    ),
    subject=_text(120),
    content=_opt(_text(120)),
    signer_info=_opt(
        st.builds(SignerInfo, competence=_opt(_text()), position=_opt(_text()), full_name=_text())
    ),
    due_date=_opt(_DATE),
    to_places=_tuple(_text(), max_size=3),
    other_info=st.builds(
        OtherInfo,
        priority=st.sampled_from(Priority),
        sphere_of_promulgation=_opt(_text()),
        typer_notation=_opt(_text()),
        promulgation_amount=_opt(st.integers(0, 10**6)),
        page_amount=_opt(st.integers(0, 10**4)),
        direction=_opt(_text()),
        appendixes=_tuple(_text(), max_size=3),
    ),
    response_for=_opt(_RESPONSE_FOR),
    steering_type=_opt(st.integers(0, 3)),
)
_BUSINESS = st.builds(
    Business,
    business_doc_type=st.sampled_from(BusinessDocType),
    business_doc_reason=_opt(_text()),
    business_document_info=_opt(
        st.builds(
            BusinessDocumentInfo,
            document_info=_opt(_text()),
            document_receiver=_opt(_text()),
            receiver_list=_tuple(
                st.builds(Receiver, receiver_type=st.integers(0, 1), organ_id=_CODE), max_size=3
            ),
        )
    ),
    document_id=_opt(_DOCUMENT_ID_TEXT),
    paper=_opt(st.integers(0, 1)),
    staff_info=_opt(_STAFF),
    replacement_info_list=_tuple(
        st.builds(
            ReplacementInfo, document_id=_DOCUMENT_ID_TEXT, organ_id_list=_tuple(_CODE, max_size=3)
        ),
        max_size=2,
    ),
)
_ATTACHMENT = st.builds(
    Attachment,
    content_id=st.uuids().map(lambda u: f"cid:{u}"),
    name=_text(60).map(lambda n: n + ".pdf"),
    content_type=st.sampled_from(
        ["application/pdf", "application/zip", "text/plain; charset=utf-8"]
    ),
    data=st.binary(min_size=1, max_size=300)
    | st.binary(max_size=300).map(lambda b: b"%PDF-1.4\n" + b),
    description=_opt(_text()),
)
DOCUMENTS = st.builds(
    DocumentPackage,
    message_header=_HEADER,
    trace_header_list=st.builds(
        TraceHeaderList,
        trace_headers=_tuple(st.builds(TraceHeader, organ_id=_CODE, timestamp=_STAMP), max_size=3),
        business=_BUSINESS,
    ),
    attachments=_tuple(_ATTACHMENT, max_size=3, unique_by=lambda a: a.content_id),  # type: ignore[attr-defined]
)
STATUSES = st.builds(
    StatusPackage,
    response_for=_RESPONSE_FOR,
    from_=_ORG,
    status_code=st.sampled_from(StatusCode),
    description=_opt(_text()),
    timestamp=_STAMP,
    staff_info=_opt(_STAFF),
)


@PROPERTY
@given(DOCUMENTS)
def test_document_package_round_trips(pkg: DocumentPackage) -> None:
    assert parse_document(build_document(pkg)) == pkg


@PROPERTY
@given(STATUSES)
def test_status_package_round_trips(status: StatusPackage) -> None:
    assert parse_status(build_status(status)) == status


@PROPERTY
@given(DOCUMENTS)
def test_well_formed_document_packages_validate_clean(pkg: DocumentPackage) -> None:
    assert validate(build_document(pkg)) == []


@PROPERTY
@given(STATUSES)
def test_well_formed_status_packages_validate_clean(status: StatusPackage) -> None:
    assert validate(build_status(status)) == []


@PROPERTY
@given(_DOCUMENT_ID)
def test_document_id_round_trips(doc_id: DocumentId) -> None:
    assert DocumentId.parse(str(doc_id)) == doc_id


SAMPLE = DOCUMENT_SAMPLE.read_bytes()


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=400)
    | st.tuples(st.integers(0, len(SAMPLE)), st.integers(0, 200), st.binary(max_size=40)).map(
        lambda cut: SAMPLE[: cut[0]] + cut[2] + SAMPLE[cut[0] + cut[1] :]
    )
)
def test_validation_never_raises(data: bytes) -> None:
    issues = validate(data)
    assert all(i.code and " / " in i.message for i in issues)
