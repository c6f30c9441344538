"""The `[wecom]` section: which corp and app, where its API lives, the callback secrets."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# 发送应用消息 (developer.work.weixin.qq.com/document/path/90236), 频率限制: per app, at most
# 30 messages a minute and 1000 an hour to one member, and 账号上限数 x 200 a day overall.
PER_MEMBER_PER_MINUTE = 30
PER_MEMBER_PER_HOUR = 1000
PER_APP_DAILY_FACTOR = 200


class WeComSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    corp_id: str
    agent_id: int
    secret: SecretStr  # the app's Secret, for gettoken
    token: SecretStr  # the callback Token
    encoding_aes_key: SecretStr  # the callback EncodingAESKey, 43 characters
    # 政务微信 and other private deployments serve the same API from their own host.
    api_base: str = "https://qyapi.weixin.qq.com"
    callback_path: str = "/wecom/callback"
    account_members: int = Field(200, ge=1)  # 账号上限数: sets the per-day limit
    callback_window: float = Field(300.0, gt=0)  # seconds a callback's timestamp may be off
    request_timeout: float = Field(10.0, gt=0)
    button_secret: SecretStr = SecretStr("change-me")  # signs the card buttons' keys

    @field_validator("encoding_aes_key")
    @classmethod
    def aes_key(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[A-Za-z0-9]{43}", value.get_secret_value()):
            raise ValueError("must be the 43-character EncodingAESKey")
        return value

    @field_validator("api_base")
    @classmethod
    def http_base(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("callback_path")
    @classmethod
    def absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @property
    def per_app_per_day(self) -> int:
        return self.account_members * PER_APP_DAILY_FACTOR
