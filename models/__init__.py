"""The database model (tortoise-orm). Every instant is stored in UTC."""

from models.bot import DialogState
from models.calendar import Holiday
from models.console import ApiToken, ConsolePassword, ConsoleSession, LoginCode, LoginLock
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
    storable_provider_id,
)
from models.org import BoardInitiator, ChannelPreference, Person, Role, Unit

__all__ = [
    "ApiToken", "Application", "ApplicationKind", "ApplicationStatus", "AuditEntry",
    "BoardInitiator", "ChannelPreference", "ClockAction", "ConsentAttempt",
    "ConsolePassword", "ConsoleSession", "DevDelivery", "DialogState", "Feedback",
    "Holiday", "InboundMessage", "LinkCode", "LoginCode", "LoginLock", "Matter",
    "MatterState", "SmsFallback",
    "MessageEvent", "MessageStatus", "Node", "OutboundMessage", "Person", "ProviderId", "Role",
    "ScoreEvent", "ShortNumber", "Unit", "YearEndList", "storable_provider_id",
]
