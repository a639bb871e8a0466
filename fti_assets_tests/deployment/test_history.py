"""The model history: an append-only table that keeps every event, and says when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fti_assets.deployment.history import ModelHistory, champion_stack
from fti_assets_tests.conftest import settings_for

BIN = Path(sys.executable).parent
ACTIONS = ("promote", "refuse", "rollback")


def _fill(history: ModelHistory, n: int) -> None:
    # Each report is about 2,400 characters: a registry tag (5,000 on PostgreSQL) held two.
    for i in range(n):
        report = {"gates": {f"gate_{g}": f"message {i}-{g} " + "x" * 100 for g in range(20)}, "i": i}
        history.append(
            "flight_delay",
            ACTIONS[i % 3],
            i + 1,
            f"2013-01-01T00:{i // 60:02d}:{i % 60:02d}",
            f"dagster run {i}",
            f"reason {i}",
            from_version=i or None,
            report=report,
        )


def test_200_events_survive_in_order_with_their_reports(tmp_path: Path) -> None:
    url = settings_for(tmp_path).model_history_url
    _fill(ModelHistory(url), 200)
    events = ModelHistory(url).events("flight_delay")  # a new engine: only what was committed
    assert [e["version"] for e in events] == list(range(1, 201))
    assert [e["action"] for e in events[:4]] == ["promote", "refuse", "rollback", "promote"]
    assert all(e["report"]["i"] == i and len(e["report"]["gates"]) == 20 for i, e in enumerate(events))
    assert events[199]["actor"] == "dagster run 199" and events[199]["reason"] == "reason 199"
    assert ModelHistory(url).events("another_model") == []
    env = {**os.environ, "FTI_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    out = subprocess.run(
        [str(BIN / "fti"), "models", "--history"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len(lines) == 200 and "promote  v1" in lines[0] and "by dagster run 199: reason 199" in lines[-1]


def test_an_unreadable_history_raises_instead_of_starting_over(tmp_path: Path) -> None:
    from fti_assets.resources.environment import build_resources

    settings = settings_for(tmp_path)
    Path(settings.model_history_url.removeprefix("sqlite:///")).write_bytes(b"not a database" * 100)
    registry = build_resources(settings)["registry"]
    with pytest.raises(Exception, match="not a database"):
        registry.history()


def test_unknown_actions_are_refused_and_the_stack_follows_promotions_and_rollbacks(tmp_path: Path) -> None:
    history = ModelHistory(settings_for(tmp_path).model_history_url)
    with pytest.raises(ValueError, match="unknown history action"):
        history.append("m", "delete", 1, "2013-01-01", "me", "no")
    events = [
        {"action": a, "version": v}
        for a, v in [("promote", 1), ("promote", 2), ("refuse", 3), ("promote", 4), ("rollback", 2)]
    ]
    assert champion_stack(events) == [1, 2]
