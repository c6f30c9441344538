from tortoise import migrations
from tortoise.migrations import operations as ops

# 0003 declared `next_action_at` with db_index=True, but AddField created no index: the
# clock's tick ("open matters whose next moment has come") walked the whole table.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_matter_next_action ON matter (next_action_at)",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0009_wecom_userid')]

    initial = False

    operations = [*(ops.RunSQL(statement) for statement in INDEXES)]
