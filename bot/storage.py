"""`telegram.fsm_storage = "database"`: the bot's dialogs in the service's own database, so a
polling deployment needs no Redis and an open dialog survives a restart (issue 8 item 17).

One row per chat (`DialogState`), under aiogram's storage key. A dialog left untouched for
longer than its time to live reads as no dialog, like Redis's expiring keys; the row is
removed when the dialog ends. Updates of one chat are serialised by the dispatcher's event
isolation, so a chat's row has one writer at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)

from models import DialogState
from scheduler.clock import Clock


class DatabaseStorage(BaseStorage):
    def __init__(self, clock: Clock, ttl: timedelta,
                 key_builder: KeyBuilder | None = None) -> None:
        self.clock, self.ttl = clock, ttl
        self.key_builder = key_builder or DefaultKeyBuilder(prefix="duban:fsm", with_bot_id=True)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._read(key)
        return row.state if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            msg = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(msg)
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._read(key)
        return dict(row.data) if row else {}

    async def close(self) -> None:
        """The database belongs to the service."""

    async def _read(self, key: StorageKey) -> DialogState | None:
        row = await DialogState.get_or_none(key=self.key_builder.build(key))
        if row is None or row.updated_at < self.clock.now() - self.ttl:
            return None  # an abandoned dialog is forgotten
        return row

    async def _write(self, key: StorageKey, **change: Any) -> None:
        row = await self._read(key)
        state = change.get("state", row.state if row else None)
        data = change.get("data", row.data if row else {})
        name = self.key_builder.build(key)
        if state is None and not data:
            await DialogState.filter(key=name).delete()
            return
        await DialogState.update_or_create(
            key=name, defaults={"state": state, "data": data, "updated_at": self.clock.now()})
