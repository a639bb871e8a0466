"""``fti replay``: a period simulated day by day through the real Dagster instance.

Each simulated day runs the daily pipeline for that day, then evaluates the sensors as the
daemon would and executes what they request, so drift alarms, retraining and gated
promotions happen as they would in production.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from fti_assets.commands.demo import Window
from fti_assets.monitoring.sensors import training_run_config
from fti_assets.platform.instance import prepare_dagster_home
from fti_assets.platform.progress import QUIET, step_progress
from fti_assets.resources.records import read_record
from fti_assets.settings import Settings

SENSORS = ("retraining_sensor", "canary_guard_sensor")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Replay:
    def __init__(
        self,
        settings: Settings,
        run_config: dict | None = None,
        resources: dict | None = None,
    ) -> None:
        from fti_assets.definitions import build_definitions

        self.settings = settings
        self.defs = build_definitions(settings, resources)
        self.instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
        self.store = self.defs.resources["store"]
        self.extra = run_config or {}
        # "{}": the replay's sensors watch from its first day (a daemon's first tick takes a baseline).
        self.cursors: dict[str, str | None] = {name: "{}" for name in SENSORS}
        self.events: list[dict] = []

    def run_job(
        self,
        job: str,
        run_config: dict,
        tags: dict[str, str],
        partition: str | None = None,
        assets: set[dg.AssetKey] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """One job in this process on the replay's instance, with quiet progress logging."""
        ops = {**self.extra.get("ops", {}), **run_config.get("ops", {})}
        definition = self.defs.resolve_job_def(job)
        selected = assets if assets is not None else definition.asset_layer.executable_asset_keys
        ops = {k: v for k, v in ops.items() if dg.AssetKey(k) in selected}
        with step_progress(self.instance, failures_only=True) as run_id:
            return definition.execute_in_process(
                instance=self.instance,
                partition_key=partition,
                raise_on_error=False,
                run_config={"ops": ops, **QUIET},
                tags=tags,
                asset_selection=list(assets) if assets is not None else None,
                run_id=run_id,
            )

    def event(self, day: date, kind: str, detail: str, version: int | None = None) -> None:
        self.events.append({"day": day, "kind": kind, "detail": detail, "version": version})
        _say(f"{day}  {kind:<10} {detail}")

    def bootstrap(self, start: date, train_until: date) -> None:
        tags = {
            "fti/trigger": "replay",
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": train_until.isoformat(),
        }
        if not self.run_job("feature_pipeline", {}, tags).success:
            raise RuntimeError("the feature pipeline failed on the bootstrap window")
        for ahead in range(1, self.settings.schedule_lead_days + 1):  # published by the end of the window
            self.publish_schedule(train_until + timedelta(days=ahead))
        train_end, validation_end = Window(start, train_until).split_points()
        config = {
            "ops": {
                "training_dataset": {
                    "config": {
                        "start": start.isoformat(),
                        "end": train_until.isoformat(),
                        "train_end": train_end.isoformat(),
                        "validation_end": validation_end.isoformat(),
                    }
                }
            }
        }
        self.train(train_until, "initial training", run_config=config)
        if not any(e["kind"] == "promotion" for e in self.events):
            raise RuntimeError(
                "the first model did not pass the gates: train on a longer window (--train-until)"
            )

    def train(self, day: date, why: str, run_config: dict | None = None, tags: dict | None = None) -> None:
        first = date.fromisoformat(self.store.partitions("flight_outcomes")[0])
        config = run_config or training_run_config(first, day)
        before = read_record(self.settings.home, "model_evaluation")
        result = self.run_job("training_pipeline", config, {"fti/trigger": "replay", **(tags or {})})
        evaluation = read_record(self.settings.home, "model_evaluation")
        self.event(day, "retrain", why)
        if evaluation is None or evaluation == before or not _succeeded(result, "champion_model"):
            self.event(day, "failed", "training did not produce an evaluation and a verdict")
        elif result.output_for_node("champion_model")["outcome"] == "promoted":
            auc = evaluation["metrics"]["challenger"]["auc"]
            self.event(
                day,
                "promotion",
                f"v{evaluation['version']} is champion (test AUC {auc:.4f})",
                evaluation["version"],
            )
        else:
            self.event(
                day,
                "refused",
                f"v{evaluation['version']}: {result.output_for_node('champion_model')['reason']}",
                evaluation["version"],
            )

    def publish_schedule(self, flight_day: date) -> None:
        """The schedule feed for ``flight_day``, ingested ahead of the day as in operation."""
        if (
            flight_day <= self.settings.last_day
            and not self.run_job(
                "schedule_feed", {}, {"fti/trigger": "replay"}, partition=flight_day.isoformat()
            ).success
        ):
            self.event(flight_day, "failed", "the schedule feed failed")

    def day(self, day: date) -> None:
        """One day as operation lives it: tomorrow's schedule is published, today's flights are
        served at their prediction times, then the daily pipeline runs on the finished day."""
        from fti_assets.serving.simulate import serve_days

        self.publish_schedule(day + timedelta(days=self.settings.schedule_lead_days))
        job = self.defs.resolve_job_def("daily_pipeline")
        everything = set(job.asset_layer.executable_asset_keys)
        features = {
            k
            for k in everything
            if self.defs.resolve_assets_def(k).group_names_by_key[k] in ("raw", "features")
        }
        config = {
            "ops": {
                "feature_drift_report": {"config": {"html": "alarms"}},
                "prediction_drift_report": {"config": {"html": "alarms"}},
            }
        }
        # The day's features exist before its flights are served only here, in a replay: the served
        # days take from them only the events known by each flight's prediction time, as the stream.
        result = self.run_job(
            "daily_pipeline", config, {"fti/trigger": "replay"}, partition=day.isoformat(), assets=features
        )
        if result.success:
            serve_days(self.settings.home, self.store, self.defs.resources["registry"], [day])
            result = self.run_job(
                "daily_pipeline",
                config,
                {"fti/trigger": "replay"},
                partition=day.isoformat(),
                assets=everything - features,
            )
        if not result.success:
            self.event(day, "failed", "the daily pipeline failed")
            return
        drift = self.store.read("feature_drift_report", [day.isoformat()])
        if drift.height and drift["alarm"][0]:
            self.event(day, "drift", f"drifted share {drift['drifted_share'][0]:.2f}")
        for name in SENSORS:
            self.tick(name, day)

    def tick(self, name: str, day: date) -> None:
        sensor = self.defs.resolve_sensor_def(name)
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(name),
            definitions=self.defs,
            sensor_name=name,
            resources=self.defs.resources,
        ) as context:
            data = sensor.evaluate_tick(context)
        self.cursors[name] = data.cursor
        for request in data.run_requests or []:
            if request.job_name in (None, "training_pipeline") and name == "retraining_sensor":
                self.event(day, "alarm", request.tags.get("fti/alarm", ""))
                self.train(
                    day,
                    request.tags.get("fti/alarm", "")[:80],
                    run_config=request.run_config,
                    tags=request.tags,
                )
            else:
                result = self.run_job(
                    request.job_name or sensor.job_name,
                    request.run_config,
                    {**request.tags, "fti/trigger": name},
                )
                self.event(day, "canary", f"{name}: {'retired the canary' if result.success else 'failed'}")


