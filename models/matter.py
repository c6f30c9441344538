"""Matters (事项), their nodes, the unit's feedback and applications, grades and scores."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class MatterState(StrEnum):
    """The states of the matter workflow; `workflow.states` holds the legal moves."""

    ASSIGNED = "assigned"  # registered; notice sent, waiting for receipt
    ACKNOWLEDGED = "acknowledged"  # 1d node satisfied
    IN_PROGRESS = "in_progress"  # reports flowing
    SUPERVISED = "supervised"  # 督办 procedure (R12)
    KEY_SUPERVISION = "key_supervision"  # escalated past +72 h (R13)
    EXTENSION_REQUESTED = "extension_requested"  # R17
    CONTINUING = "continuing"  # 持续跟进 (R18)
    COMPLETION_REQUESTED = "completion_requested"  # 申请办结 (R27)
    RETURNED = "returned"  # report or application returned (R16, R29)
    CLOSED = "closed"  # 办结销号 (R30)
    ARCHIVED = "archived"  # 归档 (R31)


class Matter(Model):
    """One supervised item."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    title = fields.CharField(max_length=255)
    source = fields.CharField(max_length=255, default="")
    board = fields.CharField(max_length=16)
    klass = fields.CharField(max_length=8, default="general")  # general | major (R5)
    deadline = fields.DatetimeField(null=True)  # explicit deadline instead of the class
    initiator = fields.ForeignKeyField("models.Unit", related_name="initiated")
    lead = fields.ForeignKeyField("models.Unit", related_name="led")
    cooperating = fields.ManyToManyField(
        "models.Unit", related_name="cooperating_in", through="matter_cooperating"
    )
    approver = fields.CharField(max_length=64)  # R1
    approved_on = fields.DateField()  # R1
    not_classified = fields.BooleanField()  # R2
    service_object = fields.CharField(max_length=128, null=True)  # 服务对象 (R28)
    state = fields.CharEnumField(MatterState, max_length=24, default=MatterState.ASSIGNED)
    created_at = fields.DatetimeField()
    assigned_at = fields.DatetimeField(null=True)
    completion_requested_at = fields.DatetimeField(null=True)
    continuing_since = fields.DatetimeField(null=True)
    continuing_until = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # When the clock next has something to do for this matter: the tick reads only the
    # matters due by now. Too early is harmless (one recomputation); it is never too late,
    # because every change that can bring an action forward recomputes it (catch_up).
    next_action_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "matter"


class Node(Model):
    """A feedback deadline (节点) of a matter, with when it was satisfied."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="nodes")
    key = fields.CharField(max_length=24)  # 1d, 3d, 7d, 1m, deadline, ext, W2026-11-26 ...
    due_at = fields.DatetimeField()
    satisfied_at = fields.DatetimeField(null=True)

    class Meta:
        table = "node"
        unique_together = (("matter", "key"),)


class Feedback(Model):
    """A receipt or progress report the unit filed (反馈)."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="feedback")
    person = fields.ForeignKeyField("models.Person", related_name="feedback", null=True)
    channel = fields.CharField(max_length=16)
    ack_only = fields.BooleanField(default=False)
    text = fields.TextField(default="")
    at = fields.DatetimeField()
    node_key = fields.CharField(max_length=24, null=True)  # the node it satisfied
    late = fields.BooleanField(default=False)
    returned_at = fields.DatetimeField(null=True)
    return_reason = fields.TextField(null=True)

    class Meta:
        table = "feedback"


class ConsentAttempt(Model):
    """The unit's report of asking the matter's service object to agree (R28)."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="consent_attempts")
    person = fields.ForeignKeyField("models.Person", related_name="consent_attempts", null=True)
    channel = fields.CharField(max_length=16)
    agreed = fields.BooleanField()
    text = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "consent_attempt"


class ApplicationKind(StrEnum):
    EXTENSION = "extension"  # 延期 (R17)
    COMPLETION = "completion"  # 办结 (R27)


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    RETURNED = "returned"


class Application(Model):
    """An extension or completion application and its review."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="applications")
    kind = fields.CharEnumField(ApplicationKind, max_length=16)
    person = fields.ForeignKeyField("models.Person", related_name="applications", null=True)
    channel = fields.CharField(max_length=16)
    text = fields.TextField(default="")
    new_deadline = fields.DatetimeField(null=True)
    filed_at = fields.DatetimeField()
    status = fields.CharEnumField(ApplicationStatus, max_length=16, default=ApplicationStatus.PENDING)
    grade = fields.CharField(max_length=8, null=True)  # 优秀 良好 合格 不合格 (R29)
    # R30 two-step chain: the supervising office's review before the leader's decision.
    reviewed_at = fields.DatetimeField(null=True)
    reviewed_by = fields.ForeignKeyField("models.Person", related_name="reviews", null=True)
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.ForeignKeyField("models.Person", related_name="decisions", null=True)
    reason = fields.TextField(null=True)

    class Meta:
        table = "application"


class ScoreEvent(Model):
    """A points change of a unit (R32)."""

    id = fields.IntField(primary_key=True)
    unit = fields.ForeignKeyField("models.Unit", related_name="scores")
    matter = fields.ForeignKeyField("models.Matter", related_name="scores", null=True)
    delta = fields.DecimalField(max_digits=5, decimal_places=1)
    reason = fields.CharField(max_length=32)
    at = fields.DatetimeField()

    class Meta:
        table = "score_event"


class ClockAction(Model):
    """An action of the 13710 clock that has been carried out: each key once per matter."""

    id = fields.IntField(primary_key=True)
    matter = fields.ForeignKeyField("models.Matter", related_name="clock_actions")
    key = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16)
    due_at = fields.DatetimeField()
    done_at = fields.DatetimeField()
    skipped = fields.BooleanField(default=False)  # superseded by a later one of its series

    class Meta:
        table = "clock_action"
        unique_together = (("matter", "key"),)


class YearEndList(Model):
    """A year-end clearance list sent to an initiator (R23), each key once."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=32, unique=True)
    done_at = fields.DatetimeField()

    class Meta:
        table = "year_end_list"
