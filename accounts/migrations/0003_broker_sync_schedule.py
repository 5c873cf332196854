"""Beat schedule of the broker sync (positions, holdings, funds). The task itself does nothing but log
when no broker endpoint is configured (BROKER_SYNC_ENABLED / TICKER_SERVICE_URL)."""

from __future__ import annotations

from django.db import migrations

NAME = "Accounts: sync positions and holdings from the broker"
TASK = "accounts.broker_sync"
EVERY_MINUTES = 5
EXPIRE_SECONDS = 240


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every, "enabled": True, "expire_seconds": EXPIRE_SECONDS},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_trading_accounts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
