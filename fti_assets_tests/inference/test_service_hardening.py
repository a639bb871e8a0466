"""A service that fails fast and clearly, through a real `bentoml serve`: bodies that lie about
their length, bodies too large, encodings it cannot read, flights that cannot be real, a frozen
Redis, and a server killed under its workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import httpx
import polars as pl
import pytest

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.domain.routes import great_circle_miles
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving import redis_store
from fti_assets.serving.schemas import ErrorBody
from fti_assets_tests.inference.served import AS_OF, champion_bento, flight_request
from fti_assets_tests.servers import RedisServer
from fti_assets_tests.service_process import ServiceProcess

LIMIT = 64 * 1024
READ_SECONDS = 2


@pytest.fixture(scope="module")
def service(home: Path):
    env = {"FTI_MAX_REQUEST_BYTES": str(LIMIT), "FTI_REQUEST_READ_SECONDS": str(READ_SECONDS)}
    with ServiceProcess(champion_bento(home), home, env=env) as running:
        yield running


def _head(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """The status line, headers and body of one HTTP/1.1 answer read from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return status, headers, body


def test_a_body_shorter_than_its_length_gets_408_in_the_error_shape(service: ServiceProcess) -> None:
    """Not the 504 of the 30 s request timeout: the read timeout answers, in the documented shape."""
    body = json.dumps({"flights": [flight_request()]}).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=60) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body) + 100}\r\n\r\n".encode()
            + body
        )
        status, headers, payload = _head(sock)
    assert status.startswith("HTTP/1.1 408"), status
    assert headers["connection"] == "close"
    [error] = ErrorBody.model_validate_json(payload).errors
    assert error.field == "body" and f"within {READ_SECONDS} s" in error.reason
    assert "408" in httpx.get(f"{service.url}/docs.json").json()["paths"]["/predict"]["post"]["responses"]


def test_a_large_body_sent_before_the_answer_is_read_gets_413_not_a_reset(service: ServiceProcess) -> None:
    """urllib sends the whole body before it reads: the server drains it, then answers."""
    big = b'{"flights": [' + b" " * (25 << 20) + b"]}"
    request = urllib.request.Request(
        f"{service.url}/predict", data=big, headers={"Content-Type": "application/json"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=120)
    assert refused.value.code == 413
    assert ErrorBody.model_validate_json(refused.value.read()).errors[0].field == "body"
    # A client that asks before sending (Expect: 100-continue) gets the 413 without sending anything.
    with socket.create_connection(("127.0.0.1", service.port), timeout=60) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {10 * LIMIT}\r\n\r\n".encode()
        )
        status, _, _ = _head(sock)
    assert status.startswith("HTTP/1.1 413"), status


def test_an_encoded_body_is_refused_not_read_as_plain(service: ServiceProcess) -> None:
    body = json.dumps({"flights": [flight_request()]})
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = httpx.post(f"{service.url}/predict", content=body, headers=headers, timeout=30)
    assert response.status_code == 415
    assert ErrorBody.model_validate_json(response.content).errors[0].field == "content-encoding"
    plain = httpx.post(
        f"{service.url}/predict", content=body, headers={**headers, "content-encoding": "identity"}
    )
    assert plain.status_code == 200, plain.text


def test_a_405_says_which_methods_are_allowed(service: ServiceProcess) -> None:
    response = httpx.get(f"{service.url}/predict", timeout=30)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert ErrorBody.model_validate_json(response.content).errors[0].field == "method"


IMPLAUSIBLE = [
    ("the same airport twice", {"dest": "EWR"}, "flights[0].dest"),
    ("an unknown destination", {"dest": "QQQ"}, "flights[0].dest"),
    ("an unknown origin", {"origin": "QQQ"}, "flights[0].origin"),
    ("a distance of 1e-320", {"distance": 1e-320}, "flights[0].distance"),
    ("EWR-IAH as 2,475 miles", {"distance": 2475}, "flights[0].distance"),
    (
        "a one-minute JFK-LAX",
        {
            "origin": "JFK",
            "dest": "LAX",
            "distance": 2475,
            "scheduled_departure": "2013-01-13T08:00:00-05:00",
            "scheduled_arrival": "2013-01-13T05:01:00-08:00",
        },
        "flights[0].scheduled_arrival",
    ),
]


