"""`duban register FILE`: register a matter from a YAML or JSON file, as the initiator."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models import Matter
from scheduler.clock import Clock, SystemClock
from scheduler.policy import Board
from service.config import Settings
from workflow.context import Context
from workflow.holidays import load_calendar
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter


class MatterFields(BaseModel):
    """The fields of a matter as a file or a scenario gives them (R1, R5, R26, R28)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    code: str | None = None
    board: Board
    klass: Literal["general", "major"] = Field("general", alias="class")
    deadline: datetime | None = None
    title: str
    source: str = ""
    initiator: str
    lead: str
    cooperating: list[str] = Field(default_factory=list)
    service_object: str | None = None  # whose consent completion needs (R28)
    reported_on: date | None = None  # investment: when the problem was reported (R26)


class MatterFile(MatterFields):
    """A matter to register: the approval (R1) and the not-classified confirmation (R2)
    are stated, not assumed."""

    approver: str
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
    ctx = Context(clock=clock or SystemClock(), policy=settings.policy(),
                  calendar=await load_calendar(),
                  sms_signature=settings.sms.signature)
    return await register_matter(ctx, read_matter(path), Actor(None, "cli"))
