from tortoise import migrations
from tortoise.migrations import operations as ops

# Issue 10, the reply worker: it looks for the waiting messages (a few among millions) by
# sender, and each message's processing looks at the sender's previous ones (a "是" confirms
# the last question; the noise cap counts the last answers).
INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_inbound_waiting ON inbound_message (channel, sender, id)"
    " WHERE status = 'received'",
    "CREATE INDEX IF NOT EXISTS idx_inbound_person ON inbound_message (person_id, channel, id)",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0010_next_action_index')]

    initial = False

    operations = [*(ops.RunSQL(statement) for statement in INDEXES)]
