"""``fti demo``: the whole loop on the embedded data, through the real Dagster machinery."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic

import dagster as dg
import polars as pl

from fti_assets.platform.instance import prepare_dagster_home
from fti_assets.platform.progress import QUIET, step_progress
from fti_assets.settings import Settings

PIPELINES = ("feature_pipeline", "training_pipeline", "inference_pipeline", "monitoring_pipeline")
#: Monitoring covers the window's last days (a year of daily drift reports takes minutes).
MONITORED_DAYS = 14
#: The window's last days are served in process, flight by flight, to measure serving skew.
SERVED_DAYS = 30


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    def split_points(self) -> tuple[date, date]:
        """The split ``training_dataset`` uses by default (``split_points``)."""
        from fti_assets.training.dataset import split_points

        return split_points(self.start, self.end)


def run_config(window: Window) -> dict:
    train_end, validation_end = window.split_points()
    refresh = datetime.combine(window.end + timedelta(days=1), time(), tzinfo=UTC)
    return {
        **QUIET,
        "ops": {
            "training_dataset": {
                "config": {
                    "start": window.start.isoformat(),
                    "end": window.end.isoformat(),
                    "train_end": train_end.isoformat(),
                    "validation_end": validation_end.isoformat(),
                }
            },
            # The online store as it stands at the end of the window.
            "online_features": {"config": {"as_of": refresh.isoformat()}},
        },
    }


def monitored_window(window: Window) -> Window:
    """The window's last ``MONITORED_DAYS`` days, which the monitoring pipeline runs over."""
    return Window(max(window.start, window.end - timedelta(days=MONITORED_DAYS - 1)), window.end)


def run_pipeline(
    defs: dg.Definitions, job_name: str, window: Window, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """One run of a pipeline job over the window's daily partitions."""
    config = run_config(window)
    if job_name == "monitoring_pipeline":
        window = monitored_window(window)
    job = defs.resolve_job_def(job_name)
    ops = {k: v for k, v in config["ops"].items() if dg.AssetKey(k) in job.asset_layer.executable_asset_keys}
    with step_progress(instance) as run_id:
        return job.execute_in_process(
            instance=instance,
            run_config={**config, "ops": ops},
            tags={
                "dagster/asset_partition_range_start": window.start.isoformat(),
                "dagster/asset_partition_range_end": window.end.isoformat(),
                "fti/trigger": "demo",
            },
            raise_on_error=False,
            run_id=run_id,
        )


def published_ahead(window: Window, settings: Settings) -> Window | None:
    """The days after ``window`` whose schedule is published by its end (within the partitions)."""
    last = min(window.end + timedelta(days=settings.schedule_lead_days), settings.last_day)
    return Window(window.end + timedelta(days=1), last) if last > window.end else None


def serve_last_days(
    defs: dg.Definitions, settings: Settings, window: Window, instance: dg.DagsterInstance
) -> None:
    """The window's last days served at their prediction times from the online store as the
    stream keeps it, as the service would have, then compared with offline by ``serving_skew``."""
    from fti_assets.serving.simulate import serve_days

    served = Window(max(window.start, window.end - timedelta(days=SERVED_DAYS - 1)), window.end)
    days = [served.start + timedelta(days=d) for d in range((served.end - served.start).days + 1)]
    counts = serve_days(settings.home, defs.resources["store"], defs.resources["registry"], days)
    print(
        f"served {counts['served']:,} flights of {served.start}..{served.end} in process "
        f"({counts['events']:,} feature events through the stream consumer)",
        file=sys.stderr,
    )
    # The monitoring pipeline's own run covers its days' skew; this run covers the served days before them.
    earlier = Window(served.start, monitored_window(window).start - timedelta(days=1))
    if counts["served"] and earlier.end >= earlier.start:
        job = defs.resolve_implicit_global_asset_job_def()
        with step_progress(instance) as run_id:
            job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey("serving_skew")],
                raise_on_error=False,
                run_config=QUIET,
                tags={
                    "dagster/asset_partition_range_start": earlier.start.isoformat(),
                    "dagster/asset_partition_range_end": earlier.end.isoformat(),
                    "fti/trigger": "demo",
                },
                run_id=run_id,
            )


