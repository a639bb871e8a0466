"""The prediction log is durable (kill -9 loses no answered prediction), bounded (rotation and
retention) and watched (a failing log takes the service out of readiness, loudly)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.schemas import ErrorBody
from fti_assets_tests.inference.served import flight_request
from fti_assets_tests.service_process import ServiceProcess


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*/*.jsonl")) for line in f.read_text().splitlines()]


def test_files_rotate_by_size_and_old_days_are_removed(tmp_path: Path) -> None:
    old = tmp_path / "2000-01-01"
    old.mkdir()
    (old / "1.jsonl").write_text("{}\n")
    log = PredictionLog(tmp_path, max_bytes=2_000, retention_days=30, sync_seconds=0.05)
    try:
        for i in range(100):
            log.write({"flight_id": f"f{i}", "pad": "x" * 60})
        deadline = time.monotonic() + 10
        while old.exists() and time.monotonic() < deadline:  # the writer thread prunes on its own
            time.sleep(0.05)
    finally:
        log.close()
    assert not old.exists()
    files = sorted((tmp_path / datetime.now(UTC).date().isoformat()).glob("*.jsonl"))
    assert len(files) >= 4 and all(f.stat().st_size <= 2_000 for f in files)
    assert sorted(r["flight_id"] for r in _records(tmp_path)) == sorted(f"f{i}" for i in range(100))
    assert log.prune(date(2100, 1, 1)) == [datetime.now(UTC).date().isoformat()]


def test_a_record_is_appended_while_the_file_is_being_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request's append never waits for the writer thread's fsync (milliseconds each)."""
    import fti_assets.serving.prediction_log as module

    syncing, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        syncing.set()
        release.wait(30)
        real_fsync(fd)

    monkeypatch.setattr(module.os, "fsync", slow_fsync)
    log = PredictionLog(tmp_path, sync_seconds=0.01)
    try:
        log.write({"flight_id": "first"})
        assert syncing.wait(10)  # the writer thread is inside its fsync now
        appended = threading.Thread(target=log.write, args=({"flight_id": "during the sync"},))
        appended.start()
        appended.join(10)
        assert not appended.is_alive()
        assert [r["flight_id"] for r in _records(tmp_path)] == ["first", "during the sync"]
    finally:
        release.set()
        log.close()


@pytest.fixture
def own_home(home: Path, tmp_path: Path) -> Path:
    """A copy of the served home, so this test's prediction log is its own."""
    copy = Path(
        shutil.copytree(home, tmp_path / "home", ignore=shutil.ignore_patterns("predictions", "serve-*.log"))
    )
    return copy


def test_a_worker_killed_under_load_loses_no_answered_prediction(own_home: Path) -> None:
    answered: list[str] = []
    counter = iter(range(1, 1_000_000))
    lock, stop = threading.Lock(), threading.Event()

    with ServiceProcess("flight_delay_service:latest", own_home) as service:

        def load() -> None:
            with httpx.Client(timeout=10) as client:
                while not stop.is_set():
                    with lock:
                        n = next(counter)
                    flight = flight_request(
                        flight=n % 9999 + 1, carrier=f"Q{n // 9999}"
                    )  # a unique flight_id each
                    try:
                        # A new connection each time: kept-alive connections all opened at once can
                        # all land on one worker and stay there, and the other never logs (the wait
                        # below for two workers' files once took 140 s).
                        r = client.post(
                            f"{service.url}/predict",
                            json={"flights": [flight]},
                            headers={"Connection": "close"},
                        )
                    except httpx.HTTPError:
                        continue  # not answered: the connection died with the worker
                    if r.status_code == 200:
                        with lock:
                            answered.append(r.json()[0]["flight_id"])

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            folder = own_home / "predictions"
            while len(answered) < 300 or len(list(folder.glob("*/*.jsonl"))) < 2:
                time.sleep(0.05)
            victim = int(sorted(folder.glob("*/*.jsonl"))[0].name.split(".")[0])
            os.kill(victim, signal.SIGKILL)
            killed_at = len(answered)
            while len(answered) < killed_at + 300:  # load goes on with the other worker(s)
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
    logged = {r["flight_id"] for r in _records(own_home / "predictions")}
    missing = [f for f in answered if f not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered predictions are not in the log"
    by_victim = [r for f in (own_home / "predictions").glob(f"*/{victim}*.jsonl") for r in _records_of(f)]
    assert by_victim, "the killed worker had answered nothing: the test did not kill under load"


def _records_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_failing_log_refuses_answers_degrades_readiness_and_says_so(own_home: Path) -> None:
    one_worker = {"BENTOML_CONFIG_OPTIONS": "services.flight_delay_service.workers=1"}
    with ServiceProcess("flight_delay_service:latest", own_home, env=one_worker) as service:
        blocker = own_home / "predictions"
        blocker.write_text("not a folder")  # the log cannot create its day folder
        for _ in range(3):
            response = httpx.post(f"{service.url}/predict", json={"flights": [flight_request()]}, timeout=30)
            assert response.status_code == 503
            assert ErrorBody.model_validate_json(response.content).errors[0].field == "service"
        assert httpx.get(f"{service.url}/readyz").status_code == 503
        blocker.unlink()
        assert (
            httpx.post(f"{service.url}/predict", json={"flights": [flight_request()]}, timeout=30).status_code
            == 200
        )
        assert httpx.get(f"{service.url}/readyz").status_code == 200
    log = service.log.read_text()
    assert "cannot append to the prediction log" in log
    errors = [line for line in log.splitlines() if "[ERROR]" in line]
    assert (
        len(errors) == 1 and "cannot append to the prediction log" in errors[0]
    )  # when it starts failing, not per request
    assert log.count("503 POST /predict: service: cannot append") == 3  # each refusal: one line
    assert "Traceback" not in log
