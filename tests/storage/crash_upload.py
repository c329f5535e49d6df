"""Upload a file and die (SIGKILL) before the transaction commits; used by test_fixity.

    python -m tests.storage.crash_upload DB_URL DATA_DIR STORE_SETTINGS_JSON CONTENT_HEX

The object is written, the row flushed (not committed), "stored <key>" printed, then the
process kills itself: no `finally`, no rollback, no cleanup, as in a power cut.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from api.app import build_store
from api.settings import Settings
from engine.auth import principal_for
from engine.files import spool, store_file
from storage.db import make_engine, make_sessionmaker
from storage.models import StoredFile, User


def main(db_url: str, data_dir: str, store_settings: str, content_hex: str) -> None:
    """Store one file inside a transaction, then SIGKILL ourselves before it commits."""
    settings = Settings(data_dir=Path(data_dir), demo=True, **json.loads(store_settings))
    store = build_store(settings)
    factory = make_sessionmaker(make_engine(db_url))
    with factory.begin() as session:
        user_id = session.scalar(select(User.id).where(User.username == "chuyenvien"))
        assert user_id is not None
        me = principal_for(session, user_id)
        spooled = spool([bytes.fromhex(content_hex)], limit=1 << 20, tmp_dir=settings.tmp_dir)
        view = store_file(session, store, spooled, "mat-dien.pdf", me)
        session.flush()
        assert session.get(StoredFile, view.id) is not None
        key = session.scalar(select(StoredFile.key).where(StoredFile.id == view.id))
        print(f"stored {key}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(*sys.argv[1:])
