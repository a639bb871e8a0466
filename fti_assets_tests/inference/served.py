"""The served home the service tests share: two champions in turn, an online store holding every
event known by ``AS_OF`` (the end of ``DAY``), a running ``bentoml serve`` of the champion, and
request bodies for it."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from fti_assets.resources.offline_store import OfflineStore
from fti_assets_tests.conftest import materialize
from fti_assets_tests.service_process import ServiceProcess

DAY = date(2013, 1, 13)
AS_OF = datetime(2013, 1, 14, 12, 0, tzinfo=UTC)  # after the last prediction time of DAY
LOW_FLOORS = {"model_evaluation": {"config": {"floor_auc": 0.5, "floor_max_brier": 0.25}}}
TRAIN = ["trained_model", "model_evaluation", "champion_model", "flight_delay_bento", "online_features"]


@pytest.fixture(scope="session")
def home(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two champions in turn (a weak v1, then v2), an online store fed every event known by AS_OF."""
    target = Path(shutil.copytree(feature_home, tmp_path_factory.mktemp("served") / "home"))
    online = {"online_features": {"config": {"as_of": AS_OF.isoformat()}}}
    weak = {"trained_model": {"config": {"num_leaves": 2, "max_rounds": 2}}}
    assert materialize(
        target, TRAIN, None, None, run_config={"ops": {**LOW_FLOORS, **online, **weak}}
    ).success
    assert materialize(target, TRAIN, None, None, run_config={"ops": {**LOW_FLOORS, **online}}).success
    return target


def champion_bento(home: Path) -> str:
    """The exact Bento tag the registry records for the champion (what `make serve` runs)."""
    from fti_assets.resources.registry import CHAMPION
    from fti_assets_tests.deployment.registry import registry_at

    return registry_at(home).version_by_alias(CHAMPION).tags["bento"]


@pytest.fixture(scope="module")
def service(home: Path):
    with ServiceProcess(champion_bento(home), home, env={"FTI_SERVING_WATCH_SECONDS": "0.2"}) as running:
        yield running


def flight_request(**overrides) -> dict:
    """One flight as a client sends it (a real UA1545 of 2013-01-13), with ``overrides``."""
    flight = {
        "carrier": "UA",
        "flight": 1545,
        "tailnum": "N14228",
        "origin": "EWR",
        "dest": "IAH",
        "distance": 1400,
        "scheduled_departure": "2013-01-13T05:15:00-05:00",
        "scheduled_arrival": "2013-01-13T08:19:00-06:00",
    }
    return {**flight, **overrides}


def schedule_requests(home: Path, n: int) -> tuple[pl.DataFrame, list[dict]]:
    """Real flights of DAY, as the service receives them."""
    schedule = OfflineStore(home=str(home)).read("flight_schedule").filter(pl.col("flight_date") == DAY)
    rows = schedule.sample(n, seed=7).sort("flight_id")
    requests = [
        {
            "carrier": r["carrier"],
            "flight": r["flight"],
            "tailnum": r["tailnum"],
            "origin": r["origin"],
            "dest": r["dest"],
            "distance": r["distance"],
            "scheduled_departure": r["scheduled_departure"].astimezone(ZoneInfo(r["origin_tz"])).isoformat(),
            "scheduled_arrival": r["scheduled_arrival"].isoformat(),
        }
        for r in rows.iter_rows(named=True)
    ]
    return rows, requests
