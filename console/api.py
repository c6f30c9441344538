"""JSON API /api/v1/ for the city platform: matters list, a matter with its timeline, and
registration, with bearer tokens an administrator issues. The same permission function and
workflow service as the pages; described by /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.auth import digest
from console.queries import Filters, listing
from console.timeline import timeline
from console.views.register import REFUSAL_FIELD, validate
from console.web import SERVICE
from models import ApiToken, Matter, Person, Unit
from workflow.errors import Refused
from workflow.permissions import Action, may, visible_matters
from workflow.records import Actor
from workflow.service import register_matter

routes = web.RouteTableDef()


def problem(status: int, code: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, **extra}, status=status)


async def caller(request: web.Request) -> Person:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    row = await ApiToken.get_or_none(token_hash=digest(token), revoked_at=None
                                     ).prefetch_related("person") if token else None
    if row is None or not row.person.active:
        raise web.HTTPUnauthorized(text='{"error": "token"}', content_type="application/json",
                                   headers={"WWW-Authenticate": "Bearer"})
    return row.person


def summary(m: Matter, light: str | None = None) -> dict[str, Any]:
    data = {"code": m.code, "title": m.title, "board": m.board, "class": m.klass,
            "state": m.state.value, "created_at": m.created_at.isoformat(),
            "deadline": m.deadline.isoformat() if m.deadline else None}
    return data | ({"light": light} if light else {})


@routes.get("/api/v1/matters")
async def matters(request: web.Request) -> web.Response:
    person = await caller(request)
    ctx = request.app[SERVICE].ctx
    found = await listing(person, Filters.of(request.query), ctx.clock.now(), ctx.tz)
    if found.problems:
        return problem(400, "filter", fields=found.problems)
    return web.json_response({"matters": [summary(m, found.lights[m.id]) for m in found.matters],
                              "next_after": found.next_after})


@routes.get("/api/v1/matters/{code}")
async def matter(request: web.Request) -> web.Response:
    person = await caller(request)
    m = await Matter.filter(await visible_matters(person),
                            code=request.match_info["code"].upper()).first()
    if m is None:
        return problem(403, "not_visible")
    await m.fetch_related("lead", "initiator", "cooperating")
    return web.json_response(summary(m) | {
        "initiator": m.initiator.key, "lead": m.lead.key,
        "cooperating": [u.key for u in m.cooperating],
        "timeline": [e.json() for e in await timeline(m)]})


@routes.post("/api/v1/matters")
async def register(request: web.Request) -> web.Response:
    person = await caller(request)
    try:
        body = await request.json()
    except ValueError:
        return problem(400, "json")
    if not isinstance(body, dict):
        return problem(400, "json")
    values = {k: str(body.get(k, "") or "") for k in (
        "board", "title", "source", "klass", "deadline", "lead", "approver", "approved_on",
        "code", "reported_on", "service_object", "text")}
    values["cooperating"] = [str(u) for u in body.get("cooperating", []) or []]
    values["not_classified"] = "on" if body.get("not_classified") is True else ""
    if not (await may(person, Action.REGISTER, board=values["board"])).ok:
        return problem(403, "not_initiator")
    draft, errors = validate(values, (await Unit.get(id=person.unit_id)).key)
    if draft is None:
        return problem(400, "invalid", fields=errors)
    try:
        m = await register_matter(request.app[SERVICE].ctx, draft, Actor(person, "api"))
    except Refused as exc:
        return problem(400, "refused", fields={REFUSAL_FIELD.get(exc.code, "form"): exc.code})
    return web.json_response(summary(m), status=201)


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


MATTER = {"type": "object", "properties": {
    "code": {"type": "string"}, "title": {"type": "string"}, "board": {"type": "string"},
    "class": {"type": "string", "enum": ["general", "major"]}, "state": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
    "deadline": {"type": "string", "format": "date-time", "nullable": True},
    "light": {"type": "string", "enum": ["green", "yellow", "red", "none"]}}}
FILTERS = [{"name": n, "in": "query", "required": False, "schema": {"type": "string"},
            "description": d} for n, d in (
    ("board", "board key"), ("unit", "unit key (lead or cooperating)"), ("state", "state"),
    ("light", "green | yellow | red"), ("node", "an open node key, e.g. 7d"),
    ("period", "registered in: 2026, 2026Q4, 2026-11"), ("q", "code or words of the title"),
    ("after", "next_after of the previous page"))]
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "duban 督办 API", "version": "1"},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
                   "schemas": {"Matter": MATTER}},
    "security": [{"token": []}],
    "paths": {
        "/api/v1/matters": {
            "get": {"summary": "The caller's visible matters, newest first, 50 a page",
                    "parameters": FILTERS, "responses": {"200": {
                        "description": "a page", "content": {"application/json": {"schema": {
                            "type": "object", "properties": {
                                "matters": {"type": "array",
                                            "items": {"$ref": "#/components/schemas/Matter"}},
                                "next_after": {"type": "integer", "nullable": True}}}}}},
                        "401": {"description": "no valid token"}}},
            "post": {"summary": "Register a matter (R1, R2, R26 checks as `duban register`)",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "required": [
                             "board", "title", "lead", "approver", "approved_on",
                             "not_classified"], "properties": {
                             k: {"type": "string"} for k in (
                                 "board", "title", "source", "klass", "deadline", "lead",
                                 "approver", "approved_on", "code", "reported_on",
                                 "service_object", "text")} | {
                             "cooperating": {"type": "array", "items": {"type": "string"}},
                             "not_classified": {"type": "boolean"}}}}}},
                     "responses": {"201": {"description": "registered", "content": {
                         "application/json": {"schema": {"$ref": "#/components/schemas/Matter"}}}},
                         "400": {"description": "invalid; `fields` names each problem"},
                         "403": {"description": "not the board's initiator"}}}},
        "/api/v1/matters/{code}": {
            "get": {"summary": "A matter with its full timeline",
                    "parameters": [{"name": "code", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "the matter"},
                                  "403": {"description": "not visible to the caller"}}}},
    },
}
