from __future__ import annotations

from django.db import migrations

REFRESH_EVERY_MINUTES = 1
# A refresh still queued after this long is dropped: the next minute's run covers the same window.
EXPIRE_SECONDS = 50


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=REFRESH_EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.update_or_create(
        name="Refresh rollups",
        defaults={
            "task": "tradeviz.refresh_rollups",
            "interval": every,
            "enabled": True,
            "expire_seconds": EXPIRE_SECONDS,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task="tradeviz.refresh_rollups").delete()


class Migration(migrations.Migration):
    dependencies = [("tradeviz", "0001_beat_heartbeat_schedule")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
