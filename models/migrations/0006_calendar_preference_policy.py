from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.org import ChannelPreference
from tortoise.fields.base import OnDelete
from tortoise import fields

class AddFieldWithDatabaseDefault(ops.AddField):
    """ADD COLUMN ... NOT NULL with the default in the database too: tortoise's own AddField
    carries no DEFAULT, so it fails on a table that already has rows (every upgrade)."""

    def __init__(self, *args, column_sql: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.column_sql = column_sql

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None:
            model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor.client.execute_script(
                f"ALTER TABLE {model._meta.db_table} ADD COLUMN {self.column_sql}")


class Migration(migrations.Migration):
    dependencies = [('models', '0005_review_and_dialog_state')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Holiday',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField(unique=True)),
                ('year', fields.IntField(db_index=True)),
                ('workday', fields.BooleanField()),
                ('name', fields.CharField(default='', max_length=64)),
                ('imported_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'holiday', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One day of an imported holiday notice (`duban holidays import`): a statutory holiday'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SmsFallback',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.OneToOneField('models.OutboundMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='sms_fallback', on_delete=OnDelete.CASCADE)),
                ('due_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharField(null=True, max_length=16)),
            ],
            options={'table': 'sms_fallback', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A messenger message to a `messenger_first` person that goes by SMS too unless the'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Matter',
            name='policy',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        AddFieldWithDatabaseDefault(
            column_sql="channel_preference VARCHAR(16) NOT NULL DEFAULT 'both'",
            model_name='Person',
            name='channel_preference',
            field=fields.CharEnumField(default=ChannelPreference.BOTH, description='BOTH: both\nMESSENGER_FIRST: messenger_first\nSMS_ONLY: sms_only', enum_type=ChannelPreference, max_length=16),
        ),
    ]
