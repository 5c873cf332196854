import django.db.models.deletion
from django.db import migrations, models

from tradeviz.timeseries.operations import CreateRollup, TimeSeriesTable
from tradeviz.timeseries.rollups import RollupColumn, RollupSpec

# Spelled out here (not imported from marketdata.rollups) so later edits need a new migration.
OHLCV = (
    RollupColumn(output="open", kind="first"),
    RollupColumn(output="high", kind="max"),
    RollupColumn(output="low", kind="min"),
    RollupColumn(output="close", kind="last"),
    RollupColumn(output="volume", kind="sum", cast="bigint"),
    RollupColumn(output="oi", kind="last"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0004_calendar_schedules"),
    ]

    operations = [
        migrations.CreateModel(
            name="Bar",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "instrument", "time", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("time", models.DateTimeField()),
                ("open", models.DecimalField(decimal_places=4, max_digits=18)),
                ("high", models.DecimalField(decimal_places=4, max_digits=18)),
                ("low", models.DecimalField(decimal_places=4, max_digits=18)),
                ("close", models.DecimalField(decimal_places=4, max_digits=18)),
                ("volume", models.BigIntegerField(default=0)),
                ("oi", models.BigIntegerField(blank=True, null=True)),
                (
                    "instrument",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="marketdata.instrument",
                    ),
                ),
            ],
            options={"db_table": "marketdata_bar"},
        ),
        TimeSeriesTable(
            model_name="bar",
            time_column="time",
            key_columns=("instrument_id",),
            chunk_interval="7 days",
            compress_after="30 days",
        ),
        CreateRollup(RollupSpec(name="marketdata_bar_5m", source_table="marketdata_bar", bucket="5", aggregates=OHLCV)),
        CreateRollup(RollupSpec(name="marketdata_bar_15m", source_table="marketdata_bar", bucket="15", aggregates=OHLCV)),
        CreateRollup(RollupSpec(name="marketdata_bar_1h", source_table="marketdata_bar", bucket="60", aggregates=OHLCV)),
        CreateRollup(RollupSpec(name="marketdata_bar_1d", source_table="marketdata_bar", bucket="1D", aggregates=OHLCV)),
    ]
