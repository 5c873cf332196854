"""Seed NSE trading holidays and Muhurat sessions offline, so a new database knows its calendar.

The logic lives in marketdata.services.calendar.seed_exchange_holidays (shared with
`manage.py seed_holidays`); this migration hands it the historical models so later model changes
cannot break it. Reversing leaves the rows alone: they may have been corrected in admin since.
"""

from __future__ import annotations

from django.db import migrations

SEED_EXCHANGE = "NSE"
SEED_YEARS = range(2024, 2028)
SEED_SOURCE = "merged"


def seed(apps, schema_editor):
    from marketdata.services.calendar import seed_exchange_holidays

    seed_exchange_holidays(
        exchange=SEED_EXCHANGE,
        years=SEED_YEARS,
        source=SEED_SOURCE,
        holiday_model=apps.get_model("marketdata", "TradingHoliday"),
        session_model=apps.get_model("marketdata", "SpecialSession"),
    )


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0002_calendar")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
