"""`python -m tradeviz.devstack run|exec|services` — what `make run`, `make test` and `make bench` call.

- run:      services, migrate, demo bootstrap, then web + worker + beat (+ tick consumer and
            simulator when installed) under one supervisor until Ctrl-C.
- exec:     services, then one command (the test suite, benchmarks); stops what it started.
- services: just the services, in the foreground, until Ctrl-C.

Services are embedded (data under .data/) unless DATABASE_URL / REDIS_URL are set in the
environment. Either way their URLs are written to .data/services.env.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .embedded import EmbeddedPostgres, EmbeddedRedis
from .supervisor import Program, Supervisor

logger = logging.getLogger("tradeviz.devstack")

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("TRADEVIZ_DATA_DIR", BASE_DIR / ".data"))
VENV_BIN = Path(sys.executable).parent
DEFAULT_PORT = 8000
SIMULATOR_PORT = os.environ.get("SIMULATOR_HTTP_PORT", "8765")


class Services:
    """The database and Redis this stack uses: given by URL, or embedded and started here."""

    def __init__(self) -> None:
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None

    def start(self) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        try:
            if not self.database_url:
                self.postgres = EmbeddedPostgres(DATA_DIR, port=int(os.environ.get("EMBEDDED_PG_PORT", 54329)))
                self.postgres.start()
                self.database_url = self.postgres.url
            if not self.redis_url:
                self.redis = EmbeddedRedis(DATA_DIR, port=int(os.environ.get("EMBEDDED_REDIS_PORT", 63799)))
                self.redis.start()
                self.redis_url = self.redis.url
        except BaseException:
            self.stop()
            raise
        env_file = DATA_DIR / "services.env"
        env_file.write_text(f"DATABASE_URL={self.database_url}\nREDIS_URL={self.redis_url}\n")
        logger.info("services: DATABASE_URL=%s REDIS_URL=%s (written to %s)", self.database_url, self.redis_url, env_file)

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, PYTHONUNBUFFERED="1")
        env.setdefault("DJANGO_ENV", "dev")
        env.update(extra)
        return env


def _manage(services: Services, *args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=services.env(), check=True, cwd=BASE_DIR)


def _installed_commands(services: Services) -> set[str]:
    code = "import django; django.setup(); from django.core.management import get_commands; print(' '.join(get_commands()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=services.env(), check=True, cwd=BASE_DIR, capture_output=True, text=True
    ).stdout
    return set(out.split())


def programs_for(services: Services) -> list[Program]:
    port = os.environ.get("PORT", str(DEFAULT_PORT))
    commands = _installed_commands(services)
    simulate = "simulate_market" in commands and not os.environ.get("TICKER_SERVICE_URL")
    # With no ticker service configured, the simulator plays it: every process talks to it.
    extra = {"TICKER_SERVICE_URL": f"http://127.0.0.1:{SIMULATOR_PORT}"} if simulate else {}
    env = services.env(**extra)
    python = sys.executable
    manage = str(BASE_DIR / "manage.py")
    programs = [
        Program("web", [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", port, "tradeviz.asgi:application"], env),
        Program(
            "worker",
            [str(VENV_BIN / "celery"), "-A", "tradeviz", "worker", "--loglevel", "INFO", "--concurrency", "2",
             "--hostname", f"worker-{os.getpid()}@%h"],
            env,
        ),
        Program("beat", [str(VENV_BIN / "celery"), "-A", "tradeviz", "beat", "--loglevel", "INFO"], env),
    ]
    if "consume_ticks" in commands:
        programs.append(Program("ticks", [python, manage, "consume_ticks"], env))
    if simulate:
        programs.append(Program("simulator", [python, manage, "simulate_market"], env))
    if "consume_orders" in commands:
        programs.append(Program("orders", [python, manage, "consume_orders"], env))
    return programs


def cmd_run() -> int:
    services = Services()
    services.start()
    try:
        _manage(services, "migrate", "--noinput")
        _manage(services, "bootstrap")
        supervisor = Supervisor(programs_for(services))
        port = os.environ.get("PORT", str(DEFAULT_PORT))
        logger.info("tradeviz is starting on http://127.0.0.1:%s/ — Ctrl-C stops everything", port)
        return supervisor.run()
    finally:
        services.stop()


def cmd_exec(argv: list[str]) -> int:
    if not argv:
        raise SystemExit("usage: python -m tradeviz.devstack exec -- COMMAND [ARGS...]")
    services = Services()
    services.start()
    try:
        # The command owns the terminal; a Ctrl-C reaches it directly and we only clean up after.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return subprocess.run(argv, env=services.env(), cwd=BASE_DIR, check=False).returncode
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        services.stop()


def cmd_services() -> int:
    services = Services()
    services.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        logger.info("services running; Ctrl-C stops them")
        stop.wait()
    finally:
        services.stop()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="devstack | %(message)s")
    parser = argparse.ArgumentParser(prog="python -m tradeviz.devstack")
    parser.add_argument("command", choices=["run", "exec", "services"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if args.command == "run":
        return cmd_run()
    if args.command == "exec":
        return cmd_exec(rest)
    return cmd_services()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
