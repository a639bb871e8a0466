"""Process groups whose starter is gone are stopped: what keeps ``make dev`` from leaking servers.

The dev stack runs each server in a process group of its own (a ``dagster dev`` in the
background ignores SIGINT and SIGTERM; its group does not). Killed with SIGKILL, the stack
cannot stop them, and they would keep their ports. So it starts this process first and writes
each server's process group id to it, one per line. End of input means the stack has exited,
however it exited: every group still alive gets SIGTERM, and SIGKILL after ``GRACE`` seconds.

    python -m fti_assets.platform.group_reaper GRACE
"""

from __future__ import annotations

import os
import signal
import sys
import time


def alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a reused id of another user's group: not ours to stop
        return False
    return True


def stop_groups(groups: list[int], grace_seconds: float, poll_seconds: float = 0.1) -> list[int]:
    """SIGTERM to every group, SIGKILL to those left after ``grace_seconds``; the groups killed."""
    for group in groups:
        if alive(group):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while any(alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(poll_seconds)
    killed = [g for g in groups if alive(g)]
    for group in killed:
        os.killpg(group, signal.SIGKILL)
    return killed


def main(argv: list[str] | None = None) -> None:
    grace = float((argv or sys.argv[1:])[0])
    # A Ctrl-C in the terminal reaches the stack's group, this process included: it stays to
    # clean up after the stack, which it learns from the end of its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups = [int(line) for line in sys.stdin if line.strip()]
    stop_groups(groups, grace)


if __name__ == "__main__":
    main()
