"""The full-year demo's work without Dagster: the same project functions from a plain script.

``python -m bench.plain HOME``: what ``fti demo`` does over 2013-01-01..2013-12-31 (features,
training with MLflow tracking and registration, evaluation, promotion, the Bento, batch
predictions, the online refresh; monitoring over the last 14 days; the last 30 days served
with their serving skew), computed by calling the functions the asset bodies call
(``plain_lifecycle.py`` for the registry, serving and skew), and stored in an
``OfflineStore(home=HOME)`` as the IO manager stores it (one Parquet file per daily
partition, a DuckDB view per table). No orchestrator and no run metadata. Prints one JSON
line with the seconds of each step (named after the assets it stands for), the total and a
few row counts; progress goes to stderr. Its process's wall time is what ``bench.run`` compares.

Left out (the asset bodies do it, the plain script has no use for it): Dagster output and
check metadata (table previews, schemas, markdown tables), the model card asset (its page),
the schedule feed of the day after the window, the promotion history's records beyond the
registry's, and the feature snapshot id (read from the Dagster instance; stored as null here).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import polars as pl

from bench import plain_lifecycle as lifecycle
from bench.plain_parts import (
    END,
    START,
    Steps,
    check_known_at,
    days,
    ingest,
    log,
    partition_column,
    publish_checks,
    utc_midnight,
)
from fti_assets.features import definitions as pipeline

MONITORED_DAYS = 14
SERVED_DAYS = 30  # fti_assets/commands/demo.py


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.plain HOME")
    home = Path(sys.argv[1]).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    steps = Steps()

    with steps.step("imports"):
        import numpy as np

        from bench.pipeline import feature_tables
        from fti_assets.domain.catalog import FEATURE_GROUPS
        from fti_assets.domain.retrieval import content_hash
        from fti_assets.inference import batch_predictions as inference
        from fti_assets.monitoring import drift_reports as drift
        from fti_assets.monitoring import model_performance as monitoring
        from fti_assets.monitoring.drift import (
            DriftConfig,
            feature_drift,
            feature_drift_snapshot,
            prediction_drift,
            prediction_drift_snapshot,
        )
        from fti_assets.monitoring.drift_reports import (
            DriftReportConfig,
            ReportStore,
            _report_rows,
            reference_sample,
            reference_window,
        )
        from fti_assets.monitoring.performance import daily_performance, scored_outcomes
        from fti_assets.resources.offline_store import OfflineStore
        from fti_assets.resources.registry import LoadedModel
        from fti_assets.resources.retraining_rule import RetrainingRule
        from fti_assets.training.dataset import TrainingDatasetConfig, build_training_dataset, label_spine
        from fti_assets.training.trained_model import TrainingConfig
        from fti_assets.training.trainer import lightgbm_params, train_booster

    store = OfflineStore(home=str(home))
    year = days(START, END)
    run_id = str(uuid.uuid4())
    rows: dict[str, int] = {}

    # 1. raw tables (the raw group)
    raw_assets = {a.key.path[-1]: a for a in pipeline.RAW}
    day_columns = {"flights": "flight_date", "schedules": "flight_date", "weather": "obs_date"}
    with steps.step("raw"):
        raw_tables = {t: ingest(t, day_columns.get(t), store, run_id) for t in raw_assets}
    rows.update({f"raw.{t}": f.height for t, f in raw_tables.items()})

    # 2. feature tables (the features group), each checked as publish() checks it
    feature_assets = {a.key.path[-1]: a for a in pipeline.FEATURE_GROUPS}
    with steps.step("features"):
        tables = feature_tables(
            raw_tables["flights"],
            raw_tables["weather"],
            raw_tables["planes"],
            raw_tables["airports"],
            utc_midnight(START),
            utc_midnight(END + timedelta(days=1)),
        )
        freshness = {
            "origin_weather": ("obs_date", timedelta(hours=3)),
            "carrier_delay_stats": ("snapshot_date", timedelta(hours=6)),
            "route_delay_stats": ("snapshot_date", timedelta(hours=6)),
            "plane_last_arrival": ("flight_date", timedelta(hours=12)),
        }
        for name, frame in tables.items():
            publish_checks(name, frame, year, *freshness.get(name, (None, None)))
        check_known_at(raw_tables, tables)
    rows.update({f"features.{t}": f.height for t, f in tables.items()})

    # 3. the raw and feature tables stored as the IO manager stores them
    with steps.step("store_raw_and_features"):
        for name, frame in [*raw_tables.items(), *tables.items()]:
            asset = raw_assets.get(name) or feature_assets[name]
            if asset.partitions_def is None:
                store.write(name, frame)
            else:
                store.write_days(name, frame, partition_column(asset), year)

    # 4. training_dataset
    train_end, validation_end = date(2013, 9, 1), date(2013, 10, 1)  # demo Window(START, END).split_points()
    cfg = TrainingDatasetConfig(
        start=START.isoformat(),
        end=END.isoformat(),
        train_end=train_end.isoformat(),
        validation_end=validation_end.isoformat(),
    )
    with steps.step("training_dataset"):
        spine = label_spine(tables["flight_outcomes"], tables["flight_schedule"], cfg.start, cfg.end)
        dataset = build_training_dataset(
            spine, {g.name: tables[g.name] for g in FEATURE_GROUPS}, cfg.train_end, cfg.validation_end
        )
        digest = content_hash(dataset, "flight_id")
        store.write("training_dataset", dataset)
    rows["training_dataset"] = dataset.height
    rows.update({f"training_dataset.{s}": n for s, n in dataset.group_by("split").len().iter_rows()})

    # 5. trained_model: trained, then tracked and registered in MLflow (SQLite under HOME)
    tc = TrainingConfig()
    resources = lifecycle.resources_for(home)
    with steps.step("trained_model"):
        train, validation = (dataset.filter(pl.col("split") == s) for s in ("train", "validation"))
        dataset_hash = content_hash(dataset, "flight_id")  # the asset hashes its input again for its tags
        params = lightgbm_params(
            {
                k: getattr(tc, k)
                for k in (
                    "learning_rate",
                    "num_leaves",
                    "min_data_in_leaf",
                    "feature_fraction",
                    "bagging_fraction",
                    "bagging_freq",
                    "lambda_l2",
                )
            },
            tc.seed,
        )
        fitted = train_booster(
            train, validation, params, tc.max_rounds, tc.early_stopping_rounds, tc.extra_features
        )
        window = {
            "start": cfg.start,
            "end": cfg.end,
            "train_end": cfg.train_end,
            "validation_end": cfg.validation_end,
        }
        record = lifecycle.register(resources, fitted, train, validation, params, tc, dataset_hash, window)
    log(
        f"stopped at round {fitted.best_iteration}: validation AUC {fitted.validation_auc:.4f}, dataset "
        f"{dataset_hash[:12]}, v{record['version']}"
    )
    model = LoadedModel(
        version=record["version"], booster=fitted.booster, spec=fitted.spec.to_dict(), model_file=Path()
    )

    # 6. model_evaluation (metrics, plots, page, gates), champion_model and flight_delay_bento
    with steps.step("model_evaluation"):
        evaluation = lifecycle.evaluate_and_promote(resources, record, dataset)
    ours, passed = evaluation["metrics"]["challenger"], evaluation["passed"]
    y = dataset.filter(pl.col("split") == "test")["is_delayed"].cast(pl.Int8).to_numpy()
    log(
        f"test AUC {ours['auc']:.4f}, log loss {ours['log_loss']:.4f}, Brier {ours['brier']:.4f}; gates "
        f"{'passed' if passed else 'refused'}"
    )
    if passed:
        with steps.step("flight_delay_bento"):
            bento = lifecycle.package(resources, record["version"])
        log(f"built {bento}")

    # 7. batch_predictions: every day of the year, features read back as the asset reads them
    bp_asset = inference.batch_predictions
    with steps.step("batch_predictions"):
        spec = model.feature_spec
        history = {
            g.name: store.read_history(g, START, END) for g in FEATURE_GROUPS if g.name != "origin_congestion"
        }
        history["origin_congestion"] = tables["origin_congestion"]
        scored = inference.score(
            tables["flight_schedule"].with_columns(as_of=pl.col("prediction_time")),
            history,
            model.booster,
            spec,
        )
        predictions = scored.select(
            "flight_id",
            "flight_date",
            "prediction_time",
            "scheduled_departure",
            "tailnum",
            *spec.features,
            "delay_probability",
            model_version=pl.lit(model.version),
            features_as_of=pl.col("prediction_time"),
            feature_snapshot=pl.lit(None, pl.String),
            scored_at=pl.lit(datetime.now(UTC)),
            challenger_version=pl.lit(None, pl.Int64),
            challenger_probability=pl.lit(None, pl.Float64),
        )
        store.write_days("batch_predictions", predictions, partition_column(bp_asset), year)
    rows["batch_predictions"] = predictions.height
    with steps.step("online_features"):
        rows.update(
            {
                f"online.{k}": n
                for k, n in lifecycle.refresh_online(resources, lifecycle.as_of_after(END)).items()
            }
        )

    # 8. monitoring_pipeline over the last 14 days (shadow_comparison with the serving below)
    monitored = days(END - timedelta(days=MONITORED_DAYS - 1), END)
    first_day = date.fromisoformat(monitored[0])

    def trailing(frame: pl.DataFrame, n: int) -> pl.DataFrame:  # the partitions a trailing mapping loads
        return frame.filter(pl.col("flight_date").is_between(first_day - timedelta(days=n - 1), END))

    with steps.step("model_performance"):
        window = monitoring.PERFORMANCE_WINDOW_DAYS
        perf = daily_performance(
            scored_outcomes(trailing(predictions, window), trailing(tables["flight_outcomes"], window)),
            [date.fromisoformat(k) for k in monitored],
            window,
        )
        perf = perf.with_columns(champion_test_auc=pl.lit(ours["auc"]))  # the registry tag the asset reads
        store.write_days("model_performance", perf, partition_column(monitoring.model_performance), monitored)
    rows["model_performance"] = perf.height

    dc, drift_share = DriftReportConfig(), RetrainingRule().drift_share
    reports = ReportStore(folder=str(home / "reports"))
    context = SimpleNamespace(partition_keys=monitored)  # _report_rows reads only the partition keys
    current_window = trailing(predictions, drift.DRIFT_WINDOW_DAYS)
    with steps.step("feature_drift_report"):
        reference = reference_sample(dataset)
        cfg_f = DriftConfig(num_threshold=dc.num_threshold, cat_threshold=dc.cat_threshold)

        def compute_features():
            for key, day, current in drift._windows(current_window, monitored):
                yield (
                    key,
                    day,
                    feature_drift(reference, current, cfg_f),
                    lambda c=current: feature_drift_snapshot(reference, c, cfg_f, drift_share),
                )

        fdr = _report_rows(
            context,
            dc,
            drift_share,
            reports,
            "feature_drift",
            "Feature drift",
            reference_window(dataset),
            compute_features,
        )
        store.write_days("feature_drift_report", fdr, partition_column(drift.feature_drift_report), monitored)
    with steps.step("prediction_drift_report"):
        reference = reference_sample(dataset)
        expected = pl.Series(model.feature_spec.predict(model.booster, reference))
        cfg_p = DriftConfig(num_threshold=dc.num_threshold)

        def compute_predictions():
            for key, day, current in drift._windows(current_window, monitored):
                served = current["delay_probability"]
                yield (
                    key,
                    day,
                    prediction_drift(expected, served, cfg_p),
                    lambda s=served: prediction_drift_snapshot(expected, s, cfg_p),
                )

        pdr = _report_rows(
            context,
            dc,
            drift_share,
            reports,
            "prediction_drift",
            "Prediction drift",
            reference_window(dataset),
            compute_predictions,
        )
        store.write_days(
            "prediction_drift_report", pdr, partition_column(drift.prediction_drift_report), monitored
        )
    rows["feature_drift_report"], rows["prediction_drift_report"] = fdr.height, pdr.height
    if passed:  # the demo's serving, skew and shadow work needs a champion
        with steps.step("serving_and_skew"):
            rows.update(
                lifecycle.serve_and_compare(
                    home, resources, (END - timedelta(days=SERVED_DAYS - 1), END), (first_day, END)
                )
            )

    total = round(time.perf_counter() - began, 3)
    last_perf, last_drift = perf.row(-1, named=True), fdr.row(-1, named=True)
    log(
        f"done in {total:.1f}s; {END}: AUC over {window} days {last_perf['auc_window']:.4f}, drifted feature share "
        f"{last_drift['drifted_share']:.2f}; training_dataset hash {digest[:12]}"
    )
    print(
        json.dumps(
            {
                "steps": steps.seconds,
                "total": total,
                "rows": rows,
                "model": {
                    "best_iteration": fitted.best_iteration,
                    "validation_auc": round(fitted.validation_auc, 4),
                    "test_auc": round(ours["auc"], 4),
                    "gates_passed": passed,
                },
                "training_dataset_hash": digest,
                "positive_rate_test": round(float(np.mean(y)), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
