"""The service's contract through a real `bentoml serve`: limits, one error shape, a valid
OpenAPI document that Schemathesis fuzzes clean, and safe defaults."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fti_assets.serving.schemas import ErrorBody
from fti_assets_tests.inference.served import flight_request
from fti_assets_tests.service_process import ServiceProcess

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def service(home: Path):
    with ServiceProcess(
        "flight_delay_service:latest", home, env={"FTI_MAX_REQUEST_BYTES": str(LIMIT)}
    ) as running:
        yield running


def _post(
    service: ServiceProcess, content: bytes | str, content_type: str | None = "application/json", **kwargs
) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return httpx.post(f"{service.url}/predict", content=content, headers=headers, timeout=30, **kwargs)


BAD = [
    (
        "year 0001",
        {"flights": [flight_request(scheduled_departure="0001-01-01T00:00:00+05:00")]},
        400,
        "flights[0].scheduled_departure",
    ),
    (
        "year 9999 at a negative offset",
        {"flights": [flight_request(scheduled_arrival="9999-12-31T23:00:00-05:00")]},
        400,
        "flights[0].scheduled_arrival",
    ),
    (
        "epoch 0 as a time",
        {"flights": [flight_request(scheduled_departure=0)]},
        400,
        "flights[0].scheduled_departure",
    ),
    ("a distance as a string", {"flights": [flight_request(distance="1400")]}, 400, "flights[0].distance"),
    ("a distance as a boolean", {"flights": [flight_request(distance=True)]}, 400, "flights[0].distance"),
    (
        "arrival two days later",
        {"flights": [flight_request(scheduled_arrival="2013-01-15T08:19:00-06:00")]},
        400,
        "flights[0].scheduled_arrival",
    ),
    ("an extra top-level field", {"flights": [flight_request()], "priority": "high"}, 400, "priority"),
    (
        "include_features as a string",
        {"flights": [flight_request()], "include_features": "yes"},
        400,
        "include_features",
    ),
    ("no flights", {"flights": []}, 400, "flights"),
    (
        "1001 flights",
        {"flights": [flight_request()] * 1001},
        413,
        "body",
    ),  # 1001 flights pass the 64 KiB limit first
]


@pytest.mark.parametrize(("kind", "body", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_bodies_get_one_error_shape_naming_the_field(
    service: ServiceProcess, kind: str, body: dict, status: int, field: str
) -> None:
    response = _post(service, json.dumps(body))
    assert response.status_code == status, response.text
    error = ErrorBody.model_validate_json(response.content)
    assert field in [e.field for e in error.errors], error


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        (b"--x\r\n\r\n", "multipart/form-data", 415, "content-type"),  # no boundary: 500 in BentoML
        (b"flights=1", "application/x-www-form-urlencoded", 415, "content-type"),
        (b'{"flights": [', "application/json", 400, "body"),
        (b'{"flights": [1]}', None, 415, "content-type"),
    ],
)
def test_other_content_types_and_broken_json(
    service: ServiceProcess, content: bytes, content_type: str | None, status: int, field: str
) -> None:
    response = _post(service, content, content_type)
    assert response.status_code == status
    assert ErrorBody.model_validate_json(response.content).errors[0].field == field


def test_a_large_body_is_refused_before_it_is_read(service: ServiceProcess) -> None:
    """The declared length alone decides: a client that asks before sending (Expect:
    100-continue) gets the 413 without sending the body."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(
            "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            f"Content-Length: {10 * LIMIT}\r\n\r\n".encode()
        )
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413")
    # A chunked body without a declared length is cut off once it passes the limit.
    chunks = (b"x" * 8192 for _ in range(2 * LIMIT // 8192))
    response = _post(service, chunks)
    assert (
        response.status_code == 413
        and ErrorBody.model_validate_json(response.content).errors[0].field == "body"
    )


def test_client_errors_are_one_log_line_without_a_traceback(service: ServiceProcess) -> None:
    assert _post(service, json.dumps({"flights": [flight_request(distance=-3)]})).status_code == 400
    assert httpx.get(f"{service.url}/no-such-path").status_code == 404
    log = service.log.read_text()
    assert "400 POST /predict: flights[0].distance: Input should be greater than 0" in log
    assert "Traceback" not in log and " ERROR " not in log


def test_the_openapi_document_is_valid_3_0_and_documents_every_error(service: ServiceProcess) -> None:
    doc = httpx.get(f"{service.url}/docs.json").json()
    text = json.dumps(doc)
    assert doc["openapi"] == "3.0.2"
    assert '"type": "null"' not in text and '"exclusiveMinimum": 0' not in text and '"examples"' not in text
    responses = doc["paths"]["/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "408", "413", "415", "503"}
    for code in ("400", "401", "408", "413", "415", "503"):
        assert responses[code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False and body["properties"]["flights"]["maxItems"] == 1000


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    service: ServiceProcess, tmp_path: Path
) -> None:
    """Every operation, at least 200 generated cases each, positive and negative."""
    st = Path(sys.executable).parent / "st"
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    run = subprocess.run(
        [
            str(st),
            "run",
            f"{service.url}/docs.json",
            "--checks",
            checks,
            "--max-examples",
            "200",
            "--seed",
            "13",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(tmp_path / "events.ndjson"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,  # its cache folder lands in tmp_path
    )
    assert run.returncode == 0, run.stdout[-6000:]
    cases: dict[str, int] = {}
    for line in (tmp_path / "events.ndjson").read_text().splitlines():
        event = json.loads(line)
        for label, count in _case_counts(event):
            cases[label] = cases.get(label, 0) + count
    # The GET operations take no input: a handful of cases exhausts them.
    assert set(cases) == {
        "POST /predict",
        "GET /healthz",
        "GET /livez",
        "GET /readyz",
    }  # /metrics is off on the local profile
    assert cases["POST /predict"] >= 200, cases


def _case_counts(event: dict) -> list[tuple[str, int]]:
    """(operation, generated cases) from a Schemathesis ndjson event, where it reports them."""
    found = []
    for value in event.values():
        if isinstance(value, dict) and "recorder" in value:
            recorder = value["recorder"]
            found.append((recorder.get("label", ""), len(recorder.get("cases", {}))))
    return found


class DefaultHostService(ServiceProcess):
    """``bentoml serve`` without ``--host``: the Bento's own configuration decides."""

    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "bentoml"), "serve", self.target, "--port", str(self.port)]


def _listening_addresses(port: int) -> set[str]:
    """Addresses with a listening TCP socket on ``port``, from /proc/net/tcp (IPv4) and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(
                    socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else f"[{address}]"
                )
    return found


def test_the_bento_binds_loopback_by_default_and_takes_an_api_key(home: Path) -> None:
    service = DefaultHostService("flight_delay_service:latest", home, env={"FTI_API_KEY": "s3cret"})
    with service.start(timeout=300):
        assert _listening_addresses(service.port) == {"127.0.0.1"}
        refused = httpx.post(f"{service.url}/predict", json={"flights": [flight_request()]})
        assert (
            refused.status_code == 401
            and ErrorBody.model_validate_json(refused.content).errors[0].field == "authorization"
        )
        wrong = httpx.post(
            f"{service.url}/predict",
            json={"flights": [flight_request()]},
            headers={"authorization": "Bearer nope"},
        )
        assert wrong.status_code == 401
        ok = httpx.post(
            f"{service.url}/predict",
            json={"flights": [flight_request()]},
            headers={"authorization": "Bearer s3cret"},
            timeout=30,
        )
        assert ok.status_code == 200 and ok.json()[0]["flight_id"] == "2013-01-13-UA1545-EWR"
    assert _listening_addresses(service.port) == set()  # stopped, and no second server left behind
