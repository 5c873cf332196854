"""Beat schedule of the M2M job: at the start of every minute (crontab, so runs line up with minute
closes), all active strategies in one pass."""

from __future__ import annotations

from django.db import migrations

NAME = "Strategies: M2M of active strategies"
TASK = "strategies.m2m_run"
# A run still queued after this long is dropped: the next minute's run supersedes it, and a late run
# would stamp its prices on the wrong minute.
EXPIRE_SECONDS = 50


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": TASK, "crontab": crontab, "interval": None, "enabled": True, "expire_seconds": EXPIRE_SECONDS},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("strategies", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
