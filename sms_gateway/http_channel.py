"""What the HTTP SMS providers share: one client session, failure notes, health."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from dispatch.channel import InboundSink, Outgoing, SendResult

log = logging.getLogger(__name__)


class HttpSmsChannel:
    """The "sms" channel over a provider's HTTP API; subclasses say how to send."""

    name = "sms"
    provider = ""

    def __init__(
        self,
        settings: Any,
        sink: InboundSink,
        session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession,
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._last_failure: str | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = self._session_factory()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _note(self, message: Outgoing, result: SendResult) -> SendResult:
        """Remember and log a failure; hand the result on unchanged."""
        if not result.ok:
            self._last_failure = result.detail
            log.warning("%s send of message %s failed (%s): %s", self.provider,
                        message.message_id, result.failure, result.detail)
        return result

    def health(self) -> dict[str, Any]:
        return {"provider": self.provider, "running": self._session is not None,
                "last_failure": self._last_failure}
