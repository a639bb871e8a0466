"""Start and stop a real ``bentoml serve`` process on loopback (tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """``bentoml serve target`` in its own process group, stopped by that group's id."""

    #: Working directory of the server process (None: this process's), and its name in errors.
    cwd: Path | None = None
    label = "bentoml serve"

    def __init__(
        self,
        target: str,
        home: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.target, self.home = target, home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "FTI_HOME": str(home),
            "BENTOML_HOME": str(home / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            **(env or {}),
        }
        self.log = log or home / f"serve-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            str(Path(sys.executable).parent / "bentoml"),
            "serve",
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 300) -> ServiceProcess:
        """Start the server in its own session and wait until /readyz answers 200."""
        if self.running:  # a second server would be lost to stop(), and the first answer readyz
            raise RuntimeError(
                f"{self.label} already runs on port {self.port} (pid {self.process.pid}); stop it first"
            )
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"{self.label} not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self if self.running else self.start()  # ``with process.start(timeout=...)`` too

    def __exit__(self, *_: object) -> None:
        self.stop()
