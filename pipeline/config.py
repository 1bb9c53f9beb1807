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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import ConfigError

ENV_PREFIX = "PANTAU_"
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
    batch_size: int = Field(default=10000, ge=1, description="Posts validated, classified and loaded per batch.")
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
    snapshot_dir: Path | None = Field(
        default=None, description="Where the analysts' read-only snapshot is published; default `<data_dir>/snapshot`."
    )
    snapshot_after_run: bool = Field(default=True, description="Publish the analyst snapshot after every nightly run.")
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
