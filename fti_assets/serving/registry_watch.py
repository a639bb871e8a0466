"""The registry roles a service worker follows, read in a child process.

Reading the aliases through MLflow's client is eight SQL statements through its ORM: 4 to 9 ms
of Python holding the interpreter lock. Done in the worker, every poll stalled the requests
that arrived meanwhile, which showed as the service's p99 latency at low load (BENCHMARKS.md,
"Findings"). So each worker starts one process that polls the registry and writes one
JSON line per poll; the worker's thread waits on that pipe without the lock and handles a line
in microseconds. The child exits when its worker goes (its parent changes, or the pipe breaks).

    python -m fti_assets.serving.registry_watch TRACKING_URI SECONDS
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from fti_assets.serving.model_store import Roles, read_roles

PACKAGE_PARENT = Path(__file__).resolve().parents[2]
"""The folder that holds ``fti_assets``: the project, or a Bento's ``src``."""


def poll_line(tracking_uri: str) -> str:
    """One poll's line: the roles, or why the registry could not be read."""
    try:
        return json.dumps({"roles": asdict(read_roles(tracking_uri))})
    except Exception as exc:  # the worker keeps its model and reports this until a poll succeeds
        return json.dumps({"error": f"{type(exc).__name__}: {exc}"})


def parse_line(line: str) -> Roles | str:
    """The roles a line carries, or the error it reports."""
    message = json.loads(line)
    return Roles(**message["roles"]) if "roles" in message else str(message["error"])


def main(argv: list[str] | None = None) -> None:
    tracking_uri, seconds = (argv or sys.argv[1:])[:2]
    # A stop of the server's process group (or Ctrl-C in its terminal) reaches this process too.
    # It leaves with its worker instead (the worker kills it, or its pipe breaks), so a worker
    # that is stopping never sees its watch die first and report an error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    try:
        while os.getppid() == parent:
            started = time.monotonic()
            sys.stdout.write(poll_line(tracking_uri) + "\n")
            sys.stdout.flush()
            time.sleep(max(0.0, float(seconds) - (time.monotonic() - started)))
    except BrokenPipeError:  # the worker is gone: exit without a traceback at the final flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class RegistryWatch:
    """Runs the polling child for a worker and hands each poll to ``handle`` on a thread.

    ``handle`` gets ``Roles`` or an error message. A child that exits is reported as an error
    and started again after ``seconds``; ``close`` stops it. The worker itself then needs
    MLflow only to download a model its BentoML store lacks: MLflow's client is about 75 MB of
    a worker's memory, and the child holds about 170 MB of its own.
    """

    def __init__(self, tracking_uri: str, seconds: float, handle: Callable[[Roles | str], None]) -> None:
        self.tracking_uri, self.seconds, self.handle = tracking_uri, seconds, handle
        self.child: subprocess.Popen | None = None
        self.first = threading.Event()
        """Set once ``handle`` has had its first message (roles or error)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True, name="registry-watch")

    def start(self) -> RegistryWatch:
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen:
        # stderr is the worker's: a child's traceback lands in the service log. The package's own
        # folder leads the child's path, so it imports this code wherever the worker runs from.
        command = [sys.executable, "-m", __name__, self.tracking_uri, str(self.seconds)]
        path = os.pathsep.join(p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")) if p)
        return subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONPATH": path},
        )

    def _give(self, message: Roles | str) -> None:
        self.handle(message)
        self.first.set()

    def _follow(self) -> None:
        while not self._stop.is_set():
            self.child = child = self._spawn()
            assert child.stdout is not None
            for line in child.stdout:
                if self._stop.is_set():
                    break
                self._give(parse_line(line))
            if self._stop.is_set():
                break
            self._give(f"the registry watch process exited with code {child.wait()}; starting it again")
            self._stop.wait(self.seconds)
        self._kill()  # a child spawned while ``close`` ran

    def _kill(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()  # it ignores SIGTERM (see main)
            self.child.wait(timeout=5)

    def close(self) -> None:
        self._stop.set()
        self._kill()


if __name__ == "__main__":
    main()
