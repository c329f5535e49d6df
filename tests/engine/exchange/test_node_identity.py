"""The node key that peers pin is made once, kept, and the same in every process."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from engine.exchange.identity import load_identity
from storage.durable import write_atomic


def _fingerprint(path: str, barrier: object) -> bytes:
    barrier.wait()  # type: ignore[attr-defined]  # all start generating at the same moment
    identity = load_identity("H99", None, None, Path(path))
    return identity.certificate.public_bytes(serialization.Encoding.DER)


def test_processes_starting_together_all_use_the_one_key_on_disk(tmp_path: Path) -> None:
    # `serve` and a separate `worker` (or several) on a new node: each finds no key and
    # makes one; the key the file keeps must be the one every process signs with.
    generated = tmp_path / "exchange" / "node.p12"
    ctx = multiprocessing.get_context("spawn")
    count = 4
    with ctx.Manager() as manager:
        barrier = manager.Barrier(count)
        with ctx.Pool(count) as pool:
            certs = pool.starmap(_fingerprint, [(str(generated), barrier)] * count)
    on_disk = load_identity("H99", None, None, generated).certificate
    assert set(certs) == {on_disk.public_bytes(serialization.Encoding.DER)}
    assert [p.name for p in generated.parent.iterdir()] == ["node.p12"]  # no temp left


def test_an_exclusive_write_keeps_what_is_there(tmp_path: Path) -> None:
    target = tmp_path / "key"
    assert write_atomic(target, b"first", exclusive=True) is True
    assert write_atomic(target, b"second", exclusive=True) is False
    assert target.read_bytes() == b"first"
    assert write_atomic(target, b"third") is True
    assert target.read_bytes() == b"third"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]
