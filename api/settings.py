"""Settings from the environment (prefix `LIENTHONG_`), validated at start."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_SECRET", "Settings", "SettingsError"]

DEFAULT_SECRET = "lienthong-demo-secret-change-me"  # noqa: S105 - refused outside demo mode
_REPO = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which variable to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    processes: int = Field(
        default=1, ge=1, le=64, description="API server processes `serve` runs (one per core)"
    )
    demo: bool = False
    secret_key: str = DEFAULT_SECRET
    object_store: Literal["local", "s3"] = "local"
    workflows_dir: Path = _REPO / "workflows"
    token_ttl_hours: float = Field(default=12, gt=0)
    worker_interval: float = Field(default=5.0, gt=0)
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_secure: bool = True
    s3_region: str | None = None
    s3_bucket: str = "lienthong"
    s3_archive_bucket: str | None = None
    max_upload_mb: int = Field(default=512, ge=1)
    link_ttl_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    fixity_interval_hours: float = Field(default=24, ge=0)
    sweep_grace_hours: float = Field(default=24, gt=0)
    tsa_url: str | None = Field(
        default=None, description="RFC 3161 time-stamping service for B-T and higher signatures"
    )
    lta_upgrade_delay_hours: float = Field(
        default=24,
        ge=0,
        description="Wait this long after a B-T signature before raising it to B-LTA",
    )
    pkcs11_modules: str = Field(
        default="",
        description="Extra PKCS#11 modules (absolute .so paths, ':'-separated) the server may "
        "load outside the system library folders",
    )
    node_name: str = Field(default="lienthong", min_length=1, max_length=100)
    exchange_key: Path | None = Field(
        default=None, description="PKCS#12 key this node signs edXML packages with"
    )
    exchange_key_password: str | None = None
    exchange_timeout: float = Field(default=30.0, gt=0)
    exchange_interval: float = Field(
        default=1.0, gt=0, description="Seconds between outbox rounds (deliveries to nodes)"
    )
    exchange_lease: float = Field(
        default=120.0,
        gt=0,
        description="Seconds before a delivery whose sender stopped mid-way is sent again",
    )
    exchange_parallel: int = Field(
        default=4, ge=1, le=64, description="Documents delivered to other nodes at once"
    )
    exchange_agency_keys: bool = Field(
        default=False,
        description="Sign packages with each agency's own seal key (once peers have pinned "
        "the agencies' certificates); otherwise the node key signs",
    )
    office_hours: str = Field(
        default="07:30-11:30,13:00-17:00",
        description="Office periods of a working day, Vietnam time: HH:MM-HH:MM,…",
    )
    public_lookup_burst: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Public dossier lookups one client address may make at once; then one more "
        "per second",
    )

    def parsed_office_hours(self) -> list[tuple[dt.time, dt.time]]:
        """LIENTHONG_OFFICE_HOURS as (start, end) pairs; raises SettingsError when malformed."""
        try:
            periods = []
            for part in self.office_hours.split(","):
                start, end = part.strip().split("-")
                periods.append((dt.time.fromisoformat(start), dt.time.fromisoformat(end)))
            return periods
        except ValueError as e:
            raise SettingsError(
                f"LIENTHONG_OFFICE_HOURS='{self.office_hours}' không hợp lệ; ví dụ 07:30-11:30,13:00-17:00"
                f" / invalid; e.g. 07:30-11:30,13:00-17:00"
            ) from e

    @property
    def pkcs11_module_paths(self) -> tuple[str, ...]:
        """LIENTHONG_PKCS11_MODULES as a tuple of paths (`:` or os.pathsep between them)."""
        parts = self.pkcs11_modules.replace(os.pathsep, ":").split(":")
        return tuple(p.strip() for p in parts if p.strip())

    @property
    def db_url(self) -> str:
        """The database URL: the given one, or SQLite under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lienthong.db').resolve()}"

    @property
    def tmp_dir(self) -> Path:
        """Where uploads are spooled while they are hashed (same disk as the data)."""
        return self.data_dir / "tmp"

    @property
    def objects_dir(self) -> Path:
        """Where the local object store keeps its files."""
        return self.data_dir / "objects"

    def check(self) -> None:
        """Refuse to run outside demo mode with default secrets; raises SettingsError."""
        if not self.demo and self.secret_key == DEFAULT_SECRET:
            raise SettingsError(
                "LIENTHONG_SECRET_KEY đang là giá trị mặc định; hãy đặt một chuỗi bí mật riêng "
                "(hoặc LIENTHONG_DEMO=1 để chạy thử) / LIENTHONG_SECRET_KEY is the default; set a "
                "secret of your own (or LIENTHONG_DEMO=1 for the demo)"
            )
        if self.object_store == "s3" and not (
            self.s3_endpoint and self.s3_access_key and self.s3_secret_key
        ):
            raise SettingsError(
                "LIENTHONG_OBJECT_STORE=s3 cần LIENTHONG_S3_ENDPOINT, LIENTHONG_S3_ACCESS_KEY và "
                "LIENTHONG_S3_SECRET_KEY / LIENTHONG_OBJECT_STORE=s3 needs LIENTHONG_S3_ENDPOINT, "
                "LIENTHONG_S3_ACCESS_KEY and LIENTHONG_S3_SECRET_KEY"
            )
        if self.exchange_lease <= self.exchange_timeout:
            raise SettingsError(
                f"LIENTHONG_EXCHANGE_LEASE ({self.exchange_lease:g} s) phải dài hơn "
                f"LIENTHONG_EXCHANGE_TIMEOUT ({self.exchange_timeout:g} s), nếu không một gói gửi "
                "chậm sẽ bị gửi lại / LIENTHONG_EXCHANGE_LEASE must be longer than "
                "LIENTHONG_EXCHANGE_TIMEOUT, or a slow send is sent twice"
            )
        relative = [p for p in self.pkcs11_module_paths if not os.path.isabs(p)]
        if relative:
            raise SettingsError(
                f"LIENTHONG_PKCS11_MODULES cần đường dẫn tuyệt đối tới từng tệp .so, không phải "
                f"{', '.join(relative)} / LIENTHONG_PKCS11_MODULES needs the absolute path of each "
                f".so file, not {', '.join(relative)}"
            )
        if not self.demo and len(self.secret_key) < 16:
            raise SettingsError(
                "LIENTHONG_SECRET_KEY quá ngắn (tối thiểu 16 ký tự) / LIENTHONG_SECRET_KEY is "
                "too short (16 characters at least)"
            )
