from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


# Indexes the console's reads walk (a matter's timeline, a unit's matters, open overdue
# nodes). Plain SQL that SQLite and PostgreSQL both take; the models need not know them.
CONSOLE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_matter_lead ON matter (lead_id)",
    "CREATE INDEX IF NOT EXISTS idx_matter_initiator ON matter (initiator_id)",
    "CREATE INDEX IF NOT EXISTS idx_matter_coop_unit ON matter_cooperating (unit_id)",
    "CREATE INDEX IF NOT EXISTS idx_node_open_due ON node (due_at) WHERE satisfied_at IS NULL",
    "CREATE INDEX IF NOT EXISTS idx_outbound_matter ON outbound_message (matter_id)",
    "CREATE INDEX IF NOT EXISTS idx_message_event_message ON message_event (message_id)",
    "CREATE INDEX IF NOT EXISTS idx_audit_matter ON audit_entry (matter_id)",
    "CREATE INDEX IF NOT EXISTS idx_inbound_matter ON inbound_message (matter_id)",
    "CREATE INDEX IF NOT EXISTS idx_application_matter ON application (matter_id)",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0006_calendar_preference_policy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('phone', fields.CharField(db_index=True, max_length=20)),
                ('code_hash', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_code', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginLock',
            fields=[
                ('phone', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=20)),
                ('failures', fields.IntField(default=0)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_lock', 'app': 'models', 'pk_attr': 'phone'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsoleSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='console_sessions', on_delete=OnDelete.CASCADE)),
                ('csrf', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'console_session', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsolePassword',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.OneToOneField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='console_password', on_delete=OnDelete.CASCADE)),
                ('password_hash', fields.CharField(max_length=255)),
            ],
            options={'table': 'console_password', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=64)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        *(ops.RunSQL(statement) for statement in CONSOLE_INDEXES),
    ]
