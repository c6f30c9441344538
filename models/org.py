"""Units, their people and the boards' initiators."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    """What a person is in their unit."""

    HEAD = "head"  # 主要负责人, first responsible
    DIRECTOR = "director"  # 办公室主任, managing responsible
    OPERATOR_A = "operator_a"  # 系统管理员 A岗
    OPERATOR_B = "operator_b"  # 系统管理员 B岗
    SUPERVISOR = "supervisor"  # handling person of an initiator (督办人)
    LEADER = "leader"  # approving leader (分管副区长 / 区长)
    STAFF = "staff"


class ChannelPreference(StrEnum):
    """Which channels a person's messages go on (the R3 assignment notice: every channel)."""

    BOTH = "both"  # SMS and the messenger, as before preferences existed (the default)
    MESSENGER_FIRST = "messenger_first"  # messenger; SMS if it fails or is not read in N h
    SMS_ONLY = "sms_only"


class Unit(Model):
    """A government unit (单位): responsible unit or initiator."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)  # stable id from the org import
    name = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "unit"


class Person(Model):
    """Someone who receives messages and may reply or command."""

    id = fields.IntField(primary_key=True)
    unit = fields.ForeignKeyField("models.Unit", related_name="people")
    name = fields.CharField(max_length=64)
    role = fields.CharEnumField(Role, max_length=16)
    phone = fields.CharField(max_length=20, null=True, unique=True)  # E.164
    telegram_chat_id = fields.BigIntField(null=True, unique=True)
    wecom_userid = fields.CharField(max_length=64, null=True, unique=True)  # 企业微信 UserID
    active = fields.BooleanField(default=True)
    channel_preference = fields.CharEnumField(ChannelPreference, max_length=16,
                                              default=ChannelPreference.BOTH)

    class Meta:
        table = "person"


class BoardInitiator(Model):
    """Which unit registers and supervises each board (立项主体, R1)."""

    board = fields.CharField(max_length=16, primary_key=True)
    initiator = fields.ForeignKeyField("models.Unit", related_name="boards")

    class Meta:
        table = "board_initiator"