def summary(defs: dg.Definitions, settings: Settings, instance: dg.DagsterInstance) -> str:
    """Rows per table in the offline store, quarantine, and the training dataset's identity."""
    from fti_assets.resources.offline_store import OfflineStore

    store = OfflineStore(home=str(settings.home))
    lines = [f"{'table':<22}{'rows':>12}{'partitions':>12}"]
    for key in sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=lambda k: k.to_user_string()):
        table = key.path[-1]
        if store.table_dir(table).is_dir():
            rows = store.scan(table).select(pl.len()).collect().item()
            lines.append(f"{table:<22}{rows:>12,}{len(store.partitions(table)):>12}")
    quarantine = list((settings.home / "quarantine").glob("*/*.parquet"))
    if quarantine:
        q = pl.scan_parquet(quarantine).group_by("table").len().collect().sort("table")
        lines.append("quarantined rows: " + ", ".join(f"{t} {n}" for t, n in q.iter_rows()))
    event = instance.get_latest_materialization_event(dg.AssetKey("training_dataset"))
    if event and event.asset_materialization:
        meta = event.asset_materialization.metadata
        lines.append(f"training_dataset content hash: {meta['content_hash'].value}")
        lines.append(str(meta["splits"].value))
    lines += model_summary(settings) + monitoring_summary(store) + skew_summary(store, instance)
    lines.append(
        f"\nQuery the store: .venv/bin/duckdb {settings.warehouse_path} -c 'from training_dataset limit 5'"
    )
    lines.append("Browse the graph: make dev, then http://127.0.0.1:3000")
    return "\n".join(lines)


def model_summary(settings: Settings) -> list[str]:
    """Test AUC of the latest challenger, the gates' verdict and what is being served."""
    import json

    records = settings.home / "records"
    lines = []
    if (records / "model_evaluation.json").exists():
        ev = json.loads((records / "model_evaluation.json").read_text())
        ours, theirs = ev["metrics"]["challenger"], ev["metrics"]["champion"]
        lines.append(
            f"\nmodel v{ev['version']}: test ROC AUC {ours['auc']:.4f}, log loss {ours['log_loss']:.4f}, "
            f"Brier {ours['brier']:.4f} "
            f"on {ev['test_rows']:,} test flights"
            + (f" (champion v{ev['champion_version']}: {theirs['auc']:.4f})" if theirs else "")
        )
        refused = [f"{k}: {g['message']}" for k, g in ev["gates"].items() if not g["passed"]]
        lines.append("gates: passed" if ev["passed"] else "gates: refused\n  " + "\n  ".join(refused))
    return lines


def skew_summary(store, instance: dg.DagsterInstance) -> list[str]:
    """Congestion coverage in training and serving, and the served month's skew."""
    from fti_assets.monitoring.skew import describe_period, period_skew

    lines = []
    event = instance.get_latest_materialization_event(dg.AssetKey("training_dataset"))
    if (
        event
        and event.asset_materialization
        and "congestion_coverage" in event.asset_materialization.metadata
    ):
        c = event.asset_materialization.metadata["congestion_coverage"].value
        lines.append(
            f"origin congestion in training: {c['with_value']:,} of {c['rows']:,} flights ({c['share']:.1%})"
        )
    try:
        lines.append(describe_period(period_skew(store.read("serving_skew"))))
    except FileNotFoundError:
        pass
    return lines


def outcome(
    settings: Settings, registry, window: Window, skipped: list[str], failed: list[str] | None = None
) -> list[str]:
    """What happened to the champion, and what to try next (``failed``: the pipelines that failed)."""
    from fti_assets.resources.records import read_record
    from fti_assets.resources.registry import CHAMPION

    decision = read_record(settings.home, "champion_model")
    champion = registry.version_by_alias(CHAMPION)
    lines = ["\nWhat happened:"]
    if decision:
        lines.append(f"  {decision['verdict']}")
    lines += [f"  {s}" for s in skipped]
    if failed and "feature_pipeline" in failed:
        # A refused source says why above; a longer window would be refused the same way.
        return lines + [
            "  the feature pipeline failed: nothing was trained or served from this window",
            "\nWhat to try:",
            "  Read the failure above (the raw table and why it was refused), fix the source, and run again.",
        ]
    if champion is None:
        longer = window.start + timedelta(days=120)
        return lines + [
            "\nWhat to try:",
            "  No model is serving yet: this window is too short for a model that meets the absolute floors.",
            f"  Train on a longer window: .venv/bin/fti demo --start {window.start} --end {longer}",
        ]
    return lines + [
        f"  champion: v{champion.version}, packaged as {champion.tags.get('bento', '(no Bento yet)')}",
        "\nWhat to try:",
        "  make serve            the champion's exact Bento on 127.0.0.1 (it follows the registry's champion alias)",
        "  .venv/bin/fti models --history  every promotion, rollback and refusal, with who, when and why",
        "  make dev              the Dagster UI and daemon: the sensors start, but the retraining sensor takes the",
        "                        monitoring it finds as its baseline, so nothing retrains at start-up unless you",
        "                        launch training_pipeline yourself",
    ]


