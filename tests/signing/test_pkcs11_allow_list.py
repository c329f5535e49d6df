"""LIENTHONG_PKCS11_MODULES: PKCS#11 modules the admin allows outside the system folders.

A copy of SoftHSM2's module in a temporary folder stands for a CA token's module installed
somewhere of its own: refused until the admin lists that exact file, then it signs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.settings import Settings, SettingsError
from engine.auth import principal_for
from engine.errors import ConflictError, InvalidInputError
from engine.files import spool, store_file
from engine.principal import Principal
from engine.signing_files import sign_stored_file
from engine.signing_keys import Pkcs11Material, SigningConfig, register_key
from engine.signing_secrets import forget_loaded_keys
from signing.report import Indication
from signing.validate import validate_pdf
from storage.models import StoredFile, User
from storage.objects import LocalObjectStore
from tests.pki import TestPki
from tests.signing.conftest import TokenKey, softhsm_module, softhsm_token, trust_of
from tests.signing.pdfs import make_pdf

LABEL, PIN, SO_PIN, KEY = "lienthong-allow", "123456", "654321", "ky-so-token"


@dataclass(frozen=True)
class Token:
    module: Path  # the copy outside the system folders
    elsewhere: Path  # another copy, never allowed


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory, pki_rsa: TestPki) -> Iterator[Token]:
    """A SoftHSM2 token with an RSA key and its certificate, and two copies of the module."""
    system_module = softhsm_module()
    home = tmp_path_factory.mktemp("softhsm-allow")
    vendor, other = home / "vendor" / "lib", home / "other"
    vendor.mkdir(parents=True)
    other.mkdir()
    module = Path(shutil.copy2(system_module, vendor / "libvendorp11.so"))
    elsewhere = Path(shutil.copy2(system_module, other / "libvendorp11.so"))
    key = TokenKey("01", KEY, pki_rsa, "Lê Văn Token (allow-list)")
    with pytest.MonkeyPatch.context() as mp:
        # a copy of the module is a library of its own: it reads this when it initialises
        softhsm_token(mp, home, key, label=LABEL, pin=PIN, so_pin=SO_PIN, module=module)
        yield Token(module, elsewhere)


def _config(tmp_path: Path, *allowed: str | Path) -> SigningConfig:
    return SigningConfig("x" * 32, tmp_path / "tmp", pkcs11_modules=tuple(map(str, allowed)))


def _principal(session: Session, username: str) -> Principal:
    user_id = session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return principal_for(session, user_id)


@dataclass(frozen=True)
class Registrar:
    sessions: sessionmaker[Session]
    store: LocalObjectStore
    pki: TestPki

    def register(self, config: SigningConfig, module: str | Path) -> None:
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.pki.chain())
        material = Pkcs11Material(str(module), LABEL, KEY, PIN, chain_pem=chain.decode())
        with self.sessions.begin() as s:
            register_key(s, self.store, config, _principal(s, "lanhdao"), material)

    def refused(self, config: SigningConfig, module: str | Path) -> InvalidInputError:
        with pytest.raises(InvalidInputError) as e:
            self.register(config, module)
        assert e.value.code == "bad_pkcs11_module" and e.value.http_status == 422
        return e.value


@pytest.fixture
def registrar(
    sessions: sessionmaker[Session], token: Token, pki_rsa: TestPki, tmp_path: Path
) -> Iterator[Registrar]:
    yield Registrar(sessions, LocalObjectStore(tmp_path / "objects"), pki_rsa)
    forget_loaded_keys()  # log the token out: the next database's test logs in again


def test_module_outside_system_folders_is_refused_naming_the_setting(
    registrar: Registrar, token: Token, tmp_path: Path
) -> None:
    error = registrar.refused(_config(tmp_path), token.module)
    assert "LIENTHONG_PKCS11_MODULES" in str(error)


def test_allowed_module_registers_and_signs(
    registrar: Registrar, token: Token, tmp_path: Path
) -> None:
    config = _config(tmp_path, token.module)
    registrar.register(config, token.module)
    sessions, store = registrar.sessions, registrar.store
    pdf = make_pdf()
    with sessions.begin() as s:
        upload = spool([pdf], limit=len(pdf) + 1, tmp_dir=tmp_path)
        file_id = store_file(s, store, upload, "qd.pdf", _principal(s, "lanhdao")).id
    with sessions.begin() as s:
        view = sign_stored_file(s, store, config, file_id, _principal(s, "lanhdao"))
    with sessions.begin() as s:
        row = s.get(StoredFile, view.id)
        assert row is not None
        signed = b"".join(store.open(row.key))
    (sig,) = validate_pdf(signed, trust_of(registrar.pki)).signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig.message
    assert sig.signer_name == "Lê Văn Token (allow-list)"

    # The admin takes the module off the list: the registered key stops signing.
    with sessions.begin() as s, pytest.raises(ConflictError) as e:
        sign_stored_file(s, store, _config(tmp_path), view.id, _principal(s, "lanhdao"))
    assert e.value.code == "pkcs11_module_not_allowed" and e.value.http_status == 409
    assert "LIENTHONG_PKCS11_MODULES" in str(e.value)
    with sessions.begin() as s:
        assert s.scalar(select(StoredFile.version).where(StoredFile.id == view.id)) == 2
        assert s.scalar(select(func.max(StoredFile.version))) == 2  # nothing new was stored


def test_only_the_exact_allowed_file_passes(
    registrar: Registrar, token: Token, tmp_path: Path
) -> None:
    registrar.refused(_config(tmp_path, token.module.parent), token.module)  # not a folder
    config = _config(tmp_path, token.module)
    registrar.refused(config, token.elsewhere)  # the same name in another folder
    # `..` is resolved before comparing: these name the other copy, not the allowed one
    sneaky = token.module.parent / ".." / ".." / "other" / token.module.name
    assert sneaky.resolve() == token.elsewhere.resolve()
    registrar.refused(config, sneaky)
    registrar.refused(config, f"/usr/lib/..{token.elsewhere}")


def test_a_symlink_to_another_module_does_not_pass(
    registrar: Registrar, token: Token, tmp_path: Path
) -> None:
    link = tmp_path / "links" / token.module.name
    link.parent.mkdir()
    link.symlink_to(token.elsewhere)
    registrar.refused(_config(tmp_path, token.module), link)


def test_setting_is_a_colon_separated_list_of_absolute_paths() -> None:
    settings = Settings(pkcs11_modules="/opt/vnpt-ca/libp11.so: /usr/local/x/lib.so:")
    assert settings.pkcs11_module_paths == ("/opt/vnpt-ca/libp11.so", "/usr/local/x/lib.so")
    assert Settings().pkcs11_module_paths == ()
    with pytest.raises(SettingsError, match="LIENTHONG_PKCS11_MODULES"):
        Settings(pkcs11_modules="relative/lib.so", demo=True).check()
