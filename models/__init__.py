"""The database model (tortoise-orm). Every instant is stored in UTC."""

from models.calendar import Holiday
from models.matter import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    ClockAction,
    ConsentAttempt,
    Feedback,
    Matter,
    MatterState,
    Node,
    ScoreEvent,
    YearEndList,
)
from models.messages import (
    AuditEntry,
    DevDelivery,
    InboundMessage,
    LinkCode,
    MessageEvent,
    MessageStatus,
    OutboundMessage,
    ProviderId,
    ShortNumber,
    SmsFallback,
)
from models.org import BoardInitiator, ChannelPreference, Person, Role, Unit

__all__ = [
    "Application", "ApplicationKind", "ChannelPreference", "Holiday", "SmsFallback", "ApplicationStatus", "AuditEntry", "BoardInitiator",
    "ClockAction", "ConsentAttempt", "DevDelivery", "Feedback", "InboundMessage", "LinkCode", "Matter", "MatterState",
    "MessageEvent", "MessageStatus", "Node", "OutboundMessage", "Person", "ProviderId", "Role",
    "ScoreEvent", "ShortNumber", "Unit", "YearEndList",
]
