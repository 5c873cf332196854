from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tradeviz.demo import credentials_path, ensure_demo_admin, run_demo_steps


class Command(BaseCommand):
    help = "Create the demo admin (credentials in .data/credentials.json) and seed demo data. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = ensure_demo_admin()
        run_demo_steps()
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Demo admin: username {username!r}  password {password!r}\n"
                f"  (stored in {credentials_path()})\n"
            )
        )