def monitoring_summary(store) -> list[str]:
    """The last monitored day: AUC on known outcomes, feature drift, and any prediction-drift alarm."""
    try:
        performance = store.read("model_performance").sort("day").row(-1, named=True)
        drift = store.read("feature_drift_report").sort("day").row(-1, named=True)
    except FileNotFoundError:
        return []
    auc = performance["auc_window"]
    lines = [
        f"monitoring {performance['day']}: AUC over {performance['window_days']} days {auc:.4f} "
        f"(champion test AUC {performance['champion_test_auc']:.4f}), drifted feature share "
        f"{drift['drifted_share']:.2f}" + (f", report {drift['html']}" if drift["html"] else "")
    ]
    try:
        predictions = store.read("prediction_drift_report").sort("day")
    except FileNotFoundError:
        return lines
    return lines + prediction_alarm_lines(predictions)


def prediction_alarm_lines(predictions: pl.DataFrame) -> list[str]:
    """One line on the monitored days whose predicted probabilities drifted (none: no line)."""
    alarms = predictions.filter(pl.col("alarm"))
    if alarms.height == 0:
        return []
    last = alarms.row(-1, named=True)
    days = ", ".join(str(d) for d in alarms["day"].to_list()[-5:])
    return [
        f"prediction drift ALARM on {alarms.height} day(s) ({days}): on {last['day']} the champion's probabilities "
        f"drifted from the training reference (score {json.loads(last['scores'])['delay_probability'][0]:.3f})"
        + (f", report {last['html']}" if last["html"] else "")
    ]


@contextmanager
def setup_lock(home: Path) -> Iterator[None]:
    """Holds ``home``'s set-up lock: runs started together on a fresh home would each create
    Dagster's and MLflow's databases, and one would fail half-way. A second run waits, says
    why, and then finds them made."""
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".setup.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another run is setting up {home}: waiting for it to finish", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def prepare_home(settings: Settings) -> tuple[dg.Definitions, dg.DagsterInstance]:
    """The definitions and the Dagster instance of ``settings``, with every database they need
    created (Dagster's storage, MLflow's schema and experiment) under the home's set-up lock."""
    from fti_assets.definitions import build_definitions

    with setup_lock(settings.home):
        home = prepare_dagster_home(settings)
        defs = build_definitions(settings)
        instance = dg.DagsterInstance.from_config(str(home))
        instance.get_runs(limit=1)  # the run and event storages exist
        instance.get_latest_materialization_event(dg.AssetKey("online_features"))
        defs.resources["registry"].client()  # MLflow's tables and the experiment exist
    return defs, instance


def run_demo(window: Window, settings: Settings | None = None) -> bool:
    settings = settings or Settings.from_env()
    defs, instance = prepare_home(settings)
    began = monotonic()
    print(f"fti demo: {window.start} to {window.end}, FTI_HOME={settings.home}")
    ok, skipped, failed = True, [], []
    registry = defs.resources["registry"]
    for job in PIPELINES:
        if job == "monitoring_pipeline" and registry.version_by_alias("champion") is None:
            skipped.append("monitoring skipped: there is no champion, so no batch predictions to monitor")
            print(f"\n== {job} == skipped: no champion", file=sys.stderr)
            continue
        print(f"\n== {job} ==", file=sys.stderr)
        if job == "inference_pipeline" and (ahead := published_ahead(window, settings)):
            # The schedule of the days after the window is already published at its end.
            print(f"schedule feed for {ahead.start}..{ahead.end}", file=sys.stderr)
            run_pipeline(defs, "schedule_feed", ahead, instance)
        if job == "monitoring_pipeline":
            serve_last_days(defs, settings, window, instance)
        result = run_pipeline(defs, job, window, instance)
        if job == "inference_pipeline" and registry.version_by_alias("champion") is None:
            skipped.append("batch predictions skipped: there is no champion")
        if result.success:
            continue
        ok = False
        failed.append(job)
        if job == "feature_pipeline":
            break
    print(f"\n{'done' if ok else 'FAILED'} in {monotonic() - began:.0f}s\n")
    print(summary(defs, settings, instance))
    print("\n".join(outcome(settings, registry, window, skipped, failed)))
    return ok
