from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class AlterFieldOnPostgres(ops.AlterField):
    """SQLite does not enforce VARCHAR lengths, and its table rebuild for an altered column
    would drop the (channel, id) unique index the dedup relies on: change PostgreSQL only."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "postgres":
            await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "postgres":
            await super().database_backward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    """Issue 8 item 15: provider ids are stored whole (up to 512 characters), not cut at 128.
    PostgreSQL keeps the unique indexes through ALTER COLUMN ... TYPE."""

    dependencies = [('models', '0003_next_action_at')]

    initial = False

    operations = [
        AlterFieldOnPostgres(
            model_name='ProviderId',
            name='provider_id',
            field=fields.CharField(max_length=512),
        ),
        AlterFieldOnPostgres(
            model_name='InboundMessage',
            name='provider_message_id',
            field=fields.CharField(null=True, max_length=512),
        ),
    ]
