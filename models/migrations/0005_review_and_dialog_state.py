from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0004_provider_id_length')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Application',
            name='reviewed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='reviewed_by',
            field=fields.ForeignKeyField('models.Person', source_field='reviewed_by_id', null=True, db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.CASCADE),
        ),
        ops.CreateModel(
            name='DialogState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=255)),
                ('state', fields.CharField(null=True, max_length=255)),
                ('data', fields.JSONField(default=dict)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'dialog_state', 'app': 'models', 'pk_attr': 'id', 'table_description': "One chat's dialog: its FSM state and data, under aiogram's storage key."},
            bases=['Model'],
        ),
    ]
