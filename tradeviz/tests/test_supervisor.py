from __future__ import annotations

import io
import os
import sys
import threading
import time

import psutil

from tradeviz.devstack.supervisor import Program, Supervisor

# A child that itself forks a grandchild, like celery's worker pool.
FORKING_CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
    "print('up', flush=True); time.sleep(300)"
)


def test_stop_leaves_no_process_behind() -> None:
    env = dict(os.environ)
    programs = [Program(f"p{i}", [sys.executable, "-c", FORKING_CHILD], env) for i in range(2)]
    out = io.StringIO()
    supervisor = Supervisor(programs, out=out)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    deadline = time.monotonic() + 10
    while out.getvalue().count("up") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = []
    for program in programs:
        assert program.process is not None
        parent = psutil.Process(program.process.pid)
        pids += [parent.pid] + [c.pid for c in parent.children(recursive=True)]
    assert len(pids) == 4

    supervisor.request_stop()
    runner.join(timeout=20)
    assert not runner.is_alive()
    time.sleep(0.2)
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert "p0 | up" in out.getvalue()


def test_crashing_program_is_restarted_then_given_up_on() -> None:
    env = dict(os.environ)
    programs = [Program("crash", [sys.executable, "-c", "print('boom', flush=True); raise SystemExit(3)"], env)]
    out = io.StringIO()
    started = time.monotonic()
    code = Supervisor(programs, out=out).run()
    assert code == 1
    assert out.getvalue().count("boom") == 6  # the first start and five restarts
    assert time.monotonic() - started < 30