@pytest.mark.parametrize(("kind", "overrides", "field"), IMPLAUSIBLE, ids=[i[0] for i in IMPLAUSIBLE])
def test_flights_that_cannot_be_real_get_400_naming_the_field(
    service: ServiceProcess, kind: str, overrides: dict, field: str
) -> None:
    response = httpx.post(
        f"{service.url}/predict", json={"flights": [flight_request(**overrides)]}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert field in [e.field for e in ErrorBody.model_validate_json(response.content).errors]


def test_a_real_route_nobody_flies_from_new_york_still_gets_defaults(
    service: ServiceProcess, home: Path
) -> None:
    """Known airports, unknown carrier, plane and route: a probability with every group flagged."""
    airports = OfflineStore(home=str(home)).read("airports").filter(pl.col("faa").is_in(["ANC", "SEA"]))
    (lat1, lon1), (lat2, lon2) = (
        airports.filter(pl.col("faa") == c).select("lat", "lon").row(0) for c in ("ANC", "SEA")
    )
    flight = flight_request(
        carrier="ZZ",
        tailnum="N00NEW",
        origin="ANC",
        dest="SEA",
        distance=round(great_circle_miles(lat1, lon1, lat2, lon2)),
    )
    response = httpx.post(f"{service.url}/predict", json={"flights": [flight]}, timeout=30)
    assert response.status_code == 200, response.text
    assert set(response.json()[0]["unknown"]) == {g.name for g in FEATURE_GROUPS}


def _worker_pids(server: int) -> set[int]:
    """Processes whose parent is ``server`` (its workers), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == server:
                found.add(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped


def _wait_for(condition, what: str, timeout: float = 120) -> None:
    """Wait for an event; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_workers_leave_with_a_killed_server_and_a_taken_port_is_refused(home: Path) -> None:
    fti = str(Path(sys.executable).parent / "fti")
    process = ServiceProcess(champion_bento(home), home).start()
    workers: set[int] = set()
    try:
        # `make serve` (fti serve) refuses the port while this server holds it, and says so.
        env = {**process.env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        taken = subprocess.run(
            [fti, "serve", "--port", str(process.port)], env=env, capture_output=True, text=True, timeout=300
        )
        assert (
            taken.returncode == 1 and f"127.0.0.1:{process.port}: the port is already in use" in taken.stderr
        )
        workers = _worker_pids(process.process.pid)
        assert workers, "bentoml serve runs its workers as child processes"
        os.kill(process.process.pid, signal.SIGKILL)  # the server alone: its workers are orphaned
        process.process.wait()
        _wait_for(lambda: all(_gone(w) for w in workers), "the orphaned workers to exit")
        _wait_for(lambda: _port_free(process.port), "the port to be released")
    finally:
        process.stop()
        for pid in workers:  # left behind only when the test failed
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def _backstop(home: Path, url: str, prefix: str, as_of: datetime) -> None:
    """The offline events known by ``as_of`` applied to a Redis store, as online_features does."""
    from fti_assets.inference.refresh import write_backstop

    store = OfflineStore(home=str(home))
    writer = redis_store.RedisWriter(url, prefix)
    try:
        write_backstop(writer, store, store.read("airports"), as_of)
    finally:
        writer.close()


def test_a_frozen_redis_gets_a_fast_503_and_readiness_says_so(home: Path, tmp_path: Path) -> None:
    """SIGSTOP on a private redis-server: requests get 503 within a few read timeouts, /readyz
    turns 503; after SIGCONT both answer 200 again."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        _backstop(home, server.url, "frozen", AS_OF)
        env = {
            "FTI_ENV": "production",
            "FTI_REDIS_URL": server.url,
            "FTI_REDIS_PREFIX": "frozen",
            "FTI_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        }
        with ServiceProcess(champion_bento(home), home, env=env) as service:
            body = {"flights": [flight_request()]}
            assert httpx.post(f"{service.url}/predict", json=body, timeout=30).status_code == 200
            os.kill(server.process.pid, signal.SIGSTOP)
            try:
                # A bound of three read timeouts each: the former client waited 2 s twice per read.
                budget = 3 * redis_store.READ_TIMEOUT_SECONDS * 2
                frozen = httpx.post(f"{service.url}/predict", json=body, timeout=budget)
                ready = httpx.get(f"{service.url}/readyz", timeout=budget)
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            assert frozen.status_code == 503 and frozen.headers["retry-after"] == "1"
            assert "unavailable" in ErrorBody.model_validate_json(frozen.content).errors[0].reason
            assert ready.status_code == 503
            _wait_for(
                lambda: httpx.post(f"{service.url}/predict", json=body, timeout=30).status_code == 200,
                "answers after SIGCONT",
            )
            assert httpx.get(f"{service.url}/readyz", timeout=30).status_code == 200
    finally:
        server.stop()
