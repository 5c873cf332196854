"""A small process supervisor for `make run`: one group, prefixed output, restarts, clean shutdown.

Children run in their own sessions so a terminal's Ctrl-C reaches only the supervisor, which then
stops every child (SIGTERM to the child's process group, SIGKILL after a grace period). Nothing is
left running when it returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO

logger = logging.getLogger("tradeviz.devstack")

STOP_GRACE_SECONDS = 10
RESTART_WINDOW_SECONDS = 60
MAX_RESTARTS_IN_WINDOW = 5
RESTART_BACKOFF_SECONDS = 1.0


@dataclass
class Program:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    restarts: deque[float] = field(default_factory=deque, init=False)


class Supervisor:
    def __init__(self, programs: list[Program], *, out: IO[str] = sys.stdout) -> None:
        self.programs = programs
        self.out = out
        self._stopping = threading.Event()
        self._print_lock = threading.Lock()
        width = max(len(p.name) for p in programs) if programs else 4
        self._width = width

    def _pump(self, program: Program, stream: IO[bytes]) -> None:
        prefix = f"{program.name.ljust(self._width)} | "
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self._print_lock:
                self.out.write(prefix + line + "\n")
                self.out.flush()

    def _start(self, program: Program) -> None:
        program.process = subprocess.Popen(
            program.argv,
            env=program.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert program.process.stdout is not None
        threading.Thread(target=self._pump, args=(program, program.process.stdout), daemon=True).start()
        logger.info("started %s (pid %s)", program.name, program.process.pid)

    def _may_restart(self, program: Program) -> bool:
        now = time.monotonic()
        while program.restarts and now - program.restarts[0] > RESTART_WINDOW_SECONDS:
            program.restarts.popleft()
        if len(program.restarts) >= MAX_RESTARTS_IN_WINDOW:
            return False
        program.restarts.append(now)
        return True

    def request_stop(self, *_: object) -> None:
        self._stopping.set()

    def run(self) -> int:
        """Start every program and watch them until a stop is requested; returns an exit code."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        exit_code = 0
        try:
            for program in self.programs:
                self._start(program)
            while not self._stopping.wait(0.5):
                for program in self.programs:
                    assert program.process is not None
                    code = program.process.poll()
                    if code is None:
                        continue
                    if self._may_restart(program):
                        logger.warning("%s exited with %s; restarting", program.name, code)
                        time.sleep(RESTART_BACKOFF_SECONDS)
                        self._start(program)
                    else:
                        logger.error("%s keeps failing (exit %s); stopping everything", program.name, code)
                        exit_code = 1
                        self._stopping.set()
                        break
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return exit_code

    def stop_all(self) -> None:
        running = [p for p in self.programs if p.process is not None and p.process.poll() is None]
        for program in running:
            assert program.process is not None
            _signal_group(program.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for program in running:
            assert program.process is not None
            try:
                program.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %ss; killing it", program.name, STOP_GRACE_SECONDS)
                _signal_group(program.process, signal.SIGKILL)
                program.process.wait()
            # A program's own children (celery's pool) share its group; make sure none outlive it.
            _signal_group(program.process, signal.SIGKILL)
        logger.info("all processes stopped")


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
