"""Configuration from the environment (DUBAN_*) and an optional TOML file.

An invalid setting stops start-up with one line that names it (`ConfigError`).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.config import DEFAULT_CALLBACK_SECRET, TelegramSettings
from scheduler.clock import Clock, SystemClock
from scheduler.policy import (
    Approval,
    Board,
    BoardPolicy,
    Cadence,
    Policy,
    QuietHours,
    default_policies,
)
from workflow.context import Context
from workflow.holidays import load_calendar

MIN_SECRET_LENGTH = 16
DEFAULT_SMS_SIGNATURE = "【督办】"


class ConfigError(Exception):
    """A setting is invalid; the message names it."""


class BoardOverride(BaseModel):
    """Per-board policy overrides a deployment may set (R6, R18, R30, R37)."""

    model_config = {"extra": "forbid"}

    working_days: bool | None = None
    cadence: Cadence | None = None
    month_end_remind_days: int | None = Field(default=None, ge=1, le=10)
    ack_resend_hours: float | None = Field(default=None, ge=0)  # 0 switches R37 off
    approval: Approval | None = None  # R30: one_step | two_step

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

    # Unset: the development channel in development mode, no SMS channel otherwise.
    provider: Literal["none", "dev", "smpp", "aliyun", "twilio", "cmpp"] | None = None
    signature: str = DEFAULT_SMS_SIGNATURE  # with aliyun the provider adds its registered sign_name instead
    per_number_per_minute: int = Field(default=6, ge=1)  # segments to one phone
    per_second: int = Field(default=50, ge=1)  # segments overall


class ConsoleSettings(BaseModel):
    """The web console (督办平台), served on its own port beside the webhooks."""

    model_config = {"extra": "forbid"}

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    session_hours: float = Field(default=12.0, gt=0)
    trust_proxy: bool = False  # believe X-Forwarded-Proto: https from a reverse proxy


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
    # Batches of stored replies (up to 250 senders each) this instance processes at once; 0:
    # it only stores and acknowledges (a webhook-facing instance; other instances answer).
    reply_workers: int = Field(default=1, ge=0, le=64)
    instance: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    boards: dict[Board, BoardOverride] = Field(default_factory=dict)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    wecom: dict[str, Any] | None = None  # [wecom]: validated by wecom.settings.WeComSettings
    web_token: str | None = None  # bearer token of the web console's API
    # DUBAN_DEVELOPMENT=1 (`./dev serve`): the development channels and /dev/sms. Never on
    # in production: /dev/sms shows every message and replies as any phone.
    development: bool = False
    allow_dev_on_public_host: bool = False  # development mode on a non-loopback host, knowingly
    sms_fallback_hours: float = Field(default=4.0, gt=0)  # messenger_first: SMS if unread
    # Share the SMS and messenger rate limits of all instances through this Redis; without
    # it each instance keeps its own (fine for one instance).
    rate_limit_redis_url: str | None = None

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

    @property
    def sms_provider(self) -> str:
        """The SMS adapter in use (see `SmsSettings.provider`)."""
        return self.sms.provider or ("dev" if self.development else "none")

    def context(self, clock: Clock | None = None) -> Context:
        """The runtime context every part of a deployment works with (the one place it is
        built from settings): clock, policies, calendar, time zone, SMS signature."""
        # Alibaba prepends the registered sign_name itself; everyone else gets ours, once.
        signature = "" if self.sms_provider == "aliyun" else self.sms.signature
        ctx = build_context(clock or SystemClock(), self.boards, self.quiet_hours,
                            self.timezone, signature)
        ctx.sms_fallback_after = timedelta(hours=self.sms_fallback_hours)
        return ctx

    async def loaded_context(self, clock: Clock | None = None) -> Context:
        """`context` with the database's part, the imported holiday notices (R6): for the
        commands that plan or register; the serving tick reloads the calendar itself."""
        ctx = self.context(clock)
        ctx.calendar = await load_calendar()
        return ctx


def build_policy(overrides: dict[Board, BoardOverride], quiet_hours: str | None) -> Policy:
    """The default board policies with a deployment's (or a scenario's) changes."""
    boards = default_policies()
    for board, override in overrides.items():
        boards[board] = override.apply(boards[board])
    quiet = QuietHours.parse(quiet_hours) if quiet_hours else None
    return Policy(boards=boards, quiet_hours=quiet)


def build_context(clock: Clock, boards: dict[Board, BoardOverride], quiet_hours: str | None,
                  timezone: str, sms_signature: str) -> Context:
    """A deployment's (`Settings.context`) or a scenario's runtime context."""
    return Context(clock=clock, policy=build_policy(boards, quiet_hours), tz=ZoneInfo(timezone),
                   sms_signature=sms_signature)


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


def check_serving(settings: Settings) -> None:
    """Refuse what must never be served, with one line naming the setting: development mode
    on a public host, the development channel outside it, weak secrets in production."""
    if settings.development:
        if not is_loopback(settings.host) and not settings.allow_dev_on_public_host:
            raise ConfigError(
                f"development mode on the non-loopback host {settings.host}: /dev/sms lets "
                "anyone read every message and reply as any phone; serve on 127.0.0.1 or set "
                "allow_dev_on_public_host (serve --allow-dev-on-public-host)")
        return
    if settings.sms.provider == "dev":
        raise ConfigError('sms.provider = "dev" needs development mode (DUBAN_DEVELOPMENT=1)')
    for name, value in secrets_in_use(settings):
        if not value or value == DEFAULT_CALLBACK_SECRET or len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{name} is missing, the default or shorter than "
                              f"{MIN_SECRET_LENGTH} characters; outside development mode it "
                              "must be a long random string")


def secrets_in_use(settings: Settings) -> list[tuple[str, str | None]]:
    """The secrets this configuration relies on, by setting name."""
    found: list[tuple[str, str | None]] = []
    tg = settings.telegram
    if tg.token:
        found.append(("telegram.callback_secret", tg.callback_secret))
        if tg.mode == "webhook":
            found.append(("telegram.webhook_secret", tg.webhook_secret))
    if settings.web_token is not None:
        found.append(("web_token", settings.web_token))
    if settings.wecom is not None:  # the card buttons' keys are signed with it, like the bot's
        found.append(("wecom.button_secret",
                      settings.wecom.get("button_secret", DEFAULT_CALLBACK_SECRET)))
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost may resolve to anything
        return False
