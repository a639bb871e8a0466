"""The production profile end to end on real servers: the demo window with Dagster and MLflow
on PostgreSQL and the online store on Redis, then `bentoml serve` replicas sharing that store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving import redis_store
from fti_assets_tests.servers import (
    REDIS_URL,
    RedisServer,
    new_database,
    new_redis_prefix,
    postgres_url,
    production_env,
)
from fti_assets_tests.service_process import ServiceProcess

BIN = Path(sys.executable).parent
START, END = date(2013, 1, 1), date(2013, 1, 21)  # three weeks: the demo's short window
REFRESH = datetime(2013, 1, 22, tzinfo=UTC)  # the demo refreshes the online store at the window's end
PREDICTED = datetime(2013, 1, 22, 8, 15, tzinfo=UTC)  # the prediction time of ``_flight()``
# The module's demo (three weeks through Dagster, MLflow, Bento and monitoring) runs in the
# first test's setup: minutes on a shared two-core machine.
pytestmark = pytest.mark.timeout(2400)


@dataclass
class Demo:
    env: dict[str, str]
    home: Path
    dagster_db: str
    mlflow_db: str
    prefix: str
    output: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`fti demo` over the window with FTI_ENV=production, on databases and a prefix of its own."""
    with new_database() as dagster_db, new_database() as mlflow_db, new_redis_prefix() as prefix:
        home = tmp_path_factory.mktemp("production") / "home"
        env = production_env(home, dagster_db, mlflow_db, prefix)
        run = subprocess.run(
            [str(BIN / "fti"), "demo", "--start", START.isoformat(), "--end", END.isoformat()],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        yield Demo(env, home, dagster_db, mlflow_db, prefix, run.stdout)


def _flight(tailnum: str = "N14228", flight: int = 1545) -> dict:
    return {
        "carrier": "UA",
        "flight": flight,
        "tailnum": tailnum,
        "origin": "EWR",
        "dest": "IAH",
        "distance": 1400,
        "scheduled_departure": "2013-01-22T05:15:00-05:00",
        "scheduled_arrival": "2013-01-22T08:19:00-06:00",
    }


def _backstop(home: Path, url: str, prefix: str, as_of: datetime) -> None:
    """The demo's offline events known by ``as_of`` applied to a Redis store, as online_features does."""
    from fti_assets.inference.refresh import write_backstop

    store = OfflineStore(home=str(home))
    writer = redis_store.RedisWriter(url, prefix)
    write_backstop(writer, store, store.read("airports"), as_of)
    writer.close()


def _late_outcome(known: datetime, delay: int) -> dict:
    """A UA arrival known at ``known`` that the stream delivers now: it enters UA's delay windows."""
    from fti_assets.domain.events import FEEDS, events_from_table

    row = {
        "flight_id": "2013-01-22-UA9999-EWR",
        "flight_date": known.date(),
        "carrier": "UA",
        "tailnum": "N99999",
        "origin": "EWR",
        "dest": "ORD",
        "status": "arrived",
        "dep_delay": delay,
        "arr_delay": delay,
        "known_at": known,
        "is_delayed": delay > 15,
    }
    [event] = events_from_table("outcomes", pl.DataFrame([row], schema=FEEDS["outcomes"]), datetime.now(UTC))
    return event


def test_the_demo_window_runs_on_postgres_mlflow_postgres_and_redis(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2

    from fti_assets.resources.registry import CHAMPION, ModelRegistry

    assert "done in" in demo.output
    for key, value in demo.env.items():
        monkeypatch.setenv(key, value)
    instance = dg.DagsterInstance.from_config(demo.env["DAGSTER_HOME"])
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    event = instance.get_latest_materialization_event(dg.AssetKey("online_features"))
    assert event.asset_materialization.metadata["as_of"].value == REFRESH.isoformat()
    # Every served day's skew is computed once: the serving run takes the days the monitoring run does not.
    skew = instance.fetch_materializations(dg.AssetKey("serving_skew"), limit=1000).records
    assert sorted(r.partition_key for r in skew) == [
        (START + timedelta(days=d)).isoformat() for d in range((END - START).days + 1)
    ]
    with (
        psycopg2.connect(postgres_url(demo.dagster_db).replace("+psycopg2", "")) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("select pipeline_name, status from runs")
        runs = dict(cur.fetchall())
    # The four pipelines, plus the schedule feed published ahead and the served days' skew.
    assert {
        "feature_pipeline",
        "training_pipeline",
        "inference_pipeline",
        "monitoring_pipeline",
        "schedule_feed",
    } <= set(runs)
    assert set(runs.values()) == {"SUCCESS"}, runs
    from fti_assets.resources.environment import build_resources
    from fti_assets.settings import Settings

    registry = build_resources(Settings.from_env())["registry"]  # the environment is the demo's
    assert isinstance(registry, ModelRegistry) and registry.tracking_uri == postgres_url(demo.mlflow_db)
    champion = registry.version_by_alias(CHAMPION)
    assert champion is not None
    assert (
        registry.load(int(champion.version)).booster.num_trees() > 0
    )  # its files are at FTI_MLFLOW_ARTIFACTS
    assert any(Path(demo.env["FTI_MLFLOW_ARTIFACTS"]).rglob("MLmodel"))
    newest = int(redis_store.RedisStoreReader(REDIS_URL, demo.prefix).meta()["newest_event_at"])
    assert REFRESH - timedelta(hours=12) < datetime.fromtimestamp(newest / 1e6, UTC) <= REFRESH
    # Nothing fell back to the embedded default's files.
    assert not (demo.home / "online.sqlite").exists() and not (demo.home / "mlflow" / "mlflow.db").exists()
    # The promotion is in the history table of the production database, not in a local file.
    assert [(e["action"], e["version"]) for e in registry.history()][:1] == [
        ("promote", int(champion.version))
    ]
    assert not (demo.home / "history.sqlite").exists()
    assert list(Path(demo.env["DAGSTER_HOME"]).rglob("*.db")) == []


def _stream(
    urls: list[str],
    seen: list[tuple[str, int, dict | str]],
    stop: threading.Event,
    own: list[tuple[str, int, dict | str]] | None = None,
) -> None:
    """One client asking in turn until ``stop``: every answer goes to ``seen`` (shared, in order of
    arrival) and to ``own`` (this client's, each asked after the one before was answered)."""
    with httpx.Client(timeout=10) as client:
        i = 0
        while not stop.is_set():
            url = urls[i % len(urls)]
            i += 1
            r = client.post(f"{url}/predict", json={"flights": [_flight()], "include_features": True})
            entry = (
                url,
                r.status_code,
                r.json()[0] if r.status_code == 200 else {"text": r.text, "headers": dict(r.headers)},
            )
            seen.append(entry)
            if own is not None:
                own.append(entry)


def test_two_replicas_share_the_redis_store_and_see_an_event_together(demo: Demo) -> None:
    env = {**demo.env, "FTI_SERVING_WATCH_SECONDS": "0.2"}
    with (
        ServiceProcess("flight_delay_service:latest", demo.home, env=env) as a,
        ServiceProcess("flight_delay_service:latest", demo.home, env=env) as b,
    ):
        seen: list = []
        clients: list[list] = [[], []]
        stop = threading.Event()
        threads = [
            threading.Thread(target=_stream, args=([a.url, b.url], seen, stop, own)) for own in clients
        ]
        for t in threads:
            t.start()
        try:
            _wait_for(lambda: {s[0] for s in seen if s[1] == 200} == {a.url, b.url})
            # Every answer that arrived before the writer was made was read before the event.
            writing_at = len(seen)
            writer = redis_store.RedisWriter(REDIS_URL, demo.prefix)
            assert writer.apply([_late_outcome(PREDICTED - timedelta(hours=1), 120)])["applied"] == 1
            writer.close()
            applied_at = len(seen)
            _wait_for(lambda: {s[0] for s in seen[applied_at:] if s[1] == 200} == {a.url, b.url})
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert [s for s in seen if s[1] != 200] == []
    assert {body["features_as_of"] for _, _, body in seen} == {PREDICTED.isoformat()}

    def answer(body: dict) -> tuple:
        return body["features"]["carrier_flights_1d"], body["delay_probability"]

    before = {answer(body) for _, _, body in seen[:writing_at]}
    after = {answer(body) for _, _, body in seen[applied_at + 4 :]}
    # One store, one answer: both replicas agree before the event and after it, and after it the
    # flight's carrier counts one more arrival in its day.
    assert len(before) == 1 and len(after) == 1
    [(flights_before, _)], [(flights_after, _)] = before, after
    assert flights_after == flights_before + 1
    # A replica never goes back: a client that asks again once answered never gets the old value
    # after the new one (answers of two clients may arrive in another order than they were read).
    for own in clients:
        for url in (a.url, b.url):
            mine = [answer(body) for u, _, body in own if u == url]
            assert mine == sorted(mine, key=lambda found: found in after)


def test_redis_stopped_and_restarted_under_load_gives_503_then_recovers_never_500(
    demo: Demo, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        _backstop(demo.home, server.url, "outage", REFRESH)
        # FTI_ENV=production turns Prometheus metrics on: the outage shows there.
        env = {**demo.env, "FTI_REDIS_URL": server.url, "FTI_REDIS_PREFIX": "outage"}
        with ServiceProcess("flight_delay_service:latest", demo.home, env=env) as service:
            seen: list = []
            stop = threading.Event()
            threads = [threading.Thread(target=_stream, args=([service.url], seen, stop)) for _ in range(2)]
            for t in threads:
                t.start()
            try:
                _wait_for(lambda: any(s[1] == 200 for s in seen))
                server.stop()
                stopped_at = len(seen)
                _wait_for(lambda: sum(s[1] == 503 for s in seen[stopped_at:]) >= 5)
                assert (
                    httpx.get(f"{service.url}/readyz", timeout=10).status_code == 503
                )  # out of a balancer's rotation
                server.start()
                restarted_at = len(seen)
                _wait_for(lambda: sum(s[1] == 200 for s in seen[restarted_at:]) >= 5)
                assert httpx.get(f"{service.url}/readyz", timeout=10).status_code == 200
            finally:
                stop.set()
                for t in threads:
                    t.join()
            answered = _requests_by_status(httpx.get(f"{service.url}/metrics", timeout=10).text)
            assert "/metrics" in httpx.get(f"{service.url}/docs.json", timeout=10).json()["paths"]
    finally:
        server.stop()
    assert {code for _, code, _ in seen} == {200, 503}
    unavailable = [body for _, code, body in seen if code == 503]
    assert all(
        body["headers"].get("retry-after") == "1" and "unavailable" in body["text"] for body in unavailable
    )
    assert all(s[1] == 200 and s[2]["features_as_of"] == PREDICTED.isoformat() for s in seen[-3:])
    # Both workers' counts are summed (BentoML's multiprocess collector): every answer is in them.
    assert answered == {code: sum(s[1] == code for s in seen) for code in (200, 503)}


def _requests_by_status(exposition: str) -> dict[int, int]:
    """``bentoml_service_request_total`` of /predict by HTTP status, from a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[int, int] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "bentoml_service_request_total" and sample.labels.get("endpoint") == "/predict":
                code = int(sample.labels["http_response_code"])
                counts[code] = counts.get(code, 0) + int(sample.value)
    return {code: n for code, n in counts.items() if n}


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)
