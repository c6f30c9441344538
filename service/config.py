"""Configuration from the environment (DUBAN_*) and an optional TOML file.

An invalid setting stops start-up with one line that names it (`ConfigError`).
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from scheduler.policy import Board, BoardPolicy, Cadence, Policy, QuietHours, default_policies


class ConfigError(Exception):
    """A setting is invalid; the message names it."""


class BoardOverride(BaseModel):
    """Per-board policy overrides a deployment may set (R6, R18, R37)."""

    model_config = {"extra": "forbid"}

    working_days: bool | None = None
    cadence: Cadence | None = None
    month_end_remind_days: int | None = Field(default=None, ge=1, le=10)
    ack_resend_hours: float | None = Field(default=None, ge=0)  # 0 switches R37 off

    def apply(self, policy: BoardPolicy) -> BoardPolicy:
        changes: dict[str, Any] = {
            k: v for k, v in self.model_dump(exclude={"ack_resend_hours"}).items() if v is not None
        }
        if self.ack_resend_hours is not None:
            changes["ack_resend_after"] = (
                timedelta(hours=self.ack_resend_hours) if self.ack_resend_hours else None
            )
        return policy.with_overrides(changes)


class SmsSettings(BaseModel):
    model_config = {"extra": "allow"}  # each adapter validates its own section

    provider: Literal["dev", "smpp", "aliyun", "twilio", "cmpp"] = "dev"
    signature: str = "【督办】"  # with aliyun the provider adds its registered sign_name instead
    per_number_per_minute: int = Field(default=6, ge=1)  # segments to one phone
    per_second: int = Field(default=50, ge=1)  # segments overall


class TelegramSettings(BaseModel):
    model_config = {"extra": "forbid"}

    token: str | None = None
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str | None = None  # a local Bot API server
    webhook_url: str | None = None
    webhook_secret: str | None = None
    callback_secret: str = "change-me"  # signs inline-button data
    fsm_storage: Literal["memory", "redis", "database"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    """Every setting; environment variables are DUBAN_<NAME> (nested: DUBAN_SMS__PROVIDER)."""

    model_config = SettingsConfigDict(env_prefix="DUBAN_", env_nested_delimiter="__",
                                      extra="forbid")

    database_url: str = "sqlite://duban.sqlite3"
    timezone: str = "Asia/Shanghai"
    quiet_hours: str | None = None  # "22:00-07:00" (R35); off by default
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    poll_seconds: float = Field(default=5.0, gt=0)
    claim_seconds: float = Field(default=60.0, gt=0)
    instance: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    boards: dict[Board, BoardOverride] = Field(default_factory=dict)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    wecom: dict[str, Any] | None = None  # [wecom]: validated by wecom.settings.WeComSettings
    web_token: str | None = None  # bearer token of the web console's API

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        """Arguments, then the environment, then the TOML file: the environment wins."""
        return init_settings, env_settings, TomlSource(settings_cls, TOML_FILE.get())

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("quiet_hours")
    @classmethod
    def quiet_spec(cls, value: str | None) -> str | None:
        if value:
            QuietHours.parse(value)
        return value or None

    @field_validator("database_url")
    @classmethod
    def known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "asyncpg://", "psql://")):
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    def policy(self) -> Policy:
        return build_policy(self.boards, self.quiet_hours)


def build_policy(overrides: dict[Board, BoardOverride], quiet_hours: str | None) -> Policy:
    """The default board policies with a deployment's (or a scenario's) changes."""
    boards = default_policies()
    for board, override in overrides.items():
        boards[board] = override.apply(boards[board])
    quiet = QuietHours.parse(quiet_hours) if quiet_hours else None
    return Policy(boards=boards, quiet_hours=quiet)


TOML_FILE: ContextVar[Path | None] = ContextVar("duban_toml_file", default=None)


class TomlSource(PydanticBaseSettingsSource):
    """The optional TOML settings file, below the environment in priority."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.data: dict[str, Any] = {}
        if path is not None:
            try:
                self.data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {path}: {exc}") from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from `overrides`, then the environment, then the TOML file (`path` or
    DUBAN_CONFIG)."""
    path = path or os.environ.get("DUBAN_CONFIG")
    token = TOML_FILE.set(Path(path) if path else None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from exc
    finally:
        TOML_FILE.reset(token)
