"""``make dev``: the Dagster UI and daemon, MLflow's UI, the reports server and the feature
stream's consumer, side by side.

Each process runs in its own process group and is stopped through it: a ``dagster dev``
started in the background of a shell ignores SIGINT and SIGTERM, its group does not. The
groups are stopped together (SIGTERM to all, then SIGKILL to those left), so a slow one does
not keep the others' ports; and a stack killed with SIGKILL leaves nothing behind: a reaper
process (``platform.group_reaper``) stops the groups once the stack is gone.
The reports server publishes ``$FTI_HOME/reports`` (evaluation plots, Evidently drift
reports) over HTTP, because the browser refuses the ``file://`` links a UI could show; its
root page is an index of the reports by title (``reports_server``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from fti_assets.platform.instance import write_instance_file
from fti_assets.settings import Settings


@dataclass
class Server:
    """One long-running process of the stack, its address and its log."""

    name: str
    argv: list[str]
    url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self, cwd: Path | None = None) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def answers(self, path: str = "/") -> bool:
        if not self.url:  # a worker without an address (the stream consumer): up while it runs
            return self.process is not None and self.process.poll() is None
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _port(url: str) -> str:
    return str(urlparse(url).port)


def servers(settings: Settings, workspace: Path | None = None) -> list[Server]:
    """The Dagster UI and daemon, MLflow's UI, the reports server and the stream consumer."""
    dagster_url = settings.dagster_url
    binaries = Path(sys.executable).parent
    logs = settings.home / "logs"
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    write_instance_file(settings.dagster_home, settings.production, settings.storage_accelerator)
    target = ["-w", str(workspace)] if workspace else ["-m", "fti_assets.definitions"]
    return [
        Server(
            "Dagster UI",
            [str(binaries / "dagster"), "dev", *target, "-h", "127.0.0.1", "-p", _port(dagster_url)],
            dagster_url,
            logs / "dagster-dev.log",
            {"DAGSTER_HOME": str(settings.dagster_home), **settings.as_env()},
        ),
        Server(
            "MLflow UI",
            [
                str(binaries / "mlflow"),
                "ui",
                "--backend-store-uri",
                settings.tracking_uri,
                "--host",
                "127.0.0.1",
                "--port",
                _port(settings.mlflow_ui_url),
                "--workers",
                "1",
            ],
            settings.mlflow_ui_url,
            logs / "mlflow-ui.log",
            {"MLFLOW_DISABLE_TELEMETRY": "true"},
        ),
        Server(
            "reports",
            [
                sys.executable,
                "-m",
                "fti_assets.platform.reports_server",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(settings.reports_dir),
                _port(settings.reports_url),
            ],
            settings.reports_url,
            logs / "reports.log",
        ),
        # The online store kept fresh from the feature stream (FTI_STREAM_URL); it waits out a
        # Redis that is not there yet.
        Server(
            "stream consumer",
            [str(binaries / "fti"), "stream", "consume", "--name", "make-dev"],
            "",
            logs / "stream-consumer.log",
            settings.as_env(),
        ),
    ]


def wait_until_up(stack: list[Server], timeout: float = 180) -> None:
    """Wait until every server answers; raise with the log tail of one that died or hangs."""
    deadline = time.monotonic() + timeout
    pending = list(stack)
    while pending:
        for server in list(pending):
            if server.process is not None and server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.name} exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}"
                )
            if server.answers():
                pending.remove(server)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(
                f"{pending[0].name} not answering at {pending[0].url} after {timeout:.0f}s; see {pending[0].log}"
            )
        time.sleep(0.5)


def _exit(*_: object) -> None:
    raise SystemExit(0)


#: How long a server may take to stop after SIGTERM before its group gets SIGKILL.
GRACE_SECONDS = 30.0


def stop_all(stack: list[Server], grace_seconds: float = GRACE_SECONDS) -> None:
    """Stop every server's group at once: SIGTERM to all, SIGKILL to those left after the grace."""
    from fti_assets.platform.group_reaper import stop_groups

    running = [s.process for s in stack if s.process is not None and s.process.poll() is None]
    stop_groups([p.pid for p in running], grace_seconds)
    for process in running:
        process.wait()


def start_reaper(grace_seconds: float = GRACE_SECONDS) -> subprocess.Popen:
    """The process that stops the stack's groups once this process is gone (its stdin closes)."""
    command = [sys.executable, "-m", "fti_assets.platform.group_reaper", str(grace_seconds)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, text=True)


def run_stack(stack: list[Server], wait: float = 600, grace_seconds: float = GRACE_SECONDS) -> int:
    """Start the servers, report them, and keep them until a signal or one of them stops."""
    signal.signal(signal.SIGTERM, _exit)
    # Also when started in the background, where SIGINT is ignored by default.
    signal.signal(signal.SIGINT, _exit)
    reaper = start_reaper(grace_seconds)
    assert reaper.stdin is not None
    try:
        for server in stack:
            server.start()
            reaper.stdin.write(f"{server.process.pid}\n")
            reaper.stdin.flush()
        print(f"starting; logs under {stack[0].log.parent}", flush=True)
        wait_until_up(stack, timeout=wait)  # MLflow alone takes minutes on a busy two-core machine
        for server in stack:
            print(f"  {server.name:<11} {server.url}", flush=True)
        print(f"Ctrl-C stops all {len(stack)}.", flush=True)
        while all(s.process.poll() is None for s in stack):
            time.sleep(0.5)
        for server in stack:
            if server.process.poll() is not None:
                print(
                    f"{server.name} stopped (exit {server.process.returncode}): see {server.log}", flush=True
                )
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(stack, grace_seconds)
        reaper.stdin.close()  # nothing left for it to stop: it exits
        reaper.wait()


def main() -> int:
    return run_stack(servers(Settings.from_env(), Path("workspace.yaml")))


if __name__ == "__main__":
    sys.exit(main())
