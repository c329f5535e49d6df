"""Secrets of configured signing keys: encrypted at rest, loaded once per process.

    SecretBox     AES-256-GCM under a key derived (HKDF-SHA256) from LIENTHONG_SECRET_KEY;
                  each value is bound to its row owner and field (associated data), so an
                  encrypted password cannot be moved to another key's row
    loaded_key    the `signing.keys.SigningKey` of a row, from the process cache keyed by
                  (id, version, fingerprint of the encrypted material); a miss decrypts and
                  loads it (a PKCS#12 parse is ~30 ms, a token login more), a hit costs a dict
                  lookup. Each entry has a lock: a SigningKey is not thread-safe
    forget_loaded_keys   close every cached key (token sessions) — at shutdown, in tests

Plaintext secrets live only in local variables while a key is loaded; they are never
logged, never put in an error message and never returned.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import ConflictError
from signing.errors import WrongPasswordError
from signing.keys import SigningKey, load_pkcs12, open_pkcs11
from signing.trust import load_certificates
from storage.models import SigningKey as KeyRow

__all__ = ["LoadedKey", "SecretBox", "forget_loaded_keys", "loaded_key", "owner_context"]

_VERSION = b"\x01"
_NONCE = 12
_MAX_CACHED = 64


def owner_context(row: KeyRow) -> str:
    """What each encrypted value of the row is bound to: its owner."""
    return f"agency:{row.agency_id}" if row.agency_id is not None else f"user:{row.user_id}"


@lru_cache(maxsize=4)
def _aead(secret_key: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lienthong/signing-keys/v1")
    return AESGCM(hkdf.derive(secret_key.encode()))


class SecretBox:
    """Encrypts the secrets of signing keys under the server's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._aead = _aead(secret_key)

    def __repr__(self) -> str:
        return "SecretBox(…)"

    def seal(self, plaintext: bytes, context: str, what: str) -> bytes:
        """`plaintext` encrypted for the row owner `context` and field `what`."""
        nonce = os.urandom(_NONCE)
        aad = f"{context}/{what}".encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, context: str, what: str) -> bytes:
        """The plaintext; raises ConflictError if it cannot be decrypted."""
        try:
            if blob[:1] != _VERSION:
                raise InvalidTag
            nonce, body = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
            return self._aead.decrypt(nonce, body, f"{context}/{what}".encode())
        except (InvalidTag, ValueError):
            raise ConflictError(
                "Không giải mã được khóa ký số đã lưu (khóa bí mật của máy chủ đã đổi?); hãy đăng "
                "ký lại khóa / The stored signing key cannot be decrypted (did "
                "LIENTHONG_SECRET_KEY change?); register the key again",
                code="signing_key_unreadable",
            ) from None


@dataclass(eq=False)
class LoadedKey:
    """A cached key, its lock (hold it while signing) and its appearance image."""

    key: SigningKey
    image: bytes | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False  # set under `lock` once dropped from the cache: load it again


_cache: OrderedDict[tuple[int, int, str], LoadedKey] = OrderedDict()
_cache_lock = threading.Lock()


def _fingerprint(row: KeyRow) -> str:
    material = row.pkcs12_enc or row.pin_enc or b""
    return hashlib.sha256(material + (row.module_path or "").encode()).hexdigest()[:32]


def _cache_key(row: KeyRow) -> tuple[int, int, str]:
    return (row.id, row.version, _fingerprint(row))


def load_from_row(row: KeyRow, box: SecretBox) -> SigningKey:
    """Decrypt the row's secrets and load its key.

    Raises ConflictError when the stored secrets no longer open it (undecryptable, or the
    token's PIN was changed), signing errors for a missing token or an expired certificate.
    """
    context = owner_context(row)
    try:
        if row.kind == "pkcs12":
            assert row.pkcs12_enc is not None and row.password_enc is not None
            return load_pkcs12(
                box.open(row.pkcs12_enc, context, "pkcs12"),
                box.open(row.password_enc, context, "password"),
            )
        assert row.pin_enc is not None and row.module_path and row.token_label and row.key_label
        chain = load_certificates(row.chain_pem.encode()) if row.chain_pem else []
        return open_pkcs11(
            row.module_path,
            token_label=row.token_label,
            key_label=row.key_label,
            cert_label=row.cert_label,
            pin=box.open(row.pin_enc, context, "pin").decode(),
            chain=chain,
        )
    except WrongPasswordError as e:
        raise ConflictError(
            "Mật khẩu/mã PIN đã lưu không còn mở được khóa (đã đổi trên thiết bị?); hãy đăng ký "
            "lại khóa / The stored password or PIN no longer opens the key (changed on the "
            "token?); register the key again",
            code="signing_key_secret_changed",
        ) from e


def loaded_key(row: KeyRow, box: SecretBox, image: Callable[[], bytes | None]) -> LoadedKey:
    """The row's key from the process cache, loading it (and its image) on a miss.

    Raises like `load_from_row`.
    """
    ck = _cache_key(row)
    with _cache_lock:
        hit = _cache.get(ck)
        if hit is not None:
            _cache.move_to_end(ck)
            return hit
    fresh = LoadedKey(load_from_row(row, box), image())
    return remember(row, fresh)


def remember(row: KeyRow, entry: LoadedKey) -> LoadedKey:
    """Cache `entry` for the row, dropping older versions of it; returns the cached entry."""
    ck = _cache_key(row)
    stale: list[LoadedKey] = []
    with _cache_lock:
        if ck in _cache:  # another thread loaded it meanwhile: keep theirs
            stale.append(entry)
            entry = _cache[ck]
        else:
            for other in [k for k in _cache if k[0] == row.id]:
                stale.append(_cache.pop(other))
            _cache[ck] = entry
            while len(_cache) > _MAX_CACHED:
                stale.append(_cache.popitem(last=False)[1])
    for old in stale:
        _close(old)
    return entry


def forget(key_id: int) -> None:
    """Drop (and close) every cached version of a key, e.g. when it is revoked."""
    with _cache_lock:
        gone = [_cache.pop(k) for k in [k for k in _cache if k[0] == key_id]]
    for old in gone:
        _close(old)


def forget_loaded_keys() -> None:
    """Close and drop every cached key (token sessions are logged out)."""
    with _cache_lock:
        gone = list(_cache.values())
        _cache.clear()
    for old in gone:
        _close(old)


def _close(entry: LoadedKey) -> None:
    with entry.lock:  # wait for a signature in progress
        entry.closed = True
        entry.key.close()
