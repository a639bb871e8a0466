"""`make dev`'s stack leaves no server behind: stopped together on Ctrl-C, reaped when killed.

The stack runs real servers (Python's http.server, the reports server's program) in process
groups of their own, as `fti_assets.platform.devstack` starts them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fti_assets_tests.service_process import free_port

STUBBORN = (
    "import signal, runpy; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "runpy.run_module('http.server', run_name='__main__')"
)
STACK = """
import json, sys
from pathlib import Path
from fti_assets.platform.devstack import Server, run_stack
servers = [Server(s["name"], s["argv"], s["url"], Path(s["log"])) for s in json.loads(sys.argv[1])]
sys.exit(run_stack(servers, wait=300, grace_seconds=float(sys.argv[2])))
"""


def _server(name: str, port: int, folder: Path, stubborn: bool = False) -> dict:
    code = ["-c", STUBBORN] if stubborn else ["-m", "http.server"]
    argv = [sys.executable, *code, "--bind", "127.0.0.1", "--directory", str(folder), str(port)]
    return {"name": name, "argv": argv, "url": f"http://127.0.0.1:{port}", "log": str(folder / f"{name}.log")}


def _start(servers: list[dict], grace: float, folder: Path) -> subprocess.Popen:
    """The stack in its own session (as a terminal would run it), once every server answers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    stack = subprocess.Popen(
        [sys.executable, "-c", STACK, json.dumps(servers), str(grace)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=folder,
    )
    for line in stack.stdout:
        if line.startswith("Ctrl-C stops"):
            return stack
    raise AssertionError(f"the stack did not come up (exit {stack.wait()})")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _wait_for(condition, what: str, timeout: float = 120) -> None:
    """Wait for an event; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_stack_killed_with_sigkill_leaves_no_server_on_its_port(tmp_path: Path) -> None:
    reports = free_port()
    stack = _start([_server("reports", reports, tmp_path)], 30, tmp_path)
    assert _listening(reports)
    os.kill(stack.pid, signal.SIGKILL)  # the stack alone, as an impatient supervisor would
    stack.wait()
    _wait_for(lambda: not _listening(reports), "the reaper to stop the reports server")


def test_ctrl_c_stops_every_server_at_once_not_one_after_another(tmp_path: Path) -> None:
    """A server that ignores SIGTERM (dagster dev can take its time) does not keep the reports
    server's port: both get SIGTERM together, and the stubborn one SIGKILL after the grace."""
    slow, reports = free_port(), free_port()
    stack = _start(
        [_server("slow", slow, tmp_path, stubborn=True), _server("reports", reports, tmp_path)], 60, tmp_path
    )
    os.kill(stack.pid, signal.SIGINT)
    _wait_for(lambda: not _listening(reports), "the reports server to stop")
    assert (
        _listening(slow) and stack.poll() is None
    )  # still in its grace: the reports server did not wait for it
    os.kill(stack.pid, signal.SIGKILL)  # killed during the grace: the reaper finishes the job
    stack.wait()
    _wait_for(lambda: not _listening(slow), "the reaper to stop the stubborn server", timeout=600)
