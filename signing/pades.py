"""PAdES baseline signatures (ETSI EN 319 142-1): B-B, B-T, B-LT and B-LTA.

    B-B    CMS signature with signing-certificate-v2, /SubFilter /ETSI.CAdES.detached
    B-T    + an RFC 3161 signature timestamp from a TSA
    B-LT   + certificates, CRLs and OCSP responses in the document security store (DSS)
    B-LTA  + a document timestamp over all of it

Build a `PadesSigner` once per key and level and reuse it: the key stays loaded, the
CMS template is cached (see `signing.cms`) and the space for the signature is reserved
from the key's certificate sizes, so no sizing dry run happens per document.
Bytes in, bytes out: the signed PDF is the input plus an incremental update.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from signing.aio import run_sync
from signing.appearance import Appearance, Placement
from signing.documents import is_certification, malformed, open_writer
from signing.errors import SigningError, TimestampError, ValidationMaterialError
from signing.keys import SigningKey
from signing.trust import TrustSettings

__all__ = [
    "PadesLevel",
    "PadesSigner",
    "SignatureDetails",
    "renew_archive_timestamp",
    "upgrade_to_lta",
    "timestamper_for",
]


class PadesLevel(enum.StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def timestamped(self) -> bool:
        return self is not PadesLevel.B_B

    @property
    def long_term(self) -> bool:
        return self in (PadesLevel.B_LT, PadesLevel.B_LTA)


@dataclass(frozen=True)
class SignatureDetails:
    """What one signature says and how it looks.

    `certify`: make it a certification (author) signature that still permits form
    filling and further signatures; only the first signature of a document may. After
    it, new *visible* signatures may only fill fields that existed before it: create
    them with `reserve` (name and placement of empty signature fields added in the
    same revision, e.g. for the agency seal).
    `lock`: the signature (in a new field) locks the document: no changes after it
    but further validation material and document timestamps (the agency's final
    signature).
    """

    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    contact_info: str | None = None
    certify: bool = False
    appearance: Appearance | None = None
    lock: bool = False
    reserve: tuple[tuple[str, Placement], ...] = ()


def timestamper_for(tsa_url: str, *, timeout: float = 10.0) -> TimeStamper:
    """An RFC 3161 client for a TSA URL."""
    return HTTPTimeStamper(tsa_url, timeout=int(timeout))


def _timestamp_error(e: BaseException) -> TimestampError:
    return TimestampError(
        "Máy chủ cấp dấu thời gian (TSA) không trả lời hoặc trả lời sai; hãy thử lại sau / "
        "The timestamp authority (TSA) did not answer or answered wrongly; try again later",
        details=str(e),
    )


class PadesSigner:
    """Signs PDFs with one key at one PAdES level."""

    def __init__(
        self,
        key: SigningKey,
        level: PadesLevel = PadesLevel.B_B,
        *,
        tsa_url: str | None = None,
        timestamper: TimeStamper | None = None,
        trust: TrustSettings | None = None,
        digest: str = "sha256",
    ) -> None:
        """Raises SigningError (code `tsa_required` / `trust_required`) if the level needs
        a TSA or trust settings that are missing."""
        if timestamper is None and tsa_url is not None:
            timestamper = timestamper_for(tsa_url)
        if level.timestamped and timestamper is None:
            raise SigningError(
                f"Mức {level} cần địa chỉ máy chủ dấu thời gian (TSA) / "
                f"Level {level} needs a timestamp authority (TSA) URL",
                code="tsa_required",
            )
        if level.long_term and trust is None:
            raise SigningError(
                f"Mức {level} cần cấu hình tin cậy để thu thập CRL/OCSP / "
                f"Level {level} needs trust settings to gather CRLs/OCSP responses",
                code="trust_required",
            )
        self.key = key
        self.level = level
        self.timestamper = timestamper if level.timestamped else None
        self.trust = trust
        self.digest = digest
        self._reserve = key.signature_size(timestamped=level.timestamped)

    def sign(self, pdf: bytes, details: SignatureDetails | None = None) -> bytes:
        """Sign `pdf` and return the signed document.

        Raises MalformedPdfError (bad or encrypted input), AppearanceError,
        TimestampError, ValidationMaterialError (B-LT data unavailable) or SigningError
        (e.g. a certified document that forbids more signatures).
        """
        details = details or SignatureDetails()
        try:
            return self._sign(pdf, details, self._reserve)
        except PyHankoSigningError as e:
            if "larger than expected" not in str(e):
                raise _refused(e) from e
        # The reserved space was too small (an unusually large timestamp token):
        # let pyHanko estimate it, once.
        try:
            return self._sign(pdf, details, None)
        except PyHankoSigningError as e:
            raise _refused(e) from e

    def _sign(self, pdf: bytes, details: SignatureDetails, reserve: int | None) -> bytes:
        writer = open_writer(pdf)
        _refuse_if_locked(writer.prev)
        name = details.field_name or _free_field_name(writer.prev)
        spec, style = _field_spec(writer.prev, name, details)
        for slot, where in details.reserve:
            fields.append_signature_field(
                writer, fields.SigFieldSpec(slot, on_page=where.page, box=_box(where))
            )
        vc = self.trust.validation_context() if self.level.long_term and self.trust else None
        meta = signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm=self.digest,
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=details.reason,
            location=details.location,
            contact_info=details.contact_info,
            certify=details.certify,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
            embed_validation_info=vc is not None,
            use_pades_lta=self.level is PadesLevel.B_LTA,
            validation_context=vc,
            signer_key_usage=set(),
        )
        pdf_signer = signers.PdfSigner(
            meta,
            self.key.signer,
            timestamper=self.timestamper,
            stamp_style=style,
            new_field_spec=spec,
        )
        out = io.BytesIO()
        try:
            run_sync(pdf_signer.async_sign_pdf(writer, bytes_reserved=reserve, output=out), vc)
        except TimestampRequestError as e:
            raise _timestamp_error(e) from e
        except (PathBuildingError, PathValidationError, aiohttp.ClientError) as e:
            raise _no_material(e) from e
        except PyHankoSigningError as e:
            if isinstance(e.__cause__, (PathBuildingError, PathValidationError)):
                raise _no_material(e.__cause__) from e
            raise
        except PdfError as e:
            raise malformed(e) from e
        return out.getvalue()


def _box(placement: Placement) -> tuple[int, int, int, int]:
    return placement.rect  # type: ignore[return-value]  # pyHanko accepts floats


def _field_spec(
    reader: Any, name: str, details: SignatureDetails
) -> tuple[fields.SigFieldSpec | None, Any]:
    """The new field to create (None to fill an existing empty one) and its style."""
    existing = name in _empty_fields(reader)
    style = placement = None
    if details.appearance is not None:
        placement, style = details.appearance.resolve(reader)
    if existing:
        return None, style
    if placement is not None and _certified(reader):
        raise SigningError(
            "Tài liệu đã được ký chứng thực; chữ ký hiển thị mới chỉ được đặt vào ô ký đã tạo "
            "trước đó / The document is certified: a new visible signature may only fill a "
            "signature field created before certification (see SignatureDetails.reserve)",
            code="certified_document_needs_field",
        )
    lock: dict[str, Any] = {}
    if details.lock:
        lock = {
            "field_mdp_spec": fields.FieldMDPSpec(fields.FieldMDPAction.ALL),
            "doc_mdp_update_value": fields.MDPPerm.NO_CHANGES,
        }
    if placement is not None:
        return fields.SigFieldSpec(name, on_page=placement.page, box=_box(placement), **lock), style
    return fields.SigFieldSpec(name, **lock), style


def _certified(reader: Any) -> bool:
    return any(is_certification(s) for s in reader.embedded_signatures)


def _refuse_if_locked(reader: Any) -> None:
    if any(s.docmdp_level is fields.MDPPerm.NO_CHANGES for s in reader.embedded_signatures):
        raise SigningError(
            "Tài liệu đã được khóa bởi chữ ký trước, không ký thêm được / The document is "
            "locked by an earlier signature and cannot be signed again",
            code="document_locked",
        )


def _empty_fields(reader: Any) -> set[str]:
    try:
        return {name for name, value, _ in fields.enumerate_sig_fields(reader, filled_status=False)}
    except (KeyError, TypeError, ValueError):
        return set()


def renew_archive_timestamp(pdf: bytes, timestamper: TimeStamper, trust: TrustSettings) -> bytes:
    """Extend the B-LTA chain: validation material for the last document timestamp
    into the DSS, then a new document timestamp over everything (run it before the
    last timestamp's TSA certificate expires or its algorithms weaken).

    Raises MalformedPdfError, TimestampError or ValidationMaterialError.
    """
    reader = open_writer(pdf).prev
    vc = trust.validation_context()
    out = io.BytesIO()
    stamper = signers.PdfTimeStamper(timestamper)
    with _timestamping_errors():
        run_sync(
            stamper.async_update_archival_timestamp_chain(reader, vc, in_place=False, output=out),
            vc,
        )
    return out.getvalue()


def upgrade_to_lta(
    pdf: bytes,
    timestamper: TimeStamper,
    trust: TrustSettings,
    fields: Collection[str] | None = None,
) -> bytes:
    """Raise B-T signatures to B-LTA: the validation material of each signature and its
    timestamp (chain, CRL/OCSP) into the DSS, then a document timestamp over everything.

    `fields`: the signature fields to gather material for (all by default) — with fetching
    on, only those whose chain the caller trusts, or a stranger's certificate makes the
    server fetch from the addresses it names. Raises MalformedPdfError, TimestampError,
    ValidationMaterialError, or SigningError (`no_signature`) when none is left to cover.
    """
    reader = open_writer(pdf).prev
    signatures = [
        s for s in reader.embedded_regular_signatures if fields is None or s.field_name in fields
    ]
    if not signatures:
        raise SigningError(
            "Tài liệu chưa có chữ ký số để nâng cấp / the document has no signature to upgrade",
            code="no_signature",
        )
    vc = trust.validation_context()
    stamper = signers.PdfTimeStamper(timestamper)

    async def upgrade() -> bytes:
        # One revision for all of them: the official's signature and the agency's seal
        # both have to outlive their certificates, not only the last one.
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        for sig in signatures:
            paths = await collect_validation_info(sig, vc)
            DocumentSecurityStore.supply_dss_in_writer(
                writer,
                sig.pkcs7_content.hex().encode("ascii"),
                paths=paths,
                validation_context=vc,
            )
        with_dss = io.BytesIO()
        writer.write(with_dss)
        out = io.BytesIO()
        await stamper.async_timestamp_pdf(
            IncrementalPdfFileWriter(with_dss), "sha256", validation_context=vc, output=out
        )
        return out.getvalue()

    with _timestamping_errors():
        upgraded = run_sync(upgrade(), vc)
    return upgraded


@contextmanager
def _timestamping_errors() -> Iterator[None]:
    # pyHanko's failures while timestamping and gathering validation material, as ours.
    try:
        yield
    except TimestampRequestError as e:
        raise _timestamp_error(e) from e
    except (PathBuildingError, PathValidationError, aiohttp.ClientError) as e:
        raise _no_material(e) from e
    except PyHankoSigningError as e:
        raise _refused(e) from e
    except PdfError as e:
        raise malformed(e) from e


def _no_material(e: BaseException) -> ValidationMaterialError:
    return ValidationMaterialError(
        "Không kiểm tra được chứng thư ký số (chuỗi chứng thư hoặc CRL/OCSP); hãy kiểm tra "
        "kết nối tới CA và cấu hình tin cậy / Cannot validate the signing certificate "
        "(chain or CRL/OCSP); check the connection to the CA and the trust settings",
        details=str(e),
    )


def _refused(e: BaseException) -> SigningError:
    return SigningError(
        f"Không ký được tài liệu: {e} / The document cannot be signed: {e}",
        code="signing_refused",
        details=str(e),
    )


def _free_field_name(reader: Any) -> str:
    taken = {s.field_name for s in reader.embedded_signatures}
    try:
        for f in reader.root["/AcroForm"]["/Fields"]:
            taken.add(str(f.get_object().get("/T", "")))
    except (KeyError, TypeError):
        pass
    n = 1
    while f"Signature{n}" in taken:
        n += 1
    return f"Signature{n}"
