"""Configuration: every knob is a `CANOPY_*` environment variable (SPEC 10)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.proxies import trusted_networks

DEVELOPMENT_SECRET = "canopy-development-secret-change-me-0123456789"
DEVELOPMENT_OPERATOR_TOKEN = "canopy-dev-operator-token"


class Settings(BaseSettings):
    """Loading checks each value alone; server/configuration.py then checks them together (what
    production refuses), so that a start reports every problem at once."""

    model_config = SettingsConfigDict(env_prefix="CANOPY_", extra="ignore")

    env: str = Field("development", pattern="^(development|production)$")
    database_url: str = "sqlite+aiosqlite:///var/canopy.db"
    data_dir: Path = Path("var")
    operator_token: str = DEVELOPMENT_OPERATOR_TOKEN
    secret_key: str = DEVELOPMENT_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    scheduler_enabled: bool = True
    # PostgreSQL connections per worker process: the pool, and how far it may overflow under a
    # burst. Workers x replicas x (both) must stay below the server's max_connections. The pool
    # is the larger part: overflow connections are opened and closed per burst, and under 64
    # concurrent requests that churn cost more CPU per request than the requests (make bench).
    db_pool_size: int = Field(20, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    # Seconds a request waits for a pooled connection (every one busy) before it answers 503.
    db_pool_timeout_s: float = Field(30, gt=0)
    # The database URL names a PgBouncer in transaction mode without prepared statement tracking
    # (before 1.21, or max_prepared_statements = 0): no statement is cached by name (docs/deploy.md).
    db_pgbouncer: bool = False
    test_clock: bool = False
    # Shares the throttling and rate-limit counters (else in the database and in memory) and the
    # portal sessions; keys start with the prefix.
    redis_url: str | None = None
    redis_key_prefix: str = "canopy:"
    redis_max_connections: int = Field(default=64, ge=1)
    # Fernet key (urlsafe base64, 32 bytes) encrypting partner signing secrets and webhook
    # secrets at rest; in development one is derived from the secret key.
    encryption_key: str | None = None
    # Ed25519 private key for certificates (base64url of the 32-byte seed); in development one
    # is generated once into data_dir and kept, so certificates verify after a restart.
    signing_key: str | None = None

    # credentials (SPEC 2)
    access_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = 30 * 24 * 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    login_fail_limit_per_handle: int = 10
    login_fail_limit_per_address: int = 100
    login_fail_window_s: int = 15 * 60
    # failed bearer credentials (the operator token, NGO keys) per client address
    credential_fail_limit_per_address: int = 100
    credential_fail_window_s: int = 15 * 60

    # portal sessions (SPEC 12.3): idle time, and the most a session lives however busy
    web_session_idle_s: int = Field(12 * 3600, ge=60)
    web_session_max_age_s: int = Field(7 * 24 * 3600, ge=60)
    # how long a member's invitation link works (single-use)
    member_invitation_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    # every operator must turn on the TOTP second factor before reaching anything but /account
    operator_totp_required: bool = False

    # users (SPEC 1)
    timezone_change_min_days: int = 7

    # email and account recovery (SPEC 11.1)
    # `smtp://user:pass@host:587` (STARTTLS when offered; `?tls=required` insists on it) or
    # `smtps://...:465` (implicit TLS). Unset: development, mail goes to the log (links included).
    smtp_url: str | None = None
    email_from: str = "Canopy <canopy@localhost>"
    smtp_timeout_s: float = Field(10.0, gt=0, le=300)
    send_email_interval_s: int = Field(60, ge=1)
    email_verify_ttl_s: int = Field(24 * 3600, ge=1)
    password_reset_ttl_s: int = Field(30 * 60, ge=1)
    # Mails to one address (all kinds) and reset requests from one client, per window.
    mail_limit_per_recipient: int = Field(3, ge=1)
    mail_limit_per_client: int = Field(30, ge=1)
    mail_limit_window_s: int = Field(3600, ge=1)
    # `prune` deletes used or expired account tokens, and sent mail, after these.
    account_token_retention_days: int = Field(7, ge=0)
    email_sent_retention_days: int = Field(30, ge=1)

    # energy (SPEC 4)
    max_steps_per_day: int = 100_000
    ball_ripens_hour: int = 7
    ball_expires_after_h: int = 72
    expire_balls_interval_s: int = 3600
    expire_balls_chunk: int = 1000

    # play (SPEC 5)
    max_shields: int = 5
    steal_percent: int = Field(10, ge=1, le=100)
    steal_max_percent: int = Field(30, ge=0, le=100)
    steals_per_day: int = Field(20, ge=0, le=10_000)
    help_collect_window_h: int = Field(12, ge=0, le=24 * 365)
    waterings_per_friend_per_day: int = Field(3, ge=0, le=10_000)
    shield_hours: int = Field(24, ge=1, le=24 * 365)

    # planting (SPEC 8.2, 8.3, 6)
    batch_planting_orders_interval_s: int = 15 * 60
    order_reminders_interval_s: int = 24 * 3600
    order_max_trees: int = Field(500, ge=1, le=10_000)
    order_min_trees: int = Field(50, ge=1, le=10_000)
    order_max_wait_days: int = Field(7, ge=0, le=365)
    # batch-planting-orders issues up to this many orders per transaction (kill-safe either way)
    order_batch_orders: int = Field(10, ge=1, le=1_000)
    order_ack_days: int = Field(7, ge=1, le=365)
    max_rejections: int = Field(3, ge=1, le=100)
    photo_max_bytes: int = 10 * 1024 * 1024
    photo_max_pixels: int = 40_000_000
    photo_hash_max_distance: int = Field(6, ge=0, le=6)
    photo_thumbnail_px: int = Field(256, ge=16, le=2048)
    # The resident memory (RSS) one worker process should stay under: photo decodes share what the
    # worker does not use at rest (server/memory.py), queueing when they would not fit together.
    worker_memory_budget_mb: int = Field(512, ge=256)

    # partners (SPEC 7)
    green_code_ttl_s: int = 300
    green_code_max_live: int = 5
    partner_signature_tolerance_s: int = 300
    report_max_future_s: int = 300
    report_max_age_days: int = 7
    report_batch_max: int = 500
    void_window_days: int = 30

    # webhooks (SPEC 8.4)
    webhook_allow_private: bool = False
    deliver_webhooks_interval_s: int = 60
    webhook_timeout_s: float = 10.0
    # Retries after the first attempt (1 min, 5 min, 30 min, 2 h, 6 h, 15 h), then `failed`.
    webhook_retry_after_s: tuple[int, ...] = (60, 300, 1800, 7200, 21600, 54000)

    # notifications (SPEC 11.2): pushes go to the app's relay, signed like webhooks
    push_relay_url: str | None = None
    push_relay_secret: str = ""
    push_relay_timeout_s: float = Field(5.0, gt=0, le=60)
    send_notifications_interval_s: int = Field(60, ge=1)
    # at most this many notifications released, and this many pushes attempted, per run
    notification_batch_size: int = Field(1000, ge=1, le=100_000)
    notify_expiring_within_s: int = Field(12 * 3600, ge=0, le=72 * 3600)

    # logs (SPEC 14): JSON lines at this level and up; `text` is for a terminal in development
    # (messages unscrubbed: production refuses it)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    # HTTP (SPEC 10)
    request_max_body_bytes: int = 1024 * 1024
    idempotency_ttl_s: int = Field(24 * 3600, ge=1)

    # rate limits on /v1 (SPEC 14), per window: requests of a user, reports of a partner key,
    # requests of an NGO key, requests without a credential per client address. The operator
    # token is not limited. `trusted_proxies`: comma-separated CIDRs whose X-Forwarded-For is
    # believed (server/proxies.py); none by default.
    rate_limit_window_s: int = Field(60, ge=1, le=24 * 3600)
    rate_limit_user: int = Field(300, ge=1)
    rate_limit_partner_reports: int = Field(3000, ge=1)
    rate_limit_ngo: int = Field(300, ge=1)
    rate_limit_per_address: int = Field(120, ge=1)
    trusted_proxies: str = ""

    # prune (SPEC 14): what has served its time is deleted daily, this many rows per transaction
    prune_interval_s: int = Field(24 * 3600, ge=60)
    prune_chunk: int = Field(1000, ge=1, le=100_000)
    play_counter_retention_days: int = Field(60, ge=1)
    webhook_delivered_retention_days: int = Field(30, ge=1)
    notification_retention_days: int = Field(30, ge=1)
    # an expired green code is kept this long so a late report names it `green-code-expired`
    green_code_retention_s: int = Field(24 * 3600, ge=0)

    # ended sessions (refresh tokens revoked or expired, portal sessions signed out or timed out)
    # are kept this long after they end, then `prune` deletes them (SPEC 14)
    ended_session_retention_days: int = Field(0, ge=0)
    # GET /me/export reads and sends each list this many rows at a time: the memory of one export
    export_page_rows: int = Field(500, ge=1, le=10_000)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the plain SQLAlchemy URLs of SPEC 10 and run them on the async drivers."""
        for plain, driver in (
            ("sqlite://", "sqlite+aiosqlite://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("CANOPY_DATABASE_URL must be a sqlite or postgresql URL")
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_are_networks(cls, setting: str) -> str:
        trusted_networks(setting)  # raises, naming the entry, when one is not a network
        return setting

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, url: str | None) -> str | None:
        if url and not url.startswith(("smtp://", "smtps://")):
            raise ValueError("CANOPY_SMTP_URL must start with smtp:// or smtps://")
        return url or None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
