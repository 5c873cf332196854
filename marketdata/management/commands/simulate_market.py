from __future__ import annotations

import signal
import threading
from dataclasses import replace
from datetime import date
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.simulator.replay import DEFAULT_TICKS_PER_BAR, MIN_TICKS_PER_BAR
from marketdata.simulator.runner import LiveSimulator, SimulatorConfig, run_replay
from tradeviz.errors import NotFound


class Command(BaseCommand):
    help = (
        "Stand in for the ticker service: publish ticks for the demo instruments (NSE in session, SIM 24x7) "
        "and order updates for the demo account to Redis, and serve /instruments, /quotes and /history. "
        "With --replay SYMBOL --date YYYY-MM-DD, play a stored day of 1-minute bars back as ticks instead. "
        "Stops cleanly on SIGTERM or Ctrl-C. See docs/simulator.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, help=f"random seed (default SIMULATOR_SEED={settings.SIMULATOR_SEED})")
        parser.add_argument("--rate", type=float, help="ticks per second over all instruments")
        parser.add_argument("--port", type=int, help="HTTP port (default SIMULATOR_HTTP_PORT; 0 picks a free one)")
        parser.add_argument("--host", help="HTTP bind address (default SIMULATOR_HTTP_HOST)")
        parser.add_argument("--no-http", action="store_true", help="do not serve the ticker HTTP contract")
        parser.add_argument("--order-interval", type=float, help="seconds between order updates (0: none)")
        parser.add_argument("--stream", help="tick stream key (default TICK_STREAM)")
        parser.add_argument("--order-stream", help="order stream key (default ORDER_STREAM)")
        parser.add_argument("--duration", type=float, help="stop after this many seconds")
        parser.add_argument("--replay", metavar="SYMBOL", help="replay a stored day of this symbol, e.g. 'NSE:INFY'")
        parser.add_argument("--date", type=date.fromisoformat, help="the market date to replay (YYYY-MM-DD)")
        parser.add_argument("--speed", type=float, default=60.0, help="replay speed, x real time (default 60)")
        parser.add_argument("--ticks-per-bar", type=int, default=DEFAULT_TICKS_PER_BAR,
                            help=f"replay ticks per 1-minute bar (at least {MIN_TICKS_PER_BAR})")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._run(options, stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, options: dict[str, Any], stop: threading.Event) -> None:
        if options["replay"]:
            self._replay(options, stop)
            return
        if options["date"]:
            raise CommandError("--date goes with --replay SYMBOL")
        config = SimulatorConfig.from_settings(
            seed=options["seed"], ticks_per_second=options["rate"], http_host=options["host"],
            http_port=options["port"], order_interval_seconds=options["order_interval"],
            tick_stream=options["stream"], order_stream=options["order_stream"], duration_seconds=options["duration"],
        )
        if options["no_http"]:
            config = replace(config, http_port=None)
        if config.ticks_per_second < 0:
            raise CommandError("--rate must not be negative")
        if config.batch_ms <= 0 or 60_000 % config.batch_ms:
            raise CommandError(f"SIMULATOR_BATCH_MS must divide a minute (60000 ms), not {config.batch_ms}")
        try:
            simulator = LiveSimulator(config, stop=stop)
        except OSError as exc:  # the HTTP port is taken, most likely
            raise CommandError(f"cannot serve HTTP on {config.http_host}:{config.http_port}: {exc}") from exc
        simulator.run()

    def _replay(self, options: dict[str, Any], stop: threading.Event) -> None:
        if options["date"] is None:
            raise CommandError("--replay needs --date YYYY-MM-DD")
        if options["speed"] <= 0:
            raise CommandError("--speed must be positive")
        if options["ticks_per_bar"] < MIN_TICKS_PER_BAR:
            raise CommandError(f"--ticks-per-bar must be at least {MIN_TICKS_PER_BAR}")
        try:
            result = run_replay(
                symbol=options["replay"], day=options["date"], speed=options["speed"],
                stream=options["stream"] or settings.TICK_STREAM, stop=stop, ticks_per_bar=options["ticks_per_bar"],
            )
        except NotFound as exc:
            raise CommandError(exc.message) from exc
        if result.bars == 0:
            raise CommandError(f"{result.symbol} has no stored bars on {options['date'].isoformat()}")
        self.stdout.write(f"replayed {result.symbol} {options['date'].isoformat()}: {result.bars} bars as "
                          f"{result.ticks} ticks in {result.entries} stream entries")
