"""The web console's sign-in state: one-time login codes, lockouts, sessions, passwords and
API tokens. Secrets are stored hashed; the browser's cookie holds only a random id."""

from tortoise import fields
from tortoise.models import Model


class LoginCode(Model):
    """A one-time code texted to a phone for signing in (single use, expires)."""

    id = fields.IntField(primary_key=True)
    phone = fields.CharField(max_length=20, db_index=True)
    code_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "login_code"


class LoginLock(Model):
    """Wrong codes or passwords per phone; too many lock the phone for a while."""

    phone = fields.CharField(max_length=20, primary_key=True)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "login_lock"


class ConsoleSession(Model):
    """A signed-in browser. The cookie holds a random id; the row holds its hash."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    person = fields.ForeignKeyField("models.Person", related_name="console_sessions")
    csrf = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "console_session"


class ConsolePassword(Model):
    """A person's optional console password (argon2 hash)."""

    id = fields.IntField(primary_key=True)
    person = fields.OneToOneField("models.Person", related_name="console_password")
    password_hash = fields.CharField(max_length=255)

    class Meta:
        table = "console_password"


class ApiToken(Model):
    """A token for the JSON API; it acts as the person who holds it (stored hashed)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    token_hash = fields.CharField(max_length=64, unique=True)
    person = fields.ForeignKeyField("models.Person", related_name="api_tokens")
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
