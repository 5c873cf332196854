"""`manage.py consume_ticks`: the tick consumer (docs/ingestion.md). Run one or more; they share the load."""

from __future__ import annotations

import gc
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from marketdata.ticks.consumer import ConsumerConfig, TickConsumer


class Command(BaseCommand):
    help = "Consume the tick stream into 1-minute bars, last prices and live bar events (stops on SIGTERM/SIGINT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stream", help="stream key (default: TICK_STREAM)")
        parser.add_argument("--group", help="consumer group (default: TICK_CONSUMER_GROUP)")
        parser.add_argument("--consumer", help="consumer name (default: hostname-pid)")
        parser.add_argument("--batch", type=int, dest="batch_entries", help="entries per read (TICK_BATCH_ENTRIES)")
        parser.add_argument("--block-ms", type=int, help="longest wait for entries (TICK_BLOCK_MS)")
        parser.add_argument(
            "--metrics-port", type=int, default=settings.TICK_METRICS_PORT,
            help="serve Prometheus metrics on this port (TICK_METRICS_PORT; 0: off)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = ConsumerConfig.from_settings(
            stream=options["stream"],
            group=options["group"],
            consumer=options["consumer"],
            batch_entries=options["batch_entries"],
            block_ms=options["block_ms"],
        )
        if options["metrics_port"]:
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr="127.0.0.1")
        consumer = TickConsumer(config)
        # Everything loaded so far (Django, apps, the token map's imports) lives as long as the
        # process: exempt it from the cyclic GC, whose full passes would otherwise rescan it while
        # batches allocate tens of thousands of tick objects.
        gc.freeze()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            consumer.stop()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        consumer.run()
