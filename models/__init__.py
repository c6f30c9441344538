"""The database model (tortoise-orm). Every instant is stored in UTC."""

from models.matter import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    ClockAction,
    Feedback,
    Matter,
    MatterState,
    Node,
    ScoreEvent,
    YearEndList,
)
from models.messages import (
    AuditEntry,
    InboundMessage,
    LinkCode,
    MessageEvent,
    MessageStatus,
    OutboundMessage,
    ShortNumber,
)
from models.org import BoardInitiator, Person, Role, Unit

__all__ = [
    "Application", "ApplicationKind", "ApplicationStatus", "AuditEntry", "BoardInitiator",
    "ClockAction", "Feedback", "InboundMessage", "LinkCode", "Matter", "MatterState",
    "MessageEvent", "MessageStatus", "Node", "OutboundMessage", "Person", "Role",
    "ScoreEvent", "ShortNumber", "Unit", "YearEndList",
]
