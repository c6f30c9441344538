"""The bot's dialog state (aiogram FSM) when `telegram.fsm_storage = "database"`."""

from tortoise import fields
from tortoise.models import Model


class DialogState(Model):
    """One chat's dialog: its FSM state and data, under aiogram's storage key."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=255, unique=True)
    state = fields.CharField(max_length=255, null=True)
    data = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()  # an abandoned dialog expires (DIALOG_TTL)

    class Meta:
        table = "dialog_state"
