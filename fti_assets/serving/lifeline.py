"""A service worker leaves when the server that started it is gone.

``bentoml serve`` runs its workers as child processes that hold the listening socket. Killed
with SIGKILL, the server cannot stop them: they would keep answering on the port, outside the
server's process group, and a new server could not bind it. So each worker watches its parent
and stops itself (SIGTERM to itself, a graceful shutdown, then an exit after ``grace_seconds``)
once the parent has exited. Linux tells a process when another exits through a pidfd: the
watching thread blocks on it and costs nothing until then; elsewhere it polls the parent id.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time

# A child of "bentoml": the server's logging setup disables other loggers and shows only these.
log = logging.getLogger("bentoml.fti")


def wait_for_parent_exit(parent: int, poll_seconds: float = 0.5) -> None:
    """Return once ``parent`` (this process's parent when called) has exited."""
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):  # no pidfd (not Linux, an old kernel), or the parent already went
        fd = None
    try:
        # Checked after opening: a parent that exited before it would leave a pidfd of a reused id.
        if fd is not None and os.getppid() == parent:
            select.select([fd], [], [])  # readable once the process has exited
            return
        while os.getppid() == parent:
            time.sleep(poll_seconds)
    finally:
        if fd is not None:
            os.close(fd)


def leave_with_parent(grace_seconds: float = 10.0) -> threading.Thread:
    """Start a daemon thread that stops this process once its parent process has exited."""
    parent = os.getppid()

    def watch() -> None:
        wait_for_parent_exit(parent)
        log.warning("the server process %s is gone: this worker (pid %s) stops", parent, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's own graceful shutdown
        time.sleep(grace_seconds)
        os._exit(1)  # a shutdown that hangs must not keep the port

    thread = threading.Thread(target=watch, daemon=True, name="leave-with-parent")
    thread.start()
    return thread
