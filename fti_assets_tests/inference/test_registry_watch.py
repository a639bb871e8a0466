"""The registry watch: a child process per service worker that polls the MLflow aliases."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

from fti_assets.platform.run_workers import worker_alive as alive
from fti_assets.serving.model_store import MODE_TAG, REGISTERED_MODEL, SHARE_TAG, Roles
from fti_assets.serving.registry_watch import RegistryWatch

#: How long a first start-up may take at most: a hang, not a slow machine (the test's own timeout is 600 s).
STARTUP_BOUND = 300


def next_other(messages: queue.Queue, than: Roles | str | None, timeout: float = 30) -> Roles | str:
    """The first message that differs from ``than``."""
    deadline = time.monotonic() + timeout
    while (message := messages.get(timeout=max(0.01, deadline - time.monotonic()))) == than:
        pass
    return message


def test_the_watch_follows_alias_moves_and_outlives_its_process(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()  # the tables exist; nothing is registered
    messages: queue.Queue = queue.Queue()
    started = time.monotonic()
    watch = RegistryWatch(uri, 0.2, messages.put).start()
    try:
        assert messages.get(timeout=STARTUP_BOUND) == Roles(None)
        # The watch process's start-up (interpreter, MLflow's import, a first read), measured on this
        # machine as loaded as it is now: a replacement process needs about as long, so the later
        # waits are a multiple of it, not a fixed number of seconds a busy machine can pass.
        patience = max(30.0, 20 * (time.monotonic() - started))
        client.create_registered_model(REGISTERED_MODEL)
        for _ in range(2):
            client.create_model_version(REGISTERED_MODEL, source=str(tmp_path))
        client.set_registered_model_alias(REGISTERED_MODEL, "champion", "1")
        assert next_other(messages, Roles(None), patience) == Roles(1)

        first = watch.child
        assert first is not None and alive(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        assert "exited with code -9" in next_other(messages, Roles(1), patience)
        assert next_other(messages, None, patience) == Roles(1)  # a new process reads on
        assert watch.child is not first and alive(watch.child.pid)

        client.set_model_version_tag(REGISTERED_MODEL, "2", MODE_TAG, "canary")
        client.set_model_version_tag(REGISTERED_MODEL, "2", SHARE_TAG, "0.25")
        client.set_registered_model_alias(REGISTERED_MODEL, "challenger", "2")
        assert next_other(messages, Roles(1), patience) == Roles(1, 2, "canary", 0.25)
    finally:
        watch.close()
    assert watch.child is not None and not alive(watch.child.pid)


def test_an_unreadable_registry_is_reported_not_read_as_no_champion(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"not a database" * 100)
    messages: queue.Queue = queue.Queue()
    watch = RegistryWatch(f"sqlite:///{tmp_path / 'mlflow.db'}", 0.2, messages.put).start()
    try:
        message = messages.get(timeout=60)
    finally:
        watch.close()
    assert isinstance(message, str) and "database" in message.lower(), message


WORKER = """
import sys, time
from fti_assets.serving.registry_watch import RegistryWatch
watch = RegistryWatch(sys.argv[1], 0.2, lambda message: print(watch.child.pid, flush=True)).start()
time.sleep(600)
"""


def test_the_watch_process_exits_when_its_worker_is_killed(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_experiments()
    worker = subprocess.Popen([sys.executable, "-c", WORKER, uri], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        assert alive(child)
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
