"""Settings, read from ``KASIR_*`` environment variables.

Settings are built once by whoever starts Kasir (the CLI, a test, a benchmark) and passed down;
nothing reads the environment at import time, so two apps with different settings can live in one
process (the test suite does exactly that).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kasir.qris.convert import check_static
from kasir.qris.demo import DEMO_STATIC_QRIS
from kasir.qris.emv import QrisError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KASIR_", extra="ignore")

    home: Path = Field(default=Path("./kasir-data"), description="Data folder (SQLite file, demo key).")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite at KASIR_HOME/kasir.db. postgresql://… for production.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base of payment_url and other links we hand out.",
    )
    redis_url: str | None = Field(default=None, description="Shares rate-limit state across API nodes.")
    payment_ttl: int = Field(default=900, ge=60, description="Seconds a payment stays pending.")
    rate_limit: int = Field(default=6000, ge=0, description="Requests per minute per API key; 0 = off.")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Per client address (see docs/deploy.md, "Throttling"). A mobile carrier puts many buyers
    # behind one address (CGNAT), so the public limit is generous: one open pay page polls
    # about 40 times a minute.
    auth_failure_limit: int = Field(
        default=30, ge=0, description="Failed authentications per minute per client address; then 429. 0 = off."
    )
    public_rate_limit: int = Field(
        default=1200,
        ge=0,
        description="Requests per minute per client address to the pay page, its status, downloads, photos "
        "and QR images. 0 = off.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names "
        "the client address.",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics needs 'Authorization: Bearer <token>'."
    )
    # Secrets at rest (kasir.secrets_at_rest, docs/deploy.md "Secrets at rest").
    secret_key: SecretStr | None = Field(
        default=None,
        description="Encrypts the webhook, endpoint and forwarder secrets stored in the database: 32 random "
        "bytes, base64url (`kasir secrets new-key`); the same on every node. Unset: KASIR_HOME/secret.key, "
        "which `kasir migrate` generates for a SQLite home.",
    )
    secret_key_previous: Annotated[list[SecretStr], NoDecode] = Field(
        default=[],
        description="Earlier keys, comma-separated, that only decrypt: set during `kasir secrets rotate-key`.",
    )

    # Amount bounds per payment method, integer rupiah. `qris` is the operator's shared QRIS, capped
    # as seed 004 caps it; the merchant-owned channels default to Bank Indonesia's QRIS
    # per-transaction ceiling.
    platform_qris: str | None = Field(
        default=None,
        description="The operator's static QRIS, which serves method `qris`; `demo` for the labelled demo QRIS.",
    )
    min_amount: int = Field(default=1_000, ge=1)
    max_amount_qris: int = Field(default=500_000, ge=1)
    max_amount_own_channel: int = Field(default=10_000_000, ge=1)

    # Webhook delivery (docs/delivery.md).
    delivery_timeout: float = Field(default=30.0, gt=0, description="Seconds a receiver has to answer 2xx.")
    delivery_retry_schedule: Annotated[list[int], NoDecode] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
        description="Seconds before each retry, comma-separated; ±20 % jitter. ≈ 3 days by default.",
    )
    delivery_max_retry_after: int = Field(default=86400, ge=1, description="Longest Retry-After we honour.")
    endpoint_disable_after: int = Field(default=5 * 86400, ge=60, description="Seconds failing before disable.")
    attempt_retention_days: int = Field(default=30, ge=1, description="Days the callback log keeps attempts.")
    secret_rotation_grace: int = Field(default=24 * 3600, ge=0, description="Seconds an old secret stays valid.")
    webhook_allow_private_networks: bool = Field(
        default=False, description="Allow callback URLs on loopback/private networks (local development)."
    )
    webhook_require_https: bool = Field(default=False, description="Refuse plain http:// callback URLs.")
    worker_concurrency: int = Field(default=256, ge=1, description="Requests in flight per worker.")
    worker_batch: int = Field(default=500, ge=1, description="Deliveries claimed per query.")
    worker_poll_interval: float = Field(default=1.0, gt=0, description="Seconds between polls when idle.")

    # Confirmation from account mutations (docs/mutations.md).
    mutation_clock_grace: int = Field(
        default=120, ge=0, description="Seconds of clock difference between a mutation source and Kasir forgiven."
    )
    mutation_late_window: int = Field(
        default=24 * 3600, ge=0, description="How long after a payment expired a credit is flagged late for it."
    )
    max_mutation_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest body of a mutation batch (1,000 credits)."
    )
    sandbox_autopay: float = Field(
        default=0, ge=0, description="Test mode: pay pending payments this many seconds after creation; 0 = off."
    )
    mutation_sources: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Pollers to run, comma-separated 'module:factory' (see docs/mutations.md).",
    )

    # Payment sources: the merchant's phones forwarding the apps' notifications (docs/sources.md).
    source_silent_after: float = Field(
        default=120, gt=0, description="Seconds without a notification or heartbeat before a source is silent."
    )
    max_source_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest body of a notification batch (500 notifications)."
    )

    # The merchant dashboard (docs/dashboard.md).
    dashboard_idle_timeout: float = Field(
        default=4 * 3600, ge=60, description="Seconds without a request after which a dashboard session ends."
    )
    dashboard_session_lifetime: float = Field(
        default=3 * 86400, ge=300, description="Seconds after signing in at which a dashboard session ends anyway."
    )
    dashboard_login_limit: int = Field(
        default=5, ge=0, description="Failed dashboard sign-ins a minute per account (0: unlimited)."
    )
    dashboard_login_address_limit: int = Field(
        default=30, ge=0, description="Failed dashboard sign-ins a minute per client address (0: unlimited)."
    )
    # Alerts to the owner (docs/alerts.md): email over SMTP, and when failing callbacks alert.
    smtp_host: str | None = Field(default=None, description="SMTP server for alert emails; unset: to the log.")
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, description="Default 587 (starttls), 465 (ssl) or 25 (none)."
    )
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls: upgrade a plain connection (required); ssl: TLS from the start."
    )
    smtp_username: str | None = Field(default=None, description="SMTP AUTH user; unset: no AUTH.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP AUTH password (never logged).")
    smtp_from: str | None = Field(
        default=None, validate_default=True, description="The From of alert emails: 'Kasir <alerts@shop.id>'."
    )
    alert_callbacks_failing_after: float = Field(
        default=3600, ge=60, description="Seconds an endpoint's callbacks fail before the owner is alerted."
    )

    @field_validator("smtp_from", mode="after")
    @classmethod
    def _smtp_complete(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Refused at start rather than at the first alert, whose email would only fail. Checked
        # on smtp_from (declared after the others) so that an error shows that value only: a
        # model-level error would print the input, password included.
        if info.data.get("smtp_host") and not value:
            raise ValueError("KASIR_SMTP_HOST needs KASIR_SMTP_FROM (the From of alert emails)")
        if info.data.get("smtp_password") is not None and not info.data.get("smtp_username"):
            raise ValueError("KASIR_SMTP_PASSWORD needs KASIR_SMTP_USERNAME")
        return value

    # The dashboard's team (docs/dashboard.md, "The team"): how long an invitation link works.
    dashboard_invitation_lifetime: float = Field(
        default=72 * 3600, ge=300, description="Seconds an invitation to the dashboard team can be accepted."
    )

    # QRIS images (qris-convert, qris-info).
    max_qr_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest QR image accepted.")
    qr_fetch_timeout: float = Field(default=10.0, gt=0, description="Seconds to fetch an image_url, in all.")

    # Digital goods (seed 004): files, product photos, download links.
    media_dir: Path | None = Field(default=None, description="Uploaded files and photos; default KASIR_HOME/media.")
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="Largest digital file upload.")
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest product image upload.")
    download_ttl: int = Field(default=7 * 86400, ge=60, description="Seconds a download link works after payment.")
    download_limit: int = Field(default=5, ge=1, description="Downloads one paid payment's link allows.")

    # Buyer messages for WA Store orders (kasir.delivery.notifiers), sent through the delivery queue.
    notifier: Literal["log", "whatsapp"] = Field(
        default="log", description="log: write buyer messages to the log; whatsapp: send them by the Cloud API."
    )
    whatsapp_api_url: str = Field(
        default="https://graph.facebook.com/v21.0", description="Cloud API base URL, version included."
    )
    whatsapp_phone_number_id: str | None = Field(default=None, description="The sending number's Cloud API id.")
    whatsapp_token: SecretStr | None = Field(default=None, description="Cloud API access token (never logged).")

    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="What `kasir serve` and `kasir worker` write to stderr."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="text lines, or one JSON object a line.")

    idempotency_ttl: int = Field(default=24 * 3600, ge=60, description="Seconds an Idempotency-Key is kept.")
    sweep_interval: float = Field(default=5.0, gt=0, description="Seconds between expiry sweeps.")

    @field_validator("delivery_retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        # KASIR_DELIVERY_RETRY_SCHEDULE=5,300,1800 as well as a JSON list.
        if isinstance(value, str):
            return [int(part) for part in value.strip().strip("[]").split(",") if part.strip()]
        return value

    @field_validator("secret_key", mode="before")
    @classmethod
    def _no_empty_key(cls, value: object) -> object:
        # Whether a key is well-formed is kasir.secrets_at_rest's to say, when it loads it: a
        # pydantic error here would print the value, and this one must never be printed.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key_previous", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                try:
                    ipaddress.ip_network(str(item), strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("mutation_sources", mode="before")
    @classmethod
    def _sources(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("platform_qris", mode="before")
    @classmethod
    def _platform_qris(cls, value: object) -> object:
        # Validated here so that a mistyped QRIS stops `kasir serve` at start, with the reason,
        # instead of failing every payment later.
        if not isinstance(value, str) or not value.strip():
            return None
        if value.strip().lower() == "demo":
            return DEMO_STATIC_QRIS
        try:
            return check_static(value, field="the platform QRIS")
        except QrisError as exc:
            raise ValueError(f"{exc.message} ({exc.code})") from None

    @model_validator(mode="after")
    def _whatsapp_complete(self) -> Settings:
        # Refused at start rather than at the first order, when the message would only fail.
        if self.notifier == "whatsapp" and not (self.whatsapp_phone_number_id and self.whatsapp_token):
            raise ValueError("KASIR_NOTIFIER=whatsapp needs KASIR_WHATSAPP_PHONE_NUMBER_ID and KASIR_WHATSAPP_TOKEN")
        return self

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.home / "media"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file the database URL names, absolute; None for PostgreSQL or in-memory."""
        url = self.resolved_database_url
        if not url.startswith("sqlite:"):
            return None
        database = url.split("///", 1)[1] if "///" in url else ""
        if not database or database == ":memory:":
            return None
        return Path(database.split("?", 1)[0]).resolve()

    @property
    def resolved_database_url(self) -> str:
        """The URL SQLAlchemy gets: defaults to SQLite in KASIR_HOME, and picks psycopg 3 for
        plain ``postgresql://`` URLs (SQLAlchemy would otherwise look for psycopg2)."""
        url = self.database_url or f"sqlite:///{(self.home / 'kasir.db').resolve()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