def _succeeded(result: dg.ExecuteInProcessResult, step: str) -> bool:
    return any(e.event_type_value == "STEP_SUCCESS" and e.step_key == step for e in result.all_events)


def run_replay(
    start: date,
    end: date,
    train_until: date,
    settings: Settings | None = None,
    run_config: dict | None = None,
    resources: dict | None = None,
    shift_from: date | None = None,
) -> pl.DataFrame:
    """Bootstrap on ``start..train_until``, then replay every later day to ``end``, serving each
    day's flights through the online store as the stream keeps it."""
    settings = settings or Settings.from_env()
    replay = Replay(settings, run_config, resources)
    _say(f"replay {start}..{end}, first model trained until {train_until}, FTI_HOME={settings.home}")
    replay.bootstrap(start, train_until)
    day = train_until + timedelta(days=1)
    while day <= end:
        replay.day(day)
        day += timedelta(days=1)
    events = pl.DataFrame(
        replay.events, schema={"day": pl.Date, "kind": pl.String, "detail": pl.String, "version": pl.Int64}
    )
    replay.store.write(
        "replay_events",
        events.with_columns(
            replay_start=pl.lit(train_until + timedelta(days=1)),
            replay_end=pl.lit(end),
            shift_from=pl.lit(shift_from, dtype=pl.Date),
        ),
    )
    report = replay.run_job("replay_report_job", {}, {"fti/trigger": "replay"})
    if report.success:
        _say(report.output_for_node("replay_report")["summary"])
    return events


def write_shifted_source(target: Path, source: str, from_day: date) -> Path:
    """A copy of the source folder with ``inverted_rush_hours`` applied to flights."""
    from fti_assets.commands.replay_shift import inverted_rush_hours
    from fti_assets.resources.source import RAW_TABLES, read_raw_table

    target.mkdir(parents=True, exist_ok=True)
    for table in RAW_TABLES:
        frame = read_raw_table(source, table)
        if table == "flights":
            frame = inverted_rush_hours(frame, from_day)
        frame.write_parquet(target / f"{table}.parquet")
    return target


def replay_command(start: date, end: date, train_until: date, shift_from: date | None) -> int:
    """The CLI entry: optionally replays a shifted copy of the source."""
    import dataclasses

    settings = Settings.from_env()
    if shift_from is not None:
        folder = write_shifted_source(settings.home / "shifted_source", settings.source, shift_from)
        settings = dataclasses.replace(settings, source=str(folder))
        _say(f"source shifted from {shift_from}: morning departures late, evening ones early ({folder})")
    events = run_replay(start, end, train_until, settings, shift_from=shift_from)
    return 0 if events.filter(pl.col("kind") == "failed").height == 0 else 1
