"""`duban register FILE`: register a matter from a YAML or JSON file, as the initiator."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models import Matter
from replies.parser import Intent, parse_reply
from scheduler.clock import Clock
from scheduler.policy import Board
from service.config import Settings
from workflow.errors import Refused
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter


def matter_code(text: str) -> str:
    """The code as a reply names it ("d1" -> "D1"); ValueError if no reply could name it
    (the reply grammar is the parser's: replies/parser.py)."""
    code = unicodedata.normalize("NFKC", text).strip().upper()
    parsed = parse_reply(f"{code} 收到", now=datetime.now(UTC))
    if not isinstance(parsed, Intent) or parsed.matter_code != code:
        raise ValueError(f"{text!r} is not a code a reply can name: 1 to 3 letters, then 1 to "
                         "6 digits, like D17")
    return code


class MatterFields(BaseModel):
    """The fields of a matter as a file or a scenario gives them (R1, R5, R26, R28); the
    lengths are the columns' (models/matter.py)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    code: str | None = None
    board: Board
    klass: Literal["general", "major"] = Field("general", alias="class")
    deadline: datetime | None = None
    title: str = Field(min_length=1, max_length=255)
    source: str = Field("", max_length=255)
    initiator: str = Field(max_length=64)
    lead: str = Field(max_length=64)
    cooperating: list[str] = Field(default_factory=list)
    service_object: str | None = Field(None, max_length=128)  # whose consent completion needs (R28)
    reported_on: date | None = None  # investment: when the problem was reported (R26)

    @field_validator("code")
    @classmethod
    def repliable_code(cls, value: str | None) -> str | None:
        return None if value is None else matter_code(value)


class MatterFile(MatterFields):
    """A matter to register: the approval (R1) and the not-classified confirmation (R2)
    are stated, not assumed."""

    approver: str = Field(min_length=1, max_length=64)
    approved_on: date
    not_classified: bool = False


def read_matter(path: str | Path) -> MatterDraft:
    """The draft in the file, or ValueError naming what is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        data = MatterFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    return MatterDraft(**data.model_dump(by_alias=False) | {"board": data.board.value})


async def register_file(settings: Settings, path: str | Path,
                        clock: Clock | None = None) -> Matter:
    return await register_matter(settings.context(clock), read_matter(path), Actor(None, "cli"))


REFUSALS = {  # why the workflow refused a registration, for the person at the terminal
    "unknown_board": "there is no board {board}",
    "classified_not_confirmed": "the file does not confirm that the matter is not classified "
                                "(not_classified: true, R2)",
    "classified_mark": "the title or text carries a classification mark; classified matters "
                       "are never entered here (R2)",
    "approval_missing": "the approving leader or the approval date is missing (R1)",
    "unknown_class": "the class {klass} is neither general nor major",
    "not_initiator": "the initiator is not the initiating unit of the board {board} (R1)",
    "code_taken": "the code {code} is already taken by another matter",
    "unknown_unit": "no unit has the key {unit}",
}


def refusal_sentence(refused: Refused) -> str:
    """A sentence, not the workflow's key."""
    template = REFUSALS.get(refused.code, "the registration was refused")
    return template.format_map({k: str(v) for k, v in refused.params.items()})
