"""pyHanko adapter: PAdES signatures on PDFs, their appearance, keys and validation.

Bytes in, bytes out: no database, no HTTP server (a TSA, OCSP responder or CRL may be
fetched). Never imports `engine`, `api` or `storage`.

    keys        load a PKCS#12 file or open a PKCS#11 token -> SigningKey (load once)
    pades       PadesSigner(key, level).sign(pdf, SignatureDetails) -> signed PDF;
                levels B-B, B-T, B-LT, B-LTA; renew_archive_timestamp
    appearance  Decree 30/2020 appendix I: SignerSignature, AgencySeal, TextStamp
    placement   Placement, page boxes, signer_image_rect (where to put the seal)
    fonts       Times-compatible Vietnamese fonts rescaled to 1000 units per em
    trust       TrustSettings: trust roots, revocation policy, fetching
    validate    validate_pdf(pdf, trust) -> ValidationReport (ETSI EN 319 102-1 terms)
    sandbox     validate_untrusted / ValidationSandbox: the same in a worker process
                with a time and memory limit, for uploads
    report      the report types; errors: the SigningError tree
    cms, ltv, documents, aio: internals (CMS template, DSS and levels, PDF opening,
                event loop)
"""
