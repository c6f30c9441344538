"""Messages in and out, and the audit log. The database is the queue."""

import hashlib
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

# Provider ids are stored whole up to this length (SMPP allows 65 octets, HTTP providers use
# ~40). Not TEXT: the ids are unique-indexed, and a PostgreSQL btree entry must stay under
# ~2.7 kB, which 512 characters of even 4-byte UTF-8 do.
PROVIDER_ID_LENGTH = 512


def storable_provider_id(value: str) -> str:
    """The id as stored: whole, or, beyond PROVIDER_ID_LENGTH (no real provider's), its
    SHA-256, so two long ids that differ only at the end stay two ids."""
    if len(value) <= PROVIDER_ID_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


class MessageStatus(StrEnum):
    PENDING = "pending"  # a row, due at `due_at`
    CLAIMED = "claimed"  # a dispatcher holds it until `claim_until`
    SENDING = "sending"  # handed to the channel; a crash here leaves the outcome unknown
    SUBMITTED = "submitted"  # the channel accepted it
    DELIVERED = "delivered"  # the receipt said so
    FAILED = "failed"  # permanent failure (failed over if possible)
    EXPIRED = "expired"  # the receipt said so
    UNKNOWN = "unknown"  # the channel may have it: never resent blindly


class OutboundMessage(Model):
    """One message to one person on one channel, before and after it is sent."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="messages", null=True)
    person = fields.ForeignKeyField("models.Person", related_name="messages", null=True)
    unit = fields.ForeignKeyField("models.Unit", related_name="messages", null=True)
    kind = fields.CharField(max_length=16)
    channel = fields.CharField(max_length=16)
    address = fields.CharField(max_length=32)
    context = fields.JSONField(default=dict)  # what the template is rendered with
    text = fields.TextField(null=True)  # rendered at claim time
    status = fields.CharEnumField(MessageStatus, max_length=12, default=MessageStatus.PENDING)
    due_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=64, null=True)
    claim_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    provider_ids = fields.JSONField(default=list)
    failover_of = fields.ForeignKeyField("models.OutboundMessage", related_name="failovers", null=True)
    dedup_key = fields.CharField(max_length=128, unique=True, null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbound_message"
        indexes = (("status", "due_at"),)


class MessageEvent(Model):
    """The status history of an outbound message."""

    id = fields.IntField(primary_key=True)
    message = fields.ForeignKeyField("models.OutboundMessage", related_name="events")
    status = fields.CharField(max_length=12)
    at = fields.DatetimeField()
    detail = fields.TextField(default="")

    class Meta:
        table = "message_event"


class InboundMessage(Model):
    """One message a person sent, stored raw before it is parsed."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    sender = fields.CharField(max_length=64)
    text = fields.TextField()
    provider_message_id = fields.CharField(max_length=PROVIDER_ID_LENGTH, null=True)
    raw_data = fields.JSONField(default=dict)
    received_at = fields.DatetimeField()
    status = fields.CharField(max_length=16, default="received")  # received|done|refused|error
    person = fields.ForeignKeyField("models.Person", related_name="inbound", null=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="inbound", null=True)
    outcome = fields.TextField(default="")

    class Meta:
        table = "inbound_message"
        unique_together = (("channel", "provider_message_id"),)


class AuditEntry(Model):
    """An append-only record of every transition: who, through what, from what to what."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="audit", null=True)
    actor = fields.ForeignKeyField("models.Person", related_name="audit", null=True)
    actor_label = fields.CharField(max_length=64)  # "clock", "system", a person's name
    channel = fields.CharField(max_length=16)  # sms, telegram, web, cli, clock
    action = fields.CharField(max_length=32)
    before = fields.CharField(max_length=24, null=True)
    after = fields.CharField(max_length=24, null=True)
    detail = fields.JSONField(default=dict)
    at = fields.DatetimeField()

    class Meta:
        table = "audit_entry"


class ShortNumber(Model):
    """The short number a person may use for a matter instead of its code (`1 收到`)."""

    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="short_numbers")
    matter = fields.ForeignKeyField("models.Matter", related_name="short_numbers")
    number = fields.IntField()
    released_at = fields.DatetimeField(null=True)  # reusable 72 h after the matter closes

    class Meta:
        table = "short_number"
        unique_together = (("person", "matter"),)


class LinkCode(Model):
    """A one-time code that links a messenger account to a person (`/start CODE`)."""

    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="link_codes")
    code = fields.CharField(max_length=16, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "link_code"


class ProviderId(Model):
    """A provider's id for (a segment of) an outbound message, to match receipts back."""

    id = fields.IntField(primary_key=True)
    message = fields.ForeignKeyField("models.OutboundMessage", related_name="provider_refs")
    channel = fields.CharField(max_length=16)
    provider_id = fields.CharField(max_length=PROVIDER_ID_LENGTH)

    class Meta:
        table = "provider_id"
        unique_together = (("channel", "provider_id"),)


class DevDelivery(Model):
    """What the development channels "delivered": one row per outbound message, ever."""

    id = fields.IntField(primary_key=True)
    message_id = fields.IntField(unique=True)
    channel = fields.CharField(max_length=16)
    address = fields.CharField(max_length=32)
    text = fields.TextField()
    at = fields.DatetimeField()

    class Meta:
        table = "dev_delivery"
