"""What ``fti demo`` tells a newcomer at its end: commands that run, alarms that are named."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import polars as pl

from fti_assets.commands.demo import Window, outcome, prediction_alarm_lines
from fti_assets_tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[1]


def test_what_to_try_lists_commands_that_run_from_the_checkout(tmp_path: Path) -> None:
    champion = SimpleNamespace(version="1", tags={"bento": "flight_delay_service:v1"})
    registry = SimpleNamespace(version_by_alias=lambda alias: champion if alias == "champion" else None)
    settings = settings_for(tmp_path)
    lines = outcome(settings, registry, Window(date(2013, 1, 1), date(2013, 2, 28)), [])
    tried = lines[lines.index("\nWhat to try:") + 1 :]
    commands = [line.split()[0:2] for line in tried if re.match(r"  \S", line)]
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert commands, lines
    for first, second in commands:
        # `make TARGET` or a program of the project's environment: nothing relies on a PATH.
        assert (first == "make" and second in targets) or (
            first.startswith(".venv/bin/") and (ROOT / first).exists()
        ), (
            first,
            second,
        )


def test_a_prediction_drift_alarm_is_named_in_the_summary() -> None:
    days = [date(2013, 1, 13), date(2013, 1, 14)]
    scores = ['{"delay_probability": [0.05, false]}', '{"delay_probability": [0.31, true]}']
    frame = pl.DataFrame({"day": days, "alarm": [False, True], "scores": scores, "html": [None, "/r/p.html"]})
    [line] = prediction_alarm_lines(frame)
    assert line.startswith("prediction drift ALARM on 1 day(s) (2013-01-14): on 2013-01-14")
    assert "score 0.310" in line and line.endswith("report /r/p.html")
    assert prediction_alarm_lines(frame.with_columns(alarm=pl.lit(False))) == []
