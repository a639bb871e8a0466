"""Real PostgreSQL, Redis and RabbitMQ for the production profile's tests.

Each test gets its own database (``fti_test_<random>``), Redis key prefix and RabbitMQ virtual
host, and removes them afterwards. Where a server is unreachable the test is skipped with a
one-line reason, except with ``CI=true``: CI must run these tests, so there it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_HOST = os.environ.get("FTI_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("FTI_TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("FTI_TEST_POSTGRES_USER", "postgres")
REDIS_URL = os.environ.get("FTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_HOST = os.environ.get("FTI_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("FTI_TEST_RABBITMQ_PORT", "5672"))
RABBITMQ_MANAGEMENT = os.environ.get("FTI_TEST_RABBITMQ_MANAGEMENT", "http://127.0.0.1:15672")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: these tests must run)")
    pytest.skip(reason)


def postgres_url(database: str) -> str:
    # The driver is named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, not installed here.
    return f"postgresql+psycopg2://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def _admin():
    import psycopg2

    try:
        conn = psycopg2.connect(
            host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        _unavailable(
            f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} is unreachable: {str(exc).strip().splitlines()[0]}"
        )
    conn.autocommit = True
    return conn


@contextmanager
def new_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (its name), dropped afterwards."""
    admin = _admin()
    name = f"fti_test_{secrets.token_hex(4)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def sessions_opened(database: str) -> int:
    """Connections PostgreSQL has accepted to ``database`` since it was created."""
    admin = _admin()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,))
            return int(cur.fetchone()[0])
    finally:
        admin.close()


@contextmanager
def new_redis_prefix() -> Iterator[str]:
    """A key prefix of its own on the shared Redis; every key under it is deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        _unavailable(f"Redis at {REDIS_URL} is unreachable: {exc}")
    prefix = f"fti_test_{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def _vhost_command(*args: str) -> bool:
    """``rabbitmqctl`` on this host (it needs the server's Erlang cookie: root or the rabbitmq user)."""
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        return False
    return subprocess.run([binary, *args], capture_output=True, timeout=60).returncode == 0


def _vhost_api(method: str, path: str, body: dict | None = None) -> bool:
    """The management plugin's HTTP API, when it is enabled."""
    import httpx

    try:
        response = httpx.request(
            method, f"{RABBITMQ_MANAGEMENT}/api/{path}", json=body, auth=("guest", "guest"), timeout=10
        )
    except httpx.HTTPError:
        return False
    return response.status_code in (201, 204)


@contextmanager
def new_vhost() -> Iterator[str]:
    """A RabbitMQ virtual host of its own (its name), guest allowed everything, deleted afterwards.

    Celery's queues, exchanges and reply queues live in it, so tests never see each other's
    messages. It is made with ``rabbitmqctl`` or, failing that, the management API; where
    neither can (no ``rabbitmqctl`` permission, no management plugin) the test is skipped:
    the broker's default virtual host is shared with whatever else runs on it."""
    with socket.socket() as sock:
        sock.settimeout(3)
        try:
            sock.connect((RABBITMQ_HOST, RABBITMQ_PORT))
        except OSError as exc:
            _unavailable(f"RabbitMQ at {RABBITMQ_HOST}:{RABBITMQ_PORT} is unreachable: {exc}")
    name = f"fti_test_{secrets.token_hex(4)}"
    if _vhost_command("add_vhost", name):
        made = _vhost_command("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        remove = lambda: _vhost_command("delete_vhost", name)  # noqa: E731
    else:
        made = _vhost_api("PUT", f"vhosts/{name}") and _vhost_api(
            "PUT", f"permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"}
        )
        remove = lambda: _vhost_api("DELETE", f"vhosts/{name}")  # noqa: E731
    if not made:
        _unavailable(
            "cannot create a RabbitMQ virtual host: rabbitmqctl failed (run as root or rabbitmq) and the "
            f"management API at {RABBITMQ_MANAGEMENT} is not enabled "
            "(rabbitmq-plugins enable rabbitmq_management)"
        )
    try:
        yield name
    finally:
        remove()


def broker_url(vhost: str) -> str:
    return f"pyamqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with new_database() as name:
        yield name


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with new_redis_prefix() as prefix:
        yield prefix


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own on a free port, durable across its own restarts."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        # Append-only with fsync on every write: a restart finds what was written before the stop.
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                return self
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                time.sleep(0.1)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def production_env(
    home: Path, dagster_db: str, mlflow_db: str, prefix: str, redis_url: str = REDIS_URL
) -> dict[str, str]:
    """The environment of the production profile for one FTI_HOME, its databases and key prefix."""
    return {
        "FTI_ENV": "production",
        "FTI_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FTI_DAGSTER_POSTGRES_URL": postgres_url(dagster_db),
        "FTI_MLFLOW_TRACKING_URI": postgres_url(mlflow_db),
        "FTI_MLFLOW_ARTIFACTS": str(home.parent / "artifacts"),
        "FTI_REDIS_URL": redis_url,
        "FTI_REDIS_PREFIX": prefix,
        "BENTOML_HOME": str(home / "bentoml"),
    }
