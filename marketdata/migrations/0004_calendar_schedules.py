"""Beat schedules for the calendar jobs (editable in admin under Periodic tasks afterwards).

Fetches run daily at 18:00 IST (12:30 UTC), after the exchange publishes the day's circulars;
corporate actions are applied at 03:00 IST (21:30 UTC), before the next session.
"""

from __future__ import annotations

from django.db import migrations

SCHEDULES = (
    # (name, task, minute, hour) in UTC
    ("Calendar: fetch holidays", "marketdata.fetch_holidays", "30", "12"),
    ("Calendar: fetch corporate actions", "marketdata.fetch_corporate_actions", "40", "12"),
    ("Calendar: apply corporate actions", "marketdata.apply_corporate_actions", "30", "21"),
)


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute, hour in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        # get_or_create: a schedule an admin already edited (or disabled) is left as it is.
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab, "enabled": True})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[task for _, task, _, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0003_seed_holidays"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
