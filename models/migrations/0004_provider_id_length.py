from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """Issue 8 item 15: provider ids are stored whole (up to 512 characters), not cut at 128."""

    dependencies = [('models', '0003_next_action_at')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='ProviderId',
            name='provider_id',
            field=fields.CharField(max_length=512),
        ),
        ops.AlterField(
            model_name='InboundMessage',
            name='provider_message_id',
            field=fields.CharField(null=True, max_length=512),
        ),
    ]
