"""The database model (tortoise-orm). Every instant is stored in UTC."""

from models.bot import DialogState
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
    storable_provider_id,
)
from models.org import BoardInitiator, Person, Role, Unit

__all__ = [
    "Application", "ApplicationKind", "ApplicationStatus", "AuditEntry", "BoardInitiator",
    "ClockAction", "ConsentAttempt", "DevDelivery", "DialogState", "Feedback", "InboundMessage", "LinkCode", "Matter", "MatterState",
    "MessageEvent", "MessageStatus", "Node", "OutboundMessage", "Person", "ProviderId", "Role",
    "ScoreEvent", "ShortNumber", "Unit", "YearEndList", "storable_provider_id",
]
