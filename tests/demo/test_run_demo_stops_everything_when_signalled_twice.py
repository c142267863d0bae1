"""`make demo` stops everything it started, even when it is signalled again while stopping.

`timeout` and `make` signal the whole process group and an impatient user presses Ctrl-C
twice; the second signal used to interrupt the stop's waits (KeyboardInterrupt out of
``_stop_all``) and leave the demo's two Orthancs running, holding the ports the next
`make demo` needs. Here the demo's stop runs for real against a real child process that takes
a second to stop, and a second SIGINT arrives while it waits.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading

import pytest

from readingcenter.demo.management.commands.run_demo import Command

# A child that takes a second to stop after SIGTERM, as Orthanc or a worker finishing a job.
SLOW_TO_STOP = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.0), sys.exit(0)))
print("ready", flush=True)
time.sleep(60)
"""


def test_a_second_signal_while_stopping_does_not_cut_the_stop_short(tmp_path):
    out = io.StringIO()
    command = Command(stdout=out)
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_TO_STOP], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    command.children = [("slow", child, tmp_path / "slow.log")]
    command.orthanc = None
    command.pid_file = tmp_path / "demo.pids"
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in handled}
    for signum in handled:  # as `handle` installs them
        signal.signal(signum, command._interrupt)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            command._stop_all()
        except KeyboardInterrupt:  # what it did before; caught, or pytest itself would stop
            pytest.fail("a second signal cut the stop short")
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        child.stdout.close()
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0  # stopped by its own SIGTERM handler, not killed
    assert "all stopped." in out.getvalue()
