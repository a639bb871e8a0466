"""The service through a real `bentoml serve` process: requests, errors, parity, hot swap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
import pytest

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.resources.offline_store import OfflineStore
from fti_assets_tests.conftest import materialize
from fti_assets_tests.inference import served as served_home
from fti_assets_tests.inference.served import champion_bento, flight_request, schedule_requests
from fti_assets_tests.service_process import ServiceProcess

home, service = served_home.home, served_home.service  # this module's own served home and running service


def test_a_good_request_gets_probability_version_and_freshness(service: ServiceProcess) -> None:
    response = httpx.post(f"{service.url}/predict", json={"flights": [flight_request()]})
    assert response.status_code == 200
    [prediction] = response.json()
    assert prediction["flight_id"] == "2013-01-13-UA1545-EWR"
    assert 0 < prediction["delay_probability"] < 1
    assert prediction["model_version"] == "flight_delay_model:v2"
    # Read as of its prediction time, two hours before its departure (10:15 UTC), as in training.
    assert datetime.fromisoformat(prediction["features_as_of"]) == datetime(2013, 1, 13, 8, 15, tzinfo=UTC)
    assert prediction["unknown"] == [] and prediction["early"] is False and prediction["past_flight"] is False


def test_unknown_entities_get_defaults_and_a_flag_never_a_500(service: ServiceProcess) -> None:
    # Real airports (Anchorage to Seattle, 1,448 miles) that no New York flight joins: no group has a row.
    flight = flight_request(carrier="ZZ", tailnum="N00NEW", origin="ANC", dest="SEA", distance=1448)
    response = httpx.post(f"{service.url}/predict", json={"flights": [flight], "include_features": True})
    assert response.status_code == 200
    [prediction] = response.json()
    assert set(prediction["unknown"]) == {g.name for g in FEATURE_GROUPS}
    assert prediction["features"]["plane_known"] == 0 and prediction["features"]["carrier_flights_7d"] == 0
    assert 0 < prediction["delay_probability"] < 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"flights": [flight_request(distance=-5)]}, "distance"),
        ({"flights": [{k: v for k, v in flight_request().items() if k != "origin"}]}, "origin"),
        ({"flights": [flight_request(scheduled_departure="2013-01-13T05:15:00")]}, "scheduled_departure"),
        ({"flights": [flight_request(scheduled_departure="tomorrow")]}, "scheduled_departure"),
        ({"flights": [flight_request(carrier="united")]}, "carrier"),
        ({"flights": [flight_request(flight="abc")]}, "flight"),
        ({"flights": [flight_request(seats=3)]}, "seats"),
        ({"flights": [flight_request(scheduled_arrival="2013-01-13T04:00:00-05:00")]}, "scheduled_arrival"),
        ({"flights": []}, "flights"),
        ({"flight": [flight_request()]}, "flights"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(service: ServiceProcess, body: dict, field: str) -> None:
    response = httpx.post(f"{service.url}/predict", json=body)
    assert 400 <= response.status_code < 500
    assert field in response.text


def test_predict_is_left_out_of_tracing_by_default(service: ServiceProcess) -> None:
    """BentoML names a traced request's span in ``X-BentoML-Request-ID``; /predict has none
    unless FTI_SERVING_TRACE_PREDICT asks for its spans."""
    response = httpx.post(f"{service.url}/predict", json={"flights": [flight_request()]})
    assert response.status_code == 200 and response.headers["server"].startswith("BentoML")
    assert "x-bentoml-request-id" not in response.headers


def test_prometheus_metrics_are_off_by_default_and_not_documented(service: ServiceProcess) -> None:
    """The local profile with FTI_SERVING_METRICS unset: no /metrics route, and the OpenAPI
    document does not list one (the production profile's tests read it)."""
    assert httpx.get(f"{service.url}/metrics").status_code == 404
    assert "/metrics" not in httpx.get(f"{service.url}/docs.json").json()["paths"]


def test_health_readiness_and_openapi(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/healthz").status_code == 200
    assert httpx.get(f"{service.url}/readyz").status_code == 200
    spec = httpx.get(f"{service.url}/docs.json").json()
    assert "/predict" in spec["paths"]


def test_online_and_offline_give_equal_vectors_and_probabilities(home: Path, service: ServiceProcess) -> None:
    from fti_assets.inference.batch_predictions import score
    from fti_assets.resources.registry import CHAMPION
    from fti_assets_tests.deployment.registry import registry_at

    rows, requests = schedule_requests(home, 60)
    response = httpx.post(
        f"{service.url}/predict", json={"flights": requests, "include_features": True}, timeout=30
    )
    assert response.status_code == 200
    served = response.json()
    registry = registry_at(home)
    model = registry.load(int(registry.version_by_alias(CHAMPION).version))
    from fti_assets.domain.encoding import FeatureSpec

    spec = FeatureSpec.from_dict(model.spec)
    store = OfflineStore(home=str(home))
    tables = {g.name: store.read(g.name) for g in FEATURE_GROUPS}
    # The training retrieval: each flight as of its prediction time.
    offline = score(rows.with_columns(as_of=pl.col("prediction_time")), tables, model.booster, spec).sort(
        "flight_id"
    )
    assert [s["flight_id"] for s in served] == offline["flight_id"].to_list()
    for s, o in zip(
        served, offline.select(*spec.features, "delay_probability").iter_rows(named=True), strict=True
    ):
        for feature in spec.features:
            a, b = s["features"][feature], o[feature]
            if isinstance(b, str) or a is None or b is None:
                assert a == b, feature
            else:
                assert abs(a - b) <= 1e-9, feature
        assert abs(s["delay_probability"] - o["delay_probability"]) <= 1e-9
    assert len({round(s["delay_probability"], 6) for s in served}) > 20  # real, varied predictions


def test_concurrent_one_flight_requests_get_the_answers_of_one_request(
    home: Path, service: ServiceProcess
) -> None:
    """Concurrent requests are scored in batches: each still gets its own flight's answer."""
    from concurrent.futures import ThreadPoolExecutor

    _, requests = schedule_requests(home, 40)
    together = httpx.post(f"{service.url}/predict", json={"flights": requests}, timeout=30).json()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        alone = list(
            pool.map(lambda f: client.post(f"{service.url}/predict", json={"flights": [f]}).json(), requests)
        )
    assert [[a["flight_id"], a["delay_probability"]] for [a] in alone] == [
        [t["flight_id"], t["delay_probability"]] for t in together
    ]


def test_predictions_are_logged_for_monitoring(home: Path, service: ServiceProcess) -> None:
    httpx.post(f"{service.url}/predict", json={"flights": [flight_request(flight=77)]})
    deadline = datetime.now(UTC).timestamp() + 10
    records = []
    while datetime.now(UTC).timestamp() < deadline and not any(
        r["flight_id"] == "2013-01-13-UA77-EWR" for r in records
    ):
        records = [
            json.loads(line)
            for f in (home / "predictions").glob("*/*.jsonl")
            for line in f.read_text().splitlines()
        ]
        __import__("time").sleep(0.2)
    [record] = [r for r in records if r["flight_id"] == "2013-01-13-UA77-EWR"]
    assert record["request"]["tailnum"] == "N14228" and record["features"]["dep_hour"] == 5
    assert record["features_as_of"] == "2013-01-13T08:15:00+00:00" and record["store_newest_event_at"]
    assert (
        record["model_version"] == "flight_delay_model:v2"
        and 0 < record["delay_probability"] < 1
        and record["at"]
    )


def test_a_champion_change_is_hot_swapped_without_a_failed_request(
    home: Path, service: ServiceProcess
) -> None:
    from fti_assets.commands.operations import rollback
    from fti_assets_tests.conftest import settings_for

    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                r = client.post(f"{service.url}/predict", json={"flights": [flight_request()]})
                seen.append((r.status_code, r.json()[0]["model_version"] if r.status_code == 200 else r.text))

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert rollback("hot swap test", settings_for(home))
        deadline = datetime.now(UTC).timestamp() + 15
        while datetime.now(UTC).timestamp() < deadline and (
            not seen or seen[-1][1] != "flight_delay_model:v1"
        ):
            __import__("time").sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert all(code == 200 for code, _ in seen), [s for s in seen if s[0] != 200][:3]
    versions = [v for _, v in seen]
    assert versions[0] == "flight_delay_model:v2" and versions[-1] == "flight_delay_model:v1"
    assert len(seen) > 50


def _bentoml(*args: str, store: Path) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "bentoml"), *args],
        env={**os.environ, "BENTOML_HOME": str(store)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_rollback_bento_exported_to_an_empty_store_serves_its_own_model(
    home: Path, service: ServiceProcess, tmp_path: Path
) -> None:
    from fti_assets_tests.deployment.registry import bundled_models, registry_at

    registry = registry_at(home)
    assert int(registry.version_by_alias("champion").version) == 1  # rolled back by the hot swap test
    # Build v1's Bento anew while v2 is the newest model in the store: `latest` would name v2.
    old = champion_bento(home).split(":")
    shutil.rmtree(home / "bentoml" / "bentos" / old[0] / old[1])
    assert materialize(home, ["flight_delay_bento"], None, None).success
    tag = champion_bento(home)
    assert tag != ":".join(old) and bundled_models(home / "bentoml" / "bentos" / tag.replace(":", "/")) == [
        "flight_delay_model:v1"
    ]
    archive = tmp_path / "service.bento"
    _bentoml("export", tag, str(archive), store=home / "bentoml")
    empty = tmp_path / "fresh-store"
    _bentoml("import", str(archive), store=empty)
    assert sorted(p.name for p in (empty / "models" / "flight_delay_model").iterdir() if p.is_dir()) == ["v1"]
    with ServiceProcess(tag, home, env={"BENTOML_HOME": str(empty)}) as fresh:
        response = httpx.post(f"{fresh.url}/predict", json={"flights": [flight_request()]})
        assert response.status_code == 200 and response.json()[0]["model_version"] == "flight_delay_model:v1"
    assert "could not be found" not in fresh.log.read_text()


def test_readyz_answers_why_when_no_model_can_be_loaded(home: Path, tmp_path: Path) -> None:
    import time

    from mlflow.tracking import MlflowClient

    empty_registry = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri=empty_registry).search_experiments()  # the tables exist; no model is registered
    process = ServiceProcess(champion_bento(home), home, env={"FTI_MLFLOW_TRACKING_URI": empty_registry})
    with open(tmp_path / "serve.log", "w") as out:
        process.process = subprocess.Popen(
            process.command(), env=process.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        answer = None
        deadline = time.monotonic() + 120
        while (answer is None or answer.status_code != 503) and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{process.url}/readyz", timeout=5)
            except httpx.TransportError:
                time.sleep(0.5)
        assert answer is not None and answer.status_code == 503, (tmp_path / "serve.log").read_text()[-2000:]
        assert "names no champion" in answer.text
        assert httpx.post(f"{process.url}/predict", json={"flights": [flight_request()]}).status_code == 503
    finally:
        process.stop()


def test_the_openapi_document_describes_the_service_and_its_example_answers_200(
    service: ServiceProcess,
) -> None:
    from fti_assets.serving.schemas import EXAMPLE_FLIGHT, SERVICE_DESCRIPTION

    spec = httpx.get(f"{service.url}/docs.json").json()
    assert (
        spec["info"]["title"] == "flight_delay_service" and spec["info"]["description"] == SERVICE_DESCRIPTION
    )
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "example"
    ]
    assert example["flights"] == [EXAMPLE_FLIGHT]
    response = httpx.post(f"{service.url}/predict", json=example)  # what Swagger's "Try it out" sends
    assert response.status_code == 200 and response.json()[0]["flight_id"] == "2014-01-02-UA1545-EWR"
