from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.orderstream import DEFAULT_BATCH, DEFAULT_BLOCK_MS, OrderStreamConsumer


class Command(BaseCommand):
    help = "Consume the broker order stream (ORDER_STREAM): store orders, derive positions, push /ws/orders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="entries read per batch")
        parser.add_argument("--block-ms", type=int, default=DEFAULT_BLOCK_MS, help="wait for new entries (ms)")
        parser.add_argument("--consumer", default=None, help="consumer name in the group (default host-pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        consumer = OrderStreamConsumer(batch=options["batch"], block_ms=options["block_ms"], consumer=options["consumer"])
        self.stdout.write(f"consuming {consumer.stream} as {consumer.group}/{consumer.consumer}")
        consumer.run(should_stop=lambda: stopping)
