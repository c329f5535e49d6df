"""`lienthong exchange`: the node directory (peers) and this node's identity."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["exchange_app"]

exchange_app = typer.Typer(
    help="Document exchange between nodes / liên thông văn bản", no_args_is_help=True
)
peer_app = typer.Typer(help="Peer nodes / danh bạ nút liên thông", no_args_is_help=True)
exchange_app.add_typer(peer_app, name="peer")


@peer_app.command("add")
def peer_add(
    name: Annotated[str, typer.Argument(help="A name for the peer node")],
    url: Annotated[str, typer.Argument(help="Its base URL, e.g. https://vb.soyte.example.vn")],
    cert: Annotated[Path, typer.Option(help="PEM certificate the peer signs packages with")],
    agency: Annotated[list[str], typer.Option(help="Agency code the peer serves (repeat)")],
) -> None:
    """Add a peer node (or update it) with the agencies it serves."""
    from api.cli import _fail, _unit_of_work, out
    from engine.exchange.peers import add_peer

    if not cert.is_file():
        raise _fail(f"Không đọc được {cert} / cannot read {cert}")
    with _unit_of_work() as (_, session):
        view = add_peer(session, name, url, cert.read_text(encoding="utf-8"), agency)
    out.print(f"peer {view.name} → {view.url}: {', '.join(view.agencies)}")


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
    """This node's name and the certificate (PEM) to give to peers."""
    from api.cli import _errors, _state

    with _errors():
        state = _state()
        ident = state.node
        state.engine.dispose()
    if as_json:
        typer.echo(json.dumps({"name": ident.name, "certificate_pem": ident.certificate_pem}))
    else:
        typer.echo(ident.certificate_pem, nl=False)
