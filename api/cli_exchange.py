"""`lienthong exchange`: the node directory (peers) and this node's identity."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from engine.exchange.agency_keys import AgencyCertificate

__all__ = ["exchange_app"]

exchange_app = typer.Typer(
    help="Document exchange between nodes / liên thông văn bản", no_args_is_help=True
)
peer_app = typer.Typer(help="Peer nodes / danh bạ nút liên thông", no_args_is_help=True)
exchange_app.add_typer(peer_app, name="peer")


def _read(path: Path) -> str:
    from api.cli import _fail

    if not path.is_file():
        raise _fail(f"Không đọc được {path} / cannot read {path}")
    return path.read_text(encoding="utf-8")


def _explicit_pins(specs: list[str]) -> dict[str, str | None]:
    from api.cli import _fail

    pins: dict[str, str | None] = {}
    for spec in specs:
        code, sep, path = spec.partition("=")
        if not sep or not code.strip() or not path.strip():
            raise _fail(
                f"--agency-cert cần dạng MÃ=TỆP.pem / --agency-cert takes CODE=FILE.pem: {spec}"
            )
        pins[code.strip()] = _read(Path(path.strip()))
    return pins


def _published_pins(url: str, node_pem: str, codes: list[str]) -> dict[str, str | None]:
    """The agencies' certificates the node at `url` published, checked against the node
    certificate the admin verified out of band; None for a served agency without one."""
    import httpx
    from cryptography import x509

    from api.cli import _errors, _fail
    from engine.exchange.agency_keys import Published, verify_published

    try:
        r = httpx.get(f"{url.rstrip('/')}/exchange/v1/node", timeout=30)
        r.raise_for_status()
        info = r.json()
        published = Published(
            dict(info.get("agency_certificates") or {}),
            str(info.get("agency_certificates_signed_at") or ""),
            str(info.get("agency_certificates_signature") or ""),
        )
        name = str(info["name"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        raise _fail(
            f"Không lấy được thông tin nút {url} / cannot read the node info at {url}: {e}"
        ) from None
    try:
        node_cert = x509.load_pem_x509_certificate(node_pem.encode())
    except ValueError:
        raise _fail("--cert không phải chứng thư PEM / --cert is not a PEM certificate") from None
    with _errors():
        certs = verify_published(node_cert, name, published)
    return {code: published.agency_certificates[code] if code in certs else None for code in codes}


@peer_app.command("add")
def peer_add(
    name: Annotated[str, typer.Argument(help="A name for the peer node")],
    url: Annotated[str, typer.Argument(help="Its base URL, e.g. https://vb.soyte.example.vn")],
    cert: Annotated[Path, typer.Option(help="PEM certificate the peer signs packages with")],
    agency: Annotated[list[str], typer.Option(help="Agency code the peer serves (repeat)")],
    agency_cert: Annotated[
        list[str] | None,
        typer.Option(help="CODE=FILE.pem: pin the certificate of that agency's own key (repeat)"),
    ] = None,
    fetch_agency_certs: Annotated[
        bool,
        typer.Option(
            "--fetch-agency-certs",
            help="Pin the agencies' certificates the peer publishes, signed with its node key "
            "(checked against --cert); agencies that publish none are unpinned",
        ),
    ] = False,
) -> None:
    """Add a peer node (or update it) with the agencies it serves and, optionally, the
    certificates of the agencies that sign with their own key."""
    from api.cli import _unit_of_work, out
    from engine.exchange.peers import add_peer

    node_pem = _read(cert)
    pins: dict[str, str | None] = {}
    if fetch_agency_certs:
        pins = _published_pins(url, node_pem, agency)
    pins |= _explicit_pins(agency_cert or [])
    with _unit_of_work() as (_, session):
        view = add_peer(session, name, url, node_pem, agency, agency_certificates=pins)
    out.print(f"peer {view.name} → {view.url}: {', '.join(view.agencies)}")
    for code, subject in view.agency_certificates.items():
        out.print(f"  {code}: {subject}", highlight=False)


@peer_app.command("list")
def peer_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the peer nodes and the agencies each serves."""
    from api.cli import _unit_of_work, out
    from engine.exchange.peers import list_peers

    with _unit_of_work() as (_, session):
        peers = list_peers(session)
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in peers], ensure_ascii=False, indent=2))
        return
    for p in peers:
        out.print(f"{p.name}\t{p.url}\t{', '.join(p.agencies)}\t{p.certificate_subject}")
        for code, subject in p.agency_certificates.items():
            out.print(f"  {code}\t{subject}", highlight=False)


@peer_app.command("remove")
def peer_remove(
    name: str, yes: Annotated[bool, typer.Option("--yes", help="Really remove it")] = False
) -> None:
    """Forget a peer node (its queued deliveries wait until it is added again)."""
    from api.cli import _fail, _unit_of_work, out
    from engine.exchange.peers import remove_peer

    if not yes:
        raise _fail("Thêm --yes để xác nhận / add --yes to confirm")
    with _unit_of_work() as (_, session):
        remove_peer(session, name)
    out.print(f"removed peer {name}")


@exchange_app.command("node")
def node(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """This node's name and the certificate (PEM) to give to peers; and the certificates of
    its agencies' own keys it publishes to them (`GET /exchange/v1/node`)."""
    from api.cli import _unit_of_work
    from api.routes.exchange import agency_keys
    from engine.exchange.agency_keys import fingerprint, published_certificates

    with _unit_of_work() as (state, session):
        ident = state.node
        agencies = published_certificates(session, agency_keys(state, state.objects))
    if as_json:
        listed = [
            asdict(a)
            | {"not_before": a.not_before.isoformat(), "not_after": a.not_after.isoformat()}
            for a in agencies
        ]
        body = {
            "name": ident.name,
            "certificate_pem": ident.certificate_pem,
            "certificate_sha256": fingerprint(ident.certificate),
            "agency_certificates": listed,
        }
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    typer.echo(ident.certificate_pem, nl=False)
    _describe(ident.name, fingerprint(ident.certificate), agencies)


def _describe(name: str, sha256: str, agencies: list[AgencyCertificate]) -> None:
    # On stderr: `lienthong exchange node > my-node.pem` stays the bare PEM peers are given.
    from api.cli import err

    err.print(f"node {name}: SHA-256 {sha256}", highlight=False, markup=False)
    if not agencies:
        err.print(
            "no agency certificates published (its agencies sign with the node key) / "
            "không công bố chứng thư cơ quan nào",
            highlight=False,
        )
        return
    err.print("agency certificates published / chứng thư cơ quan công bố:", highlight=False)
    for a in agencies:
        err.print(
            f"  {a.code}\t{a.subject}\tSHA-256 {a.sha256}\t"
            f"{a.not_before:%Y-%m-%d} → {a.not_after:%Y-%m-%d}",
            highlight=False,
            markup=False,
        )
