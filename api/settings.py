"""Settings from the environment (prefix `LIENTHONG_`), validated at start."""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.storage_sweep import SWEEP_GRACE_MAX_HOURS, SWEEP_GRACE_MIN_HOURS

__all__ = ["DEFAULT_SECRET", "Settings", "SettingsError", "settings_error"]

DEFAULT_SECRET = "lienthong-demo-secret-change-me"  # noqa: S105 - refused outside demo mode
_REPO = Path(__file__).resolve().parent.parent
TOKEN_TTL_MIN_HOURS = 1 / 60
TOKEN_TTL_MAX_HOURS = 366 * 24


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which variable to set."""


class Settings(BaseSettings):
    # No nan or inf anywhere: `LIENTHONG_…_HOURS=inf` would pass `gt=0`, then overflow.
    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore", allow_inf_nan=False)

    data_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    processes: int = Field(
        default=1, ge=1, le=64, description="API server processes `serve` runs (one per core)"
    )
    demo: bool = False
    debug: bool = Field(
        default=False,
        description="The CLI prints the traceback of an unexpected error on the terminal too",
    )
    secret_key: str = DEFAULT_SECRET
    object_store: Literal["local", "s3"] = "local"
    workflows_dir: Path = _REPO / "workflows"
    token_ttl_hours: float = Field(
        default=12, description="How long a login lasts, in hours: one minute to one year"
    )
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
    sweep_grace_hours: float = Field(default=24, ge=SWEEP_GRACE_MIN_HOURS, le=SWEEP_GRACE_MAX_HOURS)
    purge_grace_seconds: float = Field(
        default=600,
        ge=1,
        le=7 * 24 * 3600,
        description="A purge deletes a file's bytes at once only if nothing wrote them for this "
        "long (an upload of the same content writes them before its row commits)",
    )
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
    exchange_give_up_hours: float = Field(
        default=72.0,
        gt=0,
        le=24 * 365,
        description="Hours of failed attempts after which a delivery or status is no longer "
        "retried (shown as failed until a clerk sends it again)",
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

    @field_validator("token_ttl_hours")
    @classmethod
    def _ttl_one_minute_to_one_year(cls, value: float) -> float:
        # Past a year every login failed (its expiry overflowed the database's dates); under
        # a minute a token expires before its first use.
        if not TOKEN_TTL_MIN_HOURS <= value <= TOKEN_TTL_MAX_HOURS:
            raise ValueError(
                f"thời hạn đăng nhập từ 1 phút ({TOKEN_TTL_MIN_HOURS:.4f}) đến 1 năm "
                f"({TOKEN_TTL_MAX_HOURS:g}) giờ / a login lasts from one minute "
                f"({TOKEN_TTL_MIN_HOURS:.4f}) to one year ({TOKEN_TTL_MAX_HOURS:g}) hours"
            )
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_is_host_and_port(cls, value: str | None) -> str | None:
        # The S3 client wants `host:port`: a scheme or a path fails deep inside it.
        if not value:
            return value
        if "://" in value:
            raise ValueError(
                "chỉ ghi host:port, không ghi http:// hay https://; dùng LIENTHONG_S3_SECURE=true "
                "cho https, false cho http / give host:port only, without http:// or https://; "
                "LIENTHONG_S3_SECURE=true (the default) means https, false means http"
            )
        url = urllib.parse.urlsplit("//" + value)
        try:
            port = url.port
        except ValueError:
            port = -1
        if (
            any(c in value for c in "/?#@") or value != value.strip() or not url.hostname
        ) or port == -1:
            raise ValueError(
                "phải là host:port, không có đường dẫn (ví dụ s3.tinh.gov.vn:9000) / must be "
                "host:port with no path (e.g. s3.example.gov.vn:9000)"
            )
        return value

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
        # Spaces around a secret add nothing an attacker has to guess.
        if not self.secret_key.strip() or (not self.demo and len(self.secret_key.strip()) < 16):
            raise SettingsError(
                "LIENTHONG_SECRET_KEY trống hoặc quá ngắn (tối thiểu 16 ký tự, không tính khoảng "
                "trắng ở hai đầu) / LIENTHONG_SECRET_KEY is blank or too short (16 characters at "
                "least, spaces around it not counted)"
            )


_MEANINGS = {  # pydantic error type -> (Vietnamese, English); {…} from the error's context
    "greater_than": ("phải > {gt}", "must be > {gt}"),
    "greater_than_equal": ("phải ≥ {ge}", "must be ≥ {ge}"),
    "less_than": ("phải < {lt}", "must be < {lt}"),
    "less_than_equal": ("phải ≤ {le}", "must be ≤ {le}"),
    "int_parsing": ("phải là số nguyên", "must be a whole number"),
    "int_from_float": ("phải là số nguyên", "must be a whole number"),
    "float_parsing": ("phải là số", "must be a number"),
    "finite_number": ("phải là số hữu hạn (không nhận nan, inf)", "must be a finite number"),
    "bool_parsing": (
        "phải là 1/0, true/false, yes/no, on/off",
        "must be 1/0, true/false, yes/no, on/off",
    ),
    "literal_error": ("phải là {expected_vi}", "must be {expected}"),
    "string_too_short": (
        "cần ít nhất {min_length} ký tự",
        "needs {min_length} characters at least",
    ),
    "string_too_long": ("tối đa {max_length} ký tự", "has {max_length} characters at most"),
}


def _meaning(error: Any) -> str:
    ctx = {k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in error.get("ctx", {}).items()}
    if error["type"] == "value_error":  # our validators write both languages themselves
        return ctx.get("error", "giá trị không hợp lệ / invalid value")
    if error["type"] in _MEANINGS:
        ctx["expected_vi"] = ctx.get("expected", "").replace(" or ", " hoặc ")
        vi, en = _MEANINGS[error["type"]]
        return f"{vi.format(**ctx)} / {en.format(**ctx)}"
    return f"giá trị không hợp lệ / invalid value ({error['msg']})"


def settings_error(e: ValidationError) -> SettingsError:
    """One sentence naming each bad `LIENTHONG_…` variable and what it must be.

    The values are never repeated: some of them are secrets.
    """
    parts = [
        f"LIENTHONG_{'_'.join(str(p) for p in error['loc']).upper()}: {_meaning(error)}"
        for error in e.errors(include_input=False, include_url=False)
    ]
    return SettingsError("Cấu hình không dùng được / invalid settings: " + "; ".join(parts))
