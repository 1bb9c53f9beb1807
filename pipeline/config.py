"""Settings: the one place that reads the environment (variables prefixed PANTAU_).

Every field is documented; the README's settings table is generated from these descriptions
(`pantau settings --markdown`) and a test checks that it is current.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pipeline.errors import ConfigError

ENV_PREFIX = "PANTAU_"
# Credentials of the platforms' APIs (the handle travels with its password): passed to spiders through the
# environment only.
SECRET_FIELDS = ("bluesky_handle", "bluesky_app_password", "x_bearer_token", "youtube_api_key")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """Runtime settings. Build with `Settings.from_env()`; pass the object down, never read os.environ elsewhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("data"), description="Folder for the database, landing files and snapshots.")
    db_path: Path | None = Field(default=None, description="DuckDB file; default `<data_dir>/pantau.duckdb`.")
    model_dir: Path | None = Field(
        default=None,
        description="Classifier artifact folder; default: the version named in `models/artifacts/CURRENT`.",
    )
    watchlist_path: Path | None = Field(
        default=None, description="Watchlist CSV loaded by `pantau init` and `pantau run` (none: keep the stored one)."
    )
    spiders: list[str] = Field(default=["mastodon"], description="Spiders the nightly run starts, comma-separated.")
    replay_url: str | None = Field(
        default=None,
        description="Send every spider's requests to this loopback replay server instead of the platforms.",
    )
    user_agent: str = Field(
        default="pantau/0.1",
        description="User-Agent sent by spiders; names pantau.",
    )
    operator_contact: str = Field(
        default="operator@example.invalid", description="Contact address appended to the User-Agent."
    )
    timezone: str = Field(default="Asia/Jakarta", description="Operator's time zone for display and schedules.")
    batch_size: int = Field(
        default=5000,
        ge=1,
        description="Posts validated and classified per batch (in memory); the load writes them in larger chunks.",
    )
    lock_timeout_s: float = Field(
        default=60.0, ge=0, description="How long a writer waits for the DuckDB lock before giving up."
    )
    crawl_retries: int = Field(default=2, ge=0, description="Retries of a spider subprocess that exits with an error.")
    crawl_timeout_s: float = Field(default=1800.0, gt=0, description="Wall-clock limit of one spider subprocess.")
    max_pages_per_target: int = Field(
        default=50, ge=1, description="Pages a spider reads per target and run (bounds the first, deep crawl)."
    )
    concurrent_requests: int = Field(default=8, ge=1, description="Scrapy CONCURRENT_REQUESTS per spider.")
    download_delay_s: float = Field(default=1.0, ge=0, description="Scrapy DOWNLOAD_DELAY (AutoThrottle's start).")
    autothrottle: bool = Field(default=True, description="Scrapy AutoThrottle on or off.")
    bluesky_handle: str | None = Field(
        default=None,
        description="Bluesky account that opens a session for keyword/hashtag search (none: search disabled).",
    )
    bluesky_app_password: SecretStr | None = Field(
        default=None,
        description="App password of that account (a secret: environment only, never logged; none: search disabled).",
    )
    x_bearer_token: SecretStr | None = Field(
        default=None, description="X API v2 bearer token (a secret; none: the x spider is disabled)."
    )
    youtube_api_key: SecretStr | None = Field(
        default=None, description="YouTube Data API v3 key (a secret; none: the youtube spider is disabled)."
    )
    recheck_days: int = Field(
        default=14, ge=0, description="Days after first capture during which flagged posts are fetched again."
    )
    snapshot_dir: Path | None = Field(
        default=None, description="Where the analysts' read-only snapshot is published; default `<data_dir>/snapshot`."
    )
    snapshot_after_run: bool = Field(default=True, description="Publish the analyst snapshot after every nightly run.")
    schedule_cron: str = Field(
        default="0 1 * * *", description="When the nightly run starts (cron, in PANTAU_TIMEZONE): 01:00 by default."
    )
    prefect_port: int = Field(
        default=4200, ge=1, le=65535, description="Port of the Prefect server `pantau schedule` starts."
    )
    retention_days: int = Field(
        default=90, ge=1, description="Days after a reviewer's dismissal before the post's text and payload are purged."
    )
    alert_webhook_url: str | None = Field(
        default=None, description="URL that receives a JSON POST when a run fails or collects far less than usual."
    )
    alert_min_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Alert when a run fetches less than this share of the median of recent successful runs.",
    )
    alert_history_runs: int = Field(default=7, ge=1, description="How many recent runs make the 'usual' median.")
    serve_host: str = Field(default="127.0.0.1", description="Address `pantau serve` listens on (loopback by default).")
    serve_port: int = Field(default=8000, ge=1, le=65535, description="Port `pantau serve` listens on.")
    session_secret_file: Path | None = Field(
        default=None,
        description="Key that signs session cookies; default `<data_dir>/web-session.key`, made on first use (0600).",
    )
    session_hours: float = Field(default=8.0, gt=0, description="How long a review workspace sign-in lasts.")
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only; turn on behind a TLS proxy."
    )
    lease_minutes: float = Field(
        default=15.0, gt=0, description="How long a reviewer holds an opened item before another may take it."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins per account (4x per client address) before sign-in pauses."
    )
    login_window_minutes: float = Field(
        default=15.0, gt=0, description="Window over which failed sign-ins count, and how long the pause lasts."
    )
    web_db_max_hold_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest stretch the busy web server keeps the DuckDB file open before letting other processes in.",
    )
    web_db_gap_s: float = Field(
        default=0.3, ge=0, description="How long the web server then leaves the DuckDB file closed."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Asia/Jakarta") from None
        return v

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = [s.strip() for s in raw.split(",") if s.strip()] if field.annotation == list[str] else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            problems = "; ".join(
                f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in err.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None

    @property
    def database(self) -> Path:
        return self.db_path if self.db_path is not None else self.data_dir / "pantau.duckdb"

    @property
    def session_secret_path(self) -> Path:
        return self.session_secret_file if self.session_secret_file is not None else self.data_dir / "web-session.key"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def snapshot_path(self) -> Path:
        return self.snapshot_dir if self.snapshot_dir is not None else self.data_dir / "snapshot"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def full_user_agent(self) -> str:
        return f"{self.user_agent} contact: {self.operator_contact}"

    def secret_environment(self) -> dict[str, str]:
        """The secrets that are set, as PANTAU_* variables: how a spider subprocess receives them (never argv)."""
        secrets = {name: getattr(self, name) for name in SECRET_FIELDS}
        return {
            ENV_PREFIX + name.upper(): value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in secrets.items()
            if value
        }


def settings_markdown() -> str:
    """The README's settings table."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path) and default.is_absolute():
            default = default.relative_to(PROJECT_ROOT)
        if isinstance(default, list):
            default = ",".join(default)
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows) + "\n"
