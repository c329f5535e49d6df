"""The procedure catalogue: the shipped YAML files load, and every malformed file is refused
with a CatalogueError that names the file and the field."""

from __future__ import annotations

import copy
import pathlib
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.procedures import (
    ONE_STOP_PROCESS_TASKS,
    SHARE_TOLERANCE,
    CatalogueError,
    ProcedureSpec,
    load_catalogue,
    parse_procedure,
)

CATALOGUE_DIR = pathlib.Path(__file__).resolve().parents[2] / "workflows" / "catalogue"
STANDARD_TASKS = ONE_STOP_PROCESS_TASKS["one_stop_standard"]

VALID: dict[str, Any] = {
    "code": "1.001193",
    "name": "Đăng ký khai sinh",
    "field": "Hộ tịch",
    "level": "commune",
    "competent_agency_kind": "commune_pc",
    "competent_unit": "UBND cấp xã",
    "processing_days": 1,
    "fee": {"amount": 0, "note": "Miễn lệ phí khi đăng ký đúng hạn"},
    "documents": [
        {"name": "Tờ khai đăng ký khai sinh", "originals": 1, "copies": 0, "required": True}
    ],
    "online_level": "full",
    "process_id": "one_stop_standard",
    "step_shares": {
        "receive": 0.05,
        "assign": 0.05,
        "appraise": 0.5,
        "approve": 0.2,
        "issue_result": 0.15,
        "return_result": 0.05,
    },
    "legal_basis": ["Luật Hộ tịch 2014"],
}


def valid(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data.update(changes)
    return data


def write(directory: pathlib.Path, name: str, data: Any) -> pathlib.Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# ---------------------------------------------------------------- the shipped catalogue


@pytest.fixture(scope="module")
def catalogue() -> list[ProcedureSpec]:
    return load_catalogue(CATALOGUE_DIR)


def test_shipped_catalogue_loads_at_least_ten_procedures_sorted_by_code(
    catalogue: list[ProcedureSpec],
) -> None:
    assert len(catalogue) >= 10
    codes = [p.code for p in catalogue]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)


def test_shipped_catalogue_covers_commune_and_province_levels(
    catalogue: list[ProcedureSpec],
) -> None:
    assert {p.level for p in catalogue} == {"commune", "province"}


def test_shipped_catalogue_has_exactly_one_liaison_procedure(
    catalogue: list[ProcedureSpec],
) -> None:
    liaison = [p for p in catalogue if p.process_id == "one_stop_liaison_birth"]
    assert len(liaison) == 1
    assert set(liaison[0].step_shares) == set(ONE_STOP_PROCESS_TASKS["one_stop_liaison_birth"])


def test_shipped_catalogue_includes_birth_registration(catalogue: list[ProcedureSpec]) -> None:
    birth = next(p for p in catalogue if p.code == "1.001193")
    assert birth.name == "Đăng ký khai sinh"
    assert birth.level == "commune"
    assert birth.fee.amount == 0


def test_shipped_shares_match_their_process_and_sum_to_one(
    catalogue: list[ProcedureSpec],
) -> None:
    for p in catalogue:
        assert set(p.step_shares) == set(ONE_STOP_PROCESS_TASKS[p.process_id]), p.code
        assert abs(sum(p.step_shares.values()) - 1) <= SHARE_TOLERANCE, p.code


# ---------------------------------------------------------------- the model


def test_valid_procedure_parses_to_frozen_spec_with_decimals() -> None:
    spec = parse_procedure(valid(processing_days=0.5), source="ok.yaml")
    assert spec.processing_days == Decimal("0.5")
    assert spec.step_shares["appraise"] == Decimal("0.5")
    with pytest.raises(ValueError):
        spec.code = "2.000815"  # type: ignore[misc]


def test_catalogue_error_is_a_value_error_and_an_engine_error() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_procedure(valid(level="district"), source="x.yaml")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, EngineError)
    assert len(caught.value.details) == 1
    assert caught.value.details[0]["field"] == "level"
    assert caught.value.details[0]["source"] == "x.yaml"


def test_full_dvc_code_with_agency_suffix_is_accepted() -> None:
    spec = parse_procedure(valid(code="1.001193.000.00.00.H49"), source="ok.yaml")
    assert spec.code == "1.001193.000.00.00.H49"


# ---------------------------------------------------------------- bad files

BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown_key", valid(colour="đỏ"), "colour"),
    ("missing_key", {k: v for k, v in VALID.items() if k != "legal_basis"}, "legal_basis"),
    ("bad_level", valid(level="district"), "level"),
    ("bad_agency_kind", valid(competent_agency_kind="district_pc"), "competent_agency_kind"),
    ("bad_online_level", valid(online_level="level4"), "online_level"),
    ("code_as_number", valid(code=1.001193), "code"),
    ("code_malformed", valid(code="KS-01"), "code"),
    ("code_too_long", valid(code="1.001193" + ".A" * 30), "code"),
    ("name_too_long", valid(name="x" * 501), "name"),
    ("quarter_day", valid(processing_days=1.25), "processing_days"),
    ("zero_days", valid(processing_days=0), "processing_days"),
    ("days_as_bool", valid(processing_days=True), "processing_days"),
    ("fee_fraction", valid(fee={"amount": 2000.5}), "fee.amount"),
    ("negative_fee", valid(fee={"amount": -1}), "fee.amount"),
    ("fee_unknown_key", valid(fee={"amount": 0, "currency": "VND"}), "fee.currency"),
    ("no_documents", valid(documents=[]), "documents"),
    (
        "document_without_sheets",
        valid(documents=[{"name": "Tờ khai", "originals": 0, "copies": 0, "required": True}]),
        "documents.0.copies",
    ),
    (
        "document_unknown_key",
        valid(
            documents=[
                {"name": "Tờ khai", "originals": 1, "copies": 0, "required": True, "page": 1}
            ]
        ),
        "documents.0.page",
    ),
    ("unknown_process", valid(process_id="one_stop_fast"), "process_id"),
    (
        "shares_not_summing_to_one",
        valid(step_shares={t: 0.1 for t in STANDARD_TASKS}),
        "step_shares",
    ),
    (
        "shares_of_other_process",
        valid(step_shares={t: 1 / 6 for t in ONE_STOP_PROCESS_TASKS["one_stop_liaison_birth"]}),
        "step_shares",
    ),
    (
        "share_not_positive",
        valid(step_shares={**VALID["step_shares"], "assign": 0, "appraise": 0.55}),
        "step_shares",
    ),
    ("empty_legal_basis", valid(legal_basis=[]), "legal_basis"),
]


@pytest.mark.parametrize(("case", "data", "field"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_file_is_refused_naming_file_and_field(
    tmp_path: pathlib.Path, case: str, data: dict[str, Any], field: str
) -> None:
    write(tmp_path, "good.yaml", valid(code="2.000815"))
    bad = write(tmp_path, f"{case}.yaml", data)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path)
    assert caught.value.source == str(bad)
    assert caught.value.field == field
    assert str(bad) in str(caught.value)
    assert field in str(caught.value)


def test_malformed_yaml_is_refused_with_its_line(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text('code: "1.001193"\nname: [unclosed\n', encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path)
    assert caught.value.source == str(bad)
    assert caught.value.field == "<yaml>"
    assert "line" in str(caught.value)


@pytest.mark.parametrize(
    "content", ["", "- just\n- a list\n", "42\n"], ids=["empty", "list", "scalar"]
)
def test_file_that_is_not_a_mapping_is_refused(tmp_path: pathlib.Path, content: str) -> None:
    bad = tmp_path / "odd.yaml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path)
    assert caught.value.source == str(bad)
    assert caught.value.field == "<root>"


def test_file_not_in_utf8_is_refused(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "utf16.yaml"
    bad.write_bytes('name: "Đăng ký"\n'.encode("utf-16"))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path)
    assert caught.value.source == str(bad)


def test_duplicate_codes_are_refused_naming_both_files(tmp_path: pathlib.Path) -> None:
    first = write(tmp_path, "a.yaml", valid())
    second = write(tmp_path, "b.yaml", valid(name="Đăng ký khai sinh (bản trùng)"))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path)
    assert caught.value.source == str(second)
    assert caught.value.field == "code"
    assert str(first) in str(caught.value)


def test_missing_directory_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CatalogueError):
        load_catalogue(tmp_path / "nowhere")


def test_non_yaml_files_are_ignored_and_result_is_sorted(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "z.yaml", valid(code="1.000656", name="Đăng ký khai tử"))
    write(tmp_path, "a.yml", valid(code="2.000815", name="Chứng thực bản sao"))
    (tmp_path / "README.md").write_text("không phải thủ tục", encoding="utf-8")
    assert [p.code for p in load_catalogue(tmp_path)] == ["1.000656", "2.000815"]


# ---------------------------------------------------------------- shares, property-based

_share = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1"), places=3, allow_nan=False)


@given(st.tuples(*(_share for _ in STANDARD_TASKS)))
def test_shares_not_summing_to_one_are_rejected(values: tuple[Decimal, ...]) -> None:
    assume(abs(sum(values, Decimal(0)) - 1) > SHARE_TOLERANCE)
    shares = dict(zip(STANDARD_TASKS, values, strict=True))
    with pytest.raises(CatalogueError) as caught:
        parse_procedure(valid(step_shares=shares), source="h.yaml")
    assert caught.value.field == "step_shares"


@given(
    st.lists(
        st.integers(min_value=1, max_value=1000),
        min_size=len(STANDARD_TASKS),
        max_size=len(STANDARD_TASKS),
    )
)
def test_shares_summing_to_one_within_tolerance_are_accepted(weights: list[int]) -> None:
    # Rounding each normalised weight to 4 places keeps the sum within 6 × 0.00005.
    total = sum(weights)
    shares = {
        task: (Decimal(w) / total).quantize(Decimal("0.0001"))
        for task, w in zip(STANDARD_TASKS, weights, strict=True)
    }
    if any(share <= 0 for share in shares.values()):
        return
    spec = parse_procedure(valid(step_shares=shares), source="h.yaml")
    assert abs(sum(spec.step_shares.values()) - 1) <= SHARE_TOLERANCE
