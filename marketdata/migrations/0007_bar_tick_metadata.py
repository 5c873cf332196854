"""Tick metadata on minute bars, for the tick consumer's merge upsert (docs/ingestion.md).

Nullable columns without a default: adding them rewrites nothing, on plain PostgreSQL and on a
(compressed) TimescaleDB hypertable alike.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0006_backfill_schedule"),
    ]

    operations = [
        migrations.AddField(model_name="bar", name="first_tick_ms", field=models.BigIntegerField(blank=True, null=True)),
        migrations.AddField(model_name="bar", name="last_tick_ms", field=models.BigIntegerField(blank=True, null=True)),
        migrations.AddField(model_name="bar", name="day_volume", field=models.BigIntegerField(blank=True, null=True)),
    ]
