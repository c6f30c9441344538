"""The working-day calendar a deployment owns: the State Council's notices, as imported."""

from tortoise import fields
from tortoise.models import Model


class Holiday(Model):
    """One day of an imported holiday notice (`duban holidays import`): a statutory holiday
    (放假) or a make-up working day (调休上班). A year with rows here is counted from them
    (other days Monday to Friday); a re-import replaces the year."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    year = fields.IntField(db_index=True)
    workday = fields.BooleanField()  # True: make-up working day; False: holiday
    name = fields.CharField(max_length=64, default="")  # 春节, 国庆节 ...
    imported_at = fields.DatetimeField()

    class Meta:
        table = "holiday"
