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

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.domain.retrieval import latest_per_entity
from fti_assets.domain.timezones import airport_timezones
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
LATER = datetime(2013, 1, 21, 12, tzinfo=UTC)
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


def _snapshot(home: Path, as_of: datetime) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The refresh online_features computes for ``as_of`` from the demo's offline store."""
    store = OfflineStore(home=str(home))
    day = as_of.date()
    latest = {g.name: latest_per_entity(store.read_history(g, day, day), g, as_of) for g in FEATURE_GROUPS}
    return latest, airport_timezones(store.read("airports"))


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
    assert redis_store.RedisStoreReader(REDIS_URL, demo.prefix).as_of() == REFRESH.isoformat()
    # Nothing fell back to the embedded default's files.
    assert not (demo.home / "online.sqlite").exists() and not (demo.home / "mlflow" / "mlflow.db").exists()
    # The promotion is in the history table of the production database, not in a local file.
    assert [(e["action"], e["version"]) for e in registry.history()][:1] == [
        ("promote", int(champion.version))
    ]
    assert not (demo.home / "history.sqlite").exists()
    assert list(Path(demo.env["DAGSTER_HOME"]).rglob("*.db")) == []


def _stream(urls: list[str], seen: list[tuple[str, int, dict | str]], stop: threading.Event) -> None:
    with httpx.Client(timeout=10) as client:
        i = 0
        while not stop.is_set():
            url = urls[i % len(urls)]
            i += 1
            r = client.post(f"{url}/predict", json={"flights": [_flight()]})
            seen.append(
                (
                    url,
                    r.status_code,
                    r.json()[0] if r.status_code == 200 else {"text": r.text, "headers": dict(r.headers)},
                )
            )


def test_two_replicas_share_the_redis_store_and_switch_refresh_together(demo: Demo) -> None:
    env = {**demo.env, "FTI_SERVING_WATCH_SECONDS": "0.2"}
    with (
        ServiceProcess("flight_delay_service:latest", demo.home, env=env) as a,
        ServiceProcess("flight_delay_service:latest", demo.home, env=env) as b,
    ):
        seen: list = []
        stop = threading.Event()
        threads = [threading.Thread(target=_stream, args=([a.url, b.url], seen, stop)) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            switched_at = len(seen)
            redis_store.write_snapshot(REDIS_URL, demo.prefix, *_snapshot(demo.home, LATER), LATER)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not all(
                any(
                    s[0] == url and s[1] == 200 and s[2]["features_as_of"] == LATER.isoformat()
                    for s in seen[switched_at:]
                )
                for url in (a.url, b.url)
            ):
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert [s for s in seen if s[1] != 200] == []
    by_refresh: dict[str, dict[str, set[float]]] = {}
    for url, _, body in seen:
        by_refresh.setdefault(body["features_as_of"], {}).setdefault(url, set()).add(
            body["delay_probability"]
        )
    assert set(by_refresh) == {REFRESH.isoformat(), LATER.isoformat()}
    for as_of, replicas in by_refresh.items():
        assert set(replicas) == {a.url, b.url}, as_of  # both replicas served from both refreshes
        [probability] = set.union(*replicas.values())  # and agree on each: one store, one answer
    assert by_refresh[REFRESH.isoformat()] != by_refresh[LATER.isoformat()]
    last = {url: body["features_as_of"] for url, _, body in seen}
    assert last == {a.url: LATER.isoformat(), b.url: LATER.isoformat()}


def test_redis_stopped_and_restarted_under_load_gives_503_then_recovers_never_500(
    demo: Demo, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        redis_store.write_snapshot(server.url, "outage", *_snapshot(demo.home, REFRESH), REFRESH)
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
    assert all(s[1] == 200 and s[2]["features_as_of"] == REFRESH.isoformat() for s in seen[-3:])
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
