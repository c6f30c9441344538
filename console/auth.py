"""Signing in to the console: a one-time code texted through the normal outbox (or an
optional argon2 password), lockout after repeated wrong codes, server-side sessions.

Codes and session ids are random and stored only as SHA-256 hashes; the cookie holds the
session id. Every sign-in, failure and sign-out is an audit row (channel `web`)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from tortoise.transactions import in_transaction

from dispatch.outbox import enqueue
from models import ConsolePassword, ConsoleSession, LoginCode, LoginLock, Person
from scheduler.clock import SHANGHAI
from sms_gateway.text import to_e164
from workflow.records import Actor, audit

CODE_VALID = timedelta(minutes=10)
CODE_GAP = timedelta(seconds=60)  # one code per phone per minute
CODES_PER_HOUR = 5
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
HASHER = PasswordHasher()


class LoginRefused(Exception):
    """Why a sign-in step did not happen; `code` picks the text on the login page."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    row: ConsoleSession


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def code_digest(phone: str, code: str) -> str:
    return digest(f"{phone}:{code}")


def normal_phone(text: str) -> str:
    try:
        return to_e164(text.strip())
    except ValueError:
        raise LoginRefused("bad_phone") from None


async def send_code(phone_text: str, now: datetime, tz: tzinfo = SHANGHAI) -> str:
    """Queue a fresh code to the phone by SMS and return it (tests, the dev page show it).
    An unknown phone gets the same answer as a known one and no SMS: no account probing."""
    phone = normal_phone(phone_text)
    await check_not_locked(phone, now)
    recent = LoginCode.filter(phone=phone, created_at__gt=now - timedelta(hours=1))
    if await recent.filter(created_at__gt=now - CODE_GAP).exists() or \
            await recent.count() >= CODES_PER_HOUR:
        raise LoginRefused("too_many_codes")
    code = f"{secrets.randbelow(10**6):06d}"
    person = await Person.get_or_none(phone=phone, active=True)
    async with in_transaction():
        await LoginCode.create(phone=phone, code_hash=code_digest(phone, code), created_at=now,
                               expires_at=now + CODE_VALID)
        if person:
            context = {"login_code": code,
                       "valid_until": (now + CODE_VALID).astimezone(tz).strftime("%H:%M")}
            await enqueue(kind="login_code", people=[person], context=context, due_at=now, now=now,
                          only_channel="sms")
    return code


async def check_not_locked(phone: str, now: datetime) -> None:
    lock = await LoginLock.get_or_none(phone=phone)
    if lock and lock.locked_until and lock.locked_until > now:
        raise LoginRefused("locked")


async def sign_in_with_code(phone_text: str, code: str, now: datetime) -> Person:
    phone = normal_phone(phone_text)
    await check_not_locked(phone, now)
    row = await LoginCode.filter(phone=phone, code_hash=code_digest(phone, code.strip()),
                                 used_at=None, expires_at__gt=now).first()
    person = await Person.get_or_none(phone=phone, active=True)
    if row is None or person is None:
        await failed(phone, person, now, "code")
    # Single use: of two requests racing with one code, only one marks it used.
    if not await LoginCode.filter(id=row.id, used_at=None).update(used_at=now):
        await failed(phone, person, now, "code")
    return await signed_in(phone, person, now, "code")


async def sign_in_with_password(phone_text: str, password: str, now: datetime) -> Person:
    phone = normal_phone(phone_text)
    await check_not_locked(phone, now)
    person = await Person.get_or_none(phone=phone, active=True)
    stored = await ConsolePassword.get_or_none(person=person) if person else None
    try:
        if stored is None:
            raise VerifyMismatchError
        HASHER.verify(stored.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        await failed(phone, person, now, "password")
    return await signed_in(phone, person, now, "password")


async def set_password(person: Person, password: str) -> None:
    if len(password) < 10:
        raise LoginRefused("weak_password")
    row = await ConsolePassword.get_or_none(person=person)
    if row is None:
        await ConsolePassword.create(person=person, password_hash=HASHER.hash(password))
    else:
        row.password_hash = HASHER.hash(password)
        await row.save(update_fields=["password_hash"])


async def set_password_from_shell(phone_text: str, password: str, now: datetime) -> Person:
    """`duban console-password`: the way in for a first administrator whom no SMS can reach
    (no provider configured yet). Whoever runs it has the server's shell; it is audited."""
    person = await Person.get_or_none(phone=normal_phone(phone_text), active=True)
    if person is None:
        raise LoginRefused("unknown_phone")
    async with in_transaction():
        await set_password(person, password)
        await audit(None, Actor(None, "cli"), "console_password", None, None, now,
                    person=person.id)
    return person


async def failed(phone: str, person: Person | None, now: datetime, how: str) -> None:
    """Count a wrong code or password; the MAX_FAILURES-th locks the phone. Always raises."""
    lock, _ = await LoginLock.get_or_create(phone=phone)
    lock.failures += 1
    locked = lock.failures >= MAX_FAILURES
    if locked:
        lock.failures, lock.locked_until = 0, now + LOCK_FOR
    await lock.save()
    await audit(None, Actor(person, "web"), "login_locked" if locked else "login_failed",
                None, None, now, phone=masked(phone), method=how)
    raise LoginRefused("locked" if locked else "wrong_code")


async def signed_in(phone: str, person: Person, now: datetime, how: str) -> Person:
    await LoginLock.filter(phone=phone).update(failures=0, locked_until=None)
    await audit(None, Actor(person, "web"), "login", None, None, now, method=how)
    return person


def masked(phone: str) -> str:
    """Personal data stays out of the audit detail: 138****0002."""
    return f"{phone[:-8]}****{phone[-4:]}" if len(phone) > 8 else "****"


async def open_session(person: Person, now: datetime, hours: float) -> NewSession:
    token = secrets.token_urlsafe(32)
    row = await ConsoleSession.create(token_hash=digest(token), person=person,
                                      csrf=secrets.token_urlsafe(32), created_at=now,
                                      expires_at=now + timedelta(hours=hours))
    return NewSession(token, row)


async def current_session(token: str | None, now: datetime) -> ConsoleSession | None:
    if not token:
        return None
    return await ConsoleSession.filter(token_hash=digest(token), ended_at=None,
                                       expires_at__gt=now, person__active=True
                                       ).select_related("person").first()


async def end_session(row: ConsoleSession, now: datetime) -> None:
    await ConsoleSession.filter(id=row.id).update(ended_at=now)
    await audit(None, Actor(row.person, "web"), "logout", None, None, now)


async def end_all_sessions(person: Person, admin: Person, now: datetime) -> int:
    """An administrator signs a person out everywhere (e.g. when disabling them)."""
    ended = await ConsoleSession.filter(person=person, ended_at=None).update(ended_at=now)
    await audit(None, Actor(admin, "web"), "sessions_ended", None, None, now,
                person=person.name, sessions=ended)
    return ended
