"""Trust settings: which roots we trust and how revocation is checked.

Trust roots are always passed in explicitly (never the operating system's list): the
Vietnamese national root (Root CA of the Ministry of Information and Communications /
NEAC, or the Government CA) is configured by the deployment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from asn1crypto import crl, ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.fetchers.api import FetcherBackend
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

__all__ = ["TrustSettings", "load_certificates"]

_RULES = {
    "if_declared": RevocationCheckingRule.CHECK_IF_DECLARED,
    "soft": RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
    "none": RevocationCheckingRule.NO_CHECK,
}


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (one or many) or a single DER certificate.

    Raises ValueError if `data` holds no certificate.
    """
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


@dataclass(frozen=True)
class TrustSettings:
    """Trust anchors, extra certificates and revocation data for one validation policy.

    `revocation`: "if_declared" (check when the certificate names a CRL or OCSP
    responder; missing data makes the result INDETERMINATE), "soft" (check if data is
    at hand) or "none". `fetch` lets pyHanko download CRLs/OCSP responses over HTTP.
    """

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()
    fetch: bool = False
    revocation: str = "if_declared"
    time_tolerance: dt.timedelta = field(default=dt.timedelta(seconds=30))

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # cryptography's certificates do not pickle; DER does (for signing.sandbox).
        der = serialization.Encoding.DER
        return (
            _rebuild,
            (
                tuple(c.public_bytes(der) for c in self.roots),
                tuple(c.public_bytes(der) for c in self.intermediates),
                self.crls,
                self.ocsps,
                self.fetch,
                self.revocation,
                self.time_tolerance,
            ),
        )

    @classmethod
    def of(cls, roots: Iterable[x509.Certificate], **kwargs: object) -> TrustSettings:
        return cls(tuple(roots), **kwargs)  # type: ignore[arg-type]

    def _revinfo_policy(self) -> CertRevTrustPolicy:
        rule = _RULES[self.revocation]
        return CertRevTrustPolicy(
            RevocationCheckingPolicy(ee_certificate_rule=rule, intermediate_ca_cert_rule=rule)
        )

    def trust_manager(self) -> SimpleTrustManager:
        return SimpleTrustManager.build(trust_roots=[_asn1(c) for c in self.roots])

    def validation_context(self, *, moment: dt.datetime | None = None) -> ValidationContext:
        """A pyHanko validation context (used when signing B-LT/B-LTA)."""
        return ValidationContext(
            trust_manager=self.trust_manager(),
            other_certs=[_asn1(c) for c in self.intermediates],
            crls=list(self.crls),
            ocsps=list(self.ocsps),
            allow_fetching=self.fetch,
            revinfo_policy=self._revinfo_policy(),
            time_tolerance=self.time_tolerance,
            moment=moment,
        )

    def validation_spec(self, backend: FetcherBackend | None = None) -> PdfSignatureValidationSpec:
        """The AdES validation policy (ETSI EN 319 102-1) for `signing.validate`.

        `backend` does the HTTP fetching when `fetch` is on; the caller closes it.
        """
        knowledge = LocalKnowledge(
            known_crls=[CRLContainer(crl.CertificateList.load(c)) for c in self.crls],
            known_ocsps=[
                c for o in self.ocsps for c in OCSPContainer.load_multi(ocsp.OCSPResponse.load(o))
            ],
            known_certs=[_asn1(c) for c in self.intermediates],
        )
        fetching = (
            RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH
            if self.fetch
            else RevinfoOnlineFetchingRule.LOCAL_ONLY
        )
        policy = CertValidationPolicySpec(
            trust_manager=self.trust_manager(),
            revinfo_policy=self._revinfo_policy(),
            time_tolerance=self.time_tolerance,
        )
        return PdfSignatureValidationSpec(
            SignatureValidationSpec(
                cert_validation_policy=policy,
                revinfo_gathering_policy=RevocationInfoGatheringSpec(
                    online_fetching_rule=fetching, fetcher_backend=backend
                ),
                local_knowledge=knowledge,
            )
        )


def _rebuild(
    roots: tuple[bytes, ...],
    intermediates: tuple[bytes, ...],
    crls: tuple[bytes, ...],
    ocsps: tuple[bytes, ...],
    fetch: bool,
    revocation: str,
    time_tolerance: dt.timedelta,
) -> TrustSettings:
    return TrustSettings(
        tuple(x509.load_der_x509_certificate(d) for d in roots),
        tuple(x509.load_der_x509_certificate(d) for d in intermediates),
        crls,
        ocsps,
        fetch,
        revocation,
        time_tolerance,
    )
