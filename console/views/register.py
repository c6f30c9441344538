"""登记: the registration form, with every check `duban register` makes (the same pydantic
model of a matter file, then the workflow's R1/R2/R26 checks) and the code grammar the reply
parser reads; each error is shown next to its field."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.texts import labels
from console.web import SERVICE, check_csrf, forbidden, page, require, viewer
from models import Unit
from scheduler.clock import SHANGHAI
from service.register import MatterFile
from workflow.errors import Refused
from workflow.permissions import Action, supervised_boards
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

routes = web.RouteTableDef()
CODE_GRAMMAR = re.compile(r"[A-Z]{1,3}[0-9]{1,6}")  # what replies/parser.py reads as a code
REFUSAL_FIELD = {"unknown_board": "board", "not_initiator": "board", "classified_mark": "title",
                 "classified_not_confirmed": "not_classified", "approval_missing": "approver",
                 "unknown_class": "klass", "code_taken": "code", "unknown_unit": "lead"}
FIELDS = ("board", "title", "source", "klass", "deadline", "lead", "cooperating", "approver",
          "approved_on", "not_classified", "code", "reported_on", "service_object", "text")


async def form_page(request: web.Request, values: dict[str, Any], errors: dict[str, str],
                    status: int = 200) -> web.Response:
    person = viewer(request)
    return page(request, "register.j2", status=status, values=values, errors=errors,
                boards={b: labels("boards").get(b, b) for b in await supervised_boards(person)},
                units=await Unit.exclude(id=person.unit_id).order_by("name").values_list(
                    "key", "name"))


@routes.get("/register")
async def show(request: web.Request) -> web.Response:
    person = viewer(request)
    boards = await supervised_boards(person)
    if not boards:  # R1: only a board's initiator registers
        raise forbidden(request, "not_initiator")
    return await form_page(request, {"board": boards[0], "klass": "general"}, {})


@routes.post("/register")
async def submit(request: web.Request) -> web.Response:
    form = await check_csrf(request)
    post = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in FIELDS}
    values["cooperating"] = [str(v) for v in post.getall("cooperating", [])]
    person = await require(request, Action.REGISTER, board=values["board"])
    initiator = await Unit.get(id=person.unit_id)
    draft, errors = validate(values, initiator.key)
    if draft is not None:
        try:
            matter = await register_matter(request.app[SERVICE].ctx, draft, Actor(person, "web"))
        except Refused as exc:
            errors = {REFUSAL_FIELD.get(exc.code, "form"): exc.code}
        else:
            raise web.HTTPFound(f"/matters/{matter.code}?notice=registered")
    return await form_page(request, values, errors, status=400)


def end_of_day(text: str) -> str:
    """A deadline typed as a day means the end of that day in Beijing (as an extension's)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return text  # the model names the problem
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).isoformat()


def validate(values: dict[str, Any], initiator: str) -> tuple[MatterDraft | None, dict[str, str]]:
    """The draft, or the errors by field (keys of templates/console/register.j2)."""
    errors: dict[str, str] = {}
    code = values["code"].upper()
    if code and not CODE_GRAMMAR.fullmatch(code):
        errors["code"] = "code_grammar"
    raw = {k: v for k, v in values.items() if v not in ("", [])} | {
        "initiator": initiator, "not_classified": values["not_classified"] == "on",
        "class": values["klass"] or "general", "code": code or None}
    raw.pop("klass", None)
    if "deadline" in raw:
        raw["deadline"] = end_of_day(raw["deadline"])
    text = raw.pop("text", "")
    try:
        data = MatterFile.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault("klass" if name == "class" else name, "invalid")
        return None, errors
    if errors:
        return None, errors
    return MatterDraft(**data.model_dump(by_alias=False) | {"board": data.board.value,
                                                          "text": text}), {}
