from __future__ import annotations

from django.db import migrations

HEARTBEAT_SECONDS = 30


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=HEARTBEAT_SECONDS, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="Beat heartbeat (readiness)",
        defaults={"task": "tradeviz.beat_heartbeat", "interval": every, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task="tradeviz.beat_heartbeat").delete()


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
